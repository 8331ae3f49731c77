//! Managing personal access tokens: the plan's rules (scope and limit, checked here once for
//! the pages and the JSON API), the one-year expiry rule, creation, the owner's overview
//! (search, counts, pages), edits, (de)activation and deletion. Every change is one
//! transaction with its event in the user's activity.

use crate::db::Conn;
use chrono::{NaiveDate, TimeZone, Utc};
use diesel::prelude::*;

use super::{AccessToken, PlainToken, Scope, Status, token_detail};
use crate::Error;
use crate::activity::{self, Client, Event};
use crate::clock::Timestamp;
use crate::db::schema::{access_tokens, owners};
use crate::owners::{OwnerId, Plan, of_user};

pub const DESCRIPTION_MAX: usize = 100;

/// 1–100 characters after trimming, no control or bidi characters (`text::hidden_controls`).
pub fn check_description(input: &str) -> Result<String, Error> {
    check_token_name(input, "description")
}

/// The rule of a token's description, for the name a token is known by under another word
/// (an organization access token's `label`): refused beside `field`, in sentences naming it.
pub fn check_token_name(input: &str, field: crate::error::Field) -> Result<String, Error> {
    let d = input.trim();
    if d.is_empty() {
        return Err(Error::invalid_field(field, format!("Add a {field}, such as where the token will be used.")));
    }
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(Error::invalid_field(field, "Use at most 100 characters."));
    }
    if let Some(hidden) = crate::text::hidden_controls(d) {
        return Err(Error::invalid_field(field, format!("The {field} {}", hidden.why())));
    }
    Ok(d.to_string())
}

/// When a new token stops working, as the web form or the JSON API asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    Days(i64),
    /// A custom date: the token works until the end of that day, UTC.
    Until(NaiveDate),
    /// An exact instant (the JSON API's `expires_at`).
    At(Timestamp),
}

pub const EXPIRY_DAYS: [i64; 3] = [30, 60, 90];
/// A token may expire at most this many days ahead: until the end of that day, UTC.
pub const MAX_EXPIRY_DAYS: i64 = 365;

/// The last day a token may expire on: `MAX_EXPIRY_DAYS` after today (UTC).
pub fn latest_expiry_day(now: Timestamp) -> Result<NaiveDate, Error> {
    let today = Utc.timestamp_opt(now, 0).single().map(|t| t.date_naive()).ok_or_else(|| Error::internal("the clock is out of range"))?;
    Ok(today + chrono::Days::new(MAX_EXPIRY_DAYS as u64))
}

fn end_of_day(date: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&date.and_hms_opt(23, 59, 59).expect("valid time")).timestamp()
}

impl Expiry {
    /// The expiry instant, or why the choice is refused. The one-year rule, for every door:
    /// a date or instant must lie ahead, and no later than the end of the day one year
    /// (`MAX_EXPIRY_DAYS`) after today.
    pub fn at(self, now: Timestamp) -> Result<Option<Timestamp>, Error> {
        let at = match self {
            Expiry::Never => return Ok(None),
            Expiry::Days(d) if EXPIRY_DAYS.contains(&d) => return Ok(Some(now + d * 86_400)),
            Expiry::Days(_) => return Err(Error::invalid("Choose 30, 60 or 90 days, a date, or no expiry.")),
            Expiry::Until(date) => end_of_day(date),
            Expiry::At(at) => at,
        };
        if at <= now {
            Err(Error::invalid("Choose a date that has not passed."))
        } else if at > end_of_day(latest_expiry_day(now)?) {
            Err(Error::invalid("Choose a date at most one year ahead."))
        } else {
            Ok(Some(at))
        }
    }
}

pub struct NewToken {
    pub description: String,
    pub scope: Scope,
    pub expires_at: Option<Timestamp>,
}

/// The plan's limit, the one check of it: one more token must fit (`held` are held).
pub fn check_limit(plan: Plan, held: i64) -> Result<(), Error> {
    match plan.token_limit() {
        Some(limit) if held >= i64::from(limit) => Err(Error::PlanLimit { limit, held }),
        _ => Ok(()),
    }
}

