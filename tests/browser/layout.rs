//! Layout in headless Chromium: every page, signed out and signed in with a full account
//! (25 tokens of mixed scopes and states, two sessions, activity, three repositories), at a
//! desktop, a small-laptop and a phone width. No page may need sideways scrolling, no
//! scrolling box may hold more than it shows (a `<pre>` code block excepted), and nothing
//! may stick out of the viewport. On the token overview every row's menu must be reachable
//! without scrolling and open on top of the page rather than inside a clipped table, with
//! JavaScript (Escape, a click elsewhere) and without it (a second Chromium, scripts off).
//! Full-page screenshots land in `target/browser-screenshots/layout-<width>-<page>.png`, with
//! `-first-screen` ones of the part a page shows before scrolling where it is taller.

use super::*;

use fantoccini::key::Key;

/// As long as a username may be (30), so it shows in the top bar, namespaces and repository names.
const LAYOUT_USER: &str = "layoutuserwithalongnamefortest";
/// (width, height) of the viewport: desktop, small laptop, phone.
pub(super) const VIEWPORTS: [(u32, u32); 3] = [(1280, 900), (1024, 768), (390, 844)];

/// Makes the viewport (not the window) `width` × `height`: headless Chromium may reserve
/// some of the window for itself, so measure and correct once.
pub(super) async fn set_viewport(b: &Client, width: u32, height: u32) {
    b.set_window_size(width, height).await.expect("resizing the window");
    let inner = b.execute("return [window.innerWidth, window.innerHeight];", vec![]).await.expect("reading the viewport");
    let (w, h) = (inner[0].as_u64().unwrap() as u32, inner[1].as_u64().unwrap() as u32);
    if (w, h) != (width, height) {
        b.set_window_size(width + width.saturating_sub(w), height + height.saturating_sub(h)).await.expect("resizing the window again");
    }
    let inner = b.execute("return window.innerWidth;", vec![]).await.expect("reading the viewport");
    assert_eq!(inner, json!(width), "the viewport should be {width} px wide");
}

/// A screenshot of the whole page: the window grows to the page's height for the shot.
pub(super) async fn full_page_screenshot(b: &Client, width: u32, height: u32, name: &str) {
    let tall = b.execute("return Math.ceil(document.documentElement.scrollHeight);", vec![]).await.expect("reading the page height");
    let tall = (tall.as_u64().unwrap_or(u64::from(height)) as u32).clamp(height, 8000);
    if tall > height {
        // the first screen too: what a phone shows before any scrolling
        screenshot(b, &format!("layout-{width}-{name}-first-screen.png")).await;
    }
    set_viewport(b, width, tall).await;
    screenshot(b, &format!("layout-{width}-{name}.png")).await;
    set_viewport(b, width, height).await;
}

