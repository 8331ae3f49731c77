//! A token presented as a password — a personal access token, or an organization's — at
//! the registry's `/token` (every `docker pull` and `push`) and at the JSON API's logins.
//! This is the hot path: the check is an indexed read on the async worker's read-only
//! connection (no trip to the blocking pool, no throttle slot for a valid token), and the
//! blocking pool is used only when something is due to be written. Both kinds take the one
//! step (`step`); each kind's lookup and what its use leaves behind are its own
//! (`PresentedToken`, `RefusedPresented`).

use secrecy::{ExposeSecret, SecretString};
use std::net::IpAddr;

use crate::db::Conn;

use crate::Error;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::org_tokens::{self, OrgAuthenticated, OrgFound, OrgLastUse, OrgRefused};
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

/// Several due writes, each written when due.
impl<A: DueWrites, B: DueWrites> DueWrites for (A, B) {
    fn is_due(&self) -> bool {
        self.0.is_due() || self.1.is_due()
    }
    fn write(self, conn: &mut Conn) -> Result<(), Error> {
        if self.0.is_due() {
            self.0.write(conn)?;
        }
        if self.1.is_due() {
            self.1.write(conn)?;
        }
        Ok(())
    }
}

/// A write due at a time (a token's last use is written with the time of its check).
pub struct At<T>(T, Timestamp);

/// A due sighting of a token's use, written by its kind's function.
macro_rules! sighting_writes {
    ($($due:ty => $record:path),* $(,)?) => {$(
        impl DueWrites for Option<At<$due>> {
            fn is_due(&self) -> bool {
                self.is_some()
            }
            fn write(self, conn: &mut Conn) -> Result<(), Error> {
                self.map_or(Ok(()), |At(due, now)| $record(conn, &due, now))
            }
        }
    )*};
}

sighting_writes!(tokens::LastUse => tokens::record_last_use, tokens::RefusedUse => tokens::record_refused_use, OrgLastUse => org_tokens::record_last_use);

/// A valid token as its kind's lookup read it: who it speaks for, and the last use its
/// presentation now leaves to write.
pub trait PresentedToken: Send + 'static {
    type Auth: Send + 'static;
    type LastUse: DueWrites;
    fn auth(&self) -> &Self::Auth;
    fn into_auth(self) -> Self::Auth;
    fn last_use(&self, now: Timestamp, client: &Client) -> Self::LastUse;
}

/// A token refused to its holder (deactivated, expired), and what the refusal leaves to
/// write at the registry.
pub trait RefusedPresented: Send + 'static {
    type Note: DueWrites;
    fn reason(&self) -> Refused;
    fn note(&self, now: Timestamp, client: &Client) -> Self::Note;
}

/// Each kind's found token: its `auth`, and its own `last_use_due`.
macro_rules! presented {
    ($($found:ty => $auth:ty, $due:ty);* $(;)?) => {$(
        impl PresentedToken for $found {
            type Auth = $auth;
            type LastUse = Option<At<$due>>;
            fn auth(&self) -> &$auth {
                &self.auth
            }
            fn into_auth(self) -> $auth {
                self.auth
            }
            fn last_use(&self, now: Timestamp, client: &Client) -> Self::LastUse {
                self.last_use_due(now, &client.ip, &client.user_agent).map(|due| At(due, now))
            }
        }
    )*};
}

presented!(tokens::Found => Authenticated, tokens::LastUse; OrgFound => OrgAuthenticated, OrgLastUse);

/// A refused personal token's use is noted in its owner's activity.
impl RefusedPresented for tokens::RefusedToken {
    type Note = Option<At<tokens::RefusedUse>>;
    fn reason(&self) -> Refused {
        self.reason
    }
    fn note(&self, now: Timestamp, client: &Client) -> Self::Note {
        self.note_due(now, &client.ip, &client.user_agent).map(|due| At(due, now))
    }
}

/// An organization has no activity log of refusals: its audit log records changes and
/// first uses from an IP.
impl RefusedPresented for OrgRefused {
    type Note = ();
    fn reason(&self) -> Refused {
        self.0
    }
    fn note(&self, _: Timestamp, _: &Client) {}
}

/// What a presented token turned out to be (a throttled one is `Err(Error::Throttled)`):
/// a personal access token's by default.
#[derive(Debug)]
pub enum TokenOutcome<T, A = Authenticated> {
    /// Valid: who it speaks for, and what the door read with it in the same transaction.
    Valid(A, T),
    /// Presented with its owner's name but deactivated or expired: said only to its holder.
    Refused(Refused),
    /// Malformed, unknown, deleted, someone else's, or its owner is disabled.
    NoMatch,
}

/// What the read transaction found: a valid token with the door's read and its due
/// writes, or an invalid one (refused with a reason for its holder, or no match at all).
enum Read<F, R, T, W> {
    Valid(F, T, W),
    /// Boxed: a refusal is the rare path, and the valid one stays small.
    Invalid(Option<Box<R>>),
}

/// A kind's lookup: `tokens::lookup` or `org_tokens::lookup`.
type LookupFn<F, R> = fn(&mut Conn, Timestamp, &str, &str) -> Result<Lookup<F, R>, Error>;

