//! `GET /v2/user`: the caller's profile (readable with a PAT-derived JWT too).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiUser};
use crate::server::AppState;

pub fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub async fn profile(who: ApiUser) -> Result<HttpResponse, ApiError> {
    let u = &who.user;
    Ok(HttpResponse::Ok().json(json!({
        "id": u.id.to_string(),
        "username": u.username,
        "email": u.email,
        "plan": u.plan,
        "date_joined": iso(u.created_at),
    })))
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
    page_size: Option<i64>,
}

/// `GET /v2/repositories/{namespace}/`: all of the caller's own repositories, only the
/// public ones of another namespace. Readable with a PAT-derived JWT.
pub async fn repositories(app: web::Data<AppState>, who: ApiUser, namespace: web::Path<String>, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (page, size) = (q.page.unwrap_or(1), q.page_size.unwrap_or(10));
    if page < 1 || size < 1 {
        return Err(ApiError::bad_request("page and page_size count from 1."));
    }
    let size = size.min(super::tokens::MAX_PAGE_SIZE);
    let namespace = namespace.into_inner().to_lowercase();
    let (ns, own) = (namespace.clone(), namespace == who.user.username);
    let (rows, total) = app.db(move |c| crate::registry::repos::in_namespace(c, &ns, own, page, size)).await?;
    let link = |p: i64| format!("{}/v2/repositories/{namespace}/?page={p}&page_size={size}", app.public_url);
    Ok(HttpResponse::Ok().json(json!({
        "count": total,
        "next": (page.saturating_mul(size) < total).then(|| link(page.saturating_add(1))),
        "previous": (page > 1).then(|| link(page - 1)),
        "results": rows.iter().map(|r| json!({
            "name": r.name.split_once('/').map(|(_, n)| n).unwrap_or(&r.name),
            "namespace": namespace,
            "is_private": !r.is_public,
            "last_updated": r.last_push_at.map(iso),
        })).collect::<Vec<_>>(),
    })))
}
