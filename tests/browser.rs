//! End to end in headless Chromium: sign up, turn on two-factor authentication by reading
//! the secret off the set-up page (as a phone would), sign out, sign in with an
//! authenticator code, then with a recovery code. A second test drives the personal access
//! token pages: create (scope, expiry), the copy-once page, the overview, deactivate, bulk
//! delete behind a confirmation, and the limits of the personal plan. A third attacks Berth
//! from pages of a small server of its own on another port (forged form posts, framing) and
//! checks that hostile user agents (on sessions, activity and a token's last use), token
//! descriptions and the echo of rejected repository names and sign-ups are shown as text.
//!
//! Chromium is driven with fantoccini through chromedriver, which the test starts itself on
//! a free port. fantoccini is built without TLS (chromedriver is on loopback), so it connects
//! with hyper-util's plain `HttpConnector`. Screenshots land in `target/browser-screenshots/`.
//! The `layout` module measures every page at desktop and phone widths; `orgs` drives the
//! organization pages (an invitation, a team) and measures them too.

#[path = "browser/forms.rs"]
mod forms;
#[path = "browser/layout.rs"]
mod layout;
#[path = "browser/orgs.rs"]
mod orgs;

use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::app::AppState;
use berth::clock::{Clock, SystemClock};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);
const WHOLE_TEST: Duration = Duration::from_secs(240);

const USERNAME: &str = "browseruser";
const EMAIL: &str = "browseruser@example.com";
const PASSWORD: &str = "quiet harbour lanterns drift at 7 bells";

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("browser-screenshots")
}

/// Kills chromedriver and whatever Chromium processes it left, however the test ends.
/// (The test normally ends the WebDriver session first, which closes Chromium.)
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Only the processes descended from our chromedriver, each by its own id.
        let leftovers: Vec<String> = descendants(self.child.id()).iter().map(u32::to_string).collect();
        if !leftovers.is_empty() {
            let _ = Command::new("kill").args(["-s", "KILL", "--"]).args(&leftovers).stderr(Stdio::null()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ids of all processes below `pid`, from /proc (Linux).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { continue };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                if child > 1 && child != pid && !found.contains(&child) {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binding a free port").local_addr().unwrap().port()
}

async fn sleep(d: Duration) {
    actix_web::rt::time::sleep(d).await
}

/// Starts chromedriver and waits until it listens.
async fn start_chromedriver(log_name: &str) -> Chromedriver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the browser test needs Chromium and chromedriver \
             (run scripts/test.sh, or apt-get install chromium chromium-driver)"
        );
    }
    let log = screenshot_dir().join(log_name);
    // A free port can be taken between the check and chromedriver's bind: try a few.
    for _ in 0..3 {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let mut driver = Chromedriver { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = driver.child.try_wait() {
                eprintln!("chromedriver on port {port} exited early ({status}); retrying");
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return driver;
            }
            sleep(POLL).await;
        }
        drop(driver);
    }
    panic!("chromedriver did not become ready; see {}", log.display());
}

/// A WebDriver session with a headless Chromium using a fresh profile.
async fn open_browser(driver: &Chromedriver, profile: &Path) -> Client {
    let Value::Object(caps) = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--disable-quic",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }) else {
        unreachable!()
    };
    ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&driver.url).await.unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"))
}

/// Where the browser is, for failure messages.
async fn here(b: &Client) -> String {
    b.current_url().await.map_or_else(|e| format!("(unknown: {e})"), |u| u.to_string())
}

async fn path(b: &Client) -> String {
    b.current_url().await.expect("current URL").path().to_string()
}

/// Waits for an element to appear (after a navigation, say).
async fn wait_for(b: &Client, css: &str) -> Element {
    match b.wait().at_most(WAIT).every(POLL).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => panic!("no {css:?} on {} after {WAIT:?}: {e}", here(b).await),
    }
}

async fn text_of(b: &Client, css: &str) -> String {
    wait_for(b, css).await.text().await.unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
}

async fn fill(b: &Client, css: &str, text: &str) {
    wait_for(b, css).await.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css:?}: {e}"));
}

async fn click_on(b: &Client, css: &str) {
    wait_for(b, css).await.click().await.unwrap_or_else(|e| panic!("clicking {css:?}: {e}"));
}

/// Waits until the page's path is `want`, failing with the page's text otherwise.
async fn wait_for_path(b: &Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if path(b).await == want {
            return;
        }
        sleep(POLL).await;
    }
    let text = match b.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_else(|e| e.to_string()),
        Err(e) => e.to_string(),
    };
    panic!("expected to be at {want}, but the browser is at {}; page text:\n{text}", here(b).await);
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap_or_else(|e| panic!("taking {name}: {e}"));
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = screenshot_dir().join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

async fn goto(b: &Client, url: &str) {
    b.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
}

async fn sign_out(b: &Client) {
    click_on(b, "form[action='/logout'] button[type=submit]").await;
    wait_for_path(b, "/login").await;
    wait_for(b, "input#login").await;
}

/// Signs up through the form (a screenshot of the filled form if `png` is given); lands on
/// the security settings, signed in.
async fn sign_up(b: &Client, base: &str, username: &str, email: &str, png: Option<&str>) {
    goto(b, &format!("{base}/signup")).await;
    fill(b, "input#username", username).await;
    fill(b, "input#email", email).await;
    fill(b, "input#password", PASSWORD).await;
    if let Some(png) = png {
        screenshot(b, png).await;
    }
    click_on(b, "form[action='/signup'] button[type=submit]").await;
    wait_for_path(b, "/settings/security").await;
    let who = text_of(b, ".topbar .whoami").await;
    assert!(who.contains(username), "after signing up the top bar should name {username}, says {who:?}");
}

