//! Signing in, once for every front door (web pages, the JSON API, the registry's `/token`).
//! The doors adapt their input and render the outcome; the flow is here:
//!
//! - the **password step** (`password::password_step`): the throttle slot, the dummy hash
//!   for unknown users, identical attempts sharing one verification, the password cache
//!   (the registry only), and what a right password buys at each door — a sign-in, a
//!   second step, or at `/token` with 2FA on a refusal that asks for a token;
//! - the **second-factor step** (`second_factor::second_factor_step`): the stamp seen at
//!   the password step still current, the code checked and the challenge spent under one
//!   throttle slot; and the same code check when a signed-in user confirms a change
//!   (`second_factor::confirm_second_factor`, next to `password::confirm_password`);
//! - the **token step** (`token::token_step`, `token::org_token_step`): a personal or an
//!   organization access token presented as a password, looked up on the worker's
//!   read-only connection, an IP-only slot taken only when it is refused;
//! - the JSON API's challenges (`challenges`). Every typed code is put in its one normal
//!   form by `twofactor::normalize_code` before it is checked.
//!
//! **Where the events are written: one rule.** The security events of a sign-in (signed
//! in, failed, throttled, recovery code used) are written here, by the step that decides
//! it, inside the database transaction that makes the decision final: the second factor's
//! success and failure in the transaction that checks the code and spends the challenge;
//! a failure and the lock it starts in one transaction right after its throttle slot is
//! counted; the password step's sign-in in its own transaction once the password is
//! verified. A door never records a sign-in event itself. The registry's `/token` writes
//! no "signed in" event: every pull asks it, and it is not a sign-in (its token uses and
//! refusals are logged as such).

pub mod cache;
pub mod challenges;
pub mod events;
pub mod password;
pub mod second_factor;
pub mod single_flight;
pub mod token;

use std::sync::Arc;

use crate::accounts::password::HashPool;
use crate::clock::SharedClock;
use crate::db::Database;
use crate::keys::Keys;
use crate::throttle::Throttle;

pub use password::{Outcome, PasswordCheck, confirm_password, password_step};
pub use second_factor::{Begun, SecondOutcome, confirm_second_factor, second_factor_step};
pub use token::{DueWrites, TokenOutcome, org_token_step, token_step};

/// What signing in needs, shared by all workers.
pub struct Service {
    pub db: Database,
    pub clock: SharedClock,
    /// Seals and opens second factors.
    pub keys: Arc<Keys>,
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

/// The front door an attempt came through. It decides what is door-specific: whether the
/// password cache may answer, what a right password buys with 2FA on, and the words of
/// the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The sign-in form (`/login`, `/login/2fa`).
    Web,
    /// The Docker Hub-compatible JSON API (`/v2/users/login`, `/v2/auth/token`, `/v2/users/2fa-login`).
    Api,
    /// The registry's token server (`/token`), asked on every pull and push.
    Registry,
}

impl Door {
    /// The detail of the "signed in" event a right password alone writes; None where a
    /// password grants no sign-in event (`/token`).
    fn password_signed_in(self) -> Option<&'static str> {
        match self {
            Door::Web => Some("password"),
            Door::Api => Some("JSON API, password"),
            Door::Registry => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;
