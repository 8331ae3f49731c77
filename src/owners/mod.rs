//! Owners: the namespaces that repositories, access tokens, plans and token counters belong
//! to. Every owner is a user's own namespace for now (kind `user`, named as the user, made
//! with the account); an organization, with members, is the next kind. A namespace name is
//! resolved to its owner here, and what a caller may do in it is `permission` — the grant
//! rule of the registry and the JSON API's listings ask it instead of comparing names.

use std::fmt;
use std::str::FromStr;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::{org_members, owners, reserved_names, users};

/// An owner's id. Not a user's id: a user's own namespace has an id of its own, found with
/// `of_user` (rows written before owners existed kept the user's id as the owner's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerId(pub i32);

impl From<i32> for OwnerId {
    fn from(id: i32) -> Self {
        OwnerId(id)
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A user's own namespace: the user is its only member.
    User,
    /// A namespace of several users (members come with organizations).
    Organization,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Organization => "organization",
        }
    }
}

impl TryFrom<String> for Kind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "user" => Ok(Kind::User),
            "organization" => Ok(Kind::Organization),
            other => Err(format!("unknown owner kind {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Personal,
    Pro,
    Team,
    Business,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Personal, Plan::Pro, Plan::Team, Plan::Business];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Personal => "personal",
            Plan::Pro => "pro",
            Plan::Team => "team",
            Plan::Business => "business",
        }
    }
    /// How many access tokens the plan allows; `None` is unlimited.
    pub fn token_limit(self) -> Option<u32> {
        match self {
            Plan::Personal => Some(1),
            Plan::Pro => Some(5),
            Plan::Team | Plan::Business => None,
        }
    }
    /// Whether tokens may have a scope other than "Read, Write, Delete".
    pub fn scoped_tokens(self) -> bool {
        !matches!(self, Plan::Personal)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Plan::ALL.into_iter().find(|p| p.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| format!("unknown plan {s:?}: use personal, pro, team or business"))
    }
}

/// An owner as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = owners)]
pub struct Owner {
    #[diesel(deserialize_as = i32)]
    pub id: OwnerId,
    #[diesel(deserialize_as = String)]
    pub kind: Kind,
    /// The namespace: the first component of every repository name it owns.
    pub name: String,
    /// Whose own namespace this is (kind `User`).
    pub user_id: Option<i32>,
    pub plan: String,
    /// Tokens held (kept by `tokens`); the plan limit and the overview read it.
    pub token_count: i64,
    pub created_at: Timestamp,
    /// An organization's setting (Business plan): members reach its repositories only with
    /// two-factor authentication on.
    pub require_two_factor: bool,
}

impl Owner {
    pub fn plan(&self) -> Plan {
        self.plan.parse().unwrap_or(Plan::Personal)
    }

    pub fn namespace(&self) -> Namespace {
        Namespace { id: self.id, kind: self.kind, user_id: self.user_id }
    }
}

/// A namespace as the grant rule needs it: which owner, of what kind, whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace {
    pub id: OwnerId,
    pub kind: Kind,
    /// The user of a user's own namespace.
    pub user_id: Option<i32>,
}

impl Namespace {
    /// Reads a namespace from its stored columns (kind, user), as a join selects them.
    pub fn from_columns(id: i32, kind: &str, user_id: Option<i32>) -> Namespace {
        let kind = if kind == Kind::User.as_str() { Kind::User } else { Kind::Organization };
        Namespace { id: OwnerId(id), kind, user_id }
    }
}

/// What a caller may do in a namespace, the widest last. The credential it comes with may
/// narrow it further (a read-only token of the owner pulls only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Nothing beyond what anyone may (pull a public repository).
    #[default]
    None,
    /// Pull the private repositories too.
    Read,
    /// Pull and push.
    Write,
    /// Pull, push and delete.
    Admin,
}

impl Permission {
    /// The stored name of a team's or collaborator's permission.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    /// A stored or typed permission: `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Permission> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "admin" => Some(Permission::Admin),
            _ => None,
        }
    }
}

/// A member's role in an organization, the widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything: members, teams, access tokens, settings, deleting the organization.
    Owner,
    /// Every repository: create, delete, visibility, team permissions, push and delete.
    Editor,
    /// What the member's teams grant.
    Member,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Editor, Role::Member];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Member => "member",
        }
    }

    /// As Docker Hub answers it: `Owner`, `Editor`, `Member`.
    pub fn title(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Editor => "Editor",
            Role::Member => "Member",
        }
    }

    /// Owners and editors manage repositories (create, delete, visibility, team permissions).
    pub fn manages_repositories(self) -> bool {
        matches!(self, Role::Owner | Role::Editor)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| format!("unknown role {s:?}: use owner, editor or member"))
    }
}

