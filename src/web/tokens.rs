//! /settings/tokens: personal access tokens — the overview with counts, the new-token form
//! (scope dropdown gated by plan, expiry), the copy page shown once, edit, (de)activate,
//! delete and bulk delete behind a confirmation.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::accounts::Plan;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::once::{self, Spent};
use crate::owners::{self, Owner};
use crate::tokens::{self, AccessToken, Counts, Expiry, NewToken, PlainToken, Scope, Status};
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, client_name, when};
use crate::web::middleware::html;
use crate::web::pages::{FieldErrors, PageQuery, Pager};
use crate::web::redirect;

pub const PER_PAGE: i64 = 25;

pub struct Row {
    pub uuid: String,
    pub description: String,
    pub scope: &'static str,
    pub hint: String,
    pub status: &'static str,
    pub badge: &'static str,
    pub active: bool,
    pub expired: bool,
    pub created: When,
    pub last_used: Option<When>,
    /// "exact time · IP · client", shown on hover
    pub last_used_detail: String,
    /// Where the last use came from, shown in the row: "10.0.0.1 · docker 28.2"
    pub last_used_from: String,
    pub expires: Option<When>,
}

/// A token's status as a row shows it: its word and its badge's class.
pub(crate) fn status_badge(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Active => ("Active", "badge-green"),
        Status::Inactive => ("Inactive", "badge-grey"),
        Status::Expired => ("Expired", "badge-amber"),
    }
}

/// A token's last use as a row shows it: when, "exact time · IP · client" for the hover,
/// and "IP · client" for the row (both empty when never used).
pub(crate) fn last_use(at: Option<i64>, ip: Option<&str>, ua: Option<&str>, now: i64) -> (Option<When>, String, String) {
    let Some(used) = at.map(|at| when(at, now)) else { return (None, String::new(), String::new()) };
    let from = format!("{} · {}", ip.unwrap_or("unknown IP"), ua.map(client_name).unwrap_or_else(|| "unknown client".into()));
    let detail = format!("{} · {from}", used.exact);
    (Some(used), detail, from)
}

fn row(t: AccessToken, now: i64) -> Row {
    let (status, badge) = status_badge(t.status(now));
    let (last_used, last_used_detail, last_used_from) = last_use(t.last_used_at, t.last_used_ip.as_deref(), t.last_used_ua.as_deref(), now);
    Row {
        last_used_from,
        scope: t.scope().label(),
        status,
        badge,
        active: t.is_active,
        expired: t.is_expired(now),
        created: when(t.created_at, now),
        last_used,
        last_used_detail,
        expires: t.expires_at.map(|at| when(at, now)),
        uuid: t.uuid,
        description: t.description,
        hint: t.hint,
    }
}

#[derive(Template)]
#[template(path = "settings/tokens.html")]
struct OverviewPage {
    chrome: Chrome,
    rows: Vec<Row>,
    counts: Counts,
    limit_reason: Option<String>,
    plan: String,
    pager: Pager,
    /// The search and filter choices, as the form shows them again.
    q: String,
    status: &'static str,
    scope: &'static str,
    sort: &'static str,
    filtered: bool,
    matching: i64,
    scopes: [(&'static str, &'static str); 4],
    sorts: [(&'static str, &'static str); 3],
}

/// The overview's query: page, search, filters and order, all optional, kept in the URL.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    page: Option<i64>,
    q: Option<String>,
    status: Option<String>,
    scope: Option<String>,
    sort: Option<String>,
}

impl OverviewQuery {
    fn filter(&self) -> Result<tokens::Filter, PageError> {
        let bad = |what: &str| PageError::from(Error::invalid(format!("Unknown {what} in the address. Choose one from the list.")));
        let text = self.q.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(|t| t.chars().take(tokens::DESCRIPTION_MAX).collect());
        let status = match self.status.as_deref().unwrap_or("") {
            "" | "all" => None,
            "active" => Some(Status::Active),
            "inactive" => Some(Status::Inactive),
            "expired" => Some(Status::Expired),
            _ => return Err(bad("status")),
        };
        let scope = match self.scope.as_deref().unwrap_or("") {
            "" | "all" => None,
            s => Some(Scope::parse(s).ok_or_else(|| bad("permission"))?),
        };
        let sort = match self.sort.as_deref().unwrap_or("") {
            "" => tokens::Sort::Created,
            s => tokens::Sort::parse(s).ok_or_else(|| bad("order"))?,
        };
        Ok(tokens::Filter { text, status, scope, sort })
    }
}

