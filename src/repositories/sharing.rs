//! Collaborators: users a user's own repository is shared with, with read (pull) or write
//! (pull and push). Only the namespace's user adds and removes them; what a collaborator may
//! do is read afresh at every `/token` request (`owners::permission_on`).

use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{collaborators, users};
use crate::owners::{Kind, Owner, Permission};

/// Shares `owner`'s repository `name` with `username` as `permission` (read or write),
/// or changes what they have.
pub fn add(conn: &mut Conn, owner: &Owner, name: &str, username: &str, permission: Permission, now: Timestamp) -> Result<(), Error> {
    if owner.kind != Kind::User {
        return Err(Error::invalid("Collaborators are for personal repositories: an organization shares through its teams."));
    }
    if !matches!(permission, Permission::Read | Permission::Write) {
        return Err(Error::invalid_field("permission", "Choose read or write."));
    }
    crate::db::write_tx(conn, |conn| {
        let repo = super::find(conn, owner.id, name)?.ok_or(Error::NotFound)?;
        let user =
            crate::accounts::find_by_username(conn, username)?.filter(|u| !u.is_disabled).ok_or_else(|| Error::invalid_field("username", "No account has this username."))?;
        if owner.user_id == Some(user.id) {
            return Err(Error::invalid_field("username", "This is your own repository."));
        }
        let n = diesel::update(collaborators::table.find((repo.id, user.id))).set(collaborators::permission.eq(permission.as_str())).execute(conn)?;
        if n == 0 {
            diesel::insert_into(collaborators::table)
                .values((
                    collaborators::repository_id.eq(repo.id),
                    collaborators::user_id.eq(user.id),
                    collaborators::permission.eq(permission.as_str()),
                    collaborators::added_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Stops sharing the repository with `username`. `NotFound` when it was not shared.
pub fn remove(conn: &mut Conn, owner: &Owner, name: &str, username: &str) -> Result<(), Error> {
    let repo = super::find(conn, owner.id, name)?.ok_or(Error::NotFound)?;
    let user = crate::accounts::find_by_username(conn, username)?.ok_or(Error::NotFound)?;
    let n = diesel::delete(collaborators::table.find((repo.id, user.id))).execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// A repository's collaborators: (username, permission), by username.
pub fn list(conn: &mut Conn, repository_id: i32) -> Result<Vec<(String, Permission)>, Error> {
    let rows: Vec<(String, String)> = collaborators::table
        .inner_join(users::table)
        .filter(collaborators::repository_id.eq(repository_id))
        .order(users::username.asc())
        .select((users::username, collaborators::permission))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(u, p)| Some((u, Permission::parse(&p)?))).collect())
}
