//! Deliveries: a push queues one per webhook of its repository, in the transaction that
//! records the push; an instance claims the due ones for a while (`CLAIM_SECONDS`), so of
//! several instances on one database only one sends each; an answer in 2xx delivers it,
//! anything else is retried after `BACKOFF` until `ATTEMPTS` are spent. What happened is
//! the delivery log, kept `LOG_KEPT` per webhook.

use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{repositories, webhook_deliveries, webhooks};

/// Attempts per delivery, the first included.
pub const ATTEMPTS: i32 = 5;
/// Seconds to wait after the 1st, 2nd, … failed attempt.
pub const BACKOFF: [Timestamp; 4] = [10, 60, 300, 1800];
/// How long an instance holds a delivery it is sending (longer than the request's timeout).
pub const CLAIM_SECONDS: Timestamp = 60;
/// Deliveries kept in each webhook's log.
pub const LOG_KEPT: i64 = 50;
/// The header carrying the body's signature, `sha256=` and the HMAC-SHA256 in hex.
pub const SIGNATURE_HEADER: &str = "X-Berth-Signature-256";

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A push, as a webhook is told of it.
#[derive(Debug, Clone)]
pub struct Push {
    /// `namespace/path`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: String,
    pub pusher: String,
    pub pushed_at: Timestamp,
}

/// The JSON body of a push's delivery, in Docker Hub's shape (`push_data`, `repository`)
/// with the manifest's digest added. `page_url` is the repository's page on Berth.
pub fn payload(push: &Push, is_private: bool, page_url: &str) -> String {
    let (namespace, name) = push.repository.split_once('/').unwrap_or(("", &push.repository));
    serde_json::json!({
        "callback_url": serde_json::Value::Null,
        "push_data": {
            "pushed_at": push.pushed_at,
            "pusher": push.pusher,
            "tag": push.tag,
            "digest": push.digest,
        },
        "repository": {
            "repo_name": push.repository,
            "name": name,
            "namespace": namespace,
            "owner": namespace,
            "is_private": is_private,
            "status": "Active",
            "repo_url": page_url,
        },
    })
    .to_string()
}

/// `sha256=` and the HMAC-SHA256 of `body` under `secret`, in hex.
/// A plain HMAC over the body, as receivers check it (not `keys::hmac`, which frames its parts).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues a delivery of `push` to every webhook of its repository; returns how many. Run it
/// inside the transaction that records the push: a push rolled back tells nobody.
pub fn on_push(conn: &mut Conn, push: &Push, public_url: &str, now: Timestamp) -> Result<usize, Error> {
    let found: Option<(i32, bool)> =
        repositories::table.filter(repositories::name.eq(&push.repository)).select((repositories::id, repositories::is_public)).first(conn).optional()?;
    let Some((repository_id, is_public)) = found else { return Ok(0) };
    let hooks: Vec<i32> = webhooks::table.filter(webhooks::repository_id.eq(repository_id)).select(webhooks::id).load(conn)?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let body = payload(push, !is_public, &format!("{}/repository/{}", public_url.trim_end_matches('/'), push.repository));
    let rows: Vec<_> = hooks
        .iter()
        .map(|id| {
            (
                webhook_deliveries::webhook_id.eq(*id),
                webhook_deliveries::payload.eq(body.clone()),
                webhook_deliveries::status.eq(PENDING),
                webhook_deliveries::next_attempt_at.eq(now),
                webhook_deliveries::created_at.eq(now),
            )
        })
        .collect();
    for row in rows {
        diesel::insert_into(webhook_deliveries::table).values(row).execute(conn)?;
    }
    Ok(hooks.len())
}

/// A delivery an instance has claimed and now sends.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i32,
    pub attempts: i32,
    pub payload: String,
    pub url: String,
    pub repository_id: i32,
    pub secret_sealed: Vec<u8>,
}

/// Claims up to `limit` due deliveries for `CLAIM_SECONDS`. Each claim is a conditional
/// update: of two instances claiming the same delivery, one updates it and the other
/// finds it claimed.
pub fn claim_due(conn: &mut Conn, now: Timestamp, limit: i64) -> Result<Vec<Due>, Error> {
    type Row = (i32, i32, String, String, i32, Vec<u8>);
    let candidates: Vec<Row> = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::status.eq(PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhook_deliveries::claimed_until.le(now))
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select((webhook_deliveries::id, webhook_deliveries::attempts, webhook_deliveries::payload, webhooks::url, webhooks::repository_id, webhooks::secret_sealed))
        .load(conn)?;
    let mut claimed = Vec::new();
    for (id, attempts, payload, url, repository_id, secret_sealed) in candidates {
        let won = diesel::update(
            webhook_deliveries::table.filter(webhook_deliveries::id.eq(id)).filter(webhook_deliveries::status.eq(PENDING)).filter(webhook_deliveries::claimed_until.le(now)),
        )
        .set(webhook_deliveries::claimed_until.eq(now + CLAIM_SECONDS))
        .execute(conn)?;
        if won == 1 {
            claimed.push(Due { id, attempts, payload, url, repository_id, secret_sealed });
        }
    }
    Ok(claimed)
}

