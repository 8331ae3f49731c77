//! Second factors: what a right password still needs once two-factor authentication is on.
//!
//! A factor is a row of `second_factors` (kind, label, sealed secret, replay state, added,
//! last used); an account may hold several, and 2FA is on while it holds at least one
//! confirmed factor (`User::has_second_factor`, a count on the user row kept in step here in
//! the same transaction as every confirmation and removal). Every kind is checked in two
//! steps: `begin` says what to ask the person for (and would make the server's challenge for
//! a kind that needs one, such as a security key), `verify` checks the answer and records
//! its use. TOTP (`totp.rs`) asks for the code its app shows, with no server challenge.
//! Recovery codes (`recovery.rs`) belong to the account, not to a factor: they stand in for
//! any of them, and go when the last factor goes.

pub mod recovery;
pub mod totp;

use std::fmt;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::schema::{recovery_codes, second_factors, users};
use crate::keys::Keys;

pub use totp::{DEFAULT_LABEL, Enrolment, begin_enrolment, code_at, confirm_enrolment, pending_enrolment};

/// The kinds of second factor Berth can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RFC 6238: a 6-digit code from an authenticator app.
    Totp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Totp => "totp",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "totp" => Some(Kind::Totp),
            _ => None,
        }
    }

    /// What the account page calls a factor of this kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Totp => "Authenticator app",
        }
    }
}

/// One second factor of an account.
#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = second_factors)]
pub struct Factor {
    pub id: i32,
    pub user_id: i32,
    pub kind: String,
    pub label: String,
    /// Sealed with `Keys::seal_totp`, bound to the user.
    pub secret_enc: Vec<u8>,
    /// The replay state: for TOTP the last accepted time step.
    pub last_step: Option<i64>,
    pub created_at: Timestamp,
    /// `None` while its enrolment is pending.
    pub confirmed_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

// Hand-written so a stray `{:?}` never prints a sealed secret.
impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor").field("id", &self.id).field("user_id", &self.user_id).field("kind", &self.kind).field("confirmed_at", &self.confirmed_at).finish_non_exhaustive()
    }
}

/// What to ask the person for at the second step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Type the code the factor shows; nothing was sent from the server (TOTP). A
    /// challenge-based kind would carry the server's challenge in its own variant.
    EnterCode { prompt: &'static str },
}

impl Factor {
    /// `None` for a kind this build does not know: such a factor never verifies.
    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    pub fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    /// The first step of verifying this factor.
    pub fn begin(&self) -> Option<Challenge> {
        match self.kind()? {
            Kind::Totp => Some(totp::begin()),
        }
    }

    /// The second step: is `response` the right answer to this factor's challenge? A right
    /// answer is used up here (replay protection) and the factor's last use recorded.
    pub fn verify(&self, conn: &mut Conn, keys: &Keys, user: &User, response: &str, now: Timestamp) -> Result<bool, Error> {
        if self.user_id != user.id {
            return Ok(false);
        }
        match self.kind() {
            Some(Kind::Totp) => totp::verify(conn, keys, user, self, response, now),
            None => Ok(false),
        }
    }
}

/// Longest code kept after normalising: far above any code Berth issues, so a pasted essay
/// is never carried further.
pub const MAX_CODE_CHARS: usize = 64;

/// The one normalisation of a typed code (authenticator code or recovery code), at every
/// door: surrounding and inner whitespace and the dashes a person might type are dropped,
/// letters lower-cased, the length capped.
pub fn normalize_code(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace() && *c != '-').take(MAX_CODE_CHARS).map(|c| c.to_ascii_lowercase()).collect()
}

/// The confirmed factors of an account, oldest first.
pub fn list(conn: &mut Conn, user_id: i32) -> Result<Vec<Factor>, Error> {
    Ok(second_factors::table
        .filter(second_factors::user_id.eq(user_id))
        .filter(second_factors::confirmed_at.is_not_null())
        .order(second_factors::id.asc())
        .select(Factor::as_select())
        .load(conn)?)
}

