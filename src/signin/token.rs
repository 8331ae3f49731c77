//! A personal access token presented as a password: at the registry's `/token` (every
//! `docker pull` and `push`) and at the JSON API's logins. This is the hot path: the check
//! is an indexed read on the async worker's read-only connection (no trip to the blocking
//! pool, no throttle slot for a valid token), and the blocking pool is used only when
//! something is due to be written.

use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;

use crate::db::Conn;

use crate::Error;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::signin::events::count_failure;
use crate::signin::{Door, Service};
use crate::tokens::{self, Authenticated, Lookup, Refused};

/// What a door leaves to write after a valid token's read (the registry: pushes to note).
/// Written with the token's last use, in one trip to the blocking pool, only when due.
pub trait DueWrites: Send + 'static {
    fn is_due(&self) -> bool;
    fn write(self, conn: &mut Conn) -> Result<(), Error>;
}

/// Nothing to write.
impl DueWrites for () {
    fn is_due(&self) -> bool {
        false
    }
    fn write(self, _: &mut Conn) -> Result<(), Error> {
        Ok(())
    }
}

/// What a presented token turned out to be (a throttled one is `Err(Error::Throttled)`).
#[derive(Debug)]
pub enum TokenOutcome<T> {
    /// Valid: who it speaks for, and what the door read with it in the same transaction.
    Valid(Authenticated, T),
    /// Presented with its owner's name but deactivated or expired: said only to its holder.
    Refused(Refused),
    /// Malformed, unknown, deleted, someone else's, or its owner is disabled.
    NoMatch,
}

/// What the read transaction found: a valid token with the door's read and its due
/// writes, or an invalid one (refused with a reason for its holder, or no match at all).
enum Read<F, T, W> {
    Valid(F, T, W),
    /// Boxed: a refusal is the rare path, and the valid one stays small.
    Invalid(Option<Box<tokens::RefusedToken>>),
}

/// Checks `secret` as a token of `login`, and on success runs `then` on the same read
/// transaction (the registry's grants, the API's user row), with the time of the check. A valid token works whatever
/// the account's or the client IP's failures (behind NAT or a CI egress address, an IP
/// lock would stop every pull); any other counts against the IP only and waits while the
/// IP is locked. A refused token's use is noted in its owner's activity at `/token`.
pub async fn token_step<T, W, F>(svc: &Service, door: Door, login: &str, secret: &str, client: &Client, ip: IpAddr, then: F) -> Result<TokenOutcome<T>, Error>
where
    T: Send + 'static,
    W: DueWrites + Send + 'static,
    F: FnOnce(&mut Conn, &Authenticated, Timestamp) -> Result<(T, W), Error> + Send + 'static,
{
    let now = svc.now();
    // owned: on PostgreSQL the read runs on the blocking pool
    let (login_owned, secret) = (login.to_string(), SecretString::from(secret));
    let found = svc
        .db
        .read(move |c| match tokens::lookup(c, now, &login_owned, secret.expose_secret())? {
            Lookup::Valid(found) => {
                let (read, writes) = then(c, &found.auth, now)?;
                Ok(Read::Valid(found, read, writes))
            }
            Lookup::Refused(refused) => Ok(Read::Invalid(Some(Box::new(refused)))),
            Lookup::NoMatch => Ok(Read::Invalid(None)),
        })
        .await?;
    let (found, read, writes) = match found {
        Read::Valid(found, read, writes) => (found, read, writes),
        Read::Invalid(refused) => {
            let slot = svc.throttle.reserve_ip(ip).await.map_err(|wait| Error::Throttled { retry_after: wait })?;
            count_failure(svc, slot, None, client).await?;
            let Some(refused) = refused else { return Ok(TokenOutcome::NoMatch) };
            if door == Door::Registry
                && let Some(due) = refused.note_due(now, &client.ip, &client.user_agent)
            {
                svc.db.run(move |c| tokens::record_refused_use(c, &due, now)).await?;
            }
            return Ok(TokenOutcome::Refused(refused.reason));
        }
    };
    let due = found.last_use_due(now, &client.ip, &client.user_agent);
    if due.is_some() || writes.is_due() {
        svc.db
            .run(move |c| {
                if let Some(due) = due {
                    tokens::record_last_use(c, &due, now)?;
                }
                writes.write(c)
            })
            .await?;
    }
    Ok(TokenOutcome::Valid(found.auth, read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::testing::{self, Harness};

    async fn present(h: &Harness, door: Door, login: &str, secret: &str) -> Result<TokenOutcome<i32>, Error> {
        token_step(&h.svc, door, login, secret, &testing::client(), testing::IP, |_, auth, _| Ok((auth.user_id, ()))).await
    }

    #[actix_web::test]
    async fn a_valid_token_passes_a_locked_ip_and_a_wrong_one_waits() {
        let h = Harness::new();
        let alice = h.user("alice");
        let token = h.token(&alice);
        for i in 0..50 {
            let wrong = present(&h, Door::Registry, &format!("nobody{i}"), &token).await.unwrap();
            assert!(matches!(wrong, TokenOutcome::NoMatch), "someone else's name: no match");
        }
        assert!(matches!(present(&h, Door::Api, "alice", &token).await.unwrap(), TokenOutcome::Valid(auth, uid) if auth.user_id == alice.id && uid == alice.id));
        assert!(matches!(present(&h, Door::Registry, "ALICE", &token).await.unwrap(), TokenOutcome::Valid(..)));
        assert!(matches!(present(&h, Door::Registry, "bob", &token).await, Err(Error::Throttled { .. })));
        assert!(h.events(alice.id).iter().all(|(k, _)| k != "signed_in"), "a token is no sign-in event");
    }

    #[actix_web::test]
    async fn a_deactivated_token_is_refused_with_its_reason_and_noted_only_at_the_registry() {
        let h = Harness::new();
        let alice = h.user("alice");
        let token = h.token(&alice);
        let uuid = tokens::page(&mut h.conn(), alice.id, 1, 10).unwrap()[0].uuid.clone();
        tokens::update(&mut h.conn(), alice.id, &uuid, None, Some(false), &testing::client(), h.svc.now()).unwrap();
        let refused = |h: &Harness| h.events(alice.id).into_iter().filter(|(k, _)| k == "token_refused").count();
        let before = refused(&h);
        assert!(matches!(present(&h, Door::Api, "alice", &token).await.unwrap(), TokenOutcome::Refused(Refused::Deactivated)));
        assert_eq!(refused(&h), before, "the JSON API notes no refused use");
        assert!(matches!(present(&h, Door::Registry, "alice", &token).await.unwrap(), TokenOutcome::Refused(Refused::Deactivated)));
        assert_eq!(refused(&h), before + 1);
    }
}
