//! Deleting an image for real: the manifest deleted in the registry through its API, with a
//! delete token Berth signs for itself for that one repository, then forgotten with every
//! tag on its digest (distribution 2.8 deletes by digest, so they all go). The registry's
//! own delete event follows and finds nothing left to forget. Disk space returns at the
//! registry's next `registry garbage-collect`.

use crate::Error;
use crate::app::AppState;
use crate::registry::client::{ClientError, Reach};
use crate::repositories::tags;

/// Deletes the manifest `digest` of `repository` in the registry, then forgets it; returns
/// the tags that went with it, by name (as recorded before the delete). A registry without `storage: delete: enabled:
/// true` refuses (405), and nothing is forgotten.
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
    state.registry.delete_manifest(&token, repository, digest).await.map_err(|e| match e {
        ClientError::Status { status: 405, .. } => Error::Denied("The registry does not allow deletes: its config.yml needs `storage: delete: enabled: true`.".into()),
        other => Error::internal(other),
    })?;
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
