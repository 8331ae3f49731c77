//! Wiring: builds the shared state (`app::AppState`), the middleware stack and the HTTP
//! server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware::from_fn, web};

use crate::Error;
use crate::accounts::password::HashPool;
use crate::app::{AppState, origin_of};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::shared_limits::{DbRateStore, DbThrottleStore};
use crate::db::{self, Database};
use crate::sessions::store::DatabaseSessionStore;
use crate::signin::cache::PasswordCache;
use crate::signin::single_flight::SingleFlight;
use crate::throttle::Throttle;
use crate::throttle::rate::RateLimiter;
use crate::web::error::PageError;
use crate::web::session::{SECURE_SESSION_COOKIE, SESSION_COOKIE};

/// How long an idle kept-alive connection stays open (actix's default, named because the
/// connection watch builds on it).
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Opens the data folder and database, binds, and returns the server (not yet awaited).
pub fn start(settings: Settings, clock: SharedClock) -> Result<(SocketAddr, Arc<AppState>, Server), String> {
    crate::keys::ensure_data_dir(&settings.data_dir).map_err(|e| format!("data folder {}: {e}", settings.data_dir.display()))?;
    let database = Database::open(&settings.database_url, settings.workers as u32)?;
    // what every instance on the database must share: the master key, checked against the
    // one the database was set up with, and the signing key, read from the database
    let (keys, registry_key) = {
        let mut conn = database.pool.get().map_err(|e| format!("opening the database: {e}"))?;
        let keys = crate::keys::check_master_key(&settings.master_key_file, &mut conn, clock.now())?;
        let key = crate::registry::keys::ensure(&mut conn, &keys, &settings.data_dir, clock.now()).map_err(|e| format!("the registry signing key: {}", e.chain()))?;
        (keys.clone(), crate::registry::keys::Signer::new(key, keys, clock.now()))
    };
    let listener = TcpListener::bind(&settings.bind).map_err(|e| format!("binding {}: {e}", settings.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = settings.public_url_for(addr);
    let secure_cookies = settings.secure_cookies.unwrap_or_else(|| public_url.starts_with("https://"));
    let signin = crate::signin::Service {
        db: database.clone(),
        clock: clock.clone(),
        keys: Arc::new(keys.clone()),
        throttle: match database.kind {
            // one process: its memory is the whole truth, and costs no round trip
            db::Kind::Sqlite => Throttle::new(settings.throttle.clone(), clock.clone()),
            db::Kind::Postgres => {
                Throttle::with_store(settings.throttle.clone(), clock.clone(), Box::new(DbThrottleStore::new(limits_pool(&settings.database_url)?, keys.throttle_name)))
            }
        },
        hasher: HashPool::for_cores(),
        password_cache: PasswordCache::new(keys.password_cache, clock.clone()),
        password_flights: SingleFlight::default(),
    };
    let api_limiter = match database.kind {
        db::Kind::Sqlite => RateLimiter::new(settings.api_rate_limit, clock.clone()),
        db::Kind::Postgres => RateLimiter::with_store(settings.api_rate_limit, clock.clone(), Box::new(DbRateStore::new(limits_pool(&settings.database_url)?))),
    };
    let registry = crate::registry::client::RegistryClient::new(&settings.registry_url, &settings.issuer, &settings.registry_service);
    let (registry_reader, reads) = crate::registry_events::queue::Reader::new();
    let state = Arc::new(AppState {
        database,
        public_origin: origin_of(&public_url),
        public_url,
        secure_cookies,
        signin,
        api_limiter,
        registry_key,
        registry,
        registry_reader,
        keys,
        clock: clock.clone(),
        settings,
    });
    let data = web::Data::from(state.clone());
    let store = DatabaseSessionStore::new(state.database.pool.clone(), clock, state.settings.session_idle_seconds, state.settings.session_absolute_seconds);
    let cookie_key = Key::from(&state.keys.session_cookie);
    let browser_cookies = web::Data::new(crate::web::browser::BrowserCookies::new(&state.keys, state.secure_cookies, state.clock.clone()));
    let workers = state.settings.workers;
    // Each connection holds a descriptor until it closes: raise the limit first, cap the
    // total under it and each peer's share of it, and bound how long a slow peer keeps one.
    let open_files = crate::connections::raise_open_file_limit();
    let max_connections = state.settings.max_connections.unwrap_or_else(|| crate::connections::default_max_connections(open_files));
    let per_ip = state.settings.max_connections_per_ip;
    let body_timeout = state.settings.body_timeout;
    tracing::info!(max_connections, per_ip, body_timeout_seconds = body_timeout.as_secs(), "connection limits");
    // between requests a connection may idle for the keep-alive, then send a head within
    // the head deadline
    let rules = crate::connections::ConnectionRules::new(per_ip, state.settings.trusted_proxies.clone(), KEEP_ALIVE + body_timeout);

    let server = HttpServer::new(move || {
        let secure = data.secure_cookies;
        let sessions = SessionMiddleware::builder(store.clone(), cookie_key.clone())
            .cookie_name(if secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }.to_string())
            .cookie_secure(secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".into())
            .session_lifecycle(BrowserSession::default().state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest))
            .build();
        App::new()
            .app_data(data.clone())
            .app_data(browser_cookies.clone())
            .app_data(web::QueryConfig::default().error_handler(|e, _| PageError::from(Error::invalid(format!("Invalid query: {e}"))).into()))
            .app_data(web::PathConfig::default().error_handler(|_, _| PageError::not_found().into()))
            .wrap(from_fn(crate::web::middleware::access_log))
            .wrap(from_fn(crate::connections::track))
            .wrap(from_fn(crate::web::middleware::security_headers))
            .service(web::resource("/static/{file}").route(web::get().to(crate::web::static_file)))
            .service(web::resource("/healthz").route(web::get().to(crate::web::healthz)))
            .service(web::resource("/token").route(web::get().to(crate::registry::endpoint::get_token)).route(web::post().to(crate::registry::endpoint::post_token)))
            .service(web::resource("/registry/events").route(web::post().to(crate::registry_events::endpoint::post_events)))
            .service(web::scope("/v2").wrap(from_fn(crate::api::ratelimit::limit)).configure(crate::api::routes))
            .service(web::scope("/api/billing/v4").wrap(from_fn(crate::api::ratelimit::limit)).configure(crate::api::billing::routes))
            .service(
                web::scope("")
                    .wrap(from_fn(crate::web::csrf::origin_check))
                    .wrap(from_fn(crate::web::middleware::error_header))
                    .wrap(from_fn(crate::web::browser::keep))
                    .wrap(sessions)
                    .configure(crate::web::routes)
                    .default_service(web::to(crate::web::not_found)),
            )
            .default_service(web::to(crate::web::not_found))
    })
    .workers(workers)
    // actix counts per worker; past it a worker stops accepting, and new connections wait
    // in the kernel's listen backlog, which costs Berth no descriptor
    .max_connections(crate::connections::per_worker(max_connections, workers))
    .keep_alive(KEEP_ALIVE)
    // the first head has the same deadline as the body (408 past it); later heads on a
    // kept-alive connection are timed by the connection watch (connections.rs)
    .client_request_timeout(body_timeout)
    // after answering a body it did not read (a 408), Berth lingers this long for the peer
    // to take the answer and close, then drops the connection; it also bounds any close
    .client_disconnect_timeout(Duration::from_secs(1))
    .on_connect(move |conn, data| rules.on_connect(conn, data))
    .listen(listener)
    .map_err(|e| e.to_string())?
    .run();

    actix_web::rt::spawn(purge_sessions_periodically(state.clone()));
    actix_web::rt::spawn(crate::registry_events::reader::run(state.clone(), reads));
    actix_web::rt::spawn(deliver_webhooks(state.clone()));
    Ok((addr, state, server))
}

/// The shared limits' own connections: a failure is counted from inside the transaction
/// that decides it, which holds a connection of the main pool already; drawing the
/// throttle's from that pool too could leave every connection waiting for a second one.
fn limits_pool(url: &str) -> Result<db::DbPool, String> {
    db::open_pool(url, 8)
}

/// Sends the webhooks' due deliveries every second, for as long as the server runs.
async fn deliver_webhooks(state: Arc<AppState>) {
    let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = crate::webhooks::send::deliver_due(&state.database, &state.keys, &state.clock, state.settings.webhook_allow_private).await {
            e.log_if_internal("webhooks");
        }
    }
}

async fn purge_sessions_periodically(state: Arc<AppState>) {
    let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let (now, idle, absolute) = (state.now(), state.settings.session_idle_seconds, state.settings.session_absolute_seconds);
        let (shared, rules) = (state.database.kind == db::Kind::Postgres, state.settings.throttle.clone());
        let purged = state
            .db(move |c| {
                crate::sessions::purge_expired(c, now, idle, absolute)?;
                crate::signin::challenges::purge_expired(c, now)?;
                crate::once::purge(c, now)?;
                if shared {
                    db::shared_limits::purge(c, &rules, now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = purged {
            tracing::warn!(error = %e, "purging expired sessions, login challenges, form keys and throttle counts");
        }
    }
}
