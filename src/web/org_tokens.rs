//! /orgs/{org}/access-tokens: an organization's access tokens, for its owners — the list
//! (label, resources, who made it, last use, status), the creation form (label,
//! description, expiry, resource rows of a repository and an action, the public pull), the
//! secret shown once, activate, deactivate and delete. Every request checks again that the
//! visitor is an owner: anyone else gets 404 (not a member) or 403.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::once::{self, Spent};
use crate::org_tokens::resources::{ImageScope, PUBLIC_PATH, REPO_TYPE};
use crate::org_tokens::{self, Change, NewOrgToken, OrgToken, Requested, Resources};
use crate::orgs::{self, Actor};
use crate::owners::Owner;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, when};
use crate::web::middleware::html;
use crate::web::pages::{FieldErrors, PageQuery};
use crate::web::redirect;
use crate::web::tokens::{EmptyForm, RepeatedPage, form_expiry, last_use, status_badge};

/// Empty resource rows the form offers; `?rows=N` asks for more, up to the limit.
const ROWS: usize = 5;

pub struct Row {
    pub id: String,
    pub label: String,
    pub description: String,
    pub resources: Vec<String>,
    pub hint: String,
    pub created_by: String,
    pub created: When,
    pub last_used: Option<When>,
    pub last_used_detail: String,
    pub last_used_from: String,
    pub status: &'static str,
    pub badge: &'static str,
    pub active: bool,
    pub expired: bool,
    pub expires: Option<When>,
}

fn row(t: OrgToken, now: i64) -> Row {
    let (status, badge) = status_badge(t.status(now));
    let (last_used, last_used_detail, last_used_from) = last_use(t.last_used_at, t.last_used_ip.as_deref(), t.last_used_ua.as_deref(), now);
    Row {
        resources: t.resources().lines(),
        created: when(t.created_at, now),
        expires: t.expires_at.map(|at| when(at, now)),
        active: t.is_active,
        expired: t.is_expired(now),
        id: t.uuid,
        label: t.label,
        description: t.description,
        hint: t.hint,
        created_by: t.created_by_name,
        last_used,
        last_used_detail,
        last_used_from,
        status,
        badge,
    }
}

/// One resource row of the form, as shown again.
pub struct ResourceRow {
    pub index: usize,
    pub repository: String,
    pub scope: String,
}

#[derive(Template)]
#[template(path = "org_tokens/list.html")]
struct ListPage {
    chrome: Chrome,
    org: String,
    plan: String,
    rows: Vec<Row>,
    total: i64,
    limit: u32,
    limit_reason: Option<String>,
    /// The form: the repositories to choose from (`org/*` first), its rows and what was typed.
    all_repositories: String,
    repositories: Vec<String>,
    scopes: Vec<(&'static str, &'static str)>,
    resource_rows: Vec<ResourceRow>,
    more_rows: Option<usize>,
    public: bool,
    label: String,
    description: String,
    expiration: String,
    expires_on: String,
    min_date: String,
    max_date: String,
    once: String,
    errors: FieldErrors,
}

