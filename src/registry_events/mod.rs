//! Events from the registry: distribution's notifications (`POST /registry/events`, the
//! door in `endpoint`) turned into tags, digests and pull counts (`repositories::tags`).
//! A batch is checked whole before anything is written and taken in one transaction;
//! every event id is kept `SEEN_FOR` seconds, so a batch the registry sends again (it
//! retries whatever it thinks failed) changes nothing the second time. A pushed manifest
//! is read from the registry afterwards, off the request (`reader`); `sync` rebuilds the
//! tags from the registry's own lists after events were lost.
//!
//! Pulls are counted as Docker Hub counts them: a manifest `GET` is a pull, a `HEAD` is
//! not, a blob is not, and Berth's own reads (its `SELF_SUBJECT`) are not; an index and a
//! platform manifest the same client (address and user agent) fetches within
//! `ONE_PULL_WINDOW` seconds of it are one pull. A tag's push queues the repository's
//! webhooks' deliveries in the batch's transaction.
//!
//! Times are the event's own `timestamp`: the registry retries a batch with backoff for as
//! long as Berth is down, so the arrival can be long after the request. An event without a
//! time (or with Go's zero time) is taken at its arrival, one from the future at the
//! arrival too (the registry's clock is not Berth's). A late event never moves a time back:
//! a tag keeps the newest push, a last pull or push the newest of them, and a push older
//! than the tag's own queues no webhook and no read.

pub mod delete;
pub mod endpoint;
pub mod queue;
pub mod reader;
pub mod sync;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::registry::client::{SELF_SUBJECT, digest_shaped, is_index, is_manifest, known_algorithm, valid_digest, valid_tag};
use crate::registry::grants::{registry_repository_name, valid_repository_name};

use crate::repositories::tags;

/// How long an event id is remembered: the registry retries a failed batch for as long as
/// it runs, but keeps undelivered events in memory only, so a day covers any replay.
pub const SEEN_FOR: Timestamp = 24 * 3600;

/// An index and a platform manifest fetched by one client within this many seconds are
/// one pull.
pub const ONE_PULL_WINDOW: Timestamp = 10;

/// The largest batch taken (the registry sends one event per request, a few hundred bytes;
/// a batch past this is no registry's).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// The envelope's media type (`application/json` is taken too).
pub const ENVELOPE_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Push,
    Pull,
    Delete,
    Mount,
}

/// One event, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub action: Action,
    pub repository: String,
    pub digest: Option<String>,
    pub tag: Option<String>,
    /// Empty for a delete.
    pub media_type: String,
    pub size: i64,
    /// `GET` or `HEAD` for a pull; None when the registry did not say.
    pub method: Option<String>,
    /// A hash of the client's address (without its port) and user agent.
    pub client: String,
    /// Who the registry's token named: a username, an organization, or Berth itself.
    pub actor: Option<String>,
    /// When the registry says the request was made; None when it did not say.
    pub at: Option<Timestamp>,
}

impl Event {
    /// When the event happened as Berth records it, taken at `now`: its own time, never
    /// later than its arrival.
    pub fn time(&self, now: Timestamp) -> Timestamp {
        self.at.map_or(now, |at| at.min(now))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    action: String,
    #[serde(default)]
    target: RawTarget,
    #[serde(default)]
    request: RawRequest,
    #[serde(default)]
    actor: RawActor,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawTarget {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    length: Option<i64>,
    repository: Option<String>,
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawRequest {
    addr: Option<String>,
    useragent: Option<String>,
    method: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawActor {
    name: Option<String>,
}

fn bad(index: usize, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("event {index}: {why}"))
}

/// A batch, checked: the events Berth records, and how many it passes over.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Events of the registry's grammar that Berth has nothing to record for: an action it
    /// does not know, a digest of another algorithm, a repository name the registry allows
    /// and Berth does not. Logged and answered as taken: the registry sends nothing more
    /// until a batch is, so refusing one such event would hold back every later one.
    pub skipped: usize,
}

/// A batch as the registry sends it, every event checked, or why it is not one: nothing of
/// a batch with one malformed event (outside the registry's own grammar) is taken.
pub fn parse_batch(body: &[u8]) -> Result<Batch, Error> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| Error::invalid(format!("not a notification envelope: {e}")))?;
    let mut batch = Batch::default();
    for (i, raw) in envelope.events.into_iter().enumerate() {
        let id = raw.id.clone();
        match check(i, raw)? {
            Checked::Event(event) => batch.events.push(*event),
            Checked::Skipped(why) => {
                tracing::warn!(event = i, id = ?id, why, "an event of the registry Berth records nothing for");
                batch.skipped += 1;
            }
        }
    }
    Ok(batch)
}

