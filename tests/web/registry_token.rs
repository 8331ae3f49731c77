//! `/token` at the HTTP level: answers, credentials, grants (decoded from the JWT) and bad
//! input. The real registry, docker and skopeo are in tests/registry.rs.

use base64::Engine;
use berth::accounts::Plan;
use berth::tokens::{self, NewToken, Scope};
use reqwest::StatusCode;
use serde_json::Value;

use berth_test_support::*;

pub(crate) fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn get(app: &TestApp, creds: Option<(&str, &str)>, query: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}/token?service=registry.local&{query}", app.url));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

/// The actions granted on `name` in a 200 answer.
pub(crate) async fn granted(app: &TestApp, creds: Option<(&str, &str)>, name: &str, actions: &str) -> Vec<String> {
    let res = get(app, creds, &format!("scope=repository:{name}:{actions}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let access = claims(body["token"].as_str().unwrap())["access"].clone();
    access
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| a["actions"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

pub(crate) fn pat(app: &TestApp, user: &str, scope: Scope) -> String {
    let uid = app.user(user).id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
    let new = NewToken { description: format!("{scope:?}"), scope, expires_at: None };
    tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap().1.expose().to_string()
}

#[actix_web::test]
async fn a_token_answer_has_the_shape_docker_and_skopeo_need() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Admin);
    let res = get(&app, Some(("alice", &t)), "account=alice&client_id=docker&offline_token=true").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("refresh_token").is_none(), "never a refresh token");
    assert!(regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap().is_match(body["issued_at"].as_str().unwrap()));
    let token = body["token"].as_str().unwrap();
    let h = header(token);
    assert_eq!((h["alg"].as_str(), h["typ"].as_str()), (Some("ES256"), Some("JWT")));
    assert_eq!(h["kid"], app.state.registry_key.current().kid.as_str());
    let c = claims(token);
    assert_eq!((c["iss"].as_str(), c["sub"].as_str(), c["aud"].as_str()), (Some("berth"), Some("alice"), Some("registry.local")));
    assert!(c["aud"].is_string() && c["exp"].is_i64() && c["nbf"].is_i64() && c["iat"].is_i64());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert_eq!(c["access"], serde_json::json!([]), "login asks for no scope");
}

#[actix_web::test]
async fn grants_follow_the_scope_table() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let bob_admin = pat(&app, "bobby", Scope::Admin);
    // bob's repositories: one public, one private, created by pushes
    assert_eq!(granted(&app, Some(("bobby", &bob_admin)), "bobby/public", "push,pull").await, ["pull", "push"]);
    assert_eq!(granted(&app, Some(("bobby", &bob_admin)), "bobby/private", "push,pull").await, ["pull", "push"]);
    berth::repositories::set_public(&mut app.conn(), app.owner("bobby").id, "bobby/public", true).unwrap();
    let all = "pull,push,delete";
    for (scope, own) in [(Scope::Admin, vec!["pull", "push", "delete"]), (Scope::Write, vec!["pull", "push"]), (Scope::Read, vec!["pull"]), (Scope::PublicRead, vec![])] {
        let t = pat(&app, "alice", scope);
        let creds = Some(("alice", t.as_str()));
        assert_eq!(granted(&app, creds, "alice/app", all).await, own, "{scope:?} on own private");
        assert_eq!(granted(&app, creds, "bobby/public", all).await, ["pull"], "{scope:?} on other's public");
        assert!(granted(&app, creds, "bobby/private", all).await.is_empty(), "{scope:?} on other's private");
        assert!(granted(&app, creds, "alice", all).await.is_empty(), "one component");
        assert!(granted(&app, creds, "ghost/app", all).await.is_empty(), "unknown namespace");
    }
    // a requested * is answered with explicit actions
    assert_eq!(granted(&app, Some(("bobby", &bob_admin)), "bobby/x", "*").await, ["pull", "push", "delete"]);
    assert_eq!(berth::repositories::facts(&mut app.conn(), "bobby/x", None, None).unwrap().public, None, "a * (skopeo delete) is no push: nothing recorded");
    assert_eq!(berth::repositories::facts(&mut app.conn(), "bobby/private", None, None).unwrap().public, Some(false), "a push is recorded, private");
    // anonymous: pulls of public repositories only
    assert_eq!(granted(&app, None, "bobby/public", "pull,push").await, ["pull"]);
    assert!(granted(&app, None, "bobby/private", "pull").await.is_empty());
    // the password of a user without 2FA grants what Read, Write, Delete grants
    assert_eq!(granted(&app, Some(("alice", PASSWORD)), "alice/app", all).await, ["pull", "push", "delete"]);
}

