//! The domain error: why a rule refused, or why Berth could not do what was asked. Every
//! domain function returns `Result<T, Error>`; each door renders it its own way — the pages
//! as an error page or a message beside a field (`web::error`), the Hub JSON API as
//! `{"detail": …}` (`api`), the registry's `/token` as `{"details": …}`
//! (`registry::endpoint`). The sentence (`Display`) is written for the person who asked:
//! never SQL, a path or a backtrace; an internal failure keeps its cause for the log only.

use std::borrow::Cow;

/// A form or JSON field a refusal is about, by its name in the form.
pub type Field = &'static str;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The plan allows `limit` tokens and `held` are held already.
    #[error("{}", limit_message(*limit, *held))]
    PlanLimit { limit: u32, held: i64 },
    /// The permission asked for needs a plan with scoped tokens.
    #[error("{}", SCOPE_MESSAGE)]
    ScopeNotInPlan,
    /// No such thing, or not the caller's (the two look alike on purpose).
    #[error("The page you asked for does not exist.")]
    NotFound,
    /// The thing has expired and can only be deleted.
    #[error("{}", EXPIRED_MESSAGE)]
    Expired,
    /// A unique value someone holds already.
    #[error("{}", taken_message(.0))]
    Taken(Field),
    /// Input that breaks a rule: the field at fault (when there is one) and why.
    #[error("{why}")]
    Invalid { field: Option<Field>, why: Cow<'static, str> },
    /// Not allowed for this caller (a closed sign-up, a form from elsewhere, a token
    /// doing account administration).
    #[error("{0}")]
    Denied(Cow<'static, str>),
    /// Too many failed attempts for this account or client: wait this many seconds.
    #[error("Too many failed attempts. Try again in {}.", crate::text::duration(*retry_after))]
    Throttled { retry_after: u64 },
    /// The registry refused a call Berth made on the caller's behalf, or could not be
    /// reached: the sentence says what was done and what was not (the cause is logged).
    #[error("{0}")]
    Registry(Cow<'static, str>),
    /// The database cannot take writes right now (disk full, locked for too long, I/O).
    #[error("Berth cannot save changes right now. Please try again shortly.")]
    Unavailable,
    /// A fault on Berth's side; the cause is for the log, never for the client.
    #[error("Something went wrong on our side.")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The sentences of the plan and expiry refusals, shared with the pages that show them
/// beside a field.
pub const SCOPE_MESSAGE: &str = "Scoped tokens need the Pro, Team or Business plan. On the Personal plan tokens are \u{201c}Read, Write, Delete\u{201d}.";
pub const EXPIRED_MESSAGE: &str = "This token has expired. An expired token can only be deleted.";

/// Why no token can be created: the limit reached, or held above after a downgrade.
pub fn limit_message(limit: u32, held: i64) -> String {
    let tokens = if limit == 1 { "token" } else { "tokens" };
    if held > i64::from(limit) {
        return format!(
            "Your plan allows {limit} access {tokens}; you hold {held}. The tokens you hold keep working as they are. To create another, delete tokens until you hold fewer than {limit} (every token counts, active or not)."
        );
    }
    format!("Your plan allows {limit} access {tokens}, and you have reached it. Delete a token to create another (every token you hold counts, active or not).")
}

fn taken_message(field: &str) -> String {
    match field {
        "username" => "This username is taken.".into(),
        "email" => "An account with this email address exists already.".into(),
        other => format!("This {other} is taken."),
    }
}

impl Error {
    /// Input refused, not tied to one field.
    pub fn invalid(why: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid { field: None, why: why.into() }
    }

    /// Input refused, shown beside `field`.
    pub fn invalid_field(field: Field, why: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid { field: Some(field), why: why.into() }
    }

    /// The same refusal shown beside `field`, unless it names a field already.
    pub fn beside(self, field: Field) -> Self {
        match self {
            Error::Invalid { field: None, why } => Error::Invalid { field: Some(field), why },
            other => other,
        }
    }

    /// The form field a refusal is about, if it names one.
    pub fn field(&self) -> Option<Field> {
        match self {
            Error::Invalid { field, .. } => *field,
            Error::Taken(field) => Some(field),
            _ => None,
        }
    }

    pub fn denied(why: impl Into<Cow<'static, str>>) -> Self {
        Error::Denied(why.into())
    }

    /// A fault on Berth's side, its cause kept for the log: an error (with its sources) or
    /// a sentence saying what broke.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(cause.into())
    }

    /// The cause and every source under it, for the log.
    pub fn chain(&self) -> String {
        let mut text = match self {
            Error::Internal(cause) => cause.to_string(),
            other => other.to_string(),
        };
        let mut source = match self {
            Error::Internal(cause) => cause.source(),
            _ => None,
        };
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    /// Writes an internal failure to the log (with its cause); a refusal is not a fault.
    pub fn log_if_internal(&self, door: &'static str) {
        if let Error::Internal(_) = self {
            tracing::error!(door, cause = %self.chain(), "internal error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_for_the_log_but_says_nothing_of_it() {
        let io = std::io::Error::other("disk gone");
        let e = Error::Internal(Box::new(io));
        assert_eq!(e.to_string(), "Something went wrong on our side.");
        assert!(e.chain().contains("disk gone"));
    }
}
