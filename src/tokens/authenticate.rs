//! Authenticating personal access tokens: the one check every token-accepting door calls
//! (`lookup` reads, `authenticate` also records), and what a use leaves behind — last use
//! and refused use, each written at once from a new IP or client, otherwise at most once a
//! minute per token.

use crate::db::Conn;
use diesel::prelude::*;

use super::{AccessToken, PlainToken, Scope, token_detail};
use crate::Error;
use crate::activity::{self, Client, Event};
use crate::clock::Timestamp;
use crate::db::schema::{access_tokens, owners, users};
use crate::owners::{Kind, Namespace, OwnerId};

/// Who a valid token speaks for, and with what scope.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub token_id: i32,
    pub token_uuid: String,
    /// The user the token speaks for: the user of the namespace that owns it.
    pub user_id: i32,
    pub username: String,
    /// The namespace that owns the token, and its name: read in the same row as the token.
    pub owner: Namespace,
    pub owner_name: String,
    pub scope: Scope,
    /// The owner may be granted operator-only access (the registry catalog).
    pub operator: bool,
}

/// Last use is written at most this often per token when IP and client are unchanged.
pub const LAST_USE_EVERY: i64 = 60;

/// The condition an UPDATE writing a sighting re-checks, over its (time, IP, client)
/// columns, so of concurrent requests that all saw it due only one writes: the last one a
/// minute old, or another IP or client ("changed" written as NULL or `<>`, which every SQL
/// backend reads the same; SQLite's `IS NOT` is not portable).
macro_rules! sighting_stale {
    ($at:expr, $ip:expr, $ua:expr, $now:expr, $seen_ip:expr, $seen_ua:expr) => {
        $at.is_null().or($at.le($now - $crate::tokens::authenticate::LAST_USE_EVERY)).or($ip.is_null()).or($ip.ne($seen_ip)).or($ua.is_null()).or($ua.ne($seen_ua))
    };
}
pub(crate) use sighting_stale;

/// Checks a presented token for `username`: format and checksum first (no query for a
/// malformed one), then the hash lookup, the user of its owner (named `username`, enabled),
/// active, not expired. On success records last use — at once when the IP or client differs from the
/// stored one, otherwise at most once a minute — and never on failure.
pub fn authenticate(conn: &mut Conn, now: Timestamp, username: &str, secret: &str, ip: &str, user_agent: &str) -> Result<Option<Authenticated>, Error> {
    let Lookup::Valid(found) = lookup(conn, now, username, secret)? else { return Ok(None) };
    if let Some(due) = found.last_use_due(now, ip, user_agent) {
        record_last_use(conn, &due, now)?;
    }
    Ok(Some(found.auth))
}

/// A valid token as read from the database, before any write.
#[derive(Debug, Clone)]
pub struct Found {
    pub auth: Authenticated,
    token: AccessToken,
}

/// Why a token its holder presented is refused. Told only to whoever presents the secret
/// with the username of its owner's user: they hold the token, so nothing leaks; anyone else (another
/// user's name, a deleted or unknown token) learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Deactivated,
    /// Said even when the token is also inactive: an expired token can only be deleted.
    Expired,
}

/// A token that matched its owner's user but is refused, as read from the database.
#[derive(Debug, Clone)]
pub struct RefusedToken {
    pub reason: Refused,
    token: AccessToken,
    /// The user whose activity records the refusal.
    user_id: i32,
}

/// What a presented token turned out to be (a personal access token's by default; an
/// organization's has its own kinds of found and refused token).
#[derive(Debug)]
pub enum Lookup<F = Found, R = RefusedToken> {
    Valid(F),
    Refused(R),
    /// Malformed, unknown, deleted, someone else's, or its owner is disabled.
    NoMatch,
}

/// A refused use to record in the owner's activity.
#[derive(Debug, Clone)]
pub struct RefusedUse {
    token_id: i32,
    user_id: i32,
    detail: String,
    ip: String,
    user_agent: String,
}

impl RefusedToken {
    /// Due as last use is: a new IP or client at once, otherwise once a minute.
    pub fn note_due(&self, now: Timestamp, ip: &str, user_agent: &str) -> Option<RefusedUse> {
        let t = &self.token;
        let seen = due_sighting((t.last_refused_at, t.last_refused_ip.as_deref(), t.last_refused_ua.as_deref()), now, ip, user_agent)?;
        let why = match self.reason {
            Refused::Deactivated => "deactivated",
            Refused::Expired => "expired",
        };
        Some(RefusedUse { token_id: t.id, user_id: self.user_id, detail: format!("{}, {why}", token_detail(t)), ip: seen.client.ip, user_agent: seen.client.user_agent })
    }
}

/// Records a refused use in the owner's activity. As with last use, the UPDATE re-checks
/// its condition (`sighting_stale`), so of concurrent refusals only one writes.
pub fn record_refused_use(conn: &mut Conn, due: &RefusedUse, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let stale = sighting_stale!(access_tokens::last_refused_at, access_tokens::last_refused_ip, access_tokens::last_refused_ua, now, &due.ip, &due.user_agent);
        let written = diesel::update(access_tokens::table.filter(access_tokens::id.eq(due.token_id)).filter(stale))
            .set((access_tokens::last_refused_at.eq(now), access_tokens::last_refused_ip.eq(&due.ip), access_tokens::last_refused_ua.eq(&due.user_agent)))
            .execute(conn)?;
        if written == 1 {
            let client = Client { ip: due.ip.clone(), user_agent: due.user_agent.clone() };
            activity::record(conn, due.user_id, Event::TokenRefused, &due.detail, &client, now)?;
        }
        Ok(())
    })
}

