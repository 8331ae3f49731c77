//! Personal access tokens: creation within the plan's limits, the owner's overview and
//! changes, and `authenticate` — the one check every token-accepting door calls.

pub mod secret;

use std::fmt;

use chrono::{NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::Error;
use crate::accounts::Plan;
use crate::activity::{self, Client, Event};
use crate::clock::Timestamp;
use crate::db::schema::{access_tokens, users};
use crate::text::Hidden;
pub use secret::{PlainToken, TokenHash};

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
    pub user_id: i32,
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

impl AccessToken {
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.scope).unwrap_or(Scope::PublicRead)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    pub fn status(&self, now: Timestamp) -> Status {
        if self.is_expired(now) {
            Status::Expired
        } else if self.is_active {
            Status::Active
        } else {
            Status::Inactive
        }
    }
}

pub const DESCRIPTION_MAX: usize = 100;

/// 1–100 characters after trimming, no control or bidi characters (`text::hidden_controls`).
pub fn check_description(input: &str) -> Result<String, &'static str> {
    let d = input.trim();
    if d.is_empty() {
        return Err("Add a description, such as where the token will be used.");
    }
    if d.chars().count() > DESCRIPTION_MAX {
        return Err("Use at most 100 characters.");
    }
    match crate::text::hidden_controls(d) {
        Some(Hidden::Control) => return Err("The description cannot hold control characters such as line breaks."),
        Some(Hidden::Bidi) => return Err("The description cannot hold characters that change the direction of the text around them (bidi controls)."),
        None => {}
    }
    Ok(d.to_string())
}

/// The *Expiration* choice of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    Days(i64),
    /// A custom date: the token works until the end of that day, UTC.
    Until(NaiveDate),
}

pub const EXPIRY_DAYS: [i64; 3] = [30, 60, 90];
/// A custom date may lie at most this many days ahead.
pub const MAX_EXPIRY_DAYS: i64 = 365;

impl Expiry {
    /// The expiry instant, or why the choice is refused.
    pub fn at(self, now: Timestamp) -> Result<Option<Timestamp>, &'static str> {
        match self {
            Expiry::Never => Ok(None),
            Expiry::Days(d) if EXPIRY_DAYS.contains(&d) => Ok(Some(now + d * 86_400)),
            Expiry::Days(_) => Err("Choose 30, 60 or 90 days, a date, or no expiry."),
            Expiry::Until(date) => {
                let end = Utc.from_utc_datetime(&date.and_hms_opt(23, 59, 59).expect("valid time")).timestamp();
                let today = Utc.timestamp_opt(now, 0).single().map(|t| t.date_naive()).ok_or("The clock is out of range.")?;
                if end <= now {
                    Err("Choose a date that has not passed.")
                } else if (date - today).num_days() > MAX_EXPIRY_DAYS {
                    Err("Choose a date at most one year ahead.")
                } else {
                    Ok(Some(end))
                }
            }
        }
    }
}

pub use crate::error::{EXPIRED_MESSAGE, SCOPE_MESSAGE, limit_message};

pub struct NewToken {
    pub description: String,
    pub scope: Scope,
    pub expires_at: Option<Timestamp>,
}

/// Creates a token if the owner's plan allows its scope and one more token. Counting and
/// inserting happen in one immediate transaction, so concurrent creations cannot pass the
/// limit together. Returns the token and its plaintext (shown once, never stored).
pub fn create(conn: &mut SqliteConnection, user_id: i32, new: NewToken, client: &Client, now: Timestamp) -> Result<(AccessToken, PlainToken), Error> {
    crate::db::write_tx(conn, |conn| {
        let (plan, held): (String, i64) = users::table.find(user_id).select((users::plan, users::token_count)).first(conn)?;
        let plan: Plan = plan.parse().unwrap_or(Plan::Personal);
        if !new.scope.allowed_on(plan) {
            return Err(Error::ScopeNotInPlan);
        }
        if let Some(limit) = plan.token_limit().filter(|limit| held >= i64::from(*limit)) {
            return Err(Error::PlanLimit { limit, held });
        }
        let plain = PlainToken::generate();
        let token = diesel::insert_into(access_tokens::table)
            .values((
                access_tokens::uuid.eq(uuid::Uuid::new_v4().to_string()),
                access_tokens::user_id.eq(user_id),
                access_tokens::description.eq(&new.description),
                access_tokens::scope.eq(new.scope.as_str()),
                access_tokens::token_hash.eq(plain.hash().0.to_vec()),
                access_tokens::hint.eq(plain.hint()),
                access_tokens::created_at.eq(now),
                access_tokens::creator_ip.eq(&client.ip),
                access_tokens::creator_ua.eq(activity::truncate(&client.user_agent, activity::MAX_USER_AGENT)),
                access_tokens::expires_at.eq(new.expires_at),
            ))
            .returning(AccessToken::as_returning())
            .get_result(conn)?;
        diesel::update(users::table.find(user_id)).set(users::token_count.eq(users::token_count + 1)).execute(conn)?;
        activity::record(conn, user_id, Event::TokenCreated, &token_detail(&token), client, now)?;
        Ok((token, plain))
    })
}

