//! Organizations: namespaces of several users. An organization is an owner of kind
//! `organization` (its name shares one space with usernames); its members hold a role
//! (`owners::Role`), its teams hold permissions on its repositories (`teams`), people join
//! by invitation (`invitations`), and what changes is written to its audit log (`events`).
//! What a member may do in a repository is `owners::permission_on`, read afresh at every
//! request; these functions change what it reads.

pub mod events;
pub mod invitations;
pub mod repositories;
pub mod teams;

use diesel::prelude::*;

use crate::Error;
use crate::accounts::{self, User};
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{org_members, owners, repositories as repositories_table, team_members, teams as teams_table, users};
use crate::owners::{Kind, Owner, OwnerId, Plan, Role};
use events::Action;

/// Who did something: their username for the log (`actor`), their IP for the log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub client: Client,
}

impl Actor {
    pub fn user(user: &User, client: &Client) -> Actor {
        Actor { name: user.username.clone(), client: client.clone() }
    }
    /// An operator at the command line.
    pub fn cli() -> Actor {
        Actor { name: "berth command line".into(), client: Client::cli() }
    }
}

/// The plans an organization may have: those made for teams.
pub fn check_org_plan(plan: Plan) -> Result<(), Error> {
    match plan {
        Plan::Team | Plan::Business => Ok(()),
        Plan::Personal | Plan::Pro => Err(Error::invalid_field("plan", "An organization's plan is team or business.")),
    }
}

/// Why a user cannot create an organization on their plan.
pub const NEEDS_TEAM_PLAN: &str =
    "Creating an organization needs the Team or Business plan. Your plan is set by the operator of this Berth: ask them to change it (`berth user plan`).";

/// Creates organization `name` with `creator` as its first owner. `plan` is the creator's
/// own on the pages (which must be Team or Business); an operator may give any team plan.
/// The name follows the username rule, may not be reserved, and shares one space with
/// usernames: a taken one is `Taken("name")`.
pub fn create(conn: &mut Conn, name: &str, creator: &User, plan: Plan, actor: &Actor, now: Timestamp) -> Result<Owner, Error> {
    check_org_plan(plan)?;
    let name = accounts::normalize_username(name).map_err(|e| rename_field(e, "name"))?;
    accounts::check_not_reserved(&name).map_err(|e| rename_field(e, "name"))?;
    crate::db::write_tx(conn, |conn| {
        if crate::owners::is_reserved(conn, &name)? || crate::owners::find_by_name(conn, &name)?.is_some() {
            return Err(Error::Taken("name"));
        }
        let id = diesel::insert_into(owners::table)
            .values((owners::kind.eq(Kind::Organization.as_str()), owners::name.eq(&name), owners::plan.eq(plan.as_str()), owners::created_at.eq(now)))
            .returning(owners::id)
            .get_result::<i32>(conn)
            .map_err(|e| match crate::db::classify(e) {
                Error::Taken(_) => Error::Taken("name"),
                other => other,
            })?;
        insert_member(conn, OwnerId(id), creator.id, Role::Owner, now)?;
        events::record(conn, OwnerId(id), Action::OrgCreated, &name, actor, serde_json::json!({ "plan": plan.as_str() }), now)?;
        crate::owners::find_by_name(conn, &name)?.ok_or(Error::NotFound)
    })
}

fn rename_field(e: Error, to: crate::error::Field) -> Error {
    match e {
        Error::Invalid { field: Some(_), why } => Error::Invalid { field: Some(to), why },
        other => other,
    }
}

/// An organization by name; `None` for a user's namespace or nothing.
pub fn find(conn: &mut Conn, name: &str) -> Result<Option<Owner>, Error> {
    Ok(crate::owners::find_by_name(conn, &name.trim().to_lowercase())?.filter(|o| o.kind == Kind::Organization))
}

/// An organization the caller is a member of, with the caller's role. Anyone else (an
/// unknown name included) gets `NotFound`: an organization's existence is no secret, but
/// its pages and API are for members.
pub fn as_member(conn: &mut Conn, name: &str, user_id: i32) -> Result<(Owner, Role), Error> {
    let org = find(conn, name)?.ok_or(Error::NotFound)?;
    let role = role_of(conn, org.id, user_id)?.ok_or(Error::NotFound)?;
    Ok((org, role))
}

/// As `as_member`, for what only an owner may do: a member of another role is `Denied`.
pub fn as_owner(conn: &mut Conn, name: &str, user_id: i32) -> Result<Owner, Error> {
    let (org, role) = as_member(conn, name, user_id)?;
    if role != Role::Owner {
        return Err(Error::Denied("Only an owner of the organization can do this.".into()));
    }
    Ok(org)
}

