//! The test harness shared by every test binary: the real server on port 0 with a temp
//! data folder and a clock the test controls, a cookie-keeping client that reads CSRF
//! tokens off pages like a browser would, and the secrets audit (`audit`).

pub mod audit;
pub mod clients;
pub mod database;
pub mod listener;
pub mod process;
pub mod registry;

use std::sync::Arc;

use berth::app::AppState;
use berth::clock::ManualClock;
use berth::config::Settings;
use regex::Regex;
use reqwest::StatusCode;

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_COOKIE: &str = "berth_session";
pub const PRE_SESSION_COOKIE: &str = "berth_presession";

/// Every `Set-Cookie` of an answer.
pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// The `Set-Cookie` of an answer for the cookie `name`.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(res).into_iter().find(|c| c.starts_with(&format!("{name}=")))
}

/// The `berth` binary at `path` (a test binary's `env!("CARGO_BIN_EXE_berth")`), started
/// under the common umask 022 whatever the test runner's, so the file modes Berth sets are
/// its own doing, and killed with the test however the test ends.
pub fn berth_command(path: &str) -> std::process::Command {
    let mut command = std::process::Command::new(path);
    // SAFETY: umask and prctl are async-signal-safe and touch only the child being started
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            libc::umask(0o022);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

pub struct TestApp {
    pub url: String,
    pub state: Arc<AppState>,
    pub clock: Arc<ManualClock>,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
    /// Stops this server (`stop(true).await`: graceful), as a restart does.
    pub server: actix_web::dev::ServerHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = audit::tempdir();
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.database_url = database::fresh(&settings.data_dir);
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    configure(&mut settings);
    let clock = ManualClock::starting_now();
    spawn_on(dir, settings, clock).await
}

/// Starts a server on an existing data folder (a "restart").
pub async fn spawn_on(dir: tempfile::TempDir, settings: Settings, clock: Arc<ManualClock>) -> TestApp {
    audit::capture_logs();
    audit::secret(PASSWORD);
    let (addr, state, server) = berth::server::start(settings.clone(), clock.clone()).expect("server starts");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let url = match &settings.public_url {
        Some(_) => format!("http://{addr}"),
        None => state.public_url.clone(),
    };
    TestApp { url, state, clock, settings, dir, server: handle }
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
    }

    pub fn browser_with_agent(&self, agent: &str) -> Browser {
        Browser::new(&self.url, agent)
    }

    pub fn conn(&self) -> berth::db::DbConn {
        self.state.database.pool.get().unwrap()
    }

    /// How many rows the sessions table holds, anonymous ones included. Read from the table:
    /// what is stored is the point (no domain function lists rows of no user).
    pub fn session_rows(&self) -> i64 {
        use diesel::prelude::*;
        berth::db::schema::sessions::table.count().get_result(&mut self.conn()).unwrap()
    }

    /// How many access tokens are stored, of every user. Read from the table: a form that
    /// must create nothing is checked against the rows, not a user's kept count.
    pub fn token_rows(&self) -> i64 {
        use diesel::prelude::*;
        berth::db::schema::access_tokens::table.count().get_result(&mut self.conn()).unwrap()
    }

    pub fn user(&self, name: &str) -> berth::accounts::User {
        berth::accounts::find_by_username(&mut self.conn(), name).unwrap().expect("user exists")
    }

    /// The owner of the namespace `name`: a user's own holds the plan, the token counter,
    /// the tokens and the repositories.
    pub fn owner(&self, name: &str) -> berth::owners::Owner {
        berth::owners::find_by_name(&mut self.conn(), name).unwrap().expect("owner exists")
    }

    /// Signs up `name` with `PASSWORD` and returns the signed-in browser.
    pub async fn signed_up(&self, name: &str) -> Browser {
        let b = self.browser();
        let res = b.signup(name, &format!("{name}@example.com"), PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-up of {name} failed: {}", res.text().await.unwrap());
        b
    }

    /// Signs up `name`, turns 2FA on, returns (browser, base32 secret, recovery codes).
    pub async fn with_2fa(&self, name: &str) -> (Browser, String, Vec<String>) {
        let b = self.signed_up(name).await;
        let (secret, codes) = b.enable_2fa(self).await;
        (b, secret, codes)
    }

    /// The current TOTP code, after moving the clock to a fresh 30-second step (each step's
    /// code is accepted once).
    pub fn fresh_code(&self, secret: &str) -> String {
        self.clock.advance(30);
        berth::twofactor::code_at(secret, berth::clock::Clock::now(&*self.clock))
    }

    pub fn code_now(&self, secret: &str) -> String {
        berth::twofactor::code_at(secret, berth::clock::Clock::now(&*self.clock))
    }
}

pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub jar: Arc<reqwest::cookie::Jar>,
}

