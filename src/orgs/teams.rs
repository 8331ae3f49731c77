//! Teams (Docker Hub's groups) of an organization: members (members of the organization
//! only) and permissions on the organization's repositories. A member's permission on a
//! repository is the widest their teams hold (`owners::team_permission`).

use diesel::prelude::*;

use super::Actor;
use super::events::{self, Action};
use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{org_members, repositories, team_members, team_permissions, teams, users};
use crate::owners::{Owner, OwnerId, Permission};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct Team {
    pub id: i32,
    pub uuid: String,
    pub owner_id: i32,
    pub name: String,
    pub description: String,
    pub created_at: Timestamp,
}

/// A team's name: 2 to 30 characters, lowercase letters, digits and `.` `_` `-`, starting
/// with a letter or digit (typed capitals are lowered).
pub fn normalize_name(input: &str) -> Result<String, Error> {
    let name = input.trim().to_lowercase();
    let len = name.chars().count();
    if !(2..=30).contains(&len) {
        return Err(Error::invalid_field("name", "Use 2 to 30 characters."));
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)) {
        return Err(Error::invalid_field("name", "Use only letters a–z, digits and . _ -"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid_field("name", "Start with a letter or digit."));
    }
    Ok(name)
}

/// A description: at most 255 characters, no control or bidi characters.
pub fn check_description(text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.chars().count() > 255 {
        return Err(Error::invalid_field("description", "Use at most 255 characters."));
    }
    if let Some(hidden) = crate::text::hidden_controls(text) {
        return Err(Error::invalid_field("description", format!("The description {}", hidden.why())));
    }
    Ok(text.to_string())
}

/// A team of `org` by name.
pub fn find(conn: &mut Conn, org: OwnerId, name: &str) -> Result<Option<Team>, Error> {
    let name = name.trim().to_lowercase();
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(teams::table.filter(teams::owner_id.eq(org.0)).filter(teams::name.eq(name)).select(Team::as_select()).first(conn).optional()?)
}

/// A team of `org` by its numeric id (the JSON API's `group_id`).
pub fn find_by_id(conn: &mut Conn, org: OwnerId, id: i32) -> Result<Option<Team>, Error> {
    Ok(teams::table.filter(teams::owner_id.eq(org.0)).filter(teams::id.eq(id)).select(Team::as_select()).first(conn).optional()?)
}

/// Every team of `org` by name, with its member count.
pub fn list(conn: &mut Conn, org: OwnerId) -> Result<Vec<(Team, i64)>, Error> {
    // the count is the database's own (a trigger on `team_members`): an organization's teams
    // may hold tens of thousands of memberships
    Ok(teams::table.filter(teams::owner_id.eq(org.0)).order(teams::name.asc()).select((Team::as_select(), teams::member_count)).load(conn)?)
}