async fn sign_in_with_password(b: &Client, base: &str) {
    goto(b, &format!("{base}/login")).await;
    fill(b, "input#login", USERNAME).await;
    fill(b, "input#password", PASSWORD).await;
    click_on(b, "form[action='/login'] button[type=submit]").await;
    wait_for_path(b, "/login/2fa").await;
    wait_for(b, "form[action='/login/2fa'] input#code").await;
}

async fn assert_signed_in(b: &Client) {
    let path = path(b).await;
    assert!(path.starts_with("/settings"), "expected a settings page after signing in, got {path}");
    let who = text_of(b, ".topbar .whoami").await;
    assert!(who.contains(USERNAME), "the top bar should name the user, says {who:?}");
}

async fn flow(b: &Client, base: &str) {
    let clock = SystemClock;

    // 1. Sign up.
    sign_up(b, base, USERNAME, EMAIL, Some("signup.png")).await;

    // 2. Turn on two-factor authentication.
    click_on(b, "a[href='/settings/security/2fa/enable']").await;
    wait_for_path(b, "/settings/security/2fa/enable").await;
    fill(b, "input#password", PASSWORD).await;
    click_on(b, "form[action='/settings/security/2fa/enable'] button[type=submit]").await;
    wait_for_path(b, "/settings/security/2fa/setup").await;
    let secret = text_of(b, "code#totp-secret").await.trim().to_string();
    berth_test_support::audit::secret(&secret);
    assert!(secret.len() >= 26 && secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)), "the set-up page should show a base32 secret, shows {secret:?}");
    wait_for(b, ".qr img").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let script = "const i = document.querySelector('.qr img'); return i.complete && i.naturalWidth > 0;";
        if b.execute(script, vec![]).await.expect("checking the QR code image") == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "the QR code image did not load on the set-up page");
        sleep(POLL).await;
    }
    screenshot(b, "setup-2fa.png").await;
    let enrol_time = clock.now();
    let enrol_step = enrol_time / 30;
    fill(b, "input#code", &berth::twofactor::code_at(&secret, enrol_time)).await;
    click_on(b, "form[action='/settings/security/2fa/setup'] button[type=submit]").await;
    wait_for(b, "ol#recovery-codes").await;
    let mut codes = Vec::new();
    for item in b.find_all(Locator::Css("ol#recovery-codes li code")).await.expect("recovery codes") {
        codes.push(item.text().await.expect("recovery code text").trim().to_string());
    }
    let shape = regex::Regex::new(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$").unwrap();
    assert_eq!(codes.len(), 10, "ten recovery codes, got {codes:?}");
    codes.iter().for_each(|c| berth_test_support::audit::secret(c));
    assert!(codes.iter().all(|c| shape.is_match(c)), "recovery codes look like xxxx-xxxx-xxxx: {codes:?}");
    screenshot(b, "recovery-codes.png").await;

    // 3. Sign out.
    sign_out(b).await;

    // 4. Sign in with the password and an authenticator code. The enrolment spent its
    //    time step (replay protection), so wait for the next one.
    sign_in_with_password(b, base).await;
    screenshot(b, "login-2fa.png").await;
    while clock.now() / 30 <= enrol_step {
        sleep(Duration::from_millis(250)).await;
    }
    fill(b, "input#code", &berth::twofactor::code_at(&secret, clock.now())).await;
    click_on(b, "form[action='/login/2fa'] button[type=submit]").await;
    wait_for_path(b, "/settings/account").await;
    assert_signed_in(b).await;
    screenshot(b, "signed-in.png").await;

    // The security page now says 2FA is on.
    click_on(b, "a[href='/settings/security']").await;
    wait_for_path(b, "/settings/security").await;
    let badge = text_of(b, ".card h2 .badge").await;
    assert_eq!(badge.trim(), "On", "the security page should show two-factor authentication as on");

    // 5. Sign out, sign in with the password and a recovery code.
    sign_out(b).await;
    sign_in_with_password(b, base).await;
    fill(b, "input#code", &codes[3]).await;
    click_on(b, "form[action='/login/2fa'] button[type=submit]").await;
    wait_for_path(b, "/settings/account").await;
    assert_signed_in(b).await;
    let flash = text_of(b, ".flash").await;
    assert!(flash.to_lowercase().contains("recovery code"), "a flash should mention the recovery code, says {flash:?}");
    screenshot(b, "signed-in-recovery-code.png").await;

    // The same recovery code does not work twice.
    sign_out(b).await;
    sign_in_with_password(b, base).await;
    fill(b, "input#code", &codes[3]).await;
    click_on(b, "form[action='/login/2fa'] button[type=submit]").await;
    wait_for(b, "#code-error").await;
    assert_eq!(path(b).await, "/login/2fa", "a spent recovery code must not sign in");
}

const PRO_USER: &str = "tokenpro";
const FREE_USER: &str = "tokenfree";
const TOKEN_PREFIX: &str = "berth_pat_";

/// Waits until the text of `css` satisfies `ok` (say, after a form posts back to the same
/// path, so the path alone does not show the new page has come).
async fn wait_for_text(b: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let text = match b.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.ok(),
            Err(_) => None,
        };
        if let Some(text) = text {
            if ok(text.trim()) {
                return text.trim().to_string();
            }
            last = text;
        }
        sleep(POLL).await;
    }
    panic!("{css:?} on {} should {what}, but reads {:?}", here(b).await, last.trim());
}