/// The plan's scopes, the one check of them: Personal gets "Read, Write, Delete" only.
pub fn check_scope(plan: Plan, scope: Scope) -> Result<(), Error> {
    if scope.allowed_on(plan) { Ok(()) } else { Err(Error::ScopeNotInPlan) }
}

/// The widest scope the plan lets a token have: what a token gets when its creator names
/// none (Docker Hub's tokens from before scopes).
pub fn broadest_scope(plan: Plan) -> Scope {
    Scope::ALL.into_iter().find(|s| s.allowed_on(plan)).unwrap_or(Scope::Admin)
}

/// What the overview and the form say about creating: the limit's sentence, if reached.
pub fn limit_reason(plan: Plan, held: i64) -> Option<String> {
    check_limit(plan, held).err().map(|e| e.to_string())
}

/// Creates a token of `user_id`'s own namespace if its plan allows the scope and one more
/// token. Counting and inserting happen in one write transaction that holds the owner's
/// row (on SQLite the database's write lock), so concurrent creations, on any instance,
/// cannot pass the limit together. Returns the token and its plaintext (shown
/// once, never stored).
pub fn create(conn: &mut Conn, user_id: i32, new: NewToken, client: &Client, now: Timestamp) -> Result<(AccessToken, PlainToken), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner_of_user(conn, user_id)?;
        let owner = of_user(conn, user_id)?;
        check_scope(owner.plan(), new.scope)?;
        check_limit(owner.plan(), owner.token_count)?;
        let plain = PlainToken::generate();
        let token = diesel::insert_into(access_tokens::table)
            .values((
                access_tokens::uuid.eq(uuid::Uuid::new_v4().to_string()),
                access_tokens::owner_id.eq(owner.id.0),
                access_tokens::description.eq(&new.description),
                access_tokens::scope.eq(new.scope.as_str()),
                access_tokens::token_hash.eq(plain.hash().0.to_vec()),
                access_tokens::hint.eq(plain.hint()),
                access_tokens::created_at.eq(now),
                access_tokens::creator_ip.eq(&client.ip),
                access_tokens::creator_ua.eq(activity::truncate(&client.user_agent, activity::MAX_USER_AGENT)),
                access_tokens::expires_at.eq(new.expires_at),
            ))
            .returning(access_tokens::id)
            .get_result::<i32>(conn)?;
        // `MultiConnection` returns columns, not a `Selectable` struct: the row is read back
        let token = access_tokens::table.find(token).select(AccessToken::as_select()).first(conn)?;
        diesel::update(owners::table.find(owner.id.0)).set(owners::token_count.eq(owners::token_count + 1)).execute(conn)?;
        activity::record(conn, user_id, Event::TokenCreated, &token_detail(&token), client, now)?;
        Ok((token, plain))
    })
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

