//! Repositories as Berth records them: created at the first authorized push, private
//! unless `BERTH_DEFAULT_VISIBILITY=public`.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::{repositories, users};
use crate::registry::grants::RepoFacts;

/// The facts the grant needs about `name` (grammar already checked).
/// `me` is the caller's own enabled account (name, id), when known: a request for the
/// caller's own namespace (nearly every push and pull) then needs no owner lookup.
pub fn facts(conn: &mut SqliteConnection, name: &str, me: Option<(&str, i32)>) -> Result<RepoFacts, Error> {
    let namespace = name.split('/').next().unwrap_or("");
    let owner: Option<(i32, bool)> = match me {
        Some((my_name, my_id)) if my_name == namespace => Some((my_id, false)),
        _ => users::table.filter(users::username.eq(namespace)).select((users::id, users::is_disabled)).first(conn).optional()?,
    };
    let repo: Option<(bool, Option<Timestamp>)> =
        repositories::table.filter(repositories::name.eq(name)).select((repositories::is_public, repositories::last_push_at)).first(conn).optional()?;
    Ok(RepoFacts { owner_id: owner.filter(|(_, disabled)| !disabled).map(|(id, _)| id), public: repo.map(|r| r.0), last_push_at: repo.and_then(|r| r.1) })
}

/// A push grant's time is noted at most this often per repository: every `docker push`
/// asks for a token (often several), and a write per request would serialise them all.
pub const PUSH_NOTED_EVERY: Timestamp = 60;

/// Whether a push grant at `now` must be written: the repository is new, or its last
/// noted push is a minute old.
pub fn push_needs_recording(facts: &RepoFacts, now: Timestamp) -> bool {
    facts.public.is_none() || facts.last_push_at.is_none_or(|t| now - t >= PUSH_NOTED_EVERY)
}

/// Records a push grant: creates the repository the first time, notes the push time.
/// The upsert re-checks the minute itself, so of concurrent requests that all saw the note
/// due only one writes it (the others' conflicting insert updates nothing).
pub fn record_push(conn: &mut SqliteConnection, owner_id: i32, name: &str, public_by_default: bool, now: Timestamp) -> Result<(), Error> {
    use diesel::query_dsl::methods::FilterDsl; // the upsert's WHERE
    diesel::insert_into(repositories::table)
        .values((
            repositories::owner_id.eq(owner_id),
            repositories::name.eq(name),
            repositories::is_public.eq(public_by_default),
            repositories::created_at.eq(now),
            repositories::last_push_at.eq(Some(now)),
        ))
        .on_conflict(repositories::name)
        .do_update()
        .set(repositories::last_push_at.eq(Some(now)))
        .filter(repositories::last_push_at.is_null().or(repositories::last_push_at.le(Some(now - PUSH_NOTED_EVERY))))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = repositories)]
pub struct Repository {
    pub id: i32,
    pub owner_id: i32,
    pub name: String,
    pub is_public: bool,
    pub created_at: Timestamp,
    pub last_push_at: Option<Timestamp>,
}

pub fn list(conn: &mut SqliteConnection, owner_id: i32) -> Result<Vec<Repository>, Error> {
    Ok(repositories::table.filter(repositories::owner_id.eq(owner_id)).order(repositories::name.asc()).select(Repository::as_select()).load(conn)?)
}

/// One page of a namespace's repositories as `viewer` may see them: all of them for the
/// owner, the public ones for anyone else. Returns (page, total).
pub fn in_namespace(conn: &mut SqliteConnection, namespace: &str, owner_view: bool, page: i64, per_page: i64) -> Result<(Vec<Repository>, i64), Error> {
    let Some(owner) = users::table.filter(users::username.eq(namespace)).select(users::id).first::<i32>(conn).optional()? else { return Ok((Vec::new(), 0)) };
    let visible = || {
        let q = repositories::table.filter(repositories::owner_id.eq(owner)).into_boxed();
        if owner_view { q } else { q.filter(repositories::is_public.eq(true)) }
    };
    let total: i64 = visible().count().get_result(conn)?;
    let rows = visible().order(repositories::name.asc()).offset((page - 1).saturating_mul(per_page)).limit(per_page).select(Repository::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Creates `{username}/{path}` ahead of the first push. Err(message) for a name outside the
/// grammar or one that exists.
pub fn create(conn: &mut SqliteConnection, owner_id: i32, username: &str, path: &str, public: bool, now: Timestamp) -> Result<Result<String, &'static str>, Error> {
    let path = path.trim().trim_start_matches('/');
    let name = format!("{username}/{path}");
    if path.is_empty() || !crate::registry::grants::valid_repository_name(&name) {
        return Ok(Err("Use lowercase letters, digits and single . _ - between them; / separates levels."));
    }
    let inserted = diesel::insert_into(repositories::table)
        .values((repositories::owner_id.eq(owner_id), repositories::name.eq(&name), repositories::is_public.eq(public), repositories::created_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(if inserted == 1 { Ok(name) } else { Err("This repository exists already.") })
}

/// Forgets one of the owner's repositories (the registry's garbage collection frees the data).
pub fn delete(conn: &mut SqliteConnection, owner_id: i32, name: &str) -> Result<bool, Error> {
    let n = diesel::delete(repositories::table.filter(repositories::owner_id.eq(owner_id)).filter(repositories::name.eq(name))).execute(conn)?;
    Ok(n == 1)
}

pub fn set_public(conn: &mut SqliteConnection, owner_id: i32, name: &str, public: bool) -> Result<bool, Error> {
    let n = diesel::update(repositories::table.filter(repositories::owner_id.eq(owner_id)).filter(repositories::name.eq(name)))
        .set(repositories::is_public.eq(public))
        .execute(conn)?;
    Ok(n == 1)
}