fn token_detail(t: &AccessToken) -> String {
    format!("\u{201c}{}\u{201d} (berth_pat_{}…)", crate::text::isolated(&t.description), t.hint)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub active: i64,
    pub inactive: i64,
    pub expired: i64,
}

impl Counts {
    pub fn total(&self) -> i64 {
        self.active + self.inactive + self.expired
    }
}

/// The owner's counts, at a cost that follows the expired and inactive tokens only: the
/// total is kept on the user, the two small groups are counted through their indexes.
pub fn counts(conn: &mut SqliteConnection, user_id: i32, now: Timestamp) -> Result<Counts, Error> {
    let mine = || access_tokens::table.filter(access_tokens::user_id.eq(user_id));
    let total: i64 = users::table.find(user_id).select(users::token_count).first(conn)?;
    let expired: i64 = mine().filter(access_tokens::expires_at.le(now)).count().get_result(conn)?;
    let inactive: i64 =
        mine().filter(access_tokens::is_active.eq(false)).filter(access_tokens::expires_at.is_null().or(access_tokens::expires_at.gt(now))).count().get_result(conn)?;
    Ok(Counts { active: total - expired - inactive, inactive, expired })
}

/// How the overview orders tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    Created,
    /// Most recently used first; never used last.
    LastUsed,
    /// Soonest to expire first; never expiring last.
    Expires,
}

impl Sort {
    pub const ALL: [Sort; 3] = [Sort::Created, Sort::LastUsed, Sort::Expires];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Created => "created",
            Sort::LastUsed => "last_used",
            Sort::Expires => "expires",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Created => "Newest first",
            Sort::LastUsed => "Last used",
            Sort::Expires => "Expiring soonest",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Which of the owner's tokens the overview shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the description, any case.
    pub text: Option<String>,
    pub status: Option<Status>,
    pub scope: Option<Scope>,
    pub sort: Sort,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.status.is_none() && self.scope.is_none()
    }
}

type TokenQuery<'a> = access_tokens::BoxedQuery<'a, diesel::sqlite::Sqlite>;

fn filtered<'a>(user_id: i32, filter: &'a Filter, now: Timestamp) -> TokenQuery<'a> {
    let mut q = access_tokens::table.filter(access_tokens::user_id.eq(user_id)).into_boxed();
    if let Some(text) = &filter.text {
        // LIKE with its wildcards escaped: the text is matched as typed, any case (ASCII)
        let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q = q.filter(access_tokens::description.like(pattern).escape('\\'));
    }
    let unexpired = access_tokens::expires_at.is_null().or(access_tokens::expires_at.gt(now));
    q = match filter.status {
        Some(Status::Active) => q.filter(access_tokens::is_active.eq(true)).filter(unexpired),
        Some(Status::Inactive) => q.filter(access_tokens::is_active.eq(false)).filter(unexpired),
        Some(Status::Expired) => q.filter(access_tokens::expires_at.le(now)),
        None => q,
    };
    if let Some(scope) = filter.scope {
        q = q.filter(access_tokens::scope.eq(scope.as_str()));
    }
    q
}

/// One page of the owner's tokens that match `filter`, in its order, and how many match.
pub fn search(conn: &mut SqliteConnection, user_id: i32, filter: &Filter, now: Timestamp, page: i64, per_page: i64) -> Result<(Vec<AccessToken>, i64), Error> {
    let matching: i64 = filtered(user_id, filter, now).count().get_result(conn)?;
    let q = filtered(user_id, filter, now);
    let q = match filter.sort {
        Sort::Created => q.order(access_tokens::id.desc()),
        Sort::LastUsed => q.order((access_tokens::last_used_at.is_null(), access_tokens::last_used_at.desc(), access_tokens::id.desc())),
        Sort::Expires => q.order((access_tokens::expires_at.is_null(), access_tokens::expires_at.asc(), access_tokens::id.desc())),
    };
    let rows = q.offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(AccessToken::as_select()).load(conn)?;
    Ok((rows, matching))
}

