//! Remembers for five minutes that a (user, password) pair was verified, so the registry's
//! `/token`, called on every pull and push, does not run argon2 each time. Only `/token`
//! uses it: the web and JSON logins verify in full every time.
//!
//! An entry is keyed by HMAC(server key, user id ‖ stored hash ‖ security stamp ‖ password)
//! and holds only the user id and when the pair was verified; the password is never kept.
//! The hash and the stamp come from the user row, which is read on every request, so a new
//! password, a disabled account or 2FA turned on (each writes a new stamp) misses at once,
//! even when another process (`berth user set-password`) or another instance made the
//! change: each instance may keep its own cache. `forget` only frees memory early.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use secrecy::{ExposeSecret, SecretString};

use crate::accounts::User;
use crate::clock::{SharedClock, Timestamp};

/// How long a verified pair is remembered.
pub const TTL_SECONDS: i64 = 300;
/// At most this many pairs are remembered.
pub const CAPACITY: usize = 10_000;

/// The HMAC that names one (user row, password) pair. `Debug` prints nothing of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

struct Entry {
    user_id: i32,
    verified_at: Timestamp,
}

pub struct PasswordCache {
    key: [u8; 32],
    clock: SharedClock,
    ttl: i64,
    capacity: usize,
    entries: Mutex<HashMap<Fingerprint, Entry>>,
}

impl PasswordCache {
    /// `key` is `Keys::password_cache`.
    pub fn new(key: [u8; 32], clock: SharedClock) -> Self {
        Self::with_limits(key, clock, TTL_SECONDS, CAPACITY)
    }