enum Checked {
    Event(Box<Event>),
    Skipped(&'static str),
}

fn check(i: usize, raw: RawEvent) -> Result<Checked, Error> {
    let short = |value: &str, max: usize| value.chars().count() <= max && !value.chars().any(char::is_control);
    if raw.id.is_empty() || !short(&raw.id, 255) {
        return Err(bad(i, "an id of 1 to 255 printable characters is required"));
    }
    let t = raw.target;
    let repository = t.repository.ok_or_else(|| bad(i, "target.repository is missing"))?;
    if !registry_repository_name(&repository) {
        return Err(bad(i, "target.repository is not a repository name"));
    }
    if let Some(d) = t.digest.as_deref().filter(|d| !digest_shaped(d) || (known_algorithm(d) && !valid_digest(d))) {
        return Err(bad(i, format!("target.digest {d:?} is not a digest")));
    }
    let action = match raw.action.as_str() {
        "push" => Action::Push,
        "pull" => Action::Pull,
        "delete" => Action::Delete,
        "mount" => Action::Mount,
        _ => return Ok(Checked::Skipped("an action Berth does not know")),
    };
    if matches!(action, Action::Push | Action::Pull) && t.digest.is_none() {
        return Err(bad(i, "target.digest is missing"));
    }
    if let Some(tag) = t.tag.as_deref().filter(|t| !valid_tag(t)) {
        return Err(bad(i, format!("target.tag {tag:?} is not a tag")));
    }
    let media_type = t.media_type.unwrap_or_default();
    if !short(&media_type, 255) {
        return Err(bad(i, "target.mediaType is too long"));
    }
    let size = t.size.or(t.length).unwrap_or(0);
    if size < 0 {
        return Err(bad(i, "target.size is negative"));
    }
    let method = raw.request.method.filter(|m| !m.is_empty());
    if method.as_deref().is_some_and(|m| !short(m, 16)) {
        return Err(bad(i, "request.method is too long"));
    }
    let at = match raw.timestamp.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => {
            let parsed = chrono::DateTime::parse_from_rfc3339(t).map_err(|_| bad(i, "timestamp is not an RFC 3339 time"))?;
            // Go's zero time (year 1) is how the registry says it has none
            Some(parsed.timestamp()).filter(|&t| t > 0)
        }
    };
    let actor = raw.actor.name.filter(|n| !n.is_empty());
    if actor.as_deref().is_some_and(|n| !short(n, 255)) {
        return Err(bad(i, "actor.name is too long"));
    }
    if !valid_repository_name(&repository) {
        return Ok(Checked::Skipped("a repository name Berth never records"));
    }
    if t.digest.as_deref().is_some_and(|d| !valid_digest(d)) {
        return Ok(Checked::Skipped("a digest of an algorithm Berth does not record"));
    }
    let client = client_of(raw.request.addr.as_deref().unwrap_or(""), raw.request.useragent.as_deref().unwrap_or(""));
    Ok(Checked::Event(Box::new(Event { id: raw.id, action, repository, digest: t.digest, tag: t.tag, media_type, size, method, client, actor, at })))
}

/// One client: its address without the port (each connection has its own) and its user
/// agent, hashed (the address is kept nowhere).
fn client_of(addr: &str, user_agent: &str) -> String {
    let addr = addr.trim();
    let ip = addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .or_else(|_| addr.parse::<std::net::IpAddr>().map(|ip| ip.to_string()))
        .unwrap_or_else(|_| addr.to_string());
    hex::encode(&Sha256::digest(format!("{ip}\n{user_agent}").as_bytes())[..16])
}

