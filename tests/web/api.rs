//! The Docker Hub-compatible JSON API.

use berth::accounts::Plan;
use reqwest::StatusCode;
use serde_json::{Value, json};

use berth_test_support::*;

pub(crate) async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(format!("{}{path}", app.url)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    req.send().await.unwrap()
}

pub(crate) async fn call(app: &TestApp, method: reqwest::Method, path: &str, bearer: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", app.url)).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

pub(crate) async fn jwt(app: &TestApp, username: &str, secret: &str) -> String {
    let res = post(app, "/v2/users/login", None, json!({ "username": username, "password": secret })).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

pub(crate) async fn new_token(app: &TestApp, bearer: &str, label: &str, scope: &str) -> Value {
    let res = post(app, "/v2/access-tokens", Some(bearer), json!({ "token_label": label, "scopes": [scope], "expires_at": null })).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

#[actix_web::test]
async fn a_password_login_manages_tokens_with_docker_hubs_field_names() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Pro).unwrap();
    let t = jwt(&app, "alice", PASSWORD).await;
    let created = new_token(&app, &t, "ci on build-01", "repo:read").await;
    assert!(created["token"].as_str().unwrap().starts_with("berth_pat_"));
    for field in ["uuid", "client_id", "creator_ip", "creator_ua", "created_at", "last_used", "generated_by", "is_active", "token_label", "scopes", "expires_at"] {
        assert!(created.get(field).is_some(), "{field}");
    }
    assert_eq!(created["scopes"], json!(["repo:read"]));
    let uuid = created["uuid"].as_str().unwrap().to_string();
    // the web overview shows it; a web-created token shows in the API
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains("ci on build-01"));
    b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "from the web"), ("scope", "repo:write"), ("expiration", "none")]).await;
    let list: Value = call(&app, reqwest::Method::GET, "/v2/access-tokens?page=1&page_size=1", &t, None).await.json().await.unwrap();
    assert_eq!((list["count"].as_i64(), list["active_count"].as_i64()), (Some(2), Some(2)));
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert_eq!(list["results"][0]["token_label"], "from the web");
    assert_eq!(list["results"][0]["token"], "", "never the plaintext again");
    assert!(list["next"].as_str().unwrap().ends_with("/v2/access-tokens?page=2&page_size=1"));
    assert!(list["previous"].is_null());
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains("<strong>2</strong> active · <strong>0</strong> inactive"), "the web and the API count alike");
    let clamped: Value = call(&app, reqwest::Method::GET, "/v2/access-tokens?page_size=10000", &t, None).await.json().await.unwrap();
    assert_eq!(clamped["results"].as_array().unwrap().len(), 2);
    for bad in ["page=0", "page_size=0", "page=abc"] {
        let res = call(&app, reqwest::Method::GET, &format!("/v2/access-tokens?{bad}"), &t, None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    }
    // one, patch, delete
    let one: Value = call(&app, reqwest::Method::GET, &format!("/v2/access-tokens/{uuid}"), &t, None).await.json().await.unwrap();
    assert_eq!(one["token_label"], "ci on build-01");
    let patched: Value =
        call(&app, reqwest::Method::PATCH, &format!("/v2/access-tokens/{uuid}"), &t, Some(json!({ "token_label": "renamed", "is_active": false }))).await.json().await.unwrap();
    assert_eq!((patched["token_label"].as_str(), patched["is_active"].as_bool()), (Some("renamed"), Some(false)));
    assert_eq!(call(&app, reqwest::Method::DELETE, &format!("/v2/access-tokens/{uuid}"), &t, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&app, reqwest::Method::GET, &format!("/v2/access-tokens/{uuid}"), &t, None).await.status(), StatusCode::NOT_FOUND);
    let (_, events) = b.get_text("/settings/activity").await;
    for e in ["Access token created", "Access token renamed", "Access token deactivated", "Access token deleted"] {
        assert!(events.contains(e), "{e}");
    }
}

