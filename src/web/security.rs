//! /settings/security: two-factor authentication — enrol (password, then QR and code, then
//! recovery codes shown once), regenerate recovery codes (password), disable (password and
//! a code).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::Error;
use crate::activity::Event;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::once::{self, Spent};
use crate::signin::events::{count_failure, record};
use crate::signin::{confirm_password, confirm_second_factor};
use crate::throttle::AccountKey;
use crate::twofactor;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::middleware::html;
use crate::web::redirect;

#[derive(Template)]
#[template(path = "settings/security.html")]
struct SecurityPage {
    chrome: Chrome,
    enabled: bool,
    remaining_codes: i64,
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let uid = who.user.id;
    let remaining_codes = if who.user.totp_enabled { app.db(move |c| twofactor::remaining_recovery_codes(c, uid)).await? } else { 0 };
    let page = SecurityPage { chrome: Chrome::signed_in("Security", "security", &who)?, enabled: who.user.totp_enabled, remaining_codes };
    Ok(html(page.render()?))
}

/// One page for the three password-guarded steps; `danger` marks the destructive one.
#[derive(Template)]
#[template(path = "settings/confirm_password.html")]
struct ConfirmPasswordPage {
    chrome: Chrome,
    heading: &'static str,
    explanation: &'static str,
    action: &'static str,
    button: &'static str,
    ask_code: bool,
    danger: bool,
    /// The one-time key of a form whose repeat would regenerate something.
    once: Option<String>,
    error: Option<String>,
}

fn enable_page(who: &SignedIn, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Enable two-factor authentication", "security", who)?,
        heading: "Enable two-factor authentication",
        explanation: "Confirm your password to start. Next you will scan a QR code with an authenticator app (such as Aegis, Google Authenticator or 1Password) and enter the code it shows.",
        action: "/settings/security/2fa/enable",
        button: "Continue",
        ask_code: false,
        danger: false,
        once: None,
        error,
    })
}

fn regenerate_page(who: &SignedIn, once: String, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Regenerate recovery codes", "security", who)?,
        heading: "Regenerate recovery codes",
        explanation: "Your current recovery codes will stop working at once and 10 new ones will be shown. Confirm your password to continue.",
        action: "/settings/security/2fa/recovery-codes",
        button: "Regenerate recovery codes",
        ask_code: false,
        danger: false,
        once: Some(once),
        error,
    })
}

fn disable_page(who: &SignedIn, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Disable two-factor authentication", "security", who)?,
        heading: "Disable two-factor authentication",
        explanation: "Your account will be protected by your password alone, and your recovery codes will be deleted. Your password will work again with the registry. Enter your password and a code from your authenticator app (or a recovery code).",
        action: "/settings/security/2fa/disable",
        button: "Disable two-factor authentication",
        ask_code: true,
        danger: true,
        once: None,
        error,
    })
}

fn unprocessable(body: String) -> HttpResponse {
    HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body)
}

const WRONG_PASSWORD: &str = "That is not your current password.";

pub async fn enable_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    if who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    Ok(html(enable_page(&who, None)?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    password: SecretString,
}

pub async fn enable(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<PasswordForm>) -> Result<HttpResponse, PageError> {
    if who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(unprocessable(enable_page(&who, Some(WRONG_PASSWORD.into()))?.render()?));
    }
    let (keys, user) = (app.keys.clone(), who.user.clone());
    app.db(move |c| twofactor::begin_enrolment(c, &keys, &user)).await?;
    who.session.start_enrolment(app.now())?;
    Ok(redirect("/settings/security/2fa/setup"))
}

#[derive(Template)]
#[template(path = "settings/setup_2fa.html")]
struct SetupPage {
    chrome: Chrome,
    secret: String,
    otpauth: String,
    error: Option<String>,
}

/// The pending secret of a user whose enrolment is open in this session.
fn pending_secret(app: &AppState, who: &SignedIn) -> Result<Option<twofactor::Enrolment>, PageError> {
    if who.user.totp_enabled || !who.session.enrolment_open(app.now()) {
        return Ok(None);
    }
    Ok(twofactor::pending_enrolment(&app.keys, &who.user)?)
}

fn render_setup(app: &AppState, who: &SignedIn, error: Option<String>) -> Result<Option<String>, PageError> {
    let Some(enrolment) = pending_secret(app, who)? else { return Ok(None) };
    let page =
        SetupPage { chrome: Chrome::signed_in("Set up two-factor authentication", "security", who)?, secret: enrolment.secret_base32, otpauth: enrolment.otpauth_url, error };
    Ok(Some(page.render()?))
}

pub async fn setup_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    match render_setup(&app, &who, None)? {
        Some(body) => Ok(html(body)),
        None => {
            if !who.user.totp_enabled {
                who.session.flash("info", "Confirm your password to start setting up two-factor authentication.")?;
            }
            Ok(redirect("/settings/security"))
        }
    }
}

/// The QR code, made by Berth, served only to this session while enrolment is open and
/// never stored by the browser.
pub async fn qr_png(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let enrolment = pending_secret(&app, &who)?.ok_or(Error::NotFound)?;
    Ok(HttpResponse::Ok().content_type("image/png").insert_header((header::CACHE_CONTROL, "no-store")).body(enrolment.qr_png))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeForm {
    code: SecretString,
}

#[derive(Template)]
#[template(path = "settings/recovery_codes.html")]
struct RecoveryCodesPage {
    chrome: Chrome,
    codes: Vec<String>,
    just_enabled: bool,
}

fn recovery_codes_response(page: RecoveryCodesPage) -> Result<HttpResponse, PageError> {
    // rendered in answer to the POST, never redirected to: the codes exist only in this answer
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?))
}

