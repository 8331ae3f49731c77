//! Authenticating organization access tokens: the lookup `/token` and the JSON API call
//! (the token and its organization in one indexed read; the name presented must be the
//! organization's), and the last use a valid token leaves, coalesced as a personal token's
//! is (`tokens::authenticate`). A first use from an IP is in the organization's audit log.

use diesel::prelude::*;

use super::resources::Resources;
use super::{OrgToken, hint_shown};
use crate::Error;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{org_access_tokens, owners};
use crate::orgs::Actor;
use crate::orgs::events::{self, Action};
use crate::owners::{Kind, Namespace, OwnerId};
use crate::tokens::authenticate::{due_sighting, sighting_stale};
use crate::tokens::{Lookup, PlainToken, Refused, TokenKind};

/// Who a valid token speaks for (its organization), and what it reaches.
#[derive(Debug, Clone)]
pub struct OrgAuthenticated {
    pub token_id: i32,
    pub token_uuid: String,
    /// The organization that holds the token, and its name: read in the same row.
    pub org: Namespace,
    pub org_name: String,
    pub resources: Resources,
}

/// A valid token as read from the database, before any write.
#[derive(Debug, Clone)]
pub struct OrgFound {
    pub auth: OrgAuthenticated,
    token: OrgToken,
}

/// A token presented with its organization's name but refused, and why: told only to
/// whoever holds it (`tokens::Refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgRefused(pub Refused);

/// The token `secret` presented for `login`: format and checksum first (no query for a
/// malformed one), then the hash lookup with its organization, whose name `login` must be,
/// then active and not expired. Reads only (the registry's hot path runs it on a read-only
/// connection).
pub fn lookup(conn: &mut Conn, now: Timestamp, login: &str, secret: &str) -> Result<Lookup<OrgFound, OrgRefused>, Error> {
    let Some(plain) = PlainToken::parse_as(TokenKind::Organization, secret) else { return Ok(Lookup::NoMatch) };
    let found: Option<(OrgToken, String, String)> = org_access_tokens::table
        .inner_join(owners::table)
        .filter(org_access_tokens::token_hash.eq(plain.hash().0.to_vec()))
        .select((OrgToken::as_select(), owners::name, owners::kind))
        .first(conn)
        .optional()?;
    let Some((token, org_name, kind)) = found else { return Ok(Lookup::NoMatch) };
    if kind != Kind::Organization.as_str() || org_name != login.trim().to_lowercase() {
        return Ok(Lookup::NoMatch);
    }
    if token.is_expired(now) {
        return Ok(Lookup::Refused(OrgRefused(Refused::Expired)));
    }
    if !token.is_active {
        return Ok(Lookup::Refused(OrgRefused(Refused::Deactivated)));
    }
    let org = Namespace { id: OwnerId(token.owner_id), kind: Kind::Organization, user_id: None };
    let auth = OrgAuthenticated { token_id: token.id, token_uuid: token.uuid.clone(), org, org_name, resources: token.resources() };
    Ok(Lookup::Valid(OrgFound { auth, token }))
}

/// A last use to write: the token changed IP or client, or its stored use is a minute old.
#[derive(Debug, Clone)]
pub struct OrgLastUse {
    token_id: i32,
    org: OwnerId,
    label: String,
    hint: String,
    client: Client,
    new_ip: bool,
}

impl OrgFound {
    pub fn last_use_due(&self, now: Timestamp, ip: &str, user_agent: &str) -> Option<OrgLastUse> {
        let t = &self.token;
        let seen = due_sighting((t.last_used_at, t.last_used_ip.as_deref(), t.last_used_ua.as_deref()), now, ip, user_agent)?;
        Some(OrgLastUse { token_id: t.id, org: OwnerId(t.owner_id), label: t.label.clone(), hint: t.hint.clone(), client: seen.client, new_ip: seen.new_ip })
    }
}

/// Writes a due last use. As for a personal token, the UPDATE re-checks that it is due, so
/// of concurrent requests that all saw a stale use only one writes, and only that one logs
/// a new IP.
pub fn record_last_use(conn: &mut Conn, due: &OrgLastUse, now: Timestamp) -> Result<(), Error> {
    let (ip, ua) = (&due.client.ip, &due.client.user_agent);
    let stale = sighting_stale!(org_access_tokens::last_used_at, org_access_tokens::last_used_ip, org_access_tokens::last_used_ua, now, ip, ua);
    let written = diesel::update(org_access_tokens::table.filter(org_access_tokens::id.eq(due.token_id)).filter(stale))
        .set((org_access_tokens::last_used_at.eq(now), org_access_tokens::last_used_ip.eq(ip), org_access_tokens::last_used_ua.eq(ua)))
        .execute(conn)?;
    if written == 1 && due.new_ip {
        // the token itself acted: it is the actor, named as its list shows it
        let actor = Actor { name: hint_shown(&due.hint), client: due.client.clone() };
        events::record(conn, due.org, Action::TokenUsedFromNewIp, &due.label, &actor, serde_json::json!({ "ip": ip }), now)?;
    }
    Ok(())
}
