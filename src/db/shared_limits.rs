//! The throttle's and the API rate limit's counts in the database, for several instances
//! on one PostgreSQL: 5 wrong passwords spread over two instances lock the account exactly
//! as on one. Each step is one transaction under PostgreSQL advisory locks on the account
//! and the IP (always taken in that order), so no other instance's attempt comes between
//! a check and its count. Calls come from the blocking pool (`ThrottleStore::shared`).

use std::net::IpAddr;

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

use super::schema::{rate_windows, throttle_accounts, throttle_ip_failures, throttle_reservations};
use super::{Conn, DbPool};
use crate::clock::Timestamp;
use crate::config::ThrottleConfig;
use crate::throttle::rate::RateStore;
use crate::throttle::{AccountEntry, AccountKey, IpEntry, Outcome, RESERVATION_SECONDS, ThrottleStore, UNAVAILABLE_WAIT, account_wait, backoff, ip_wait};

/// The throttle's state in the database.
pub struct DbThrottleStore {
    pool: DbPool,
    /// `Keys::throttle_name`: the key of the stored form of an unknown login name.
    name_key: [u8; 32],
}

/// The API's request counts in the database.
pub struct DbRateStore {
    pool: DbPool,
}

impl DbThrottleStore {
    pub fn new(pool: DbPool, name_key: [u8; 32]) -> Self {
        DbThrottleStore { pool, name_key }
    }
}

impl DbRateStore {
    pub fn new(pool: DbPool) -> Self {
        DbRateStore { pool }
    }
}

/// The account's key as stored. A login name no account holds is what was typed, which
/// may be a password typed into the wrong field: it is stored as its HMAC under a key of
/// its own, never as typed (and so a NUL, which PostgreSQL's text cannot hold, is no matter).
fn account_text(name_key: &[u8; 32], key: &AccountKey) -> String {
    match key {
        AccountKey::User(id) => format!("user:{id}"),
        AccountKey::Unknown(name) => format!("name:{}", crate::keys::hmac_hex(name_key, &[name.as_bytes()])),
    }
}

/// Runs `f` in a transaction on a pooled PostgreSQL connection.
fn in_tx<T>(pool: &DbPool, f: impl FnOnce(&mut PgConnection) -> QueryResult<T>) -> Result<T, String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let Conn::Postgres(pg) = &mut *conn else { return Err("shared limits need PostgreSQL".into()) };
    pg.transaction(f).map_err(|e| e.to_string())
}

/// Serialises every step on `account` and `ip` across instances until the transaction ends.
fn lock(c: &mut PgConnection, account: Option<&str>, ip: &str) -> QueryResult<()> {
    for key in account.map(|a| format!("throttle account {a}")).into_iter().chain([format!("throttle ip {ip}")]) {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind::<Text, _>(key).execute(c)?;
    }
    Ok(())
}

/// The account's and the IP's counts as of `now`; reservations past their time count no more.
fn read(c: &mut PgConnection, rules: &ThrottleConfig, account: Option<&str>, ip: &str, now: Timestamp) -> QueryResult<(Option<AccountEntry>, IpEntry)> {
    let account_entry = match account {
        None => None,
        Some(a) => {
            let row: Option<(i32, i64)> = throttle_accounts::table.find(a).select((throttle_accounts::failures, throttle_accounts::last_failure)).first(c).optional()?;
            let in_flight: i64 =
                throttle_reservations::table.filter(throttle_reservations::account.eq(a)).filter(throttle_reservations::expires_at.gt(now)).count().get_result(c)?;
            let (failures, last_failure) = row.unwrap_or((0, 0));
            Some(AccountEntry { failures: failures.max(0) as u32, last_failure, in_flight: in_flight as u32 })
        }
    };
    let failures: Vec<i64> = throttle_ip_failures::table
        .filter(throttle_ip_failures::ip.eq(ip))
        .filter(throttle_ip_failures::at.gt(now - rules.ip_window_seconds as i64))
        .order(throttle_ip_failures::at.asc())
        .select(throttle_ip_failures::at)
        .load(c)?;
    let in_flight: i64 = throttle_reservations::table.filter(throttle_reservations::ip.eq(ip)).filter(throttle_reservations::expires_at.gt(now)).count().get_result(c)?;
    Ok((account_entry, IpEntry { failures: failures.into(), in_flight: in_flight as u32 }))
}

fn wait_of(rules: &ThrottleConfig, account: &Option<AccountEntry>, ip: &IpEntry, now: Timestamp) -> i64 {
    account.as_ref().map_or(0, |e| account_wait(rules, e, now)).max(ip_wait(rules, ip, now))
}

impl ThrottleStore for DbThrottleStore {
    fn shared(&self) -> bool {
        true
    }