/// The permission of `caller` (a user's id; `None` for anonymous) in `owner`'s namespace,
/// when the caller's standing needs no reading: a user's own namespace gives its user admin.
/// `None` when the database must say (an organization's member, a collaborator).
pub fn permission(caller: Option<i32>, owner: &Namespace) -> Permission {
    match owner.kind {
        Kind::User if caller.is_some() && owner.user_id == caller => Permission::Admin,
        Kind::User | Kind::Organization => Permission::None,
    }
}

/// Why an organization refuses a member who has not turned two-factor authentication on.
pub fn two_factor_required_message(org: &str) -> String {
    // an organization's name follows the username rule: nothing in it needs isolating
    format!("The organization {org} requires two-factor authentication: turn it on in your account's security settings to reach its repositories.")
}

/// What the database says of one caller and one repository: read in the same statement as
/// the repository's facts (`repositories::facts`), afresh at every request, so a removal, a
/// role or team change, a collaborator removed count at the caller's next request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ties {
    /// The caller's role in the namespace's organization, if a member.
    pub role: Option<Role>,
    /// The widest permission the caller's teams hold on the repository.
    pub teams: Permission,
    /// What the caller was given on the repository as a collaborator.
    pub collaborator: Permission,
    /// The organization requires two-factor authentication (Business plan) and the caller
    /// has none.
    pub two_factor_missing: bool,
}

/// The permission of `caller` on a repository of `owner`'s namespace (named `namespace`),
/// `exists` once the repository is recorded (a push would create it otherwise), given the
/// caller's `ties` to it:
///
/// - A user's own namespace: the user has admin; a collaborator what they were given on
///   that repository, read or write; anyone else nothing (operators included: their extra
///   is the catalog).
/// - An organization: owners and editors admin on every repository, a new one included
///   (their push creates it); a member the widest permission their teams hold on the
///   repository, and nothing on a new one; anyone else nothing. While the organization
///   requires two-factor authentication (Business plan) a member without it is refused
///   with `Denied`, saying why.
pub fn permission_on(caller: Option<i32>, owner: &Namespace, namespace: &str, exists: bool, ties: &Ties) -> Result<Permission, Error> {
    let Some(caller) = caller else { return Ok(Permission::None) };
    Ok(match owner.kind {
        Kind::User if owner.user_id == Some(caller) => Permission::Admin,
        // a collaborator reads or writes, never more (the owner keeps delete)
        Kind::User if exists => ties.collaborator.min(Permission::Write),
        Kind::User => Permission::None,
        Kind::Organization => match ties.role {
            None => Permission::None,
            Some(_) if ties.two_factor_missing => return Err(Error::Denied(two_factor_required_message(namespace).into())),
            Some(role) if role.manages_repositories() => Permission::Admin,
            Some(_) if exists => ties.teams,
            Some(_) => Permission::None,
        },
    })
}

/// A member's place in an organization, as one read gives it.
#[derive(Debug, Clone)]
pub struct Standing {
    pub role: Role,
    pub org_name: String,
    /// The organization requires two-factor authentication (Business plan) and the member
    /// has none.
    pub two_factor_missing: bool,
}

/// The caller's role in an organization, with what the two-factor rule says of them; `None`
/// for someone who is not a member (an invitation not yet accepted included).
pub fn standing(conn: &mut Conn, caller: i32, org: OwnerId) -> Result<Option<Standing>, Error> {
    let found: Option<(String, i64, bool, String, String)> = org_members::table
        .inner_join(users::table)
        .inner_join(owners::table)
        .filter(org_members::owner_id.eq(org.0))
        .filter(org_members::user_id.eq(caller))
        .select((org_members::role, users::second_factor_count, owners::require_two_factor, owners::plan, owners::name))
        .first(conn)
        .optional()?;
    let Some((role, factors, required, plan, org_name)) = found else { return Ok(None) };
    let role = role.parse().map_err(|e: String| Error::Internal(e.into()))?;
    let two_factor_missing = required && plan == Plan::Business.as_str() && factors == 0;
    Ok(Some(Standing { role, org_name, two_factor_missing }))
}

/// The organizations that hold `caller` back from their private repositories: they require
/// two-factor authentication (Business plan) and `caller`, a member, has none. By name.
pub fn held_back_in(conn: &mut Conn, caller: i32) -> Result<Vec<(OwnerId, String)>, Error> {
    let rows: Vec<(i32, String)> = org_members::table
        .inner_join(users::table)
        .inner_join(owners::table)
        .filter(org_members::user_id.eq(caller))
        .filter(owners::require_two_factor.eq(true))
        .filter(owners::plan.eq(Plan::Business.as_str()))
        .filter(users::second_factor_count.eq(0))
        .order(owners::name.asc())
        .select((owners::id, owners::name))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, name)| (OwnerId(id), name)).collect())
}