/// The counts of `user_id`'s tokens, at a cost that follows the expired and inactive tokens
/// only: the total is kept on the owner, the two small groups are counted through their
/// indexes.
pub fn counts(conn: &mut Conn, user_id: i32, now: Timestamp) -> Result<Counts, Error> {
    let owner = of_user(conn, user_id)?;
    let mine = || access_tokens::table.filter(access_tokens::owner_id.eq(owner.id.0));
    let total = owner.token_count;
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

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

type TokenQuery<'a> = access_tokens::BoxedQuery<'a, crate::db::Backend>;

fn filtered<'a>(owner: OwnerId, filter: &'a Filter, now: Timestamp) -> TokenQuery<'a> {
    let mut q = access_tokens::table.filter(access_tokens::owner_id.eq(owner.0)).into_boxed();
    if let Some(text) = &filter.text {
        // LIKE with its wildcards escaped: the text is matched as typed, in any case. Both
        // sides are lowered by the database, as PostgreSQL's LIKE minds case and SQLite's
        // does not (its `lower` folds ASCII only, PostgreSQL's all of Unicode)
        let pattern = crate::text::like_containing(text);
        q = q.filter(lower(access_tokens::description).like(lower(pattern)).escape('\\'));
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

/// One page of `user_id`'s tokens that match `filter`, in its order, and how many match.
pub fn search(conn: &mut Conn, user_id: i32, filter: &Filter, now: Timestamp, page: i64, per_page: i64) -> Result<(Vec<AccessToken>, i64), Error> {
    let owner = of_user(conn, user_id)?.id;
    let matching: i64 = filtered(owner, filter, now).count().get_result(conn)?;
    let q = filtered(owner, filter, now);
    let q = match filter.sort {
        Sort::Created => q.order(access_tokens::id.desc()),
        Sort::LastUsed => q.order((access_tokens::last_used_at.is_null(), access_tokens::last_used_at.desc(), access_tokens::id.desc())),
        Sort::Expires => q.order((access_tokens::expires_at.is_null(), access_tokens::expires_at.asc(), access_tokens::id.desc())),
    };
    let rows = q.offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(AccessToken::as_select()).load(conn)?;
    Ok((rows, matching))
}

/// Deletes every expired token of `user_id`, in one transaction, one event per token.
pub fn delete_expired(conn: &mut Conn, user_id: i32, client: &Client, now: Timestamp) -> Result<usize, Error> {
    crate::db::write_tx(conn, |conn| {
        let owner = of_user(conn, user_id)?.id;
        let uuids: Vec<String> =
            access_tokens::table.filter(access_tokens::owner_id.eq(owner.0)).filter(access_tokens::expires_at.le(now)).select(access_tokens::uuid).load(conn)?;
        delete(conn, user_id, &uuids, client, now)
    })
}

/// One page of `user_id`'s tokens, newest first (`page` from 1).
pub fn page(conn: &mut Conn, user_id: i32, page: i64, per_page: i64) -> Result<Vec<AccessToken>, Error> {
    let owner = of_user(conn, user_id)?.id;
    Ok(access_tokens::table
        .filter(access_tokens::owner_id.eq(owner.0))
        .order(access_tokens::id.desc())
        .offset((page.max(1) - 1).saturating_mul(per_page))
        .limit(per_page)
        .select(AccessToken::as_select())
        .load(conn)?)
}

/// One of `user_id`'s tokens by its uuid: None when it does not exist or is not theirs
/// (the token's owner is not the user's own namespace). One indexed read.
pub fn find_owned(conn: &mut Conn, user_id: i32, uuid: &str) -> Result<Option<AccessToken>, Error> {
    Ok(access_tokens::table
        .inner_join(owners::table)
        .filter(access_tokens::uuid.eq(uuid))
        .filter(owners::user_id.eq(user_id))
        .select(AccessToken::as_select())
        .first(conn)
        .optional()?)
}

/// Renames and/or (de)activates one of `user_id`'s tokens. Expired tokens are refused.
pub fn update(conn: &mut Conn, user_id: i32, uuid: &str, description: Option<String>, active: Option<bool>, client: &Client, now: Timestamp) -> Result<AccessToken, Error> {
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

/// Changes the permissions of one of `user_id`'s tokens, within the plan's rules (as at
/// creation); an expired token is refused. The change is in the user's activity.
pub fn set_scope(conn: &mut Conn, user_id: i32, uuid: &str, scope: Scope, client: &Client, now: Timestamp) -> Result<AccessToken, Error> {
    crate::db::write_tx(conn, |conn| {
        let token = find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)?;
        if token.is_expired(now) {
            return Err(Error::Expired);
        }
        if token.scope() == scope {
            return Ok(token);
        }
        check_scope(of_user(conn, user_id)?.plan(), scope)?;
        diesel::update(access_tokens::table.filter(access_tokens::id.eq(token.id))).set(access_tokens::scope.eq(scope.as_str())).execute(conn)?;
        let detail = format!("{}: {} → {}", token_detail(&token), token.scope().label(), scope.label());
        activity::record(conn, user_id, Event::TokenScopeChanged, &detail, client, now)?;
        find_owned(conn, user_id, uuid)?.ok_or(Error::NotFound)
    })
}

/// Deletes `user_id`'s tokens named by `uuids`, all or nothing: one uuid that is not
/// theirs (or does not exist) and nothing is deleted. One transaction, one event per token.
pub fn delete(conn: &mut Conn, user_id: i32, uuids: &[String], client: &Client, now: Timestamp) -> Result<usize, Error> {
    let mut wanted: Vec<&String> = uuids.iter().collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(0);
    }
    crate::db::write_tx(conn, |conn| {
        let owner = of_user(conn, user_id)?.id;
        let mut found: Vec<AccessToken> = Vec::with_capacity(wanted.len());
        // SQLite binds at most 32766 variables a statement; chunks keep any list legal
        for chunk in wanted.chunks(500) {
            found.extend(access_tokens::table.filter(access_tokens::owner_id.eq(owner.0)).filter(access_tokens::uuid.eq_any(chunk)).select(AccessToken::as_select()).load(conn)?);
        }
        if found.len() != wanted.len() {
            return Err(Error::NotFound);
        }
        for chunk in found.chunks(500) {
            let ids: Vec<i32> = chunk.iter().map(|t| t.id).collect();
            diesel::delete(access_tokens::table.filter(access_tokens::id.eq_any(ids))).execute(conn)?;
        }
        diesel::update(owners::table.find(owner.0)).set(owners::token_count.eq(owners::token_count - found.len() as i64)).execute(conn)?;
        for t in &found {
            activity::record(conn, user_id, Event::TokenDeleted, &token_detail(t), client, now)?;
        }
        Ok(found.len())
    })
}