/// What is wrong with the page's width, as sentences naming the elements: the document wider
/// than the viewport, a scrolling box holding more than it shows (except `<pre>`), or a
/// visible element sticking out of the viewport (except inside a `<pre>`).
const OVERFLOWS: &str = r#"
    const vw = window.innerWidth;
    const name = (el) => {
        let s = el.tagName.toLowerCase();
        if (el.id) s += '#' + el.id;
        if (el.classList.length) s += '.' + Array.from(el.classList).join('.');
        const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
        return text ? `${s} ("${text}")` : s;
    };
    const problems = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > vw) problems.push(`the page is ${doc.scrollWidth} px wide in a ${vw} px viewport`);
    for (const el of document.body.querySelectorAll('*')) {
        // (what is not drawn, such as a closed menu's list, cannot stick out)
        if (el.closest('pre') || !el.checkVisibility({visibilityProperty: true})) continue;
        const style = getComputedStyle(el);
        if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth) {
            problems.push(`${name(el)} scrolls sideways: ${el.scrollWidth} px in ${el.clientWidth} px`);
        }
        const r = el.getBoundingClientRect();
        // (a 1 px box is visually hidden text for screen readers)
        if (r.width > 1 && r.height > 1 && style.visibility !== 'hidden' && (r.right > vw + 0.5 || r.left < -0.5)) {
            problems.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} px of a ${vw} px viewport`);
        }
    }
    return problems.slice(0, 15);
"#;

/// The page's width problems as one report (empty if it fits).
pub(super) async fn misfits(b: &Client, width: u32, page: &str) -> Option<String> {
    let problems = b.execute(OVERFLOWS, vec![]).await.expect("measuring the page");
    let problems: Vec<&str> = problems.as_array().expect("a list").iter().filter_map(Value::as_str).collect();
    (!problems.is_empty()).then(|| format!("{page} at {width} px needs sideways scrolling:\n  {}", problems.join("\n  ")))
}

/// Every token row's menu button lies inside the viewport, without scrolling sideways.
async fn assert_row_actions_visible(b: &Client, width: u32) {
    let script = r#"
        return Array.from(document.querySelectorAll('table#tokens tbody tr')).map((tr) => {
            const s = tr.querySelector('details.menu > summary').getBoundingClientRect();
            return [tr.querySelector('.description').textContent.trim(), Math.round(s.left), Math.round(s.right), s.width > 0 && s.height > 0];
        });"#;
    let rows = b.execute(script, vec![]).await.expect("measuring the row menus");
    let rows = rows.as_array().expect("a list of rows");
    assert_eq!(rows.len(), 25, "25 token rows on the first page");
    for row in rows {
        let (left, right) = (row[1].as_i64().unwrap(), row[2].as_i64().unwrap());
        assert!(row[3] == json!(true) && left >= 0 && right <= i64::from(width), "at {width} px the actions of {} lie at {left}..{right} px, outside the viewport", row[0]);
    }
}

/// Opens row `index`'s menu with a real click and checks it lies on top of the page, wholly in
/// the viewport, every item of it clickable where it is drawn.
async fn open_menu(b: &Client, index: usize, width: u32) {
    let summary = format!("table#tokens tbody tr:nth-child({}) details.menu > summary", index + 1);
    b.execute("document.querySelector(arguments[0]).scrollIntoView({block: 'center'});", vec![json!(summary)]).await.expect("scrolling to the row");
    click_on(b, &summary).await;
    let script = r#"
        const details = document.querySelector(arguments[0]).parentElement;
        const menu = details.querySelector('ul');
        if (!details.open) return 'the menu did not open';
        menu.scrollIntoView({block: 'nearest'});
        const r = menu.getBoundingClientRect();
        if (r.width < 1 || r.height < 1) return 'the open menu has no size';
        if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) {
            return `the open menu lies at ${Math.round(r.left)},${Math.round(r.top)}..${Math.round(r.right)},${Math.round(r.bottom)} outside the ${innerWidth}x${innerHeight} viewport`;
        }
        for (const item of menu.querySelectorAll('a, button')) {
            const i = item.getBoundingClientRect();
            const hit = document.elementFromPoint(i.left + i.width / 2, i.top + i.height / 2);
            if (!hit || !item.contains(hit)) return `${item.textContent.trim()} is covered by ${hit ? hit.outerHTML.slice(0, 80) : 'nothing'}`;
        }
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        if (!hit || !menu.contains(hit)) return `the menu's centre shows ${hit ? hit.outerHTML.slice(0, 80) : 'nothing'}`;
        return 'ok';"#;
    let verdict = b.execute(script, vec![json!(summary)]).await.expect("measuring the open menu");
    assert_eq!(verdict, json!("ok"), "row {}'s menu at {width} px", index + 1);
}

async fn menu_open(b: &Client, index: usize) -> bool {
    let script = "return document.querySelector(arguments[0]).open;";
    b.execute(script, vec![json!(format!("table#tokens tbody tr:nth-child({}) details.menu", index + 1))]).await.expect("reading the menu state") == json!(true)
}

/// The overview's row menus: reachable, on top, closed by Escape and by a click elsewhere.
async fn check_token_menus(b: &Client, width: u32, height: u32) {
    if width >= 1280 {
        let display = b.execute("return getComputedStyle(document.querySelector('table#tokens')).display;", vec![]).await.unwrap();
        assert_eq!(display, json!("table"), "at {width} px the tokens should be a table, not cards");
    }
    assert_row_actions_visible(b, width).await;
    open_menu(b, 0, width).await;
    screenshot(b, &format!("layout-{width}-token-menu-first.png")).await;
    b.active_element().await.expect("the focused element").send_keys(&Key::Escape.to_string()).await.expect("pressing Escape");
    assert!(!menu_open(b, 0).await, "Escape should close the menu at {width} px");
    let focused = b.execute("return document.activeElement.matches('table#tokens tbody tr:nth-child(1) summary');", vec![]).await.unwrap();
    assert_eq!(focused, json!(true), "closing with Escape should leave the focus on the menu's button");

    // The last row: its menu must not be cut off by the bottom of the table.
    open_menu(b, 24, width).await;
    screenshot(b, &format!("layout-{width}-token-menu-last.png")).await;
    // Opening another menu closes this one; a click elsewhere closes that one.
    open_menu(b, 23, width).await;
    assert!(!menu_open(b, 24).await, "opening a menu should close the other at {width} px");
    click_on(b, "h1.page-title").await;
    assert!(!menu_open(b, 23).await, "a click outside should close the menu at {width} px");
    b.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    set_viewport(b, width, height).await;
}

