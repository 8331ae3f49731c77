//! Throttling of failed attempts (passwords, 2FA codes, recovery codes): one component,
//! keyed by account and by client IP, shared by every front door (web login now; the
//! registry `/token` and the JSON API login later).
//!
//! Per account: `free_failures` free, then a back-off that doubles from `base_seconds` up to
//! `max_seconds`. Per IP: `ip_failures` failures per sliding `ip_window_seconds`.
//! Successes never count, and reset the account's back-off.
//!
//! The state sits behind `ThrottleStore`, so several instances could share it later.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::{SharedClock, Timestamp};
use crate::config::ThrottleConfig;

/// Whose failures are counted. Known users by id (username and email count as one account);
/// unknown login names by the name, so they behave exactly like real accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountKey {
    User(i32),
    Unknown(String),
}

#[derive(Debug, Default, Clone)]
struct AccountEntry {
    failures: u32,
    last_failure: Timestamp,
}

/// Where throttle state lives. In memory today; a shared store (a table, Redis) later.
pub trait ThrottleStore: Send + Sync {
    fn account(&self, key: &AccountKey) -> Option<(u32, Timestamp)>;
    fn add_account_failure(&self, key: &AccountKey, now: Timestamp);
    fn clear_account(&self, key: &AccountKey);
    fn ip_failures_since(&self, ip: IpAddr, since: Timestamp) -> (u32, Option<Timestamp>);
    fn add_ip_failure(&self, ip: IpAddr, now: Timestamp, keep_after: Timestamp);
}

#[derive(Default)]
pub struct MemoryStore {
    accounts: Mutex<HashMap<AccountKey, AccountEntry>>,
    ips: Mutex<HashMap<IpAddr, VecDeque<Timestamp>>>,
}

/// Above this many entries, stale ones are swept on the next write.
const SWEEP_AT: usize = 10_000;

impl ThrottleStore for MemoryStore {
    fn account(&self, key: &AccountKey) -> Option<(u32, Timestamp)> {
        self.accounts.lock().unwrap().get(key).map(|e| (e.failures, e.last_failure))
    }
    fn add_account_failure(&self, key: &AccountKey, now: Timestamp) {
        let mut map = self.accounts.lock().unwrap();
        if map.len() > SWEEP_AT {
            // a day without failures forgets the account
            map.retain(|_, e| now - e.last_failure < 86_400);
        }
        let e = map.entry(key.clone()).or_default();
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
    }
    fn clear_account(&self, key: &AccountKey) {
        self.accounts.lock().unwrap().remove(key);
    }
    fn ip_failures_since(&self, ip: IpAddr, since: Timestamp) -> (u32, Option<Timestamp>) {
        let map = self.ips.lock().unwrap();
        match map.get(&ip) {
            Some(q) => {
                let recent: Vec<_> = q.iter().copied().filter(|t| *t > since).collect();
                (recent.len() as u32, recent.first().copied())
            }
            None => (0, None),
        }
    }
    fn add_ip_failure(&self, ip: IpAddr, now: Timestamp, keep_after: Timestamp) {
        let mut map = self.ips.lock().unwrap();
        if map.len() > SWEEP_AT {
            map.retain(|_, q| q.back().is_some_and(|t| *t > keep_after));
        }
        let q = map.entry(ip).or_default();
        while q.front().is_some_and(|t| *t <= keep_after) {
            q.pop_front();
        }
        q.push_back(now);
    }
}

