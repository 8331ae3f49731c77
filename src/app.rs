//! The state every door shares, built once and handed to all workers. It holds domain
//! services and settings and imports no handler, so the doors, the middleware and the
//! domain can all reach it without a circle.

use crate::db::Conn;

use crate::Error;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::Database;
use crate::keys::Keys;

pub struct AppState {
    pub database: Database,
    pub settings: Settings,
    /// `BERTH_PUBLIC_URL`, or `http://` + the bound address.
    pub public_url: String,
    /// scheme://host[:port] of the public URL: the only `Origin` allowed to post forms.
    pub public_origin: String,
    pub secure_cookies: bool,
    pub keys: Keys,
    pub clock: SharedClock,
    /// Passwords, second factors and tokens at every door, with the throttle.
    pub signin: crate::signin::Service,
    /// The JSON API's request-rate limit.
    pub api_limiter: crate::throttle::rate::RateLimiter,
    /// Signs registry tokens, with the key the database names as signing (re-read every
    /// `registry::keys::RECHECK_SECONDS`).
    pub registry_key: crate::registry::keys::Signer,
    /// The registry as Berth reaches it (`BERTH_REGISTRY_URL`), with its own tokens.
    pub registry: crate::registry::client::RegistryClient,
    /// The queue of pushed manifests to read from the registry, off the events endpoint.
    pub registry_reader: crate::registry_events::queue::Reader,
}

impl AppState {
    /// A domain function on a pooled connection, off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Conn) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.database.run(f).await
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// scheme://host[:port] of a URL.
pub fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_string(),
    }
}
