//! Checking a password at any front door (web login, JSON API, registry `/token`), with the
//! shared throttle, the dummy hash for unknown users, and the activity log.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::{self, User};
use crate::activity::{self, Client, Event};
use crate::signin::Service;
use crate::signin::cache::Fingerprint;
use crate::throttle::{AccountKey, Reservation};

#[derive(Debug, Clone)]
pub enum PasswordCheck {
    /// The password is right and the account enabled. Without 2FA the account's failures are
    /// cleared; with 2FA on this is only the first step, the caller asks for a code, and the
    /// failures stay until the code is right.
    Valid(User),
    /// Unknown user, wrong password or disabled account: one answer for all three.
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

/// Verifies `password` for `login` (a username or an email address) with argon2, every time.
pub async fn check_password(app: &Service, login: &str, password: SecretString, client: &Client, ip: IpAddr) -> Result<PasswordCheck, Error> {
    verify_login(app, login, password, client, ip, false).await
}

/// For the registry's `/token` only: as `check_password`, but a pair verified in the last
/// five minutes is recalled from the password cache instead of running argon2 again.
pub async fn check_password_remembered(app: &Service, login: &str, password: SecretString, client: &Client, ip: IpAddr) -> Result<PasswordCheck, Error> {
    verify_login(app, login, password, client, ip, true).await
}

async fn verify_login(app: &Service, login: &str, password: SecretString, client: &Client, ip: IpAddr, may_remember: bool) -> Result<PasswordCheck, Error> {
    let login_owned = login.to_string();
    let user = app.db.run(move |c| accounts::find_by_login(c, &login_owned)).await?;
    let key = account_key(user.as_ref(), login);
    // Only enabled accounts without 2FA, for which the password alone is a credential, are
    // remembered; the fingerprint binds the row's hash and stamp read just above.
    let cache = &app.password_cache;
    let fingerprint = user.as_ref().filter(|u| may_remember && !u.is_disabled && !u.has_second_factor()).map(|u| cache.fingerprint(u, &password));
    if let (Some(fp), Some(u)) = (&fingerprint, &user)
        && cache.recalls(fp)
    {
        // nothing to verify, so no slot to take; but a locked account or IP still waits
        if let Err(wait) = app.throttle.check(&key, ip) {
            return Ok(PasswordCheck::Throttled(wait));
        }
        app.throttle.record_success(&key);
        return Ok(PasswordCheck::Valid(u.clone()));
    }
    // The flight is named by the account as read (its id, hash and stamp, or the unknown
    // name) and the password: only truly identical attempts share a verdict.
    let flight = match &user {
        Some(u) => app.password_flights.key(&[&u.id.to_be_bytes(), u.password_hash.as_bytes(), u.security_stamp.as_bytes(), password.expose_secret().as_bytes()]),
        None => app.password_flights.key(&[b"unknown", login.trim().to_lowercase().as_bytes(), password.expose_secret().as_bytes()]),
    };
    app.password_flights.run(flight, || verify_once(app, key, user, password, fingerprint, client, ip)).await
}

/// One verification, behind a throttle slot taken first.
async fn verify_once(
    app: &Service,
    key: AccountKey,
    user: Option<User>,
    password: SecretString,
    fingerprint: Option<Fingerprint>,
    client: &Client,
    ip: IpAddr,
) -> Result<PasswordCheck, Error> {
    let slot = match app.throttle.reserve(&key, ip) {
        Ok(slot) => slot,
        Err(wait) => return Ok(PasswordCheck::Throttled(wait)),
    };
    let matches = app.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(u) if matches && !u.is_disabled => {
            if let Some(fp) = fingerprint {
                app.password_cache.remember(fp, u.id);
            }
            if u.has_second_factor() {
                // the code step is counted on its own
                slot.release();
            } else {
                slot.succeeded();
            }
            Ok(PasswordCheck::Valid(u))
        }
        other => {
            let logged = other.as_ref().map(|u| (u.id, Event::SignInFailed, if u.is_disabled { "account disabled" } else { "wrong password" }));
            count_failure(app, slot, logged, client).await?;
            Ok(PasswordCheck::Invalid)
        }
    }
}

/// Counts a failed password, code, recovery code or token: keeps its throttle slot as a
/// failure, logs it (when `logged` names the account and event), and logs the lock it
/// starts, once per lock: a throttled attacker's further attempts write nothing.
pub async fn count_failure(app: &Service, slot: Reservation<'_>, logged: Option<(i32, Event, &str)>, client: &Client) -> Result<(), Error> {
    let lock = slot.failed();
    if let Some((user_id, event, detail)) = logged {
        record(app, user_id, event, detail, client).await?;
        if let Some(seconds) = lock {
            let detail = format!("sign-in paused for {} after repeated failures", crate::text::duration(seconds));
            record(app, user_id, Event::Throttled, &detail, client).await?;
        }
    }
    Ok(())
}

/// Re-checks the password of a signed-in user before a sensitive change (2FA, password,
/// email). Failures count in the same throttle as logins.
pub async fn confirm_password(app: &Service, user: &User, password: SecretString, client: &Client, ip: IpAddr) -> Result<bool, Error> {
    let slot = app.throttle.reserve(&AccountKey::User(user.id), ip).map_err(|wait| Error::Throttled { retry_after: wait })?;
    let ok = app.hasher.verify(password, Some(user.password_hash.clone())).await?;
    if ok {
        // a confirmation is no sign-in: the account's earlier failures stay
        slot.release();
    } else {
        count_failure(app, slot, Some((user.id, Event::SignInFailed, "wrong password at a confirmation")), client).await?;
    }
    Ok(ok)
}

pub async fn record(app: &Service, user_id: i32, event: Event, detail: &str, client: &Client) -> Result<(), Error> {
    let (detail, client, now) = (detail.to_string(), client.clone(), app.now());
    app.db.run(move |c| activity::record(c, user_id, event, &detail, &client, now)).await
}