/// What the second step asks for: one challenge per kind the account holds, in the order
/// the factors were added. Empty when 2FA is off.
pub fn begin(conn: &mut Conn, user: &User) -> Result<Vec<Challenge>, Error> {
    let mut challenges = Vec::new();
    if !user.has_second_factor() {
        return Ok(challenges);
    }
    for challenge in list(conn, user.id)?.iter().filter_map(Factor::begin) {
        if !challenges.contains(&challenge) {
            challenges.push(challenge);
        }
    }
    Ok(challenges)
}

/// Which kind of answer completed a second step.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Checks the second step of an account with 2FA on: the answer is tried against each
/// confirmed factor, then as a recovery code. Whatever accepts it uses it up.
pub fn verify_second_factor(conn: &mut Conn, keys: &Keys, user: &User, code: &str, now: Timestamp) -> Result<Option<SecondFactor>, Error> {
    if !user.has_second_factor() {
        return Ok(None);
    }
    let code = normalize_code(code);
    for factor in list(conn, user.id)? {
        if factor.verify(conn, keys, user, &code, now)? {
            return Ok(Some(match factor.kind() {
                Some(Kind::Totp) | None => SecondFactor::Totp,
            }));
        }
    }
    Ok(recovery::spend(conn, keys, user.id, &code, now)?.then_some(SecondFactor::RecoveryCode))
}

/// Recounts the confirmed factors onto the user row; call inside the transaction that
/// changed them.
fn recount(conn: &mut Conn, user_id: i32) -> Result<i64, Error> {
    let held: i64 = second_factors::table.filter(second_factors::user_id.eq(user_id)).filter(second_factors::confirmed_at.is_not_null()).count().get_result(conn)?;
    diesel::update(users::table.find(user_id)).set(users::second_factor_count.eq(held)).execute(conn)?;
    Ok(held)
}

/// A new security stamp: a sign-in waiting for its second step, and the JSON API's tokens,
/// end with any change to the factors.
fn new_stamp(conn: &mut Conn, user_id: i32) -> Result<(), Error> {
    diesel::update(users::table.find(user_id)).set(users::security_stamp.eq(crate::keys::random_token(16))).execute(conn)?;
    Ok(())
}

/// What removing one factor left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Other factors remain: 2FA stays on, the recovery codes stay.
    Kept { remaining: i64 },
    /// That was the last one: 2FA is off and the recovery codes are deleted.
    Last,
}

/// Removes one confirmed factor of the account. The last one turns 2FA off as `disable` does.
pub fn remove(conn: &mut Conn, user_id: i32, factor_id: i32) -> Result<Removed, Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user_id)?;
        let gone =
            diesel::delete(second_factors::table.find(factor_id).filter(second_factors::user_id.eq(user_id)).filter(second_factors::confirmed_at.is_not_null())).execute(conn)?;
        if gone == 0 {
            return Err(Error::NotFound);
        }
        let remaining = recount(conn, user_id)?;
        if remaining == 0 {
            disable(conn, user_id)?;
            return Ok(Removed::Last);
        }
        new_stamp(conn, user_id)?;
        Ok(Removed::Kept { remaining })
    })
}

/// Turns 2FA off: every factor (a pending enrolment too), its secret and replay state, and
/// the recovery codes are forgotten; the security stamp changes.
pub fn disable(conn: &mut Conn, user_id: i32) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user_id)?;
        diesel::delete(second_factors::table.filter(second_factors::user_id.eq(user_id))).execute(conn)?;
        recount(conn, user_id)?;
        new_stamp(conn, user_id)?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
        Ok(())
    })
}

/// Does the account hold any factor row, pending or confirmed? (What an operator's reset
/// has to clear.)
pub fn any(conn: &mut Conn, user_id: i32) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(second_factors::table.filter(second_factors::user_id.eq(user_id)))).get_result(conn)?)
}

#[cfg(test)]
mod tests;
