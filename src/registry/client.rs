//! Berth as a client of the registry (`BERTH_REGISTRY_URL`): reading a manifest or a blob,
//! the catalog and a repository's tags, and deleting a manifest, each with a token Berth
//! signs for itself. That token names a subject no account can hold (`SELF_SUBJECT`: user
//! and organization names are letters and digits), grants exactly what the one call needs
//! (pull on one repository, the catalog, or delete on one repository) and lives at most
//! `SELF_TOKEN_SECONDS`. The registry's own answers are read with limits: a manifest or a
//! config blob larger than `MAX_DOCUMENT` is refused, and what comes back under a digest
//! must hash to that digest.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::jwt::{self, Access};
use super::keys::SigningKey;
use crate::clock::Timestamp;

/// The `sub` of the tokens Berth signs for itself, and so the registry's `actor.name` in
/// the events its own reads cause (which are not pulls). The colon keeps it out of reach of
/// every account and organization name.
pub const SELF_SUBJECT: &str = "berth:self";

/// Lifetime of a token Berth signs for itself: one call, and the registry's clock skew.
pub const SELF_TOKEN_SECONDS: i64 = 60;

/// The largest manifest, index or image config Berth reads (distribution's own manifest
/// limit is 4 MiB).
pub const MAX_DOCUMENT: usize = 4 << 20;

/// Tags and catalog entries asked for per page.
const PAGE: usize = 1000;

/// The media types a manifest is served as, most specific first (the registry answers
/// with the one the manifest was pushed as, when it is in this list).
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
];

/// An index (a manifest list): a manifest per platform.
pub fn is_index(media_type: &str) -> bool {
    matches!(media_type, "application/vnd.oci.image.index.v1+json" | "application/vnd.docker.distribution.manifest.list.v2+json")
}

pub fn is_manifest(media_type: &str) -> bool {
    MANIFEST_TYPES.contains(&media_type)
}

/// The digest algorithms the registry knows, each with its number of hex digits.
const DIGEST_ALGORITHMS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// A digest of an algorithm the registry knows: `sha256:` and 64 lowercase hex digits,
/// `sha384:` and 96, or `sha512:` and 128.
pub fn valid_digest(digest: &str) -> bool {
    let hex_of = |rest: &str, len: usize| rest.len() == len && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    digest.split_once(':').is_some_and(|(algorithm, rest)| DIGEST_ALGORITHMS.iter().any(|(known, len)| *known == algorithm && hex_of(rest, *len)))
}

/// Whether `digest` names one of the algorithms `valid_digest` knows, valid or not: such a
/// digest in a wrong length is malformed, not one of another algorithm.
pub fn known_algorithm(digest: &str) -> bool {
    digest.split_once(':').is_some_and(|(algorithm, _)| DIGEST_ALGORITHMS.iter().any(|(known, _)| *known == algorithm))
}

/// A digest in the grammar of content digests (`algorithm:encoded`, the algorithm lowercase
/// words joined by `+._-`, the encoding `[A-Za-z0-9=_-]+`), whatever its algorithm: one of
/// an algorithm `valid_digest` does not know is still a digest, of content Berth does not
/// record.
pub fn digest_shaped(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else { return false };
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    algorithm.split(['+', '.', '_', '-']).all(word) && !encoded.is_empty() && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
}

/// A tag as the registry accepts one: a word character, then up to 127 word characters,
/// dots and dashes.
pub fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// Why a call to the registry failed, in words for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the registry at {url} cannot be reached: {why}")]
    Unreachable { url: String, why: String },
    #[error("the registry answered {status} for {what}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status { what: String, status: u16, body: String },
    #[error("the registry's answer for {what} is not what Berth expects: {why}")]
    Unexpected { what: String, why: String },
}

impl ClientError {
    /// The registry has no such manifest, blob or repository.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Status { status: 404, .. })
    }
}

/// What a token Berth signs for itself opens.
pub enum Reach<'a> {
    Pull(&'a str),
    Delete(&'a str),
    Catalog,
}

/// The registry as Berth reaches it, with what it signs its own tokens with.
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
    issuer: String,
    service: String,
}