/// Checks `secret` as a personal access token of `login`, and on success runs `then` on the
/// same read transaction (the registry's grants, the API's user row), with the time of the
/// check. As `step` says.
pub async fn token_step<T, W, F>(svc: &Service, door: Door, login: &str, secret: &str, client: &Client, ip: IpAddr, then: F) -> Result<TokenOutcome<T>, Error>
where
    T: Send + 'static,
    W: DueWrites + Send + 'static,
    F: FnOnce(&mut Conn, &Authenticated, Timestamp) -> Result<(T, W), Error> + Send + 'static,
{
    step(svc, door, login, secret, client, ip, tokens::lookup, then).await
}

/// The same for an organization access token presented with its organization's name.
pub async fn org_token_step<T, W, F>(svc: &Service, door: Door, login: &str, secret: &str, client: &Client, ip: IpAddr, then: F) -> Result<TokenOutcome<T, OrgAuthenticated>, Error>
where
    T: Send + 'static,
    W: DueWrites + Send + 'static,
    F: FnOnce(&mut Conn, &OrgAuthenticated, Timestamp) -> Result<(T, W), Error> + Send + 'static,
{
    step(svc, door, login, secret, client, ip, org_tokens::lookup, then).await
}

/// The token step of either kind. A valid token works whatever the account's or the client
/// IP's failures (behind NAT or a CI egress address, an IP lock would stop every pull); any
/// other counts against the IP only and waits while the IP is locked. A refused token's use
/// is noted (a personal token's, in its owner's activity) at `/token` only.
#[allow(clippy::too_many_arguments)]
async fn step<P, R, T, W, F>(
    svc: &Service,
    door: Door,
    login: &str,
    secret: &str,
    client: &Client,
    ip: IpAddr,
    lookup: LookupFn<P, R>,
    then: F,
) -> Result<TokenOutcome<T, P::Auth>, Error>
where
    P: PresentedToken,
    R: RefusedPresented,
    T: Send + 'static,
    W: DueWrites + Send + 'static,
    F: FnOnce(&mut Conn, &P::Auth, Timestamp) -> Result<(T, W), Error> + Send + 'static,
{
    let now = svc.now();
    // owned: on PostgreSQL the read runs on the blocking pool
    let (login_owned, secret) = (login.to_string(), SecretString::from(secret));
    let found = svc
        .db
        .read(move |c| match lookup(c, now, &login_owned, secret.expose_secret())? {
            Lookup::Valid(found) => {
                let (read, writes) = then(c, found.auth(), now)?;
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
            let note = refused.note(now, client);
            if door == Door::Registry && note.is_due() {
                svc.db.run(move |c| note.write(c)).await?;
            }
            return Ok(TokenOutcome::Refused(refused.reason()));
        }
    };
    let due = (found.last_use(now, client), writes);
    if due.is_due() {
        svc.db.run(move |c| due.write(c)).await?;
    }
    Ok(TokenOutcome::Valid(found.into_auth(), read))
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

    /// An organization's token takes the same step: valid only with the organization's
    /// name (never a member's), a refusal told to its holder, its first use from an IP in
    /// the organization's audit log, and no user's activity touched.
    #[actix_web::test]
    async fn an_organization_token_passes_with_its_organizations_name_only() {
        use crate::org_tokens::{self, NewOrgToken, Requested, Resources};
        use crate::orgs::{self, Actor, events};
        let h = Harness::new();
        let alice = h.user("alice");
        let now = h.svc.now();
        let acme = orgs::create(&mut h.conn(), "acme", &alice, crate::owners::Plan::Team, &Actor::cli(), now).unwrap();
        let requested = [Requested { kind: "TYPE_REPO".into(), path: "acme/*".into(), scopes: vec!["scope-image-pull".into()] }];
        let new = NewOrgToken { label: "ci".into(), description: String::new(), resources: Resources::parse("acme", &requested).unwrap(), expires_at: None };
        let (token, plain) = org_tokens::create(&mut h.conn(), acme.id, &alice, new, &Actor::cli(), now).unwrap();
        let present = |login: &'static str| {
            let secret = plain.expose().to_string();
            let svc = &h.svc;
            async move { org_token_step(svc, Door::Registry, login, &secret, &testing::client(), testing::IP, |_, auth, _| Ok((auth.org_name.clone(), ()))).await }
        };
        assert!(matches!(present("acme").await.unwrap(), TokenOutcome::Valid(auth, name) if auth.org.id == acme.id && name == "acme"));
        assert!(matches!(present("alice").await.unwrap(), TokenOutcome::NoMatch), "a member's name is not the organization's");
        let first_use = events::Filter { action: Some(events::Action::TokenUsedFromNewIp), ..Default::default() };
        assert_eq!(events::list(&mut h.conn(), acme.id, &first_use, 1, 10).unwrap().1, 1);
        org_tokens::update(&mut h.conn(), acme.id, alice.id, &token.uuid, org_tokens::Change { active: Some(false), ..Default::default() }, &Actor::cli(), now).unwrap();
        let before = h.events(alice.id).len();
        assert!(matches!(present("acme").await.unwrap(), TokenOutcome::Refused(Refused::Deactivated)));
        assert_eq!(h.events(alice.id).len(), before, "no user's activity records an organization's token");
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
