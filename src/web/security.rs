//! /settings/security: two-factor authentication — the account's second factors (label,
//! added, last used), adding an authenticator app (password and a name, then QR and code;
//! the first one turns 2FA on and shows the recovery codes once), removing one (password and
//! a code; the last one turns 2FA off), regenerating recovery codes (password), disabling
//! (password and a code: every factor goes).

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
use crate::twofactor::{self, Removed};
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, when};
use crate::web::middleware::html;
use crate::web::redirect;

#[derive(Template)]
#[template(path = "settings/security.html")]
struct SecurityPage {
    chrome: Chrome,
    enabled: bool,
    factors: Vec<FactorRow>,
    remaining_codes: i64,
}

/// A second factor as the list shows it.
struct FactorRow {
    id: i32,
    label: String,
    kind: &'static str,
    added: When,
    last_used: Option<When>,
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (factors, remaining_codes) =
        if who.user.has_second_factor() { app.db(move |c| Ok((twofactor::list(c, uid)?, twofactor::recovery::remaining(c, uid)?))).await? } else { (Vec::new(), 0) };
    let factors = factors
        .into_iter()
        .map(|f| FactorRow {
            id: f.id,
            kind: f.kind().map_or("Second factor", twofactor::Kind::name),
            added: when(f.confirmed_at.unwrap_or(f.created_at), now),
            last_used: f.last_used_at.map(|t| when(t, now)),
            label: f.label,
        })
        .collect();
    let page = SecurityPage { chrome: Chrome::signed_in("Security", "security", &who)?, enabled: who.user.has_second_factor(), factors, remaining_codes };
    Ok(html(page.render()?))
}

/// One page for the three password-guarded steps; `danger` marks the destructive one.
#[derive(Template)]
#[template(path = "settings/confirm_password.html")]
pub(crate) struct ConfirmPasswordPage {
    pub(crate) chrome: Chrome,
    pub(crate) heading: String,
    pub(crate) explanation: String,
    pub(crate) action: String,
    pub(crate) button: &'static str,
    /// The name field of a new authenticator app, with its value.
    pub(crate) label: Option<String>,
    pub(crate) ask_code: bool,
    pub(crate) danger: bool,
    /// The one-time key of a form whose repeat would regenerate something.
    pub(crate) once: Option<String>,
    pub(crate) error: Option<String>,
    /// Where Cancel leads.
    pub(crate) cancel: &'static str,
}

/// Turning 2FA on, or (once it is on) adding a further authenticator app.
fn enable_page(who: &SignedIn, label: String, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    let (heading, explanation) = if who.user.has_second_factor() {
        (
            "Add an authenticator app",
            "Confirm your password and name the new app. Next you will scan a QR code with it and enter the code it shows. Your other apps and your recovery codes keep working.",
        )
    } else {
        (
            "Enable two-factor authentication",
            "Confirm your password to start. Next you will scan a QR code with an authenticator app (such as Aegis, Google Authenticator or 1Password) and enter the code it shows.",
        )
    };
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in(heading, "security", who)?,
        heading: heading.into(),
        explanation: explanation.into(),
        action: "/settings/security/2fa/enable".into(),
        button: "Continue",
        label: Some(label),
        ask_code: false,
        danger: false,
        once: None,
        error,
        cancel: "/settings/security",
    })
}

fn regenerate_page(who: &SignedIn, once: String, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Regenerate recovery codes", "security", who)?,
        heading: "Regenerate recovery codes".into(),
        explanation: "Your current recovery codes will stop working at once and 10 new ones will be shown. Confirm your password to continue.".into(),
        action: "/settings/security/2fa/recovery-codes".into(),
        button: "Regenerate recovery codes",
        label: None,
        ask_code: false,
        danger: false,
        once: Some(once),
        error,
        cancel: "/settings/security",
    })
}

fn disable_page(who: &SignedIn, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Disable two-factor authentication", "security", who)?,
        heading: "Disable two-factor authentication".into(),
        explanation: "Your account will be protected by your password alone: every authenticator app is removed and your recovery codes will be deleted. Your password will work again with the registry. Enter your password and a code from your authenticator app (or a recovery code).".into(),
        action: "/settings/security/2fa/disable".into(),
        button: "Disable two-factor authentication",
        label: None,
        ask_code: true,
        danger: true,
        once: None,
        error,
        cancel: "/settings/security",
    })
}

fn unprocessable(body: String) -> HttpResponse {
    HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body)
}

pub(crate) const WRONG_PASSWORD: &str = "That is not your current password.";

