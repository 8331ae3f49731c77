//! /settings/account: username, email, plan (with the plan table), change email, change
//! password. Both changes need the current password; a password change ends every other
//! session and renews this one.

use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::Error;
use crate::accounts::{self, Plan};
use crate::activity::Event;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::signin::confirm_password;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::middleware::html;
use crate::web::pages::FieldErrors;
use crate::web::redirect;

pub struct PlanRow {
    pub name: &'static str,
    pub tokens: String,
    pub scoped: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "settings/account.html")]
struct AccountPage {
    chrome: Chrome,
    username: String,
    email: String,
    plan: String,
    member_since: crate::web::fmt::When,
    plans: Vec<PlanRow>,
    new_email: String,
    errors: FieldErrors,
}

fn plan_rows(current: Plan) -> Vec<PlanRow> {
    Plan::ALL
        .into_iter()
        .map(|p| PlanRow {
            name: p.as_str(),
            tokens: p.token_limit().map(|n| n.to_string()).unwrap_or_else(|| "unlimited".into()),
            scoped: if p.scoped_tokens() { "yes" } else { "no — \u{201c}Read, Write, Delete\u{201d} only" },
            current: p == current,
        })
        .collect()
}

async fn render(app: &AppState, who: &SignedIn, new_email: String, errors: FieldErrors) -> Result<String, PageError> {
    let u = &who.user;
    let uid = u.id;
    // the plan is the user's own namespace's
    let plan = app.db(move |c| crate::owners::of_user(c, uid)).await?.plan();
    Ok(AccountPage {
        chrome: Chrome::signed_in("Account", "account", who)?,
        username: u.username.clone(),
        email: u.email.clone(),
        plan: plan.to_string(),
        member_since: crate::web::fmt::when(u.created_at, app.now()),
        plans: plan_rows(plan),
        new_email,
        errors,
    }
    .render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(render(&app, &who, String::new(), FieldErrors::default()).await?))
}

