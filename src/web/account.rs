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
use crate::signin::password::confirm_password;
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

fn render(app: &AppState, who: &SignedIn, new_email: String, errors: FieldErrors) -> Result<String, PageError> {
    let u = &who.user;
    Ok(AccountPage {
        chrome: Chrome::signed_in("Account", "account", who)?,
        username: u.username.clone(),
        email: u.email.clone(),
        plan: u.plan().to_string(),
        member_since: crate::web::fmt::when(u.created_at, app.now()),
        plans: plan_rows(u.plan()),
        new_email,
        errors,
    }
    .render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(render(&app, &who, String::new(), FieldErrors::default())?))
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
        errors.add("email_password", "That is not your current password.");
    }
    let Some((email, normalized)) = email.filter(|_| errors.is_empty()) else {
        return Ok(invalid(render(&app, &who, typed, errors)?));
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
        return Ok(invalid(render(&app, &who, typed, errors)?));
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
        errors.add("current_password", "That is not your current password.");
    }
    if !errors.is_empty() {
        return Ok(invalid(render(&app, &who, String::new(), errors)?));
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