pub async fn enable_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(enable_page(&who, twofactor::DEFAULT_LABEL.into(), None)?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableForm {
    password: SecretString,
    /// The name of the new app; left out or empty, the default.
    #[serde(default)]
    label: String,
}

pub async fn enable(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<EnableForm>) -> Result<HttpResponse, PageError> {
    let label = match twofactor::totp::check_label(&form.label) {
        Ok(label) => label,
        Err(e) => return Ok(unprocessable(enable_page(&who, form.label, Some(e.to_string()))?.render()?)),
    };
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(unprocessable(enable_page(&who, label, Some(WRONG_PASSWORD.into()))?.render()?));
    }
    let (keys, user, now) = (app.keys.clone(), who.user.clone(), app.now());
    app.db(move |c| twofactor::begin_enrolment(c, &keys, &user, &label, now)).await?;
    who.session.start_enrolment(now)?;
    Ok(redirect("/settings/security/2fa/setup"))
}

#[derive(Template)]
#[template(path = "settings/setup_2fa.html")]
struct SetupPage {
    chrome: Chrome,
    /// 2FA is on already: this app is a further one.
    adding: bool,
    label: String,
    secret: String,
    otpauth: String,
    error: Option<String>,
}

/// The pending secret of a user whose enrolment is open in this session.
async fn pending_secret(app: &AppState, who: &SignedIn) -> Result<Option<twofactor::Enrolment>, PageError> {
    if !who.session.enrolment_open(app.now()) {
        return Ok(None);
    }
    let (keys, user) = (app.keys.clone(), who.user.clone());
    Ok(app.db(move |c| twofactor::pending_enrolment(c, &keys, &user)).await?)
}

async fn render_setup(app: &AppState, who: &SignedIn, error: Option<String>) -> Result<Option<String>, PageError> {
    let Some(enrolment) = pending_secret(app, who).await? else { return Ok(None) };
    let adding = who.user.has_second_factor();
    let title = if adding { "Add an authenticator app" } else { "Set up two-factor authentication" };
    let page =
        SetupPage { chrome: Chrome::signed_in(title, "security", who)?, adding, label: enrolment.label, secret: enrolment.secret_base32, otpauth: enrolment.otpauth_url, error };
    Ok(Some(page.render()?))
}

pub async fn setup_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    match render_setup(&app, &who, None).await? {
        Some(body) => Ok(html(body)),
        None => {
            if !who.user.has_second_factor() {
                who.session.flash("info", "Confirm your password to start setting up two-factor authentication.")?;
            }
            Ok(redirect("/settings/security"))
        }
    }
}

/// The QR code, made by Berth, served only to this session while enrolment is open and
/// never stored by the browser.
pub async fn qr_png(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let enrolment = pending_secret(&app, &who).await?.ok_or(Error::NotFound)?;
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
    if !who.session.enrolment_open(app.now()) {
        return Ok(redirect("/settings/security"));
    }
    let slot = app.signin.throttle.reserve(&AccountKey::User(who.user.id), info.ip).await.map_err(|wait| PageError::from(Error::Throttled { retry_after: wait }))?;
    let (keys, user, now) = (app.keys.clone(), who.user.clone(), app.now());
    let code = twofactor::normalize_code(form.code.expose_secret());
    let confirmed = app.db(move |c| twofactor::confirm_enrolment(c, &keys, &user, &code, now)).await?;
    let Some(confirmed) = confirmed else {
        let Some(body) = render_setup(&app, &who, Some("That code is not valid. Check the time on your phone and enter the current code.".into())).await? else {
            // nothing pending (2FA turned off elsewhere, or never begun): no code was checked
            slot.release();
            return Ok(redirect("/settings/security"));
        };
        count_failure(&app.signin, slot, Some((who.user.id, Event::TwoFactorFailed, "setting up two-factor authentication")), &info.client).await?;
        return Ok(unprocessable(body));
    };
    slot.release();
    app.signin.password_cache.forget(who.user.id);
    who.session.end_enrolment();
    let Some(codes) = confirmed.recovery_codes else {
        let label = crate::text::isolated(&confirmed.label);
        record(&app.signin, who.user.id, Event::FactorAdded, &format!("authenticator app \u{201c}{label}\u{201d}"), &info.client).await?;
        who.session.flash("success", format!("The authenticator app \u{201c}{label}\u{201d} was added. Its codes work from now on, next to your other second factors."))?;
        return Ok(redirect("/settings/security"));
    };
    record(&app.signin, who.user.id, Event::TwoFactorEnabled, "", &info.client).await?;
    recovery_codes_response(RecoveryCodesPage { chrome: Chrome::signed_in("Recovery codes", "security", &who)?, codes, just_enabled: true })
}

