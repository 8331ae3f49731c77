//! `GET /v2/user`: the caller's profile (readable with a PAT-derived JWT too).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, ApiPage, ApiUser, page_links};
use crate::app::AppState;

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

/// `GET /v2/repositories/{namespace}/`: the private repositories too when the caller's
/// credential may pull them (its own namespace, with any scope but Public Repo
/// Read-only), else only the public ones. Readable with a PAT-derived JWT.
pub async fn repositories(app: web::Data<AppState>, who: ApiUser, namespace: web::Path<String>, q: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    let (page, size) = q.get()?;
    let namespace = namespace.into_inner().to_lowercase();
    let (ns, private_too) = (namespace.clone(), crate::registry::grants::sees_private_repositories(&who.credential(), &namespace));
    let (rows, total) = app.db(move |c| crate::repositories::in_namespace(c, &ns, private_too, page, size)).await?;
    let (next, previous) = page_links(&format!("{}/v2/repositories/{namespace}/", app.public_url), page, size, total);
    Ok(HttpResponse::Ok().json(json!({
        "count": total,
        "next": next,
        "previous": previous,
        "results": rows.iter().map(|r| json!({
            "name": r.name.split_once('/').map(|(_, n)| n).unwrap_or(&r.name),
            "namespace": namespace,
            "is_private": !r.is_public,
            "last_updated": r.last_push_at.map(iso),
        })).collect::<Vec<_>>(),
    })))
}
