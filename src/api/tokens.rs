//! `/v2/access-tokens`: Docker Hub's access-token endpoints, with its field names. The same
//! domain functions as the web pages (plan gating, limits, expiry, ownership, activity);
//! a PAT-derived JWT gets 403 on all of them — a token cannot manage tokens.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::{ApiError, ApiJson, ApiPage, ApiUser, page_links};
use crate::Error;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::tokens::{self, AccessToken, Expiry, NewToken, Scope};

fn object(t: &AccessToken, plaintext: Option<&str>) -> Value {
    json!({
        "uuid": t.uuid,
        "client_id": "berth",
        "creator_ip": t.creator_ip,
        "creator_ua": t.creator_ua,
        "created_at": iso(t.created_at),
        "last_used": t.last_used_at.map(iso),
        "generated_by": "manual",
        "is_active": t.is_active,
        "token": plaintext.unwrap_or(""),
        "token_label": t.description,
        "scopes": [t.scope],
        "expires_at": t.expires_at.map(iso),
        "last_used_ip": t.last_used_ip,
        "last_used_ua": t.last_used_ua,
        "token_hint": format!("berth_pat_{}", t.hint),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    token_label: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// The widest known scope named; an unknown one is an error.
fn pick_scope(scopes: &[String]) -> Result<Scope, Error> {
    if scopes.is_empty() {
        return Ok(Scope::Admin);
    }
    let mut parsed = Vec::new();
    for s in scopes {
        parsed.push(Scope::parse(s).ok_or_else(|| Error::invalid_field("scopes", format!("Unknown scope {s:?}: use repo:admin, repo:write, repo:read or repo:public_read.")))?);
    }
    Ok(Scope::ALL.into_iter().find(|s| parsed.contains(s)).expect("at least one scope"))
}

/// `expires_at`: null, or an RFC 3339 instant within the tokens' one-year rule.
pub(super) fn parse_expiry(raw: Option<&str>, now: i64) -> Result<Option<i64>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let at = chrono::DateTime::parse_from_rfc3339(raw).map_err(|_| Error::invalid_field("expires_at", "Use an RFC 3339 time, e.g. 2027-01-31T23:59:59Z, or null."))?.timestamp();
    Expiry::At(at).at(now).map_err(|e| e.beside("expires_at"))
}

pub async fn create(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, ApiJson(body): ApiJson<CreateBody>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let now = app.now();
    let mut fields = serde_json::Map::new();
    let description = tokens::check_description(&body.token_label).map_err(|e| fields.insert("token_label".into(), json!([e.to_string()]))).ok();
    let scope = pick_scope(&body.scopes).map_err(|e| fields.insert("scopes".into(), json!([e.to_string()]))).ok();
    let expires_at = parse_expiry(body.expires_at.as_deref(), now).map_err(|e| fields.insert("expires_at".into(), json!([e.to_string()]))).ok();
    let (Some(description), Some(scope), Some(expires_at)) = (description, scope, expires_at) else {
        return Err(ApiError::Fields(fields, "The access token could not be created.".into()));
    };
    let (uid, client) = (who.user.id, info.client.clone());
    // a plan limit or a scope the plan lacks is a 403 with its reason (the domain error's kind)
    let (token, plain) = app.db(move |c| tokens::create(c, uid, NewToken { description, scope, expires_at }, &client, now)).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(object(&token, Some(plain.expose()))))
}

pub async fn list(app: web::Data<AppState>, who: ApiUser, q: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    list_under(&app, who, &q, "/v2/access-tokens").await
}

/// A page of the caller's tokens, its links under `path`.
async fn list_under(app: &AppState, who: ApiUser, q: &ApiPage, path: &str) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let (page, size) = q.get()?;
    let (uid, now) = (who.user.id, app.now());
    let (rows, counts) = app.db(move |c| Ok((tokens::page(c, uid, page, size)?, tokens::counts(c, uid, now)?))).await?;
    let (next, previous) = page_links(&format!("{}{path}", app.public_url), page, size, counts.total());
    Ok(HttpResponse::Ok().json(json!({
        "count": counts.total(),
        "next": next,
        "previous": previous,
        "active_count": counts.active,
        "results": rows.iter().map(|t| object(t, None)).collect::<Vec<_>>(),
    })))
}

