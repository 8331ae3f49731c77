//! End to end in headless Chromium: sign up, turn on two-factor authentication by reading
//! the secret off the set-up page (as a phone would), sign out, sign in with an
//! authenticator code, then with a recovery code.
//!
//! Chromium is driven with fantoccini through chromedriver, which the test starts itself on
//! a free port. fantoccini is built without TLS (chromedriver is on loopback), so it connects
//! with hyper-util's plain `HttpConnector`. Screenshots land in `target/browser-screenshots/`.

use std::net::{TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
async fn start_chromedriver() -> Chromedriver {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the browser test needs Chromium and chromedriver \
             (run scripts/test.sh, or apt-get install chromium chromium-driver)"
        );
    }
    let log = screenshot_dir().join("chromedriver.log");
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
    goto(b, &format!("{base}/signup")).await;
    fill(b, "input#username", USERNAME).await;
    fill(b, "input#email", EMAIL).await;
    fill(b, "input#password", PASSWORD).await;
    screenshot(b, "signup.png").await;
    click_on(b, "form[action='/signup'] button[type=submit]").await;
    wait_for_path(b, "/settings/security").await;

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

#[actix_web::test]
async fn browser_signs_up_enables_2fa_and_signs_in_with_totp_and_recovery_code() {
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

    let driver = start_chromedriver().await;
    let browser = open_browser(&driver, profile.path()).await;

    // On failure: a screenshot of where it stopped, then the browser closed before panicking.
    // (fantoccini has no request timeout, so the clean-up steps get one each.)
    let outcome = timeout(WHOLE_TEST, AssertUnwindSafe(flow(&browser, &base)).catch_unwind()).await;
    if !matches!(outcome, Ok(Ok(()))) {
        let _ = timeout(WAIT, AssertUnwindSafe(screenshot(&browser, "failure.png")).catch_unwind()).await;
    }
    let _ = timeout(WAIT, browser.close()).await;
    drop(driver);
    handle.stop(false).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the browser test took longer than {WHOLE_TEST:?} (see failure.png)"),
    }
}
