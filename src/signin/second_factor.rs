//! The second step of a 2FA sign-in, and the code a signed-in user enters to confirm a
//! change of their second factor. Both take a throttle slot of the account before the code
//! is checked: wrong codes count per account across sessions, and after the threshold
//! even the right code waits (a fresh session per guess gains nothing).

use std::net::IpAddr;

use crate::db::Conn;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::{self, User};
use crate::activity::{self, Client, Event};
use crate::signin::challenges::{self, Challenge};
use crate::signin::events::fail;
use crate::signin::{Door, Service};
use crate::throttle::{AccountKey, Reservation};
use crate::twofactor::{self, SecondFactor};

/// A sign-in whose password step passed, as the door kept it.
pub enum Begun {
    /// The web's pending session state: the account and its security stamp at the password step.
    InSession { user_id: i32, stamp: String },
    /// The JSON API's `login_2fa_token`, found unexpired; spent by the right code.
    Challenge(Challenge),
}

impl Begun {
    fn user_id(&self) -> i32 {
        match self {
            Begun::InSession { user_id, .. } => *user_id,
            Begun::Challenge(c) => c.user_id,
        }
    }

    fn stamp(&self) -> &str {
        match self {
            Begun::InSession { stamp, .. } => stamp,
            Begun::Challenge(c) => &c.stamp,
        }
    }

    fn door(&self) -> Door {
        match self {
            Begun::InSession { .. } => Door::Web,
            Begun::Challenge(_) => Door::Api,
        }
    }
}

/// What a second step ends in (a throttled one is `Err(Error::Throttled)`).
#[derive(Debug)]
pub enum SecondOutcome {
    /// The code was right: the account's failures are cleared and the events written.
    Granted { user: Box<User>, factor: SecondFactor },
    /// A wrong code, a disabled account, or a challenge another completion spent first.
    Refused,
    /// The account's security stamp changed since the password step (password, 2FA or
    /// disabling): this sign-in is over, its challenge spent.
    Outdated,
}

/// The words of each door's events: (signed in with an authenticator code, signed in with
/// a recovery code, recovery code used, code refused).
fn details(door: Door) -> (&'static str, &'static str, &'static str, &'static str) {
    match door {
        Door::Web => ("password and authenticator code", "password and recovery code", "", "at sign-in"),
        Door::Api | Door::Registry => ("JSON API, password and second factor", "JSON API, password and second factor", "JSON API", "JSON API sign-in"),
    }
}

enum Decided {
    Granted(Box<User>, SecondFactor, Reservation),
    Refused,
    Outdated(Reservation),
}

/// Completes a sign-in begun by its password step with `code`. One write transaction
/// decides: the stamp still the one seen at the password step, the code (`twofactor::
/// verify_second_factor`), the challenge spent (one DELETE, so two parallel completions
/// cannot both win), and the events.
pub async fn second_factor_step(svc: &Service, begun: Begun, code: &SecretString, client: &Client, ip: IpAddr) -> Result<SecondOutcome, Error> {
    let uid = begun.user_id();
    let slot = svc.throttle.reserve(&AccountKey::User(uid), ip).await.map_err(|wait| Error::Throttled { retry_after: wait })?;
    let (keys, code, client, now) = (svc.keys.clone(), twofactor::normalize_code(code.expose_secret()), client.clone(), svc.now());
    let (totp_detail, recovery_detail, used_detail, refused_detail) = details(begun.door());
    let decided = svc
        .db
        .run(move |c| {
            crate::db::write_tx(c, |c| {
                let Some(user) = accounts::find_by_id(c, uid)?.filter(|u| !u.is_disabled) else {
                    fail(c, slot, Some((uid, Event::TwoFactorFailed, refused_detail)), &client, now)?;
                    return Ok(Decided::Refused);
                };
                // A password change, 2FA change or disabling since the password step ends
                // the sign-in; checked here, at completion, so no stamp-changing path can
                // forget it.
                if user.security_stamp != begun.stamp() {
                    if let Begun::Challenge(challenge) = &begun {
                        challenges::spend(c, challenge)?;
                    }
                    return Ok(Decided::Outdated(slot));
                }
                let factor = match twofactor::verify_second_factor(c, &keys, &user, &code, now)? {
                    Some(factor) => factor,
                    None => {
                        fail(c, slot, Some((uid, Event::TwoFactorFailed, refused_detail)), &client, now)?;
                        return Ok(Decided::Refused);
                    }
                };
                if let Begun::Challenge(challenge) = &begun
                    && !challenges::spend(c, challenge)?
                {
                    fail(c, slot, Some((uid, Event::TwoFactorFailed, refused_detail)), &client, now)?;
                    return Ok(Decided::Refused);
                }
                if factor == SecondFactor::RecoveryCode {
                    activity::record(c, uid, Event::RecoveryCodeUsed, used_detail, &client, now)?;
                }
                let how = if factor == SecondFactor::Totp { totp_detail } else { recovery_detail };
                activity::record(c, uid, Event::SignedIn, how, &client, now)?;
                Ok::<_, Error>(Decided::Granted(Box::new(user), factor, slot))
            })
        })
        .await?;
    Ok(match decided {
        Decided::Granted(user, factor, slot) => {
            // settled once the transaction has committed
            slot.succeeded().await?;
            SecondOutcome::Granted { user, factor }
        }
        Decided::Outdated(slot) => {
            slot.release();
            SecondOutcome::Outdated
        }
        Decided::Refused => SecondOutcome::Refused,
    })
}

