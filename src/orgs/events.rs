//! An organization's audit log: what changed, by whom, when and from where, named by the
//! identifiers Docker Hub uses. Written in the transaction of the change it records, read by
//! owners only, filtered by action, actor and time range.

use diesel::prelude::*;

use super::Actor;
use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::org_events;
use crate::owners::OwnerId;

/// Every action the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    OrgCreated,
    OrgSettingsChanged,
    MemberInvited,
    InviteRevoked,
    InviteDeclined,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MemberRoleChanged,
    TeamCreated,
    TeamChanged,
    TeamDeleted,
    TeamMemberAdded,
    TeamMemberRemoved,
    PermissionGranted,
    PermissionChanged,
    PermissionRevoked,
    RepoCreated,
    RepoDeleted,
    RepoPrivacyChanged,
    TokenCreated,
    TokenChanged,
    TokenActivated,
    TokenDeactivated,
    TokenDeleted,
    TokenUsedFromNewIp,
}

impl Action {
    pub const ALL: [Action; 26] = [
        Action::OrgCreated,
        Action::OrgSettingsChanged,
        Action::MemberInvited,
        Action::InviteRevoked,
        Action::InviteDeclined,
        Action::MemberJoined,
        Action::MemberLeft,
        Action::MemberRemoved,
        Action::MemberRoleChanged,
        Action::TeamCreated,
        Action::TeamChanged,
        Action::TeamDeleted,
        Action::TeamMemberAdded,
        Action::TeamMemberRemoved,
        Action::PermissionGranted,
        Action::PermissionChanged,
        Action::PermissionRevoked,
        Action::RepoCreated,
        Action::RepoDeleted,
        Action::RepoPrivacyChanged,
        Action::TokenCreated,
        Action::TokenChanged,
        Action::TokenActivated,
        Action::TokenDeactivated,
        Action::TokenDeleted,
        Action::TokenUsedFromNewIp,
    ];

    /// The identifier stored and answered (`team.create`, `member.removed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::OrgCreated => "org.create",
            Action::OrgSettingsChanged => "org.settings.change",
            Action::MemberInvited => "member.invite",
            Action::InviteRevoked => "member.invite.revoke",
            Action::InviteDeclined => "member.invite.decline",
            Action::MemberJoined => "member.join",
            Action::MemberLeft => "member.leave",
            Action::MemberRemoved => "member.removed",
            Action::MemberRoleChanged => "member.role.change",
            Action::TeamCreated => "team.create",
            Action::TeamChanged => "team.change",
            Action::TeamDeleted => "team.delete",
            Action::TeamMemberAdded => "team.member.add",
            Action::TeamMemberRemoved => "team.member.remove",
            Action::PermissionGranted => "repo.permission.grant",
            Action::PermissionChanged => "repo.permission.change",
            Action::PermissionRevoked => "repo.permission.revoke",
            Action::RepoCreated => "repo.create",
            Action::RepoDeleted => "repo.delete",
            Action::RepoPrivacyChanged => "repo.change_privacy",
            Action::TokenCreated => "oat.create",
            Action::TokenChanged => "oat.update",
            Action::TokenActivated => "oat.activate",
            Action::TokenDeactivated => "oat.deactivate",
            Action::TokenDeleted => "oat.delete",
            Action::TokenUsedFromNewIp => "oat.use.new_ip",
        }
    }

    /// The sentence shown beside the identifier.
    pub fn description(self) -> &'static str {
        match self {
            Action::OrgCreated => "created the organization",
            Action::OrgSettingsChanged => "changed the organization's settings",
            Action::MemberInvited => "invited a member",
            Action::InviteRevoked => "revoked an invitation",
            Action::InviteDeclined => "declined an invitation",
            Action::MemberJoined => "joined the organization",
            Action::MemberLeft => "left the organization",
            Action::MemberRemoved => "removed a member",
            Action::MemberRoleChanged => "changed a member's role",
            Action::TeamCreated => "created a team",
            Action::TeamChanged => "changed a team",
            Action::TeamDeleted => "deleted a team",
            Action::TeamMemberAdded => "added a member to a team",
            Action::TeamMemberRemoved => "removed a member from a team",
            Action::PermissionGranted => "granted a team a permission on a repository",
            Action::PermissionChanged => "changed a team's permission on a repository",
            Action::PermissionRevoked => "revoked a team's permission on a repository",
            Action::RepoCreated => "created a repository",
            Action::RepoDeleted => "deleted a repository",
            Action::RepoPrivacyChanged => "changed a repository's visibility",
            Action::TokenCreated => "created an organization access token",
            Action::TokenChanged => "changed an organization access token's label or description",
            Action::TokenActivated => "activated an organization access token",
            Action::TokenDeactivated => "deactivated an organization access token",
            Action::TokenDeleted => "deleted an organization access token",
            Action::TokenUsedFromNewIp => "used an organization access token from a new IP address",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One entry as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = org_events)]
pub struct Entry {
    pub id: i32,
    pub owner_id: i32,
    pub action: String,
    pub name: String,
    pub actor: String,
    pub data: String,
    pub ip: String,
    pub created_at: Timestamp,
}

impl Entry {
    pub fn action(&self) -> Option<Action> {
        Action::parse(&self.action)
    }
}

/// Records `action` on `name` (a member, a team, a repository, a token's label) by `actor`
/// (a user, or the command line), with details as a JSON object.
pub fn record(conn: &mut Conn, org: OwnerId, action: Action, name: &str, actor: &Actor, data: serde_json::Value, now: Timestamp) -> Result<(), Error> {
    diesel::insert_into(org_events::table)
        .values((
            org_events::owner_id.eq(org.0),
            org_events::action.eq(action.as_str()),
            org_events::name.eq(name),
            org_events::actor.eq(&actor.name),
            org_events::data.eq(data.to_string()),
            org_events::ip.eq(&actor.client.ip),
            org_events::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the log is filtered by; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<Action>,
    /// What the entry is about: a member's username, a team's or a repository's name.
    pub name: Option<String>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// One page of the log, newest first, and how many entries the filter matches.
pub fn list(conn: &mut Conn, org: OwnerId, filter: &Filter, page: i64, per_page: i64) -> Result<(Vec<Entry>, i64), Error> {
    // no name holds a NUL, and PostgreSQL's text cannot carry one into the query
    if [&filter.name, &filter.actor].into_iter().flatten().any(|s| s.contains('\0')) {
        return Ok((Vec::new(), 0));
    }
    let query = || {
        let mut q = org_events::table.filter(org_events::owner_id.eq(org.0)).into_boxed();
        if let Some(action) = filter.action {
            q = q.filter(org_events::action.eq(action.as_str()));
        }
        if let Some(name) = &filter.name {
            q = q.filter(org_events::name.eq(name.trim().to_string()));
        }
        if let Some(actor) = &filter.actor {
            q = q.filter(org_events::actor.eq(actor.trim().to_lowercase()));
        }
        if let Some(from) = filter.from {
            q = q.filter(org_events::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(org_events::created_at.le(to));
        }
        q
    };
    let total = query().count().get_result(conn)?;
    let rows = query().order(org_events::id.desc()).offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(Entry::as_select()).load(conn)?;
    Ok((rows, total))
}
