//! Inserts that meet a unique key someone may hold already. diesel's `MultiConnection`
//! cannot write `ON CONFLICT`, so each is written once and compiled for each backend
//! (`db::per_backend!`); both SQLite and PostgreSQL run the same statement.

use diesel::prelude::*;
use diesel::query_dsl::methods::FilterDsl; // an upsert's WHERE

use super::schema::{form_keys, manifests, recent_index_pulls, registry_events_seen, repositories, reserved_names, tags, team_members};
use super::{Conn, per_backend};
use crate::Error;
use crate::clock::Timestamp;

/// Creates the repository `name` of `owner_id`, or, when it exists, sets its last push
/// to `now` if the one noted is older than `noted_every` seconds. Of concurrent requests
/// that all saw the note due, one writes it: the others' conflicting insert updates
/// nothing. Returns the rows written (0 or 1).
pub fn repository_push(conn: &mut Conn, owner_id: i32, name: &str, public: bool, now: Timestamp, noted_every: i64) -> Result<usize, Error> {
    let values = (
        repositories::owner_id.eq(owner_id),
        repositories::name.eq(name),
        repositories::is_public.eq(public),
        repositories::created_at.eq(now),
        repositories::last_push_at.eq(Some(now)),
    );
    let due = repositories::last_push_at.is_null().or(repositories::last_push_at.le(Some(now - noted_every)));
    Ok(per_backend!(conn, |c| diesel::insert_into(repositories::table)
        .values(values)
        .on_conflict(repositories::name)
        .do_update()
        .set(repositories::last_push_at.eq(Some(now)))
        .filter(due)
        .execute(c))?)
}

/// Creates the repository `name` of `owner_id` unless it exists. Returns whether it did.
pub fn repository_if_new(conn: &mut Conn, owner_id: i32, name: &str, public: bool, now: Timestamp) -> Result<bool, Error> {
    let values = (repositories::owner_id.eq(owner_id), repositories::name.eq(name), repositories::is_public.eq(public), repositories::created_at.eq(now));
    let n = per_backend!(conn, |c| diesel::insert_into(repositories::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Records the form key `key_hash` as spent, unless it is already. Returns whether this
/// call spent it.
pub fn form_key_if_new(conn: &mut Conn, key_hash: &str, user_id: i32, now: Timestamp) -> Result<bool, Error> {
    let values = (form_keys::key_hash.eq(key_hash), form_keys::user_id.eq(user_id), form_keys::spent_at.eq(now));
    let n = per_backend!(conn, |c| diesel::insert_into(form_keys::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Reserves `name` unless it is already. Returns whether this call reserved it.
pub fn reserved_name_if_new(conn: &mut Conn, name: &str, now: Timestamp) -> Result<bool, Error> {
    let values = (reserved_names::name.eq(name), reserved_names::reserved_at.eq(now));
    let n = per_backend!(conn, |c| diesel::insert_into(reserved_names::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Puts a user in a team unless they are in it. Returns whether this call did.
pub fn team_member_if_new(conn: &mut Conn, team_id: i32, user_id: i32) -> Result<bool, Error> {
    let values = (team_members::team_id.eq(team_id), team_members::user_id.eq(user_id));
    let n = per_backend!(conn, |c| diesel::insert_into(team_members::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Records the registry event `event_id` as taken, unless it is already. Returns whether
/// this call took it.
pub fn registry_event_if_new(conn: &mut Conn, event_id: &str, now: Timestamp) -> Result<bool, Error> {
    let values = (registry_events_seen::event_id.eq(event_id), registry_events_seen::seen_at.eq(now));
    let n = per_backend!(conn, |c| diesel::insert_into(registry_events_seen::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Records the manifest `digest` of a repository unless it is recorded already. Returns
/// whether this call did.
pub fn manifest_if_new(conn: &mut Conn, repository_id: i32, digest: &str, media_type: &str, manifest_size: i64, now: Timestamp) -> Result<bool, Error> {
    let values = (
        manifests::repository_id.eq(repository_id),
        manifests::digest.eq(digest),
        manifests::media_type.eq(media_type),
        manifests::manifest_size.eq(manifest_size),
        manifests::pushed_at.eq(now),
    );
    let n = per_backend!(conn, |c| diesel::insert_into(manifests::table).values(values).on_conflict_do_nothing().execute(c))?;
    Ok(n == 1)
}

/// Points the tag `name` of a repository at `digest`, pushed at `at` by `pushed_by`,
/// creating it or moving it (its pulls stay the tag's) unless its last push is newer than
/// `at`: a push the registry reports late leaves the newer one standing. Returns whether
/// the tag points at `digest` by this push now.
pub fn tag_push(conn: &mut Conn, repository_id: i32, name: &str, digest: &str, pushed_by: Option<&str>, at: Timestamp) -> Result<bool, Error> {
    let values = (tags::repository_id.eq(repository_id), tags::name.eq(name), tags::digest.eq(digest), tags::pushed_at.eq(at), tags::pushed_by.eq(pushed_by));
    let changes = (tags::digest.eq(digest), tags::pushed_at.eq(at), tags::pushed_by.eq(pushed_by));
    let n = per_backend!(conn, |c| diesel::insert_into(tags::table)
        .values(values)
        .on_conflict((tags::repository_id, tags::name))
        .do_update()
        .set(changes)
        .filter(tags::pushed_at.le(at))
        .execute(c))?;
    Ok(n == 1)
}

/// Notes that `client` pulled the index `digest` of a repository at `at`.
pub fn recent_index_pull(conn: &mut Conn, repository_id: i32, client: &str, digest: &str, at: Timestamp) -> Result<(), Error> {
    let values =
        (recent_index_pulls::repository_id.eq(repository_id), recent_index_pulls::client.eq(client), recent_index_pulls::digest.eq(digest), recent_index_pulls::pulled_at.eq(at));
    let changes = (recent_index_pulls::digest.eq(digest), recent_index_pulls::pulled_at.eq(at));
    per_backend!(conn, |c| diesel::insert_into(recent_index_pulls::table)
        .values(values)
        .on_conflict((recent_index_pulls::repository_id, recent_index_pulls::client))
        .do_update()
        .set(changes)
        .execute(c))?;
    Ok(())
}