pub async fn confirm(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<CodeForm>) -> Result<HttpResponse, PageError> {
    if pending_secret(&app, &who)?.is_none() {
        return Ok(redirect("/settings/security"));
    }
    let slot = app.signin.throttle.reserve(&AccountKey::User(who.user.id), info.ip).map_err(|wait| PageError::from(Error::Throttled { retry_after: wait }))?;
    let (keys, user, now) = (app.keys.clone(), who.user.clone(), app.now());
    let code = crate::signin::normalise_code(form.code.expose_secret());
    let codes = app.db(move |c| twofactor::confirm_enrolment(c, &keys, &user, &code, now)).await?;
    let Some(codes) = codes else {
        count_failure(&app.signin, slot, Some((who.user.id, Event::TwoFactorFailed, "setting up two-factor authentication")), &info.client).await?;
        let body = render_setup(&app, &who, Some("That code is not valid. Check the time on your phone and enter the current code.".into()))?
            .ok_or_else(|| PageError::from(Error::invalid("Two-factor set-up is no longer open.")))?;
        return Ok(unprocessable(body));
    };
    slot.release();
    app.signin.password_cache.forget(who.user.id);
    who.session.end_enrolment();
    record(&app.signin, who.user.id, Event::TwoFactorEnabled, "", &info.client).await?;
    recovery_codes_response(RecoveryCodesPage { chrome: Chrome::signed_in("Recovery codes", "security", &who)?, codes, just_enabled: true })
}

pub async fn regenerate_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    if !who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    Ok(html(regenerate_page(&who, once::new_key(app.now()), None)?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateForm {
    password: SecretString,
    once: String,
}

pub async fn regenerate(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<RegenerateForm>) -> Result<HttpResponse, PageError> {
    if !who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    if once::made_at(&form.once).is_none() {
        return Err(PageError::from(Error::invalid("This form has no valid one-time key. Open the page again.")));
    }
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(unprocessable(regenerate_page(&who, form.once, Some(WRONG_PASSWORD.into()))?.render()?));
    }
    let (keys, uid, key, now) = (app.keys.clone(), who.user.id, form.once.clone(), app.now());
    // the key is spent with the new codes: a resubmission neither replaces nor shows codes
    let codes = app
        .db(move |c| {
            crate::db::write_tx(c, |c| match once::spend(c, uid, &key, now)? {
                Spent::First => twofactor::replace_recovery_codes(c, &keys, uid).map(Ok),
                refused => Ok(Err(refused)),
            })
        })
        .await?;
    let codes = match codes {
        Ok(codes) => codes,
        Err(Spent::Stale) => {
            let error = "This page was opened more than a day ago. Confirm your password again.".to_string();
            return Ok(unprocessable(regenerate_page(&who, once::new_key(now), Some(error))?.render()?));
        }
        Err(_) => {
            who.session.flash("info", "Those recovery codes were made already and are shown only once. To get new ones, regenerate them again.")?;
            return Ok(redirect("/settings/security"));
        }
    };
    record(&app.signin, uid, Event::RecoveryCodesRegenerated, "", &info.client).await?;
    recovery_codes_response(RecoveryCodesPage { chrome: Chrome::signed_in("Recovery codes", "security", &who)?, codes, just_enabled: false })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodesForm {
    #[serde(default)]
    code: Vec<String>,
}

/// "Download as .txt": the page posts back the codes it shows; nothing is kept server-side
/// to serve them again.
pub async fn download_codes(_who: SignedIn, CsrfForm(form): CsrfForm<CodesForm>) -> Result<HttpResponse, PageError> {
    let valid = |c: &String| c.len() == 14 && c.chars().all(|ch| ch == '-' || ch.is_ascii_lowercase() || ch.is_ascii_digit());
    if form.code.is_empty() || form.code.len() > twofactor::RECOVERY_CODES || !form.code.iter().all(valid) {
        return Err(PageError::from(Error::invalid("Those are not Berth recovery codes.")));
    }
    let mut text = String::from("Berth recovery codes\nEach code works once, in place of an authenticator code.\n\n");
    for c in &form.code {
        text.push_str(c);
        text.push('\n');
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"berth-recovery-codes.txt\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}

pub async fn disable_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    if !who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    Ok(html(disable_page(&who, None)?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableForm {
    password: SecretString,
    code: SecretString,
}

pub async fn disable(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<DisableForm>) -> Result<HttpResponse, PageError> {
    if !who.user.totp_enabled {
        return Ok(redirect("/settings/security"));
    }
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(unprocessable(disable_page(&who, Some(WRONG_PASSWORD.into()))?.render()?));
    }
    let uid = who.user.id;
    let done = confirm_second_factor(&app.signin, &who.user, &form.code, "disabling two-factor authentication", &info.client, info.ip, move |c| twofactor::disable(c, uid)).await?;
    if done.is_none() {
        return Ok(unprocessable(disable_page(&who, Some("That code is not valid.".into()))?.render()?));
    }
    record(&app.signin, who.user.id, Event::TwoFactorDisabled, "", &info.client).await?;
    who.session.flash("success", "Two-factor authentication is off.")?;
    Ok(redirect("/settings/security"))
}