/// What a batch changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Events taken for the first time.
    pub taken: usize,
    /// Events taken before (a batch sent again).
    pub replayed: usize,
    /// Pushed manifests to read from the registry, as (repository, digest).
    pub to_read: Vec<(String, String)>,
}

/// Takes a checked batch at `now`, in one transaction: all of it or, on an error, nothing.
/// A tag's push queues a delivery to each webhook of its repository in that transaction;
/// `public_url` is Berth's, for the repository's page in the payload.
pub fn ingest(conn: &mut Conn, events: &[Event], public_url: &str, now: Timestamp) -> Result<Ingested, Error> {
    crate::db::write_tx(conn, |c| {
        prune(c, now)?;
        let mut done = Ingested::default();
        for event in events {
            if !crate::db::upsert::registry_event_if_new(c, &event.id, now)? {
                done.replayed += 1;
                continue;
            }
            done.taken += 1;
            apply(c, event, public_url, now, &mut done.to_read)?;
        }
        Ok(done)
    })
}

/// Forgets event ids older than `SEEN_FOR`, and index pulls as old: a platform's pull that
/// arrives late is still matched by the times of the two events.
pub fn prune(conn: &mut Conn, now: Timestamp) -> Result<(), Error> {
    use crate::db::schema::registry_events_seen as seen;
    use diesel::prelude::*;
    diesel::delete(seen::table.filter(seen::seen_at.lt(now - SEEN_FOR))).execute(conn)?;
    tags::prune_index_pulls(conn, now - SEEN_FOR)?;
    Ok(())
}