fn status_str(s: Option<Status>) -> &'static str {
    match s {
        None => "all",
        Some(Status::Active) => "active",
        Some(Status::Inactive) => "inactive",
        Some(Status::Expired) => "expired",
    }
}

pub async fn overview(app: web::Data<AppState>, who: SignedIn, q: web::Query<OverviewQuery>) -> Result<HttpResponse, PageError> {
    let page = PageQuery::from(q.page).number()?;
    let filter = q.filter()?;
    let (uid, now) = (who.user.id, app.now());
    let f = filter.clone();
    let ((list, matching), counts, plan) =
        app.db(move |c| Ok((tokens::search(c, uid, &f, now, page, PER_PAGE)?, tokens::counts(c, uid, now)?, owners::of_user(c, uid)?.plan()))).await?;
    let text = filter.text.clone().unwrap_or_default();
    let (status, scope, sort) = (status_str(filter.status), filter.scope.map(Scope::as_str).unwrap_or("all"), filter.sort.as_str());
    let page = OverviewPage {
        chrome: Chrome::signed_in("Personal access tokens", "tokens", &who)?,
        rows: list.into_iter().map(|t| row(t, now)).collect(),
        limit_reason: tokens::limit_reason(plan, counts.total()),
        plan: plan.to_string(),
        pager: Pager::new("/settings/tokens", page, matching, PER_PAGE).keeping(&[
            ("q", &text),
            ("status", if status == "all" { "" } else { status }),
            ("scope", if scope == "all" { "" } else { scope }),
            ("sort", if sort == "created" { "" } else { sort }),
        ]),
        filtered: !filter.is_empty(),
        matching,
        q: text,
        status,
        scope,
        sort,
        scopes: Scope::ALL.map(|s| (s.as_str(), s.label())),
        sorts: tokens::Sort::ALL.map(|s| (s.as_str(), s.label())),
        counts,
    };
    Ok(html(page.render()?))
}

pub struct ScopeOption {
    pub value: &'static str,
    pub label: &'static str,
    pub explanation: &'static str,
    pub enabled: bool,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "settings/token_new.html")]
struct NewTokenPage {
    chrome: Chrome,
    scopes: Vec<ScopeOption>,
    description: String,
    expiration: String,
    expires_on: String,
    min_date: String,
    max_date: String,
    personal: bool,
    limit_reason: Option<String>,
    once: String,
    errors: FieldErrors,
}

/// The user's own namespace: the plan and the count of tokens held.
async fn home(app: &AppState, who: &SignedIn) -> Result<Owner, PageError> {
    let uid = who.user.id;
    Ok(app.db(move |c| owners::of_user(c, uid)).await?)
}

fn new_page(app: &AppState, who: &SignedIn, form: Option<&CreateForm>, home: &Owner, errors: FieldErrors) -> Result<NewTokenPage, PageError> {
    let (plan, held) = (home.plan(), home.token_count);
    let chosen = form.map(|f| f.scope.as_str()).unwrap_or(Scope::Admin.as_str());
    let today = chrono::DateTime::from_timestamp(app.now(), 0).unwrap_or_default().date_naive();
    let latest = tokens::latest_expiry_day(app.now())?;
    Ok(NewTokenPage {
        chrome: Chrome::signed_in("New access token", "tokens", who)?,
        scopes: scope_options(plan, chosen),
        description: form.map(|f| f.description.chars().take(200).collect()).unwrap_or_default(),
        expiration: form.map(|f| f.expiration.clone()).unwrap_or_else(|| "none".into()),
        expires_on: form.map(|f| f.expires_on.clone().unwrap_or_default()).unwrap_or_default().chars().take(10).collect(),
        min_date: today.format("%Y-%m-%d").to_string(),
        max_date: latest.format("%Y-%m-%d").to_string(),
        personal: plan == Plan::Personal,
        limit_reason: tokens::limit_reason(plan, held),
        // a form shown again after an error keeps its key: nothing was spent
        once: form.map(|f| f.once.clone()).unwrap_or_else(|| once::new_key(app.now())),
        errors,
    })
}