/// Whether `name` (normalised) is held by a deleted account or organization.
pub fn is_reserved(conn: &mut Conn, name: &str) -> Result<bool, Error> {
    Ok(reserved_names::table.find(name).select(reserved_names::name).first::<String>(conn).optional()?.is_some())
}

/// Keeps `name` from being taken again: a new namespace of that name would inherit the
/// images still stored under it.
pub fn reserve(conn: &mut Conn, name: &str, now: Timestamp) -> Result<(), Error> {
    crate::db::upsert::reserved_name_if_new(conn, name, now)?;
    Ok(())
}

/// An operator frees a reserved name. Returns whether it was reserved.
pub fn release(conn: &mut Conn, name: &str) -> Result<bool, Error> {
    Ok(diesel::delete(reserved_names::table.find(name.trim().to_lowercase())).execute(conn)? == 1)
}

/// Every reserved name, by name.
pub fn reserved(conn: &mut Conn) -> Result<Vec<(String, Timestamp)>, Error> {
    Ok(reserved_names::table.order(reserved_names::name.asc()).select((reserved_names::name, reserved_names::reserved_at)).load(conn)?)
}

/// The organizations of which `user_id` is the only owner, by name: while there is one,
/// the account cannot be deleted (an organization needs an owner).
pub fn solely_owned_by(conn: &mut Conn, user_id: i32) -> Result<Vec<String>, Error> {
    let owned: Vec<(i32, String)> = org_members::table
        .inner_join(owners::table)
        .filter(org_members::user_id.eq(user_id))
        .filter(org_members::role.eq(Role::Owner.as_str()))
        .order(owners::name.asc())
        .select((owners::id, owners::name))
        .load(conn)?;
    let mut sole = Vec::new();
    for (id, name) in owned {
        let owners_held: i64 = org_members::table.filter(org_members::owner_id.eq(id)).filter(org_members::role.eq(Role::Owner.as_str())).count().get_result(conn)?;
        if owners_held <= 1 {
            sole.push(name);
        }
    }
    Ok(sole)
}

/// Resolves a namespace name to its owner, of any kind.
pub fn find_by_name(conn: &mut Conn, name: &str) -> Result<Option<Owner>, Error> {
    // no name holds a NUL, and PostgreSQL's text cannot carry one into the query
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(owners::table.filter(owners::name.eq(name)).select(Owner::as_select()).first(conn).optional()?)
}

/// A user's own namespace. Every user has one (made with the account).
pub fn of_user(conn: &mut Conn, user_id: i32) -> Result<Owner, Error> {
    Ok(owners::table.filter(owners::user_id.eq(user_id)).select(Owner::as_select()).first(conn)?)
}

/// The ids of the users' own namespaces, by user id: the account ids the JSON API shows, one
/// space for users and organizations alike, as Docker Hub's accounts have.
pub fn namespace_ids(conn: &mut Conn, user_ids: &[i32]) -> Result<std::collections::HashMap<i32, OwnerId>, Error> {
    let rows: Vec<(Option<i32>, i32)> = owners::table.filter(owners::user_id.eq_any(user_ids.to_vec())).select((owners::user_id, owners::id)).load(conn)?;
    Ok(rows.into_iter().filter_map(|(user, id)| Some((user?, OwnerId(id)))).collect())
}

/// An owner by id.
pub fn find_by_id(conn: &mut Conn, id: OwnerId) -> Result<Option<Owner>, Error> {
    Ok(owners::table.find(id.0).select(Owner::as_select()).first(conn).optional()?)
}

/// Makes a user's own namespace, named as the user, with the user's plan. Called in the
/// transaction that creates the user; a name an owner holds already, or one kept reserved
/// after its account or organization was deleted, is `Taken("username")`.
pub fn create_for_user(conn: &mut Conn, user_id: i32, name: &str, plan: Plan, now: Timestamp) -> Result<Owner, Error> {
    if find_by_name(conn, name)?.is_some() || is_reserved(conn, name)? {
        return Err(Error::Taken("username"));
    }
    let id = diesel::insert_into(owners::table)
        .values((owners::kind.eq(Kind::User.as_str()), owners::name.eq(name), owners::user_id.eq(Some(user_id)), owners::plan.eq(plan.as_str()), owners::created_at.eq(now)))
        .returning(owners::id)
        .get_result::<i32>(conn)?;
    // `MultiConnection` returns columns, not a `Selectable` struct: the row is read back
    Ok(owners::table.find(id).select(Owner::as_select()).first(conn)?)
}

/// Sets the plan of a user's own namespace.
pub fn set_plan_of_user(conn: &mut Conn, user_id: i32, plan: Plan) -> Result<(), Error> {
    let n = diesel::update(owners::table.filter(owners::user_id.eq(user_id))).set(owners::plan.eq(plan.as_str())).execute(conn)?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
