//! Organization access tokens: tokens an organization holds, of no user, made by its
//! owners for machines (CI, deployments). Each reaches what its resources name
//! (`resources`: repositories of the organization, all of them, or every public repository,
//! each with image scopes), fixed at creation, and never more than the organization itself
//! holds. `manage`: creation within the plan's limit, the owners' list, changes, deletion,
//! each in the organization's audit log. `authenticate`: the lookup of `/token` and the JSON
//! API, and last use. The secret's format and hash, the expiry and label rules and how last
//! use is coalesced are the personal tokens' (`tokens`).

pub mod authenticate;
pub mod manage;
pub mod resources;

use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::org_access_tokens;
use crate::owners::OwnerId;
use crate::repositories::{self, Repository, Sight};
use crate::tokens::Status;

pub use authenticate::{OrgAuthenticated, OrgFound, OrgLastUse, OrgRefused, lookup, record_last_use};
pub use manage::{Change, NewOrgToken, check_description, check_label, create, delete, find, limit, list, update};
pub use resources::{ImageScope, Requested, Resource, Resources};

/// A token as its organization's owners see it: everything but the hash.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = org_access_tokens)]
pub struct OrgToken {
    pub id: i32,
    pub uuid: String,
    /// The organization it belongs to.
    pub owner_id: i32,
    pub label: String,
    pub description: String,
    /// As stored (`Resources::to_stored`); read with `resources()`.
    pub resources: String,
    pub hint: String,
    /// Who created it: the user while the account exists, and the name always.
    pub created_by: Option<i32>,
    pub created_by_name: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub is_active: bool,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub last_used_ua: Option<String>,
}

impl OrgToken {
    pub fn resources(&self) -> Resources {
        Resources::from_stored(&self.resources)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.status(now) == Status::Expired
    }

    pub fn status(&self, now: Timestamp) -> Status {
        Status::of(self.expires_at, self.is_active, now)
    }

    /// Valid now: active and not expired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.status(now) == Status::Active
    }
}

/// One page of the repositories of namespace `namespace` an organization access token of
/// `org` may pull, as `/token` would grant it (a listing never shows what a pull would be
/// refused): in its own organization those its resources name (all with `org/*`), and
/// with `*/*/public` the public ones of any namespace. Returns (page, total).
pub fn repositories_seen(
    conn: &mut Conn,
    org: OwnerId,
    resources: &Resources,
    namespace: OwnerId,
    order: repositories::Order,
    page: i64,
    per_page: i64,
) -> Result<(Vec<Repository>, i64), Error> {
    let public = resources.pulls_public();
    if namespace != org {
        return if public { repositories::visible(conn, namespace, Sight::PublicOnly, order, page, per_page) } else { Ok((Vec::new(), 0)) };
    }
    if resources.covers_whole_organization() {
        return repositories::visible(conn, namespace, Sight::All, order, page, per_page);
    }
    let named: Vec<String> = resources.named_repositories().map(str::to_string).collect();
    repositories::visible_among(conn, namespace, &named, public, order, page, per_page)
}

/// How a token is shown where its secret is not: `berth_oat_Ab12…`.
pub fn hint_shown(hint: &str) -> String {
    format!("{}{hint}…", crate::tokens::secret::ORG_PREFIX)
}

#[cfg(test)]
mod tests;
