//! The authenticator-app factor: RFC 6238 TOTP (SHA-1, 6 digits, 30 s, ±1 step) with replay
//! protection, and its enrolment.
//!
//! Enrolment is a pending row (one per account at most): a fresh secret, sealed under a key
//! derived from the master secret like every factor's, shown to its owner until a valid code
//! confirms it. A code is accepted at most once: the factor's last accepted step moves
//! forward by compare-and-swap.

use crate::db::Conn;
use diesel::prelude::*;
use totp_rs::{Builder, Totp};

use super::{Challenge, Factor, Kind};
use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::schema::second_factors;
use crate::keys::Keys;

pub const SECRET_BYTES: usize = 20; // 160 bits, RFC 4226's recommendation
/// The label of an authenticator app its owner did not name.
pub const DEFAULT_LABEL: &str = "Authenticator app";
pub const MAX_LABEL_CHARS: usize = 64;
const DIGITS: usize = 6;

fn totp(secret: Vec<u8>, username: &str) -> Result<Totp, Error> {
    Builder::new().with_secret(secret).with_account_name(username.to_string()).with_issuer(Some("Berth")).build().map_err(Error::internal)
}

fn open(keys: &Keys, factor: &Factor) -> Result<Vec<u8>, Error> {
    keys.open_totp(factor.user_id, &factor.secret_enc).ok_or_else(|| Error::internal("TOTP secret does not decrypt"))
}

/// TOTP's first step: the app already shows the code, so there is nothing to send.
pub fn begin() -> Challenge {
    Challenge::EnterCode { prompt: "Enter the 6-digit code from your authenticator app." }
}

