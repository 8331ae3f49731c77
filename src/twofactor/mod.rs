//! Two-factor authentication: RFC 6238 TOTP (SHA-1, 6 digits, 30 s, ±1 step) with replay
//! protection, and single-use recovery codes.
//!
//! The secret is sealed with a key derived from the master secret (pending ones too), and a
//! code is accepted at most once: the last accepted step moves forward by compare-and-swap.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use totp_rs::{Builder, Totp};

use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::schema::{recovery_codes, users};
use crate::keys::Keys;

pub const SECRET_BYTES: usize = 20; // 160 bits, RFC 4226's recommendation
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

fn totp(secret: Vec<u8>, username: &str) -> Result<Totp, Error> {
    Builder::new().with_secret(secret).with_account_name(username.to_string()).with_issuer(Some("Berth")).build().map_err(Error::internal)
}

/// Starts (or restarts) enrolment: a fresh secret, sealed, stored as pending.
pub fn begin_enrolment(conn: &mut SqliteConnection, keys: &Keys, user: &User) -> Result<(), Error> {
    if user.totp_enabled {
        return Err(Error::invalid("Two-factor authentication is already on."));
    }
    let mut secret = vec![0u8; SECRET_BYTES];
    crate::keys::fill_random(&mut secret);
    let sealed = keys.seal_totp(user.id, &secret);
    diesel::update(users::table.find(user.id).filter(users::totp_enabled.eq(false)))
        .set((users::totp_secret_enc.eq(Some(sealed)), users::totp_last_step.eq(None::<i64>)))
        .execute(conn)?;
    Ok(())
}

/// What the enrolment page shows: the secret as base32 text and as a QR PNG. Only while
/// enrolment is pending; once 2FA is on the secret is never shown again.
pub struct Enrolment {
    pub secret_base32: String,
    pub qr_png: Vec<u8>,
    /// The `otpauth://totp/…` link the QR code holds, for a phone that cannot scan its own screen.
    pub otpauth_url: String,
}

pub fn pending_enrolment(keys: &Keys, user: &User) -> Result<Option<Enrolment>, Error> {
    if user.totp_enabled {
        return Ok(None);
    }
    let Some(sealed) = &user.totp_secret_enc else { return Ok(None) };
    let secret = keys.open_totp(user.id, sealed).ok_or_else(|| Error::internal("TOTP secret does not decrypt"))?;
    let t = totp(secret, &user.username)?;
    Ok(Some(Enrolment { secret_base32: t.secret().to_base32(), qr_png: t.to_qr_png().map_err(Error::internal)?, otpauth_url: t.to_url().map_err(Error::internal)? }))
}

/// Is `code` six digits (after removing spaces)? Otherwise it is treated as a recovery code.
pub fn looks_like_totp(code: &str) -> bool {
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    c.len() == 6 && c.chars().all(|c| c.is_ascii_digit())
}

/// Checks a 6-digit code against the user's secret (pending or active) and accepts it only
/// if its time step is newer than the last accepted one: one UPDATE decides, so of two
/// concurrent submissions of one code exactly one wins.
pub fn accept_code(conn: &mut SqliteConnection, keys: &Keys, user: &User, code: &str, now: Timestamp) -> Result<bool, Error> {
    let Some(sealed) = &user.totp_secret_enc else { return Ok(false) };
    let secret = keys.open_totp(user.id, sealed).ok_or_else(|| Error::internal("TOTP secret does not decrypt"))?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if now < 0 {
        return Ok(false);
    }
    let Some(step) = totp(secret, &user.username)?.check(&code, now as u64) else { return Ok(false) };
    let step = step as i64;
    let changed = diesel::update(users::table.find(user.id).filter(users::totp_secret_enc.eq(sealed)).filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))))
        .set(users::totp_last_step.eq(Some(step)))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Completes enrolment with a valid code: 2FA on, new recovery codes (returned, shown once).