/// What one attempt came to: the HTTP status, when an answer came, and why it failed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response_code: Option<u16>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.error.is_none() && self.response_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// Records an attempt of a claimed delivery: delivered, retried after the backoff, or
/// failed for good once `ATTEMPTS` are spent. Keeps each webhook's log to `LOG_KEPT`.
pub fn record(conn: &mut Conn, due: &Due, outcome: &Outcome, now: Timestamp) -> Result<(), Error> {
    let attempts = due.attempts + 1;
    let (status, next) = if outcome.delivered() {
        (DELIVERED, now)
    } else if attempts >= ATTEMPTS {
        (FAILED, now)
    } else {
        (PENDING, now + BACKOFF[(attempts as usize - 1).min(BACKOFF.len() - 1)])
    };
    let error = outcome.error.clone().or_else(|| (!outcome.delivered()).then(|| format!("answered {}", outcome.response_code.unwrap_or(0))));
    crate::db::write_tx(conn, |c| {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq(due.id)))
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::attempts.eq(attempts),
                webhook_deliveries::next_attempt_at.eq(next),
                webhook_deliveries::claimed_until.eq(0),
                webhook_deliveries::last_attempt_at.eq(now),
                webhook_deliveries::response_code.eq(outcome.response_code.map(i32::from)),
                webhook_deliveries::error.eq(if status == DELIVERED { None } else { error }),
            ))
            .execute(c)?;
        let webhook_id: i32 = webhook_deliveries::table.find(due.id).select(webhook_deliveries::webhook_id).first(c)?;
        let keep: Vec<i32> = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .order(webhook_deliveries::id.desc())
            .limit(LOG_KEPT)
            .select(webhook_deliveries::id)
            .load(c)?;
        if let Some(oldest_kept) = keep.last().filter(|_| keep.len() as i64 == LOG_KEPT) {
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(webhook_id)).filter(webhook_deliveries::id.lt(oldest_kept))).execute(c)?;
        }
        Ok(())
    })
}

/// One line of a repository's delivery log.
#[derive(Debug, Clone, Queryable)]
pub struct Logged {
    pub id: i32,
    pub webhook: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub next_attempt_at: Timestamp,
    pub response_code: Option<i32>,
    pub error: Option<String>,
}

/// The newest `limit` deliveries to any webhook of a repository.
pub fn log(conn: &mut Conn, repository_id: i32, limit: i64) -> Result<Vec<Logged>, Error> {
    Ok(webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhooks::repository_id.eq(repository_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select((
            webhook_deliveries::id,
            webhooks::name,
            webhook_deliveries::status,
            webhook_deliveries::attempts,
            webhook_deliveries::created_at,
            webhook_deliveries::last_attempt_at,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::response_code,
            webhook_deliveries::error,
        ))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_bodys_hmac_sha256_in_hex() {
        // RFC 4231 test case 2
        assert_eq!(signature(b"Jefe", b"what do ya want for nothing?"), "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn the_payload_names_the_repository_tag_digest_pusher_and_time() {
        let push = Push { repository: "acme/app".into(), tag: Some("v1".into()), digest: "sha256:ab".into(), pusher: "alice".into(), pushed_at: 1_700_000_000 };
        let body: serde_json::Value = serde_json::from_str(&payload(&push, true, "https://berth.example/repository/acme/app")).unwrap();
        assert_eq!(body["push_data"]["tag"], "v1");
        assert_eq!(body["push_data"]["digest"], "sha256:ab");
        assert_eq!(body["push_data"]["pusher"], "alice");
        assert_eq!(body["push_data"]["pushed_at"], 1_700_000_000);
        assert_eq!(body["repository"]["repo_name"], "acme/app");
        assert_eq!(body["repository"]["namespace"], "acme");
        assert_eq!(body["repository"]["name"], "app");
        assert_eq!(body["repository"]["is_private"], true);
    }
}
