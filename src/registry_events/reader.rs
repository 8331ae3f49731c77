//! Reading a pushed manifest from the registry, off the events endpoint: the registry
//! waits for the endpoint's answer before it sends the next event, so the endpoint only
//! queues the read, and one task of the server does them in order. Each read asks
//! `BERTH_REGISTRY_URL` (never the URL an event names) with a token Berth signs for itself
//! for that one repository. A read that fails is logged and left for `berth registry sync`;
//! the manifests still unread when the server starts are queued again.

use std::sync::Arc;

use serde_json::Value;

pub use super::queue::{Jobs, Reader};
use crate::app::AppState;
use crate::registry::client::{ClientError, Fetched, Reach, RegistryClient, is_index};
use crate::repositories::tags::{self, Details, Platform};

/// The platforms of an index read at most (each costs a request).
pub const MAX_PLATFORMS: usize = 64;

/// The server's reading task: the manifests left unread, then each one queued.
pub async fn run(state: Arc<AppState>, mut jobs: Jobs) {
    match state.db(|c| tags::unread(c, 10_000)).await {
        Ok(left) if !left.is_empty() => state.registry_reader.queue(left),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e.chain(), "listing the manifests still to read from the registry"),
    }
    while let Some((repository, digest)) = jobs.next().await {
        read_one(&state, repository, digest).await;
        state.registry_reader.done();
    }
}

async fn read_one(state: &AppState, repository: String, digest: String) {
    let now = state.now();
    let key = state.registry_key.signing(&state.database, now).await;
    let token = || state.registry.token(&key, Reach::Pull(&repository), state.now());
    let (fetched, details) = match read(&state.registry, &token, &repository, &digest).await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(repository = %repository, digest = %digest, error = %e, "reading a pushed manifest from the registry (`berth registry sync` reads it later)");
            return;
        }
    };
    let stored = state
        .db(move |c| {
            let Some(id) = tags::repository_id(c, &repository)? else { return Ok(()) };
            tags::record_details(c, id, &digest, &fetched.media_type, fetched.body.len() as i64, &details, now)
        })
        .await;
    if let Err(e) = stored {
        tracing::warn!(error = %e.chain(), "recording a manifest read from the registry");
    }
}

/// A pull token for each request, signed when it is sent: one lives at most a minute, and
/// an index's platforms may take longer to read.
pub type Tokens<'a> = &'a (dyn Fn() -> String + Sync);

/// The manifest `reference` of `repository` and what it holds.
pub async fn read(client: &RegistryClient, token: Tokens<'_>, repository: &str, reference: &str) -> Result<(Fetched, Details), ClientError> {
    let fetched = client.manifest(&token(), repository, reference).await?;
    let details = details_of(client, token, repository, &fetched).await?;
    Ok((fetched, details))
}

fn unexpected(fetched: &Fetched, why: impl Into<String>) -> ClientError {
    ClientError::Unexpected { what: format!("the manifest {}", fetched.digest), why: why.into() }
}

/// The sizes and platforms of a manifest: an image's from its config blob, an index's from
/// its entries and each platform's image manifest.
pub async fn details_of(client: &RegistryClient, token: Tokens<'_>, repository: &str, fetched: &Fetched) -> Result<Details, ClientError> {
    let doc: Value = serde_json::from_slice(&fetched.body).map_err(|e| unexpected(fetched, e.to_string()))?;
    if is_index(&fetched.media_type) {
        let entries = doc.get("manifests").and_then(Value::as_array).ok_or_else(|| unexpected(fetched, "an index without `manifests`"))?;
        let mut platforms = Vec::new();
        for entry in entries.iter().take(MAX_PLATFORMS) {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            let platform = entry.get("platform");
            let os = text(platform.and_then(|p| p.get("os"))).unwrap_or_default();
            // buildx's attestations are entries of no platform, not images
            if os.is_empty() || os == "unknown" {
                continue;
            }
            let digest = text(entry.get("digest")).filter(|d| crate::registry::client::valid_digest(d)).ok_or_else(|| unexpected(fetched, "an index entry without a digest"))?;
            let child = client.manifest(&token(), repository, &digest).await?;
            let (_, size) = image_parts(&child)?;
            platforms.push(Platform {
                os,
                architecture: text(platform.and_then(|p| p.get("architecture"))).unwrap_or_default(),
                variant: text(platform.and_then(|p| p.get("variant"))).filter(|v| !v.is_empty()),
                digest,
                size,
            });
        }
        return Ok(Details { size: platforms.iter().map(|p| p.size).sum(), platforms });
    }
    if let Some(architecture) = doc.get("architecture").and_then(Value::as_str) {
        // schema 1: the platform in the manifest itself, no sizes
        let platform = Platform { os: "linux".into(), architecture: architecture.into(), variant: None, digest: fetched.digest.clone(), size: 0 };
        return Ok(Details { size: 0, platforms: vec![platform] });
    }
    let (config, size) = image_parts(fetched)?;
    let config: Value = serde_json::from_slice(&client.blob(&token(), repository, &config).await?).map_err(|e| unexpected(fetched, format!("its config: {e}")))?;
    let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_string);
    let platform = Platform {
        os: text("os").unwrap_or_default(),
        architecture: text("architecture").unwrap_or_default(),
        variant: text("variant").filter(|v| !v.is_empty()),
        digest: fetched.digest.clone(),
        size,
    };
    Ok(Details { size, platforms: vec![platform] })
}

/// An image manifest's config digest, and its config and layers' bytes.
fn image_parts(fetched: &Fetched) -> Result<(String, i64), ClientError> {
    let doc: Value = serde_json::from_slice(&fetched.body).map_err(|e| unexpected(fetched, e.to_string()))?;
    let size_of = |v: &Value| v.get("size").and_then(Value::as_i64).filter(|s| *s >= 0);
    let config = doc.get("config").ok_or_else(|| unexpected(fetched, "an image manifest without `config`"))?;
    let digest =
        config.get("digest").and_then(Value::as_str).filter(|d| crate::registry::client::valid_digest(d)).ok_or_else(|| unexpected(fetched, "a config without a digest"))?;
    let layers = doc.get("layers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let size = size_of(config).unwrap_or(0) + layers.iter().filter_map(size_of).sum::<i64>();
    Ok((digest.to_string(), size))
}