#[actix_web::test]
async fn the_catalog_is_for_operators_only() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Admin);
    let catalog = |app: &TestApp, t: String| {
        let url = format!("{}/token?service=registry.local&scope=registry:catalog:*", app.url);
        async move {
            let body: Value = reqwest::Client::new().get(url).basic_auth("alice", Some(t)).send().await.unwrap().json().await.unwrap();
            claims(body["token"].as_str().unwrap())["access"][0]["actions"].clone()
        }
    };
    assert_eq!(catalog(&app, t.clone()).await, serde_json::json!([]));
    berth::accounts::set_operator(&mut app.conn(), app.user("alice").id, true).unwrap();
    assert_eq!(catalog(&app, t).await, serde_json::json!(["*"]));
}

#[actix_web::test]
async fn refused_credentials_get_the_answers_docker_prints() {
    let app = spawn_app().await;
    let (_, _, _) = app.with_2fa("alice").await;
    app.signed_up("bobby").await;
    let t = pat(&app, "alice", Scope::Read);
    let details = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        res.json::<Value>().await.unwrap()["details"].as_str().unwrap().to_string()
    };
    assert_eq!(details(get(&app, Some(("alice", PASSWORD)), "").await).await, "please use personal access token to login");
    assert_eq!(details(get(&app, Some(("alice", "wrong password x")), "").await).await, "incorrect username or password");
    assert_eq!(details(get(&app, Some(("bobby", &t)), "").await).await, "incorrect username or password", "someone else's token");
    assert_eq!(get(&app, Some(("alice", &t)), "").await.status(), StatusCode::OK, "the token works with 2FA on");
    // deactivated: its holder learns why, anyone naming another user does not
    let uid = app.user("alice").id;
    let uuid = tokens::page(&mut app.conn(), uid, 1, 1).unwrap()[0].uuid.clone();
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    assert_eq!(details(get(&app, Some(("alice", &t)), "").await).await, "access token is deactivated");
    assert_eq!(refusal(post_password(&app, "alice", &t).await).await.1, "access token is deactivated", "POST says so too");
    assert_eq!(details(get(&app, Some(("bobby", &t)), "").await).await, "incorrect username or password", "someone else's name");
    // then reactivated
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(true), &Default::default(), app.state.now()).unwrap();
    assert_eq!(get(&app, Some(("alice", &t)), "").await.status(), StatusCode::OK);
    // a recovery code is never a password here either
    // expired
    app.clock.advance(10);
    let short = NewToken { description: "short".into(), scope: Scope::Admin, expires_at: Some(app.state.now() + 5) };
    let (_, s) = tokens::create(&mut app.conn(), uid, short, &Default::default(), app.state.now()).unwrap();
    assert_eq!(get(&app, Some(("alice", s.expose())), "").await.status(), StatusCode::OK);
    app.clock.advance(6);
    assert_eq!(details(get(&app, Some(("alice", s.expose())), "").await).await, "access token has expired");
    // deleted: nothing to tell
    tokens::delete(&mut app.conn(), uid, &[uuid], &Default::default(), app.state.now()).unwrap();
    assert_eq!(details(get(&app, Some(("alice", &t)), "").await).await, "incorrect username or password");
}