pub async fn new_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let home = home(&app, &who).await?;
    Ok(html(new_page(&app, &who, None, &home, FieldErrors::default())?.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    description: String,
    scope: String,
    expiration: String,
    expires_on: Option<String>,
    /// The form's one-time key (`once`): a resubmission creates nothing.
    once: String,
}

#[derive(Template)]
#[template(path = "settings/token_created.html")]
struct CreatedPage {
    chrome: Chrome,
    token: String,
    description: String,
    scope: &'static str,
    expires: Option<When>,
    username: String,
    registry_host: String,
}

/// The expiry instant the form asks for, or the field to blame and why. A date is used only
/// with "Custom date": one sent beside another choice is a conflict to resolve, never
/// silently dropped.
pub(crate) fn form_expiry(expiration: &str, expires_on: Option<&str>, now: i64) -> Result<Option<i64>, Error> {
    let date = expires_on.unwrap_or("").trim();
    let choice = match expiration {
        "custom" => {
            let day =
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|_| Error::invalid_field("expires_on", "Enter the date as YYYY-MM-DD, for example 2027-01-15."))?;
            return Expiry::Until(day).at(now).map_err(|e| e.beside("expires_on"));
        }
        "none" => Expiry::Never,
        days => Expiry::Days(days.parse::<i64>().map_err(|_| Error::invalid_field("expiration", "Choose one of the listed expirations."))?),
    };
    if !date.is_empty() {
        return Err(Error::invalid_field(
            "expires_on",
            "A date is set, but Expiration is not \u{201c}Custom date\u{201d}. Choose \u{201c}Custom date\u{201d} to use the date, or clear it.",
        ));
    }
    choice.at(now).map_err(|e| e.beside("expiration"))
}

#[derive(Template)]
#[template(path = "settings/token_repeated.html")]
pub(crate) struct RepeatedPage {
    pub chrome: Chrome,
    /// The list of the tokens the form made one of.
    pub back: String,
}

/// What a creation came to.
enum Creation {
    Created(Box<(AccessToken, PlainToken)>),
    /// This form was submitted before: its token exists, and its secret is never shown again.
    Repeated,
    Stale,
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<CreateForm>) -> Result<HttpResponse, PageError> {
    if once::made_at(&form.once).is_none() {
        return Err(PageError::from(Error::invalid("This form has no valid one-time key. Open the new-token page again.")));
    }
    let now = app.now();
    let mut errors = FieldErrors::default();
    let description = tokens::check_description(&form.description).map_err(|e| errors.add("description", e)).ok();
    let scope = Scope::parse(&form.scope);
    if scope.is_none() {
        errors.add("scope", "Choose one of the listed access permissions.");
    }
    let expires_at = form_expiry(&form.expiration, form.expires_on.as_deref(), now).map_err(|e| errors.refuse(e)).ok();
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let (true, Some(description), Some(scope), Some(expires_at)) = (errors.is_empty(), description, scope, expires_at) {
        let (uid, client, key) = (who.user.id, info.client.clone(), form.once.clone());
        let created = app
            .db(move |c| {
                crate::db::write_tx(c, |c| match once::spend(c, uid, &key, now)? {
                    Spent::First => tokens::create(c, uid, NewToken { description, scope, expires_at }, &client, now).map(|made| Creation::Created(Box::new(made))),
                    Spent::Again => Ok(Creation::Repeated),
                    Spent::Stale => Ok(Creation::Stale),
                })
            })
            .await;
        match created {
            Ok(Creation::Repeated) => {
                let page = RepeatedPage { chrome: Chrome::signed_in("Token already created", "tokens", &who)?, back: "/settings/tokens".into() };
                return Ok(HttpResponse::Conflict().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?));
            }
            Ok(Creation::Stale) => {
                errors.add("form", "This form was opened more than a day ago. Check it and generate again.");
                let fresh = CreateForm { once: once::new_key(now), ..form };
                let page = new_page(&app, &who, Some(&fresh), &home(&app, &who).await?, errors)?;
                return Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.render()?));
            }
            Ok(Creation::Created(made)) => {
                let (token, plain) = *made;
                let page = CreatedPage {
                    chrome: Chrome::signed_in("Copy access token", "tokens", &who)?,
                    token: plain.expose().to_string(),
                    scope: token.scope().label(),
                    expires: token.expires_at.map(|t| when(t, now)),
                    description: token.description,
                    username: who.user.username.clone(),
                    registry_host: app.settings.registry_host.clone(),
                };
                // rendered in answer to the POST, never redirected to: the plaintext exists
                // only in this response, which no cache may keep
                return Ok(HttpResponse::Created().content_type("text/html; charset=utf-8").insert_header((header::CACHE_CONTROL, "no-store")).body(page.render()?));
            }
            Err(Error::ScopeNotInPlan) => {
                status = StatusCode::FORBIDDEN;
                errors.add("scope", tokens::SCOPE_MESSAGE);
            }
            Err(Error::PlanLimit { limit, held }) => {
                status = StatusCode::FORBIDDEN;
                errors.add("form", tokens::limit_message(limit, held));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let page = new_page(&app, &who, Some(&form), &home(&app, &who).await?, errors)?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.render()?))
}

