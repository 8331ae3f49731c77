//! `POST /v2/users/login`, `POST /v2/users/2fa-login`, `POST /v2/auth/token`: the password
//! or a PAT buys a 10-minute JWT; with 2FA on, the password buys only a single-use
//! `login_2fa_token` that a code or a recovery code completes.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::jwt::{self, Claims, Method};
use super::{ApiError, ApiJson};
use crate::Error;
use crate::accounts::User;
use crate::activity::Event;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::signin::challenges;
use crate::signin::password::{PasswordCheck, check_password, count_failure, record};
use crate::throttle::AccountKey;
use crate::tokens::{self, PlainToken};

pub const INCORRECT: &str = "Incorrect authentication credentials";
pub const SECOND_FACTOR: &str = "Require secondary authentication on MFA enabled account";

pub fn issue(app: &AppState, user: &User, amr: Method, token: Option<(String, String)>) -> String {
    let now = app.now();
    let (tid, scope) = token.map(|(t, s)| (Some(t), Some(s))).unwrap_or((None, None));
    let claims = Claims {
        iss: app.settings.issuer.clone(),
        aud: jwt::AUDIENCE.into(),
        sub: user.username.clone(),
        uid: user.id,
        iat: now,
        exp: now + jwt::LIFETIME,
        jti: crate::keys::random_token(16),
        amr,
        stamp: user.security_stamp.clone(),
        tid,
        scope,
    };
    jwt::sign(&app.keys.api_jwt, &claims)
}

enum Outcome {
    Jwt(String),
    SecondStep(String),
}

fn incorrect() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, INCORRECT)
}

/// The password or a PAT for `identifier` (username or email; a PAT needs the username).
async fn sign_in(app: &AppState, identifier: &str, secret: SecretString, info: &ClientInfo) -> Result<Outcome, ApiError> {
    if PlainToken::looks_like_token(secret.expose_secret()) {
        let (login, now, ip, ua) = (identifier.to_string(), app.now(), info.client.ip.clone(), info.client.user_agent.clone());
        let found = app
            .db(move |c| {
                let Some(auth) = tokens::authenticate(c, now, &login, secret.expose_secret(), &ip, &ua)? else { return Ok(None) };
                Ok(crate::accounts::find_by_id(c, auth.user_id)?.map(|u| (u, auth)))
            })
            .await?;
        return match found {
            Some((user, auth)) => Ok(Outcome::Jwt(issue(app, &user, Method::PersonalAccessToken, Some((auth.token_uuid, auth.scope.as_str().to_string()))))),
            // a valid token is never refused by the client IP's failures; a wrong one counts
            // against the IP, and waits while the IP is locked
            None => {
                let slot = app.signin.throttle.reserve_ip(info.ip).map_err(ApiError::TooManyRequests)?;
                count_failure(&app.signin, slot, None, &info.client).await?;
                Err(incorrect())
            }
        };
    }
    match check_password(&app.signin, identifier, secret, &info.client, info.ip).await? {
        PasswordCheck::Valid(user) if user.has_second_factor() => {
            let now = app.now();
            let token = app.db(move |c| challenges::open(c, &user, now)).await?;
            Ok(Outcome::SecondStep(token))
        }
        PasswordCheck::Valid(user) => {
            record(&app.signin, user.id, Event::SignedIn, "JSON API, password", &info.client).await?;
            Ok(Outcome::Jwt(issue(app, &user, Method::Password, None)))
        }
        PasswordCheck::Invalid => Err(incorrect()),
        PasswordCheck::Throttled(wait) => Err(ApiError::TooManyRequests(wait)),
    }
}

fn second_step_answer(token: String) -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({ "detail": SECOND_FACTOR, "login_2fa_token": token }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    username: String,
    password: SecretString,
}

pub async fn login(app: web::Data<AppState>, info: ClientInfo, ApiJson(body): ApiJson<LoginBody>) -> Result<HttpResponse, ApiError> {
    match sign_in(&app, &body.username, body.password, &info).await? {
        Outcome::Jwt(token) => Ok(HttpResponse::Ok().json(json!({ "token": token }))),
        Outcome::SecondStep(t) => Ok(second_step_answer(t)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthTokenBody {
    identifier: String,
    secret: SecretString,
}

pub async fn auth_token(app: web::Data<AppState>, info: ClientInfo, ApiJson(body): ApiJson<AuthTokenBody>) -> Result<HttpResponse, ApiError> {
    match sign_in(&app, &body.identifier, body.secret, &info).await? {
        Outcome::Jwt(token) => Ok(HttpResponse::Ok().json(json!({ "access_token": token }))),
        Outcome::SecondStep(t) => Ok(second_step_answer(t)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorBody {
    login_2fa_token: SecretString,
    code: SecretString,
}

fn not_valid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "The login_2fa_token is not valid (used, expired, unknown, or the account changed since).")
}

enum Completion {
    Accepted(Box<User>, crate::twofactor::SecondFactor),
    Refused,
    /// The user's security stamp changed since the password step: the challenge is gone.
    Outdated,
}

/// Completes a 2FA login. The challenge is spent only by a right code (one DELETE decides,
/// so two parallel completions cannot both win); wrong codes count in the account's throttle.
pub async fn second_factor(app: web::Data<AppState>, info: ClientInfo, ApiJson(body): ApiJson<SecondFactorBody>) -> Result<HttpResponse, ApiError> {
    let now = app.now();
    let presented = body.login_2fa_token;
    let Some(challenge) = app.db(move |c| challenges::find(c, presented.expose_secret(), now)).await? else {
        return Err(not_valid());
    };
    let uid = challenge.user_id;
    let slot = app.signin.throttle.reserve(&AccountKey::User(uid), info.ip).map_err(ApiError::TooManyRequests)?;
    let (keys, code) = (app.keys.clone(), crate::twofactor::normalize_code(body.code.expose_secret()));
    let verdict = app
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                let Some(user) = crate::accounts::find_by_id(c, uid)?.filter(|u| !u.is_disabled) else {
                    return Ok(Completion::Refused);
                };
                // A password change, 2FA change or disabling since the password step ends
                // the challenge; checked here, at completion, so no stamp-changing path can
                // forget it.
                if user.security_stamp != challenge.stamp {
                    challenges::spend(c, &challenge)?;
                    return Ok(Completion::Outdated);
                }
                let Some(factor) = crate::twofactor::verify_second_factor(c, &keys, &user, &code, now)? else {
                    return Ok(Completion::Refused);
                };
                let spent = challenges::spend(c, &challenge)?;
                Ok::<_, Error>(if spent { Completion::Accepted(Box::new(user), factor) } else { Completion::Refused })
            })
        })
        .await?;
    let (user, factor) = match verdict {
        Completion::Accepted(user, factor) => (user, factor),
        Completion::Outdated => {
            slot.release();
            return Err(not_valid());
        }
        Completion::Refused => {
            count_failure(&app.signin, slot, Some((uid, Event::TwoFactorFailed, "JSON API sign-in")), &info.client).await?;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "The code is not valid."));
        }
    };
    slot.succeeded();
    if factor == crate::twofactor::SecondFactor::RecoveryCode {
        record(&app.signin, user.id, Event::RecoveryCodeUsed, "JSON API", &info.client).await?;
    }
    record(&app.signin, user.id, Event::SignedIn, "JSON API, password and second factor", &info.client).await?;
    Ok(HttpResponse::Ok().json(json!({ "token": issue(&app, &user, Method::PasswordAndSecondFactor, None) })))
}