#[actix_web::test]
async fn a_jwt_obtained_with_a_pat_cannot_manage_tokens_but_may_read_the_profile() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let t = jwt(&app, "alice", PASSWORD).await;
    let pat = new_token(&app, &t, "laptop", "repo:admin").await["token"].as_str().unwrap().to_string();
    let via_pat = jwt(&app, "alice", &pat).await;
    let forbidden = json!({ "detail": "access to the resource is forbidden with personal access token" });
    for (method, path, body) in [
        (reqwest::Method::GET, "/v2/access-tokens".to_string(), None),
        (reqwest::Method::POST, "/v2/access-tokens".to_string(), Some(json!({ "token_label": "x", "scopes": ["repo:admin"] }))),
        (reqwest::Method::GET, "/v2/access-tokens/00000000-0000-0000-0000-000000000000".to_string(), None),
        (reqwest::Method::PATCH, "/v2/access-tokens/00000000-0000-0000-0000-000000000000".to_string(), Some(json!({ "is_active": true }))),
        (reqwest::Method::DELETE, "/v2/access-tokens/00000000-0000-0000-0000-000000000000".to_string(), None),
    ] {
        let res = call(&app, method.clone(), &path, &via_pat, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(res.json::<Value>().await.unwrap(), forbidden);
    }
    let me: Value = call(&app, reqwest::Method::GET, "/v2/user", &via_pat, None).await.json().await.unwrap();
    assert_eq!((me["username"].as_str(), me["plan"].as_str()), (Some("alice"), Some("personal")));
    // deactivating the token ends its JWT at once
    let uid = app.user("alice").id;
    let uuid = berth::tokens::page(&mut app.conn(), uid, 1, 1).unwrap()[0].uuid.clone();
    berth::tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/user", &via_pat, None).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn with_2fa_the_password_yields_only_a_single_use_challenge() {
    let app = spawn_app().await;
    let (_, secret, codes) = app.with_2fa("alice").await;
    for (path, body) in [("/v2/users/login", json!({ "username": "alice", "password": PASSWORD })), ("/v2/auth/token", json!({ "identifier": "alice", "secret": PASSWORD }))] {
        let res = post(&app, path, None, body).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["detail"], "Require secondary authentication on MFA enabled account");
        assert!(v.get("token").is_none() && v.get("access_token").is_none());
        assert!(v["login_2fa_token"].as_str().unwrap().len() >= 40);
    }
    let challenge = |app: &TestApp| {
        let url = format!("{}/v2/users/login", app.url);
        async move {
            let v: Value = reqwest::Client::new().post(url).json(&json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap().json().await.unwrap();
            v["login_2fa_token"].as_str().unwrap().to_string()
        }
    };
    let c = challenge(&app).await;
    let wrong = post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": "000000x" })).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": app.fresh_code(&secret) })).await;
    assert_eq!(ok.status(), StatusCode::OK, "a wrong code does not spend the challenge");
    let t = ok.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/access-tokens", &t, None).await.status(), StatusCode::OK);
    let again = post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": app.fresh_code(&secret) })).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "single use");
    // a recovery code completes it too; an expired challenge does not
    let c = challenge(&app).await;
    assert_eq!(post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": codes[0] })).await.status(), StatusCode::OK);
    let c = challenge(&app).await;
    app.clock.advance(301);
    assert_eq!(post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": app.fresh_code(&secret) })).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_login_2fa_token_from_before_a_password_change_is_refused_even_with_the_right_code() {
    let app = spawn_app().await;
    let (b, secret, _) = app.with_2fa("alice").await;
    let challenge = |password: &'static str| {
        let url = format!("{}/v2/users/login", app.url);
        async move {
            let res = reqwest::Client::new().post(url).json(&json!({ "username": "alice", "password": password })).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            res.json::<Value>().await.unwrap()["login_2fa_token"].as_str().unwrap().to_string()
        }
    };
    let refused = |c: String, why: &'static str| {
        let (app, code) = (&app, app.fresh_code(&secret));
        async move {
            let res = post(app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": code })).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
            let v: Value = res.json().await.unwrap();
            assert!(v.get("token").is_none(), "{why}: {v}");
        }
    };
    // changed through the web, in a signed-in browser
    let (second, third) = ("a brand new passphrase", "the operator's passphrase");
    audit::secret(second);
    audit::secret(third);
    let c = challenge(PASSWORD).await;
    let res = b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", second), ("confirm_password", second)]).await;
    assert_eq!(location(&res), "/settings/account");
    refused(c, "after a change on the web").await;
    // set by an operator (the domain function `berth user set-password` calls)
    let c = challenge(second).await;
    let hash = berth::accounts::password::hash(&secrecy::SecretString::from(third.to_string()));
    berth::accounts::set_password(&mut app.conn(), app.user("alice").id, &hash, None).unwrap();
    refused(c, "after berth user set-password").await;
    // positive control: a challenge begun after the change completes
    let c = challenge(third).await;
    let res = post(&app, "/v2/users/2fa-login", None, json!({ "login_2fa_token": c, "code": app.fresh_code(&secret) })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["token"].is_string());
}

