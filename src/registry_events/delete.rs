//! Deleting images for real: each manifest deleted in the registry through its API, with a
//! delete token Berth signs for itself for that one repository, then forgotten with every
//! tag on its digest (distribution 2.8 deletes by digest, so they all go). The registry's
//! own delete event follows and finds nothing left to forget. A repository goes digest by
//! digest, and is forgotten only once the registry holds none of its manifests: what the
//! registry deleted before it refused is forgotten, the rest stays recorded. Disk space
//! returns at the registry's next `registry garbage-collect`. Who may delete is the
//! caller's to check first.

use std::collections::BTreeMap;

use crate::Error;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::orgs::Actor;
use crate::orgs::events::{self, Action};
use crate::owners::Kind;
use crate::registry::client::{ClientError, Reach};
use crate::repositories::tags;

/// The sentence of a registry that refuses deletes (405).
pub const DELETES_DISABLED: &str = "The registry does not allow deletes: its config.yml needs `storage: delete: enabled: true` (then restart it).";

/// A registry's refusal as the person who asked may read it: a 405 says how to allow
/// deletes, anything else (unreachable, another status) that the registry failed, its
/// cause logged for the operator only (it names Berth's internal registry address).
fn registry_failed(e: ClientError, doing: &str) -> Error {
    match e {
        ClientError::Status { status: 405, .. } => Error::Registry(DELETES_DISABLED.into()),
        other => {
            tracing::warn!(cause = %other, "the registry failed {doing}");
            Error::Registry(format!("The registry failed {doing}: it cannot be reached or answered an error. Try again later; the server's log says more.").into())
        }
    }
}

/// Deletes the manifest `digest` of `repository` in the registry, then forgets it; returns
/// the tags that went with it, by name (as recorded before the delete). A registry without
/// `storage: delete: enabled: true` refuses (405), and nothing is forgotten.
pub async fn delete_digest(state: &AppState, repository: &str, digest: &str) -> Result<Vec<String>, Error> {
    if !crate::registry::client::valid_digest(digest) || !crate::registry::grants::valid_repository_name(repository) {
        return Err(Error::NotFound);
    }
    // what goes, read first: the registry's delete event may forget them before the answer
    let (name, at) = (repository.to_string(), digest.to_string());
    let going = state
        .db(move |c| match tags::repository_id(c, &name)? {
            Some(id) => Ok(tags::all(c, id)?.into_iter().filter(|(_, d)| *d == at).map(|(tag, _)| tag).collect::<Vec<_>>()),
            None => Ok(Vec::new()),
        })
        .await?;
    let now = state.now();
    let key = state.registry_key.signing(&state.database, now).await;
    let token = state.registry.token(&key, Reach::Delete(repository), now);
    state.registry.delete_manifest(&token, repository, digest).await.map_err(|e| registry_failed(e, "to delete a manifest"))?;
    let (repository, digest) = (repository.to_string(), digest.to_string());
    state
        .db(move |c| {
            if let Some(id) = tags::repository_id(c, &repository)? {
                crate::db::write_tx(c, |c| tags::forget_digest(c, id, &digest))?;
            }
            Ok(())
        })
        .await?;
    Ok(going)
}

/// What a repository holds, as deleting it takes it: each digest with the tags on it —
/// those Berth records, and those only the registry's tag list names (pushed while its
/// events went nowhere), each read from the registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    pub digests: BTreeMap<String, Vec<String>>,
}

impl Contents {
    /// Every tag, by name.
    pub fn tags(&self) -> Vec<String> {
        let mut all: Vec<String> = self.digests.values().flatten().cloned().collect();
        all.sort();
        all
    }
}