/// The text of each `css` element, trimmed.
async fn texts(b: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in b.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("finding {css:?}: {e}")) {
        out.push(e.text().await.unwrap_or_else(|e| panic!("text of {css:?}: {e}")).trim().to_string());
    }
    out
}

/// The rows of `table#tokens` as cell texts.
async fn token_rows(b: &Client) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for row in b.find_all(Locator::Css("table#tokens tbody tr")).await.expect("token rows") {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.expect("token cells") {
            cells.push(cell.text().await.expect("token cell text").trim().to_string());
        }
        rows.push(cells);
    }
    rows
}

/// The HTTP status of the page now shown (Navigation Timing; Chromium 109+).
async fn response_status(b: &Client) -> i64 {
    let script = "const n = performance.getEntriesByType('navigation')[0]; return [n.responseStatus, n.redirectCount];";
    let answer = b.execute(script, vec![]).await.expect("reading the navigation entry");
    assert_eq!(answer[1], json!(0), "the page at {} came through a redirect", here(b).await);
    answer[0].as_i64().unwrap_or_else(|| panic!("no response status in {answer}"))
}

/// Chooses the option labelled `label` in `select` and checks the select's value became `value`.
async fn choose(b: &Client, select: &str, label: &str, value: &str) {
    let el = wait_for(b, select).await;
    el.select_by_label(label).await.unwrap_or_else(|e| panic!("choosing {label:?} in {select:?}: {e}"));
    let now = el.prop("value").await.expect("the select's value");
    assert_eq!(now.as_deref(), Some(value), "choosing {label:?} in {select:?} should set the value {value:?}");
}

/// From the overview: "Generate new token", fill the form, submit; returns the token from the
/// copy page (checked for shape, status 201 and the `docker login` line), which stays open.
async fn create_token(b: &Client, base: &str, username: &str, description: &str, scope: Option<(&str, &str)>, expiry: Option<(&str, &str)>, png: Option<&str>) -> String {
    goto(b, &format!("{base}/settings/tokens")).await;
    let generate = wait_for(b, "#generate-token").await;
    assert_eq!(generate.tag_name().await.expect("tag of #generate-token"), "a", "#generate-token should be a link here");
    generate.click().await.expect("clicking #generate-token");
    wait_for_path(b, "/settings/tokens/new").await;
    fill(b, "input#description", description).await;
    if let Some((label, value)) = scope {
        choose(b, "select#scope", label, value).await;
    }
    if let Some((label, value)) = expiry {
        choose(b, "select#expiration", label, value).await;
    }
    if let Some(png) = png {
        screenshot(b, png).await;
    }
    let submit = wait_for(b, "form[action='/settings/tokens'] button[type=submit]").await;
    assert_eq!(submit.text().await.expect("submit text").trim(), "Generate");
    submit.click().await.expect("clicking Generate");
    let token = text_of(b, "code#token").await.trim().to_string();
    berth_test_support::audit::secret(&token);
    assert_eq!(path(b).await, "/settings/tokens", "the copy page answers the POST to /settings/tokens");
    assert_eq!(response_status(b).await, 201, "the copy page should come with 201 Created");
    let shape = regex::Regex::new(r"^berth_pat_[0-9A-Za-z]{38}$").unwrap();
    assert!(shape.is_match(&token) && token.len() == 48, "the token should look like berth_pat_ + 38 alphanumerics, is {token:?}");
    let usage = text_of(b, "pre#usage").await;
    let login = format!("docker login -u {username} localhost:5000");
    assert!(usage.contains(&login), "the usage block should say {login:?}, says {usage:?}");
    token
}

