//! The "signed in" event is written once per sign-in, by the sign-in service, at every
//! door: the web form, the JSON API, each with and without a second step. `/token` and a
//! token presented at the JSON API write none (a pull is no sign-in; a token's use has
//! its own events).

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use berth_test_support::*;

/// The details of the user's "signed in" events, oldest first.
fn signed_in(app: &TestApp, user: &str) -> Vec<String> {
    let uid = app.user(user).id;
    let (mut events, _) = berth::activity::list(&mut app.conn(), uid, 1, 1000).unwrap();
    events.reverse();
    events.into_iter().filter(|e| e.kind == "signed_in").map(|e| e.detail).collect()
}

/// The events written since `before` (a `signed_in` list taken earlier).
fn new_since(app: &TestApp, user: &str, before: &[String]) -> Vec<String> {
    let now = signed_in(app, user);
    assert!(now.starts_with(before), "events are only added");
    now[before.len()..].to_vec()
}

async fn api_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": username, "password": password })).send().await.unwrap()
}

async fn pull(app: &TestApp, username: &str, secret: &str) -> StatusCode {
    let url = format!("{}/token?service=registry.local&scope=repository:{username}/app:pull", app.url);
    reqwest::Client::new().get(url).basic_auth(username, Some(secret)).send().await.unwrap().status()
}

#[actix_web::test]
async fn a_password_sign_in_writes_one_signed_in_event_at_the_web_and_the_json_api_and_none_at_the_registry() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    assert_eq!(signed_in(&app, "alice"), ["account created"]);

    let before = signed_in(&app, "alice");
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/");
    assert_eq!(new_since(&app, "alice", &before), ["password"]);

    let before = signed_in(&app, "alice");
    assert_eq!(api_login(&app, "alice", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(new_since(&app, "alice", &before), ["JSON API, password"]);

    // the first pull runs argon2, the next ones are recalled from the cache: none is a sign-in
    let before = signed_in(&app, "alice");
    for _ in 0..3 {
        assert_eq!(pull(&app, "alice", PASSWORD).await, StatusCode::OK);
    }
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());

    // refused and throttled attempts sign nobody in
    let before = signed_in(&app, "alice");
    for _ in 0..6 {
        app.browser().login("alice", "wrong password here").await;
    }
    assert_eq!(api_login(&app, "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());
}

#[actix_web::test]
async fn identical_password_sign_ins_in_flight_share_one_verification_but_each_writes_its_event() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let before = signed_in(&app, "alice");
    let answers = join_all((0..8).map(|_| api_login(&app, "alice", PASSWORD))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(new_since(&app, "alice", &before), vec!["JSON API, password".to_string(); 8]);
}

#[actix_web::test]
async fn a_two_step_sign_in_writes_one_signed_in_event_when_its_code_is_right_at_the_web_and_the_json_api() {
    let app = spawn_app().await;
    let (b, secret, codes) = app.with_2fa("alice").await;
    b.logout().await;

    // the web: the password step writes nothing, a wrong code nothing, the right code one
    let before = signed_in(&app, "alice");
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());
    assert_eq!(b.second_step("0000000").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&b.second_step(&app.fresh_code(&secret)).await), "/");
    assert_eq!(new_since(&app, "alice", &before), ["password and authenticator code"]);

    let before = signed_in(&app, "alice");
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    assert_eq!(location(&b.second_step(&codes[0]).await), "/");
    assert_eq!(new_since(&app, "alice", &before), ["password and recovery code"]);

    // the JSON API: the same, around its login_2fa_token
    let before = signed_in(&app, "alice");
    let res = api_login(&app, "alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.json::<Value>().await.unwrap()["login_2fa_token"].as_str().unwrap().to_string();
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());
    let complete = |code: String| {
        let (url, challenge) = (format!("{}/v2/users/2fa-login", app.url), challenge.clone());
        async move { reqwest::Client::new().post(url).json(&json!({ "login_2fa_token": challenge, "code": code })).send().await.unwrap().status() }
    };
    assert_eq!(complete("0000000".into()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(complete(app.fresh_code(&secret)).await, StatusCode::OK);
    assert_eq!(complete(app.fresh_code(&secret)).await, StatusCode::UNAUTHORIZED, "the challenge is spent");
    assert_eq!(new_since(&app, "alice", &before), ["JSON API, password and second factor"]);

    // `/token` refuses the password of a 2FA account and signs nobody in
    let before = signed_in(&app, "alice");
    assert_eq!(pull(&app, "alice", PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());
}

#[actix_web::test]
async fn a_token_presented_as_a_password_writes_no_signed_in_event_at_the_json_api_or_the_registry() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let uid = app.user("alice").id;
    let new = berth::tokens::NewToken { description: "ci".into(), scope: berth::tokens::Scope::Admin, expires_at: None };
    let token = berth::tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap().1.expose().to_string();
    audit::secret(&token);
    let before = signed_in(&app, "alice");
    assert_eq!(api_login(&app, "alice", &token).await.status(), StatusCode::OK);
    assert_eq!(pull(&app, "alice", &token).await, StatusCode::OK);
    assert_eq!(new_since(&app, "alice", &before), Vec::<String>::new());
}