/// A manifest as the registry served it.
pub struct Fetched {
    pub digest: String,
    pub media_type: String,
    pub body: Vec<u8>,
}

impl RegistryClient {
    /// `base` is `BERTH_REGISTRY_URL`; `issuer` and `service` those of every registry token.
    pub fn new(base: &str, issuer: &str, service: &str) -> RegistryClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("an HTTP client with the webpki roots builds");
        RegistryClient { base: base.trim_end_matches('/').to_string(), http, issuer: issuer.into(), service: service.into() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A token for one call, signed with `key` at `now`.
    pub fn token(&self, key: &SigningKey, reach: Reach<'_>, now: Timestamp) -> String {
        let access = match reach {
            Reach::Pull(repository) => Access { kind: "repository".into(), name: repository.into(), actions: vec!["pull".into()] },
            Reach::Delete(repository) => Access { kind: "repository".into(), name: repository.into(), actions: vec!["delete".into()] },
            Reach::Catalog => Access { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] },
        };
        jwt::issue(key, &self.issuer, SELF_SUBJECT, &self.service, &[access], now, SELF_TOKEN_SECONDS).token
    }

    async fn get(&self, what: &str, path: &str, token: &str, accept: &[&str]) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url).bearer_auth(token);
        if !accept.is_empty() {
            request = request.header(reqwest::header::ACCEPT, accept.join(", "));
        }
        let res = request.send().await.map_err(|e| ClientError::Unreachable { url: self.base.clone(), why: plain(&e) })?;
        if !res.status().is_success() {
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            return Err(ClientError::Status { what: what.into(), status, body: body.chars().take(300).collect::<String>().trim().to_string() });
        }
        Ok(res)
    }

    /// The body of an answer, at most `MAX_DOCUMENT` bytes.
    async fn limited_body(what: &str, mut res: reqwest::Response) -> Result<Vec<u8>, ClientError> {
        if res.content_length().is_some_and(|n| n > MAX_DOCUMENT as u64) {
            return Err(ClientError::Unexpected { what: what.into(), why: format!("larger than {} MiB", MAX_DOCUMENT >> 20) });
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| ClientError::Unexpected { what: what.into(), why: plain(&e) })? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(ClientError::Unexpected { what: what.into(), why: format!("larger than {} MiB", MAX_DOCUMENT >> 20) });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// `GET /v2/<repository>/manifests/<reference>` (a tag or a digest). A manifest asked
    /// for by digest must hash to it.
    pub async fn manifest(&self, token: &str, repository: &str, reference: &str) -> Result<Fetched, ClientError> {
        let what = format!("the manifest {repository}:{reference}");
        let res = self.get(&what, &format!("/v2/{repository}/manifests/{reference}"), token, MANIFEST_TYPES).await?;
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let media_type = header("content-type").map(|t| t.split(';').next().unwrap_or("").trim().to_string()).unwrap_or_default();
        let served_digest = header("docker-content-digest");
        let body = Self::limited_body(&what, res).await?;
        let computed = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        let digest = if reference.starts_with("sha256:") {
            if computed != reference {
                return Err(ClientError::Unexpected { what, why: format!("its content hashes to {computed}") });
            }
            computed
        } else {
            served_digest.filter(|d| valid_digest(d)).unwrap_or(computed)
        };
        // the media type the body names wins over a generic content type
        let named = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string));
        let media_type = match named {
            Some(t) if is_manifest(&t) => t,
            _ => media_type,
        };
        Ok(Fetched { digest, media_type, body })
    }

    /// `GET /v2/<repository>/blobs/<digest>`, at most `MAX_DOCUMENT` bytes (an image config).
    pub async fn blob(&self, token: &str, repository: &str, digest: &str) -> Result<Vec<u8>, ClientError> {
        let what = format!("the blob {repository}@{digest}");
        let res = self.get(&what, &format!("/v2/{repository}/blobs/{digest}"), token, &[]).await?;
        let body = Self::limited_body(&what, res).await?;
        if digest.starts_with("sha256:") && format!("sha256:{}", hex::encode(Sha256::digest(&body))) != digest {
            return Err(ClientError::Unexpected { what, why: "its content does not hash to its digest".into() });
        }
        Ok(body)
    }

    /// Every repository of the registry (`/v2/_catalog`, page by page).
    pub async fn catalog(&self, token: &str) -> Result<Vec<String>, ClientError> {
        self.paged("the catalog", "/v2/_catalog", "repositories", token).await
    }

    /// Every tag of `repository` (`/v2/<repository>/tags/list`, page by page). A repository
    /// the registry does not know has none.
    pub async fn tags(&self, token: &str, repository: &str) -> Result<Vec<String>, ClientError> {
        match self.paged(&format!("the tags of {repository}"), &format!("/v2/{repository}/tags/list"), "tags", token).await {
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    }

    async fn paged(&self, what: &str, path: &str, field: &str, token: &str) -> Result<Vec<String>, ClientError> {
        let mut all: Vec<String> = Vec::new();
        loop {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("n", &PAGE.to_string());
            if let Some(last) = all.last() {
                query.append_pair("last", last);
            }
            let res = self.get(what, &format!("{path}?{}", query.finish()), token, &[]).await?;
            let more = res.headers().contains_key("link");
            let body = Self::limited_body(what, res).await?;
            let page: serde_json::Value = serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected { what: what.into(), why: e.to_string() })?;
            let names: Vec<String> = match page.get(field) {
                Some(serde_json::Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Some(serde_json::Value::Null) | None => Vec::new(),
                Some(_) => return Err(ClientError::Unexpected { what: what.into(), why: format!("`{field}` is not a list") }),
            };
            let got = names.len();
            all.extend(names);
            if !more || got == 0 {
                return Ok(all);
            }
        }
    }

    /// `DELETE /v2/<repository>/manifests/<digest>`: the manifest and, in distribution 2.8,
    /// every tag on it (the registry needs `storage: delete: enabled: true`). A manifest the
    /// registry does not have is gone already.
    pub async fn delete_manifest(&self, token: &str, repository: &str, digest: &str) -> Result<(), ClientError> {
        let what = format!("deleting {repository}@{digest}");
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base);
        let res = self.http.delete(&url).bearer_auth(token).send().await.map_err(|e| ClientError::Unreachable { url: self.base.clone(), why: plain(&e) })?;
        let status = res.status().as_u16();
        if res.status().is_success() || status == 404 {
            return Ok(());
        }
        let body = res.text().await.unwrap_or_default();
        Err(ClientError::Status { what, status, body: body.chars().take(300).collect::<String>().trim().to_string() })
    }
}