pub fn confirm_enrolment(conn: &mut SqliteConnection, keys: &Keys, user: &User, code: &str, now: Timestamp) -> Result<Option<Vec<String>>, Error> {
    if user.totp_enabled || user.totp_secret_enc.is_none() {
        return Ok(None);
    }
    crate::db::write_tx(conn, |conn| {
        if !accept_code(conn, keys, user, code, now)? {
            return Ok(None);
        }
        diesel::update(users::table.find(user.id)).set((users::totp_enabled.eq(true), users::security_stamp.eq(crate::keys::random_token(16)))).execute(conn)?;
        Ok(Some(replace_recovery_codes(conn, keys, user.id)?))
    })
}

/// Turns 2FA off: secret, last step and recovery codes are forgotten.
pub fn disable(conn: &mut SqliteConnection, user_id: i32) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        diesel::update(users::table.find(user_id))
            .set((
                users::totp_enabled.eq(false),
                users::totp_secret_enc.eq(None::<Vec<u8>>),
                users::totp_last_step.eq(None::<i64>),
                users::security_stamp.eq(crate::keys::random_token(16)),
            ))
            .execute(conn)?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
        Ok(())
    })
}

fn new_recovery_code() -> String {
    let mut bytes = [0u8; 12];
    crate::keys::fill_random(&mut bytes);
    let chars: String = bytes.iter().map(|b| RECOVERY_ALPHABET[(*b & 31) as usize] as char).collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

/// Recovery codes are compared without dashes, spaces or case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// Replaces all recovery codes; returns the new ones (60 bits each), stored only as HMACs.
pub fn replace_recovery_codes(conn: &mut SqliteConnection, keys: &Keys, user_id: i32) -> Result<Vec<String>, Error> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
    crate::db::write_tx(conn, |conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
        for code in &codes {
            diesel::insert_into(recovery_codes::table)
                .values((recovery_codes::user_id.eq(user_id), recovery_codes::code_hash.eq(keys.recovery_code_mac(user_id, &normalize_recovery_code(code)))))
                .execute(conn)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(codes)
}

/// Spends a recovery code. One UPDATE marks it used, so two parallel uses: exactly one wins.
pub fn use_recovery_code(conn: &mut SqliteConnection, keys: &Keys, user_id: i32, code: &str, now: Timestamp) -> Result<bool, Error> {
    let normalized = normalize_recovery_code(code);
    if normalized.len() != 12 {
        return Ok(false);
    }
    let mac = keys.recovery_code_mac(user_id, &normalized);
    let changed =
        diesel::update(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)).filter(recovery_codes::code_hash.eq(mac)).filter(recovery_codes::used_at.is_null()))
            .set(recovery_codes::used_at.eq(Some(now)))
            .execute(conn)?;
    Ok(changed == 1)
}

pub fn remaining_recovery_codes(conn: &mut SqliteConnection, user_id: i32) -> Result<i64, Error> {
    Ok(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)).filter(recovery_codes::used_at.is_null()).count().get_result(conn)?)
}

/// A code from the authenticator (6 digits) or a recovery code: which one was used.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Checks a second factor of an enrolled user: a TOTP code, or else a recovery code.
pub fn verify_second_factor(conn: &mut SqliteConnection, keys: &Keys, user: &User, code: &str, now: Timestamp) -> Result<Option<SecondFactor>, Error> {
    if !user.totp_enabled {
        return Ok(None);
    }
    if looks_like_totp(code) {
        return Ok(accept_code(conn, keys, user, code, now)?.then_some(SecondFactor::Totp));
    }
    Ok(use_recovery_code(conn, keys, user.id, code, now)?.then_some(SecondFactor::RecoveryCode))
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
    fn recovery_codes_are_random_formatted_and_normalized() {
        let a = new_recovery_code();
        let b = new_recovery_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 14);
        assert_eq!(normalize_recovery_code(&a.to_uppercase()), a.replace('-', ""));
        assert!(!looks_like_totp(&a));
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("12345"));
    }

    #[test]
    fn code_at_matches_rfc_6238_test_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 → 94287082 (8 digits); 6 digits → 287082
        let secret = totp_rs::Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59), "287082");
    }
}