/// Page `page` (from 1) of the organization's teams by name, each with its member count,
/// and how many teams it has.
pub fn page(conn: &mut Conn, org: OwnerId, page: i64, per_page: i64) -> Result<(Vec<(Team, i64)>, i64), Error> {
    let total = teams::table.filter(teams::owner_id.eq(org.0)).count().get_result(conn)?;
    let rows = teams::table
        .filter(teams::owner_id.eq(org.0))
        .order(teams::name.asc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select((Team::as_select(), teams::member_count))
        .load(conn)?;
    Ok((rows, total))
}

pub fn create(conn: &mut Conn, org: &Owner, name: &str, description: &str, actor: &Actor, now: Timestamp) -> Result<Team, Error> {
    let name = normalize_name(name)?;
    let description = check_description(description)?;
    crate::db::write_tx(conn, |conn| {
        if find(conn, org.id, &name)?.is_some() {
            return Err(Error::invalid_field("name", "A team of this name exists already."));
        }
        let id = diesel::insert_into(teams::table)
            .values((
                teams::uuid.eq(uuid::Uuid::new_v4().to_string()),
                teams::owner_id.eq(org.id.0),
                teams::name.eq(&name),
                teams::description.eq(&description),
                teams::created_at.eq(now),
            ))
            .returning(teams::id)
            .get_result::<i32>(conn)
            .map_err(|e| match crate::db::classify(e) {
                Error::Taken(_) => Error::invalid_field("name", "A team of this name exists already."),
                other => other,
            })?;
        events::record(conn, org.id, Action::TeamCreated, &name, actor, serde_json::json!({}), now)?;
        find_by_id(conn, org.id, id)?.ok_or(Error::NotFound)
    })
}

/// Renames a team or changes its description (each when given).
pub fn update(conn: &mut Conn, org: &Owner, team: &Team, name: Option<&str>, description: Option<&str>, actor: &Actor, now: Timestamp) -> Result<Team, Error> {
    let name = name.map(normalize_name).transpose()?;
    let description = description.map(check_description).transpose()?;
    crate::db::write_tx(conn, |conn| {
        if let Some(name) = name.as_ref().filter(|n| **n != team.name) {
            if find(conn, org.id, name)?.is_some() {
                return Err(Error::invalid_field("name", "A team of this name exists already."));
            }
            diesel::update(teams::table.find(team.id)).set(teams::name.eq(name)).execute(conn)?;
        }
        if let Some(description) = &description {
            diesel::update(teams::table.find(team.id)).set(teams::description.eq(description)).execute(conn)?;
        }
        let data = serde_json::json!({ "from": team.name, "to": name.clone().unwrap_or_else(|| team.name.clone()) });
        events::record(conn, org.id, Action::TeamChanged, name.as_deref().unwrap_or(&team.name), actor, data, now)?;
        find_by_id(conn, org.id, team.id)?.ok_or(Error::NotFound)
    })
}

/// Deletes a team: its members lose what it granted at their next request.
pub fn delete(conn: &mut Conn, org: &Owner, team: &Team, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(teams::table.filter(teams::id.eq(team.id)).filter(teams::owner_id.eq(org.id.0))).execute(conn)?;
        events::record(conn, org.id, Action::TeamDeleted, &team.name, actor, serde_json::json!({}), now)
    })
}

/// A team's members: (user id, username), by username.
pub fn members(conn: &mut Conn, team: &Team) -> Result<Vec<(i32, String)>, Error> {
    Ok(team_members::table.inner_join(users::table).filter(team_members::team_id.eq(team.id)).order(users::username.asc()).select((users::id, users::username)).load(conn)?)
}