/// Deletes every token of a user (`berth user revoke-tokens`).
pub fn revoke_all(conn: &mut Conn, user_id: i32, client: &Client, now: Timestamp) -> Result<usize, Error> {
    let owner = of_user(conn, user_id)?.id;
    let uuids: Vec<String> = access_tokens::table.filter(access_tokens::owner_id.eq(owner.0)).select(access_tokens::uuid).load(conn)?;
    delete(conn, user_id, &uuids, client, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_795_834_489; // 2026-11-28T00:54:49Z

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

    /// The JSON API's instants follow the same rule as the form's dates: ahead, and no later
    /// than the end of the day a year from today.
    #[test]
    fn an_exact_instant_obeys_the_same_one_year_rule() {
        let last = end_of_day(latest_expiry_day(NOW).unwrap());
        assert_eq!(Expiry::At(last).at(NOW).unwrap(), Some(last));
        assert_eq!(Expiry::At(last).at(NOW).unwrap(), Expiry::Until(latest_expiry_day(NOW).unwrap()).at(NOW).unwrap(), "the last day as a date or as its last second");
        assert!(Expiry::At(last + 1).at(NOW).unwrap_err().to_string().contains("at most one year ahead"));
        assert!(Expiry::At(NOW).at(NOW).unwrap_err().to_string().contains("has not passed"));
        assert_eq!(Expiry::At(NOW + 1).at(NOW).unwrap(), Some(NOW + 1));
    }

    #[test]
    fn the_plan_rules_refuse_with_their_kind() {
        assert!(matches!(check_limit(Plan::Personal, 1), Err(Error::PlanLimit { limit: 1, held: 1 })));
        assert!(check_limit(Plan::Pro, 4).is_ok());
        assert!(matches!(check_scope(Plan::Personal, Scope::Read), Err(Error::ScopeNotInPlan)));
        assert!(check_scope(Plan::Personal, Scope::Admin).is_ok());
    }

    #[test]
    fn the_limit_message_counts_right() {
        assert!(limit_reason(Plan::Personal, 0).is_none());
        assert!(limit_reason(Plan::Personal, 1).unwrap().contains("1 access token,"));
        assert!(limit_reason(Plan::Pro, 5).unwrap().contains("5 access tokens"));
        let over = limit_reason(Plan::Personal, 7).unwrap();
        assert!(over.contains("allows 1 access token; you hold 7") && over.contains("keep working"), "{over}");
        assert!(limit_reason(Plan::Team, 10_000).is_none());
    }
}