/// Deletes every expired token of the owner, in one transaction, one event per token.
pub fn delete_expired(conn: &mut SqliteConnection, user_id: i32, client: &Client, now: Timestamp) -> Result<usize, Error> {
    crate::db::write_tx(conn, |conn| {
        let uuids: Vec<String> =
            access_tokens::table.filter(access_tokens::user_id.eq(user_id)).filter(access_tokens::expires_at.le(now)).select(access_tokens::uuid).load(conn)?;
        delete(conn, user_id, &uuids, client, now)
    })
}

/// One page of the owner's tokens, newest first (`page` from 1).
pub fn page(conn: &mut SqliteConnection, user_id: i32, page: i64, per_page: i64) -> Result<Vec<AccessToken>, Error> {
    Ok(access_tokens::table
        .filter(access_tokens::user_id.eq(user_id))
        .order(access_tokens::id.desc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select(AccessToken::as_select())
        .load(conn)?)
}

pub fn find_owned(conn: &mut SqliteConnection, user_id: i32, uuid: &str) -> Result<Option<AccessToken>, Error> {
    Ok(access_tokens::table.filter(access_tokens::user_id.eq(user_id)).filter(access_tokens::uuid.eq(uuid)).select(AccessToken::as_select()).first(conn).optional()?)
}

/// Renames and/or (de)activates one of the owner's tokens. Expired tokens are refused.
pub fn update(
    conn: &mut SqliteConnection,
    user_id: i32,
    uuid: &str,
    description: Option<String>,
    active: Option<bool>,
    client: &Client,
    now: Timestamp,
) -> Result<AccessToken, Error> {
    crate::db::write_tx(conn, |conn| {
        let token = find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)?;
        if token.is_expired(now) {
            return Err(Error::Expired);
        }
        let target = access_tokens::table.filter(access_tokens::id.eq(token.id));
        if let Some(d) = description.filter(|d| *d != token.description) {
            diesel::update(target).set(access_tokens::description.eq(&d)).execute(conn)?;
            activity::record(
                conn,
                user_id,
                Event::TokenRenamed,
                &format!("\u{201c}{}\u{201d} → \u{201c}{}\u{201d}", crate::text::isolated(&token.description), crate::text::isolated(&d)),
                client,
                now,
            )?;
        }
        if let Some(a) = active.filter(|a| *a != token.is_active) {
            diesel::update(target).set(access_tokens::is_active.eq(a)).execute(conn)?;
            let event = if a { Event::TokenActivated } else { Event::TokenDeactivated };
            activity::record(conn, user_id, event, &token_detail(&token), client, now)?;
        }
        find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)
    })
}

/// Changes the permissions of one of the owner's tokens, within the plan's rules (as at
/// creation); an expired token is refused. The change is in the owner's activity.
pub fn set_scope(conn: &mut SqliteConnection, user_id: i32, uuid: &str, scope: Scope, client: &Client, now: Timestamp) -> Result<AccessToken, Error> {
    crate::db::write_tx(conn, |conn| {
        let token = find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)?;
        if token.is_expired(now) {
            return Err(Error::Expired);
        }
        if token.scope() == scope {
            return Ok(token);
        }
        let plan: String = users::table.find(user_id).select(users::plan).first(conn)?;
        if !scope.allowed_on(plan.parse().unwrap_or(Plan::Personal)) {
            return Err(Error::ScopeNotInPlan);
        }
        diesel::update(access_tokens::table.filter(access_tokens::id.eq(token.id))).set(access_tokens::scope.eq(scope.as_str())).execute(conn)?;
        let detail = format!("{}: {} → {}", token_detail(&token), token.scope().label(), scope.label());
        activity::record(conn, user_id, Event::TokenScopeChanged, &detail, client, now)?;
        find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)
    })
}

/// Deletes the owner's tokens named by `uuids`, all or nothing: one uuid that is not
/// theirs (or does not exist) and nothing is deleted. One transaction, one event per token.
pub fn delete(conn: &mut SqliteConnection, user_id: i32, uuids: &[String], client: &Client, now: Timestamp) -> Result<usize, Error> {
    let mut wanted: Vec<&String> = uuids.iter().collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(0);
    }
    crate::db::write_tx(conn, |conn| {
        let mut found: Vec<AccessToken> = Vec::with_capacity(wanted.len());
        // SQLite binds at most 32766 variables a statement; chunks keep any list legal
        for chunk in wanted.chunks(500) {
            found.extend(access_tokens::table.filter(access_tokens::user_id.eq(user_id)).filter(access_tokens::uuid.eq_any(chunk)).select(AccessToken::as_select()).load(conn)?);
        }
        if found.len() != wanted.len() {
            return Err(Error::NotFound);
        }
        for chunk in found.chunks(500) {
            let ids: Vec<i32> = chunk.iter().map(|t| t.id).collect();
            diesel::delete(access_tokens::table.filter(access_tokens::id.eq_any(ids))).execute(conn)?;
        }
        diesel::update(users::table.find(user_id)).set(users::token_count.eq(users::token_count - found.len() as i64)).execute(conn)?;
        for t in &found {
            activity::record(conn, user_id, Event::TokenDeleted, &token_detail(t), client, now)?;
        }
        Ok(found.len())
    })
}