#[actix_web::test]
async fn refused_uses_of_a_token_reach_its_owners_activity_once_a_minute_or_on_a_new_client() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Read);
    let uid = app.user("alice").id;
    let uuid = tokens::page(&mut app.conn(), uid, 1, 1).unwrap()[0].uuid.clone();
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    let refused = |agent: &'static str| {
        let (url, t) = (format!("{}/token?service=registry.local", app.url), t.clone());
        async move {
            let res = reqwest::Client::new().get(url).basic_auth("alice", Some(t)).header("user-agent", agent).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    };
    let logged = |app: &TestApp| -> Vec<(String, String)> {
        berth::activity::list(&mut app.conn(), uid, 1, 100).unwrap().0.into_iter().filter(|e| e.kind == "token_refused").map(|e| (e.detail, e.user_agent)).collect()
    };
    for _ in 0..5 {
        refused("docker/27").await;
    }
    assert_eq!(logged(&app).len(), 1, "five refusals in a minute, one event");
    assert!(logged(&app)[0].0.contains("deactivated"), "{:?}", logged(&app));
    refused("containerd/2").await;
    assert_eq!(logged(&app).len(), 2, "a new client is recorded at once");
    app.clock.advance(61);
    refused("containerd/2").await;
    assert_eq!(logged(&app).len(), 3, "a minute later again");
    // concurrent refusals write once
    app.clock.advance(61);
    futures_util::future::join_all((0..16).map(|_| refused("containerd/2"))).await;
    assert_eq!(logged(&app).len(), 4);
}

