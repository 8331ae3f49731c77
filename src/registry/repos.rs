//! Repositories as Berth records them: created at the first authorized push, private
//! unless `BERTH_DEFAULT_VISIBILITY=public`.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::grants::RepoFacts;
use crate::AppError;
use crate::clock::Timestamp;
use crate::db::schema::{repositories, users};

/// The facts the grant needs about `name` (grammar already checked).
pub fn facts(conn: &mut SqliteConnection, name: &str) -> Result<RepoFacts, AppError> {
    let namespace = name.split('/').next().unwrap_or("");
    let owner: Option<bool> = users::table.filter(users::username.eq(namespace)).select(users::is_disabled).first(conn).optional()?;
    let public: Option<bool> = repositories::table.filter(repositories::name.eq(name)).select(repositories::is_public).first(conn).optional()?;
    Ok(RepoFacts { namespace_exists: owner == Some(false), public })
}

/// Records a push grant: creates the repository the first time, notes the push time.
pub fn record_push(conn: &mut SqliteConnection, owner_id: i32, name: &str, public_by_default: bool, now: Timestamp) -> Result<(), AppError> {
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
        .execute(conn)?;
    Ok(())
}

pub fn set_public(conn: &mut SqliteConnection, owner_id: i32, name: &str, public: bool) -> Result<bool, AppError> {
    let n = diesel::update(repositories::table.filter(repositories::owner_id.eq(owner_id)).filter(repositories::name.eq(name)))
        .set(repositories::is_public.eq(public))
        .execute(conn)?;
    Ok(n == 1)
}
