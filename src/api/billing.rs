//! `GET /api/billing/v4/accounts/{id}/hub-plan`: Docker Hub's billing answer of an
//! account's plan, which Docker's Hub CLI (`hub-tool account info`) reads to print the
//! account's limits. Berth bills nothing and limits nothing but access tokens, so the
//! answer is the plan's name and Docker Hub's "unlimited" (9999) wherever Berth sets no
//! limit. `{id}` is an account id as the API shows it (`/v2/user`'s, an organization's):
//! the caller's own namespace, or an organization they belong to; any other is 404.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, ApiUser};
use crate::Error;
use crate::app::AppState;
use crate::owners::{Kind, Owner, OwnerId};

/// Docker Hub's figure for "no limit", which the Hub CLI prints as "unlimited".
pub const UNLIMITED: i64 = 9999;

/// The plan object of an owner: a user's namespace has one seat and no teams (teams are an
/// organization's); nothing else is limited; Berth runs no builds.
fn plan_object(owner: &Owner) -> serde_json::Value {
    let (seats, teams) = match owner.kind {
        Kind::User => (1, 0),
        Kind::Organization => (UNLIMITED, UNLIMITED),
    };
    json!({
        "name": owner.plan().as_str(),
        "legacy": false,
        "seats": seats,
        "private_repos": UNLIMITED,
        "teams": teams,
        "collaborators": UNLIMITED,
        "parallel_builds": 0,
        "duration": "",
    })
}

/// The owner `id` names, when it is the caller's own namespace or an organization the
/// caller belongs to; `NotFound` otherwise, so an answer tells nothing about others.
fn visible_account(conn: &mut crate::db::Conn, id: &str, user_id: i32) -> Result<Owner, Error> {
    let id: i32 = id.trim().parse().map_err(|_| Error::NotFound)?;
    let owner = crate::owners::find_by_id(conn, OwnerId(id))?.ok_or(Error::NotFound)?;
    let mine = match owner.kind {
        Kind::User => owner.user_id == Some(user_id),
        Kind::Organization => crate::orgs::role_of(conn, owner.id, user_id)?.is_some(),
    };
    if mine { Ok(owner) } else { Err(Error::NotFound) }
}

/// Readable with a PAT-derived JWT too: it reads, as `/v2/user` does, and changes nothing.
pub async fn hub_plan(app: web::Data<AppState>, who: ApiUser, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (id, uid) = (id.into_inner(), who.user.id);
    let owner = app.db(move |c| visible_account(c, &id, uid)).await?;
    Ok(HttpResponse::Ok().json(plan_object(&owner)))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
        .service(super::resource("/accounts/{id}/hub-plan", "GET").route(web::get().to(hub_plan)))
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::not_found()) }));
}
