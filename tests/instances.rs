//! Several Berth instances on one PostgreSQL database, as behind a load balancer: two
//! servers in this process, each with its own state (throttle, caches, pools) and the same
//! master key, sharing nothing but the database. Whatever one instance decides, the other
//! must see at its next request. These tests need the test PostgreSQL server in either run.

use std::sync::Arc;

use berth::clock::ManualClock;
use berth::config::Settings;
use berth::tokens::Scope;
use berth_test_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Two instances on one new PostgreSQL database, on one test clock. `configure` applies to
/// both. B's data folder holds a copy of A's master key, as an operator copies it.
async fn two_instances(configure: impl Fn(&mut Settings)) -> (TestApp, TestApp) {
    let database = database::fresh_postgres();
    let clock = ManualClock::starting_now();
    let start = |dir: tempfile::TempDir, clock: Arc<ManualClock>| {
        let mut settings = Settings::with_data_dir(dir.path().join("data"));
        settings.database_url = database.clone();
        settings.bind = "127.0.0.1:0".into();
        settings.workers = 2;
        configure(&mut settings);
        spawn_on(dir, settings, clock)
    };
    let a = start(audit::tempdir(), clock.clone()).await;
    let dir_b = audit::tempdir();
    share_secrets(&a.settings.data_dir, &dir_b.path().join("data"));
    let b = start(dir_b, clock).await;
    (a, b)
}

/// What every instance needs the same copy of: the master key (the signing key is in the
/// database).
fn share_secrets(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(from.join("master.key"), to.join("master.key")).unwrap();
}

async fn api_login(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": user, "password": password })).send().await.unwrap()
}

async fn registry_token(app: &TestApp, user: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new().get(format!("{}/token?service=registry.local&scope=repository:{user}/app:pull", app.url)).basic_auth(user, Some(secret)).send().await.unwrap()
}

async fn error_details(res: reqwest::Response) -> String {
    let body: Value = res.json().await.unwrap();
    body["details"].as_str().or(body["detail"].as_str()).unwrap_or_default().to_string()
}

/// A token made on the web pages of `app`; returns its plaintext.
async fn web_token(app: &TestApp, b: &Browser, description: &str) -> String {
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", description), ("scope", "repo:admin"), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let token = regex::Regex::new(r"berth_pat_[0-9A-Za-z]{38}").unwrap().find(&html).expect("the token is shown once").as_str().to_string();
    audit::secret(&token);
    let _ = app;
    token
}

#[actix_web::test]
async fn postgres_five_wrong_passwords_alternating_over_two_instances_lock_the_account_as_on_one() {
    let (a, b) = two_instances(|_| {}).await;
    a.signed_up("alice").await;
    for (i, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        assert_eq!(api_login(app, "alice", "a wrong password").await.status(), StatusCode::UNAUTHORIZED, "failure {}", i + 1);
    }
    // the sixth attempt waits at either instance, the right password too
    for app in [&b, &a] {
        let res = api_login(app, "alice", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().get("retry-after").is_some());
    }
    a.clock.advance(31);
    assert_eq!(api_login(&b, "alice", PASSWORD).await.status(), StatusCode::OK, "the back-off ends for both");
}

#[actix_web::test]
async fn postgres_an_attempt_left_in_flight_by_a_dead_instance_stops_counting_after_a_minute() {
    let (a, b) = two_instances(|_| {}).await;
    a.signed_up("alice").await;
    let alice = berth::throttle::AccountKey::User(a.user("alice").id);
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    // five verifications in flight on A when it is killed: none is ever settled
    for _ in 0..5 {
        std::mem::forget(a.state.signin.throttle.reserve(&alice, ip).await.expect("a free slot"));
    }
    assert_eq!(api_login(&b, "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "B counts A's attempts in flight");
    b.clock.advance(berth::throttle::RESERVATION_SECONDS + 1);
    assert_eq!(api_login(&b, "alice", PASSWORD).await.status(), StatusCode::OK, "a minute later they count no more");
}

#[actix_web::test]
async fn postgres_the_api_rate_limit_counts_one_callers_requests_at_every_instance() {
    let (a, b) = two_instances(|s| s.api_rate_limit = 10).await;
    let mut remaining = Vec::new();
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = reqwest::get(format!("{}/v2/repositories/nobody/", app.url)).await.unwrap();
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS, "request {}", i + 1);
        remaining.push(res.headers()["x-ratelimit-remaining"].to_str().unwrap().parse::<u32>().unwrap());
    }
    assert_eq!(remaining, (0..10).rev().collect::<Vec<u32>>(), "one count over both instances");
    for app in [&a, &b] {
        assert_eq!(reqwest::get(format!("{}/v2/repositories/nobody/", app.url)).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    }
    a.clock.advance(60);
    assert_ne!(reqwest::get(format!("{}/v2/repositories/nobody/", b.url)).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "the next minute");
}

#[actix_web::test]
async fn postgres_a_session_begun_on_one_instance_lives_and_ends_on_the_other() {
    let (a, b) = two_instances(|_| {}).await;
    let mut browser = a.signed_up("alice").await;
    // the same cookie, the other instance
    browser.base = b.url.clone();
    let (status, html) = browser.get_text("/settings/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alice"), "B knows the session A began");
    assert_eq!(browser.logout().await.status(), StatusCode::SEE_OTHER);
    browser.base = a.url.clone();
    assert_eq!(browser.get("/settings/tokens").await.status(), StatusCode::SEE_OTHER, "signed out on B is signed out on A");
}