pub async fn regenerate_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    if !who.user.has_second_factor() {
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

/// What a recovery-code form came to: new codes, or why none were made.
enum Regenerated {
    Codes(Vec<String>),
    Not(Spent),
}

pub async fn regenerate(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<RegenerateForm>) -> Result<HttpResponse, PageError> {
    if !who.user.has_second_factor() {
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
                Spent::First => twofactor::recovery::replace(c, &keys, uid).map(Regenerated::Codes),
                refused => Ok(Regenerated::Not(refused)),
            })
        })
        .await?;
    let codes = match codes {
        Regenerated::Codes(codes) => codes,
        Regenerated::Not(Spent::Stale) => {
            let error = "This page was opened more than a day ago. Confirm your password again.".to_string();
            return Ok(unprocessable(regenerate_page(&who, once::new_key(now), Some(error))?.render()?));
        }
        Regenerated::Not(_) => {
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
    if form.code.is_empty() || form.code.len() > twofactor::recovery::COUNT || !form.code.iter().all(|c| twofactor::recovery::is_displayed_code(c)) {
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
    if !who.user.has_second_factor() {
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
    if !who.user.has_second_factor() {
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

/// The confirmed factor `id` of the signed-in account, or not found.
async fn own_factor(app: &AppState, who: &SignedIn, id: i32) -> Result<twofactor::Factor, PageError> {
    let uid = who.user.id;
    let factors = app.db(move |c| twofactor::list(c, uid)).await?;
    factors.into_iter().find(|f| f.id == id).ok_or_else(|| PageError::from(Error::NotFound))
}

fn remove_page(who: &SignedIn, factor: &twofactor::Factor, error: Option<String>) -> Result<ConfirmPasswordPage, PageError> {
    let name = format!("\u{201c}{}\u{201d}", crate::text::isolated(&factor.label));
    let explanation = if who.user.second_factor_count <= 1 {
        format!(
            "{name} is your only second factor: removing it turns two-factor authentication off, your account will be protected by your password alone, and your recovery codes will be deleted. Enter your password and a code from your authenticator app (or a recovery code)."
        )
    } else {
        format!(
            "Signing in will no longer accept codes from {name}. Your other second factors and your recovery codes keep working. Enter your password and a code from any of your authenticator apps (or a recovery code)."
        )
    };
    Ok(ConfirmPasswordPage {
        chrome: Chrome::signed_in("Remove a second factor", "security", who)?,
        heading: format!("Remove {name}"),
        explanation,
        action: format!("/settings/security/2fa/factors/{}/remove", factor.id),
        button: "Remove",
        label: None,
        ask_code: true,
        danger: true,
        once: None,
        error,
        cancel: "/settings/security",
    })
}

pub async fn remove_form(app: web::Data<AppState>, who: SignedIn, id: web::Path<i32>) -> Result<HttpResponse, PageError> {
    let factor = own_factor(&app, &who, id.into_inner()).await?;
    Ok(html(remove_page(&who, &factor, None)?.render()?))
}

/// Removing one factor asks what disabling asks (the password and a code); the last one
/// turns 2FA off with the recovery codes.
pub async fn remove(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, id: web::Path<i32>, CsrfForm(form): CsrfForm<DisableForm>) -> Result<HttpResponse, PageError> {
    let factor = own_factor(&app, &who, id.into_inner()).await?;
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(unprocessable(remove_page(&who, &factor, Some(WRONG_PASSWORD.into()))?.render()?));
    }
    let (uid, factor_id) = (who.user.id, factor.id);
    let removed =
        confirm_second_factor(&app.signin, &who.user, &form.code, "removing a second factor", &info.client, info.ip, move |c| twofactor::remove(c, uid, factor_id)).await?;
    let Some(removed) = removed else {
        return Ok(unprocessable(remove_page(&who, &factor, Some("That code is not valid.".into()))?.render()?));
    };
    let name = format!("\u{201c}{}\u{201d}", crate::text::isolated(&factor.label));
    match removed {
        Removed::Last => {
            record(&app.signin, who.user.id, Event::TwoFactorDisabled, &format!("last second factor {name} removed"), &info.client).await?;
            who.session.flash("success", format!("{name} was your last second factor: two-factor authentication is off and your recovery codes are deleted."))?;
        }
        Removed::Kept { .. } => {
            record(&app.signin, who.user.id, Event::FactorRemoved, &format!("authenticator app {name}"), &info.client).await?;
            who.session.flash("success", format!("{name} was removed. Two-factor authentication stays on."))?;
        }
    }
    Ok(redirect("/settings/security"))
}