/// The account the pages show: Business plan, 25 tokens (every scope; active, inactive and
/// expired; long and short descriptions), a second session, activity and three repositories.
/// A tag as long as a build system makes them.
const LAYOUT_TAG: &str = "v2026.12.03-build.4711-linux-amd64-settlement-reconciliation-service-nightly";

async fn fill_account(base: &str, state: &AppState) -> (String, String) {
    let mut conn = state.database.pool.get().unwrap();
    let user = berth::accounts::find_by_username(&mut conn, LAYOUT_USER).unwrap().expect("the new user in the database");
    berth::accounts::set_plan(&mut conn, user.id, berth::accounts::Plan::Business).unwrap();
    let now = chrono::Utc::now().timestamp();
    let client = berth::activity::Client {
        ip: "203.0.113.77".into(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
    };
    let scopes = [berth::tokens::Scope::Admin, berth::tokens::Scope::Write, berth::tokens::Scope::Read, berth::tokens::Scope::PublicRead];
    let mut uuids = Vec::new();
    for i in 0..25_i64 {
        let description = match i % 5 {
            0 => format!("CI runner {i} on build-farm-eu-west-1.internal.example.com for the nightly release pipeline of everything"),
            1 => format!("laptop {i}"),
            2 => format!("deploy bot {i}"),
            3 => format!("Supercalifragilisticexpialidociousunbreakablewordwithoutanyspaces{i}"),
            _ => format!("home NAS {i}"),
        };
        // Every fifth token expired yesterday (made ten days ago); others expire in 30 days or never.
        let (made, expires_at) = match i % 5 {
            4 => (now - 10 * 86_400, Some(now - 86_400)),
            0 | 2 => (now - i * 3_600, Some(now + 30 * 86_400)),
            _ => (now - i * 60, None),
        };
        let new = berth::tokens::NewToken { description: description.chars().take(100).collect(), scope: scopes[(i % 4) as usize], expires_at };
        let (token, _) = berth::tokens::create(&mut conn, user.id, new, &client, made).expect("creating a token");
        if i % 5 == 1 {
            berth::tokens::update(&mut conn, user.id, &token.uuid, None, Some(false), &client, now).expect("deactivating a token");
        }
        uuids.push(token.uuid);
    }
    for (i, event) in [berth::activity::Event::SignInFailed, berth::activity::Event::PasswordChanged, berth::activity::Event::EmailChanged].iter().cycle().take(10).enumerate() {
        let from = berth::activity::Client {
            ip: format!("2001:db8:85a3::8a2e:370:{i}"),
            user_agent: format!("docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.1.0-{i}-amd64 os/linux arch/amd64"),
        };
        berth::activity::record(&mut conn, user.id, *event, "", &from, now - 60 * i as i64).expect("recording activity");
    }
    let home = berth::owners::of_user(&mut conn, user.id).unwrap();
    for (path, public) in
        [("app", false), ("tools/ci-runner-images/debian-bookworm-slim-with-build-essentials", true), ("platform/payments/settlement-reconciliation-service", false)]
    {
        berth::repositories::create(&mut conn, &home, path, public, now).expect("creating a repository");
    }
    // two long tags on one digest: the tag table with its Delete, and the tag delete's
    // confirmation listing both
    let name = format!("{LAYOUT_USER}/platform/payments/settlement-reconciliation-service");
    let id = berth::repositories::tags::repository_id(&mut conn, &name).unwrap().unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    for tag in [LAYOUT_TAG, "release-candidate-2026.12.03-with-the-settlement-fixes"] {
        let pushed = berth::repositories::tags::Pushed {
            digest: &digest,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            manifest_size: 1200,
            tag: Some(tag),
            pushed_by: Some(LAYOUT_USER),
        };
        berth::repositories::tags::record_push(&mut conn, id, pushed, now).expect("recording a tag");
    }
    drop(conn);
    sign_in_over_http(base, LAYOUT_USER, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
        .await;
    // the 26th newest is not on the first page; the newest active one is
    (uuids[23].clone(), format!("{LAYOUT_USER}/platform/payments/settlement-reconciliation-service"))
}

/// An organization of the layout user's, as long a name as may be, with long repository
/// names and three access tokens (long labels and descriptions, one deactivated, one used):
/// its access-token pages. Returns (its name, a token's id).
fn fill_organization(state: &AppState) -> (String, String) {
    use berth::org_tokens::{NewOrgToken, Requested, Resources};
    let mut conn = state.database.pool.get().unwrap();
    let user = berth::accounts::find_by_username(&mut conn, LAYOUT_USER).unwrap().expect("the layout user");
    let now = chrono::Utc::now().timestamp();
    let name = "layoutorganizationwithalongnam";
    let org = berth::orgs::create(&mut conn, name, &user, berth::accounts::Plan::Business, &berth::orgs::Actor::cli(), now).expect("creating the organization");
    let paths = ["app", "tools/ci-runner-images/debian-bookworm-slim-with-build-essentials", "platform/payments/settlement-reconciliation-service"];
    for path in paths {
        berth::repositories::create(&mut conn, &org, path, false, now).expect("creating a repository");
    }
    let mut last = String::new();
    for i in 0..3 {
        let requested: Vec<Requested> = paths
            .iter()
            .take(i + 1)
            .map(|p| Requested { kind: "TYPE_REPO".into(), path: format!("{name}/{p}"), scopes: vec!["scope-image-push".into()] })
            .chain([Requested { kind: "TYPE_REPO".into(), path: "*/*/public".into(), scopes: vec!["scope-image-pull".into()] }])
            .collect();
        let new = NewOrgToken {
            label: format!("Supercalifragilisticexpialidociousunbreakablewordwithoutanyspaces{i}"),
            description: "Deploys the settlement reconciliation service from the nightly release pipeline of build-farm-eu-west-1.internal.example.com".into(),
            resources: Resources::parse(name, &requested).unwrap(),
            expires_at: (i == 1).then_some(now + 30 * 86_400),
        };
        let (token, _) = berth::org_tokens::create(&mut conn, org.id, &user, new, &berth::orgs::Actor::cli(), now - 3_600).expect("creating an organization token");
        if i == 2 {
            let change = berth::org_tokens::Change { active: Some(false), ..Default::default() };
            berth::org_tokens::update(&mut conn, org.id, user.id, &token.uuid, change, &berth::orgs::Actor::cli(), now).unwrap();
        }
        last = token.uuid;
    }
    (name.to_string(), last)
}

async fn layout_flow(b: &Client, base: &str, state: &AppState) {
    // Every page is measured and photographed before any failure is reported.
    let mut failures = Vec::new();
    // Signed out.
    for (width, height) in VIEWPORTS {
        set_viewport(b, width, height).await;
        for (name, page) in [("login", "/login"), ("signup", "/signup")] {
            goto(b, &format!("{base}{page}")).await;
            wait_for(b, "main h1").await;
            failures.extend(misfits(b, width, page).await);
            full_page_screenshot(b, width, height, name).await;
        }
    }

    set_viewport(b, VIEWPORTS[0].0, VIEWPORTS[0].1).await;
    sign_up(b, base, LAYOUT_USER, "layoutuser@example.com", None).await;
    let (token, repository) = fill_account(base, state).await;
    let (org, org_token) = fill_organization(state);
    // Two-factor set-up, started but not finished: its page has the longest button.
    goto(b, &format!("{base}/settings/security/2fa/enable")).await;
    fill(b, "input#password", PASSWORD).await;
    click_on(b, "form[action='/settings/security/2fa/enable'] button[type=submit]").await;
    wait_for_path(b, "/settings/security/2fa/setup").await;

    let pages = [
        ("home", "/".to_string()),
        ("account", "/settings/account".to_string()),
        ("security", "/settings/security".to_string()),
        ("setup-2fa", "/settings/security/2fa/setup".to_string()),
        ("sessions", "/settings/sessions".to_string()),
        ("activity", "/settings/activity".to_string()),
        ("tokens", "/settings/tokens".to_string()),
        ("token-new", "/settings/tokens/new".to_string()),
        ("token-edit", format!("/settings/tokens/{token}/edit")),
        ("token-delete", format!("/settings/tokens/{token}/delete")),
        ("repositories", "/repositories".to_string()),
        ("org-tokens", format!("/orgs/{org}/access-tokens")),
        ("org-token-delete", format!("/orgs/{org}/access-tokens/{org_token}/delete")),
        ("repository-delete", format!("/repositories/delete?name={}", url::form_urlencoded::byte_serialize(repository.as_bytes()).collect::<String>())),
        ("repository", format!("/repository/{repository}")),
        ("tag-delete", format!("/repositories/tags/delete?repository={}&tag={LAYOUT_TAG}", url::form_urlencoded::byte_serialize(repository.as_bytes()).collect::<String>())),
    ];
    for (width, height) in VIEWPORTS {
        set_viewport(b, width, height).await;
        for (name, page) in &pages {
            goto(b, &format!("{base}{page}")).await;
            wait_for(b, "main h1").await;
            if page != "/" {
                assert_eq!(response_status(b).await, 200, "{page} should answer 200");
            }
            if *name == "tokens" {
                let rows = b.find_all(Locator::Css("table#tokens tbody tr")).await.unwrap();
                assert_eq!(rows.len(), 25, "25 tokens on the overview");
            }
            failures.extend(misfits(b, width, page).await);
            full_page_screenshot(b, width, height, name).await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    for (width, height) in VIEWPORTS {
        set_viewport(b, width, height).await;
        goto(b, &format!("{base}/settings/tokens")).await;
        wait_for(b, "table#tokens").await;
        check_token_menus(b, width, height).await;
        let misfit = misfits(b, width, "/settings/tokens after using the menus").await;
        assert!(misfit.is_none(), "{}", misfit.unwrap_or_default());
    }
    without_javascript(base).await;
}

/// Without JavaScript (a second Chromium with scripts switched off for pages): the overview
/// still fits, and a row's menu still opens on top of the page, by a click on its button.
async fn without_javascript(base: &str) {
    let driver = start_chromedriver("chromedriver-layout-nojs.log").await;
    let profile = tempfile::tempdir().expect("temp Chromium profile");
    let Value::Object(caps) = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic", "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.path().display())],
            "prefs": { "profile.managed_default_content_settings.javascript": 2 }
        }
    }) else {
        unreachable!()
    };
    let b = ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&driver.url).await.expect("a Chromium without JavaScript");
    let run = async {
        goto(&b, &format!("{base}/login")).await;
        fill(&b, "input#login", LAYOUT_USER).await;
        fill(&b, "input#password", PASSWORD).await;
        click_on(&b, "form[action='/login'] button[type=submit]").await;
        wait_for_path(&b, "/settings/account").await;
        for (width, height) in [VIEWPORTS[0], VIEWPORTS[2]] {
            set_viewport(&b, width, height).await;
            goto(&b, &format!("{base}/settings/tokens")).await;
            wait_for(&b, "table#tokens").await;
            // berth.js would have shown the "Select all" box
            let hidden = b.execute("return document.querySelector('input[data-select-all]').hidden;", vec![]).await.unwrap();
            assert_eq!(hidden, json!(true), "berth.js ran, so this is no test without JavaScript");
            let misfit = misfits(&b, width, "/settings/tokens without JavaScript").await;
            assert!(misfit.is_none(), "{}", misfit.unwrap_or_default());
            open_menu(&b, 0, width).await;
            screenshot(&b, &format!("layout-{width}-token-menu-nojs.png")).await;
            click_on(&b, "table#tokens tbody tr:nth-child(1) details.menu > summary").await;
            assert!(!menu_open(&b, 0).await, "a second click on its button closes the menu");
            open_menu(&b, 24, width).await;
        }
    };
    let outcome = AssertUnwindSafe(run).catch_unwind().await;
    let _ = b.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[actix_web::test]
async fn browser_pages_fit_desktop_and_phone_widths_without_sideways_scrolling() {
    run_in_browser("chromedriver-layout.log", "layout-failure.png", |b, base, state| async move { layout_flow(&b, &base, &state).await }).await;
}