fn apply(c: &mut Conn, e: &Event, public_url: &str, now: Timestamp, to_read: &mut Vec<(String, String)>) -> Result<(), Error> {
    let at = e.time(now);
    // blobs are neither tags nor pulls; Berth's own reads are not pulls
    let blob = !is_manifest(&e.media_type);
    match e.action {
        Action::Mount => Ok(()),
        Action::Push if blob => Ok(()),
        Action::Pull if blob || e.actor.as_deref() == Some(SELF_SUBJECT) => Ok(()),
        Action::Pull if e.method.as_deref().is_some_and(|m| !m.eq_ignore_ascii_case("GET")) => Ok(()),
        Action::Push => {
            let (Some(repository_id), Some(digest)) = (tags::repository_id(c, &e.repository)?, e.digest.as_deref()) else { return Ok(()) };
            let pushed = tags::Pushed { digest, media_type: &e.media_type, manifest_size: e.size, tag: e.tag.as_deref(), pushed_by: e.actor.as_deref() };
            let recorded = tags::record_push(c, repository_id, pushed, at)?;
            if recorded.unread && recorded.tag_moved {
                to_read.push((e.repository.clone(), digest.to_string()));
            }
            // a tag pushed is what a webhook is told of (an index's platforms come by
            // digest); a push older than the tag's own is not what the tag is now
            if recorded.tag_moved {
                let push = crate::webhooks::delivery::Push {
                    repository: e.repository.clone(),
                    tag: e.tag.clone(),
                    digest: digest.to_string(),
                    pusher: e.actor.clone().unwrap_or_default(),
                    pushed_at: at,
                };
                crate::webhooks::delivery::on_push(c, &push, public_url, now)?;
            }
            Ok(())
        }
        Action::Pull => {
            let (Some(repository_id), Some(digest)) = (tags::repository_id(c, &e.repository)?, e.digest.as_deref()) else { return Ok(()) };
            let counted = if is_index(&e.media_type) {
                crate::db::upsert::recent_index_pull(c, repository_id, &e.client, digest, at)?;
                true
            } else {
                match tags::recent_index_pull(c, repository_id, &e.client, at - ONE_PULL_WINDOW, at)? {
                    // a platform of the index just pulled: that pull counted already. An
                    // index not read yet is taken to hold it.
                    Some(index) => match tags::platforms_of(c, repository_id, &index)? {
                        Some(platforms) if !platforms.is_empty() => !platforms.iter().any(|p| p.digest == digest),
                        _ => false,
                    },
                    None => true,
                }
            };
            tags::record_pull(c, repository_id, digest, e.tag.as_deref(), counted, at)
        }
        Action::Delete => {
            let Some(repository_id) = tags::repository_id(c, &e.repository)? else { return Ok(()) };
            match (e.digest.as_deref(), e.tag.as_deref()) {
                // a blob's digest names no manifest: nothing goes
                (Some(digest), _) => tags::forget_digest(c, repository_id, digest).map(drop),
                (None, Some(tag)) => tags::forget_tag(c, repository_id, tag).map(drop),
                (None, None) => tags::forget_all(c, repository_id).map(drop),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap()
    }

    #[test]
    fn a_batch_with_one_bad_event_is_refused_whole() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let good =
            serde_json::json!({"id": "1", "action": "pull", "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": "alice/app"}});
        assert_eq!(parse_batch(&batch(serde_json::json!([good.clone()]))).unwrap().events.len(), 1);
        for bad in [
            serde_json::json!({"id": "", "action": "pull", "target": {"digest": digest, "repository": "alice/app"}}),
            serde_json::json!({"id": "2", "action": 7, "target": {"digest": digest, "repository": "alice/app"}}),
            serde_json::json!({"id": "2", "action": "pull", "target": {"digest": "sha256:xyz", "repository": "alice/app"}}),
            serde_json::json!({"id": "2", "action": "pull", "target": {"digest": "not a digest", "repository": "alice/app"}}),
            serde_json::json!({"id": "2", "action": "pull", "target": {"digest": digest, "repository": "alice/a___b"}}),
            serde_json::json!({"id": "2", "action": "pull", "target": {"digest": digest, "repository": "Alice/App"}}),
            serde_json::json!({"id": "2", "action": "pull", "target": {"repository": "alice/app"}}),
            serde_json::json!({"id": "2", "action": "push", "target": {"digest": digest, "repository": "alice/app", "tag": "no/slash"}}),
            serde_json::json!({"id": "2", "action": "push", "target": {"digest": digest, "repository": "alice/app", "size": -1}}),
            serde_json::json!({"id": 2, "action": "push", "target": {"digest": digest, "repository": "alice/app"}}),
        ] {
            assert!(parse_batch(&batch(serde_json::json!([good.clone(), bad.clone()]))).is_err(), "{bad}");
        }
        assert!(parse_batch(b"{}").is_err());
        assert!(parse_batch(b"not json").is_err());
    }

    #[test]
    fn an_event_of_the_registrys_grammar_that_berth_records_nothing_for_is_skipped_not_refused() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let event = |action: &str, digest: &str, repository: &str| serde_json::json!({"id": "1", "action": action, "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": repository}});
        let sha384 = format!("sha384:{}", "b".repeat(96));
        let parsed = parse_batch(&batch(serde_json::json!([
            event("pull", &digest, "alice/app"),
            event("replicate", &digest, "alice/app"),
            event("pull", "blake3:abcdef", "alice/app"),
            event("pull", &digest, "alice/a__b"),
            event("pull", &sha384, "alice/app"),
        ])))
        .unwrap();
        assert_eq!(parsed.skipped, 3);
        let digests: Vec<_> = parsed.events.iter().map(|e| e.digest.clone().unwrap()).collect();
        assert_eq!(digests, [digest, sha384], "the usable events are all taken, a sha384 digest among them");
    }

    #[test]
    fn a_client_is_its_address_without_the_port_and_its_user_agent() {
        assert_eq!(client_of("10.0.0.1:5000", "docker/28"), client_of("10.0.0.1:6000", "docker/28"));
        assert_eq!(client_of("[::1]:5000", "docker/28"), client_of("::1", "docker/28"));
        assert_ne!(client_of("10.0.0.1:5000", "docker/28"), client_of("10.0.0.2:5000", "docker/28"));
        assert_ne!(client_of("10.0.0.1:5000", "docker/28"), client_of("10.0.0.1:5000", "skopeo"));
    }
}
