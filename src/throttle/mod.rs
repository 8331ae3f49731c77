//! Throttling of failed attempts (passwords, 2FA codes, recovery codes, confirmation
//! passwords, wrong tokens): one component, keyed by account and by client IP, shared by
//! every front door (web, JSON API, registry `/token`).
//!
//! Per account: `free_failures` free, then a back-off that doubles from `base_seconds` up to
//! `max_seconds`. Per IP: `ip_failures` failures per sliding `ip_window_seconds`.
//! Successes never count, and reset the account's back-off.
//!
//! An attempt **reserves** its slot before the secret is verified, in one step under one
//! lock: while it is in flight it counts as a failure, so a burst of simultaneous requests
//! cannot all pass the check before the first failure is recorded. A failure keeps the
//! slot, a success or an attempt that ends another way gives it back.
//!
//! The state sits behind `ThrottleStore`: this process's memory for one instance, the
//! database (`db::shared_limits`) for several instances on PostgreSQL, where a reservation
//! left by an instance that died expires after `RESERVATION_SECONDS`.

pub mod rate;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::clock::{SharedClock, Timestamp};
use crate::config::ThrottleConfig;

/// Whose failures are counted. Known users by id (username and email count as one account);
/// unknown login names by the name, so they behave exactly like real accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AccountKey {
    User(i32),
    Unknown(String),
}

/// How an attempt in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The secret was wrong: the attempt stays counted as a failure.
    Failed,
    /// The secret was right: the slot is given back and the account's failures cleared.
    Succeeded,
    /// Neither (a password step before the second factor, an internal error): the slot is
    /// given back and nothing else changes.
    Released,
}

/// How long an attempt in flight counts at most: past it, a reservation its instance never
/// settled (the instance was killed) stops counting. Longer than any verification.
pub const RESERVATION_SECONDS: Timestamp = 60;

