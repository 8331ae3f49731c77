//! `berth registry sync`: the tags and digests rebuilt from the registry's own lists, for
//! when events were lost (Berth was down, or the registry restarted with undelivered events,
//! which it keeps in memory only). For each repository Berth records — every one in the
//! registry's catalog, or the one asked for — the registry's tag list is read and each tag's
//! manifest fetched: a tag the registry has and Berth lacks is added, one on another digest
//! is updated, one the registry no longer has is removed. Repositories in the catalog that
//! Berth has no record of are reported, not recorded. Each repository is written in one
//! transaction, after its reads; a tag a live event changed meanwhile is left as it is.

use std::collections::BTreeMap;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::registry::client::{ClientError, Reach, RegistryClient};
use crate::registry::keys::SigningKey;
use crate::repositories::tags::{self, Details};

/// One change a sync made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added { repository: String, tag: String, digest: String },
    Updated { repository: String, tag: String, from: String, to: String },
    Removed { repository: String, tag: String, digest: String },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub repositories: usize,
    pub tags: usize,
    pub changes: Vec<Change>,
    /// Manifests whose size and platforms were read now (their push event came while the
    /// registry could not be read, or never).
    pub read: usize,
    /// In the registry's catalog, unknown to Berth.
    pub unknown: Vec<String>,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Registry(#[from] ClientError),
    #[error("{0}")]
    Database(#[from] Error),
    #[error("Berth has no repository {0:?}: `berth registry sync` without --repository lists what it has")]
    UnknownRepository(String),
}

/// What the registry holds of one repository: each tag's digest, and the manifests to
/// record (read, with their details).
struct Held {
    tags: BTreeMap<String, String>,
    manifests: BTreeMap<String, (String, i64, Details)>,
}

/// One repository as the sync read it: Berth's record of its tags first, then the
/// registry's. `record` writes it.
pub struct Read {
    name: String,
    repository_id: i32,
    recorded: BTreeMap<String, String>,
    held: Held,
}

/// Reads the repository `name` (None when Berth has no such repository): Berth's tags,
/// then the registry's tag list and each manifest Berth has not read.
pub async fn read(conn: &mut Conn, client: &RegistryClient, key: &SigningKey, name: &str, clock: &dyn crate::clock::Clock) -> Result<Option<Read>, SyncError> {
    let Some(repository_id) = tags::repository_id(conn, name)? else { return Ok(None) };
    let recorded: BTreeMap<String, String> = tags::all(conn, repository_id)?.into_iter().collect();
    let held = read_repository(conn, client, key, name, repository_id, &recorded, clock).await?;
    Ok(Some(Read { name: name.to_string(), repository_id, recorded, held }))
}

/// Records a repository's read in one write transaction, returning what changed.
pub fn record(conn: &mut Conn, read: &Read, now: Timestamp) -> Result<Vec<Change>, Error> {
    crate::db::write_tx(conn, |c| apply(c, &read.name, read.repository_id, &read.recorded, &read.held, now))
}

/// Syncs `only` (a repository's full name) or every repository.
/// `clock` is read afresh for every token Berth signs itself (each lives at most a minute,
/// and a sync of many repositories or tags runs longer) and for every change recorded.
pub async fn sync(conn: &mut Conn, client: &RegistryClient, key: &SigningKey, only: Option<&str>, clock: &dyn crate::clock::Clock) -> Result<Report, SyncError> {
    let mut report = Report::default();
    let names: Vec<String> = match only {
        Some(name) => {
            if tags::repository_id(conn, name)?.is_none() {
                return Err(SyncError::UnknownRepository(name.to_string()));
            }
            vec![name.to_string()]
        }
        None => {
            let catalog = client.catalog(&client.token(key, Reach::Catalog, clock.now())).await?;
            let mut known = crate::repositories::all_names(conn)?;
            for name in catalog {
                if !known.contains(&name) {
                    report.unknown.push(name.clone());
                    // a repository Berth lacks is reported, and not read
                    continue;
                }
                known.retain(|k| k != &name);
                known.push(name);
            }
            known.sort();
            known
        }
    };
    for name in names {
        let Some(read) = read(conn, client, key, &name, clock).await? else { continue };
        report.repositories += 1;
        report.tags += read.held.tags.len();
        report.read += read.held.manifests.len();
        report.changes.extend(record(conn, &read, clock.now())?);
    }
    Ok(report)
}

async fn read_repository(
    conn: &mut Conn,
    client: &RegistryClient,
    key: &SigningKey,
    name: &str,
    repository_id: i32,
    recorded: &BTreeMap<String, String>,
    clock: &dyn crate::clock::Clock,
) -> Result<Held, SyncError> {
    let mut held = Held { tags: BTreeMap::new(), manifests: BTreeMap::new() };
    for tag in client.tags(&client.token(key, Reach::Pull(name), clock.now()), name).await? {
        // a token of its own for each request: the whole repository may take longer than one lives
        let token = || client.token(key, Reach::Pull(name), clock.now());
        let fetched = match client.manifest(&token(), name, &tag).await {
            Ok(f) => f,
            // listed, then deleted while the sync ran
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let known = recorded.get(&tag) == Some(&fetched.digest) && tags::is_read(conn, repository_id, &fetched.digest)?;
        if !known && !held.manifests.contains_key(&fetched.digest) {
            let details = super::reader::details_of(client, &token, name, &fetched).await?;
            held.manifests.insert(fetched.digest.clone(), (fetched.media_type.clone(), fetched.body.len() as i64, details));
        }
        held.tags.insert(tag, fetched.digest);
    }
    Ok(held)
}

/// Records what the registry held, in the repository's write transaction. A tag whose
/// record changed since the sync first read it (`recorded`) was pushed or deleted by a live
/// event while the registry was being read, and the event is newer than the sync's read:
/// such a tag is left as the event made it.
fn apply(c: &mut Conn, name: &str, repository_id: i32, recorded: &BTreeMap<String, String>, held: &Held, now: Timestamp) -> Result<Vec<Change>, Error> {
    let current: BTreeMap<String, String> = tags::all(c, repository_id)?.into_iter().collect();
    let untouched = |tag: &str| current.get(tag) == recorded.get(tag);
    let mut changes = Vec::new();
    for (digest, (media_type, manifest_size, details)) in &held.manifests {
        tags::record_manifest(c, repository_id, digest, media_type, *manifest_size, now)?;
        tags::record_details(c, repository_id, digest, media_type, *manifest_size, details, now)?;
    }
    let repository = name.to_string();
    for (tag, digest) in &held.tags {
        if !untouched(tag) {
            continue;
        }
        match recorded.get(tag) {
            Some(was) if was == digest => continue,
            Some(was) => changes.push(Change::Updated { repository: repository.clone(), tag: tag.clone(), from: was.clone(), to: digest.clone() }),
            None => changes.push(Change::Added { repository: repository.clone(), tag: tag.clone(), digest: digest.clone() }),
        }
        crate::db::upsert::tag_push(c, repository_id, tag, digest, None, now)?;
    }
    for (tag, digest) in recorded {
        if !held.tags.contains_key(tag) && untouched(tag) {
            tags::forget_tag(c, repository_id, tag)?;
            changes.push(Change::Removed { repository: repository.clone(), tag: tag.clone(), digest: digest.clone() });
        }
    }
    Ok(changes)
}