async fn tokens_flow(b: &Client, base: &str, state: &AppState) {
    // 1. Sign up a user and make them Pro in the database.
    sign_up(b, base, PRO_USER, "tokenpro@example.com", None).await;
    let user = berth::accounts::find_by_username(&mut state.database.pool.get().unwrap(), PRO_USER).unwrap().expect("the new user in the database");
    berth::accounts::set_plan(&mut state.database.pool.get().unwrap(), user.id, berth::accounts::Plan::Pro).unwrap();

    // 2. A read-only token for 30 days; the copy page shows it once.
    goto(b, &format!("{base}/settings/tokens")).await;
    let empty = text_of(b, "#token-counts").await;
    assert_eq!(empty, "0 active · 0 inactive", "a new user has no tokens");
    let before = chrono::Utc::now().timestamp();
    let token = create_token(b, base, PRO_USER, "CI on build-01", Some(("Read-only", "repo:read")), Some(("30 days", "30")), Some("token-form.png")).await;
    let after = chrono::Utc::now().timestamp();
    let summary = text_of(b, ".card > p").await;
    assert!(summary.contains("CI on build-01") && summary.contains("Read-only") && summary.contains("expires"), "the copy page should sum the token up, says {summary:?}");
    screenshot(b, "token-copy.png").await;

    // Leave by the page's own link (a GET, not a reload, which would post again).
    click_on(b, ".card a.btn-primary[href='/settings/tokens']").await;
    wait_for_path(b, "/settings/tokens").await;
    wait_for(b, "table#tokens").await;
    let source = b.source().await.expect("page source");
    assert!(!source.contains(&token), "the overview must not show the whole token");
    let hint = format!("{TOKEN_PREFIX}{}…", &token[TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + 4]);
    let body = text_of(b, "body").await;
    assert!(!body.contains(&token), "the overview text must not contain the whole token");
    assert!(body.contains(&hint), "the overview should show the hint {hint:?}");

    // 3. The overview.
    assert_eq!(text_of(b, "#token-counts").await, "1 active · 0 inactive");
    let rows = token_rows(b).await;
    assert_eq!(rows.len(), 1, "one token row, got {rows:?}");
    let row = &rows[0];
    assert_eq!(row[1], "CI on build-01", "description column: {row:?}");
    assert_eq!(row[2], "Read-only", "scope column: {row:?}");
    assert_eq!(row[3], hint, "token column: {row:?}");
    assert_eq!(row[4], "Active", "status column: {row:?}");
    let badge = wait_for(b, "table#tokens tbody tr td .badge").await;
    assert!(badge.attr("class").await.unwrap().unwrap_or_default().contains("badge-green"), "an active token has a green badge");
    let expires_shape = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}$").unwrap();
    assert!(expires_shape.is_match(&row[7]), "the Expires column should show a date, shows {:?}", row[7]);
    let iso = wait_for(b, "table#tokens tbody tr td:nth-child(8) time").await.attr("datetime").await.unwrap().expect("a datetime on the expiry");
    let expires_at = chrono::DateTime::parse_from_rfc3339(&iso).unwrap_or_else(|e| panic!("expiry {iso:?}: {e}")).timestamp();
    assert!((before + 30 * 86_400..=after + 30 * 86_400).contains(&expires_at), "the token should expire 30 days after it was made; expires {iso}");
    screenshot(b, "token-overview.png").await;

    // 4. Deactivate it from the row's menu.
    click_on(b, "table#tokens tbody tr details.menu summary").await;
    let button = wait_for(b, "table#tokens tbody tr details.menu form button[type=submit]").await;
    assert!(button.is_displayed().await.unwrap(), "the menu should show its buttons once open");
    assert_eq!(button.text().await.unwrap().trim(), "Deactivate");
    button.click().await.expect("clicking Deactivate");
    wait_for_text(b, "#token-counts", "read 0 active · 1 inactive", |t| t == "0 active · 1 inactive").await;
    assert_eq!(path(b).await, "/settings/tokens");
    let flash = text_of(b, ".flash").await;
    assert!(flash.contains("CI on build-01") && flash.contains("deactivated"), "the flash should name the deactivated token, says {flash:?}");
    let rows = token_rows(b).await;
    assert_eq!(rows.len(), 1, "still one token, got {rows:?}");
    assert_eq!(rows[0][4], "Inactive", "the badge should say Inactive: {rows:?}");

    // 5. Two more tokens, then delete both at once.
    for description in ["laptop", "deploy bot"] {
        let t = create_token(b, base, PRO_USER, description, None, None, None).await;
        assert_ne!(t, token, "every token is new");
        let summary = text_of(b, ".card > p").await;
        assert!(summary.contains("never expires"), "no expiry chosen, yet the copy page says {summary:?}");
    }
    goto(b, &format!("{base}/settings/tokens")).await;
    assert_eq!(text_of(b, "#token-counts").await, "2 active · 1 inactive");
    let rows = token_rows(b).await;
    let descriptions: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(descriptions, ["deploy bot", "laptop", "CI on build-01"], "tokens are listed newest first");
    let boxes = b.find_all(Locator::Css("table#tokens input[name=uuid]")).await.expect("row checkboxes");
    assert_eq!(boxes.len(), 3);
    let disabled = || async { wait_for(b, "button[form=bulk]").await.prop("disabled").await.unwrap().as_deref() == Some("true") };
    assert!(disabled().await, "Delete selected waits for a selection");
    for tick in &boxes[..2] {
        tick.click().await.expect("ticking a row");
        assert_eq!(tick.prop("checked").await.unwrap().as_deref(), Some("true"), "the row should be ticked");
    }
    assert!(!disabled().await, "and works once something is ticked");
    let delete = wait_for(b, "button[form=bulk]").await;
    assert_eq!(delete.text().await.unwrap().trim(), "Delete selected");
    delete.click().await.expect("clicking Delete selected");
    wait_for(b, "ul#doomed").await;
    assert_eq!(path(b).await, "/settings/tokens/delete");
    let doomed = texts(b, "ul#doomed li").await;
    assert_eq!(doomed.len(), 2, "the confirmation should list two tokens: {doomed:?}");
    assert!(doomed[0].starts_with("deploy bot") && doomed[1].starts_with("laptop"), "the confirmation lists the ticked tokens: {doomed:?}");
    let confirm = wait_for(b, "form[action='/settings/tokens/delete'] button[type=submit]").await;
    assert_eq!(confirm.text().await.unwrap().trim(), "Delete 2 tokens");
    confirm.click().await.expect("clicking Delete 2 tokens");
    wait_for_path(b, "/settings/tokens").await;
    let flash = text_of(b, ".flash").await;
    assert_eq!(flash, "2 tokens were deleted.");
    assert_eq!(text_of(b, "#token-counts").await, "0 active · 1 inactive");
    let rows = token_rows(b).await;
    assert_eq!(rows.len(), 1, "one token left, got {rows:?}");
    assert_eq!(rows[0][1], "CI on build-01", "the unticked token is left: {rows:?}");
    screenshot(b, "token-bulk-deleted.png").await;

    // 6. A personal-plan user: only full-access tokens, and one of them.
    sign_out(b).await;
    sign_up(b, base, FREE_USER, "tokenfree@example.com", None).await;
    goto(b, &format!("{base}/settings/tokens/new")).await;
    wait_for(b, "select#scope").await;
    let options = b
        .execute("return Array.from(document.querySelectorAll('select#scope option')).map(o => [o.value, o.disabled, o.textContent.trim()]);", vec![])
        .await
        .expect("reading the scope options");
    let options = options.as_array().expect("an array of options").clone();
    assert_eq!(options.len(), 4, "four scopes: {options:?}");
    let disabled: Vec<&Value> = options.iter().filter(|o| o[1] == json!(true)).collect();
    assert_eq!(disabled.len(), 3, "three scopes are Pro-only: {options:?}");
    assert!(disabled.iter().all(|o| o[2].as_str().is_some_and(|l| l.ends_with("(Pro)"))), "Pro-only scopes say so: {options:?}");
    let enabled = options.iter().find(|o| o[1] == json!(false)).expect("one enabled scope");
    assert!(!enabled[2].as_str().unwrap().ends_with("(Pro)"), "the allowed scope is not marked Pro: {enabled:?}");
    // The same through WebDriver's attribute look-up.
    let mut marked = 0;
    for option in b.find_all(Locator::Css("select#scope option")).await.expect("scope options") {
        if option.attr("disabled").await.unwrap().is_some() {
            marked += 1;
            assert!(!option.is_enabled().await.unwrap(), "a disabled option is not enabled");
        }
    }
    assert_eq!(marked, 3, "three options carry the disabled attribute");
    let value = wait_for(b, "select#scope").await.prop("value").await.unwrap();
    assert_eq!(value.as_deref(), enabled[0].as_str(), "the allowed scope is chosen by default");

    create_token(b, base, FREE_USER, "home NAS", None, None, None).await;
    goto(b, &format!("{base}/settings/tokens")).await;
    assert_eq!(text_of(b, "#token-counts").await, "1 active · 0 inactive");
    let generate = wait_for(b, "#generate-token").await;
    assert_eq!(generate.tag_name().await.unwrap(), "span", "at the limit #generate-token is not a link");
    assert_eq!(generate.attr("aria-disabled").await.unwrap().as_deref(), Some("true"));
    assert_eq!(generate.attr("href").await.unwrap(), None);
    let reason = text_of(b, "#limit-reason").await;
    assert!(reason.contains("Your plan allows 1 access token,"), "#limit-reason should give the limit, says {reason:?}");
    assert!(reason.contains("Personal") || reason.contains("personal"), "#limit-reason should name the plan, says {reason:?}");
    screenshot(b, "token-limit.png").await;
}

