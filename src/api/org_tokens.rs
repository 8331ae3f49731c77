//! `/v2/orgs/{org}/access-tokens`: Docker Hub's organization access token endpoints, with
//! its field names. Only the organization's owners may call them, checked again on every
//! request (`orgs::as_owner`), with a password-derived JWT: a personal or an organization
//! access token cannot manage tokens. The same domain functions as the pages.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::{ApiError, ApiJson, ApiPage, ApiUser, page_links};
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::org_tokens::{self, Change, NewOrgToken, OrgToken, Requested, Resources, resources::REPO_TYPE};
use crate::orgs::{self, Actor};

fn object(t: &OrgToken, plaintext: Option<&str>) -> Value {
    let resources: Vec<Value> =
        t.resources().0.iter().map(|r| json!({ "type": REPO_TYPE, "path": r.path, "scopes": r.scope.implied().iter().map(|s| s.as_str()).collect::<Vec<_>>() })).collect();
    let mut o = json!({
        "id": t.uuid,
        "label": t.label,
        "description": t.description,
        "resources": resources,
        "expires_at": t.expires_at.map(iso),
        "is_active": t.is_active,
        "created_by": t.created_by_name,
        "created_at": iso(t.created_at),
        "last_used_at": t.last_used_at.map(iso),
        "token_hint": format!("{}{}", crate::tokens::secret::ORG_PREFIX, t.hint),
    });
    if let Some(token) = plaintext {
        o["token"] = json!(token);
    }
    o
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    label: String,
    #[serde(default)]
    description: Option<String>,
    resources: Vec<Requested>,
    #[serde(default)]
    expires_at: Option<String>,
}

pub async fn create(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, org: web::Path<String>, ApiJson(body): ApiJson<CreateBody>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let now = app.now();
    let label = org_tokens::check_label(&body.label)?;
    let description = org_tokens::check_description(body.description.as_deref().unwrap_or(""))?;
    let expires_at = super::tokens::parse_expiry(body.expires_at.as_deref(), now)?;
    let (user, org, actor) = (who.user.clone(), org.into_inner(), Actor::user(&who.user, &info.client));
    let (token, plain) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, user.id)?;
            let resources = Resources::parse(&org.name, &body.resources)?;
            org_tokens::create(c, org.id, &user, NewOrgToken { label, description, resources, expires_at }, &actor, now)
        })
        .await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(object(&token, Some(plain.expose()))))
}

pub async fn list(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>, q: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let (page, size) = q.get()?;
    let (uid, org) = (who.user.id, org.into_inner());
    let (name, (rows, total)) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, uid)?;
            Ok((org.name, org_tokens::list(c, org.id, page, size)?))
        })
        .await?;
    let (next, previous) = page_links(&format!("{}/v2/orgs/{name}/access-tokens", app.public_url), page, size, total);
    Ok(HttpResponse::Ok().json(json!({
        "total": total,
        "next": next,
        "previous": previous,
        "results": rows.iter().map(|t| object(t, None)).collect::<Vec<_>>(),
    })))
}

pub async fn one(app: web::Data<AppState>, who: ApiUser, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let (uid, (org, id)) = (who.user.id, path.into_inner());
    let token = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, uid)?;
            org_tokens::find(c, org.id, &id)?.ok_or(crate::Error::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(object(&token, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    label: Option<String>,
    description: Option<String>,
    is_active: Option<bool>,
    /// Docker Hub's fields that Berth fixes at creation: named only to be refused clearly.
    resources: Option<Value>,
    expires_at: Option<Value>,
}

pub async fn update(
    app: web::Data<AppState>,
    who: ApiUser,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    if body.resources.is_some() || body.expires_at.is_some() {
        return Err(ApiError::bad_request("An organization access token's resources and expiry are fixed at creation: create a new token for other ones."));
    }
    let change = Change {
        label: body.label.as_deref().map(org_tokens::check_label).transpose()?,
        description: body.description.as_deref().map(org_tokens::check_description).transpose()?,
        active: body.is_active,
    };
    let (user, (org, id), now) = (who.user.clone(), path.into_inner(), app.now());
    let actor = Actor::user(&user, &info.client);
    let token = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, user.id)?;
            org_tokens::update(c, org.id, user.id, &id, change, &actor, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(object(&token, None)))
}

pub async fn remove(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let (user, (org, id), now) = (who.user.clone(), path.into_inner(), app.now());
    let actor = Actor::user(&user, &info.client);
    app.db(move |c| {
        let org = orgs::as_owner(c, &org, user.id)?;
        org_tokens::delete(c, org.id, user.id, &id, &actor, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
