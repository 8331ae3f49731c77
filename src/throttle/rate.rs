//! The JSON API's request rate, as Docker Hub's: `limit` requests a minute per caller (a
//! user, or a client IP when anonymous), in fixed one-minute windows. The counts live
//! behind `RateStore`, as the throttle's do behind `ThrottleStore`, so that several
//! instances can share one store.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::{SharedClock, Timestamp};

const WINDOW: i64 = 60;

/// Where the per-window counts are kept.
pub trait RateStore: Send + Sync {
    /// Whether the store is across the network (a database): `hit` is then made on the
    /// blocking pool, never on an async worker.
    fn shared(&self) -> bool {
        false
    }
    /// Counts one request of `key` in the window starting at `start`, unless `limit` are
    /// counted already; answers whether it was counted and how many the window now holds.
    fn hit(&self, key: String, start: Timestamp, limit: u32) -> (bool, u32);
}

/// This process's counts (one instance).
#[derive(Default)]
pub struct MemoryRateStore {
    windows: Mutex<HashMap<String, (Timestamp, u32)>>,
}

impl RateStore for MemoryRateStore {
    fn hit(&self, key: String, start: Timestamp, limit: u32) -> (bool, u32) {
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // past windows are dropped when the map grows large, not at every request
        if map.len() > 50_000 {
            map.retain(|_, (s, _)| *s == start);
        }
        let entry = map.entry(key).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        (allowed, entry.1)
    }
}

pub struct RateLimiter {
    limit: u32,
    clock: SharedClock,
    store: std::sync::Arc<dyn RateStore>,
}

/// What one request was told: counted or not, and the window's figures for the headers.
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub reset: Timestamp,
}

impl RateLimiter {
    pub fn new(limit: u32, clock: SharedClock) -> Self {
        Self::with_store(limit, clock, Box::new(MemoryRateStore::default()))
    }

    pub fn with_store(limit: u32, clock: SharedClock, store: Box<dyn RateStore>) -> Self {
        RateLimiter { limit: limit.max(1), clock, store: store.into() }
    }

    /// Counts one request of `key` in the current window.
    pub async fn hit(&self, key: String) -> Verdict {
        let now = self.clock.now();
        let start = now - now.rem_euclid(WINDOW);
        let limit = self.limit;
        let (allowed, used) = if self.store.shared() {
            let store = self.store.clone();
            // a request the blocking pool cannot count is let through, as the store does
            actix_web::web::block(move || store.hit(key, start, limit)).await.unwrap_or((true, 0))
        } else {
            self.store.hit(key, start, limit)
        };
        Verdict { allowed, limit, remaining: limit.saturating_sub(used), reset: start + WINDOW }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[actix_web::test]
    async fn a_window_counts_to_the_limit_then_refuses_until_the_next_minute() {
        let clock = ManualClock::new(1_000_020) /* a minute's start: 1_000_020 = 16_667 × 60 */;
        let limiter = RateLimiter::new(3, clock.clone());
        let verdicts: Vec<bool> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(limiter.hit("ip:1".into()).await.allowed);
            }
            v
        };
        assert_eq!(verdicts, [true, true, true, false]);
        let v = limiter.hit("ip:1".into()).await;
        assert_eq!((v.remaining, v.reset), (0, 1_000_020 + 60));
        assert!(limiter.hit("ip:2".into()).await.allowed, "another caller has its own window");
        clock.advance(60);
        assert!(limiter.hit("ip:1".into()).await.allowed);
    }
}
