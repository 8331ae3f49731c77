//! Repositories as Berth records them: created at the first authorized push (or ahead of
//! it from the pages), private unless `BERTH_DEFAULT_VISIBILITY=public`. A repository
//! belongs to an owner (`owners`): its name is the owner's name, a slash, and its path.

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::{owners, repositories, users};
use crate::owners::{Namespace, Owner, OwnerId};
use crate::registry::grants::RepoFacts;

/// The facts the grant needs about `name` (grammar already checked): its namespace's owner,
/// when it may be used, and the repository's record. `home` is the caller's own namespace
/// (its name and owner), when known: a request for it (nearly every push and pull) then
/// reads the repository alone. Any other namespace comes in the same one read.
pub fn facts(conn: &mut Conn, name: &str, home: Option<(&str, Namespace)>) -> Result<RepoFacts, Error> {
    let namespace = name.split('/').next().unwrap_or("");
    if let Some((_, owner)) = home.filter(|(home_name, _)| *home_name == namespace) {
        let repo: Option<(i32, bool, Option<Timestamp>)> =
            repositories::table.filter(repositories::name.eq(name)).select((repositories::id, repositories::is_public, repositories::last_push_at)).first(conn).optional()?;
        return Ok(RepoFacts { owner: Some(owner), repository_id: repo.map(|r| r.0), public: repo.map(|r| r.1), last_push_at: repo.and_then(|r| r.2) });
    }
    type Row = (i32, String, Option<i32>, Option<bool>, Option<i32>, Option<bool>, Option<Timestamp>);
    let found: Option<Row> = owners::table
        .left_join(users::table)
        .left_join(repositories::table.on(repositories::owner_id.eq(owners::id).and(repositories::name.eq(name))))
        .filter(owners::name.eq(namespace))
        .select((
            owners::id,
            owners::kind,
            owners::user_id,
            users::is_disabled.nullable(),
            repositories::id.nullable(),
            repositories::is_public.nullable(),
            repositories::last_push_at.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((id, kind, user_id, disabled, repository_id, public, last_push_at)) = found else {
        return Ok(RepoFacts { owner: None, public: None, repository_id: None, last_push_at: None });
    };
    // a disabled user's namespace is closed to everyone, its public repositories included
    let owner = (disabled != Some(true)).then(|| Namespace::from_columns(id, &kind, user_id));
    Ok(RepoFacts { owner, public, repository_id, last_push_at })
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
pub fn record_push(conn: &mut Conn, owner: OwnerId, name: &str, public_by_default: bool, now: Timestamp) -> Result<(), Error> {
    crate::db::upsert::repository_push(conn, owner.0, name, public_by_default, now, PUSH_NOTED_EVERY)?;
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

/// Every repository of `owner`, by name.
pub fn list(conn: &mut Conn, owner: OwnerId) -> Result<Vec<Repository>, Error> {
    Ok(repositories::table.filter(repositories::owner_id.eq(owner.0)).order(repositories::name.asc()).select(Repository::as_select()).load(conn)?)
}

/// Whether `owner` has a repository called `name`.
pub fn owns(conn: &mut Conn, owner: OwnerId, name: &str) -> Result<bool, Error> {
    let found = repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name)).select(repositories::id).first::<i32>(conn).optional()?;
    Ok(found.is_some())
}

/// One page of `owner`'s repositories: all of them with `private_too`, else the public
/// ones. Returns (page, total).
pub fn in_namespace(conn: &mut Conn, owner: OwnerId, private_too: bool, page: i64, per_page: i64) -> Result<(Vec<Repository>, i64), Error> {
    let visible = || {
        let q = repositories::table.filter(repositories::owner_id.eq(owner.0)).into_boxed();
        if private_too { q } else { q.filter(repositories::is_public.eq(true)) }
    };
    let total: i64 = visible().count().get_result(conn)?;
    let rows = visible().order(repositories::name.asc()).offset((page - 1).saturating_mul(per_page)).limit(per_page).select(Repository::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One page of `owner`'s repositories named in `names`, and with `public_too` its public
/// ones as well (what an organization access token may pull there). Returns (page, total).
pub fn in_namespace_among(conn: &mut Conn, owner: OwnerId, names: &[String], public_too: bool, page: i64, per_page: i64) -> Result<(Vec<Repository>, i64), Error> {
    let visible = || {
        let named = repositories::name.eq_any(names.to_vec());
        let q = repositories::table.filter(repositories::owner_id.eq(owner.0)).into_boxed();
        if public_too { q.filter(named.or(repositories::is_public.eq(true))) } else { q.filter(named) }
    };
    let total: i64 = visible().count().get_result(conn)?;
    let rows = visible().order(repositories::name.asc()).offset((page - 1).saturating_mul(per_page)).limit(per_page).select(Repository::as_select()).load(conn)?;
    Ok((rows, total))
}

/// Creates `{owner}/{path}` ahead of the first push and returns its name. A name outside
/// the grammar, or one that exists, is refused beside the `path` field.
pub fn create(conn: &mut Conn, owner: &Owner, path: &str, public: bool, now: Timestamp) -> Result<String, Error> {
    let path = path.trim().trim_start_matches('/');
    let name = format!("{}/{path}", owner.name);
    if path.is_empty() || !crate::registry::grants::valid_repository_name(&name) {
        return Err(Error::invalid_field("path", "Use lowercase letters, digits and single . _ - between them; / separates levels."));
    }
    let inserted = crate::db::upsert::repository_if_new(conn, owner.id.0, &name, public, now)?;
    if inserted { Ok(name) } else { Err(Error::invalid_field("path", "This repository exists already.")) }
}

/// Forgets one of the owner's repositories (the registry's garbage collection frees the data).
pub fn delete(conn: &mut Conn, owner: OwnerId, name: &str) -> Result<bool, Error> {
    let n = diesel::delete(repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name))).execute(conn)?;
    Ok(n == 1)
}

pub fn set_public(conn: &mut Conn, owner: OwnerId, name: &str, public: bool) -> Result<bool, Error> {
    let n =
        diesel::update(repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name))).set(repositories::is_public.eq(public)).execute(conn)?;
    Ok(n == 1)
}