fn invalid(body: String) -> HttpResponse {
    HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailForm {
    email: String,
    current_password: SecretString,
}

pub async fn change_email(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<EmailForm>) -> Result<HttpResponse, PageError> {
    let mut errors = FieldErrors::default();
    let typed: String = form.email.chars().take(254).collect();
    let email = accounts::normalize_email(&form.email).map_err(|e| errors.add("email", e)).ok();
    if !confirm_password(&app.signin, &who.user, form.current_password, &info.client, info.ip).await? {
        errors.add("email_password", crate::web::security::WRONG_PASSWORD);
    }
    let Some((email, normalized)) = email.filter(|_| errors.is_empty()) else {
        return Ok(invalid(render(&app, &who, typed, errors).await?));
    };
    let (uid, client, now) = (who.user.id, info.client.clone(), app.now());
    let result = app
        .db(move |c| match accounts::set_email(c, uid, &email, &normalized) {
            Ok(()) => {
                crate::activity::record(c, uid, Event::EmailChanged, "", &client, now)?;
                Ok(())
            }
            Err(e) => Err(e),
        })
        .await;
    if let Err(e) = result {
        let Error::Taken(field) = e else { return Err(e.into()) };
        errors.add(field, Error::Taken(field).to_string());
        return Ok(invalid(render(&app, &who, typed, errors).await?));
    }
    who.session.flash("success", "Your email address was changed.")?;
    Ok(redirect("/settings/account"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    confirm_password: SecretString,
}

pub async fn change_password(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<PasswordForm>) -> Result<HttpResponse, PageError> {
    let mut errors = FieldErrors::default();
    if let Err(e) = accounts::password::check_policy(form.new_password.expose_secret(), &who.user.username) {
        errors.add("new_password", e);
    } else if form.new_password.expose_secret() != form.confirm_password.expose_secret() {
        errors.add("confirm_password", "The two new passwords differ.");
    }
    if !confirm_password(&app.signin, &who.user, form.current_password, &info.client, info.ip).await? {
        errors.add("current_password", crate::web::security::WRONG_PASSWORD);
    }
    if !errors.is_empty() {
        return Ok(invalid(render(&app, &who, String::new(), errors).await?));
    }
    let hash = app.signin.hasher.hash(form.new_password).await?;
    let keep = who.session.public_id();
    let (uid, client, now) = (who.user.id, info.client.clone(), app.now());
    let ended = app
        .db(move |c| {
            let ended = accounts::set_password(c, uid, &hash, Some(keep.as_deref().unwrap_or("")))?;
            crate::activity::record(c, uid, Event::PasswordChanged, &format!("{ended} other session(s) ended"), &client, now)?;
            Ok(ended)
        })
        .await?;
    app.signin.password_cache.forget(uid);
    who.session.renew()?;
    let msg = match ended {
        0 => "Your password was changed.".to_string(),
        1 => "Your password was changed and your other session was signed out.".to_string(),
        n => format!("Your password was changed and your {n} other sessions were signed out."),
    };
    who.session.flash("success", msg)?;
    Ok(redirect("/settings/account"))
}

/// The page confirming an account's deletion: the password, and with 2FA on a code.
fn delete_page(who: &SignedIn, error: Option<String>) -> Result<crate::web::security::ConfirmPasswordPage, PageError> {
    Ok(crate::web::security::ConfirmPasswordPage {
        chrome: Chrome::signed_in("Delete account", "account", who)?,
        heading: "Delete your account".into(),
        explanation: format!(
            "This deletes the account {} for good: its access tokens, sessions, authenticator apps and recovery codes, your memberships of organizations and the repositories Berth records in your namespace. The images stay in the registry, and the name {} stays reserved: nobody can sign up or name an organization with it. If you are the only owner of an organization, make another member an owner first. Enter your password{} to confirm.",
            who.user.username,
            who.user.username,
            if who.user.has_second_factor() { " and a code from your authenticator app (or a recovery code)" } else { "" }
        ),
        action: "/settings/account/delete".into(),
        button: "Delete my account",
        label: None,
        ask_code: who.user.has_second_factor(),
        danger: true,
        once: None,
        error,
        cancel: "/settings/account",
    })
}

pub async fn delete_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(delete_page(&who, None)?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteForm {
    password: SecretString,
    code: Option<SecretString>,
}

/// Deletes the signed-in account once the password (and with 2FA on, a code) is right.
/// Refused, deleting nothing, while the user is the only owner of an organization.
pub async fn delete(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<DeleteForm>) -> Result<HttpResponse, PageError> {
    if !confirm_password(&app.signin, &who.user, form.password, &info.client, info.ip).await? {
        return Ok(invalid(delete_page(&who, Some(crate::web::security::WRONG_PASSWORD.into()))?.render()?));
    }
    let (uid, now) = (who.user.id, app.now());
    let deleted = if who.user.has_second_factor() {
        let code = form.code.unwrap_or_else(|| SecretString::from(String::new()));
        crate::signin::confirm_second_factor(&app.signin, &who.user, &code, "deleting the account", &info.client, info.ip, move |c| accounts::delete(c, uid, now)).await
    } else {
        app.db(move |c| accounts::delete(c, uid, now)).await.map(Some)
    };
    match deleted {
        Ok(Some(())) => {}
        Ok(None) => return Ok(invalid(delete_page(&who, Some("That code is not valid.".into()))?.render()?)),
        Err(Error::Denied(why)) => return Ok(HttpResponse::Forbidden().content_type("text/html; charset=utf-8").body(delete_page(&who, Some(why.into_owned()))?.render()?)),
        Err(e) => return Err(e.into()),
    }
    app.signin.password_cache.forget(uid);
    who.session.sign_out();
    who.session.flash("success", "Your account was deleted.")?;
    Ok(redirect("/login"))
}
