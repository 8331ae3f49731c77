//! The password step at every front door, and the password a signed-in user re-enters
//! before a sensitive change. One throttle for both, the dummy hash for unknown users.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::{self, User};
use crate::activity::{self, Client, Event};
use crate::signin::cache::Fingerprint;
use crate::signin::events::count_failure;
use crate::signin::{Door, Service};
use crate::throttle::AccountKey;

/// What a password step ends in.
#[derive(Debug)]
pub enum Outcome {
    /// The password is right, the account enabled and without 2FA: its failures are
    /// cleared and, at the web and JSON doors, the "signed in" event is written.
    Granted(User),
    /// The password is right and 2FA is on (web, JSON API): the door opens its second step
    /// (the web's pending session, the API's challenge). The failures stay until the code
    /// is right.
    NeedsSecondFactor(User),
    /// The password is right and 2FA is on at `/token`, where no code can be asked: the
    /// password alone is refused there, and the client is told to use a token.
    UseAToken,
    /// Unknown user, wrong password or disabled account: one answer for all three.
    Refused,
    /// Too many failures for this account or client IP: wait this many seconds.
    Throttled(u64),
}

/// Checks `password` for `login` (a username or an email address) at `door`, and says what
/// it buys there. Writes the events of the step (`signin` module: one rule).
pub async fn password_step(svc: &Service, door: Door, login: &str, password: SecretString, client: &Client, ip: IpAddr) -> Result<Outcome, Error> {
    // argon2 on every pull would cap password pulls at tens a second per core: at `/token`
    // a pair verified in the last five minutes is recalled instead (`cache`)
    let check = verify_login(svc, login, password, client, ip, door == Door::Registry).await?;
    Ok(match check {
        PasswordCheck::Valid(user) if user.has_second_factor() => match door {
            Door::Registry => Outcome::UseAToken,
            Door::Web | Door::Api => Outcome::NeedsSecondFactor(user),
        },
        PasswordCheck::Valid(user) => {
            if let Some(detail) = door.password_signed_in() {
                // each caller that signs in is one event, a verdict shared by identical
                // attempts in flight included
                let (uid, client, now) = (user.id, client.clone(), svc.now());
                svc.db.run(move |c| activity::record(c, uid, Event::SignedIn, detail, &client, now)).await?;
            }
            Outcome::Granted(user)
        }
        PasswordCheck::Invalid => Outcome::Refused,
        PasswordCheck::Throttled(wait) => Outcome::Throttled(wait),
    })
}

/// One verification's verdict, shared by the identical attempts in flight (`single_flight`).
#[derive(Debug, Clone)]
pub enum PasswordCheck {
    /// The password is right and the account enabled. Without 2FA the account's failures are
    /// cleared; with 2FA on this is only the first step and the failures stay.
    Valid(User),
    /// Unknown user, wrong password or disabled account.
    Invalid,
    /// Too many failures for this account or client IP: wait this many seconds.
    Throttled(u64),
}

pub fn account_key(user: Option<&User>, login: &str) -> AccountKey {
    match user {
        Some(u) => AccountKey::User(u.id),
        None => AccountKey::Unknown(login.trim().to_lowercase()),
    }
}

async fn verify_login(svc: &Service, login: &str, password: SecretString, client: &Client, ip: IpAddr, may_remember: bool) -> Result<PasswordCheck, Error> {
    let login_owned = login.to_string();
    let user = svc.db.run(move |c| accounts::find_by_login(c, &login_owned)).await?;
    let key = account_key(user.as_ref(), login);
    // Only enabled accounts without 2FA, for which the password alone is a credential, are
    // remembered; the fingerprint binds the row's hash and stamp read just above.
    let cache = &svc.password_cache;
    let fingerprint = user.as_ref().filter(|u| may_remember && !u.is_disabled && !u.has_second_factor()).map(|u| cache.fingerprint(u, &password));
    if let (Some(fp), Some(u)) = (&fingerprint, &user)
        && cache.recalls(fp)
    {
        // nothing to verify, so no slot to take; but a locked account or IP still waits
        if let Err(wait) = svc.throttle.check(&key, ip).await {
            return Ok(PasswordCheck::Throttled(wait));
        }
        svc.throttle.record_success(&key).await;
        return Ok(PasswordCheck::Valid(u.clone()));
    }
    // The flight is named by the account as read (its id, hash and stamp, or the unknown
    // name) and the password: only truly identical attempts share a verdict.
    let flight = match &user {
        Some(u) => svc.password_flights.key(&[&u.id.to_be_bytes(), u.password_hash.as_bytes(), u.security_stamp.as_bytes(), password.expose_secret().as_bytes()]),
        None => svc.password_flights.key(&[b"unknown", login.trim().to_lowercase().as_bytes(), password.expose_secret().as_bytes()]),
    };
    svc.password_flights.run(flight, || verify_once(svc, key, user, password, fingerprint, client, ip)).await
}