/// Is a normalised code six digits?
fn is_code(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a 6-digit code against the factor's secret and accepts it only if its time step
/// is newer than the last accepted one: one UPDATE decides, so of two concurrent
/// submissions of one code exactly one wins.
pub(super) fn verify(conn: &mut Conn, keys: &Keys, user: &User, factor: &Factor, code: &str, now: Timestamp) -> Result<bool, Error> {
    let code = super::normalize_code(code);
    if !is_code(&code) || now < 0 {
        return Ok(false);
    }
    let Some(step) = totp(open(keys, factor)?, &user.username)?.check(&code, now as u64) else { return Ok(false) };
    let step = step as i64;
    let used_at = factor.confirmed_at.map(|_| now);
    let changed = diesel::update(
        second_factors::table
            .find(factor.id)
            .filter(second_factors::secret_enc.eq(&factor.secret_enc))
            .filter(second_factors::last_step.is_null().or(second_factors::last_step.lt(step))),
    )
    .set((second_factors::last_step.eq(Some(step)), second_factors::last_used_at.eq(used_at)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// A label as typed: trimmed, the default when empty, at most 64 characters, nothing that
/// would break the page or reorder the text around it.
pub fn check_label(input: &str) -> Result<String, Error> {
    let label = input.trim();
    if label.is_empty() {
        return Ok(DEFAULT_LABEL.to_string());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid_field("label", format!("Use at most {MAX_LABEL_CHARS} characters for the name.")));
    }
    if crate::text::hidden_controls(label).is_some() {
        return Err(Error::invalid_field("label", "The name cannot hold control characters or characters that change the direction of the text."));
    }
    Ok(label.to_string())
}

/// Starts (or restarts) adding an authenticator app: a fresh secret, sealed, stored as the
/// account's one pending factor. Works with 2FA off (turning it on) and on (a further app).
pub fn begin_enrolment(conn: &mut Conn, keys: &Keys, user: &User, label: &str, now: Timestamp) -> Result<(), Error> {
    let label = check_label(label)?;
    let mut secret = vec![0u8; SECRET_BYTES];
    crate::keys::fill_random(&mut secret);
    let sealed = keys.seal_totp(user.id, &secret);
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user.id)?;
        diesel::delete(second_factors::table.filter(second_factors::user_id.eq(user.id)).filter(second_factors::confirmed_at.is_null())).execute(conn)?;
        diesel::insert_into(second_factors::table)
            .values((
                second_factors::user_id.eq(user.id),
                second_factors::kind.eq(Kind::Totp.as_str()),
                second_factors::label.eq(&label),
                second_factors::secret_enc.eq(&sealed),
                second_factors::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The account's pending factor, if an enrolment is under way.
pub fn pending(conn: &mut Conn, user_id: i32) -> Result<Option<Factor>, Error> {
    Ok(second_factors::table.filter(second_factors::user_id.eq(user_id)).filter(second_factors::confirmed_at.is_null()).select(Factor::as_select()).first(conn).optional()?)
}

/// What the enrolment page shows: the secret as base32 text and as a QR PNG. Only while
/// enrolment is pending; once confirmed the secret is never shown again.
pub struct Enrolment {
    pub label: String,
    pub secret_base32: String,
    pub qr_png: Vec<u8>,
    /// The `otpauth://totp/…` link the QR code holds, for a phone that cannot scan its own screen.
    pub otpauth_url: String,
}

pub fn pending_enrolment(conn: &mut Conn, keys: &Keys, user: &User) -> Result<Option<Enrolment>, Error> {
    let Some(factor) = pending(conn, user.id)? else { return Ok(None) };
    let t = totp(open(keys, &factor)?, &user.username)?;
    Ok(Some(Enrolment {
        label: factor.label,
        secret_base32: t.secret().to_base32(),
        qr_png: t.to_qr_png().map_err(Error::internal)?,
        otpauth_url: t.to_url().map_err(Error::internal)?,
    }))
}

/// A confirmed enrolment.
#[derive(Debug)]
pub struct Confirmed {
    pub factor_id: i32,
    pub label: String,
    /// The account's new recovery codes (shown once) when this factor turned 2FA on; `None`
    /// when the account had factors already and keeps its codes.
    pub recovery_codes: Option<Vec<String>>,
}

/// Completes enrolment with a valid code: the pending factor becomes a confirmed one, the
/// count and the security stamp change, and the account's first factor brings recovery codes.
/// `None`: no enrolment pending, or not a valid code.
pub fn confirm_enrolment(conn: &mut Conn, keys: &Keys, user: &User, code: &str, now: Timestamp) -> Result<Option<Confirmed>, Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user.id)?;
        let Some(factor) = pending(conn, user.id)? else { return Ok(None) };
        if !verify(conn, keys, user, &factor, code, now)? {
            return Ok(None);
        }
        let confirmed =
            diesel::update(second_factors::table.find(factor.id).filter(second_factors::confirmed_at.is_null())).set(second_factors::confirmed_at.eq(Some(now))).execute(conn)?;
        if confirmed != 1 {
            return Ok(None);
        }
        let held = super::recount(conn, user.id)?;
        super::new_stamp(conn, user.id)?;
        let recovery_codes = if held == 1 { Some(super::recovery::replace(conn, keys, user.id)?) } else { None };
        Ok(Some(Confirmed { factor_id: factor.id, label: factor.label, recovery_codes }))
    })
}

/// The code an authenticator shows at `time` for a base32 secret (used by tests and the
/// browser test, which read the secret off the page like a phone would).
pub fn code_at(secret_base32: &str, time: Timestamp) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
    Builder::new().with_secret(secret).build().expect("valid TOTP").generate(time as u64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_at_matches_rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 → 94287082 (8 digits); 6 digits → 287082
        let secret = totp_rs::Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59), "287082");
    }

    #[test]
    fn only_six_digits_are_a_code() {
        assert!(is_code(&crate::twofactor::normalize_code(" 123 456 ")));
        assert!(is_code(&crate::twofactor::normalize_code("123-456")));
        assert!(!is_code("12345"));
        assert!(!is_code("1234567"));
        assert!(!is_code("abcdef"));
    }

    #[test]
    fn labels_default_and_are_bounded() {
        assert_eq!(check_label("  ").unwrap(), DEFAULT_LABEL);
        assert_eq!(check_label(" Work phone ").unwrap(), "Work phone");
        assert!(check_label(&"x".repeat(65)).is_err());
        assert!(check_label("a\nb").is_err());
        assert!(check_label("a\u{202E}b").is_err());
    }
}
