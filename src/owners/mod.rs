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
use crate::db::schema::owners;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Nothing beyond what anyone may (pull a public repository).
    None,
    /// Pull the private repositories too.
    Read,
    /// Pull and push.
    Write,
    /// Pull, push and delete.
    Admin,
}

/// The permission of `caller` (a user's id; `None` for anonymous) in `owner`'s namespace.
/// A user's own namespace: the user has admin, nobody else anything — operators included
/// (their extra is the registry catalog, not other people's repositories). An organization
/// grants through its members, which come with organizations: nothing yet.
pub fn permission(caller: Option<i32>, owner: &Namespace) -> Permission {
    match owner.kind {
        Kind::User if caller.is_some() && owner.user_id == caller => Permission::Admin,
        Kind::User | Kind::Organization => Permission::None,
    }
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

/// Makes a user's own namespace, named as the user, with the user's plan. Called in the
/// transaction that creates the user; a name an owner holds already is `Taken("username")`.
pub fn create_for_user(conn: &mut Conn, user_id: i32, name: &str, plan: Plan, now: Timestamp) -> Result<Owner, Error> {
    if find_by_name(conn, name)?.is_some() {
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