/// Starts Berth (port 0, a temp data dir, the real clock), chromedriver and a headless
/// Chromium, runs `flow` with the browser, the base URL and the app state, and cleans up
/// however it ends: on failure a screenshot (`failure_png`) first, then the browser closed,
/// chromedriver and its leftovers killed and the server stopped before the panic goes on.
async fn run_in_browser<F, Fut>(chromedriver_log: &str, failure_png: &str, flow: F)
where
    F: FnOnce(Client, String, Arc<AppState>) -> Fut,
    Fut: Future<Output = ()>,
{
    use actix_web::rt::time::timeout;

    std::fs::create_dir_all(screenshot_dir()).expect("creating target/browser-screenshots");
    let data = berth_test_support::audit::tempdir();
    berth_test_support::audit::capture_logs();
    berth_test_support::audit::secret(PASSWORD);
    let profile = tempfile::tempdir().expect("temp Chromium profile");

    let mut settings = berth::config::Settings::with_data_dir(data.path());
    // SQLite in the data folder, or a fresh PostgreSQL database when the run is on PostgreSQL
    settings.database_url = berth_test_support::database::fresh(&settings.data_dir);
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    let (_, state, server) = berth::server::start(settings, Arc::new(SystemClock)).expect("starting Berth");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let base = state.public_url.clone();

    let driver = start_chromedriver(chromedriver_log).await;
    let browser = open_browser(&driver, profile.path()).await;

    // On failure: a screenshot of where it stopped, then the browser closed before panicking.
    // (fantoccini has no request timeout, so the clean-up steps get one each.)
    let run = flow(browser.clone(), base, state.clone());
    let outcome = timeout(WHOLE_TEST, AssertUnwindSafe(run).catch_unwind()).await;
    if !matches!(outcome, Ok(Ok(()))) {
        let _ = timeout(WAIT, AssertUnwindSafe(screenshot(&browser, failure_png)).catch_unwind()).await;
    }
    let _ = timeout(WAIT, browser.close()).await;
    drop(driver);
    handle.stop(false).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the browser test took longer than {WHOLE_TEST:?} (see {failure_png})"),
    }
}

#[actix_web::test]
async fn browser_signs_up_enables_2fa_and_signs_in_with_totp_and_recovery_code() {
    run_in_browser("chromedriver.log", "failure.png", |b, base, _| async move { flow(&b, &base).await }).await;
}

#[actix_web::test]
async fn browser_manages_personal_access_tokens() {
    run_in_browser("chromedriver-tokens.log", "tokens-failure.png", |b, base, state| async move { tokens_flow(&b, &base, &state).await }).await;
}

// ---------------------------------------------------------------------------------------
// Attacks from other origins, and hostile text.

const VICTIM: &str = "victim";
const VICTIM_EMAIL: &str = "victim@example.com";
/// A user agent that would run a script if a page let it become markup; `client_name` shows
/// only its first word (`<img`), the whole string sits in a `title` attribute.
const UA_IMG: &str = r#"<img src=x onerror="document.title='pwned'">"#;
/// One without spaces, so the short client name is the whole string, as visible text.
const UA_SVG: &str = "<svg/onload=document.title='pwned'>";
const HOSTILE_DESCRIPTION: &str = "<script>document.title='pwned'</script>";

