//! One repository in Docker Hub's shape: `GET|PATCH|DELETE /v2/repositories/{ns}/{repo}/`.
//!
//! Seen as `/token` lets the caller pull it (`tags::readable`); its descriptions changed by
//! whoever `/token` would let delete there (an admin of it, with a credential reaching that
//! far); its visibility only with a password sign-in of its owner (an organization's owners
//! and editors), never a token; deleted as its tags are, digest by digest in the registry,
//! then forgotten.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::tags::readable;
use super::{ApiCaller, ApiError, ApiJson, ApiReader};
use crate::Error;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::owners::Kind;
use crate::repositories::{self as repos, tags};

fn name_of(path: (String, String)) -> String {
    format!("{}/{}", path.0.to_lowercase(), path.1.to_lowercase())
}

/// Docker Hub's repository object.
fn repository_object(app: &AppState, c: &mut crate::db::Conn, name: &str, id: i32) -> Result<Value, Error> {
    let (namespace, short) = name.split_once('/').unwrap_or(("", name));
    let owner = crate::owners::find_by_name(c, namespace)?.ok_or(Error::NotFound)?;
    let repo = repos::find(c, owner.id, name)?.ok_or(Error::NotFound)?;
    let stats = tags::stats(c, id)?;
    let (description, full_description) = repos::descriptions(c, id)?;
    Ok(json!({
        "name": short,
        "namespace": namespace,
        "user": namespace,
        "repository_type": "image",
        "status": 1,
        "status_description": "active",
        "is_private": !repo.is_public,
        "description": description,
        "full_description": full_description,
        "star_count": 0,
        "pull_count": stats.pull_count,
        "last_updated": stats.last_updated.map(iso),
        "date_registered": iso(repo.created_at),
        "tag_count": stats.tag_count,
        "pull_command": format!("docker pull {}/{name}", app.settings.registry_host),
    }))
}

pub async fn one(app: web::Data<AppState>, who: ApiReader, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let name = name_of(path.into_inner());
    let (credential, now, state) = (who.credential(), app.now(), app.clone());
    let found = app
        .db(move |c| {
            let (id, _) = readable(c, &credential, &name, now)?;
            repository_object(&state, c, &name, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    description: Option<String>,
    full_description: Option<String>,
    #[serde(default, deserialize_with = "present_bool")]
    is_private: Option<bool>,
}

/// A visibility given is `true` or `false`: `null` is refused, not read as "unchanged".
fn present_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool::deserialize(d).map(Some)
}

/// A README of `repositories::FULL_DESCRIPTION_MAX` characters fits even with every one
/// escaped in JSON as a surrogate pair (`\uXXXX\uXXXX`, 12 bytes): a longer one is then
/// refused for its length, by name, not for its bytes.
const PATCH_LIMIT: usize = 320 * 1024;

pub async fn patch(
    app: web::Data<AppState>,
    who: ApiCaller,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    ApiJson(body): ApiJson<PatchBody, PATCH_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    let name = name_of(path.into_inner());
    // a repository made public shows its images to everyone: a person decides it, signed in
    // with their password, never a token
    // an organization access token manages nothing; it may only read and, where its
    // resources say so, delete images
    let person = match (&who, body.is_private) {
        (ApiCaller::OrgToken(_), _) => return Err(ApiError::oat_forbidden()),
        (ApiCaller::User(u), Some(_)) => {
            u.require_password()?;
            u.user.clone()
        }
        (ApiCaller::User(u), None) => u.user.clone(),
    };
    let (credential, now, state) = (who.credential(), app.now(), app.clone());
    let actor = crate::orgs::Actor::user(&person, &info.client);
    let updated = app
        .db(move |c| {
            let (id, admin) = readable(c, &credential, &name, now)?;
            if !admin {
                return Err(Error::denied("Changing a repository needs its admin, signed in with the password or a \u{201c}Read, Write, Delete\u{201d} token."));
            }
            // one transaction: a refused description leaves the visibility as it was
            crate::db::write_tx(c, |c| {
                if let Some(private) = body.is_private {
                    let (user, actor) = (&person, &actor);
                    let namespace = name.split('/').next().unwrap_or("");
                    let owner = crate::owners::find_by_name(c, namespace)?.ok_or(Error::NotFound)?;
                    match owner.kind {
                        Kind::User if owner.user_id == Some(user.id) => {
                            repos::change_visibility(c, user.id, &name, !private, &actor.client, now)?;
                        }
                        Kind::User => return Err(Error::denied("Only the repository's owner changes its visibility.")),
                        Kind::Organization => crate::orgs::repositories::set_public(c, namespace, user.id, &name, !private, actor, now)?,
                    }
                }
                repos::describe(c, id, body.description.as_deref(), body.full_description.as_deref())
            })?;
            repository_object(&state, c, &name, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Deletes every manifest of the repository in the registry (those Berth records and those
/// only the registry's tag list names), then forgets the repository. A registry that
/// refuses part way leaves the rest recorded, and the answer says what went.
pub async fn delete(app: web::Data<AppState>, who: ApiCaller, info: ClientInfo, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let name = name_of(path.into_inner());
    let (credential, now, full, client) = (who.credential(), app.now(), name.clone(), info.client.clone());
    let token = match &who {
        ApiCaller::OrgToken(t) => Some((t.auth.org.id, t.auth.token_uuid.clone())),
        ApiCaller::User(_) => None,
    };
    let actor = app
        .db(move |c| {
            let (_, admin) = readable(c, &credential, &full, now)?;
            if !admin {
                return Err(Error::denied("Deleting a repository needs its admin: a password sign-in, a \u{201c}Read, Write, Delete\u{201d} token or an organization token with scope-image-delete on it."));
            }
            // an organization's audit log names a token by its hint, as its first use does
            let hint = match token {
                Some((org, uuid)) => Some(crate::org_tokens::find(c, org, &uuid)?.ok_or(Error::NotFound)?.hint),
                None => None,
            };
            Ok(hint.map(|h| crate::orgs::Actor { name: crate::org_tokens::hint_shown(&h), client }))
        })
        .await?;
    let actor = match (actor, &who) {
        (Some(a), _) => a,
        (None, ApiCaller::User(u)) => crate::orgs::Actor::user(&u.user, &info.client),
        (None, ApiCaller::OrgToken(_)) => return Err(Error::NotFound.into()),
    };
    let done = crate::registry_events::delete::delete_repository(&app, &name, &actor).await?;
    let went = if done.deleted.is_empty() { "no tags".to_string() } else { done.deleted.join(", ") };
    if let Some((left, why)) = done.left {
        let detail = format!("{why} Deleted in the registry: {went} ({} manifest(s)); still held: {}. {name} stays.", done.manifests, left.join(", "));
        return Err(ApiError::new(crate::http::status_of(&why), detail));
    }
    Ok(HttpResponse::Accepted().json(json!({ "detail": format!("{name} and its {} manifest(s) were deleted in the registry (tags: {went}); its disk space returns at the registry's next `registry garbage-collect`.", done.manifests) })))
}