#[actix_web::test]
async fn a_password_change_ends_password_jwts_at_once() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let t = jwt(&app, "alice", PASSWORD).await;
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/user", &t, None).await.status(), StatusCode::OK);
    let new = "a newer passphrase here";
    b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/user", &t, None).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn plan_limits_scopes_and_bad_bodies_get_json_answers() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let t = jwt(&app, "alice", PASSWORD).await;
    let res = post(&app, "/v2/access-tokens", Some(&t), json!({ "token_label": "x", "scopes": ["repo:read"] })).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a scope the personal plan lacks");
    new_token(&app, &t, "only one", "repo:admin").await;
    let res = post(&app, "/v2/access-tokens", Some(&t), json!({ "token_label": "two", "scopes": ["repo:admin"] })).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the plan limit");
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    // a lower scope beside a higher one is ignored
    assert_eq!(new_token(&app, &t, "mixed", "repo:read").await["scopes"], json!(["repo:read"]));
    let v: Value = post(&app, "/v2/access-tokens", Some(&t), json!({ "token_label": "m", "scopes": ["repo:read", "repo:write"] })).await.json().await.unwrap();
    assert_eq!(v["scopes"], json!(["repo:write"]));
    for (body, field) in [
        (json!({ "token_label": "", "scopes": ["repo:read"] }), "token_label"),
        (json!({ "token_label": "x".repeat(101), "scopes": ["repo:read"] }), "token_label"),
        (json!({ "token_label": "ok", "scopes": ["repo:root"] }), "scopes"),
        (json!({ "token_label": "ok", "scopes": ["repo:read"], "expires_at": "2000-01-01T00:00:00Z" }), "expires_at"),
        (json!({ "token_label": "ok", "scopes": ["repo:read"], "expires_at": "tomorrow" }), "expires_at"),
    ] {
        let res = post(&app, "/v2/access-tokens", Some(&t), body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.json::<Value>().await.unwrap()["fields"].get(field).is_some(), "{field}");
    }
    for (body, needle) in [(json!({ "token_label": 5 }), "token_label"), (json!({ "scopes": [] }), "token_label"), (json!({ "token_label": "x", "extra": 1 }), "extra")] {
        let res = post(&app, "/v2/access-tokens", Some(&t), body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains(needle), "{needle}");
    }
    let client = reqwest::Client::new();
    let res = client.post(format!("{}/v2/access-tokens", app.url)).bearer_auth(&t).header("content-type", "application/json").body(vec![b'x'; 1 << 20]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = client.post(format!("{}/v2/access-tokens", app.url)).bearer_auth(&t).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // another user's uuid is a 404 and changes nothing
    let bob = jwt(&app, "bobby", PASSWORD).await;
    let bobs = new_token(&app, &bob, "bob's", "repo:admin").await["uuid"].as_str().unwrap().to_string();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        assert_eq!(call(&app, method, &format!("/v2/access-tokens/{bobs}"), &t, None).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(call(&app, reqwest::Method::PATCH, &format!("/v2/access-tokens/{bobs}"), &t, Some(json!({ "is_active": false }))).await.status(), StatusCode::NOT_FOUND);
    assert!(berth::tokens::find_owned(&mut app.conn(), app.user("bobby").id, &bobs).unwrap().unwrap().is_active);
}

/// `expires_at` follows the token form's one-year rule: no later than the end of the day
/// (UTC) one year from today, and not passed — the same sentences as the form's.
#[actix_web::test]
async fn an_api_expiry_follows_the_forms_one_year_rule() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    let t = jwt(&app, "alice", PASSWORD).await;
    let today = chrono::DateTime::from_timestamp(app.state.now(), 0).unwrap().date_naive();
    let last_day = today + chrono::Days::new(365);
    let body = |at: String| json!({ "token_label": "a year", "scopes": ["repo:read"], "expires_at": at });
    let res = post(&app, "/v2/access-tokens", Some(&t), body(format!("{last_day}T23:59:59Z"))).await;
    assert_eq!(res.status(), StatusCode::CREATED, "the last second of the last day");
    assert_eq!(res.json::<Value>().await.unwrap()["expires_at"].as_str().unwrap(), format!("{last_day}T23:59:59.000000Z"));
    for (at, why) in [(format!("{}T00:00:00Z", last_day + chrono::Days::new(1)), "at most one year ahead"), ("2000-01-01T00:00:00Z".to_string(), "has not passed")] {
        let res = post(&app, "/v2/access-tokens", Some(&t), body(at.clone())).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{at}");
        let said = res.json::<Value>().await.unwrap()["fields"]["expires_at"][0].as_str().unwrap().to_string();
        assert!(said.contains(why), "{at}: {said}");
    }
}