/// Deletes every token of a user (`berth user revoke-tokens`).
pub fn revoke_all(conn: &mut SqliteConnection, user_id: i32, client: &Client, now: Timestamp) -> Result<usize, Error> {
    let uuids: Vec<String> = access_tokens::table.filter(access_tokens::user_id.eq(user_id)).select(access_tokens::uuid).load(conn)?;
    delete(conn, user_id, &uuids, client, now)
}

/// Who a valid token speaks for, and with what scope.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub token_id: i32,
    pub token_uuid: String,
    pub user_id: i32,
    pub username: String,
    pub scope: Scope,
    /// The owner may be granted operator-only access (the registry catalog).
    pub operator: bool,
}

/// Last use is written at most this often per token when IP and client are unchanged.
pub const LAST_USE_EVERY: i64 = 60;

/// Checks a presented token for `username`: format and checksum first (no query for a
/// malformed one), then the hash lookup, the owner (same username, enabled), active, not
/// expired. On success records last use — at once when the IP or client differs from the
/// stored one, otherwise at most once a minute — and never on failure.
pub fn authenticate(conn: &mut SqliteConnection, now: Timestamp, username: &str, secret: &str, ip: &str, user_agent: &str) -> Result<Option<Authenticated>, Error> {
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
/// with its owner's username: they hold the token, so nothing leaks; anyone else (another
/// user's name, a deleted or unknown token) learns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Deactivated,
    /// Said even when the token is also inactive: an expired token can only be deleted.
    Expired,
}

/// A token that matched its owner's name but is refused, as read from the database.
#[derive(Debug, Clone)]
pub struct RefusedToken {
    pub reason: Refused,
    token: AccessToken,
}

/// What a presented token turned out to be.
#[derive(Debug)]
pub enum Lookup {
    Valid(Found),
    Refused(RefusedToken),
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
        let user_agent = activity::truncate(user_agent, activity::MAX_USER_AGENT);
        let due = sighting_due((t.last_refused_at, t.last_refused_ip.as_deref(), t.last_refused_ua.as_deref()), now, ip, &user_agent);
        let why = match self.reason {
            Refused::Deactivated => "deactivated",
            Refused::Expired => "expired",
        };
        due.then(|| RefusedUse { token_id: t.id, user_id: t.user_id, detail: format!("{}, {why}", token_detail(t)), ip: ip.to_string(), user_agent })
    }
}

/// Records a refused use in the owner's activity. As with last use, the UPDATE re-checks
/// its condition, so of concurrent refusals only one writes.
pub fn record_refused_use(conn: &mut SqliteConnection, due: &RefusedUse, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let written = diesel::update(
            access_tokens::table.filter(access_tokens::id.eq(due.token_id)).filter(
                access_tokens::last_refused_at
                    .is_null()
                    .or(access_tokens::last_refused_at.le(now - LAST_USE_EVERY))
                    .or(access_tokens::last_refused_ip.is_not(&due.ip))
                    .or(access_tokens::last_refused_ua.is_not(&due.user_agent)),
            ),
        )
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
/// connection, as the registry's hot path does).
pub fn lookup(conn: &mut SqliteConnection, now: Timestamp, username: &str, secret: &str) -> Result<Lookup, Error> {
    let Some(plain) = PlainToken::parse(secret) else { return Ok(Lookup::NoMatch) };
    let hash = plain.hash();
    let found: Option<(AccessToken, String, bool, bool)> = access_tokens::table
        .inner_join(users::table)
        .filter(access_tokens::token_hash.eq(hash.0.to_vec()))
        .select((AccessToken::as_select(), users::username, users::is_disabled, users::is_operator))
        .first(conn)
        .optional()?;
    let Some((token, owner, disabled, operator)) = found else { return Ok(Lookup::NoMatch) };
    if owner != username.trim().to_lowercase() || disabled {
        return Ok(Lookup::NoMatch);
    }
    if token.is_expired(now) {
        return Ok(Lookup::Refused(RefusedToken { reason: Refused::Expired, token }));
    }
    if !token.is_active {
        return Ok(Lookup::Refused(RefusedToken { reason: Refused::Deactivated, token }));
    }
    let auth = Authenticated { token_id: token.id, token_uuid: token.uuid.clone(), user_id: token.user_id, username: owner, scope: token.scope(), operator };
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
        let user_agent = activity::truncate(user_agent, activity::MAX_USER_AGENT);
        let new_ip = t.last_used_ip.as_deref() != Some(ip);
        let due = sighting_due((t.last_used_at, t.last_used_ip.as_deref(), t.last_used_ua.as_deref()), now, ip, &user_agent);
        due.then(|| LastUse { token_id: t.id, user_id: t.user_id, detail: token_detail(t), ip: ip.to_string(), user_agent, new_ip })
    }
}

