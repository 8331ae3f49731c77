//! The test harness: the real server on port 0 with a temp data folder and a clock the
//! test controls, and a cookie-keeping client that reads CSRF tokens off pages like a
//! browser would. (Shared by several test binaries, each using part of it.)
#![allow(dead_code)]

use std::sync::Arc;

use berth::clock::ManualClock;
use berth::config::Settings;
use berth::server::AppState;
use regex::Regex;
use reqwest::StatusCode;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub url: String,
    pub state: Arc<AppState>,
    pub clock: Arc<ManualClock>,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    configure(&mut settings);
    let clock = ManualClock::starting_now();
    spawn_on(dir, settings, clock).await
}

/// Starts a server on an existing data folder (a "restart").
pub async fn spawn_on(dir: tempfile::TempDir, settings: Settings, clock: Arc<ManualClock>) -> TestApp {
    let (addr, state, server) = berth::server::start(settings.clone(), clock.clone()).expect("server starts");
    actix_web::rt::spawn(server);
    let url = match &settings.public_url {
        Some(_) => format!("http://{addr}"),
        None => state.public_url.clone(),
    };
    TestApp { url, state, clock, settings, dir }
}

impl TestApp {
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
    }

    pub fn browser_with_agent(&self, agent: &str) -> Browser {
        Browser::new(&self.url, agent)
    }

    pub fn conn(&self) -> berth::db::DbConn {
        self.state.pool.get().unwrap()
    }

    pub fn user(&self, name: &str) -> berth::accounts::User {
        berth::accounts::find_by_username(&mut self.conn(), name).unwrap().expect("user exists")
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

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

impl Browser {
    pub fn new(base: &str, agent: &str) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap();
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
        (res.status(), res.text().await.unwrap())
    }

    /// The CSRF token of this session, as a page that holds a form shows it.
    pub async fn csrf(&self, page: &str) -> String {
        let (status, html) = self.get_text(page).await;
        csrf_in(&html).unwrap_or_else(|| panic!("no CSRF token on {page} ({status})"))
    }

    /// Posts a form the way a browser does after loading `page`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf(page).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(action, &all).await
    }

    pub async fn post_raw(&self, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish();
        self.client
            .post(self.url(action))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.submit("/signup", "/signup", &[("username", username), ("email", email), ("password", password)]).await
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.submit("/login", "/login", &[("login", login), ("password", password)]).await
    }

    pub async fn logout(&self) -> reqwest::Response {
        self.submit("/settings/account", "/logout", &[]).await
    }

    pub async fn second_step(&self, code: &str) -> reqwest::Response {
        self.submit("/login/2fa", "/login/2fa", &[("code", code)]).await
    }

    /// Whether the session is signed in (the account page answers instead of redirecting).
    pub async fn signed_in(&self) -> bool {
        self.get("/settings/account").await.status() == StatusCode::OK
    }

    pub fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar.cookies(&self.base.parse().unwrap()).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
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
        (secret, codes)
    }
}