/// As `as_member`, for repository management: owners and editors.
pub fn as_editor(conn: &mut Conn, name: &str, user_id: i32) -> Result<(Owner, Role), Error> {
    let (org, role) = as_member(conn, name, user_id)?;
    if !role.manages_repositories() {
        return Err(Error::Denied("Only an owner or editor of the organization can do this.".into()));
    }
    Ok((org, role))
}

/// The user's role in the organization, if a member.
pub fn role_of(conn: &mut Conn, org: OwnerId, user_id: i32) -> Result<Option<Role>, Error> {
    let role: Option<String> =
        org_members::table.filter(org_members::owner_id.eq(org.0)).filter(org_members::user_id.eq(user_id)).select(org_members::role).first(conn).optional()?;
    role.map(|r| r.parse().map_err(|e: String| Error::Internal(e.into()))).transpose()
}

/// Every organization, by name (the operator's list): the organization, its member count.
pub fn list_all(conn: &mut Conn) -> Result<Vec<(Owner, i64)>, Error> {
    let orgs: Vec<Owner> = owners::table.filter(owners::kind.eq(Kind::Organization.as_str())).order(owners::name.asc()).select(Owner::as_select()).load(conn)?;
    let mut out = Vec::with_capacity(orgs.len());
    for org in orgs {
        let members = org_members::table.filter(org_members::owner_id.eq(org.id.0)).count().get_result(conn)?;
        out.push((org, members));
    }
    Ok(out)
}

/// The organizations `user_id` belongs to, by name, with the role in each.
pub fn of_user(conn: &mut Conn, user_id: i32) -> Result<Vec<(Owner, Role)>, Error> {
    let rows: Vec<(Owner, String)> = org_members::table
        .inner_join(owners::table)
        .filter(org_members::user_id.eq(user_id))
        .order(owners::name.asc())
        .select((Owner::as_select(), org_members::role))
        .load(conn)?;
    rows.into_iter().map(|(o, r)| Ok((o, r.parse().map_err(|e: String| Error::Internal(e.into()))?))).collect()
}

/// Sets an organization's plan (team or business).
pub fn set_plan(conn: &mut Conn, org: &Owner, plan: Plan, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    check_org_plan(plan)?;
    crate::db::write_tx(conn, |conn| {
        diesel::update(owners::table.find(org.id.0)).set(owners::plan.eq(plan.as_str())).execute(conn)?;
        events::record(conn, org.id, Action::OrgSettingsChanged, &org.name, actor, serde_json::json!({ "plan": plan.as_str() }), now)
    })
}

/// Turns the two-factor requirement on or off (a Business plan setting).
pub fn set_require_two_factor(conn: &mut Conn, org: &Owner, on: bool, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    if on && org.plan() != Plan::Business {
        return Err(Error::invalid_field("require_two_factor", "Requiring two-factor authentication is a Business plan setting."));
    }
    crate::db::write_tx(conn, |conn| {
        diesel::update(owners::table.find(org.id.0)).set(owners::require_two_factor.eq(on)).execute(conn)?;
        events::record(conn, org.id, Action::OrgSettingsChanged, &org.name, actor, serde_json::json!({ "require_two_factor": on.to_string() }), now)
    })
}

/// One member as the member list shows them.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i32,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub joined_at: Timestamp,
    /// The member's teams in this organization, by name: all of them, or the first few the
    /// overview shows (`members_shown`).
    pub teams: Vec<String>,
    /// How many of the member's teams `teams` leaves out.
    pub more_teams: i64,
    pub two_factor: bool,
}

/// One page of the members, by username: optionally only those whose name contains
/// `search`, or of one role, each with all their teams. Returns (page, total).
pub fn members(conn: &mut Conn, org: OwnerId, search: Option<&str>, role: Option<Role>, page: i64, per_page: i64) -> Result<(Vec<Member>, i64), Error> {
    members_with(conn, org, search, role, page, per_page, None)
}

/// `members`, each with only their first `teams` teams by name and the number of the rest:
/// a member of fifty teams would otherwise make a page read every membership of its members.
pub fn members_shown(conn: &mut Conn, org: OwnerId, search: Option<&str>, role: Option<Role>, page: i64, per_page: i64, teams: i64) -> Result<(Vec<Member>, i64), Error> {
    members_with(conn, org, search, role, page, per_page, Some(teams))
}