#[actix_web::test]
async fn a_password_flood_is_throttled_while_a_valid_token_keeps_working() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Admin);
    for _ in 0..5 {
        assert_eq!(get(&app, Some(("alice", "wrong password x")), "").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = get(&app, Some(("alice", "wrong password x")), "").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::TOO_MANY_REQUESTS, "the password waits");
    assert_eq!(app.browser().login("alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "shared with the web login");
    assert_eq!(get(&app, Some(("alice", &t)), "").await.status(), StatusCode::OK, "the token does not");
}

#[actix_web::test]
async fn post_takes_containerd_forms_chunked_with_space_joined_scopes() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Admin);
    let body = format!(
        "grant_type=password&username=alice&password={}&client_id=containerd&service=registry.local&scope={}",
        t,
        url::form_urlencoded::byte_serialize(b"repository:alice/a:pull,push repository:alice/b:pull repository:alice/b:pull").collect::<String>()
    );
    let stream = futures_util::stream::iter(body.into_bytes().chunks(7).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let res = reqwest::Client::new()
        .post(format!("{}/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let access = claims(body["access_token"].as_str().unwrap())["access"].clone();
    assert_eq!(access.as_array().unwrap().len(), 2, "the same scope twice is granted once: {access}");
    // no cookies, no CSRF token: the route is exempt, even with a foreign Origin
    let res = reqwest::Client::new()
        .post(format!("{}/token", app.url))
        .header("origin", "https://evil.example")
        .form(&[("grant_type", "password"), ("username", "alice"), ("password", t.as_str()), ("service", "registry.local")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn bad_token_requests_are_clear_json_4xx() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let client = reqwest::Client::new();
    let res = client.post(format!("{}/token", app.url)).form(&[("grant_type", "refresh_token"), ("refresh_token", "x"), ("service", "registry.local")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
    assert_eq!(get(&app, None, "service=other").await.status(), StatusCode::BAD_REQUEST);
    let res = client.get(format!("{}/token?service=other.service", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["details"], "unknown service");
    for bad in ["Basic !!!", "Basic bm9jb2xvbg==", "Bearer xyz", "Basic"] {
        let res = client.get(format!("{}/token?service=registry.local", app.url)).header("authorization", bad).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    }
    let huge = format!("Basic {}", "QUFB".repeat(2_500));
    let res = client.get(format!("{}/token?service=registry.local", app.url)).header("authorization", huge).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a 10 KB Authorization header");
    let many: String = (0..51).map(|i| format!("scope=repository:alice/r{i}:pull&")).collect();
    assert_eq!(get(&app, None, &many).await.status(), StatusCode::BAD_REQUEST, "51 scopes");
    let fifty: String = (0..50).map(|i| format!("scope=repository:alice/r{i}:pull&")).collect();
    assert_eq!(get(&app, None, &fifty).await.status(), StatusCode::OK, "50 scopes");
    let long_scope = format!("scope=repository:alice/{}:pull", "a".repeat(10_000));
    assert_eq!(get(&app, None, &long_scope).await.status(), StatusCode::BAD_REQUEST, "a 10 KB scope");
    for scope in ["nonsense", "repository:alice", ":x:y"] {
        assert_eq!(get(&app, None, &format!("scope={scope}")).await.status(), StatusCode::BAD_REQUEST, "{scope}");
    }
    let big = "x".repeat(20_000);
    let res = client.post(format!("{}/token", app.url)).form(&[("password", big.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = client.post(format!("{}/token", app.url)).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // unknown types, bad names and unknown registry resources are granted nothing, without
    // an error, and are left out of the signed token; a real repository refused is listed
    let body: Value = get(&app, None, "scope=repository:Alice/App:pull&scope=blob:x:pull&scope=registry:anything:*&scope=repository:alice/app:pull").await.json().await.unwrap();
    assert_eq!(claims(body["token"].as_str().unwrap())["access"], serde_json::json!([{ "type": "repository", "name": "alice/app", "actions": [] }]));
}

#[actix_web::test]
async fn a_huge_scope_list_is_refused_without_stalling_normal_requests() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = pat(&app, "alice", Scope::Read);
    let client = reqwest::Client::new();
    // 6,500 space-joined scopes in 32 KB: refused once 51 are counted
    let joined = format!("scope={}", vec!["a:b:"; 6_500].join("+"));
    // repeated pairs, 44 KB: over the query limit
    let repeated: String = (0..4_000).map(|_| "scope=a:b:&").collect();
    assert!(repeated.len() > 32 * 1024);
    let hostile = |query: String| {
        let (client, url) = (client.clone(), format!("{}/token?service=registry.local&{query}", app.url));
        async move { client.get(url).send().await.unwrap() }
    };
    let floods = futures_util::future::join_all((0..20).map(|i| hostile(if i % 2 == 0 { joined.clone() } else { repeated.clone() })));
    let normal = async { granted(&app, Some(("alice", &t)), "alice/app", "pull").await };
    let (answers, normal) = futures_util::future::join(floods, normal).await;
    assert_eq!(normal, vec!["pull"], "a normal /token stays correct meanwhile");
    for (i, res) in answers.into_iter().enumerate() {
        let expected = if i % 2 == 0 { StatusCode::BAD_REQUEST } else { StatusCode::URI_TOO_LONG };
        assert_eq!(res.status(), expected);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let details = res.json::<Value>().await.unwrap()["details"].as_str().unwrap().to_string();
        assert!(details == "too many scopes" || details.contains("too long"), "{details}");
    }
}

#[actix_web::test]
async fn a_query_that_is_not_utf8_is_refused_not_signed() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    for query in ["scope=repository:alice/%FF:pull", "scope=repository:alice/app:pull&account=%C3%28", "service=registry.local%80"] {
        let res = reqwest::Client::new().get(format!("{}/token?{query}", app.url)).basic_auth("alice", Some(PASSWORD)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(res.json::<Value>().await.unwrap()["details"], "the query string is not valid UTF-8");
    }
    // the same bytes in a POST body are refused alike
    let res = reqwest::Client::new()
        .post(format!("{}/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=alice&password=x&service=registry.local&scope=repository:alice/%FF:pull")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

// The password cache (BENCHMARKS.md W2): `/token` remembers a verified (user, password) pair for
// five minutes; the hasher's verification counter shows when argon2 ran.

fn argon2_runs(app: &TestApp) -> u64 {
    app.state.signin.hasher.verifications()
}

async fn post_password(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    let form = [("grant_type", "password"), ("username", user), ("password", password), ("service", "registry.local"), ("scope", "repository:alice/app:pull")];
    reqwest::Client::new().post(format!("{}/token", app.url)).form(&form).send().await.unwrap()
}

/// Status and `details` of a refused `/token` answer.
async fn refusal(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    (status, res.json::<Value>().await.unwrap()["details"].as_str().unwrap_or_default().to_string())
}

fn incorrect() -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, "incorrect username or password".into())
}

/// A server where alice (no 2FA) has just had her password verified at `/token`.
async fn alice_remembered() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(app.state.signin.password_cache.len(), 1);
    (app, b)
}

/// What `berth user set-password` and `berth user disable` use: their own pool on the same
/// database file, so the running server is told nothing.
fn cli_conn(app: &TestApp) -> berth::db::DbConn {
    berth::db::open(&app.settings.database_url).unwrap().get().unwrap()
}

#[actix_web::test]
async fn a_verified_password_is_remembered_on_get_and_post_for_five_minutes_only() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let start = argon2_runs(&app);
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), start + 1);
    assert_eq!(granted(&app, Some(("alice", PASSWORD)), "alice/app", "pull,push").await, ["pull", "push"], "a remembered password grants the same");
    assert_eq!(post_password(&app, "alice", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), start + 1, "the second GET and the POST ran no argon2");
    app.clock.advance(299);
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), start + 1);
    app.clock.advance(2);
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), start + 2, "301 s after the verification argon2 runs again");
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), start + 2, "and the pair is remembered anew");
    // the web and JSON logins verify in full every time (BENCHMARKS.md W3)
    for _ in 0..2 {
        assert_eq!(app.browser().login("alice", PASSWORD).await.status(), StatusCode::SEE_OTHER);
        let res = reqwest::Client::new().post(format!("{}/v2/users/login", app.url)).json(&serde_json::json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(argon2_runs(&app), start + 6);
}

#[actix_web::test]
async fn a_password_changed_on_the_account_page_is_refused_at_token_at_once() {
    let (app, b) = alice_remembered().await;
    let new = "a brand new passphrase";
    let res = b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.state.signin.password_cache.len(), 0, "the change forgets the user's pairs");
    assert_eq!(refusal(get(&app, Some(("alice", PASSWORD)), "").await).await, incorrect());
    assert_eq!(get(&app, Some(("alice", new)), "").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_password_set_by_the_cli_is_refused_at_token_at_once() {
    let (app, _) = alice_remembered().await;
    let runs = argon2_runs(&app);
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), runs, "remembered");
    // as `berth user set-password` does it
    let new = secrecy::SecretString::from("an operator's new passphrase".to_string());
    let hash = berth::accounts::password::hash(&new);
    berth::accounts::set_password(&mut cli_conn(&app), app.user("alice").id, &hash, None).unwrap();
    assert_eq!(app.state.signin.password_cache.len(), 1, "the server was told nothing");
    assert_eq!(refusal(get(&app, Some(("alice", PASSWORD)), "").await).await, incorrect());
    assert_eq!(argon2_runs(&app), runs + 1, "the new row's hash and stamp missed the cache");
    assert_eq!(get(&app, Some(("alice", "an operator's new passphrase")), "").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_disabled_account_is_refused_at_once_despite_a_remembered_password() {
    let (app, _) = alice_remembered().await;
    let uid = app.user("alice").id;
    // as `berth user disable` does it
    berth::accounts::set_disabled(&mut cli_conn(&app), uid, true).unwrap();
    assert_eq!(refusal(get(&app, Some(("alice", PASSWORD)), "").await).await, incorrect());
    assert_eq!(post_password(&app, "alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    berth::accounts::set_disabled(&mut cli_conn(&app), uid, false).unwrap();
    let runs = argon2_runs(&app);
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), runs + 1, "the pair from before the lock is not reused");
}

#[actix_web::test]
async fn turning_2fa_on_makes_a_remembered_password_ask_for_a_token() {
    let (app, b) = alice_remembered().await;
    b.enable_2fa(&app).await;
    assert_eq!(app.state.signin.password_cache.len(), 0, "enabling 2FA forgets the user's pairs");
    for _ in 0..2 {
        let answer = (StatusCode::UNAUTHORIZED, "please use personal access token to login".to_string());
        assert_eq!(refusal(get(&app, Some(("alice", PASSWORD)), "").await).await, answer);
        assert_eq!(refusal(post_password(&app, "alice", PASSWORD).await).await, answer);
    }
    assert_eq!(app.state.signin.password_cache.len(), 0, "a 2FA account's password is never remembered");
}

#[actix_web::test]
async fn a_wrong_password_is_never_remembered_and_the_throttle_comes_first() {
    let (app, _) = alice_remembered().await;
    let runs = argon2_runs(&app);
    for i in 1..=4 {
        assert_eq!(get(&app, Some(("alice", "wrong password x")), "").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(argon2_runs(&app), runs + i, "each wrong password runs argon2");
        assert_eq!(app.state.signin.password_cache.len(), 1, "and is not remembered");
    }
    // a remembered password is a success: it clears the account's four failures
    assert_eq!(get(&app, Some(("alice", PASSWORD)), "").await.status(), StatusCode::OK);
    assert_eq!(argon2_runs(&app), runs + 4);
    for _ in 0..5 {
        assert_eq!(get(&app, Some(("alice", "wrong password x")), "").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(get(&app, Some(("alice", "wrong password x")), "").await.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = get(&app, Some(("alice", PASSWORD)), "").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "throttled before the cache is asked");
}

/// Every `docker pull` asks for a token, often many at once (layers in parallel, a CI
/// fleet on one PAT). Reads never write: the token's last use is written once for a new
/// client and then at most once a minute, and a push is noted on its repository at most
/// once a minute — however many requests race for it. The writes are counted by triggers
/// on the two tables (each row an UPDATE or INSERT really changed), since 24 writes of one
/// value leave the same row as one: no domain function can tell them apart, so the
/// triggers and their table are raw SQL.
#[actix_web::test]
async fn concurrent_pulls_write_last_use_and_the_push_note_once_a_minute() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Write);
    let uid = app.user("alice").id;
    berth_test_support::database::count_writes(&mut app.conn());
    // (last use, new-IP events, last push, last-use writes, push-note writes) so far
    let used = |app: &TestApp| -> (Option<i64>, i64, Option<i64>, i64, i64) {
        let mut c = app.conn();
        let last = tokens::page(&mut c, uid, 1, 1).unwrap()[0].last_used_at;
        let new_ip = berth::activity::list(&mut c, uid, 1, 100).unwrap().0.into_iter().filter(|e| e.kind == "token_used_from_new_ip").count() as i64;
        let pushed = berth::repositories::facts(&mut c, "alice/app", None, None).unwrap().last_push_at;
        let (last_use, push_note) = berth_test_support::database::writes(&mut c);
        (last, new_ip, pushed, last_use, push_note)
    };
    let burst = |app: &TestApp| {
        let (url, token) = (app.url.clone(), token.clone());
        async move {
            let http = reqwest::Client::new();
            let requests = (0..24).map(|_| http.get(format!("{url}/token?service=registry.local&scope=repository:alice/app:pull,push")).basic_auth("alice", Some(&token)).send());
            for res in futures_util::future::join_all(requests).await {
                assert_eq!(res.unwrap().status(), StatusCode::OK);
            }
        }
    };
    let t0 = app.state.now();
    burst(&app).await;
    assert_eq!(used(&app), (Some(t0), 1, Some(t0), 1, 1), "first use from this client: one write, one activity event, the repository recorded once");
    app.clock.advance(59);
    burst(&app).await;
    assert_eq!(used(&app), (Some(t0), 1, Some(t0), 1, 1), "within the minute nothing is written");
    app.clock.advance(1);
    burst(&app).await;
    assert_eq!(used(&app), (Some(t0 + 60), 1, Some(t0 + 60), 2, 2), "a minute on: written again, once");
}
