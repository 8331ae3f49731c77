//! Settings: from flags and `BERTH_*` variables (clap reads both), with the defaults the
//! README's settings table lists. `Settings` is what the rest of Berth sees; it is plain data.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

/// The server's settings, flags of the top-level command (`berth --bind … [COMMAND]`).
/// Never `global`: a global flag is listed in every subcommand's `--help`, burying the few
/// options a subcommand has. Subcommands still see every setting, from its `BERTH_*`
/// variable or from a flag before the subcommand's name.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BERTH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Folder for the database, the master secret, keys and certificate (created 0700).
    #[arg(long, env = "BERTH_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// The database: a SQLite file, as a path or sqlite://PATH [default: $BERTH_DATA/berth.db];
    /// or PostgreSQL, for several instances, as postgres://USER:PASSWORD@HOST[:PORT]/DB
    /// (postgresql:// too) or libpq's keyword form (host=/run/postgresql dbname=berth).
    /// A URL may hold a password, so its value is never shown here.
    #[arg(long, env = "BERTH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The master key (64 random bytes, created 0600 on first start) [default: $BERTH_DATA/master.key].
    /// Every instance on one database needs a copy of the same file: Berth refuses to start
    /// with another.
    #[arg(long, env = "BERTH_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// How browsers and clients reach Berth, e.g. https://berth.example.com [default: http://$BERTH_BIND].
    /// Its origin is the only one allowed to post forms (CSRF Origin check).
    #[arg(long, env = "BERTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The registry's `service` name; the `aud` of registry tokens.
    #[arg(long, env = "BERTH_REGISTRY_SERVICE", default_value = "registry.local")]
    pub registry_service: String,
    /// What users type after `docker login`.
    #[arg(long, env = "BERTH_REGISTRY_HOST", default_value = "localhost:5000")]
    pub registry_host: String,
    /// Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed.
    #[arg(long, env = "BERTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// The `iss` of the JWTs Berth signs.
    #[arg(long, env = "BERTH_ISSUER", default_value = "berth")]
    pub issuer: String,
    /// `open` lets anyone sign up at /signup; `closed` leaves only `berth user add`.
    #[arg(long, env = "BERTH_SIGNUP", default_value = "open", value_parser = ["open", "closed"])]
    pub signup: String,
    /// Mark the session cookie `Secure` with the `__Host-` name and send HSTS
    /// [default: true when BERTH_PUBLIC_URL is https].
    #[arg(long, env = "BERTH_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "BERTH_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: i64,
    /// Hours after sign-in after which a session ends, however active.
    #[arg(long, env = "BERTH_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: i64,
    /// Failed sign-ins per account before the back-off starts.
    #[arg(long, env = "BERTH_THROTTLE_FREE_FAILURES", default_value_t = 5)]
    pub throttle_free_failures: u32,
    /// First back-off in seconds; it doubles with each further failure.
    #[arg(long, env = "BERTH_THROTTLE_BASE_SECONDS", default_value_t = 30)]
    pub throttle_base_seconds: u64,
    /// Longest back-off in seconds.
    #[arg(long, env = "BERTH_THROTTLE_MAX_SECONDS", default_value_t = 900)]
    pub throttle_max_seconds: u64,
    /// Failed attempts a client IP may make per window.
    #[arg(long, env = "BERTH_THROTTLE_IP_FAILURES", default_value_t = 50)]
    pub throttle_ip_failures: u32,
    /// The client-IP window, in seconds.
    #[arg(long, env = "BERTH_THROTTLE_IP_WINDOW_SECONDS", default_value_t = 900)]
    pub throttle_ip_window_seconds: u64,
    /// Visibility of a repository created by its first push: `private` or `public`.
    #[arg(long, env = "BERTH_DEFAULT_VISIBILITY", default_value = "private", value_parser = ["private", "public"])]
    pub default_visibility: String,
    /// Lifetime of registry tokens, in seconds.
    #[arg(long, env = "BERTH_TOKEN_LIFETIME_SECONDS", default_value_t = 300)]
    pub token_lifetime_seconds: i64,
    /// JSON API requests a minute per user (per client IP when anonymous).
    #[arg(long, env = "BERTH_API_RATE_LIMIT", default_value_t = 600)]
    pub api_rate_limit: u32,
    /// HTTP worker threads [default: number of cores].
    #[arg(long, env = "BERTH_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds a client has to send a request's head, and again its body; past it the
    /// answer is 408 and the connection is closed.
    #[arg(long, env = "BERTH_BODY_TIMEOUT_SECONDS", default_value_t = 10)]
    pub body_timeout_seconds: u64,
    /// Connections open at once, all peers together [default: 80 % of the open-file limit].
    #[arg(long, env = "BERTH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Connections open at once from one peer address; trusted proxies are exempt.
    #[arg(long, env = "BERTH_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    pub max_connections_per_ip: usize,
    /// Let webhooks post to loopback, private and link-local addresses (a CI server inside
    /// this network); by default only public addresses are posted to.
    #[arg(long, env = "BERTH_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
}

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub free_failures: u32,
    pub base_seconds: u64,
    pub max_seconds: u64,
    pub ip_failures: u32,
    pub ip_window_seconds: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self { free_failures: 5, base_seconds: 30, max_seconds: 900, ip_failures: 50, ip_window_seconds: 900 }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub master_key_file: PathBuf,
    /// None: derived from the bound address once it is known (port 0 in tests).
    pub public_url: Option<String>,
    pub registry_service: String,
    pub registry_host: String,
    pub trusted_proxies: Vec<IpNet>,
    pub issuer: String,
    pub signup_open: bool,
    pub secure_cookies: Option<bool>,
    pub session_idle_seconds: i64,
    pub session_absolute_seconds: i64,
    pub throttle: ThrottleConfig,
    pub workers: usize,
    /// Repositories created by a push are public.
    pub default_public: bool,
    pub token_lifetime_seconds: i64,
    pub api_rate_limit: u32,
    /// How long a request's head, and then its body, may take to arrive.
    pub body_timeout: Duration,
    /// None: 80 % of the open-file limit, once it has been raised at start.
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: usize,
    /// Webhooks may post to addresses inside this network.
    pub webhook_allow_private: bool,
}

