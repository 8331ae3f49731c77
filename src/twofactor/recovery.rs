//! Recovery codes: ten single-use codes of the account, made when its first second factor
//! is confirmed, regenerated on request, deleted with its last factor. Each stands in for
//! any factor at the second step. Only a keyed HMAC of each is stored.

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::recovery_codes;
use crate::keys::Keys;

/// How many codes an account gets at a time.
pub const COUNT: usize = 10;
/// Characters of a code, without its dashes.
const LEN: usize = 12;
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A fresh code, e.g. `k7mq-2xhd-9wtn` (60 bits).
fn new_code() -> String {
    let mut bytes = [0u8; LEN];
    crate::keys::fill_random(&mut bytes);
    let chars: String = bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char).collect();
    format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12])
}

fn mac(keys: &Keys, user_id: i32, code: &str) -> String {
    keys.recovery_code_mac(user_id, &super::normalize_code(code))
}

/// Replaces all codes of the account; returns the new ones, to be shown once.
pub fn replace(conn: &mut Conn, keys: &Keys, user_id: i32) -> Result<Vec<String>, Error> {
    let codes: Vec<String> = (0..COUNT).map(|_| new_code()).collect();
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_user(conn, user_id)?;
        delete_all(conn, user_id)?;
        for code in &codes {
            diesel::insert_into(recovery_codes::table).values((recovery_codes::user_id.eq(user_id), recovery_codes::code_hash.eq(mac(keys, user_id, code)))).execute(conn)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(codes)
}

/// Spends a code. One UPDATE marks it used, so of two parallel uses exactly one wins.
pub fn spend(conn: &mut Conn, keys: &Keys, user_id: i32, code: &str, now: Timestamp) -> Result<bool, Error> {
    let code = super::normalize_code(code);
    if code.len() != LEN {
        return Ok(false);
    }
    let changed = diesel::update(
        recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)).filter(recovery_codes::code_hash.eq(mac(keys, user_id, &code))).filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Unused codes left.
pub fn remaining(conn: &mut Conn, user_id: i32) -> Result<i64, Error> {
    Ok(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)).filter(recovery_codes::used_at.is_null()).count().get_result(conn)?)
}

/// Forgets every code of the account.
pub fn delete_all(conn: &mut Conn, user_id: i32) -> Result<usize, Error> {
    Ok(diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?)
}

/// Is `text` shaped like a code Berth issues, as its pages show it (`xxxx-xxxx-xxxx`)?
pub fn is_displayed_code(text: &str) -> bool {
    text.len() == LEN + 2 && text.chars().all(|ch| ch == '-' || ch.is_ascii_lowercase() || ch.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_formatted_and_normalized() {
        let a = new_code();
        let b = new_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 14);
        assert!(is_displayed_code(&a));
        assert_eq!(super::super::normalize_code(&a.to_uppercase()), a.replace('-', ""));
        assert_eq!(super::super::normalize_code(&format!("  {} ", a.replace('-', " "))), a.replace('-', ""));
        let keys = Keys::derive(&[1u8; 64]);
        assert_eq!(mac(&keys, 1, &a), mac(&keys, 1, &a.to_uppercase().replace('-', " ")), "stored and typed codes meet");
        assert_ne!(mac(&keys, 1, &a), mac(&keys, 2, &a), "bound to the account");
    }
}