pub fn csrf_in(html: &str) -> Option<String> {
    Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap().captures(html).map(|c| c[1].to_string())
}

/// The one-time key of a form that creates something, when the page has one.
pub fn once_in(html: &str) -> Option<String> {
    Regex::new(r#"name="once" value="([^"]+)""#).unwrap().captures(html).map(|c| c[1].to_string())
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

impl Browser {
    pub fn new(base: &str, agent: &str) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder().cookie_provider(jar.clone()).redirect(reqwest::redirect::Policy::none()).user_agent(agent).build().unwrap();
        Browser { client, base: base.to_string(), jar }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let res = self.get(path).await;
        let (status, text) = (res.status(), res.text().await.unwrap());
        audit::tokens_in(&text);
        (status, text)
    }

    /// The CSRF token of this session, as a page that holds a form shows it.
    pub async fn csrf(&self, page: &str) -> String {
        let (status, html) = self.get_text(page).await;
        csrf_in(&html).unwrap_or_else(|| panic!("no CSRF token on {page} ({status})"))
    }

    /// The hidden fields a form on `page` carries: its CSRF token and, on a form that
    /// creates something, its one-time key.
    pub async fn form(&self, page: &str) -> (String, Option<String>) {
        let (status, html) = self.get_text(page).await;
        let csrf = csrf_in(&html).unwrap_or_else(|| panic!("no CSRF token on {page} ({status})"));
        (csrf, once_in(&html))
    }

    /// Posts a form the way a browser does after loading `page`, hidden fields included.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (token, once) = self.form(page).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        if let Some(once) = &once {
            all.push(("once", once.as_str()));
        }
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    pub async fn post_raw(&self, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish();
        self.client.post(self.url(action)).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap()
    }

    pub async fn signup(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        audit::secret(password);
        let res = self.submit("/signup", "/signup", &[("username", username), ("email", email), ("password", password)]).await;
        self.cookie();
        res
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        audit::secret(password);
        let res = self.submit("/login", "/login", &[("login", login), ("password", password)]).await;
        self.cookie();
        res
    }

    pub async fn logout(&self) -> reqwest::Response {
        self.submit("/settings/account", "/logout", &[]).await
    }

    pub async fn second_step(&self, code: &str) -> reqwest::Response {
        let res = self.submit("/login/2fa", "/login/2fa", &[("code", code)]).await;
        self.cookie();
        res
    }

    /// Whether the session is signed in (the account page answers instead of redirecting).
    pub async fn signed_in(&self) -> bool {
        self.get("/settings/account").await.status() == StatusCode::OK
    }

    /// The session cookie (`name=value`, empty when there is none); every cookie value is
    /// registered for the secrets audit.
    pub fn cookie(&self) -> String {
        self.cookie_named(SESSION_COOKIE)
    }

    /// The cookie `name` of this browser (`name=value`, empty when there is none).
    pub fn cookie_named(&self, name: &str) -> String {
        use reqwest::cookie::CookieStore;
        let cookie = self.jar.cookies(&self.base.parse().unwrap()).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let mut found = String::new();
        for pair in cookie.split("; ") {
            if let Some((key, value)) = pair.split_once('=') {
                audit::secret(value);
                if key == name {
                    found = pair.to_string();
                }
            }
        }
        found
    }

    /// Runs the enrolment as a person would: password, read the secret, enter the code.
    pub async fn enable_2fa(&self, app: &TestApp) -> (String, Vec<String>) {
        let res = self.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", PASSWORD)]).await;
        assert_eq!(location(&res), "/settings/security/2fa/setup");
        let (_, html) = self.get_text("/settings/security/2fa/setup").await;
        let secret = Regex::new(r#"<code id="totp-secret">([A-Z2-7]+)</code>"#).unwrap().captures(&html).expect("secret on the page")[1].to_string();
        let code = app.code_now(&secret);
        let res = self.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", &[("code", &code)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        let codes: Vec<String> = Regex::new(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>").unwrap().captures_iter(&html).map(|c| c[1].to_string()).collect();
        assert_eq!(codes.len(), 10, "{html}");
        audit::secret(&secret);
        codes.iter().for_each(|c| audit::secret(c));
        (secret, codes)
    }
}