/// A tiny attacker web server on another port of 127.0.0.1: answers GET `path` with the page
/// in `pages` (404 otherwise) and remembers each request line. Stops when dropped.
struct Attacker {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Attacker {
    /// `pages` gets the attacker's port (its pages may link to themselves).
    fn start(pages: impl FnOnce(u16) -> HashMap<String, String>) -> Attacker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the attacker's port");
        let port = listener.local_addr().unwrap().port();
        let pages = pages(port);
        listener.set_nonblocking(true).expect("a non-blocking attacker listener");
        let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let (stop2, seen2, pages) = (stop.clone(), seen.clone(), Arc::new(pages));
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, pages) = (seen2.clone(), pages.clone());
                        // One thread each: Chromium opens spare connections it may never use.
                        std::thread::spawn(move || Attacker::answer(stream, &pages, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Attacker { port, stop, seen }
    }

    fn answer(mut stream: TcpStream, pages: &HashMap<String, String>, seen: &Mutex<Vec<String>>) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let request = String::from_utf8_lossy(&request);
        let Some(line) = request.lines().next().filter(|l| !l.is_empty()) else { return };
        seen.lock().unwrap().push(line.to_string());
        let path = line.split_whitespace().nth(1).unwrap_or("/");
        let (status, body) = match pages.get(path) {
            Some(page) => ("200 OK", page.as_str()),
            None => ("404 Not Found", "not here"),
        };
        let answer =
            format!("HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = stream.write_all(answer.as_bytes());
    }

    fn saw(&self, path: &str) -> bool {
        let want = format!("GET {path} ");
        self.seen.lock().unwrap().iter().any(|l| l.starts_with(&want))
    }
}

/// An attacker page whose form posts itself to `action` as soon as it loads.
fn auto_post_page(action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields.iter().map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{v}">"#)).collect();
    format!(
        r#"<!doctype html><title>You won a prize</title><p>Loading your prize…</p><form id="f" method="post" action="{action}">{inputs}</form><script>document.getElementById('f').submit()</script>"#
    )
}

/// Waits until the browser shows exactly `want` (origin and path, no query).
async fn wait_for_url(b: &Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = here(b).await;
        if now == want {
            return;
        }
        if Instant::now() >= deadline {
            let text = match b.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_else(|e| e.to_string()),
                Err(e) => e.to_string(),
            };
            panic!("expected the browser at {want}, it is at {now}; page text:\n{text}");
        }
        sleep(POLL).await;
    }
}

/// Opens the attacker page `attack` (which posts to Berth's `target`), checks the attacker
/// served it, and that the post landed on Berth's 403 page; returns that page's message.
async fn attack_is_refused(b: &Client, base: &str, attacker: &Attacker, attack: &str, target: &str) -> String {
    goto(b, attack).await;
    let path = url::Url::parse(attack).unwrap().path().to_string();
    wait_for_url(b, &format!("{base}{target}")).await;
    assert!(attacker.saw(&path), "the attacker server never served {path}, so the browser did not run the attack");
    let h1 = wait_for_text(b, "main h1", "be a 403 heading", |t| t.starts_with("403")).await;
    assert_eq!(response_status(b).await, 403, "Berth should answer the forged post from {attack} with 403 ({h1})");
    let message = text_of(b, "main p.lead").await;
    assert!(
        message.contains("sent from another site") || message.contains("expired or was not sent by Berth"),
        "the 403 page should say why the form was refused, says {message:?}"
    );
    message
}

/// The victim is still signed in, in the browser, with the original email (also in the database).
async fn assert_victim_unharmed(b: &Client, base: &str, state: &AppState, after: &str) {
    goto(b, &format!("{base}/settings/account")).await;
    wait_for_path(b, "/settings/account").await;
    let who = text_of(b, ".topbar .whoami").await;
    assert!(who.contains(VICTIM), "after {after} the victim should still be signed in; the top bar says {who:?}");
    let facts = text_of(b, "dl.facts").await;
    assert!(facts.contains(VICTIM_EMAIL) && !facts.contains("evil@"), "after {after} the email should be unchanged: {facts:?}");
    let user = berth::accounts::find_by_username(&mut state.database.pool.get().unwrap(), VICTIM).unwrap().expect("the victim in the database");
    assert_eq!(user.email, VICTIM_EMAIL, "after {after} the stored email should be unchanged");
}

/// Signs `username` in over plain HTTP with the given User-Agent (CSRF token from the form,
/// cookies kept), so the session and the activity row carry that User-Agent.
async fn sign_in_over_http(base: &str, username: &str, user_agent: &str) {
    let http = reqwest::Client::builder().cookie_store(true).user_agent(user_agent).build().expect("an HTTP client");
    let form = http.get(format!("{base}/login")).send().await.expect("GET /login").text().await.expect("the login page");
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap().captures(&form).expect("a CSRF token on the login form")[1].to_string();
    let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("csrf", &csrf).append_pair("login", username).append_pair("password", PASSWORD).finish();
    let res = http.post(format!("{base}/login")).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.expect("POST /login");
    assert_eq!(res.url().path(), "/settings/account", "signing in over HTTP as {username} should end on the account page");
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(username), "the account page over HTTP should name {username}");
}