pub struct Throttle {
    config: ThrottleConfig,
    clock: SharedClock,
    store: Box<dyn ThrottleStore>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig, clock: SharedClock) -> Self {
        Throttle { config, clock, store: Box::new(MemoryStore::default()) }
    }

    /// `Err(seconds)` when this account or this IP must wait before another attempt.
    pub fn check(&self, account: &AccountKey, ip: IpAddr) -> Result<(), u64> {
        let now = self.clock.now();
        let mut wait: i64 = 0;
        if let Some(backoff) = self.store.account(account).and_then(|(failures, last)| self.backoff(failures).map(|b| last + b as i64)) {
            wait = wait.max(backoff - now);
        }
        let window = self.config.ip_window_seconds as i64;
        let (count, oldest) = self.store.ip_failures_since(ip, now - window);
        if let Some(oldest) = oldest.filter(|_| count >= self.config.ip_failures) {
            wait = wait.max(oldest + window - now);
        }
        if wait > 0 { Err(wait as u64) } else { Ok(()) }
    }

    /// The wait after `failures` consecutive failures, if any.
    fn backoff(&self, failures: u32) -> Option<u64> {
        let free = self.config.free_failures;
        if failures < free.max(1) {
            return None;
        }
        let doublings = (failures - free.max(1)).min(30);
        Some(self.config.base_seconds.saturating_mul(1u64 << doublings).min(self.config.max_seconds))
    }

    /// The client-IP part of `check` alone: for credentials (valid tokens) that must keep
    /// working while the account's password is throttled.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), u64> {
        let now = self.clock.now();
        let window = self.config.ip_window_seconds as i64;
        let (count, oldest) = self.store.ip_failures_since(ip, now - window);
        match oldest.filter(|_| count >= self.config.ip_failures) {
            Some(oldest) if oldest + window > now => Err((oldest + window - now) as u64),
            _ => Ok(()),
        }
    }

    /// Counts a failure. Returns the back-off in seconds when this failure puts the account
    /// (further) behind one, so the caller can log the lock once instead of every refusal.
    pub fn record_failure(&self, account: &AccountKey, ip: IpAddr) -> Option<u64> {
        let now = self.clock.now();
        self.store.add_account_failure(account, now);
        self.store.add_ip_failure(ip, now, now - self.config.ip_window_seconds as i64);
        self.store.account(account).and_then(|(failures, _)| self.backoff(failures))
    }

    pub fn record_success(&self, account: &AccountKey) {
        self.store.clear_account(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    fn setup() -> (Arc<ManualClock>, Throttle) {
        let clock = ManualClock::new(1_000_000);
        let t = Throttle::new(ThrottleConfig::default(), clock.clone());
        (clock, t)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn five_failures_are_free_then_the_backoff_doubles_up_to_fifteen_minutes() {
        let (clock, t) = setup();
        let acct = AccountKey::User(1);
        for _ in 0..4 {
            assert_eq!(t.record_failure(&acct, IP), None);
            assert!(t.check(&acct, IP).is_ok());
        }
        assert_eq!(t.record_failure(&acct, IP), Some(30));
        assert_eq!(t.check(&acct, IP), Err(30));
        clock.advance(30);
        assert!(t.check(&acct, IP).is_ok());
        t.record_failure(&acct, IP);
        assert_eq!(t.check(&acct, IP), Err(60));
        for _ in 0..10 {
            t.record_failure(&acct, IP);
        }
        assert_eq!(t.check(&acct, IP), Err(900));
    }

    #[test]
    fn at_most_a_hundred_failures_an_hour_per_account() {
        let (clock, t) = setup();
        let acct = AccountKey::Unknown("ghost".into());
        let mut tries = 0;
        for _ in 0..3600 {
            if t.check(&acct, IP).is_ok() {
                t.record_failure(&acct, IP);
                tries += 1;
            }
            clock.advance(1);
        }
        assert!(tries <= 100, "{tries} attempts in an hour");
    }

    #[test]
    fn success_resets_the_account_but_not_the_ip() {
        let (_clock, t) = setup();
        let acct = AccountKey::User(2);
        for _ in 0..5 {
            t.record_failure(&acct, IP);
        }
        assert!(t.check(&acct, IP).is_err());
        t.record_success(&acct);
        assert!(t.check(&acct, IP).is_ok());
    }

    #[test]
    fn fifty_failures_from_one_ip_in_fifteen_minutes_block_that_ip_for_every_account() {
        let (clock, t) = setup();
        for i in 0..50 {
            t.record_failure(&AccountKey::Unknown(format!("user{i}")), IP);
            clock.advance(1);
        }
        let fresh = AccountKey::User(99);
        let wait = t.check(&fresh, IP).unwrap_err();
        assert!(wait > 800 && wait <= 900, "{wait}");
        let other_ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.check(&fresh, other_ip).is_ok());
        clock.advance(wait as i64);
        assert!(t.check(&fresh, IP).is_ok());
    }
}
