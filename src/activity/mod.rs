//! The security activity log: what happened to an account, when (UTC), from which IP and
//! client. Shown on /settings/activity.

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::activity;

/// Where a request came from: recorded with events and with sessions.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

impl Client {
    pub fn cli() -> Client {
        Client { ip: String::new(), user_agent: "berth command line".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    SignedIn,
    SignInFailed,
    Throttled,
    SignedOut,
    TwoFactorEnabled,
    TwoFactorDisabled,
    TwoFactorFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    PasswordChanged,
    EmailChanged,
    SessionEnded,
    OperatorAction,
    TokenCreated,
    TokenRenamed,
    TokenActivated,
    TokenDeactivated,
    TokenDeleted,
    TokenUsedFromNewIp,
    TokenRefused,
    TokenScopeChanged,
    FactorAdded,
    FactorRemoved,
    RepositoryVisibilityChanged,
}

impl Event {
    pub const ALL: [Event; 24] = [
        Event::SignedIn,
        Event::SignInFailed,
        Event::Throttled,
        Event::SignedOut,
        Event::TwoFactorEnabled,
        Event::TwoFactorDisabled,
        Event::TwoFactorFailed,
        Event::RecoveryCodeUsed,
        Event::RecoveryCodesRegenerated,
        Event::PasswordChanged,
        Event::EmailChanged,
        Event::SessionEnded,
        Event::OperatorAction,
        Event::TokenCreated,
        Event::TokenRenamed,
        Event::TokenActivated,
        Event::TokenDeactivated,
        Event::TokenDeleted,
        Event::TokenUsedFromNewIp,
        Event::TokenRefused,
        Event::TokenScopeChanged,
        Event::FactorAdded,
        Event::FactorRemoved,
        Event::RepositoryVisibilityChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::SignedIn => "signed_in",
            Event::SignInFailed => "sign_in_failed",
            Event::Throttled => "throttled",
            Event::SignedOut => "signed_out",
            Event::TwoFactorEnabled => "2fa_enabled",
            Event::TwoFactorDisabled => "2fa_disabled",
            Event::TwoFactorFailed => "2fa_failed",
            Event::RecoveryCodeUsed => "recovery_code_used",
            Event::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Event::PasswordChanged => "password_changed",
            Event::EmailChanged => "email_changed",
            Event::SessionEnded => "session_ended",
            Event::OperatorAction => "operator_action",
            Event::TokenCreated => "token_created",
            Event::TokenRenamed => "token_renamed",
            Event::TokenActivated => "token_activated",
            Event::TokenDeactivated => "token_deactivated",
            Event::TokenDeleted => "token_deleted",
            Event::TokenUsedFromNewIp => "token_used_from_new_ip",
            Event::TokenRefused => "token_refused",
            Event::TokenScopeChanged => "token_scope_changed",
            Event::FactorAdded => "second_factor_added",
            Event::FactorRemoved => "second_factor_removed",
            Event::RepositoryVisibilityChanged => "repository_visibility_changed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Event::SignedIn => "Signed in",
            Event::SignInFailed => "Sign-in failed",
            Event::Throttled => "Sign-in paused after failed attempts",
            Event::SignedOut => "Signed out",
            Event::TwoFactorEnabled => "Two-factor authentication enabled",
            Event::TwoFactorDisabled => "Two-factor authentication disabled",
            Event::TwoFactorFailed => "Wrong two-factor code",
            Event::RecoveryCodeUsed => "Recovery code used",
            Event::RecoveryCodesRegenerated => "Recovery codes regenerated",
            Event::PasswordChanged => "Password changed",
            Event::EmailChanged => "Email changed",
            Event::SessionEnded => "Session ended",
            Event::OperatorAction => "Operator action",
            Event::TokenCreated => "Access token created",
            Event::TokenRenamed => "Access token renamed",
            Event::TokenActivated => "Access token activated",
            Event::TokenDeactivated => "Access token deactivated",
            Event::TokenDeleted => "Access token deleted",
            Event::TokenUsedFromNewIp => "Access token used from a new IP address",
            Event::TokenRefused => "Deactivated or expired access token refused",
            Event::TokenScopeChanged => "Access token permissions changed",
            Event::FactorAdded => "Second factor added",
            Event::FactorRemoved => "Second factor removed",
            Event::RepositoryVisibilityChanged => "Repository made public or private",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = activity)]
pub struct Entry {
    pub id: i32,
    pub user_id: i32,
    pub kind: String,
    pub detail: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at: Timestamp,
}

impl Entry {
    pub fn label(&self) -> &str {
        Event::parse(&self.kind).map(Event::label).unwrap_or(&self.kind)
    }
}

/// Longest user agent kept: enough to recognise a browser, bounded against abuse.
pub const MAX_USER_AGENT: usize = 512;

pub fn record(conn: &mut Conn, user_id: i32, event: Event, detail: &str, client: &Client, now: Timestamp) -> Result<(), Error> {
    diesel::insert_into(activity::table)
        .values((
            activity::user_id.eq(user_id),
            activity::kind.eq(event.as_str()),
            activity::detail.eq(detail),
            activity::ip.eq(&client.ip),
            activity::user_agent.eq(truncate(&client.user_agent, MAX_USER_AGENT)),
            activity::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Newest first; `page` counts from 1.
pub fn list(conn: &mut Conn, user_id: i32, page: i64, per_page: i64) -> Result<(Vec<Entry>, i64), Error> {
    let total: i64 = activity::table.filter(activity::user_id.eq(user_id)).count().get_result(conn)?;
    let rows = activity::table
        .filter(activity::user_id.eq(user_id))
        .order(activity::id.desc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select(Entry::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
