//! One-time form keys. A form whose repeat would create or regenerate something (a token,
//! recovery codes) carries a key made when the form was served; the change spends it in its
//! own transaction, so a reload of the answer, the back button, "Confirm form resubmission"
//! or a double click changes nothing the second time. Only the key's SHA-256 is stored,
//! with its user. A key says when it was made: one older than a day is refused, so spent
//! keys need to be remembered for a day only.

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::form_keys;

/// How long a form's key may be used, and a spent key remembered.
pub const KEEP_SECONDS: i64 = 86_400;

/// What spending a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// The first use: go ahead.
    First,
    /// Used before: the change happened already.
    Again,
    /// Older than a day (or from the future): the form must be opened again.
    Stale,
}

/// A fresh key for a form served at `now`: the time, then 128 random bits.
pub fn new_key(now: Timestamp) -> String {
    format!("{now:x}.{}", crate::keys::random_token(16))
}

/// When a well-formed key was made; None for anything else (checked before any query).
pub fn made_at(key: &str) -> Option<Timestamp> {
    let (time, random) = key.split_once('.')?;
    let random_ok = (16..=64).contains(&random.len()) && random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !random_ok || time.len() > 12 {
        return None;
    }
    i64::from_str_radix(time, 16).ok()
}

/// Spends `key` (already known to be well formed) for `user_id`. Call it inside the
/// transaction of the change it guards, so the two stand or fall together.
pub fn spend(conn: &mut Conn, user_id: i32, key: &str, now: Timestamp) -> Result<Spent, Error> {
    match made_at(key) {
        Some(made) if made <= now + 300 && now - made <= KEEP_SECONDS => {}
        _ => return Ok(Spent::Stale),
    }
    let hash = crate::keys::sha256_hex(key.as_bytes());
    let inserted = crate::db::upsert::form_key_if_new(conn, &hash, user_id, now)?;
    Ok(if inserted { Spent::First } else { Spent::Again })
}

/// Forgets keys that could no longer be used anyway (run with the session purge).
pub fn purge(conn: &mut Conn, now: Timestamp) -> Result<usize, Error> {
    Ok(diesel::delete(form_keys::table.filter(form_keys::spent_at.le(now - KEEP_SECONDS - 300))).execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_time_and_only_well_formed_ones_parse() {
        let key = new_key(1_800_000_000);
        assert_eq!(made_at(&key), Some(1_800_000_000));
        assert_ne!(new_key(1), new_key(1));
        for bad in ["", "abc", "6b49d200.", "6b49d200.short", "zz.abcdefghijklmnopqrstuv", "6b49d200.abc def ghijklmnopqrs", "1234567890abc.abcdefghijklmnopqrstuv"] {
            assert_eq!(made_at(bad), None, "{bad:?}");
        }
    }
}
