//! Checking a password at any front door (web login, JSON API, registry `/token`), with the
//! shared throttle, the dummy hash for unknown users, and the activity log.

use std::net::IpAddr;

use secrecy::SecretString;

use crate::AppError;
use crate::accounts::{self, User};
use crate::activity::{self, Client, Event};
use crate::server::AppState;
use crate::throttle::AccountKey;

#[derive(Debug)]
pub enum PasswordCheck {
    /// The password is right and the account enabled. With 2FA on this is only the first
    /// step: the caller asks for a code and must not call `Throttle::record_success` yet.
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
pub async fn check_password(app: &AppState, login: &str, password: SecretString, client: &Client, ip: IpAddr) -> Result<PasswordCheck, AppError> {
    verify_login(app, login, password, client, ip, false).await
}

/// For the registry's `/token` only: as `check_password`, but a pair verified in the last
/// five minutes is recalled from `app.password_cache` instead of running argon2 again.
pub async fn check_password_remembered(app: &AppState, login: &str, password: SecretString, client: &Client, ip: IpAddr) -> Result<PasswordCheck, AppError> {
    verify_login(app, login, password, client, ip, true).await
}

async fn verify_login(app: &AppState, login: &str, password: SecretString, client: &Client, ip: IpAddr, may_remember: bool) -> Result<PasswordCheck, AppError> {
    let login_owned = login.to_string();
    let user = app.db(move |c| accounts::find_by_login(c, &login_owned)).await?;
    let key = account_key(user.as_ref(), login);
    if let Err(wait) = app.throttle.check(&key, ip) {
        return Ok(PasswordCheck::Throttled(wait));
    }
    // Only enabled accounts without 2FA, for which the password alone is a credential, are
    // remembered; the fingerprint binds the row's hash and stamp read just above.
    let cache = &app.password_cache;
    let fingerprint = user.as_ref().filter(|u| may_remember && !u.is_disabled && !u.totp_enabled).map(|u| cache.fingerprint(u, &password));
    let matches = match fingerprint {
        Some(fp) if cache.recalls(&fp) => true,
        _ => {
            let matches = app.hasher.verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
            if let (true, Some(fp), Some(u)) = (matches, fingerprint, &user) {
                cache.remember(fp, u.id);
            }
            matches
        }
    };
    match user {
        Some(u) if matches && !u.is_disabled => Ok(PasswordCheck::Valid(u)),
        other => {
            let logged = other.as_ref().map(|u| (u.id, Event::SignInFailed, if u.is_disabled { "account disabled" } else { "wrong password" }));
            count_failure(app, &key, ip, logged, client).await?;
            Ok(PasswordCheck::Invalid)
        }
    }
}

/// Counts a failed password, code or recovery code in the shared throttle, logs it (when
/// `logged` names the account and event), and logs the lock it starts, once per lock: a
/// throttled attacker's further attempts write nothing.
pub async fn count_failure(app: &AppState, key: &AccountKey, ip: IpAddr, logged: Option<(i32, Event, &str)>, client: &Client) -> Result<(), AppError> {
    let lock = app.throttle.record_failure(key, ip);
    if let Some((user_id, event, detail)) = logged {
        record(app, user_id, event, detail, client).await?;
        if let Some(seconds) = lock {
            let detail = format!("sign-in paused for {} after repeated failures", crate::web::fmt::duration(seconds));
            record(app, user_id, Event::Throttled, &detail, client).await?;
        }
    }
    Ok(())
}

/// Re-checks the password of a signed-in user before a sensitive change (2FA, password,
/// email). Failures count in the same throttle as logins.
pub async fn confirm_password(app: &AppState, user: &User, password: SecretString, client: &Client, ip: IpAddr) -> Result<bool, AppError> {
    let key = AccountKey::User(user.id);
    if let Err(wait) = app.throttle.check(&key, ip) {
        return Err(AppError::TooManyRequests { retry_after: wait });
    }
    let ok = app.hasher.verify(password, Some(user.password_hash.clone())).await?;
    if !ok {
        count_failure(app, &key, ip, Some((user.id, Event::SignInFailed, "wrong password at a confirmation")), client).await?;
    }
    Ok(ok)
}

pub async fn record(app: &AppState, user_id: i32, event: Event, detail: &str, client: &Client) -> Result<(), AppError> {
    let (detail, client, now) = (detail.to_string(), client.clone(), app.now());
    app.db(move |c| activity::record(c, user_id, event, &detail, &client, now)).await
}
