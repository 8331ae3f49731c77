use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn the_sixth_wrong_password_is_throttled_from_any_cookie_jar_until_the_clock_moves() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    for i in 0..5 {
        let res = app.browser().login("alice", "wrong password here").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // a fresh cookie jar changes nothing: the counter is per account
    let res = app.browser().login("alice", "wrong password here").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    // even the right password waits
    let res = app.browser().login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // further attempts while throttled are refused without a hash check and write nothing
    for _ in 0..10 {
        assert_eq!(app.browser().login("alice", "wrong password here").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // the activity log says so, once
    let events: Vec<String> = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 50).unwrap().0.into_iter().map(|e| e.kind).collect();
    assert_eq!(events.iter().filter(|k| *k == "throttled").count(), 1);
    assert_eq!(events.iter().filter(|k| *k == "sign_in_failed").count(), 5);
    // the injected clock clears it
    app.clock.advance(retry as i64);
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/");
}

#[actix_web::test]
async fn unknown_accounts_are_throttled_like_real_ones() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.browser().login("ghost", "wrong password here").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.browser().login("ghost", "wrong password here").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn fifty_failures_from_one_ip_block_that_ip_for_every_account() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    for i in 0..50 {
        let res = app.browser().login(&format!("user{i}"), "wrong password here").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.browser().login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(15 * 60 + 1);
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/");
}

#[actix_web::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    // untrusted: every request comes from 127.0.0.1 whatever the header says
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let forwarded = |b: &Browser, ip: &str, login: &str| {
        let (client, url, ip, login) = (b.client.clone(), b.url("/login"), ip.to_string(), login.to_string());
        let token_page = b.url("/login");
        async move {
            let html = client.get(token_page).send().await.unwrap().text().await.unwrap();
            let token = csrf_in(&html).unwrap();
            client.post(url).header("x-forwarded-for", ip).form(&[("csrf", token.as_str()), ("login", login.as_str()), ("password", "wrong password here")]).send().await.unwrap()
        }
    };
    for i in 0..50 {
        let b = app.browser();
        forwarded(&b, &format!("10.0.0.{i}"), &format!("u{i}")).await;
    }
    assert_eq!(app.browser().login("alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "spoofed headers do not spread the count");

    // trusted proxy: the forwarded address is the client
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.signed_up("alice").await;
    for i in 0..50 {
        let b = app.browser();
        forwarded(&b, "10.9.9.9", &format!("u{i}")).await;
    }
    let b = app.browser();
    assert_eq!(forwarded(&b, "10.9.9.9", "alice").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/", "127.0.0.1 itself is not blocked");
}

/// A token of alice's (plan Team, so any scope), as its plaintext.
fn pat(app: &TestApp, scope: berth::tokens::Scope) -> String {
    let uid = app.user("alice").id;
    berth::accounts::set_plan(&mut app.conn(), uid, berth::accounts::Plan::Team).unwrap();
    let new = berth::tokens::NewToken { description: "ci".into(), scope, expires_at: None };
    let plain = berth::tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap().1.expose().to_string();
    audit::secret(&plain);
    plain
}

#[actix_web::test]
async fn a_locked_ip_still_lets_a_valid_token_through_and_refuses_a_wrong_one() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let token = pat(&app, berth::tokens::Scope::Read);
    let client = reqwest::Client::new();
    let json_login = |username: String, password: String| {
        let (client, url) = (client.clone(), format!("{}/v2/users/login", app.url));
        async move { client.post(url).json(&serde_json::json!({ "username": username, "password": password })).send().await.unwrap() }
    };
    // 55 failed logins with made-up usernames from this IP lock it
    let mut refused = 0;
    for i in 0..55 {
        let status = json_login(format!("made-up-{i}"), "wrong password here".into()).await.status();
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS, "{status}");
        refused += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(refused >= 5, "the IP is locked");
    let pull = |secret: String| {
        let (client, url) = (client.clone(), format!("{}/token?service=registry.local&scope=repository:alice/app:pull", app.url));
        async move { client.get(url).basic_auth("alice", Some(secret)).send().await.unwrap() }
    };
    // the valid token works at /token and at the JSON API
    assert_eq!(pull(token.clone()).await.status(), StatusCode::OK, "a valid PAT from a locked IP");
    assert_eq!(json_login("alice".into(), token.clone()).await.status(), StatusCode::OK, "a valid PAT at the JSON API from a locked IP");
    // a wrong one (well-formed, no such token) is refused with 429, at both doors
    let wrong = format!("berth_pat_{}", &token["berth_pat_".len()..].chars().rev().collect::<String>());
    let res = pull(wrong.clone()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(json_login("alice".into(), wrong).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // so is the right password: the IP lock is for every account's password
    assert_eq!(pull(PASSWORD.into()).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn a_deactivated_or_expired_token_from_a_locked_ip_is_refused_with_429() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let token = pat(&app, berth::tokens::Scope::Read);
    let uid = app.user("alice").id;
    let uuid = berth::tokens::page(&mut app.conn(), uid, 1, 10).unwrap()[0].uuid.clone();
    berth::tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    let client = reqwest::Client::new();
    for i in 0..50 {
        client.post(format!("{}/v2/users/login", app.url)).json(&serde_json::json!({ "username": format!("nobody{i}"), "password": "wrong password here" })).send().await.unwrap();
    }
    let res = client.get(format!("{}/token?service=registry.local", app.url)).basic_auth("alice", Some(&token)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "an inactive token is no pass through the IP lock");
}