    fn reserve(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Result<(), u64> {
        let (account, ip) = (account.map(|a| account_text(&self.name_key, a)), ip.to_string());
        let done = in_tx(&self.pool, |c| {
            lock(c, account.as_deref(), &ip)?;
            let (account_entry, ip_entry) = read(c, rules, account.as_deref(), &ip, now)?;
            let wait = wait_of(rules, &account_entry, &ip_entry, now);
            if wait > 0 {
                return Ok(Err(wait as u64));
            }
            diesel::insert_into(throttle_reservations::table)
                .values((throttle_reservations::account.eq(&account), throttle_reservations::ip.eq(&ip), throttle_reservations::expires_at.eq(now + RESERVATION_SECONDS)))
                .execute(c)?;
            Ok(Ok(()))
        });
        done.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "throttle store: reserving");
            Err(UNAVAILABLE_WAIT)
        })
    }

    fn settle(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp, outcome: Outcome) -> Option<u64> {
        let (account, ip) = (account.map(|a| account_text(&self.name_key, a)), ip.to_string());
        let done = in_tx(&self.pool, |c| {
            lock(c, account.as_deref(), &ip)?;
            // one reservation of this account and IP ends: the oldest, so an expired one goes first
            let mine = throttle_reservations::table.filter(throttle_reservations::ip.eq(&ip)).into_boxed();
            let mine = match &account {
                Some(a) => mine.filter(throttle_reservations::account.eq(a)),
                None => mine.filter(throttle_reservations::account.is_null()),
            };
            if let Some(id) = mine.order(throttle_reservations::id.asc()).select(throttle_reservations::id).first::<i32>(c).optional()? {
                diesel::delete(throttle_reservations::table.find(id)).execute(c)?;
            }
            diesel::delete(throttle_ip_failures::table.filter(throttle_ip_failures::ip.eq(&ip)).filter(throttle_ip_failures::at.le(now - rules.ip_window_seconds as i64)))
                .execute(c)?;
            if outcome == Outcome::Failed {
                diesel::insert_into(throttle_ip_failures::table).values((throttle_ip_failures::ip.eq(&ip), throttle_ip_failures::at.eq(now))).execute(c)?;
            }
            let Some(account) = &account else { return Ok(None) };
            match outcome {
                Outcome::Failed => {
                    let failures: i32 = diesel::insert_into(throttle_accounts::table)
                        .values((throttle_accounts::account.eq(account), throttle_accounts::failures.eq(1), throttle_accounts::last_failure.eq(now)))
                        .on_conflict(throttle_accounts::account)
                        .do_update()
                        .set((throttle_accounts::failures.eq(throttle_accounts::failures + 1), throttle_accounts::last_failure.eq(now)))
                        .returning(throttle_accounts::failures)
                        .get_result(c)?;
                    Ok(backoff(rules, failures.max(0) as u32))
                }
                Outcome::Succeeded => {
                    diesel::delete(throttle_accounts::table.find(account)).execute(c)?;
                    Ok(None)
                }
                Outcome::Released => Ok(None),
            }
        });
        done.unwrap_or_else(|e| {
            // the reservation expires on its own; the failure, if it was one, is not counted
            tracing::warn!(error = %e, "throttle store: settling");
            None
        })
    }

    fn wait(&self, rules: &ThrottleConfig, account: Option<&AccountKey>, ip: IpAddr, now: Timestamp) -> Option<u64> {
        let (account, ip) = (account.map(|a| account_text(&self.name_key, a)), ip.to_string());
        let done = in_tx(&self.pool, |c| {
            let (account_entry, ip_entry) = read(c, rules, account.as_deref(), &ip, now)?;
            Ok(wait_of(rules, &account_entry, &ip_entry, now))
        });
        match done {
            Ok(wait) => (wait > 0).then_some(wait as u64),
            Err(e) => {
                tracing::warn!(error = %e, "throttle store: reading");
                Some(UNAVAILABLE_WAIT)
            }
        }
    }

    fn clear(&self, account: &AccountKey) {
        let account = account_text(&self.name_key, account);
        if let Err(e) = in_tx(&self.pool, |c| diesel::delete(throttle_accounts::table.find(&account)).execute(c)) {
            tracing::warn!(error = %e, "throttle store: clearing");
        }
    }
}

impl RateStore for DbRateStore {
    fn shared(&self) -> bool {
        true
    }

    fn hit(&self, key: String, start: Timestamp, limit: u32) -> (bool, u32) {
        #[derive(QueryableByName)]
        struct Hits {
            #[diesel(sql_type = Integer)]
            hits: i32,
        }
        // one statement: a new window starts at 1, a window under the limit counts one more,
        // a full one is left alone (and answers no row)
        let counted = in_tx(&self.pool, |c| {
            diesel::sql_query(
                "INSERT INTO rate_windows (caller, window_start, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (caller) DO UPDATE SET \
                   hits = CASE WHEN rate_windows.window_start = EXCLUDED.window_start THEN rate_windows.hits + 1 ELSE 1 END, \
                   window_start = EXCLUDED.window_start \
                 WHERE rate_windows.window_start <> EXCLUDED.window_start OR rate_windows.hits < $3 \
                 RETURNING hits",
            )
            .bind::<Text, _>(&key)
            .bind::<BigInt, _>(start)
            .bind::<Integer, _>(limit.min(i32::MAX as u32) as i32)
            .get_result::<Hits>(c)
            .optional()
        });
        match counted {
            Ok(Some(h)) => (true, h.hits.max(0) as u32),
            Ok(None) => (false, limit),
            Err(e) => {
                // an API that cannot count its callers still answers: the limit guards
                // capacity, not secrets (failed logins are the throttle's, which refuses)
                tracing::warn!(error = %e, "rate store: counting");
                (true, 0)
            }
        }
    }
}

/// Forgets what can no longer count: expired reservations, IP failures past the longest
/// window, accounts a day without failures, past rate windows.
pub fn purge(conn: &mut Conn, rules: &ThrottleConfig, now: Timestamp) -> Result<usize, crate::Error> {
    let mut gone = diesel::delete(throttle_reservations::table.filter(throttle_reservations::expires_at.le(now))).execute(conn)?;
    gone += diesel::delete(throttle_ip_failures::table.filter(throttle_ip_failures::at.le(now - rules.ip_window_seconds as i64))).execute(conn)?;
    gone += diesel::delete(throttle_accounts::table.filter(throttle_accounts::last_failure.le(now - 86_400))).execute(conn)?;
    gone += diesel::delete(rate_windows::table.filter(rate_windows::window_start.le(now - 120))).execute(conn)?;
    Ok(gone)
}
