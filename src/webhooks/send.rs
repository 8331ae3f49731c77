//! Sending the due deliveries: each POST goes to the addresses its URL resolves to at that
//! moment, checked by the address rule and pinned for the connection (no redirect is
//! followed: a redirect could lead anywhere), with the body's signature, within
//! `TIMEOUT`. The server runs `deliver_due` every second.

use std::time::Duration;

use crate::Error;
use crate::clock::SharedClock;
use crate::db::Database;
use crate::keys::Keys;

use super::address;
use super::delivery::{self, Due, Outcome, SIGNATURE_HEADER};

/// How long one attempt may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries one instance claims at a time.
const BATCH: i64 = 20;

/// Sends what is due and records each outcome; returns how many attempts were made.
pub async fn deliver_due(database: &Database, keys: &Keys, clock: &SharedClock, allow_private: bool) -> Result<usize, Error> {
    let now = clock.now();
    let due = database.run(move |c| delivery::claim_due(c, now, BATCH)).await?;
    let attempts = due.len();
    for d in due {
        let outcome = attempt(&d, keys, allow_private).await;
        if !outcome.delivered() {
            tracing::info!(delivery = d.id, attempt = d.attempts + 1, code = ?outcome.response_code, error = ?outcome.error, "webhook delivery failed");
        }
        let now = clock.now();
        database.run(move |c| delivery::record(c, &d, &outcome, now)).await?;
    }
    Ok(attempts)
}

fn failed(why: impl Into<String>) -> Outcome {
    Outcome { response_code: None, error: Some(why.into()) }
}

async fn attempt(d: &Due, keys: &Keys, allow_private: bool) -> Outcome {
    let Some(secret) = keys.open_webhook_secret(d.repository_id, &d.secret_sealed) else {
        return failed("The webhook's secret cannot be read with this master key.");
    };
    let target = match address::checked(&d.url, allow_private).await {
        Ok(target) => target,
        Err(e) => return failed(e.to_string()),
    };
    let client = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(TIMEOUT).resolve_to_addrs(target.host(), &target.addresses).build() {
        Ok(client) => client,
        Err(_) => return failed("Berth could not prepare the request."),
    };
    let request = client
        .post(target.as_str())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, concat!("Berth-Webhook/", env!("CARGO_PKG_VERSION")))
        .header(SIGNATURE_HEADER, delivery::signature(&secret, d.payload.as_bytes()))
        .header("X-Berth-Delivery", d.id.to_string())
        .body(d.payload.clone());
    match request.send().await {
        Ok(res) => Outcome { response_code: Some(res.status().as_u16()), error: None },
        Err(e) if e.is_timeout() => failed(format!("No answer within {} seconds.", TIMEOUT.as_secs())),
        Err(e) if e.is_connect() => failed("Could not connect."),
        Err(_) => failed("The request failed."),
    }
}