    pub fn with_limits(key: [u8; 32], clock: SharedClock, ttl: i64, capacity: usize) -> Self {
        PasswordCache { key, clock, ttl, capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// Names the pair without keeping the password. Computed outside the lock.
    pub fn fingerprint(&self, user: &User, password: &SecretString) -> Fingerprint {
        let id = user.id.to_be_bytes();
        let parts: [&[u8]; 4] = [&id, user.password_hash.as_bytes(), user.security_stamp.as_bytes(), password.expose_secret().as_bytes()];
        Fingerprint(crate::keys::hmac(&self.key, &parts))
    }

    /// True when this pair was verified less than the TTL ago.
    pub fn recalls(&self, fingerprint: &Fingerprint) -> bool {
        let now = self.clock.now();
        self.lock().get(fingerprint).is_some_and(|e| self.fresh(e, now))
    }

    /// Records a pair that argon2 has just verified.
    pub fn remember(&self, fingerprint: Fingerprint, user_id: i32) {
        let now = self.clock.now();
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&fingerprint) {
            // A scan, but only when full, and only after an argon2 verification (tens of
            // milliseconds), so it costs well under a percent of what it follows.
            entries.retain(|_, e| self.fresh(e, now));
            if entries.len() >= self.capacity {
                let oldest = entries.iter().min_by_key(|(_, e)| e.verified_at).map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(fingerprint, Entry { user_id, verified_at: now });
    }

    /// Drops every pair of this user (password changed, account disabled, 2FA turned on).
    pub fn forget(&self, user_id: i32) {
        self.lock().retain(|_, e| e.user_id != user_id);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A clock set back never stretches an entry's life: only ages in [0, ttl) count.
    fn fresh(&self, e: &Entry, now: Timestamp) -> bool {
        (0..self.ttl).contains(&(now - e.verified_at))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Fingerprint, Entry>> {
        // the map stays consistent whatever panicked while holding it
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    fn user(id: i32, hash: &str, stamp: &str) -> User {
        User {
            id,
            username: format!("user{id}"),
            email: format!("user{id}@example.com"),
            email_normalized: format!("user{id}@example.com"),
            password_hash: hash.into(),
            is_operator: false,
            is_disabled: false,
            security_stamp: stamp.into(),
            created_at: 0,
            second_factor_count: 0,
        }
    }

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn cache(capacity: usize) -> (PasswordCache, Arc<ManualClock>) {
        let clock = ManualClock::new(1_000_000);
        (PasswordCache::with_limits([7u8; 32], clock.clone(), TTL_SECONDS, capacity), clock)
    }

    #[test]
    fn a_pair_is_recalled_for_five_minutes_and_not_a_second_more() {
        let (c, clock) = cache(10);
        let alice = user(1, "$argon2id$hash", "stamp");
        let fp = c.fingerprint(&alice, &pw("right password"));
        assert!(!c.recalls(&fp), "nothing before it is remembered");
        c.remember(fp, alice.id);
        assert!(c.recalls(&fp));
        clock.advance(TTL_SECONDS - 1);
        assert!(c.recalls(&fp));
        clock.advance(1);
        assert!(!c.recalls(&fp), "expired at 300 s");
        // a clock set back does not revive or stretch it
        clock.advance(-TTL_SECONDS - 10);
        assert!(!c.recalls(&fp));
    }

    #[test]
    fn the_key_separates_users_passwords_hashes_and_stamps() {
        let (c, _) = cache(10);
        let alice = user(1, "$argon2id$hash", "stamp");
        let fp = c.fingerprint(&alice, &pw("shared password"));
        c.remember(fp, alice.id);
        let others = [
            c.fingerprint(&user(2, "$argon2id$hash", "stamp"), &pw("shared password")),
            c.fingerprint(&alice, &pw("shared passwore")),
            c.fingerprint(&user(1, "$argon2id$other", "stamp"), &pw("shared password")),
            c.fingerprint(&user(1, "$argon2id$hash", "new stamp"), &pw("shared password")),
            // the parts are length-prefixed: moving a byte from one part to the next differs
            c.fingerprint(&user(1, "$argon2id$has", "hstamp"), &pw("shared password")),
        ];
        for other in others {
            assert_ne!(other, fp);
            assert!(!c.recalls(&other));
        }
        assert_eq!(c.fingerprint(&alice, &pw("shared password")), fp, "the same pair, the same key");
        let other_key = PasswordCache::new([8u8; 32], ManualClock::new(0));
        assert_ne!(other_key.fingerprint(&alice, &pw("shared password")), fp, "keyed by the server secret");
        assert_eq!(format!("{fp:?}"), "Fingerprint(..)");
    }

    #[test]
    fn the_map_is_bounded_expired_entries_go_first_then_the_oldest() {
        let (c, clock) = cache(3);
        let fps: Vec<Fingerprint> = (1..=6).map(|i| c.fingerprint(&user(i, "h", "s"), &pw("password"))).collect();
        c.remember(fps[0], 1);
        clock.advance(100);
        c.remember(fps[1], 2);
        clock.advance(100);
        c.remember(fps[2], 3);
        assert_eq!(c.len(), 3);
        // full and nothing expired: the oldest (user 1) goes
        clock.advance(10);
        c.remember(fps[3], 4);
        assert_eq!(c.len(), 3);
        assert!(!c.recalls(&fps[0]));
        assert!(c.recalls(&fps[1]) && c.recalls(&fps[2]) && c.recalls(&fps[3]));
        // users 2 and 3 have expired: both are swept, the newer user 4 stays
        clock.advance(295);
        c.remember(fps[4], 5);
        assert_eq!(c.len(), 2);
        assert!(c.recalls(&fps[3]) && c.recalls(&fps[4]));
        // re-remembering a pair already present never evicts another
        c.remember(fps[5], 6);
        c.remember(fps[5], 6);
        assert_eq!(c.len(), 3);
        for i in 0..1000 {
            c.remember(c.fingerprint(&user(100 + i, "h", "s"), &pw("password")), 100 + i);
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn forget_drops_every_pair_of_one_user_only() {
        let (c, _) = cache(10);
        let (alice, bob) = (user(1, "h", "s"), user(2, "h", "s"));
        let a1 = c.fingerprint(&alice, &pw("first password"));
        let a2 = c.fingerprint(&alice, &pw("second password"));
        let b = c.fingerprint(&bob, &pw("first password"));
        c.remember(a1, 1);
        c.remember(a2, 1);
        c.remember(b, 2);
        c.forget(1);
        assert!(!c.recalls(&a1) && !c.recalls(&a2));
        assert!(c.recalls(&b));
        assert_eq!(c.len(), 1);
    }
}