#[actix_web::test]
async fn postgres_a_token_made_on_one_instance_works_on_the_other_until_deactivated_on_the_first() {
    let (a, b) = two_instances(|_| {}).await;
    let browser = a.signed_up("alice").await;
    let token = web_token(&a, &browser, "ci").await;
    assert_eq!(registry_token(&b, "alice", &token).await.status(), StatusCode::OK);
    let uuid = berth::tokens::page(&mut a.conn(), a.user("alice").id, 1, 10).unwrap()[0].uuid.clone();
    let res = browser.submit("/settings/tokens", &format!("/settings/tokens/{uuid}/deactivate"), &[]).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let res = registry_token(&b, "alice", &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the next /token at B is refused");
    assert_eq!(error_details(res).await, "access token is deactivated");
}

#[actix_web::test]
async fn postgres_twenty_creations_at_once_over_two_instances_on_a_pro_account_make_exactly_five() {
    let (a, b) = two_instances(|s| s.api_rate_limit = 10_000).await;
    a.signed_up("alice").await;
    berth::accounts::set_plan(&mut a.conn(), a.user("alice").id, berth::accounts::Plan::Pro).unwrap();
    let jwt: Value = api_login(&a, "alice", PASSWORD).await.json().await.unwrap();
    let jwt = jwt["token"].as_str().unwrap().to_string();
    let mut creations = Vec::new();
    for i in 0..20 {
        let (url, jwt) = (if i % 2 == 0 { a.url.clone() } else { b.url.clone() }, jwt.clone());
        creations.push(actix_web::rt::spawn(async move {
            let res = reqwest::Client::new()
                .post(format!("{url}/v2/access-tokens"))
                .bearer_auth(jwt)
                .json(&json!({ "token_label": format!("t{i}"), "scopes": [Scope::Write.as_str()] }))
                .send()
                .await
                .unwrap();
            let status = res.status();
            audit::tokens_in(&res.text().await.unwrap());
            status
        }));
    }
    let mut statuses = Vec::new();
    for c in creations {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || s.is_client_error()), "refusals are 4xx: {statuses:?}");
    assert_eq!(a.token_rows(), 5);
    assert_eq!(b.owner("alice").token_count, 5, "the kept count agrees");
}

#[actix_web::test]
async fn postgres_a_password_changed_on_one_instance_ends_the_remembered_password_on_the_other() {
    let (a, b) = two_instances(|_| {}).await;
    let browser = a.signed_up("alice").await;
    for _ in 0..2 {
        assert_eq!(registry_token(&b, "alice", PASSWORD).await.status(), StatusCode::OK);
    }
    assert_eq!(b.state.signin.password_cache.len(), 1, "B remembers the password");
    let new = "a brand new passphrase";
    audit::secret(new);
    let res = browser.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(registry_token(&b, "alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "B's next request refuses the old password");
    assert_eq!(registry_token(&b, "alice", new).await.status(), StatusCode::OK);
}

/// Many pulls at once, half through each instance: the token's last use and the push note
/// are conditional updates, so of all the requests that saw them due, one writes each.
#[actix_web::test]
async fn postgres_concurrent_pulls_over_two_instances_write_last_use_and_the_push_note_once() {
    let (a, b) = two_instances(|_| {}).await;
    let browser = a.signed_up("alice").await;
    let token = web_token(&a, &browser, "ci").await;
    database::count_writes(&mut a.conn());
    let http = reqwest::Client::new();
    let requests = (0..24).map(|i| {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        http.get(format!("{url}/token?service=registry.local&scope=repository:alice/app:pull,push")).basic_auth("alice", Some(&token)).send()
    });
    for res in futures_util::future::join_all(requests).await {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(database::writes(&mut b.conn()), (1, 1), "one last-use write and one push note over both instances");
}

/// The JSON API's second-factor challenge, begun on one instance, is answered on the other
/// (it lives in the database) — once.
#[actix_web::test]
async fn postgres_a_two_factor_challenge_from_one_instance_is_answered_once_on_the_other() {
    let (a, b) = two_instances(|_| {}).await;
    let (_, secret, _) = a.with_2fa("alice").await;
    let res = api_login(&a, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge: Value = res.json().await.unwrap();
    let challenge = challenge["login_2fa_token"].as_str().expect("a challenge").to_string();
    audit::secret(&challenge);
    let code = a.fresh_code(&secret);
    let answer = |app: &TestApp| {
        let (url, challenge, code) = (app.url.clone(), challenge.clone(), code.clone());
        async move { reqwest::Client::new().post(format!("{url}/v2/users/2fa-login")).json(&json!({ "login_2fa_token": challenge, "code": code })).send().await.unwrap().status() }
    };
    assert_eq!(answer(&b).await, StatusCode::OK, "B answers A's challenge");
    assert_eq!(answer(&a).await, StatusCode::UNAUTHORIZED, "and it is spent for A too");
}

/// A password typed into the login field is a login name no account holds: the shared
/// throttle counts it under a keyed hash, and what was typed is stored nowhere.
#[actix_web::test]
async fn postgres_an_unknown_login_name_is_counted_but_never_stored_as_typed() {
    use diesel::prelude::*;
    let (a, b) = two_instances(|_| {}).await;
    let typed = "my secret passphrase typed as a name";
    audit::secret(typed);
    for app in [&a, &b, &a, &b, &a] {
        assert_eq!(api_login(app, typed, "whatever it was").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(api_login(&b, typed, "whatever it was").await.status(), StatusCode::TOO_MANY_REQUESTS, "counted over both");
    let stored: Vec<String> = berth::db::schema::throttle_accounts::table.select(berth::db::schema::throttle_accounts::account).load(&mut a.conn()).unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("passphrase"), "stored as typed: {stored:?}");
}
