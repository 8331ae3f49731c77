//! End to end in headless Chromium: sign up, turn on two-factor authentication by reading
//! the secret off the set-up page (as a phone would), sign out, sign in with an
//! authenticator code, then with a recovery code. A second test drives the personal access
//! token pages: create (scope, expiry), the copy-once page, the overview, deactivate, bulk
//! delete behind a confirmation, and the limits of the personal plan.
//!
//! Chromium is driven with fantoccini through chromedriver, which the test starts itself on
//! a free port. fantoccini is built without TLS (chromedriver is on loopback), so it connects
//! with hyper-util's plain `HttpConnector`. Screenshots land in `target/browser-screenshots/`.

use std::future::Future;
use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::clock::{Clock, SystemClock};
use berth::server::AppState;
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
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"))
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
    assert!(
        secret.len() >= 26 && secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
        "the set-up page should show a base32 secret, shows {secret:?}"
    );
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
    let user = berth::accounts::find_by_username(&mut state.pool.get().unwrap(), PRO_USER).unwrap().expect("the new user in the database");
    berth::accounts::set_plan(&mut state.pool.get().unwrap(), user.id, berth::accounts::Plan::Pro).unwrap();

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
    assert!(
        (before + 30 * 86_400..=after + 30 * 86_400).contains(&expires_at),
        "the token should expire 30 days after it was made; expires {iso}"
    );
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
    for tick in &boxes[..2] {
        tick.click().await.expect("ticking a row");
        assert_eq!(tick.prop("checked").await.unwrap().as_deref(), Some("true"), "the row should be ticked");
    }
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
    let data = tempfile::tempdir().expect("temp data dir");
    let profile = tempfile::tempdir().expect("temp Chromium profile");

    let mut settings = berth::config::Settings::with_data_dir(data.path());
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
    run_in_browser("chromedriver-tokens.log", "tokens-failure.png", |b, base, state| async move {
        tokens_flow(&b, &base, &state).await
    })
    .await;
}