/// Checks the code of a signed-in user confirming a change of their second factor, and
/// runs `then` in the same write transaction when it is right. None: the code is wrong
/// (counted, and logged as `TwoFactorFailed` with `refused_detail`). A confirmation is no
/// sign-in: a right code leaves the account's earlier failures as they are.
pub async fn confirm_second_factor<T, F>(
    svc: &Service,
    user: &User,
    code: &SecretString,
    refused_detail: &'static str,
    client: &Client,
    ip: IpAddr,
    then: F,
) -> Result<Option<T>, Error>
where
    F: FnOnce(&mut Conn) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let slot = svc.throttle.reserve(&AccountKey::User(user.id), ip).await.map_err(|wait| Error::Throttled { retry_after: wait })?;
    let (keys, user, code, client, now) = (svc.keys.clone(), user.clone(), twofactor::normalize_code(code.expose_secret()), client.clone(), svc.now());
    svc.db
        .run(move |c| {
            crate::db::write_tx(c, |c| match twofactor::verify_second_factor(c, &keys, &user, &code, now)? {
                Some(_) => {
                    let done = then(c)?;
                    slot.release();
                    Ok(Some(done))
                }
                None => {
                    fail(c, slot, Some((user.id, Event::TwoFactorFailed, refused_detail)), &client, now)?;
                    Ok(None)
                }
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::testing::{self, Harness};

    fn code(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    async fn complete(h: &Harness, begun: Begun, typed: &str) -> Result<SecondOutcome, Error> {
        second_factor_step(&h.svc, begun, &code(typed), &testing::client(), testing::IP).await
    }

    fn in_session(user: &User) -> Begun {
        Begun::InSession { user_id: user.id, stamp: user.security_stamp.clone() }
    }

    #[actix_web::test]
    async fn a_right_code_signs_in_once_with_the_events_of_its_door() {
        let h = Harness::new();
        let alice = h.user("alice");
        let (secret, recovery) = h.enable_2fa(&alice);
        let alice = h.reload(&alice);
        let granted = complete(&h, in_session(&alice), &format!("  {}  ", h.code_now(&secret))).await.unwrap();
        assert!(matches!(granted, SecondOutcome::Granted { factor: SecondFactor::Totp, .. }), "{granted:?}");
        assert_eq!(h.events(alice.id), [("signed_in".to_string(), "password and authenticator code".to_string())]);

        let challenge = h.challenge(&alice);
        let granted = complete(&h, Begun::Challenge(challenge), &recovery[0]).await.unwrap();
        assert!(matches!(granted, SecondOutcome::Granted { factor: SecondFactor::RecoveryCode, .. }), "{granted:?}");
        assert_eq!(h.events(alice.id)[1..], [("recovery_code_used".to_string(), "JSON API".to_string()), ("signed_in".into(), "JSON API, password and second factor".into())]);
    }

    #[actix_web::test]
    async fn a_wrong_code_is_refused_with_one_failure_event_and_a_challenge_outlives_it() {
        let h = Harness::new();
        let alice = h.user("alice");
        let (secret, _) = h.enable_2fa(&alice);
        let alice = h.reload(&alice);
        assert!(matches!(complete(&h, in_session(&alice), "0000000").await.unwrap(), SecondOutcome::Refused));
        assert_eq!(h.events(alice.id), [("2fa_failed".to_string(), "at sign-in".to_string())]);
        let token = h.open_challenge(&alice);
        let found = || challenges::find(&mut h.conn(), &token, h.svc.now()).unwrap().unwrap();
        assert!(matches!(complete(&h, Begun::Challenge(found()), "0000000").await.unwrap(), SecondOutcome::Refused));
        assert_eq!(h.events(alice.id)[1..], [("2fa_failed".to_string(), "JSON API sign-in".to_string())]);
        // the challenge is spent only by the right code
        assert!(matches!(complete(&h, Begun::Challenge(found()), &h.code_now(&secret)).await.unwrap(), SecondOutcome::Granted { .. }));
        assert!(challenges::find(&mut h.conn(), &token, h.svc.now()).unwrap().is_none());
    }

    #[actix_web::test]
    async fn a_stamp_changed_since_the_password_step_ends_the_sign_in() {
        let h = Harness::new();
        let alice = h.user("alice");
        let (secret, _) = h.enable_2fa(&alice);
        let before = h.reload(&alice);
        let token = h.open_challenge(&before);
        let challenge = challenges::find(&mut h.conn(), &token, h.svc.now()).unwrap().unwrap();
        accounts::set_password(&mut h.conn(), alice.id, &crate::accounts::password::hash(&code("a new password 123")), None).unwrap();
        assert!(matches!(complete(&h, in_session(&before), &h.code_now(&secret)).await.unwrap(), SecondOutcome::Outdated));
        assert!(matches!(complete(&h, Begun::Challenge(challenge), &h.code_now(&secret)).await.unwrap(), SecondOutcome::Outdated));
        assert!(challenges::find(&mut h.conn(), &token, h.svc.now()).unwrap().is_none(), "an outdated challenge is spent");
        assert!(h.events(alice.id).is_empty());
    }

    #[actix_web::test]
    async fn after_five_wrong_codes_even_the_right_one_waits() {
        let h = Harness::new();
        let alice = h.user("alice");
        let (secret, _) = h.enable_2fa(&alice);
        let alice = h.reload(&alice);
        for _ in 0..5 {
            assert!(matches!(complete(&h, in_session(&alice), "0000000").await.unwrap(), SecondOutcome::Refused));
        }
        assert!(matches!(complete(&h, in_session(&alice), &h.code_now(&secret)).await, Err(Error::Throttled { .. })));
        let kinds: Vec<String> = h.events(alice.id).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["2fa_failed", "2fa_failed", "2fa_failed", "2fa_failed", "2fa_failed", "throttled"]);
    }

    #[actix_web::test]
    async fn a_confirmation_runs_its_change_only_with_the_right_code() {
        let h = Harness::new();
        let alice = h.user("alice");
        let (secret, _) = h.enable_2fa(&alice);
        let alice = h.reload(&alice);
        let confirm = |typed: String| {
            let alice = alice.clone();
            let svc = &h.svc;
            async move { confirm_second_factor(svc, &alice, &code(&typed), "disabling", &testing::client(), testing::IP, |_| Ok(7)).await.unwrap() }
        };
        assert_eq!(confirm("0000000".into()).await, None);
        assert_eq!(h.events(alice.id), [("2fa_failed".to_string(), "disabling".to_string())]);
        assert_eq!(confirm(format!(" {} ", h.code_now(&secret))).await, Some(7));
        assert_eq!(h.events(alice.id).len(), 1, "a confirmation writes no sign-in");
    }
}