/// A reqwest error with its causes (reqwest's own sentence is only the outermost).
fn plain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_account_or_organization_name_can_be_berths_own_subject() {
        assert!(crate::accounts::normalize_username(SELF_SUBJECT).is_err());
        assert!(crate::accounts::normalize_username(&SELF_SUBJECT.to_uppercase()).is_err());
    }

    #[test]
    fn digests_and_tags_follow_the_registrys_grammar() {
        assert!(valid_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!valid_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!valid_digest("sha256:abc"));
        assert!(!valid_digest(&format!("md5:{}", "a".repeat(32))));
        assert!(valid_digest(&format!("sha384:{}", "a".repeat(96))) && valid_digest(&format!("sha512:{}", "a".repeat(128))));
        assert!(!valid_digest(&format!("sha384:{}", "a".repeat(64))));
        assert!(known_algorithm("sha384:abc") && !known_algorithm("blake3:abc") && !known_algorithm("sha256"));
        assert!(digest_shaped(&format!("md5:{}", "a".repeat(32))) && digest_shaped("blake3+x:AbC=_-"));
        for not_one in ["sha256", ":abc", "sha256:", "SHA256:abc", "sha256:a/b", "+sha:abc", "sha..x:abc"] {
            assert!(!digest_shaped(not_one), "{not_one}");
        }
        assert!(valid_tag("v1.2-rc_3") && valid_tag("latest"));
        assert!(!valid_tag("") && !valid_tag(".hidden") && !valid_tag("a/b") && !valid_tag(&"a".repeat(129)));
    }
}