/// The one coalescing rule for what a token's use leaves behind (last use, a refused use):
/// due at once from a new IP or client, otherwise once a minute.
fn sighting_due(last: (Option<Timestamp>, Option<&str>, Option<&str>), now: Timestamp, ip: &str, user_agent: &str) -> bool {
    let (at, last_ip, last_ua) = last;
    last_ip != Some(ip) || last_ua != Some(user_agent) || at.is_none_or(|at| now - at >= LAST_USE_EVERY)
}

/// Writes a due last use. The UPDATE re-checks its own condition, so of concurrent
/// requests that all saw a stale use only one writes (and logs a new IP): at most one
/// write a minute per token for an unchanged client, however many pulls run at once.
pub fn record_last_use(conn: &mut SqliteConnection, due: &LastUse, now: Timestamp) -> Result<(), Error> {
    let written = diesel::update(
        access_tokens::table.filter(access_tokens::id.eq(due.token_id)).filter(
            access_tokens::last_used_at
                .is_null()
                .or(access_tokens::last_used_at.le(now - LAST_USE_EVERY))
                .or(access_tokens::last_used_ip.is_not(&due.ip))
                .or(access_tokens::last_used_ua.is_not(&due.user_agent)),
        ),
    )
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

/// Plans and tokens meet here: what the overview and the form say about creating.
pub fn can_create(plan: Plan, held: i64) -> Result<(), String> {
    match plan.token_limit() {
        Some(limit) if held >= i64::from(limit) => Err(limit_message(limit, held)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_795_834_489; // 2026-11-28T00:54:49Z

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

    #[test]
    fn descriptions_are_1_to_100_characters_without_control_characters() {
        assert!(check_description("").is_err());
        assert!(check_description("   ").is_err());
        assert_eq!(check_description(" ci on build-01 ").unwrap(), "ci on build-01");
        assert!(check_description(&"é".repeat(100)).is_ok());
        assert!(check_description(&"é".repeat(101)).is_err());
        assert!(check_description("line\nbreak").is_err());
        assert!(check_description("nul\u{0}").is_err());
    }

    #[test]
    fn a_custom_date_means_the_end_of_that_day_utc_within_a_year() {
        let today = Utc.timestamp_opt(NOW, 0).unwrap().date_naive();
        let end_today = Expiry::Until(today).at(NOW).unwrap().unwrap();
        assert_eq!(Utc.timestamp_opt(end_today, 0).unwrap().format("%H:%M:%S").to_string(), "23:59:59");
        assert!(Expiry::Until(today.pred_opt().unwrap()).at(NOW).is_err());
        assert!(Expiry::Until(today + chrono::Days::new(365)).at(NOW).is_ok());
        assert!(Expiry::Until(today + chrono::Days::new(366)).at(NOW).is_err());
        assert_eq!(Expiry::Days(30).at(NOW).unwrap(), Some(NOW + 30 * 86_400));
        assert!(Expiry::Days(31).at(NOW).is_err());
        assert_eq!(Expiry::Never.at(NOW).unwrap(), None);
    }

    #[test]
    fn the_limit_message_counts_right() {
        assert!(can_create(Plan::Personal, 0).is_ok());
        assert!(can_create(Plan::Personal, 1).unwrap_err().contains("1 access token,"));
        assert!(can_create(Plan::Pro, 5).unwrap_err().contains("5 access tokens"));
        let over = can_create(Plan::Personal, 7).unwrap_err();
        assert!(over.contains("allows 1 access token; you hold 7") && over.contains("keep working"), "{over}");
        assert!(can_create(Plan::Team, 10_000).is_ok());
    }
}