/// One page of a team's members by username (only those whose name contains `search`,
/// when given), and how many there are.
pub fn member_page(conn: &mut Conn, team: &Team, search: Option<&str>, page: i64, per_page: i64) -> Result<(Vec<User>, i64), Error> {
    let search = search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    if search.as_deref().is_some_and(|s| s.contains('\0')) {
        return Ok((Vec::new(), 0));
    }
    let query = || {
        let mut q = team_members::table.inner_join(users::table).filter(team_members::team_id.eq(team.id)).into_boxed();
        if let Some(s) = &search {
            q = q.filter(users::username.like(crate::text::like_containing(s)).escape('\\'));
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let rows = query().order(users::username.asc()).offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(User::as_select()).load(conn)?;
    Ok((rows, total))
}

pub(crate) fn insert_team_member(conn: &mut Conn, team: i32, user_id: i32) -> Result<bool, Error> {
    let n = crate::db::upsert::team_member_if_new(conn, team, user_id)?;
    Ok(n)
}

/// Adds a member of the organization to a team; anyone else is refused.
pub fn add_member(conn: &mut Conn, org: &Owner, team: &Team, username: &str, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    let name = username.trim().to_lowercase();
    crate::db::write_tx(conn, |conn| {
        let member: Option<i32> = if name.contains('\0') {
            None
        } else {
            org_members::table.inner_join(users::table).filter(org_members::owner_id.eq(org.id.0)).filter(users::username.eq(&name)).select(users::id).first(conn).optional()?
        };
        let user_id = member.ok_or_else(|| Error::invalid_field("member", "Only members of the organization can join its teams: invite them first."))?;
        if insert_team_member(conn, team.id, user_id)? {
            events::record(conn, org.id, Action::TeamMemberAdded, &name, actor, serde_json::json!({ "team": team.name }), now)?;
        }
        Ok(())
    })
}

/// Takes a user out of a team. Returns `NotFound` when they were not in it.
pub fn remove_member(conn: &mut Conn, org: &Owner, team: &Team, username: &str, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    let name = username.trim().to_lowercase();
    if name.contains('\0') {
        return Err(Error::NotFound);
    }
    crate::db::write_tx(conn, |conn| {
        let user_id: i32 = users::table.filter(users::username.eq(&name)).select(users::id).first(conn).optional()?.ok_or(Error::NotFound)?;
        let n = diesel::delete(team_members::table.find((team.id, user_id))).execute(conn)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        events::record(conn, org.id, Action::TeamMemberRemoved, &name, actor, serde_json::json!({ "team": team.name }), now)
    })
}

/// The organization's repository `name` (the full `org/path` or the bare path): (id, full
/// name); `NotFound` for a repository of anyone else.
pub fn repository_of(conn: &mut Conn, org: &Owner, name: &str) -> Result<(i32, String), Error> {
    let name = name.trim();
    let full = if name.starts_with(&format!("{}/", org.name)) { name.to_string() } else { format!("{}/{name}", org.name) };
    if full.contains('\0') {
        return Err(Error::NotFound);
    }
    repositories::table
        .filter(repositories::owner_id.eq(org.id.0))
        .filter(repositories::name.eq(&full))
        .select((repositories::id, repositories::name))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound)
}

/// Gives `team` `permission` (read, write or admin) on one of the organization's
/// repositories, or changes the one it has.
pub fn set_permission(conn: &mut Conn, org: &Owner, team: &Team, repository: &str, permission: Permission, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    if permission == Permission::None {
        return Err(Error::invalid_field("permission", "Choose read, write or admin."));
    }
    crate::db::write_tx(conn, |conn| {
        let (repo_id, repo_name) = repository_of(conn, org, repository)?;
        let old: Option<String> = team_permissions::table.find((team.id, repo_id)).select(team_permissions::permission).first(conn).optional()?;
        let action = match old.as_deref() {
            None => Action::PermissionGranted,
            Some(p) if p == permission.as_str() => return Ok(()),
            Some(_) => Action::PermissionChanged,
        };
        match old {
            None => {
                diesel::insert_into(team_permissions::table)
                    .values((team_permissions::team_id.eq(team.id), team_permissions::repository_id.eq(repo_id), team_permissions::permission.eq(permission.as_str())))
                    .execute(conn)?;
            }
            Some(_) => {
                diesel::update(team_permissions::table.find((team.id, repo_id))).set(team_permissions::permission.eq(permission.as_str())).execute(conn)?;
            }
        }
        let data = serde_json::json!({ "team": team.name, "permission": permission.as_str() });
        events::record(conn, org.id, action, &repo_name, actor, data, now)
    })
}

/// Takes a team's permission on a repository away. `NotFound` when it had none.
pub fn revoke_permission(conn: &mut Conn, org: &Owner, team: &Team, repository: &str, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let (repo_id, repo_name) = repository_of(conn, org, repository)?;
        let n = diesel::delete(team_permissions::table.find((team.id, repo_id))).execute(conn)?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        events::record(conn, org.id, Action::PermissionRevoked, &repo_name, actor, serde_json::json!({ "team": team.name }), now)
    })
}

/// A team's permissions: (repository's full name, permission), by name.
pub fn permissions(conn: &mut Conn, team: &Team) -> Result<Vec<(String, Permission)>, Error> {
    let rows: Vec<(String, String)> = team_permissions::table
        .inner_join(repositories::table)
        .filter(team_permissions::team_id.eq(team.id))
        .order(repositories::name.asc())
        .select((repositories::name, team_permissions::permission))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(n, p)| Some((n, Permission::parse(&p)?))).collect())
}

/// The teams with a permission on one repository, by team name.
pub fn on_repository(conn: &mut Conn, repository_id: i32) -> Result<Vec<(Team, Permission)>, Error> {
    let rows: Vec<(Team, String)> = team_permissions::table
        .inner_join(teams::table)
        .filter(team_permissions::repository_id.eq(repository_id))
        .order(teams::name.asc())
        .select((Team::as_select(), team_permissions::permission))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(t, p)| Some((t, Permission::parse(&p)?))).collect())
}