/// On the page now shown: no hostile text became markup, nothing ran, and `must_show` is in
/// the visible text. Watches `document.title` for a second (an `onerror` fires late).
async fn assert_text_not_markup(b: &Client, must_show: &[&str]) {
    let script = r#"
        return {
            title: document.title,
            text: document.body.innerText,
            handlers: document.querySelectorAll('[onerror], [onload]').length,
            imgs: Array.from(document.images).map(i => i.getAttribute('src')),
            svgs: document.querySelectorAll('svg').length,
            hostileScripts: Array.from(document.scripts).filter(s => s.textContent.includes('pwned')).length,
        };"#;
    let page = b.execute(script, vec![]).await.expect("inspecting the page");
    let at = here(b).await;
    let text = page["text"].as_str().unwrap_or_default();
    for literal in must_show {
        assert!(text.contains(literal), "{at} should show {literal:?} as text; its text is:\n{text}");
    }
    assert_eq!(page["handlers"], json!(0), "{at}: an element got an onerror/onload attribute from hostile text");
    assert!(page["imgs"].as_array().unwrap().iter().all(|s| s != "x"), "{at}: hostile text became an <img src=x>: {}", page["imgs"]);
    assert_eq!(page["svgs"], json!(0), "{at}: hostile text became an <svg>");
    assert_eq!(page["hostileScripts"], json!(0), "{at}: hostile text became a <script> element");
    let title = page["title"].as_str().unwrap_or_default().to_string();
    assert!(title.ends_with("· Berth"), "{at}: unexpected title {title:?}");
    for _ in 0..5 {
        sleep(Duration::from_millis(200)).await;
        let now = b.title().await.expect("the page title");
        assert_eq!(now, title, "{at}: the title changed (to {now:?}): a hostile script ran");
        assert_ne!(now, "pwned");
    }
}

