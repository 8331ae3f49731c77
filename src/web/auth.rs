//! Sign-up, sign-in (password, then the second factor when 2FA is on) and sign-out.

use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::Error;
use crate::accounts::{self, NewAccount, Plan};
use crate::activity::Event;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::signin::password::{PasswordCheck, check_password, count_failure, record};
use crate::throttle::AccountKey;
use crate::twofactor::{self, SecondFactor};
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::safe_next;
use crate::web::middleware::html;
use crate::web::pages::FieldErrors;
use crate::web::redirect;
use crate::web::session::{PendingSignIn, WebSession};

#[derive(Template)]
#[template(path = "auth/signup.html")]
struct SignupPage {
    chrome: Chrome,
    closed: bool,
    username: String,
    email: String,
    errors: FieldErrors,
}

pub async fn signup_form(app: web::Data<AppState>, session: WebSession) -> Result<HttpResponse, PageError> {
    if session.user_id().is_some() {
        return Ok(redirect("/"));
    }
    let page = SignupPage {
        chrome: Chrome::anonymous("Sign up", &session)?,
        closed: !app.settings.signup_open,
        username: String::new(),
        email: String::new(),
        errors: FieldErrors::default(),
    };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupForm {
    username: String,
    email: String,
    password: SecretString,
}

pub async fn signup(app: web::Data<AppState>, session: WebSession, info: ClientInfo, CsrfForm(form): CsrfForm<SignupForm>) -> Result<HttpResponse, PageError> {
    if !app.settings.signup_open {
        return Err(PageError::from(Error::denied("Sign-up is closed on this Berth. Ask an operator for an account.")));
    }
    let mut errors = FieldErrors::default();
    let username = accounts::normalize_username(&form.username).and_then(|u| accounts::check_not_reserved(&u).map(|()| u)).map_err(|e| errors.add("username", e)).ok();
    let email = accounts::normalize_email(&form.email).map_err(|e| errors.add("email", e)).ok();
    if let Err(e) = accounts::password::check_policy(form.password.expose_secret(), username.as_deref().unwrap_or("")) {
        errors.add("password", e);
    }
    if let (true, Some(username), Some((email, email_normalized))) = (errors.is_empty(), username, email) {
        let password_hash = app.signin.hasher.hash(form.password).await?;
        let (now, client) = (app.now(), info.client.clone());
        let new = NewAccount { username, email, email_normalized, password_hash, plan: Plan::Personal, operator: false };
        let created = app
            .db(move |c| match accounts::create(c, new, now) {
                Ok(user) => {
                    crate::activity::record(c, user.id, Event::SignedIn, "account created", &client, now)?;
                    Ok(user)
                }
                Err(e) => Err(e),
            })
            .await;
        match created {
            Ok(user) => {
                session.sign_in(user.id, &info.client)?;
                session.flash("success", format!("Welcome to Berth, {}. Turn on two-factor authentication next.", user.username))?;
                return Ok(redirect("/settings/security"));
            }
            Err(taken @ Error::Taken(field)) => errors.add(field, taken.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    let page = SignupPage {
        chrome: Chrome::anonymous("Sign up", &session)?,
        closed: false,
        username: form.username.chars().take(100).collect(),
        email: form.email.chars().take(254).collect(),
        errors,
    };
    Ok(HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(page.render()?))
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    chrome: Chrome,
    login: String,
    next: String,
    error: Option<String>,
    signup_open: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(app: web::Data<AppState>, session: WebSession, query: web::Query<NextQuery>) -> Result<HttpResponse, PageError> {
    let next = safe_next(query.next.as_deref());
    if session.user_id().is_some() {
        return Ok(redirect(&next));
    }
    let page = LoginPage { chrome: Chrome::anonymous("Sign in", &session)?, login: String::new(), next, error: None, signup_open: app.settings.signup_open };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    login: String,
    password: SecretString,
    next: Option<String>,
}

pub const INCORRECT: &str = "Incorrect username or password.";

pub async fn login(app: web::Data<AppState>, session: WebSession, info: ClientInfo, CsrfForm(form): CsrfForm<LoginForm>) -> Result<HttpResponse, PageError> {
    let next = safe_next(form.next.as_deref());
    let login = form.login.trim().chars().take(254).collect::<String>();
    let (status, error) = match check_password(&app.signin, &login, form.password, &info.client, info.ip).await? {
        PasswordCheck::Valid(user) if user.has_second_factor() => {
            session.begin_second_step(&user, app.now(), &next)?;
            return Ok(redirect("/login/2fa"));
        }
        PasswordCheck::Valid(user) => {
            record(&app.signin, user.id, Event::SignedIn, "password", &info.client).await?;
            session.sign_in(user.id, &info.client)?;
            return Ok(redirect(&next));
        }
        PasswordCheck::Invalid => (actix_web::http::StatusCode::UNAUTHORIZED, INCORRECT.to_string()),
        PasswordCheck::Throttled(wait) => {
            let page = LoginPage {
                chrome: Chrome::anonymous("Sign in", &session)?,
                login,
                next,
                error: Some(format!("Too many failed attempts. Try again in {}.", crate::web::fmt::duration(wait))),
                signup_open: app.settings.signup_open,
            };
            return Ok(HttpResponse::TooManyRequests().insert_header(("Retry-After", wait.to_string())).content_type("text/html; charset=utf-8").body(page.render()?));
        }
    };
    let page = LoginPage { chrome: Chrome::anonymous("Sign in", &session)?, login, next, error: Some(error), signup_open: app.settings.signup_open };
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.render()?))
}

#[derive(Template)]
#[template(path = "auth/login_2fa.html")]
struct SecondStepPage {
    chrome: Chrome,
    error: Option<String>,
}

/// Back to the login form: the sign-in in progress (if any) is over.
fn start_again(session: &WebSession, why: &str) -> Result<HttpResponse, PageError> {
    session.sign_out();
    session.flash("info", why)?;
    Ok(redirect("/login"))
}

const TOO_LONG: &str = "Your sign-in took too long. Please start again.";

pub async fn second_step_form(app: web::Data<AppState>, session: WebSession) -> Result<HttpResponse, PageError> {
    if session.pending_second_step(app.now()).is_none() {
        return start_again(&session, TOO_LONG);
    }
    let page = SecondStepPage { chrome: Chrome::anonymous("Two-factor authentication", &session)?, error: None };
    Ok(html(page.render()?))
}

enum SecondStep {
    Accepted(Box<accounts::User>, SecondFactor),
    Refused,
    /// The account's security stamp changed since the password step.
    Outdated,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    code: SecretString,
}

pub async fn second_step(app: web::Data<AppState>, session: WebSession, info: ClientInfo, CsrfForm(form): CsrfForm<CodeForm>) -> Result<HttpResponse, PageError> {
    let Some(PendingSignIn { user_id: uid, stamp, next }) = session.pending_second_step(app.now()) else {
        return start_again(&session, TOO_LONG);
    };
    // Wrong codes count per account, across sessions: after the threshold even the right
    // code waits (a fresh session per guess gains nothing).
    let slot = app.signin.throttle.reserve(&AccountKey::User(uid), info.ip).map_err(|wait| PageError::from(Error::Throttled { retry_after: wait }))?;
    let (keys, now) = (app.keys.clone(), app.now());
    let code = twofactor::normalize_code(form.code.expose_secret());
    let verdict = app
        .db(move |c| {
            // one write transaction: the stamp cannot change between its check and the code
            crate::db::write_tx(c, |c| {
                let Some(user) = accounts::find_by_id(c, uid)?.filter(|u| !u.is_disabled) else {
                    return Ok(SecondStep::Refused);
                };
                // a password change, 2FA change or disabling since the password step ends it
                if user.security_stamp != stamp {
                    return Ok(SecondStep::Outdated);
                }
                Ok::<_, Error>(match twofactor::verify_second_factor(c, &keys, &user, &code, now)? {
                    Some(factor) => SecondStep::Accepted(Box::new(user), factor),
                    None => SecondStep::Refused,
                })
            })
        })
        .await?;
    match verdict {
        SecondStep::Outdated => {
            slot.release();
            start_again(&session, "Your account's password or security settings changed. Please sign in again.")
        }
        SecondStep::Accepted(user, factor) => {
            slot.succeeded();
            if factor == SecondFactor::RecoveryCode {
                record(&app.signin, user.id, Event::RecoveryCodeUsed, "", &info.client).await?;
            }
            let how = if factor == SecondFactor::Totp { "password and authenticator code" } else { "password and recovery code" };
            record(&app.signin, user.id, Event::SignedIn, how, &info.client).await?;
            session.sign_in(user.id, &info.client)?;
            if factor == SecondFactor::RecoveryCode {
                session.flash("info", "You used a recovery code. Each works once: regenerate them on the Security page when few are left.")?;
            }
            Ok(redirect(&next))
        }
        SecondStep::Refused => {
            count_failure(&app.signin, slot, Some((uid, Event::TwoFactorFailed, "at sign-in")), &info.client).await?;
            let page = SecondStepPage {
                chrome: Chrome::anonymous("Two-factor authentication", &session)?,
                error: Some("That code is not valid. Try the current code, or a recovery code.".into()),
            };
            Ok(HttpResponse::Unauthorized().content_type("text/html; charset=utf-8").body(page.render()?))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyForm {}

pub async fn logout(app: web::Data<AppState>, session: WebSession, info: ClientInfo, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    if let Some(uid) = session.user_id() {
        record(&app.signin, uid, Event::SignedOut, "", &info.client).await?;
    }
    session.sign_out();
    session.flash("success", "You have been signed out.")?;
    Ok(redirect("/login"))
}