impl Settings {
    /// Defaults for a data folder; used by tests and by `from_args`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Settings {
            bind: "127.0.0.1:8080".into(),
            database_url: data_dir.join("berth.db").to_string_lossy().into_owned(),
            master_key_file: data_dir.join(crate::keys::MASTER_FILE),
            data_dir,
            public_url: None,
            registry_service: "registry.local".into(),
            registry_host: "localhost:5000".into(),
            trusted_proxies: Vec::new(),
            issuer: "berth".into(),
            signup_open: true,
            secure_cookies: None,
            session_idle_seconds: 30 * 60,
            session_absolute_seconds: 12 * 3600,
            throttle: ThrottleConfig::default(),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            default_public: false,
            token_lifetime_seconds: 300,
            api_rate_limit: 600,
            body_timeout: Duration::from_secs(10),
            max_connections: None,
            max_connections_per_ip: 1024,
            webhook_allow_private: false,
        }
    }

    pub fn from_args(a: &ServeArgs) -> Result<Self, String> {
        let mut s = Settings::with_data_dir(&a.data);
        s.bind = a.bind.clone();
        if let Some(url) = &a.database_url {
            s.database_url = database_url_of(url)?;
        }
        if let Some(file) = &a.master_key_file {
            s.master_key_file = file.clone();
        }
        if let Some(url) = &a.public_url {
            let parsed = url::Url::parse(url).map_err(|e| format!("BERTH_PUBLIC_URL {url:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(format!("BERTH_PUBLIC_URL {url:?}: must be an http or https URL"));
            }
            s.public_url = Some(url.trim_end_matches('/').to_string());
        }
        s.registry_service = a.registry_service.clone();
        s.registry_host = a.registry_host.clone();
        s.trusted_proxies = a.trusted_proxies.iter().filter(|p| !p.trim().is_empty()).map(|p| parse_net(p.trim())).collect::<Result<_, _>>()?;
        s.issuer = a.issuer.clone();
        s.signup_open = a.signup == "open";
        s.secure_cookies = a.secure_cookies;
        if a.session_idle_minutes <= 0 || a.session_absolute_hours <= 0 {
            return Err("session timeouts must be positive".into());
        }
        s.session_idle_seconds = a.session_idle_minutes * 60;
        s.session_absolute_seconds = a.session_absolute_hours * 3600;
        s.throttle = ThrottleConfig {
            free_failures: a.throttle_free_failures,
            base_seconds: a.throttle_base_seconds.max(1),
            max_seconds: a.throttle_max_seconds.max(1),
            ip_failures: a.throttle_ip_failures.max(1),
            ip_window_seconds: a.throttle_ip_window_seconds.max(1),
        };
        s.default_public = a.default_visibility == "public";
        if !(10..=3600).contains(&a.token_lifetime_seconds) {
            return Err("BERTH_TOKEN_LIFETIME_SECONDS: use 10 to 3600 seconds".into());
        }
        s.token_lifetime_seconds = a.token_lifetime_seconds;
        s.api_rate_limit = a.api_rate_limit.max(1);
        if let Some(w) = a.workers {
            s.workers = w.max(1);
        }
        if !(1..=3600).contains(&a.body_timeout_seconds) {
            return Err("BERTH_BODY_TIMEOUT_SECONDS: use 1 to 3600 seconds".into());
        }
        s.body_timeout = Duration::from_secs(a.body_timeout_seconds);
        if a.max_connections == Some(0) || a.max_connections_per_ip == 0 {
            return Err("BERTH_MAX_CONNECTIONS and BERTH_MAX_CONNECTIONS_PER_IP: use at least 1".into());
        }
        s.max_connections = a.max_connections;
        s.max_connections_per_ip = a.max_connections_per_ip;
        s.webhook_allow_private = a.webhook_allow_private;
        Ok(s)
    }

    /// The public URL, once the listening address is known.
    pub fn public_url_for(&self, bound: std::net::SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// The database `BERTH_DATABASE_URL` names, as Berth keeps it: a PostgreSQL URL as given
/// (`db::Kind::of` tells it from a file), a SQLite file as its path (`sqlite://` dropped).
/// An error never repeats the URL, which may hold a password.
pub fn database_url_of(url: &str) -> Result<String, String> {
    let trimmed = url.trim();
    if crate::db::Kind::of(trimmed) == crate::db::Kind::Postgres {
        return Ok(trimmed.to_string());
    }
    let path = trimmed.strip_prefix("sqlite://").unwrap_or(trimmed);
    if path.is_empty() {
        return Err("BERTH_DATABASE_URL is empty: give a file path or sqlite://PATH, a postgres:// URL, or leave it unset for $BERTH_DATA/berth.db".into());
    }
    Ok(path.to_string())
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| format!("BERTH_TRUSTED_PROXIES: {s:?} is neither an address nor a CIDR range"))
}