#[actix_web::test]
async fn everything_under_v2_answers_json_and_refuses_foreign_jwts() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let client = reqwest::Client::new();
    let json_ct = |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().starts_with("application/json");
    let r = client.get(format!("{}/v2/nothing/here", app.url)).send().await.unwrap();
    assert!(r.status() == StatusCode::NOT_FOUND && json_ct(&r));
    let r = client.get(format!("{}/v2/users/login", app.url)).send().await.unwrap();
    assert!(r.status() == StatusCode::METHOD_NOT_ALLOWED && json_ct(&r));
    let r = post(&app, "/v2/users/login", None, json!({ "username": "alice", "password": "wrong password x" })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "detail": "Incorrect authentication credentials" }));
    let r = post(&app, "/v2/users/login", None, json!({ "username": "alice" })).await;
    assert!(r.status() == StatusCode::BAD_REQUEST && r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("password"));
    // a registry token, a forged JWT and an expired one are all refused
    let registry: Value = client.get(format!("{}/token?service=registry.local", app.url)).basic_auth("alice", Some(PASSWORD)).send().await.unwrap().json().await.unwrap();
    let t = jwt(&app, "alice", PASSWORD).await;
    let mut forged = t.clone();
    forged.push('x');
    for bad in [registry["token"].as_str().unwrap(), forged.as_str(), "garbage"] {
        let r = call(&app, reqwest::Method::GET, "/v2/user", bad, None).await;
        assert!(r.status() == StatusCode::UNAUTHORIZED && json_ct(&r));
    }
    app.clock.advance(601);
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/user", &t, None).await.status(), StatusCode::UNAUTHORIZED, "10 minutes");
}

#[actix_web::test]
async fn repositories_of_a_namespace_are_listed_all_for_the_owner_and_public_ones_for_others() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    a.submit("/repositories", "/repositories", &[("path", "public-app"), ("visibility", "public")]).await;
    a.submit("/repositories", "/repositories", &[("path", "secret-app"), ("visibility", "private")]).await;
    app.signed_up("bobby").await;
    let t = jwt(&app, "alice", PASSWORD).await;
    let pat = new_token(&app, &t, "reader", "repo:admin").await["token"].as_str().unwrap().to_string();
    let via_pat = jwt(&app, "alice", &pat).await;
    let own: Value = call(&app, reqwest::Method::GET, "/v2/repositories/alice/", &via_pat, None).await.json().await.unwrap();
    assert_eq!(own["count"], 2, "a PAT-derived JWT may read its own namespace");
    assert_eq!(own["results"][0], json!({ "name": "public-app", "namespace": "alice", "is_private": false, "last_updated": null }));
    let bob = jwt(&app, "bobby", PASSWORD).await;
    let theirs: Value = call(&app, reqwest::Method::GET, "/v2/repositories/alice/", &bob, None).await.json().await.unwrap();
    assert_eq!(theirs["count"], 1);
    assert_eq!(theirs["results"][0]["name"], "public-app");
    let none: Value = call(&app, reqwest::Method::GET, "/v2/repositories/ghost/", &bob, None).await.json().await.unwrap();
    assert_eq!(none["count"], 0);
}

