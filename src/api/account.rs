//! `GET /v2/user`: the caller's profile (readable with a PAT-derived JWT too).

use actix_web::HttpResponse;
use serde_json::json;

use super::{ApiError, ApiUser};

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