#[derive(Template)]
#[template(path = "settings/token_edit.html")]
struct EditPage {
    chrome: Chrome,
    token: Row,
    description: String,
    active: bool,
    scopes: Vec<ScopeOption>,
    errors: FieldErrors,
}

async fn owned(app: &AppState, user_id: i32, uuid: String) -> Result<AccessToken, PageError> {
    app.db(move |c| tokens::find_owned(c, user_id, &uuid)).await?.ok_or(PageError::not_found())
}

pub async fn edit_form(app: web::Data<AppState>, who: SignedIn, uuid: web::Path<String>) -> Result<HttpResponse, PageError> {
    let token = owned(&app, who.user.id, uuid.into_inner()).await?;
    if token.is_expired(app.now()) {
        return Err(PageError::from(Error::Expired));
    }
    let (description, active) = (token.description.clone(), token.is_active);
    let scopes = scope_options(home(&app, &who).await?.plan(), &token.scope);
    let page =
        EditPage { chrome: Chrome::signed_in("Edit access token", "tokens", &who)?, token: row(token, app.now()), description, active, scopes, errors: FieldErrors::default() };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditForm {
    description: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
    /// The permissions, when the form offers to change them.
    scope: Option<String>,
}

fn scope_options(plan: Plan, chosen: &str) -> Vec<ScopeOption> {
    Scope::ALL
        .into_iter()
        .map(|s| ScopeOption {
            value: s.as_str(),
            label: s.label(),
            explanation: s.explanation(),
            enabled: s.allowed_on(plan),
            selected: s.as_str() == chosen && s.allowed_on(plan),
        })
        .collect()
}

pub async fn edit(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, uuid: web::Path<String>, CsrfForm(form): CsrfForm<EditForm>) -> Result<HttpResponse, PageError> {
    let uuid = uuid.into_inner();
    let active = form.active.is_some();
    let mut errors = FieldErrors::default();
    let description = tokens::check_description(&form.description).map_err(|e| errors.add("description", e)).ok();
    let scope = match form.scope.as_deref() {
        None => None,
        Some(s) => Scope::parse(s).or_else(|| {
            errors.add("scope", "Choose one of the listed access permissions.");
            None
        }),
    };
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if let (true, Some(description)) = (errors.is_empty(), description) {
        let (uid, client, now, key) = (who.user.id, info.client.clone(), app.now(), uuid.clone());
        // the whole form or nothing: a permission the plan refuses leaves the name as it was
        let saved = app
            .db(move |c| {
                crate::db::write_tx(c, |c| {
                    tokens::update(c, uid, &key, Some(description), Some(active), &client, now)?;
                    match scope {
                        Some(scope) => tokens::set_scope(c, uid, &key, scope, &client, now).map(|_| ()),
                        None => Ok(()),
                    }
                })
            })
            .await;
        match saved {
            Ok(()) => {
                who.session.flash("success", "The token was saved.")?;
                return Ok(redirect("/settings/tokens"));
            }
            Err(Error::ScopeNotInPlan) => {
                status = StatusCode::FORBIDDEN;
                errors.add("scope", tokens::SCOPE_MESSAGE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let token = owned(&app, who.user.id, uuid).await?;
    let chosen = form.scope.clone().unwrap_or_else(|| token.scope.clone());
    let page = EditPage {
        chrome: Chrome::signed_in("Edit access token", "tokens", &who)?,
        scopes: scope_options(home(&app, &who).await?.plan(), &chosen),
        token: row(token, app.now()),
        description: form.description.chars().take(200).collect(),
        active,
        errors,
    };
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyForm {}

async fn set_active(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, uuid: String, active: bool) -> Result<HttpResponse, PageError> {
    let (uid, client, now) = (who.user.id, info.client.clone(), app.now());
    let token = app.db(move |c| tokens::update(c, uid, &uuid, None, Some(active), &client, now)).await?;
    let verb = if active { "activated" } else { "deactivated" };
    who.session.flash("success", format!("\u{201c}{}\u{201d} was {verb}.", crate::text::isolated(&token.description)))?;
    Ok(redirect("/settings/tokens"))
}

pub async fn activate(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, uuid: web::Path<String>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    set_active(app, who, info, uuid.into_inner(), true).await
}

pub async fn deactivate(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, uuid: web::Path<String>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    set_active(app, who, info, uuid.into_inner(), false).await
}

#[derive(Template)]
#[template(path = "settings/token_delete.html")]
struct DeletePage {
    chrome: Chrome,
    rows: Vec<Row>,
    /// The page of "Delete expired tokens", which posts no uuids.
    expired: bool,
}

fn delete_page(who: &SignedIn, list: Vec<AccessToken>, now: i64) -> Result<String, PageError> {
    let title = if list.len() == 1 { "Delete access token" } else { "Delete access tokens" };
    Ok(DeletePage { chrome: Chrome::signed_in(title, "tokens", who)?, rows: list.into_iter().map(|t| row(t, now)).collect(), expired: false }.render()?)
}

pub async fn delete_form(app: web::Data<AppState>, who: SignedIn, uuid: web::Path<String>) -> Result<HttpResponse, PageError> {
    let token = owned(&app, who.user.id, uuid.into_inner()).await?;
    Ok(html(delete_page(&who, vec![token], app.now())?))
}

async fn delete_now(app: &AppState, who: &SignedIn, info: &ClientInfo, uuids: Vec<String>) -> Result<HttpResponse, PageError> {
    let (uid, client, now) = (who.user.id, info.client.clone(), app.now());
    let n = app.db(move |c| tokens::delete(c, uid, &uuids, &client, now)).await?;
    who.session.flash("success", if n == 1 { "1 token was deleted.".to_string() } else { format!("{n} tokens were deleted.") })?;
    Ok(redirect("/settings/tokens"))
}

/// "Delete expired tokens": the confirmation names them; the post deletes every token
/// expired by then.
pub async fn delete_expired_form(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let filter = tokens::Filter { status: Some(Status::Expired), ..Default::default() };
    let (list, _) = app.db(move |c| tokens::search(c, uid, &filter, now, 1, BULK_MAX as i64)).await?;
    if list.is_empty() {
        who.session.flash("info", "You have no expired tokens.")?;
        return Ok(redirect("/settings/tokens"));
    }
    let page = DeletePage { chrome: Chrome::signed_in("Delete expired tokens", "tokens", &who)?, rows: list.into_iter().map(|t| row(t, now)).collect(), expired: true };
    Ok(html(page.render()?))
}

pub async fn delete_expired(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    let (uid, client, now) = (who.user.id, info.client.clone(), app.now());
    let n = app.db(move |c| tokens::delete_expired(c, uid, &client, now)).await?;
    who.session.flash("success", if n == 1 { "1 expired token was deleted.".to_string() } else { format!("{n} expired tokens were deleted.") })?;
    Ok(redirect("/settings/tokens"))
}

pub async fn delete_one(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, uuid: web::Path<String>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    delete_now(&app, &who, &info, vec![uuid.into_inner()]).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkForm {
    #[serde(default)]
    uuid: Vec<String>,
    confirm: Option<String>,
}

/// The most tokens one bulk request may name: a page of the overview holds 25, a script may
/// clear up to 1,000 in one request (one transaction).
const BULK_MAX: usize = 1000;
/// 1,000 uuids take ~42 KiB as a form: this route alone takes up to 64 KiB.
const BULK_FORM_LIMIT: usize = 64 * 1024;

/// Bulk delete: the overview posts the selected uuids here; without `confirm` the answer is
/// the confirmation page naming every token, which posts them back with `confirm`.
pub async fn delete_many(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<BulkForm, BULK_FORM_LIMIT>) -> Result<HttpResponse, PageError> {
    if form.uuid.is_empty() {
        who.session.flash("info", "Select the tokens to delete first.")?;
        return Ok(redirect("/settings/tokens"));
    }
    if form.uuid.len() > BULK_MAX {
        return Err(PageError::from(Error::invalid(format!("Delete at most {BULK_MAX} tokens at a time."))));
    }
    if form.confirm.as_deref() == Some("yes") {
        return delete_now(&app, &who, &info, form.uuid).await;
    }
    let (uid, uuids) = (who.user.id, form.uuid);
    let list = app
        .db(move |c| {
            let mut found = Vec::with_capacity(uuids.len());
            for u in &uuids {
                found.push(tokens::find_owned(c, uid, u)?.ok_or(Error::NotFound)?);
            }
            Ok(found)
        })
        .await?;
    Ok(html(delete_page(&who, list, app.now())?))
}