async fn owned(app: &AppState, uid: i32, uuid: String) -> Result<AccessToken, ApiError> {
    app.db(move |c| tokens::find_owned(c, uid, &uuid)).await?.ok_or_else(ApiError::not_found)
}

pub async fn one(app: web::Data<AppState>, who: ApiUser, uuid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    Ok(HttpResponse::Ok().json(object(&owned(&app, who.user.id, uuid.into_inner()).await?, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    token_label: Option<String>,
    is_active: Option<bool>,
}

pub async fn update(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, uuid: web::Path<String>, ApiJson(body): ApiJson<PatchBody>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let description = match body.token_label.as_deref().map(tokens::check_description) {
        Some(Err(e)) => {
            let mut fields = serde_json::Map::new();
            fields.insert("token_label".into(), json!([e.to_string()]));
            return Err(ApiError::Fields(fields, "The access token could not be changed.".into()));
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let (uid, uuid, client, now) = (who.user.id, uuid.into_inner(), info.client.clone(), app.now());
    let token = app.db(move |c| tokens::update(c, uid, &uuid, description, body.is_active, &client, now)).await?;
    Ok(HttpResponse::Ok().json(object(&token, None)))
}

pub async fn remove(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, uuid: web::Path<String>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let (uid, uuid, client, now) = (who.user.id, uuid.into_inner(), info.client.clone(), app.now());
    app.db(move |c| tokens::delete(c, uid, &[uuid], &client, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v2/api_tokens`: Docker Hub's earlier name of the token list, which Docker's Hub
/// CLI calls; the same answer as `/v2/access-tokens`. `GET|PATCH|DELETE
/// /v2/api_tokens/{uuid}` are the `/v2/access-tokens/{uuid}` handlers themselves.
pub async fn legacy_list(app: web::Data<AppState>, who: ApiUser, q: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    list_under(&app, who, &q, "/v2/api_tokens").await
}

/// The body of `POST /v2/api_tokens`, from before tokens had scopes: the Hub CLI sends a
/// label (none when the user gave no description) and always `"is_active": false`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyCreateBody {
    #[serde(default)]
    token_label: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    /// Read and ignored: a token is made active, as Docker Hub made it (an inactive new
    /// token would be of no use, and the CLI prints it as the one to log in with).
    #[serde(default, rename = "is_active")]
    _is_active: Option<bool>,
}

/// `POST /v2/api_tokens`: a token as Docker Hub made one before scopes — active, with the
/// broadest scope the plan allows unless `scopes` names one, never expiring, within the
/// plan's limit (the same creation as `/v2/access-tokens`). Without a label it is named by
/// its creation day; a blank one is refused as on `/v2/access-tokens`.
pub async fn legacy_create(app: web::Data<AppState>, who: ApiUser, info: ClientInfo, ApiJson(body): ApiJson<LegacyCreateBody>) -> Result<HttpResponse, ApiError> {
    who.require_password()?;
    let now = app.now();
    // absent (the CLI omits an empty description); a label sent is checked as everywhere
    let label = body.token_label.unwrap_or_else(|| format!("Created on {}", chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().format("%Y-%m-%d")));
    let mut fields = serde_json::Map::new();
    let description = tokens::check_description(&label).map_err(|e| fields.insert("token_label".into(), json!([e.to_string()]))).ok();
    let named = if body.scopes.is_empty() { Ok(None) } else { pick_scope(&body.scopes).map(Some) };
    let named = named.map_err(|e| fields.insert("scopes".into(), json!([e.to_string()]))).ok();
    let (Some(description), Some(named)) = (description, named) else {
        return Err(ApiError::Fields(fields, "The access token could not be created.".into()));
    };
    let (uid, client) = (who.user.id, info.client.clone());
    let (token, plain) = app
        .db(move |c| {
            let scope = match named {
                Some(s) => s,
                None => tokens::broadest_scope(crate::owners::of_user(c, uid)?.plan()),
            };
            tokens::create(c, uid, NewToken { description, scope, expires_at: None }, &client, now)
        })
        .await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(object(&token, Some(plain.expose()))))
}