#[actix_web::test]
async fn every_answer_carries_the_rate_limit_and_the_excess_gets_429() {
    let app = spawn_app_with(|s| s.api_rate_limit = 5).await;
    app.signed_up("alice").await;
    let t = jwt(&app, "alice", PASSWORD).await; // anonymous request 1 of this IP
    for i in 0..5 {
        let r = call(&app, reqwest::Method::GET, "/v2/user", &t, None).await;
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        assert_eq!(r.headers()["x-ratelimit-limit"], "5");
        assert_eq!(r.headers()["x-ratelimit-remaining"].to_str().unwrap(), (4 - i).to_string());
        assert!(r.headers()["x-ratelimit-reset"].to_str().unwrap().parse::<i64>().unwrap() > app.state.now());
    }
    let r = call(&app, reqwest::Method::GET, "/v2/user", &t, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    // per user: another user (and anonymous clients) have their own budget
    let r = post(&app, "/v2/users/login", None, json!({ "username": "alice", "password": "wrong password x" })).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "3", "the anonymous budget of this IP");
    app.clock.advance(60);
    assert_eq!(call(&app, reqwest::Method::GET, "/v2/user", &t, None).await.status(), StatusCode::OK, "a new minute");
}

/// The listing honours the credential's scope exactly as the registry's `/token` does: a
/// Public Repo Read-only token sees only the public repositories of its own namespace,
/// a Read-only token and the password see the private ones too.
#[actix_web::test]
async fn a_public_read_only_pat_lists_only_public_repositories_of_its_own_namespace() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Pro).unwrap();
    a.submit("/repositories", "/repositories", &[("path", "public-app"), ("visibility", "public")]).await;
    a.submit("/repositories", "/repositories", &[("path", "secret-app"), ("visibility", "private")]).await;
    let t = jwt(&app, "alice", PASSWORD).await;
    let listed = |bearer: String| {
        let url = format!("{}/v2/repositories/alice/", app.url);
        async move {
            let res = reqwest::Client::new().get(url).bearer_auth(bearer).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let v: Value = res.json().await.unwrap();
            let names: Vec<String> = v["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
            (names, v["count"].as_i64().unwrap())
        }
    };
    let public_read = new_token(&app, &t, "public reader", "repo:public_read").await["token"].as_str().unwrap().to_string();
    let read = new_token(&app, &t, "reader", "repo:read").await["token"].as_str().unwrap().to_string();
    let both = (vec!["public-app".to_string(), "secret-app".to_string()], 2);
    assert_eq!(listed(jwt(&app, "alice", &public_read).await).await, (vec!["public-app".to_string()], 1), "a Public Repo Read-only PAT");
    assert_eq!(listed(jwt(&app, "alice", &read).await).await, both, "a Read-only PAT");
    assert_eq!(listed(t).await, both, "the password");
    // /token agrees: the same PATs, a pull of the private repository
    let pull = |secret: String| {
        let url = format!("{}/token?service=registry.local&scope=repository:alice/secret-app:pull", app.url);
        async move {
            let body: Value = reqwest::Client::new().get(url).basic_auth("alice", Some(secret)).send().await.unwrap().json().await.unwrap();
            crate::registry_token::claims(body["token"].as_str().unwrap())["access"][0]["actions"].clone()
        }
    };
    assert_eq!(pull(public_read).await, json!([]));
    assert_eq!(pull(read).await, json!(["pull"]));
}