/// The organization, for an owner: 404 for anyone who is not a member, 403 for a member of
/// another role.
async fn as_owner(app: &AppState, who: &SignedIn, org: String) -> Result<Owner, PageError> {
    let uid = who.user.id;
    Ok(app.db(move |c| orgs::as_owner(c, &org, uid)).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    page: Option<i64>,
    rows: Option<usize>,
}

/// Every token fits one page up to the Business plan's limit.
const PER_PAGE: i64 = 100;

#[allow(clippy::too_many_arguments)]
async fn render(
    app: &AppState,
    who: &SignedIn,
    org: &Owner,
    page: i64,
    form: Option<&CreateForm>,
    rows: usize,
    once_key: String,
    errors: FieldErrors,
) -> Result<String, PageError> {
    let (id, now) = (org.id, app.now());
    let ((tokens, total), repositories) = app.db(move |c| Ok((org_tokens::list(c, id, page, PER_PAGE)?, crate::repositories::list(c, id)?))).await?;
    let limit = org_tokens::limit(org.plan());
    let mut resource_rows: Vec<ResourceRow> = form.map(CreateForm::rows).unwrap_or_default().into_iter().filter(|r| !r.repository.is_empty()).collect();
    let wanted = rows.clamp(ROWS, org_tokens::resources::MAX_RESOURCES).max(resource_rows.len() + 1).min(org_tokens::resources::MAX_RESOURCES);
    while resource_rows.len() < wanted {
        resource_rows.push(ResourceRow { index: 0, repository: String::new(), scope: ImageScope::Pull.as_str().into() });
    }
    for (i, r) in resource_rows.iter_mut().enumerate() {
        r.index = i + 1;
    }
    let today = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().date_naive();
    let page = ListPage {
        chrome: Chrome::signed_in("Organization access tokens", "orgs", who)?,
        org: org.name.clone(),
        plan: org.plan().to_string(),
        rows: tokens.into_iter().map(|t| row(t, now)).collect(),
        total,
        limit,
        limit_reason: org_tokens::manage::check_limit(org).err().map(|e| e.to_string()),
        all_repositories: format!("{}/*", org.name),
        repositories: repositories.into_iter().map(|r| r.name).collect(),
        scopes: ImageScope::ALL.iter().map(|s| (s.as_str(), s.label())).collect(),
        more_rows: (wanted < org_tokens::resources::MAX_RESOURCES).then(|| (wanted + ROWS).min(org_tokens::resources::MAX_RESOURCES)),
        resource_rows,
        public: form.is_some_and(|f| f.public.is_some()),
        label: form.map(|f| f.label.chars().take(200).collect()).unwrap_or_default(),
        description: form.map(|f| f.description.chars().take(400).collect()).unwrap_or_default(),
        expiration: form.map(|f| f.expiration.clone()).unwrap_or_else(|| "none".into()),
        expires_on: form.and_then(|f| f.expires_on.clone()).unwrap_or_default().chars().take(10).collect(),
        min_date: today.format("%Y-%m-%d").to_string(),
        max_date: crate::tokens::latest_expiry_day(now)?.format("%Y-%m-%d").to_string(),
        once: once_key,
        errors,
    };
    Ok(page.render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn, org: web::Path<String>, q: web::Query<ListQuery>) -> Result<HttpResponse, PageError> {
    let page = PageQuery::from(q.page).number()?;
    let org = as_owner(&app, &who, org.into_inner()).await?;
    Ok(html(render(&app, &who, &org, page, None, q.rows.unwrap_or(ROWS), once::new_key(app.now()), FieldErrors::default()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    label: String,
    description: String,
    expiration: String,
    expires_on: Option<String>,
    /// The rows' repositories and actions, in the form's order (an empty repository: an
    /// unused row).
    #[serde(default)]
    repository: Vec<String>,
    #[serde(default)]
    scope: Vec<String>,
    /// The public pull, a checkbox.
    public: Option<String>,
    once: String,
}

impl CreateForm {
    fn rows(&self) -> Vec<ResourceRow> {
        self.repository
            .iter()
            .zip(self.scope.iter().chain(std::iter::repeat(&String::new())))
            .map(|(r, s)| ResourceRow { index: 0, repository: r.clone(), scope: s.clone() })
            .collect()
    }

    /// The resources as the JSON API would receive them: each used row, then the public pull.
    fn requested(&self) -> Result<Vec<Requested>, Error> {
        if self.repository.len() != self.scope.len() {
            return Err(Error::invalid_field("resources", "Each resource row has a repository and an action: send the form as the page shows it."));
        }
        let mut out: Vec<Requested> =
            self.rows().into_iter().filter(|r| !r.repository.trim().is_empty()).map(|r| Requested { kind: REPO_TYPE.into(), path: r.repository, scopes: vec![r.scope] }).collect();
        if self.public.is_some() {
            out.push(Requested { kind: REPO_TYPE.into(), path: PUBLIC_PATH.into(), scopes: vec![ImageScope::Pull.as_str().into()] });
        }
        Ok(out)
    }
}

#[derive(Template)]
#[template(path = "org_tokens/created.html")]
struct CreatedPage {
    chrome: Chrome,
    org: String,
    token: String,
    label: String,
    resources: String,
    expires: Option<When>,
    registry_host: String,
}

enum Creation {
    Created(Box<(OrgToken, crate::tokens::PlainToken)>),
    Repeated,
    Stale,
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, org: web::Path<String>, CsrfForm(form): CsrfForm<CreateForm>) -> Result<HttpResponse, PageError> {
    if once::made_at(&form.once).is_none() {
        return Err(PageError::from(Error::invalid("This form has no valid one-time key. Open the access tokens page again.")));
    }
    let org = as_owner(&app, &who, org.into_inner()).await?;
    let now = app.now();
    let mut errors = FieldErrors::default();
    let label = org_tokens::check_label(&form.label).map_err(|e| errors.refuse(e)).ok();
    let description = org_tokens::check_description(&form.description).map_err(|e| errors.refuse(e)).ok();
    let resources = form.requested().and_then(|r| Resources::parse(&org.name, &r)).map_err(|e| errors.refuse(e)).ok();
    let expires_at = form_expiry(&form.expiration, form.expires_on.as_deref(), now).map_err(|e| errors.refuse(e)).ok();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let (true, Some(label), Some(description), Some(resources), Some(expires_at)) = (errors.is_empty(), label, description, resources, expires_at) {
        let (user, key, id, actor) = (who.user.clone(), form.once.clone(), org.id, Actor::user(&who.user, &info.client));
        let created = app
            .db(move |c| {
                crate::db::write_tx(c, |c| match once::spend(c, user.id, &key, now)? {
                    Spent::First => {
                        org_tokens::create(c, id, &user, NewOrgToken { label, description, resources, expires_at }, &actor, now).map(|made| Creation::Created(Box::new(made)))
                    }
                    Spent::Again => Ok(Creation::Repeated),
                    Spent::Stale => Ok(Creation::Stale),
                })
            })
            .await;
        match created {
            Ok(Creation::Created(made)) => {
                let (token, plain) = *made;
                let page = CreatedPage {
                    chrome: Chrome::signed_in("Copy organization access token", "orgs", &who)?,
                    org: org.name.clone(),
                    token: plain.expose().to_string(),
                    resources: token.resources().summary(),
                    expires: token.expires_at.map(|t| when(t, now)),
                    label: token.label,
                    registry_host: app.settings.registry_host.clone(),
                };
                // rendered in answer to the POST, never redirected to: the plaintext exists
                // only in this response, which no cache may keep
                return Ok(HttpResponse::Created().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?));
            }
            Ok(Creation::Repeated) => {
                let page = RepeatedPage { chrome: Chrome::signed_in("Token already created", "orgs", &who)?, back: format!("/orgs/{}/access-tokens", org.name) };
                return Ok(HttpResponse::Conflict().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?));
            }
            Ok(Creation::Stale) => {
                errors.add("form", "This form was opened more than a day ago. Check it and create the token again.");
                let body = render(&app, &who, &org, 1, Some(&form), form.repository.len(), once::new_key(now), errors).await?;
                return Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body));
            }
            Err(e @ Error::Denied(_)) => {
                status = StatusCode::FORBIDDEN;
                errors.add("form", e);
            }
            Err(e @ Error::Invalid { .. }) => errors.refuse(e),
            Err(e) => return Err(e.into()),
        }
    }
    // a form shown again after an error keeps its key: nothing was spent
    let body = render(&app, &who, &org, 1, Some(&form), form.repository.len(), form.once.clone(), errors).await?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}

/// `POST …/{id}/activate` and `…/{id}/deactivate`.
pub async fn set_active(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let ((org, id, change), user, now) = (path.into_inner(), who.user.clone(), app.now());
    let active = match change.as_str() {
        "activate" => true,
        "deactivate" => false,
        _ => return Err(PageError::not_found()),
    };
    let actor = Actor::user(&user, &info.client);
    let (org, token) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, user.id)?;
            let token = org_tokens::update(c, org.id, user.id, &id, Change { active: Some(active), ..Default::default() }, &actor, now)?;
            Ok((org.name, token))
        })
        .await?;
    who.session.flash("success", format!("\u{201c}{}\u{201d} was {change}d.", crate::text::isolated(&token.label)))?;
    Ok(redirect(&format!("/orgs/{org}/access-tokens")))
}

#[derive(Template)]
#[template(path = "org_tokens/delete.html")]
struct DeletePage {
    chrome: Chrome,
    org: String,
    token: Row,
}

pub async fn delete_form(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    let ((org, id), uid, now) = (path.into_inner(), who.user.id, app.now());
    let (org, token) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, uid)?;
            let token = org_tokens::find(c, org.id, &id)?.ok_or(Error::NotFound)?;
            Ok((org.name, token))
        })
        .await?;
    Ok(html(DeletePage { chrome: Chrome::signed_in("Delete organization access token", "orgs", &who)?, org, token: row(token, now) }.render()?))
}

pub async fn delete(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let ((org, id), user, now) = (path.into_inner(), who.user.clone(), app.now());
    let actor = Actor::user(&user, &info.client);
    let (org, token) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, user.id)?;
            let token = org_tokens::delete(c, org.id, user.id, &id, &actor, now)?;
            Ok((org.name, token))
        })
        .await?;
    who.session.flash("success", format!("\u{201c}{}\u{201d} was deleted: it works nowhere any more.", crate::text::isolated(&token.label)))?;
    Ok(redirect(&format!("/orgs/{org}/access-tokens")))
}