async fn attacks_flow(b: &Client, base: &str, state: &AppState) {
    // The victim signs up in the browser and stays signed in.
    sign_up(b, base, VICTIM, VICTIM_EMAIL, None).await;

    let logout = format!("{base}/logout");
    let email = format!("{base}/settings/account/email");
    let attacker = Attacker::start(|port| {
        let control = format!("http://localhost:{port}/control");
        let pages = [
            ("/logout-guess", auto_post_page(&logout, &[("csrf", "guess")])),
            ("/logout-bare", auto_post_page(&logout, &[])),
            ("/email-guess", auto_post_page(&email, &[("csrf", "guess"), ("email", "evil@example.com"), ("current_password", "x")])),
            // Even an attacker who knows the password: only the CSRF defence stands in the way.
            ("/email-known-password", auto_post_page(&email, &[("email", "evil@example.com"), ("current_password", PASSWORD)])),
            // Berth's account page in a frame, and a control frame from another origin
            // (localhost) of this server: reading the control frame shows cross-origin frames
            // can be read through WebDriver at all.
            (
                "/frame",
                format!(
                    r#"<!doctype html><title>framing</title><script>window.loaded = [];</script>
<iframe id="x" src="{base}/settings/account" width="900" height="400" onload="window.loaded.push('x')"></iframe>
<iframe id="control" src="{control}" width="300" height="100" onload="window.loaded.push('control')"></iframe>"#
                ),
            ),
            ("/control", r#"<!doctype html><title>control</title><p id="control-text">attacker control frame</p>"#.to_string()),
        ];
        pages.into_iter().map(|(path, page)| (path.to_string(), page)).collect()
    });
    let same_site = format!("http://127.0.0.1:{}", attacker.port);
    let cross_site = format!("http://localhost:{}", attacker.port);

    // 1. CSRF. From 127.0.0.1:OTHER (same site as Berth, so the Lax session cookie goes
    //    along) and from localhost:OTHER (another site).
    let attempts = [
        (format!("{same_site}/logout-guess"), "/logout"),
        (format!("{same_site}/logout-bare"), "/logout"),
        (format!("{same_site}/email-guess"), "/settings/account/email"),
        (format!("{same_site}/email-known-password"), "/settings/account/email"),
        (format!("{cross_site}/logout-bare"), "/logout"),
        (format!("{cross_site}/email-known-password"), "/settings/account/email"),
    ];
    for (i, (attack, target)) in attempts.iter().enumerate() {
        let message = attack_is_refused(b, base, &attacker, attack, target).await;
        eprintln!("CSRF {attack} -> {target}: 403, {message:?}");
        if i == 0 {
            screenshot(b, "csrf-refused.png").await;
        }
        assert_victim_unharmed(b, base, state, &format!("the forged post from {attack}")).await;
    }

    // 2. Framing: an attacker page frames Berth's account page (same site, so the cookie
    //    would go along) next to a control frame of its own.
    goto(b, &format!("{same_site}/frame")).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let loaded = b.execute("return window.loaded.slice().sort();", vec![]).await.expect("reading the frame load events");
        if loaded == json!(["control", "x"]) {
            break;
        }
        assert!(Instant::now() < deadline, "both frames should fire load, fired {loaded}");
        sleep(POLL).await;
    }
    assert!(attacker.saw("/control"), "the control frame was never requested");
    sleep(Duration::from_millis(500)).await;
    screenshot(b, "framing-refused.png").await;
    let inside = "return [location.href, document.body ? document.body.innerText : '', !!document.querySelector('.topbar .whoami'), !!document.querySelector('dl.facts')];";
    wait_for(b, "iframe#control").await.enter_frame().await.expect("entering the control frame");
    let control = b.execute(inside, vec![]).await.expect("reading the control frame");
    b.enter_parent_frame().await.expect("back to the attacker page");
    assert_eq!(control[0], json!(format!("{cross_site}/control")), "the control frame: {control}");
    assert!(control[1].as_str().unwrap_or_default().contains("attacker control frame"), "the control frame should be readable: {control}");
    wait_for(b, "iframe#x").await.enter_frame().await.expect("entering Berth's frame");
    let framed = b.execute(inside, vec![]).await.expect("reading Berth's frame");
    b.enter_parent_frame().await.expect("back to the attacker page");
    eprintln!("framed Berth page: {framed}");
    let framed_text = framed[1].as_str().unwrap_or_default();
    // Chromium puts its own error page in a frame it refused to render.
    assert_eq!(framed[0], json!("chrome-error://chromewebdata/"), "the frame should hold Chromium's error page, not Berth's: {framed}");
    assert_eq!(framed[2], json!(false), "Berth's top bar rendered inside the attacker's frame: {framed}");
    assert_eq!(framed[3], json!(false), "Berth's account facts rendered inside the attacker's frame: {framed}");
    assert!(!framed_text.contains(VICTIM) && !framed_text.contains(VICTIM_EMAIL), "the victim's details showed inside the attacker's frame: {framed}");
    assert_victim_unharmed(b, base, state, "the framing page").await;

    // 3. Hostile text: two sessions with hostile User-Agents, and a token with a hostile
    //    description made through the form.
    sign_in_over_http(base, VICTIM, UA_IMG).await;
    sign_in_over_http(base, VICTIM, UA_SVG).await;
    let token = create_token(b, base, VICTIM, HOSTILE_DESCRIPTION, None, None, None).await;
    assert_text_not_markup(b, &[HOSTILE_DESCRIPTION]).await;
    // the token's last use, from a client with a hostile User-Agent (the overview shows it)
    let used = reqwest::Client::builder().user_agent(UA_SVG).build().unwrap();
    let res = used.get(format!("{base}/token?service=registry.local&scope=repository:{VICTIM}/app:pull")).basic_auth(VICTIM, Some(&token)).send().await.unwrap();
    assert_eq!(res.status(), 200, "the token works at /token");

    goto(b, &format!("{base}/settings/sessions")).await;
    wait_for(b, "table#sessions").await;
    assert_text_not_markup(b, &[UA_SVG, "<img"]).await;
    let spans = b
        .execute("return Array.from(document.querySelectorAll('#sessions td span[title]')).map(s => [s.getAttribute('title'), s.textContent]);", vec![])
        .await
        .expect("reading the session clients");
    let spans = spans.as_array().unwrap();
    assert!(spans.contains(&json!([UA_IMG, "<img"])), "the <img user agent should be a title attribute and the text \"<img\": {spans:?}");
    assert!(spans.contains(&json!([UA_SVG, UA_SVG])), "the <svg user agent should be shown as text: {spans:?}");

    goto(b, &format!("{base}/settings/activity")).await;
    wait_for(b, "table#activity").await;
    assert_text_not_markup(b, &[UA_SVG, "<img", HOSTILE_DESCRIPTION]).await;
    let spans = b
        .execute("return Array.from(document.querySelectorAll('#activity td span[title]')).map(s => s.getAttribute('title'));", vec![])
        .await
        .expect("reading the activity clients");
    let spans = spans.as_array().unwrap();
    assert!(spans.contains(&json!(UA_IMG)) && spans.contains(&json!(UA_SVG)), "both hostile user agents should be title attributes: {spans:?}");
    screenshot(b, "xss-as-text.png").await;

    goto(b, &format!("{base}/settings/tokens")).await;
    wait_for(b, "table#tokens").await;
    assert_text_not_markup(b, &[HOSTILE_DESCRIPTION]).await;
    let rows = token_rows(b).await;
    assert_eq!(rows.len(), 1, "one token: {rows:?}");
    assert_eq!(rows[0][1], HOSTILE_DESCRIPTION, "the description column should show the text as typed: {rows:?}");
    let last_use = b.execute("return document.querySelector('table#tokens tbody').innerHTML;", vec![]).await.expect("reading the token rows");
    assert!(last_use.as_str().unwrap_or_default().contains("&lt;svg/onload"), "the last use names the hostile client, escaped: {last_use}");

    // 4. Rejected input is echoed back as text: a repository name...
    goto(b, &format!("{base}/repositories")).await;
    fill(b, "input#path", UA_IMG).await;
    click_on(b, "form[action='/repositories'] button[type=submit]").await;
    wait_for(b, "#path-error").await; // the answer to the post, not the form as typed
    assert_text_not_markup(b, &[]).await;
    let echoed = b.execute("return document.querySelector('input#path').value;", vec![]).await.expect("reading the echoed name");
    assert_eq!(echoed, json!(UA_IMG), "the rejected name comes back as the field's value");
    screenshot(b, "xss-repository-echo.png").await;

    // ...and a sign-up, signed out
    click_on(b, "form[action='/logout'] button[type=submit]").await;
    wait_for_path(b, "/login").await;
    goto(b, &format!("{base}/signup")).await;
    // (the field takes at most 30 characters, and the browser checks the email's shape)
    const HOSTILE_NAME: &str = "<svg/onload=alert(1)>";
    fill(b, "input#username", HOSTILE_NAME).await;
    fill(b, "input#email", "second@example.com").await;
    fill(b, "input#password", PASSWORD).await;
    click_on(b, "form[action='/signup'] button[type=submit]").await;
    wait_for(b, "#username-error").await;
    assert_text_not_markup(b, &[]).await;
    let echoed = b.execute("return document.querySelector('input#username').value;", vec![]).await.expect("reading the echoed sign-up");
    assert_eq!(echoed, json!(HOSTILE_NAME), "the rejected sign-up comes back as the field's value");
    screenshot(b, "xss-signup-echo.png").await;
}

#[actix_web::test]
async fn browser_attacks_from_other_origins_fail_and_hostile_text_stays_text() {
    run_in_browser("chromedriver-attacks.log", "attacks-failure.png", |b, base, state| async move { attacks_flow(&b, &base, &state).await }).await;
}
