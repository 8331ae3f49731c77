//! Personal access tokens, in two halves: managing them (`manage`: creation within the
//! plan's limits, the owner's overview and changes, expiry, counts) and authenticating them
//! (`authenticate`: the lookup every token-accepting door calls, last use and refused use).
//! The secret's format and hash are `secret`. A personal access token belongs to a user's
//! own namespace (`owners`), which holds the plan and the token counter; the functions take
//! the user, whose activity log records every change.

pub mod authenticate;
pub mod manage;
pub mod secret;

use std::fmt;

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::schema::access_tokens;
use crate::owners::Plan;

pub use crate::error::{EXPIRED_MESSAGE, SCOPE_MESSAGE, limit_message};
pub use authenticate::{Authenticated, Found, LAST_USE_EVERY, LastUse, Lookup, Refused, RefusedToken, RefusedUse, authenticate, lookup, record_last_use, record_refused_use};
pub use manage::{
    Counts, DESCRIPTION_MAX, EXPIRY_DAYS, Expiry, Filter, MAX_EXPIRY_DAYS, NewToken, Sort, broadest_scope, check_description, check_limit, check_scope, check_token_name, counts,
    create, delete, delete_expired, find_owned, latest_expiry_day, limit_reason, page, revoke_all, search, set_scope, update,
};
pub use secret::{PlainToken, TokenHash, TokenKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Write,
    Read,
    PublicRead,
}

impl Scope {
    /// Dropdown order: the widest first.
    pub const ALL: [Scope; 4] = [Scope::Admin, Scope::Write, Scope::Read, Scope::PublicRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "repo:admin",
            Scope::Write => "repo:write",
            Scope::Read => "repo:read",
            Scope::PublicRead => "repo:public_read",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Admin => "Read, Write, Delete",
            Scope::Write => "Read & Write",
            Scope::Read => "Read-only",
            Scope::PublicRead => "Public Repo Read-only",
        }
    }

    /// What the permission lets a token do, in one line (the grants of the registry).
    pub fn explanation(self) -> &'static str {
        match self {
            Scope::Admin => "Pull, push and delete images in your repositories.",
            Scope::Write => "Pull and push images in your repositories; no deleting.",
            Scope::Read => "Pull images from your public and private repositories; no pushing.",
            Scope::PublicRead => "Pull images from your public repositories only.",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|sc| sc.as_str() == s)
    }

    /// Personal accounts get unscoped tokens only ("Read, Write, Delete").
    pub fn allowed_on(self, plan: Plan) -> bool {
        plan.scoped_tokens() || self == Scope::Admin
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A token as its owner sees it: everything but the hash.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = access_tokens)]
pub struct AccessToken {
    pub id: i32,
    pub uuid: String,
    /// The owner the token belongs to (a personal access token: its user's own namespace).
    pub owner_id: i32,
    pub description: String,
    pub scope: String,
    pub hint: String,
    pub created_at: Timestamp,
    pub creator_ip: String,
    pub creator_ua: String,
    pub expires_at: Option<Timestamp>,
    pub is_active: bool,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub last_used_ua: Option<String>,
    pub last_refused_at: Option<Timestamp>,
    pub last_refused_ip: Option<String>,
    pub last_refused_ua: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Inactive,
    Expired,
}

impl Status {
    /// The status of a token (of a person or an organization) expiring at `expires_at`:
    /// expired wins over the active flag.
    pub fn of(expires_at: Option<Timestamp>, is_active: bool, now: Timestamp) -> Status {
        if expires_at.is_some_and(|t| t <= now) {
            Status::Expired
        } else if is_active {
            Status::Active
        } else {
            Status::Inactive
        }
    }
}

impl AccessToken {
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.scope).unwrap_or(Scope::PublicRead)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.status(now) == Status::Expired
    }

    pub fn status(&self, now: Timestamp) -> Status {
        Status::of(self.expires_at, self.is_active, now)
    }
}

/// How a token is named in its owner's activity: its description and its hint.
fn token_detail(t: &AccessToken) -> String {
    format!("\u{201c}{}\u{201d} (berth_pat_{}…)", crate::text::isolated(&t.description), t.hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_personal_gets_only_admin() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert!(s.allowed_on(Plan::Pro));
        }
        assert!(Scope::Admin.allowed_on(Plan::Personal));
        assert!(!Scope::Read.allowed_on(Plan::Personal));
        assert_eq!(Scope::parse("repo:root"), None);
    }
}