/// The read half of `authenticate`: every check, no write (so it may run on a read-only
/// connection, as the registry's hot path does). The token, its owner and the owner's user
/// come in one indexed read.
pub fn lookup(conn: &mut Conn, now: Timestamp, username: &str, secret: &str) -> Result<Lookup, Error> {
    let Some(plain) = PlainToken::parse(secret) else { return Ok(Lookup::NoMatch) };
    let hash = plain.hash();
    // a personal access token's owner is a user's own namespace: the inner join to its user
    // finds no other kind. On the backend's own connection, where the statement is prepared
    // once per connection (`repositories::facts` says why).
    let found: Option<(AccessToken, String, i32, String, bool, bool)> = crate::db::per_backend!(conn, |c| access_tokens::table
        .inner_join(owners::table.inner_join(users::table))
        .filter(access_tokens::token_hash.eq(hash.0.to_vec()))
        .select((AccessToken::as_select(), owners::name, users::id, users::username, users::is_disabled, users::is_operator))
        .first(c)
        .optional())?;
    let Some((token, owner_name, user_id, holder, disabled, operator)) = found else { return Ok(Lookup::NoMatch) };
    if holder != username.trim().to_lowercase() || disabled {
        return Ok(Lookup::NoMatch);
    }
    if token.is_expired(now) {
        return Ok(Lookup::Refused(RefusedToken { reason: Refused::Expired, token, user_id }));
    }
    if !token.is_active {
        return Ok(Lookup::Refused(RefusedToken { reason: Refused::Deactivated, token, user_id }));
    }
    let owner = Namespace { id: OwnerId(token.owner_id), kind: Kind::User, user_id: Some(user_id) };
    let auth = Authenticated { token_id: token.id, token_uuid: token.uuid.clone(), user_id, username: holder, owner, owner_name, scope: token.scope(), operator };
    Ok(Lookup::Valid(Found { auth, token }))
}

/// A last use to write: the token changed IP or client, or its stored use is a minute old.
#[derive(Debug, Clone)]
pub struct LastUse {
    token_id: i32,
    user_id: i32,
    detail: String,
    ip: String,
    user_agent: String,
    new_ip: bool,
}

impl Found {
    pub fn last_use_due(&self, now: Timestamp, ip: &str, user_agent: &str) -> Option<LastUse> {
        let t = &self.token;
        let seen = due_sighting((t.last_used_at, t.last_used_ip.as_deref(), t.last_used_ua.as_deref()), now, ip, user_agent)?;
        Some(LastUse { token_id: t.id, user_id: self.auth.user_id, detail: token_detail(t), ip: seen.client.ip, user_agent: seen.client.user_agent, new_ip: seen.new_ip })
    }
}

/// A use of a token to write down: from where, as stored (the client truncated), and
/// whether its IP differs from the last one written.
pub(crate) struct Sighting {
    pub client: Client,
    pub new_ip: bool,
}

/// The one coalescing rule for what a token's use leaves behind (last use, a refused use;
/// of an organization's tokens too), against the last one written (time, IP, client): due
/// at once from a new IP or client, otherwise once a minute.
pub(crate) fn due_sighting(last: (Option<Timestamp>, Option<&str>, Option<&str>), now: Timestamp, ip: &str, user_agent: &str) -> Option<Sighting> {
    let (at, last_ip, last_ua) = last;
    let user_agent = activity::truncate(user_agent, activity::MAX_USER_AGENT);
    let new_ip = last_ip != Some(ip);
    let due = new_ip || last_ua != Some(user_agent.as_str()) || at.is_none_or(|at| now - at >= LAST_USE_EVERY);
    due.then(|| Sighting { client: Client { ip: ip.to_string(), user_agent }, new_ip })
}

/// Writes a due last use. The UPDATE re-checks its own condition (`sighting_stale`), so of concurrent requests that all saw a stale use only
/// one writes (and logs a new IP): at most one write a minute per token for an unchanged
/// client, however many pulls run at once.
pub fn record_last_use(conn: &mut Conn, due: &LastUse, now: Timestamp) -> Result<(), Error> {
    let stale = sighting_stale!(access_tokens::last_used_at, access_tokens::last_used_ip, access_tokens::last_used_ua, now, &due.ip, &due.user_agent);
    let written = diesel::update(access_tokens::table.filter(access_tokens::id.eq(due.token_id)).filter(stale))
        .set((access_tokens::last_used_at.eq(now), access_tokens::last_used_ip.eq(&due.ip), access_tokens::last_used_ua.eq(&due.user_agent)))
        .execute(conn)?;
    if written == 0 {
        return Ok(()); // another request wrote it first
    }
    // counted by scripts/bench.sh (W5: at most one write a minute per token)
    tracing::debug!(token = due.token_id, "last use recorded");
    if due.new_ip {
        let client = Client { ip: due.ip.clone(), user_agent: due.user_agent.clone() };
        activity::record(conn, due.user_id, Event::TokenUsedFromNewIp, &due.detail, &client, now)?;
    }
    Ok(())
}