/// One verification, behind a throttle slot taken first.
async fn verify_once(
    svc: &Service,
    key: AccountKey,
    user: Option<User>,
    password: SecretString,
    fingerprint: Option<Fingerprint>,
    client: &Client,
    ip: IpAddr,
) -> Result<PasswordCheck, Error> {
    let slot = match svc.throttle.reserve(&key, ip).await {
        Ok(slot) => slot,
        Err(wait) => return Ok(PasswordCheck::Throttled(wait)),
    };
    let matches = svc.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(u) if matches && !u.is_disabled => {
            if let Some(fp) = fingerprint {
                svc.password_cache.remember(fp, u.id);
            }
            if u.has_second_factor() {
                // the code step is counted on its own
                slot.release();
            } else {
                slot.succeeded().await?;
            }
            Ok(PasswordCheck::Valid(u))
        }
        other => {
            let logged = other.as_ref().map(|u| (u.id, Event::SignInFailed, if u.is_disabled { "account disabled" } else { "wrong password" }));
            count_failure(svc, slot, logged, client).await?;
            Ok(PasswordCheck::Invalid)
        }
    }
}

/// Re-checks the password of a signed-in user before a sensitive change (2FA, password,
/// email). Failures count in the same throttle as logins.
pub async fn confirm_password(svc: &Service, user: &User, password: SecretString, client: &Client, ip: IpAddr) -> Result<bool, Error> {
    let slot = svc.throttle.reserve(&AccountKey::User(user.id), ip).await.map_err(|wait| Error::Throttled { retry_after: wait })?;
    let ok = svc.hasher.verify(password, Some(user.password_hash.clone())).await?;
    if ok {
        // a confirmation is no sign-in: the account's earlier failures stay
        slot.release();
    } else {
        count_failure(svc, slot, Some((user.id, Event::SignInFailed, "wrong password at a confirmation")), client).await?;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::testing::{self, Harness};

    async fn step(h: &Harness, door: Door, login: &str, password: &str) -> Outcome {
        password_step(&h.svc, door, login, SecretString::from(password.to_string()), &testing::client(), testing::IP).await.unwrap()
    }

    #[actix_web::test]
    async fn a_right_password_without_2fa_is_granted_at_every_door_and_signs_in_at_web_and_api_only() {
        let h = Harness::new();
        let alice = h.user("alice");
        for door in [Door::Web, Door::Api, Door::Registry] {
            assert!(matches!(step(&h, door, "alice", testing::PASSWORD).await, Outcome::Granted(u) if u.id == alice.id), "{door:?}");
        }
        assert_eq!(h.events(alice.id), [("signed_in".to_string(), "password".to_string()), ("signed_in".into(), "JSON API, password".into())]);
    }

    #[actix_web::test]
    async fn with_2fa_the_password_asks_for_a_code_at_web_and_api_and_for_a_token_at_the_registry() {
        let h = Harness::new();
        let alice = h.user("alice");
        h.enable_2fa(&alice);
        for door in [Door::Web, Door::Api] {
            assert!(matches!(step(&h, door, "alice", testing::PASSWORD).await, Outcome::NeedsSecondFactor(u) if u.id == alice.id), "{door:?}");
        }
        assert!(matches!(step(&h, Door::Registry, "alice", testing::PASSWORD).await, Outcome::UseAToken));
        assert!(h.events(alice.id).is_empty(), "a first step is no sign-in: {:?}", h.events(alice.id));
        // a wrong password is still only refused, 2FA or not
        assert!(matches!(step(&h, Door::Registry, "alice", "not the password").await, Outcome::Refused));
    }

    #[actix_web::test]
    async fn a_wrong_password_is_refused_with_one_failure_event_at_every_door() {
        let h = Harness::new();
        let alice = h.user("alice");
        for door in [Door::Web, Door::Api, Door::Registry] {
            let before = h.events(alice.id).len();
            assert!(matches!(step(&h, door, "alice", "not the password").await, Outcome::Refused), "{door:?}");
            assert_eq!(h.events(alice.id)[before..], [("sign_in_failed".to_string(), "wrong password".to_string())], "{door:?}");
        }
        // an unknown user is refused the same way, and has no log to write to
        assert!(matches!(step(&h, Door::Web, "nobody", "not the password").await, Outcome::Refused));
    }

    #[actix_web::test]
    async fn the_sixth_failure_is_throttled_at_every_door_even_with_the_right_password() {
        let h = Harness::new();
        let alice = h.user("alice");
        for _ in 0..5 {
            assert!(matches!(step(&h, Door::Api, "alice", "not the password").await, Outcome::Refused));
        }
        for door in [Door::Web, Door::Api, Door::Registry] {
            assert!(matches!(step(&h, door, "alice", testing::PASSWORD).await, Outcome::Throttled(wait) if wait > 0 && wait <= 900), "{door:?}");
        }
        let kinds: Vec<String> = h.events(alice.id).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "throttled").count(), 1, "the lock is logged once: {kinds:?}");
        assert!(!kinds.contains(&"signed_in".to_string()));
    }
}
