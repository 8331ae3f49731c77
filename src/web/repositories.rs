//! /repositories: the repositories of the user's own namespace (name, visibility, created,
//! last push) with a public/private switch, *Create repository* and *Delete repository*.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::owners::{self, Owner};
use crate::repositories as repos;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, when};
use crate::web::middleware::html;
use crate::web::pages::FieldErrors;
use crate::web::redirect;

pub struct Row {
    pub name: String,
    pub public: bool,
    pub created: When,
    pub last_push: Option<When>,
}

#[derive(Template)]
#[template(path = "settings/repositories.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    namespace: String,
    registry_host: String,
    path: String,
    errors: FieldErrors,
}

/// The user's own namespace, where these pages work.
async fn home(app: &AppState, who: &SignedIn) -> Result<Owner, PageError> {
    let uid = who.user.id;
    Ok(app.db(move |c| owners::of_user(c, uid)).await?)
}

async fn render(app: &AppState, who: &SignedIn, path: String, errors: FieldErrors) -> Result<String, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (home, list) = app
        .db(move |c| {
            let home = owners::of_user(c, uid)?;
            let list = repos::list(c, home.id)?;
            Ok((home, list))
        })
        .await?;
    let rows = list.into_iter().map(|r| Row { public: r.is_public, created: when(r.created_at, now), last_push: r.last_push_at.map(|t| when(t, now)), name: r.name }).collect();
    Ok(ListPage { chrome: Chrome::signed_in("Repositories", "repositories", who)?, rows, namespace: home.name, registry_host: app.settings.registry_host.clone(), path, errors }
        .render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(render(&app, &who, String::new(), FieldErrors::default()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    path: String,
    visibility: String,
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<CreateForm>) -> Result<HttpResponse, PageError> {
    let public = match form.visibility.as_str() {
        "public" => true,
        "private" => false,
        _ => return Err(PageError::from(Error::invalid("Visibility is public or private."))),
    };
    let (home, path, now) = (home(&app, &who).await?, form.path.clone(), app.now());
    match app.db(move |c| repos::create(c, &home, &path, public, now)).await {
        Ok(name) => {
            who.session.flash("success", format!("{name} was created."))?;
            Ok(redirect("/repositories"))
        }
        Err(Error::Invalid { field: Some("path"), why }) => {
            let mut errors = FieldErrors::default();
            errors.add("path", why);
            let body = render(&app, &who, form.path.chars().take(255).collect(), errors).await?;
            Ok(HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibilityForm {
    name: String,
    public: String,
    /// "yes" from the confirmation page: making a repository public asks first.
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "settings/repository_public.html")]
struct PublicPage {
    chrome: Chrome,
    name: String,
}

pub async fn visibility(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<VisibilityForm>) -> Result<HttpResponse, PageError> {
    let public = match form.public.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::from(Error::invalid("Visibility is public or private."))),
    };
    let (home, name) = (home(&app, &who).await?.id, form.name.clone());
    if public && form.confirm.as_deref() != Some("yes") {
        let lookup = name.clone();
        if !app.db(move |c| repos::owns(c, home, &lookup)).await? {
            return Err(PageError::not_found());
        }
        return Ok(html(PublicPage { chrome: Chrome::signed_in("Make repository public", "repositories", &who)?, name }.render()?));
    }
    if !app.db(move |c| repos::set_public(c, home, &name, public)).await? {
        return Err(PageError::not_found());
    }
    who.session.flash("success", format!("{} is now {}.", form.name, if public { "public: anyone may pull it" } else { "private" }))?;
    Ok(redirect("/repositories"))
}

#[derive(Template)]
#[template(path = "settings/repository_delete.html")]
struct DeletePage {
    chrome: Chrome,
    name: String,
}

#[derive(Deserialize)]
pub struct NameQuery {
    name: String,
}

pub async fn delete_form(app: web::Data<AppState>, who: SignedIn, q: web::Query<NameQuery>) -> Result<HttpResponse, PageError> {
    let home = home(&app, &who).await?.id;
    let name = q.into_inner().name;
    let lookup = name.clone();
    let owned = app.db(move |c| repos::owns(c, home, &lookup)).await?;
    if !owned {
        return Err(PageError::not_found());
    }
    Ok(html(DeletePage { chrome: Chrome::signed_in("Delete repository", "repositories", &who)?, name }.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteForm {
    name: String,
}

pub async fn delete(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<DeleteForm>) -> Result<HttpResponse, PageError> {
    let (home, name) = (home(&app, &who).await?.id, form.name.clone());
    if !app.db(move |c| repos::delete(c, home, &name)).await? {
        return Err(PageError::not_found());
    }
    who.session.flash("success", format!("Berth forgot {}. The registry frees its data at the next garbage collection.", form.name))?;
    Ok(redirect("/repositories"))
}
