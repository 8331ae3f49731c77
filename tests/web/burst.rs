//! Bursts of simultaneous attempts against the failed-attempt throttle: an attempt takes
//! its slot before it is verified, so requests already in flight cannot all slip past the
//! limit, and identical attempts share one verification. The hasher's verification counter
//! shows how many attempts reached argon2.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use berth_test_support::*;

/// How many simultaneous attempts each burst sends.
const BURST: usize = 300;

fn argon2_runs(app: &TestApp) -> u64 {
    app.state.signin.hasher.verifications()
}

async fn burst_app() -> TestApp {
    // the JSON API's request-rate limit would otherwise answer part of a burst itself
    spawn_app_with(|s| s.api_rate_limit = 100_000).await
}

fn events(app: &TestApp, user: &str, kind: &str) -> usize {
    let uid = app.user(user).id;
    berth::activity::list(&mut app.conn(), uid, 1, 1000).unwrap().0.into_iter().filter(|e| e.kind == kind).count()
}

/// Asserts that a burst's answers are `allowed` refusals at the most, and 429 with a
/// Retry-After for the rest. Returns how many were checked.
fn tally(door: &str, answers: &[(StatusCode, Option<u64>)], checked_status: StatusCode) -> usize {
    let checked = answers.iter().filter(|(s, _)| *s == checked_status).count();
    let throttled = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + throttled, answers.len(), "{door}: only {checked_status} or 429: {answers:?}");
    for (status, retry) in answers {
        if *status == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry.is_some_and(|r| r > 0 && r <= 900), "{door}: a 429 without a sane Retry-After: {retry:?}");
        }
    }
    checked
}