fn members_with(conn: &mut Conn, org: OwnerId, search: Option<&str>, role: Option<Role>, page: i64, per_page: i64, teams: Option<i64>) -> Result<(Vec<Member>, i64), Error> {
    let search = search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    if search.as_deref().is_some_and(|s| s.contains('\0')) {
        return Ok((Vec::new(), 0));
    }
    let pattern = search.as_deref().map(crate::text::like_containing);
    let narrowed = pattern.is_some() || role.is_some();
    let narrow = |mut q: MemberQuery| {
        if let Some(p) = &pattern {
            q = q.filter(org_members::username.like(p.clone()).escape('\\'));
        }
        if let Some(role) = role {
            q = q.filter(org_members::role.eq(role.as_str()));
        }
        q
    };
    // the whole membership is counted by the database as it changes
    let total = if narrowed { narrow(member_query(org)).count().get_result(conn)? } else { owners::table.find(org.0).select(owners::member_count).first(conn)? };
    select_members(conn, org, narrow, page, per_page, teams).map(|found| (found, total))
}

/// One member by username, as the member list shows them; `None` for anyone else.
pub fn member(conn: &mut Conn, org: OwnerId, username: &str) -> Result<Option<Member>, Error> {
    let name = username.trim().to_lowercase();
    if name.contains('\0') {
        return Ok(None);
    }
    let found = select_members(conn, org, |q| q.filter(org_members::username.eq(name.clone())), 1, 1, None)?;
    Ok(found.into_iter().next())
}

type MemberQuery = diesel::dsl::IntoBoxed<'static, diesel::dsl::InnerJoin<org_members::table, users::table>, crate::db::Backend>;

fn member_query(org: OwnerId) -> MemberQuery {
    org_members::table.inner_join(users::table).filter(org_members::owner_id.eq(org.0)).into_boxed()
}

/// One page of the members `narrow` keeps, by username (the membership's own copy, which
/// the index `org_members_username` holds in order), with all their teams or the first
/// `teams` of them.
fn select_members(conn: &mut Conn, org: OwnerId, narrow: impl Fn(MemberQuery) -> MemberQuery, page: i64, per_page: i64, teams: Option<i64>) -> Result<Vec<Member>, Error> {
    let rows: Vec<(i32, String, String, String, Timestamp, i64, i64)> = narrow(member_query(org))
        .order(org_members::username.asc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select((users::id, org_members::username, users::email, org_members::role, org_members::joined_at, users::second_factor_count, org_members::team_count))
        .load(conn)?;
    let of_member = |user: i32| {
        team_members::table.inner_join(teams_table::table).filter(teams_table::owner_id.eq(org.0)).filter(team_members::user_id.eq(user)).order(teams_table::name.asc())
    };
    let memberships: Vec<(i32, String)> = match teams {
        // the page's teams in one read
        None => {
            let ids: Vec<i32> = rows.iter().map(|r| r.0).collect();
            team_members::table
                .inner_join(teams_table::table)
                .filter(teams_table::owner_id.eq(org.0))
                .filter(team_members::user_id.eq_any(&ids))
                .order(teams_table::name.asc())
                .select((team_members::user_id, teams_table::name))
                .load(conn)?
        }
        // a few of each member's, each read stopping there
        Some(n) => {
            let mut found = Vec::new();
            for row in rows.iter().filter(|r| r.6 > 0) {
                let names: Vec<String> = crate::db::per_backend!(&mut *conn, |c| of_member(row.0).select(teams_table::name).limit(n).load(c))?;
                found.extend(names.into_iter().map(|t| (row.0, t)));
            }
            found
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for (user_id, username, email, role, joined_at, factors, team_count) in rows {
        let teams: Vec<String> = memberships.iter().filter(|(u, _)| *u == user_id).map(|(_, t)| t.clone()).collect();
        let more_teams = (team_count - teams.len() as i64).max(0);
        let role = role.parse().map_err(|e: String| Error::Internal(e.into()))?;
        out.push(Member { user_id, username, email, role, joined_at, teams, more_teams, two_factor: factors > 0 });
    }
    Ok(out)
}

/// How many owners the organization has.
fn owner_count(conn: &mut Conn, org: OwnerId) -> Result<i64, Error> {
    Ok(org_members::table.filter(org_members::owner_id.eq(org.0)).filter(org_members::role.eq(Role::Owner.as_str())).count().get_result(conn)?)
}

pub const LAST_OWNER: &str = "An organization needs an owner: make another member an owner first.";

pub(crate) fn insert_member(conn: &mut Conn, org: OwnerId, user_id: i32, role: Role, now: Timestamp) -> Result<(), Error> {
    diesel::insert_into(org_members::table)
        .values((org_members::owner_id.eq(org.0), org_members::user_id.eq(user_id), org_members::role.eq(role.as_str()), org_members::joined_at.eq(now)))
        .execute(conn)
        .map_err(|e| match crate::db::classify(e) {
            Error::Taken(_) => Error::invalid_field("username", "This user is a member already."),
            other => other,
        })?;
    Ok(())
}

/// Adds `user` as a member with `role` (and to `team`, when given) without an invitation:
/// the operator's `berth org member add`, and accepting an invitation.
pub fn add_member(conn: &mut Conn, org: &Owner, user: &User, role: Role, team: Option<&str>, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.id.0)?;
        if user.is_disabled {
            return Err(Error::invalid_field("username", "This account is disabled."));
        }
        let team = team.map(|t| teams::find(conn, org.id, t)?.ok_or_else(|| Error::invalid_field("team", "No team of this organization has that name."))).transpose()?;
        insert_member(conn, org.id, user.id, role, now)?;
        if let Some(team) = &team {
            teams::insert_team_member(conn, team.id, user.id)?;
        }
        // no invitation stays open for a member
        diesel::delete(
            crate::db::schema::invitations::table.filter(crate::db::schema::invitations::owner_id.eq(org.id.0)).filter(crate::db::schema::invitations::invitee_id.eq(user.id)),
        )
        .execute(conn)?;
        let data = serde_json::json!({ "role": role.as_str(), "team": team.as_ref().map(|t| t.name.clone()) });
        events::record(conn, org.id, Action::MemberJoined, &user.username, actor, data, now)
    })
}

