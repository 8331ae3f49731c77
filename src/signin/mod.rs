//! Signing in, at every front door (web pages, the JSON API, the registry's `/token`): the
//! password step with the throttle, the dummy hash and the password cache; identical
//! attempts sharing one verification; the security events of signing in.

pub mod cache;
pub mod challenges;
pub mod password;
pub mod single_flight;

use crate::accounts::password::HashPool;
use crate::clock::SharedClock;
use crate::db::Database;
use crate::throttle::Throttle;

pub use password::PasswordCheck;

/// What signing in needs, shared by all workers.
pub struct Service {
    pub db: Database,
    pub clock: SharedClock,
    pub throttle: Throttle,
    pub hasher: HashPool,
    /// Passwords verified recently, for the registry's `/token` only.
    pub password_cache: cache::PasswordCache,
    /// Password verifications in flight, shared by identical attempts.
    pub password_flights: single_flight::SingleFlight<PasswordCheck>,
}

impl Service {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