/// What `repository` holds in Berth's records and in the registry's tag list. A registry
/// that cannot be read is `Error::Registry`: nothing can be deleted there now.
pub async fn contents(state: &AppState, repository: &str) -> Result<Contents, Error> {
    let name = repository.to_string();
    let recorded = state
        .db(move |c| match tags::repository_id(c, &name)? {
            Some(id) => tags::all(c, id),
            None => Ok(Vec::new()),
        })
        .await?;
    let mut held = Contents::default();
    for (tag, digest) in &recorded {
        held.digests.entry(digest.clone()).or_default().push(tag.clone());
    }
    let key = state.registry_key.signing(&state.database, state.now()).await;
    let listed = state.registry.tags(&state.registry.token(&key, Reach::Pull(repository), state.now()), repository).await.map_err(|e| registry_failed(e, "to list the tags"))?;
    for tag in listed.into_iter().filter(|t| !recorded.iter().any(|(r, _)| r == t)) {
        // a token of its own for each read: a long tag list may outlive one
        let token = state.registry.token(&key, Reach::Pull(repository), state.now());
        match state.registry.manifest(&token, repository, &tag).await {
            Ok(fetched) => held.digests.entry(fetched.digest).or_default().push(tag),
            // listed, then deleted meanwhile
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(registry_failed(e, "to read a tag's manifest")),
        }
    }
    for on in held.digests.values_mut() {
        on.sort();
    }
    Ok(held)
}

/// What deleting a repository did.
#[derive(Debug, Default)]
pub struct RepositoryDeleted {
    /// The tags deleted in the registry (and forgotten), by name.
    pub deleted: Vec<String>,
    /// The manifests deleted.
    pub manifests: usize,
    /// When the registry refused part way: the tags left (in the registry and in Berth),
    /// and why. The repository is then still recorded.
    pub left: Option<(Vec<String>, Error)>,
}

/// Deletes every manifest of `repository` in the registry (`contents`), then forgets the
/// repository, in its organization's audit log as `repo.delete` when it is one's. A refusal
/// part way stops there: what went is forgotten, the rest and the repository stay.
pub async fn delete_repository(state: &AppState, repository: &str, actor: &Actor) -> Result<RepositoryDeleted, Error> {
    if !crate::registry::grants::valid_repository_name(repository) {
        return Err(Error::NotFound);
    }
    let held = contents(state, repository).await?;
    let mut done = RepositoryDeleted::default();
    let mut gone = Vec::new();
    for (digest, on) in &held.digests {
        match delete_digest(state, repository, digest).await {
            Ok(_) => {
                done.manifests += 1;
                done.deleted.extend(on.iter().cloned());
                gone.push(digest);
            }
            Err(e) => {
                let left = held.digests.iter().filter(|(d, _)| !gone.contains(d)).flat_map(|(_, on)| on.iter().cloned()).collect();
                done.left = Some((left, e));
                return Ok(done);
            }
        }
    }
    done.deleted.sort();
    let (name, actor, now, count) = (repository.to_string(), actor.clone(), state.now(), done.deleted.len());
    state.db(move |c| forget(c, &name, &actor, Some(count), now)).await?;
    Ok(done)
}

/// Forgets `repository` without deleting anything in the registry: for a registry that
/// cannot be read (gone, or not where `BERTH_REGISTRY_URL` says), as the pages offer it,
/// labelled. Its images stay in the registry and pull for whoever the registry's tokens
/// then let (the namespace's owner still may).
/// While the registry can be read, forgetting only is refused (a repository Berth forgot
/// would keep pulling): the delete that deletes is the one offered then.
pub async fn forget_only(state: &AppState, repository: &str, actor: &Actor) -> Result<(), Error> {
    match contents(state, repository).await {
        Err(Error::Registry(_)) => {}
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(Error::invalid("The registry can be read now: delete the repository, which deletes its images there too, instead of only forgetting it."));
        }
    }
    let (name, actor, now) = (repository.to_string(), actor.clone(), state.now());
    state.db(move |c| forget(c, &name, &actor, None, now)).await
}

/// Forgets a repository; an organization's audit log notes it in the same transaction,
/// with the number of tags deleted in the registry (none when only forgotten).
fn forget(conn: &mut Conn, name: &str, actor: &Actor, tags: Option<usize>, now: Timestamp) -> Result<(), Error> {
    let namespace = name.split('/').next().unwrap_or("");
    crate::db::write_tx(conn, |c| {
        let owner = crate::owners::find_by_name(c, namespace)?.ok_or(Error::NotFound)?;
        if !crate::repositories::delete(c, owner.id, name)? {
            return Err(Error::NotFound);
        }
        if owner.kind == Kind::Organization {
            let data = match tags {
                Some(n) => serde_json::json!({ "registry_tags_deleted": n.to_string() }),
                None => serde_json::json!({ "registry": "not reached: only forgotten" }),
            };
            events::record(c, owner.id, Action::RepoDeleted, name, actor, data, now)?;
        }
        Ok(())
    })
}