/// Where throttle state lives: the rules are the caller's, the store applies them
/// atomically. `MemoryStore` keeps them in this process; a shared store keeps them where
/// every instance counts the same attempts.
pub trait ThrottleStore: Send + Sync {
    /// Whether the store is across the network (a database): its calls are then made on
    /// the blocking pool, never on an async worker.
    fn shared(&self) -> bool {
        false
    }
    /// Refuses with the wait in seconds when the account (if any) or the IP is at its limit,
    /// attempts in flight included; otherwise counts one more attempt in flight. One step:
    /// no other attempt can come between the check and the count.
    fn reserve(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Result<(), u64>;
    /// Ends an attempt that `reserve` let through. For a failure that puts the account
    /// (further) behind a back-off, returns that back-off in seconds.
    fn settle(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp, outcome: Outcome) -> Option<u64>;
    /// The wait `reserve` would answer, without reserving anything.
    fn wait(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Option<u64>;
    /// Clears the account's failures (a success that needed no verification).
    fn clear(&self, account: &AccountKey);
}

/// An account's count, as any store holds it.
#[derive(Debug, Default)]
pub struct AccountEntry {
    pub failures: u32,
    pub last_failure: Timestamp,
    pub in_flight: u32,
}

/// An IP's count, as any store holds it.
#[derive(Debug, Default)]
pub struct IpEntry {
    /// Failure times within the window, oldest first.
    pub failures: VecDeque<Timestamp>,
    pub in_flight: u32,
}

#[derive(Default)]
struct State {
    accounts: HashMap<AccountKey, AccountEntry>,
    ips: HashMap<IpAddr, IpEntry>,
}

/// The wait a shared store answers when it cannot be reached: the attempt is refused, as it
/// cannot be counted.
pub const UNAVAILABLE_WAIT: u64 = 5;

/// Above this many entries, stale ones are swept on the next reservation.
const SWEEP_AT: usize = 10_000;

/// The wait after `failures` consecutive failures, if any.
pub fn backoff(rules: &ThrottleConfig, failures: u32) -> Option<u64> {
    let free = rules.free_failures.max(1);
    if failures < free {
        return None;
    }
    let doublings = (failures - free).min(30);
    Some(rules.base_seconds.saturating_mul(1u64 << doublings).min(rules.max_seconds))
}

/// Seconds an account must wait before one more attempt. Attempts in flight count as
/// failures made now.
pub fn account_wait(rules: &ThrottleConfig, e: &AccountEntry, now: Timestamp) -> i64 {
    let Some(b) = backoff(rules, e.failures + e.in_flight) else { return 0 };
    let from = if e.in_flight > 0 { now } else { e.last_failure };
    from + b as i64 - now
}

/// Seconds an IP must wait before one more attempt: until enough failures leave the window
/// to make room. Attempts in flight count as failures made now.
pub fn ip_wait(rules: &ThrottleConfig, e: &IpEntry, now: Timestamp) -> i64 {
    let window = rules.ip_window_seconds as i64;
    let recent: Vec<Timestamp> = e.failures.iter().copied().filter(|t| *t > now - window).collect();
    let counted = recent.len() + e.in_flight as usize;
    let limit = rules.ip_failures.max(1) as usize;
    if counted < limit {
        return 0;
    }
    let frees_room = recent.get(counted - limit).copied().unwrap_or(now);
    frees_room + window - now
}

impl State {
    fn wait(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> i64 {
        let by_account = account.and_then(|k| self.accounts.get(k)).map_or(0, |e| account_wait(rules, e, now));
        let by_ip = self.ips.get(&ip).map_or(0, |e| ip_wait(rules, e, now));
        by_account.max(by_ip)
    }

    fn sweep(&mut self, rules: &ThrottleConfig, now: Timestamp) {
        if self.accounts.len() > SWEEP_AT {
            // a day without failures forgets the account
            self.accounts.retain(|_, e| e.in_flight > 0 || now - e.last_failure < 86_400);
        }
        if self.ips.len() > SWEEP_AT {
            let keep_after = now - rules.ip_window_seconds as i64;
            self.ips.retain(|_, e| e.in_flight > 0 || e.failures.back().is_some_and(|t| *t > keep_after));
        }
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ThrottleStore for MemoryStore {
    fn reserve(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Result<(), u64> {
        let mut state = self.lock();
        let wait = state.wait(rules, account, ip, now);
        if wait > 0 {
            return Err(wait as u64);
        }
        state.sweep(rules, now);
        if let Some(key) = account {
            state.accounts.entry(key.clone()).or_default().in_flight += 1;
        }
        state.ips.entry(ip).or_default().in_flight += 1;
        Ok(())
    }

    fn settle(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp, outcome: Outcome) -> Option<u64> {
        let mut state = self.lock();
        let ip_entry = state.ips.entry(ip).or_default();
        ip_entry.in_flight = ip_entry.in_flight.saturating_sub(1);
        let keep_after = now - rules.ip_window_seconds as i64;
        while ip_entry.failures.front().is_some_and(|t| *t <= keep_after) {
            ip_entry.failures.pop_front();
        }
        if outcome == Outcome::Failed {
            ip_entry.failures.push_back(now);
        }
        if ip_entry.in_flight == 0 && ip_entry.failures.is_empty() {
            state.ips.remove(&ip);
        }
        let key = account?;
        let entry = state.accounts.entry(key.clone()).or_default();
        entry.in_flight = entry.in_flight.saturating_sub(1);
        let lock = match outcome {
            Outcome::Failed => {
                entry.failures = entry.failures.saturating_add(1);
                entry.last_failure = now;
                backoff(rules, entry.failures)
            }
            Outcome::Succeeded => {
                entry.failures = 0;
                None
            }
            Outcome::Released => None,
        };
        // an account with nothing counted is forgotten at once
        if entry.in_flight == 0 && entry.failures == 0 {
            state.accounts.remove(key);
        }
        lock
    }

    fn wait(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Option<u64> {
        let wait = self.lock().wait(rules, account, ip, now);
        (wait > 0).then_some(wait as u64)
    }

    fn clear(&self, account: &AccountKey) {
        let mut state = self.lock();
        if let Some(e) = state.accounts.get_mut(account) {
            e.failures = 0;
            if e.in_flight == 0 {
                state.accounts.remove(account);
            }
        }
    }
}

/// The throttle every door shares. Cloning it shares the same state.
#[derive(Clone)]
pub struct Throttle {
    inner: Arc<Inner>,
}

struct Inner {
    config: ThrottleConfig,
    clock: SharedClock,
    store: Box<dyn ThrottleStore>,
}

/// One attempt's slot, taken before its secret is verified. End it with `failed` or
/// `succeeded`; dropped any other way (released, an error, a cancelled request) it gives
/// the slot back without counting anything. It owns a handle on the throttle, so it may be
/// moved into the database transaction that decides the attempt and settled there, with
/// the events it causes.
#[must_use = "an attempt's slot is given back when it is dropped"]
pub struct Reservation {
    throttle: Arc<Inner>,
    account: Option<AccountKey>,
    ip: IpAddr,
    settled: bool,
}

impl Reservation {
    /// The secret was wrong. Returns the back-off in seconds when this failure puts the
    /// account (further) behind one, so the caller can log the lock once, not per refusal.
    /// Call it on the blocking pool (inside the transaction that decides the attempt):
    /// with a shared store it is a database round trip.
    pub fn failed(mut self) -> Option<u64> {
        self.settle(Outcome::Failed)
    }

    /// `failed`, from an async worker.
    pub async fn failed_async(self) -> Result<Option<u64>, crate::Error> {
        if !self.throttle.store.shared() {
            return Ok(self.failed());
        }
        Ok(actix_web::web::block(move || self.failed()).await?)
    }

    /// The secret was right and the attempt is complete: the account's failures are cleared.
    pub async fn succeeded(mut self) -> Result<(), crate::Error> {
        if !self.throttle.store.shared() {
            self.settle(Outcome::Succeeded);
            return Ok(());
        }
        actix_web::web::block(move || self.settle(Outcome::Succeeded)).await?;
        Ok(())
    }

    /// The attempt ends without a verdict on the account (a right password that still needs
    /// its second factor, a right confirmation password): nothing is counted or cleared.
    pub fn release(self) {}

    fn settle(&mut self, outcome: Outcome) -> Option<u64> {
        self.settled = true;
        let t = &self.throttle;
        t.store.settle(&t.config, self.account.as_ref(), self.ip, t.clock.now(), outcome)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let (throttle, account, ip) = (self.throttle.clone(), self.account.take(), self.ip);
        let release = move || throttle.store.settle(&throttle.config, account.as_ref(), ip, throttle.clock.now(), Outcome::Released);
        // a shared store's release goes to the blocking pool, unawaited: the slot comes back
        // a moment later, and until then counts as a failure, which only errs on the safe side
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if self.throttle.store.shared() => drop(runtime.spawn_blocking(release)),
            _ => drop(release()),
        }
    }
}

impl Throttle {
    pub fn new(config: ThrottleConfig, clock: SharedClock) -> Self {
        Self::with_store(config, clock, Box::new(MemoryStore::default()))
    }

    pub fn with_store(config: ThrottleConfig, clock: SharedClock, store: Box<dyn ThrottleStore>) -> Self {
        Throttle { inner: Arc::new(Inner { config, clock, store }) }
    }

    /// Takes a slot for one attempt of `account` from `ip`, or `Err(seconds)` to wait.
    pub async fn reserve(&self, account: &AccountKey, ip: IpAddr) -> Result<Reservation, u64> {
        self.reserve_for(Some(account.clone()), ip).await
    }

    /// A slot counted against the client IP only: for a wrong token, which names no
    /// account whose password should pay for it.
    pub async fn reserve_ip(&self, ip: IpAddr) -> Result<Reservation, u64> {
        self.reserve_for(None, ip).await
    }

    async fn reserve_for(&self, account: Option<AccountKey>, ip: IpAddr) -> Result<Reservation, u64> {
        let t = self.inner.clone();
        let reserve = move || {
            t.store.reserve(&t.config, account.as_ref(), ip, t.clock.now())?;
            Ok(Reservation { throttle: t, account, ip, settled: false })
        };
        if !self.inner.store.shared() {
            return reserve();
        }
        // a refusal to reserve is also what a broken blocking pool gets: never a free slot
        actix_web::web::block(reserve).await.unwrap_or(Err(UNAVAILABLE_WAIT))
    }

    /// `Err(seconds)` when an attempt for this account from this IP would be refused now,
    /// attempts in flight included; reserves nothing. For a remembered password, which
    /// needs no verification and so no slot, but must not answer while the account or IP
    /// is locked (else it would confirm guesses at the speed of a hash lookup).
    pub async fn check(&self, account: &AccountKey, ip: IpAddr) -> Result<(), u64> {
        let (t, account) = (self.inner.clone(), account.clone());
        let check = move || match t.store.wait(&t.config, Some(&account), ip, t.clock.now()) {
            Some(wait) => Err(wait),
            None => Ok(()),
        };
        if !self.inner.store.shared() {
            return check();
        }
        actix_web::web::block(check).await.unwrap_or(Err(UNAVAILABLE_WAIT))
    }

    /// A success that took no slot (a remembered password): clears the account's failures.
    pub async fn record_success(&self, account: &AccountKey) {
        let (t, account) = (self.inner.clone(), account.clone());
        if !t.store.shared() {
            return t.store.clear(&account);
        }
        let _ = actix_web::web::block(move || t.store.clear(&account)).await;
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

    /// Runs a throttle call to its end: the memory store never waits on anything.
    fn now<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn fail(t: &Throttle, acct: &AccountKey, ip: IpAddr) -> Option<u64> {
        now(t.reserve(acct, ip)).expect("a slot").failed()
    }

    #[test]
    fn five_failures_are_free_then_the_backoff_doubles_up_to_fifteen_minutes() {
        let (clock, t) = setup();
        let acct = AccountKey::User(1);
        for _ in 0..4 {
            assert_eq!(fail(&t, &acct, IP), None);
            assert!(now(t.check(&acct, IP)).is_ok());
        }
        assert_eq!(fail(&t, &acct, IP), Some(30));
        assert_eq!(now(t.check(&acct, IP)), Err(30));
        assert_eq!(now(t.reserve(&acct, IP)).err(), Some(30));
        clock.advance(30);
        assert!(now(t.check(&acct, IP)).is_ok());
        fail(&t, &acct, IP);
        assert_eq!(now(t.check(&acct, IP)), Err(60));
        for _ in 0..10 {
            clock.advance(900);
            fail(&t, &acct, IP);
        }
        assert_eq!(now(t.check(&acct, IP)), Err(900));
    }

    #[test]
    fn at_most_a_hundred_failures_an_hour_per_account() {
        let (clock, t) = setup();
        let acct = AccountKey::Unknown("ghost".into());
        let mut tries = 0;
        for _ in 0..3600 {
            if let Ok(r) = now(t.reserve(&acct, IP)) {
                r.failed();
                tries += 1;
            }
            clock.advance(1);
        }
        assert!(tries <= 100, "{tries} attempts in an hour");
    }

    #[test]
    fn a_success_clears_the_accounts_failures() {
        let (_clock, t) = setup();
        let acct = AccountKey::User(2);
        for _ in 0..4 {
            fail(&t, &acct, IP);
        }
        now(now(t.reserve(&acct, IP)).unwrap().succeeded()).unwrap();
        for _ in 0..4 {
            fail(&t, &acct, IP);
        }
        assert!(now(t.check(&acct, IP)).is_ok(), "the success cleared the first four");
    }

    #[test]
    fn fifty_failures_from_one_ip_in_fifteen_minutes_block_that_ip_for_every_account() {
        let (clock, t) = setup();
        for i in 0..50 {
            fail(&t, &AccountKey::Unknown(format!("user{i}")), IP);
            clock.advance(1);
        }
        let fresh = AccountKey::User(99);
        let wait = now(t.check(&fresh, IP)).unwrap_err();
        assert!(wait > 800 && wait <= 900, "{wait}");
        let other_ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(now(t.check(&fresh, other_ip)).is_ok());
        assert!(now(t.reserve_ip(IP)).is_err(), "a wrong token from the locked IP waits too");
        clock.advance(wait as i64);
        assert!(now(t.check(&fresh, IP)).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_against_the_account_and_the_ip() {
        let (_clock, t) = setup();
        let acct = AccountKey::User(3);
        let in_flight: Vec<_> = (0..5).map(|_| now(t.reserve(&acct, IP)).expect("five free")).collect();
        assert_eq!(now(t.reserve(&acct, IP)).err(), Some(30), "the sixth waits while five are in flight");
        drop(in_flight);
        assert!(now(t.check(&acct, IP)).is_ok(), "released slots count nothing");

        let in_flight: Vec<_> = (0..50).map(|i| now(t.reserve(&AccountKey::Unknown(format!("u{i}")), IP)).expect("fifty")).collect();
        assert!(now(t.reserve(&AccountKey::User(4), IP)).is_err(), "the IP is full while fifty are in flight");
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(now(t.reserve(&AccountKey::User(4), other)).is_ok());
        let locks: Vec<_> = in_flight.into_iter().map(Reservation::failed).collect();
        assert!(locks.iter().all(Option::is_none), "one failure each is no account lock");
        assert!(now(t.check(&AccountKey::User(4), IP)).is_err(), "fifty failures lock the IP");
    }

    #[test]
    fn successes_and_released_attempts_leave_no_state_behind() {
        let (store, rules, now) = (MemoryStore::default(), ThrottleConfig::default(), 1_000);
        for i in 0..100u8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, i));
            for (key, outcome) in [(AccountKey::User(i.into()), Outcome::Succeeded), (AccountKey::Unknown(format!("u{i}")), Outcome::Released)] {
                store.reserve(&rules, Some(&key), ip, now).unwrap();
                store.settle(&rules, Some(&key), ip, now, outcome);
            }
        }
        let state = store.lock();
        assert!(state.accounts.is_empty() && state.ips.is_empty());
    }

    #[test]
    fn only_the_failure_that_starts_a_lock_reports_it() {
        let (_clock, t) = setup();
        let acct = AccountKey::User(5);
        let slots: Vec<_> = (0..5).map(|_| now(t.reserve(&acct, IP)).unwrap()).collect();
        let locks: Vec<_> = slots.into_iter().map(Reservation::failed).collect();
        assert_eq!(locks.iter().filter(|l| l.is_some()).count(), 1, "{locks:?}");
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let (_clock, t) = setup();
        let t = Arc::new(t);
        let acct = AccountKey::User(6);
        let granted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if let Ok(r) = now(t.reserve(&acct, IP)) {
                            granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            std::thread::yield_now();
                            r.failed();
                        }
                    }
                });
            }
        });
        assert_eq!(granted.into_inner(), 5);
    }
}
