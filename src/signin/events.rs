//! The security events of signing in, and how a failure is counted: its throttle slot kept
//! as a failure first, then the failure and the lock it starts written in one transaction.

use crate::db::Conn;

use crate::Error;
use crate::activity::{self, Client, Event};
use crate::clock::Timestamp;
use crate::signin::Service;
use crate::throttle::Reservation;

/// Whose failure to log, as which event, with what detail. None: the failure names no
/// account (a wrong token), and only counts.
pub type Logged = Option<(i32, Event, &'static str)>;

/// Counts a failed attempt in the throttle (the slot kept as a failure) and writes, in the
/// caller's transaction, the failure event and the lock it starts — once per lock: a
/// throttled attacker's further attempts write nothing.
pub fn fail(conn: &mut Conn, slot: Reservation, logged: Logged, client: &Client, now: Timestamp) -> Result<(), Error> {
    let lock = slot.failed();
    write_failure(conn, logged, lock, client, now)
}

fn write_failure(conn: &mut Conn, logged: Logged, lock: Option<u64>, client: &Client, now: Timestamp) -> Result<(), Error> {
    let Some((user_id, event, detail)) = logged else { return Ok(()) };
    activity::record(conn, user_id, event, detail, client, now)?;
    if let Some(seconds) = lock {
        let detail = format!("sign-in paused for {} after repeated failures", crate::text::duration(seconds));
        activity::record(conn, user_id, Event::Throttled, &detail, client, now)?;
    }
    Ok(())
}

/// As `fail`, for a failure decided outside the database (a password, a token): the slot is
/// counted at once, then its events are written in one transaction of their own.
pub async fn count_failure(svc: &Service, slot: Reservation, logged: Logged, client: &Client) -> Result<(), Error> {
    let lock = slot.failed_async().await?;
    if logged.is_none() {
        return Ok(());
    }
    let (client, now) = (client.clone(), svc.now());
    svc.db.run(move |c| crate::db::write_tx(c, |c| write_failure(c, logged, lock, &client, now))).await
}

/// Writes one event that is not part of a sign-in step (signing out, a security setting
/// changed) in a transaction of its own.
pub async fn record(svc: &Service, user_id: i32, event: Event, detail: &str, client: &Client) -> Result<(), Error> {
    let (detail, client, now) = (detail.to_string(), client.clone(), svc.now());
    svc.db.run(move |c| activity::record(c, user_id, event, &detail, &client, now)).await
}