/// Changes a member's role. The last owner cannot be demoted.
pub fn set_role(conn: &mut Conn, org: &Owner, username: &str, role: Role, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.id.0)?;
        let (user_id, name, old) = member_by_name(conn, org.id, username)?;
        if old == role {
            return Ok(());
        }
        if old == Role::Owner && owner_count(conn, org.id)? <= 1 {
            return Err(Error::invalid(LAST_OWNER));
        }
        diesel::update(org_members::table.find((org.id.0, user_id))).set(org_members::role.eq(role.as_str())).execute(conn)?;
        events::record(conn, org.id, Action::MemberRoleChanged, &name, actor, serde_json::json!({ "from": old.as_str(), "to": role.as_str() }), now)
    })
}

/// Removes a member (from every team of the organization too), or records that they left
/// when the actor is the member. The last owner cannot leave or be removed. Their personal
/// access tokens stay theirs; at their next `/token` request they reach nothing here.
pub fn remove_member(conn: &mut Conn, org: &Owner, username: &str, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.id.0)?;
        let (user_id, name, role) = member_by_name(conn, org.id, username)?;
        if role == Role::Owner && owner_count(conn, org.id)? <= 1 {
            return Err(Error::invalid(LAST_OWNER));
        }
        forget_member(conn, org.id, user_id)?;
        let action = if actor.name == name { Action::MemberLeft } else { Action::MemberRemoved };
        events::record(conn, org.id, action, &name, actor, serde_json::json!({ "role": role.as_str() }), now)
    })
}

/// Deletes a membership and the member's places in the organization's teams.
fn forget_member(conn: &mut Conn, org: OwnerId, user_id: i32) -> Result<(), Error> {
    let org_teams = teams_table::table.filter(teams_table::owner_id.eq(org.0)).select(teams_table::id);
    diesel::delete(team_members::table.filter(team_members::user_id.eq(user_id)).filter(team_members::team_id.eq_any(org_teams))).execute(conn)?;
    diesel::delete(org_members::table.find((org.0, user_id))).execute(conn)?;
    Ok(())
}

/// A member by username: (user id, username, role); `NotFound` for anyone else.
fn member_by_name(conn: &mut Conn, org: OwnerId, username: &str) -> Result<(i32, String, Role), Error> {
    let name = username.trim().to_lowercase();
    if name.contains('\0') {
        return Err(Error::NotFound);
    }
    let found: Option<(i32, String, String)> = org_members::table
        .inner_join(users::table)
        .filter(org_members::owner_id.eq(org.0))
        .filter(users::username.eq(&name))
        .select((users::id, users::username, org_members::role))
        .first(conn)
        .optional()?;
    let (id, name, role) = found.ok_or(Error::NotFound)?;
    Ok((id, name, role.parse().map_err(|e: String| Error::Internal(e.into()))?))
}

/// Deletes an organization that holds no repositories (deleting them first is a
/// deliberate step: their images stay in the registry). Its name stays reserved.
pub fn delete(conn: &mut Conn, org: &Owner, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.id.0)?;
        let held: i64 = repositories_table::table.filter(repositories_table::owner_id.eq(org.id.0)).count().get_result(conn)?;
        if held > 0 {
            let s = if held == 1 { "y" } else { "ies" };
            return Err(Error::invalid(format!("The organization {} holds {held} repositor{s}: delete them first.", org.name)));
        }
        crate::owners::reserve(conn, &org.name, now)?;
        diesel::delete(owners::table.find(org.id.0)).execute(conn)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests;
