//! `POST /v2/users/login`, `POST /v2/users/2fa-login`, `POST /v2/auth/token`: the password
//! or a PAT buys a 10-minute JWT; with 2FA on, the password buys only a single-use
//! `login_2fa_token` that a code or a recovery code completes. An organization access
//! token, presented with its organization's name, buys a JWT of the organization's.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::jwt::{self, Claims, Method};
use super::{ApiError, ApiJson};
use crate::accounts::User;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::org_tokens::OrgAuthenticated;
use crate::signin::{Begun, Door, Outcome as Step, SecondOutcome, TokenOutcome, challenges, org_token_step, password_step, second_factor_step, token_step};
use crate::tokens::{PlainToken, TokenKind};

pub const INCORRECT: &str = "Incorrect authentication credentials";
pub const SECOND_FACTOR: &str = "Require secondary authentication on MFA enabled account";

pub fn issue(app: &AppState, user: &User, amr: Method, token: Option<(String, String)>) -> String {
    let (tid, scope) = token.map(|(t, s)| (Some(t), Some(s))).unwrap_or((None, None));
    sign(app, user.username.clone(), user.id, user.security_stamp.clone(), amr, tid, scope)
}

/// The JWT of an organization access token: it speaks for the organization, of no user
/// (`uid` 0, which no user has), and names the token, which every request checks again.
pub fn issue_for_org_token(app: &AppState, auth: &OrgAuthenticated) -> String {
    sign(app, auth.org_name.clone(), 0, String::new(), Method::OrganizationAccessToken, Some(auth.token_uuid.clone()), None)
}

fn sign(app: &AppState, sub: String, uid: i32, stamp: String, amr: Method, tid: Option<String>, scope: Option<String>) -> String {
    let now = app.now();
    let claims = Claims {
        iss: app.settings.issuer.clone(),
        aud: jwt::AUDIENCE.into(),
        sub,
        uid,
        iat: now,
        exp: now + jwt::LIFETIME,
        jti: crate::keys::random_token(16),
        amr,
        stamp,
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

/// The password or a PAT for `identifier` (username or email; a PAT needs the username),
/// or an organization access token for the organization's name.
async fn sign_in(app: &AppState, identifier: &str, secret: SecretString, info: &ClientInfo) -> Result<Outcome, ApiError> {
    if TokenKind::of(secret.expose_secret()) == Some(TokenKind::Organization) {
        let found = org_token_step(&app.signin, Door::Api, identifier, secret.expose_secret(), &info.client, info.ip, |_, _, _| Ok(((), ()))).await?;
        return match found {
            TokenOutcome::Valid(auth, ()) => Ok(Outcome::Jwt(issue_for_org_token(app, &auth))),
            TokenOutcome::Refused(_) | TokenOutcome::NoMatch => Err(incorrect()),
        };
    }
    if PlainToken::looks_like_token(secret.expose_secret()) {
        let found =
            token_step(&app.signin, Door::Api, identifier, secret.expose_secret(), &info.client, info.ip, |c, auth, _| Ok((crate::accounts::find_by_id(c, auth.user_id)?, ())))
                .await?;
        return match found {
            TokenOutcome::Valid(auth, Some(user)) => Ok(Outcome::Jwt(issue(app, &user, Method::PersonalAccessToken, Some((auth.token_uuid, auth.scope.as_str().to_string()))))),
            // why a token is refused is told only at `/token`
            TokenOutcome::Valid(_, None) | TokenOutcome::Refused(_) | TokenOutcome::NoMatch => Err(incorrect()),
        };
    }
    match password_step(&app.signin, Door::Api, identifier, secret, &info.client, info.ip).await? {
        Step::NeedsSecondFactor(user) => {
            let now = app.now();
            let token = app.db(move |c| challenges::open(c, &user, now)).await?;
            Ok(Outcome::SecondStep(token))
        }
        Step::Granted(user) => Ok(Outcome::Jwt(issue(app, &user, Method::Password, None))),
        Step::Refused | Step::UseAToken => Err(incorrect()),
        Step::Throttled(wait) => Err(ApiError::TooManyRequests(wait)),
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

/// Completes a 2FA login. The challenge is spent only by a right code; wrong codes count in
/// the account's throttle (`signin::second_factor_step`).
pub async fn second_factor(app: web::Data<AppState>, info: ClientInfo, ApiJson(body): ApiJson<SecondFactorBody>) -> Result<HttpResponse, ApiError> {
    // No code is no guess: refused before the throttle counts a failure or the challenge is
    // read. Docker's Hub CLI sends an empty code when it logs in again by itself once its
    // JWT expires; a 2FA account must not pile up failed attempts from that.
    if crate::twofactor::normalize_code(body.code.expose_secret()).is_empty() {
        return Err(ApiError::bad_request("Send the 6-digit code from the authenticator app, or a recovery code."));
    }
    let now = app.now();
    let presented = body.login_2fa_token;
    let Some(challenge) = app.db(move |c| challenges::find(c, presented.expose_secret(), now)).await? else {
        return Err(not_valid());
    };
    match second_factor_step(&app.signin, Begun::Challenge(challenge), &body.code, &info.client, info.ip).await? {
        SecondOutcome::Granted { user, .. } => Ok(HttpResponse::Ok().json(json!({ "token": issue(&app, &user, Method::PasswordAndSecondFactor, None) }))),
        SecondOutcome::Outdated => Err(not_valid()),
        SecondOutcome::Refused => Err(ApiError::new(StatusCode::UNAUTHORIZED, "The code is not valid.")),
    }
}
