//! A repository's tags in Docker Hub's shapes: `GET /v2/repositories/{ns}/{repo}/tags/`
//! (paged, `ordering`, `name` filter), `GET|DELETE …/tags/{tag}/`, and the same under
//! Docker Hub's current `/v2/namespaces/{ns}/repositories/{repo}/tags[/{tag}]`.
//!
//! Who sees and deletes what is the `/token` rule itself (`registry::authorization::decide`
//! for pull and delete on that repository): a repository the caller may not pull is not
//! found; a delete needs the delete grant (a password-derived JWT, a "Read, Write, Delete"
//! token, an organization token with `scope-image-delete` there). The registry deletes by
//! digest, taking every tag on it, so a delete while other tags share the digest is a 409
//! naming them, and deletes nothing.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::{ApiCaller, ApiError, ApiPage, ApiReader, page_links};
use crate::Error;
use crate::app::AppState;
use crate::registry::grants::{Credential, Requested};
use crate::repositories::tags::{self, Ordering, Tag};

#[derive(Debug, Deserialize)]
pub struct TagQuery {
    ordering: Option<String>,
    name: Option<String>,
}

/// What the caller may do on repository `name`: pull, delete.
fn reach(c: &mut crate::db::Conn, credential: &Credential, name: &str, now: i64) -> Result<(bool, bool), Error> {
    let asked = Requested { kind: "repository".into(), name: name.to_string(), actions: vec!["pull".into(), "delete".into()] };
    let (access, _) = crate::registry::authorization::decide(c, credential, None, vec![asked], now)?;
    let actions = access.into_iter().next().map(|a| a.actions).unwrap_or_default();
    Ok((actions.iter().any(|a| a == "pull"), actions.iter().any(|a| a == "delete")))
}

/// The repository's id when the caller may pull it; `NotFound` otherwise (the two look alike).
pub(super) fn readable(c: &mut crate::db::Conn, credential: &Credential, name: &str, now: i64) -> Result<(i32, bool), Error> {
    if !crate::registry::grants::valid_repository_name(name) {
        return Err(Error::NotFound);
    }
    let (pull, delete) = reach(c, credential, name, now)?;
    let id = tags::repository_id(c, name)?.filter(|_| pull).ok_or(Error::NotFound)?;
    Ok((id, delete))
}

fn when(t: Option<i64>) -> Value {
    t.map(iso).map(Value::String).unwrap_or(Value::Null)
}

/// A tag as Docker Hub answers it; `images` one per platform.
fn tag_object(t: &Tag) -> Value {
    let last_pulled = when(t.last_pulled_at.or(t.digest_last_pulled_at));
    let images: Vec<Value> = t
        .platforms
        .iter()
        .map(|p| {
            json!({
                "architecture": p.architecture,
                "os": p.os,
                "variant": p.variant,
                "digest": p.digest,
                "size": p.size,
                "status": "active",
                "last_pulled": when(t.digest_last_pulled_at),
                "last_pushed": iso(t.pushed_at),
            })
        })
        .collect();
    json!({
        "name": t.name,
        "digest": t.digest,
        "media_type": t.media_type,
        "full_size": t.size.unwrap_or(0),
        "last_updated": iso(t.pushed_at),
        "last_updater_username": t.pushed_by,
        "tag_last_pulled": last_pulled,
        "tag_last_pushed": iso(t.pushed_at),
        "tag_status": "active",
        "pull_count": t.pull_count,
        "images": images,
    })
}

/// The tag list's order (`tags::Ordering::parse`); the newest first when none is asked.
fn ordering_of(raw: Option<&str>) -> Result<Ordering, ApiError> {
    match raw {
        None => Ok(Ordering::NewestFirst),
        Some(raw) => Ordering::parse(raw).ok_or_else(|| ApiError::bad_request(format!("Unknown ordering {}: use last_updated, -last_updated, name or -name.", json!(raw)))),
    }
}

pub async fn list(app: web::Data<AppState>, who: ApiReader, path: web::Path<(String, String)>, q: web::Query<ApiPage>, f: web::Query<TagQuery>) -> Result<HttpResponse, ApiError> {
    let (page, size) = q.get()?;
    let ordering = ordering_of(f.ordering.as_deref())?;
    let filter: Option<String> = f.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(|n| n.chars().take(128).collect());
    let (namespace, repo) = path.into_inner();
    let name = format!("{}/{}", namespace.to_lowercase(), repo.to_lowercase());
    let (credential, now, full) = (who.credential(), app.now(), name.clone());
    let (rows, total) = app
        .db(move |c| {
            let (id, _) = readable(c, &credential, &full, now)?;
            tags::page(c, id, ordering, filter.as_deref(), page, size)
        })
        .await?;
    let (next, previous) = page_links(&format!("{}/v2/repositories/{name}/tags/", app.public_url), page, size, total);
    Ok(HttpResponse::Ok().json(json!({
        "count": total,
        "next": next,
        "previous": previous,
        "results": rows.iter().map(tag_object).collect::<Vec<_>>(),
    })))
}

pub async fn one(app: web::Data<AppState>, who: ApiReader, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let (namespace, repo, tag) = path.into_inner();
    let name = format!("{}/{}", namespace.to_lowercase(), repo.to_lowercase());
    let (credential, now) = (who.credential(), app.now());
    let found = app
        .db(move |c| {
            let (id, _) = readable(c, &credential, &name, now)?;
            tags::find(c, id, &tag)?.ok_or(Error::NotFound)
        })
        .await?;
    Ok(HttpResponse::Ok().json(tag_object(&found)))
}

pub async fn delete(app: web::Data<AppState>, who: ApiCaller, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let (namespace, repo, tag) = path.into_inner();
    let name = format!("{}/{}", namespace.to_lowercase(), repo.to_lowercase());
    let (credential, now, full) = (who.credential(), app.now(), name.clone());
    let (found, others) = app
        .db(move |c| {
            let (id, delete) = readable(c, &credential, &full, now)?;
            let found = tags::find(c, id, &tag)?.ok_or(Error::NotFound)?;
            if !delete {
                return Err(Error::denied(
                    "Deleting a tag needs a password sign-in, a \u{201c}Read, Write, Delete\u{201d} token or an organization token with scope-image-delete on this repository.",
                ));
            }
            let others = tags::others_on_digest(c, id, &found.digest, &found.name)?;
            Ok((found, others))
        })
        .await?;
    if !others.is_empty() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            format!(
                "The registry deletes by digest: deleting {} would delete {} too, which share its digest {}. Nothing was deleted.",
                found.name,
                others.join(", "),
                found.digest
            ),
        ));
    }
    crate::registry_events::delete::delete_digest(&app, &name, &found.digest).await?;
    Ok(HttpResponse::NoContent().finish())
}