fn retry_after(res: &reqwest::Response) -> Option<u64> {
    res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

fn wrong_password(i: usize) -> String {
    format!("wrong password number {i}")
}

#[actix_web::test]
async fn three_hundred_simultaneous_wrong_passwords_reach_argon2_at_most_five_times_at_the_web_login() {
    let app = burst_app().await;
    app.signed_up("alice").await;
    // every browser loads the form first, then all posts leave together
    let browsers: Vec<(Browser, String)> = join_all((0..BURST).map(|_| async {
        let b = app.browser();
        let token = b.csrf("/login").await;
        (b, token)
    }))
    .await;
    let before = argon2_runs(&app);
    let answers: Vec<(StatusCode, Option<u64>)> = join_all(browsers.iter().enumerate().map(|(i, (b, token))| async move {
        let password = wrong_password(i);
        let res = b.post_raw("/login", &[("csrf", token), ("login", "alice"), ("password", &password)]).await;
        (res.status(), retry_after(&res))
    }))
    .await;
    let checked = tally("web login", &answers, StatusCode::UNAUTHORIZED);
    let hashed = argon2_runs(&app) - before;
    assert!(checked <= 5 && hashed <= 5, "web login: {checked} answered 401, argon2 ran {hashed} times");
    assert_eq!(events(&app, "alice", "throttled"), 1, "one lock, logged once");
    assert_eq!(events(&app, "alice", "sign_in_failed"), checked);
    // when the lock has passed, the right password works
    app.clock.advance(900);
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/");
}

#[actix_web::test]
async fn three_hundred_simultaneous_wrong_passwords_reach_argon2_at_most_five_times_at_the_json_api() {
    let app = burst_app().await;
    app.signed_up("alice").await;
    let client = reqwest::Client::new();
    let before = argon2_runs(&app);
    let answers: Vec<(StatusCode, Option<u64>)> = join_all((0..BURST).map(|i| {
        let (client, url) = (client.clone(), format!("{}/v2/users/login", app.url));
        async move {
            let res = client.post(url).json(&json!({ "username": "alice", "password": wrong_password(i) })).send().await.unwrap();
            (res.status(), retry_after(&res))
        }
    }))
    .await;
    let checked = tally("JSON API login", &answers, StatusCode::UNAUTHORIZED);
    let hashed = argon2_runs(&app) - before;
    assert!(checked <= 5 && hashed <= 5, "JSON API: {checked} answered 401, argon2 ran {hashed} times");
    assert_eq!(events(&app, "alice", "throttled"), 1);
    app.clock.advance(900);
    let res = client.post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn three_hundred_simultaneous_wrong_passwords_reach_argon2_at_most_five_times_at_the_registry() {
    let app = burst_app().await;
    app.signed_up("alice").await;
    let client = reqwest::Client::new();
    let before = argon2_runs(&app);
    let answers: Vec<(StatusCode, Option<u64>)> = join_all((0..BURST).map(|i| {
        let (client, url) = (client.clone(), format!("{}/token?service=registry.local&scope=repository:alice/app:pull", app.url));
        async move {
            let res = client.get(url).basic_auth("alice", Some(wrong_password(i))).send().await.unwrap();
            (res.status(), retry_after(&res))
        }
    }))
    .await;
    let checked = tally("/token", &answers, StatusCode::UNAUTHORIZED);
    let hashed = argon2_runs(&app) - before;
    assert!(checked <= 5 && hashed <= 5, "/token: {checked} answered 401, argon2 ran {hashed} times");
    assert_eq!(events(&app, "alice", "throttled"), 1);
    app.clock.advance(900);
    let res = client.get(format!("{}/token?service=registry.local", app.url)).basic_auth("alice", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn one_password_sprayed_at_three_hundred_usernames_from_one_ip_reaches_argon2_at_most_the_ip_limit() {
    let app = burst_app().await;
    let limit = app.settings.throttle.ip_failures as u64;
    let client = reqwest::Client::new();
    let before = argon2_runs(&app);
    let answers: Vec<(StatusCode, Option<u64>)> = join_all((0..BURST).map(|i| {
        let (client, url) = (client.clone(), format!("{}/v2/users/login", app.url));
        async move {
            let res = client.post(url).json(&json!({ "username": format!("victim{i}"), "password": "Summer2026!" })).send().await.unwrap();
            (res.status(), retry_after(&res))
        }
    }))
    .await;
    let checked = tally("spray", &answers, StatusCode::UNAUTHORIZED) as u64;
    let hashed = argon2_runs(&app) - before;
    assert!(checked <= limit && hashed <= limit, "spray: {checked} answered 401, argon2 ran {hashed} times, the IP limit is {limit}");
}

#[actix_web::test]
async fn fifty_simultaneous_wrong_codes_are_checked_at_most_five_times_at_the_web_second_step() {
    let app = burst_app().await;
    let (b, _secret, _codes) = app.with_2fa("alice").await;
    b.logout().await;
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
    let token = b.csrf("/login/2fa").await;
    let failed_before = events(&app, "alice", "2fa_failed");
    let answers: Vec<(StatusCode, Option<u64>)> = join_all((0..50).map(|i| {
        let (b, token) = (&b, token.clone());
        async move {
            // codes of seven digits are never right, whatever the clock says
            let code = format!("{:07}", 1_000_000 + i);
            let res = b.post_raw("/login/2fa", &[("csrf", &token), ("code", &code)]).await;
            (res.status(), retry_after(&res))
        }
    }))
    .await;
    let checked = tally("web second step", &answers, StatusCode::UNAUTHORIZED);
    let failed = events(&app, "alice", "2fa_failed") - failed_before;
    assert!(checked <= 5 && failed <= 5, "web second step: {checked} answered 401, {failed} codes recorded as failed");
    assert_eq!(events(&app, "alice", "throttled"), 1);
}

#[actix_web::test]
async fn fifty_simultaneous_wrong_codes_are_checked_at_most_five_times_at_the_json_api_second_step() {
    let app = burst_app().await;
    app.with_2fa("alice").await;
    let client = reqwest::Client::new();
    let res = client.post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.json::<Value>().await.unwrap()["login_2fa_token"].as_str().unwrap().to_string();
    let failed_before = events(&app, "alice", "2fa_failed");
    let answers: Vec<(StatusCode, Option<u64>)> = join_all((0..50).map(|i| {
        let (client, url, challenge) = (client.clone(), format!("{}/v2/users/2fa-login", app.url), challenge.clone());
        async move {
            let res = client.post(url).json(&json!({ "login_2fa_token": challenge, "code": format!("{:07}", 1_000_000 + i) })).send().await.unwrap();
            (res.status(), retry_after(&res))
        }
    }))
    .await;
    let checked = tally("JSON API second step", &answers, StatusCode::UNAUTHORIZED);
    let failed = events(&app, "alice", "2fa_failed") - failed_before;
    assert!(checked <= 5 && failed <= 5, "JSON API second step: {checked} answered 401, {failed} codes recorded as failed");
}

#[actix_web::test]
async fn sixty_four_simultaneous_pulls_with_the_right_password_cost_one_argon2_and_all_succeed() {
    let app = burst_app().await;
    app.signed_up("alice").await;
    assert!(app.state.signin.password_cache.is_empty(), "a cold cache, as after a restart");
    let client = reqwest::Client::new();
    let before = argon2_runs(&app);
    let answers: Vec<StatusCode> = join_all((0..64).map(|_| {
        let (client, url) = (client.clone(), format!("{}/token?service=registry.local&scope=repository:alice/app:pull", app.url));
        async move { client.get(url).basic_auth("alice", Some(PASSWORD)).send().await.unwrap().status() }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK), "{answers:?}");
    assert_eq!(argon2_runs(&app) - before, 1, "identical attempts share one verification");
}

#[actix_web::test]
async fn sixty_four_simultaneous_correct_logins_at_the_json_api_are_never_throttled() {
    let app = burst_app().await;
    app.signed_up("alice").await;
    let client = reqwest::Client::new();
    let before = argon2_runs(&app);
    let answers: Vec<StatusCode> = join_all((0..64).map(|_| {
        let (client, url) = (client.clone(), format!("{}/v2/users/login", app.url));
        async move { client.post(url).json(&json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap().status() }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == StatusCode::OK), "{answers:?}");
    let hashed = argon2_runs(&app) - before;
    assert!(hashed < 64, "identical logins in flight share a verification: argon2 ran {hashed} times");
}
