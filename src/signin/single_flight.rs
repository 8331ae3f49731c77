//! Identical attempts share one verification: while a password for an account is being
//! verified, the same password for the same account waits for that verdict instead of
//! running argon2 (and taking a throttle slot) again. Sixty-four simultaneous pulls with
//! one password cost one argon2, and none of them is throttled by its siblings.
//!
//! An attempt is named by an HMAC, under a key made at start and never stored, of the
//! account and the presented secret; nothing of the secret is kept. An entry lives only
//! while its verification runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

/// The name of one (account, secret) attempt.
pub type FlightKey = [u8; 32];

pub struct SingleFlight<T> {
    key: [u8; 32],
    flights: Mutex<HashMap<FlightKey, watch::Receiver<Option<T>>>>,
}

impl<T: Clone + Send + Sync> Default for SingleFlight<T> {
    fn default() -> Self {
        let mut key = [0u8; 32];
        crate::keys::fill_random(&mut key);
        SingleFlight { key, flights: Mutex::new(HashMap::new()) }
    }
}

/// Removes the leader's entry however its work ends (finished, failed, or its request
/// dropped), so a follower never waits on a flight that has landed.
struct Landing<'a, T> {
    flights: &'a Mutex<HashMap<FlightKey, watch::Receiver<Option<T>>>>,
    key: FlightKey,
}

impl<T> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        self.flights.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}

impl<T: Clone + Send + Sync> SingleFlight<T> {
    /// Names an attempt: `parts` identify the account (and the row it was checked against),
    /// the last part is the secret.
    pub fn key(&self, parts: &[&[u8]]) -> FlightKey {
        crate::keys::hmac(&self.key, parts)
    }

    /// Runs `work` for `key`, or waits for the identical flight already running and takes
    /// its answer. When the running flight ends without an answer (an error, a dropped
    /// request), the waiter runs `work` itself.
    pub async fn run<E, Fut>(&self, key: FlightKey, work: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let joined = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&key) {
                Some(rx) => Ok(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    flights.insert(key, rx);
                    Err(tx)
                }
            }
        };
        match joined {
            Ok(mut rx) => {
                if let Ok(answer) = rx.wait_for(Option::is_some).await
                    && let Some(answer) = answer.clone()
                {
                    return Ok(answer);
                }
                work().await
            }
            Err(tx) => {
                let _landing = Landing { flights: &self.flights, key };
                let answer = work().await?;
                let _ = tx.send(Some(answer.clone()));
                Ok(answer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(flavor = "current_thread")]
    async fn identical_attempts_in_flight_share_one_run_and_later_ones_run_again() {
        let flights = SingleFlight::<u32>::default();
        let runs = AtomicU32::new(0);
        let key = flights.key(&[b"alice", b"secret"]);
        let (release, gate) = watch::channel(false);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate.clone();
            gate.wait_for(|open| *open).await.unwrap();
            Ok::<_, ()>(7)
        };
        let all = futures_util::future::join_all((0..10).map(|_| flights.run(key, work)));
        let opener = async {
            tokio::task::yield_now().await;
            release.send(true).unwrap();
        };
        let (answers, ()) = tokio::join!(all, opener);
        assert!(answers.iter().all(|a| *a == Ok(7)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.flights.lock().unwrap().is_empty(), "a landed flight is forgotten");
        assert_eq!(flights.run(key, work).await, Ok(7));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flight_that_fails_leaves_its_waiters_to_run_their_own() {
        let flights = SingleFlight::<u32>::default();
        let runs = AtomicU32::new(0);
        let key = flights.key(&[b"bob"]);
        let work = || async {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if n == 0 { Err(()) } else { Ok(n) }
        };
        let answers = futures_util::future::join_all((0..3).map(|_| flights.run(key, work))).await;
        assert_eq!(answers[0], Err(()));
        assert!(answers[1..].iter().all(Result::is_ok), "{answers:?}");
    }

    #[test]
    fn keys_differ_by_account_and_secret() {
        let flights = SingleFlight::<u32>::default();
        assert_ne!(flights.key(&[b"alice", b"pw"]), flights.key(&[b"bob", b"pw"]));
        assert_ne!(flights.key(&[b"alice", b"pw"]), flights.key(&[b"alice", b"pw2"]));
        assert_eq!(flights.key(&[b"alice", b"pw"]), flights.key(&[b"alice", b"pw"]));
    }
}
