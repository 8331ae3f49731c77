//! A repository's webhooks on its page (`/repository/{namespace}/{path}#webhooks`): add one
//! (its secret shown once, on the answer to the POST) and delete one. Who manages the
//! repository (`repositories::managed_by`) manages its webhooks; the list and the delivery
//! log are the page's.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::repositories;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::pages::{FieldErrors, refused_form};
use crate::web::redirect;
use crate::web::repositories::{Typed, repository_page, repository_url};
use crate::webhooks;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddForm {
    repository: String,
    name: String,
    url: String,
}

#[derive(Template)]
#[template(path = "settings/webhook_created.html")]
struct CreatedPage {
    chrome: Chrome,
    repository: String,
    name: String,
    url: String,
    secret: String,
}

pub async fn add(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<AddForm>) -> Result<HttpResponse, PageError> {
    let (uid, repository) = (who.user.id, form.repository.clone());
    let repo = app.db(move |c| repositories::managed_by(c, uid, &repository)).await?;
    let mut errors = FieldErrors::default();
    let name = webhooks::check_name(&form.name).map_err(|e| errors.add("name", e)).ok();
    let url = webhooks::address::checked(&form.url, app.settings.webhook_allow_private).await.map_err(|e| errors.add("url", e)).ok();
    let (Some(name), Some(url)) = (name, url) else {
        return refused(&app, &who, &form, errors).await;
    };
    let (keys, now) = (app.keys.clone(), app.now());
    let added = app.db(move |c| webhooks::add(c, &keys, uid, &repo, &name, &url, now)).await;
    match added {
        Ok((hook, secret)) => {
            use secrecy::ExposeSecret;
            let page = CreatedPage {
                chrome: Chrome::signed_in("Copy the webhook's secret", "repositories", &who)?,
                repository: form.repository.clone(),
                name: hook.name,
                url: hook.url,
                secret: secret.expose_secret().to_string(),
            };
            // the answer to the POST, never a redirect: the secret exists only in this
            // response, which no cache may keep
            Ok(HttpResponse::Created().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?))
        }
        Err(e @ Error::Invalid { field: Some(_), .. }) => {
            errors.refuse(e);
            refused(&app, &who, &form, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The repository's page again, with the form as typed and why it was refused.
async fn refused(app: &AppState, who: &SignedIn, form: &AddForm, errors: FieldErrors) -> Result<HttpResponse, PageError> {
    let (namespace, path) = form.repository.split_once('/').ok_or(Error::NotFound)?;
    let typed = Typed { hook_name: form.name.chars().take(200).collect(), hook_url: form.url.chars().take(2100).collect(), ..Typed::default() };
    let body = repository_page(app, who, namespace.to_string(), path.to_string(), typed, errors).await?;
    Ok(refused_form(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteForm {
    repository: String,
    id: i32,
}

pub async fn delete(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<DeleteForm>) -> Result<HttpResponse, PageError> {
    let (uid, repository, id) = (who.user.id, form.repository.clone(), form.id);
    let hook = app
        .db(move |c| {
            let repo = repositories::managed_by(c, uid, &repository)?;
            webhooks::delete(c, &repo, id)
        })
        .await?;
    who.session.flash("success", format!("Deleted the webhook {}.", crate::text::isolated(&hook.name)))?;
    Ok(redirect(&format!("{}#webhooks", repository_url(&form.repository))))
}
