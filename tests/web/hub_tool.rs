//! Docker's Hub CLI (`hub-tool` 0.4.6) pointed at Berth (`DOCKER_HUB_API_URL`): a client
//! that sends exactly its requests — its paths (with or without the trailing slash it
//! writes), query strings, bodies as Go marshals them, and its headers (`Accept` and
//! `Content-Type: application/json` on every request, `User-Agent: hub-tool/<version>`,
//! `Authorization: Bearer <JWT>`) — and reads the answers the way its Go structs do: a
//! field of the wrong JSON type, or a time that is not RFC 3339, fails as `encoding/json`
//! would. (hub-tool itself cannot be built here: no Go toolchain, no module proxy.)

use berth::accounts::Plan;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_test_support::*;

const USER_AGENT: &str = "hub-tool/v0.4.6";

struct HubTool {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl HubTool {
    fn new(app: &TestApp) -> HubTool {
        HubTool { base: app.url.clone(), http: reqwest::Client::new(), token: String::new() }
    }

    /// One request as `doRawRequest` builds it; `body` is the JSON text Go would send.
    async fn send(&self, method: Method, path: &str, body: Option<String>) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .header("User-Agent", USER_AGENT);
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        (status, headers, res.text().await.unwrap())
    }

    /// `doRequest`: a 2xx answer's JSON; anything else fails the test with the answer.
    async fn ok(&self, method: Method, path: &str, body: Option<String>) -> Value {
        let (status, _, text) = self.send(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() }
    }

    async fn get(&self, path: &str) -> Value {
        self.ok(Method::GET, path, None).await
    }

    /// `Client.Login`: the password login, then on the 2FA answer the code from `code`.
    /// Returns (token, refresh token) as hub-tool keeps them.
    async fn login(&mut self, username: &str, password: &str, code: impl FnOnce() -> String) -> (String, String) {
        let body = json!({ "username": username, "password": password }).to_string();
        let (status, _, text) = self.send(Method::POST, "/v2/users/login?refresh_token=true", Some(body)).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        let (token, refresh) = if status == StatusCode::OK {
            (string(&v["token"]), String::new())
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
            assert_eq!(v["detail"], "Require secondary authentication on MFA enabled account", "hub-tool compares the words");
            // Go's field order of twoFactorRequest
            let body = format!(r#"{{"code":{},"login_2fa_token":{}}}"#, json!(code()), v["login_2fa_token"]);
            let (status, _, text) = self.send(Method::POST, "/v2/users/2fa-login?refresh_token=true", Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            (string(&v["token"]), string(&v["refresh_token"]))
        };
        self.token = token.clone();
        (token, refresh)
    }
}

/// A Go `string` field: a JSON string, or absent/null (left empty); any other type fails.
fn string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => panic!("not a string: {other}"),
    }
}

/// A Go `int` field: a JSON number (absent or null reads 0).
fn int(v: &Value) -> i64 {
    match v {
        Value::Null => 0,
        other => other.as_i64().unwrap_or_else(|| panic!("not an integer: {other}")),
    }
}

/// A Go `time.Time` field: RFC 3339, or null (the zero time).
fn time(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))),
        other => panic!("not a time: {other}"),
    }
}

/// A Go `[]T` field: a JSON array, or absent/null (empty).
fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        other => panic!("not an array: {other}"),
    }
}

/// `credentials.Auth.TokenExpired`: go-jose reads the JWT's claims unverified; hub-tool
/// logs in again once `exp` is less than a minute away.
fn expires_in(token: &str, now: i64) -> i64 {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert!(header["alg"].is_string());
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    int(&claims["exp"]) - now
}

/// `hubTokenResult` through `convertToken`: the uuid must parse.
fn token_result(v: &Value) -> (uuid::Uuid, bool, String, String, Vec<Value>) {
    let uuid = uuid::Uuid::parse_str(&string(&v["uuid"])).expect("a UUID");
    for f in ["client_id", "creator_ip", "creator_ua", "generated_by"] {
        string(&v[f]);
    }
    assert!(time(&v["created_at"]).is_some());
    time(&v["last_used"]);
    (uuid, v["is_active"].as_bool().expect("is_active"), string(&v["token"]), string(&v["token_label"]), list(&v["scopes"]))
}

#[actix_web::test]
async fn hub_tools_login_account_info_and_repository_list_read_what_they_parse() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let mut hub = HubTool::new(&app);
    let (token, refresh) = hub.login("alice", PASSWORD, || unreachable!("no 2FA")).await;
    assert!(refresh.is_empty(), "no refresh token: hub-tool logs in again with the password it keeps");
    let left = expires_in(&token, app.state.now());
    assert!(left > 60 && left <= 600, "hub-tool keeps the JWT until a minute before exp ({left} s)");

    // `account info`: the profile, the private repositories counted from the listing, the plan
    let user = hub.get("/v2/user/").await;
    let id = string(&user["id"]);
    assert_eq!((string(&user["username"]).as_str(), string(&user["type"]).as_str()), ("alice", "User"));
    string(&user["full_name"]);
    assert!(time(&user["date_joined"]).is_some());
    let (now, alice) = (app.state.now(), app.owner("alice"));
    for (name, pushed) in [("alice/old", now - 3600), ("alice/new", now - 60), ("alice/never", 0)] {
        if pushed > 0 {
            berth::repositories::record_push(&mut app.conn(), alice.id, name, false, pushed).unwrap();
        } else {
            berth::repositories::create(&mut app.conn(), &alice, name.trim_start_matches("alice/"), true, now).unwrap();
        }
    }
    let repos = hub.get("/v2/repositories/alice?page_size=100&page=1&ordering=last_updated").await;
    assert_eq!((int(&repos["count"]), string(&repos["next"])), (3, String::new()));
    let results = list(&repos["results"]);
    let names: Vec<String> = results.iter().map(|r| string(&r["name"])).collect();
    assert_eq!(names, ["new", "old", "never"], "last_updated: the latest push first, never-pushed last");
    for r in &results {
        // each read panics on a JSON type Go would refuse
        let _as_go_reads = (string(&r["description"]), int(&r["pull_count"]), int(&r["star_count"]), time(&r["last_updated"]));
        assert!(r["is_private"].is_boolean());
    }
    assert_eq!(results.iter().filter(|r| r["is_private"] == true).count(), 2);
    let oldest = hub.get("/v2/repositories/alice?page_size=100&page=1&ordering=-last_updated").await;
    assert_eq!(list(&oldest["results"]).iter().map(|r| string(&r["name"])).collect::<Vec<_>>(), ["old", "new", "never"]);
    let by_name = hub.get("/v2/repositories/alice/?ordering=-name").await;
    assert_eq!(list(&by_name["results"]).iter().map(|r| string(&r["name"])).collect::<Vec<_>>(), ["never", "new", "old"], "-name is A to Z on Docker Hub");
    let (status, _, text) = hub.send(Method::GET, "/v2/repositories/alice?ordering=stars", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("ordering"));

    let (status, headers, text) = hub.send(Method::GET, &format!("/api/billing/v4/accounts/{id}/hub-plan"), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(headers.contains_key("x-ratelimit-remaining"), "the API's rate limit counts it");
    let plan: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(string(&plan["name"]), "personal");
    assert_eq!(
        (int(&plan["seats"]), int(&plan["private_repos"]), int(&plan["teams"]), int(&plan["collaborators"]), int(&plan["parallel_builds"])),
        (1, 9999, 0, 9999, 0),
        "9999 prints as unlimited"
    );
    assert!(plan["legacy"].is_boolean() && plan["duration"].is_string());
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Pro).unwrap();
    assert_eq!(hub.get(&format!("/api/billing/v4/accounts/{id}/hub-plan")).await["name"], "pro");

    // someone else's account, an unknown one, a malformed id, no JWT: nothing told
    app.signed_up("bobby").await;
    let bob = app.owner("bobby").id.0;
    for other in [bob.to_string(), "999999".into(), "abc".into()] {
        let (status, _, text) = hub.send(Method::GET, &format!("/api/billing/v4/accounts/{other}/hub-plan"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other}: {text}");
        assert!(serde_json::from_str::<Value>(&text).unwrap()["detail"].is_string());
    }
    let anonymous = HubTool::new(&app);
    assert_eq!(anonymous.send(Method::GET, &format!("/api/billing/v4/accounts/{id}/hub-plan"), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.send(Method::GET, "/v2/user/", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.send(Method::POST, &format!("/api/billing/v4/accounts/{id}/hub-plan"), Some("{}".into())).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn hub_tools_two_factor_login_completes_with_the_code_it_prompts_for() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let mut hub = HubTool::new(&app);
    // a wrong password: hub-tool prints the detail
    let body = json!({ "username": "alice", "password": "wrong horse" }).to_string();
    let (status, _, text) = hub.send(Method::POST, "/v2/users/login?refresh_token=true", Some(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["detail"], "Incorrect authentication credentials");
    // the password, then the code it reads from the terminal (trimmed, as 0.4.6 does)
    let code = app.fresh_code(&secret);
    let (token, refresh) = hub.login("alice", PASSWORD, || code).await;
    assert!(!token.is_empty() && refresh.is_empty());
    assert_eq!(hub.get("/v2/user/").await["username"], "alice");
    // the JWT of a second factor manages tokens (`hub-tool token` asks for the code again)
    let created = hub.ok(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"laptop","is_active":false}"#.into())).await;
    assert!(token_result(&created).1);
    // once the JWT expires, hub-tool logs in again by itself with an empty code: refused,
    // and no failed attempt counted — ten of them leave the right code working
    for _ in 0..10 {
        let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
        let (_, _, text) = hub.send(Method::POST, "/v2/users/login?refresh_token=true", Some(body)).await;
        let challenge = serde_json::from_str::<Value>(&text).unwrap()["login_2fa_token"].clone();
        let (status, _, text) = hub.send(Method::POST, "/v2/users/2fa-login?refresh_token=true", Some(format!(r#"{{"code":"","login_2fa_token":{challenge}}}"#))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    }
    let code = app.fresh_code(&secret);
    assert!(!hub.login("alice", PASSWORD, || code).await.0.is_empty());
    // a wrong code: 401, no JWT
    let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
    let (_, _, text) = hub.send(Method::POST, "/v2/users/login?refresh_token=true", Some(body)).await;
    let challenge = serde_json::from_str::<Value>(&text).unwrap()["login_2fa_token"].clone();
    let (status, _, text) = hub.send(Method::POST, "/v2/users/2fa-login?refresh_token=true", Some(format!(r#"{{"code":"000000","login_2fa_token":{challenge}}}"#))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(serde_json::from_str::<Value>(&text).unwrap().get("token").is_none());
}

#[actix_web::test]
async fn hub_tools_token_commands_make_active_tokens_of_the_plans_broadest_scope_within_its_limit() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let mut hub = HubTool::new(&app);
    hub.login("alice", PASSWORD, || unreachable!()).await;
    // `token create --description ci`: no scopes, always "is_active": false
    let (status, _, text) = hub.send(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"ci","is_active":false}"#.into())).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let (uuid, active, plaintext, label, scopes) = token_result(&created);
    assert!(active, "made active, as Docker Hub made tokens before scopes");
    assert!(plaintext.starts_with("berth_pat_"));
    assert_eq!((label.as_str(), scopes), ("ci", vec![json!("repo:admin")]), "Personal: Read, Write, Delete, its only scope");
    // the token is a working password
    let login = reqwest::Client::new().post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": "alice", "password": plaintext })).send().await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    // the plan's limit (one on Personal): 403, which hub-tool reports as not permitted
    let (status, _, text) = hub.send(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"two","is_active":false}"#.into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(serde_json::from_str::<Value>(&text).unwrap()["detail"].as_str().unwrap().contains("allows 1 access token"), "{text}");
    // a later hub-tool names a scope; Personal has no narrower one
    let (status, _, _) = hub.send(Method::DELETE, &format!("/v2/api_tokens/{uuid}"), None).await;
    assert!(status.is_success(), "hub-tool takes any 2xx (Docker Hub answered 202)");
    let (status, _, text) = hub.send(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"ro","scopes":["repo:read"],"is_active":false}"#.into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert_eq!(app.token_rows(), 0, "nothing made");

    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Pro).unwrap();
    // `token create` without --description: Go omits the label
    let unnamed = hub.ok(Method::POST, "/v2/api_tokens", Some(r#"{"is_active":false}"#.into())).await;
    let (unnamed_uuid, _, _, label, scopes) = token_result(&unnamed);
    assert!(label.starts_with("Created on "), "{label}");
    assert_eq!(scopes, [json!("repo:admin")]);
    let read = hub.ok(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"ro","scopes":["repo:read"],"is_active":false}"#.into())).await;
    assert_eq!(token_result(&read).4, [json!("repo:read")]);
    for bad in [
        r#"{"token_label":"x","scopes":["repo:everything"],"is_active":false}"#,
        r#"{"token_label":"x","is_active":"no"}"#,
        r#"{"token_label":"x","expires":1}"#,
        r#"{"token_label":"  ","is_active":false}"#,
        "[]",
    ] {
        let (status, _, text) = hub.send(Method::POST, "/v2/api_tokens", Some(bad.into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {text}");
    }
    assert_eq!(app.token_rows(), 2);

    // `token ls`: the page hub-tool asks for, the fields it converts, never a plaintext
    let page = hub.get("/v2/api_tokens?page_size=100&page=1").await;
    assert_eq!((int(&page["count"]), string(&page["next"])), (2, String::new()));
    let results = list(&page["results"]);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| token_result(r).2.is_empty()));
    let small = hub.get("/v2/api_tokens?page_size=1&page=1").await;
    assert!(string(&small["next"]).ends_with("/v2/api_tokens?page=2&page_size=1"), "hub-tool --all follows next");
    // `token inspect`, `token deactivate`, `token activate`, `token rm`
    let one = hub.get(&format!("/v2/api_tokens/{unnamed_uuid}")).await;
    assert_eq!(token_result(&one).0, unnamed_uuid);
    let off = hub.ok(Method::PATCH, &format!("/v2/api_tokens/{unnamed_uuid}"), Some(r#"{"is_active":false}"#.into())).await;
    assert!(!token_result(&off).1);
    let on = hub.ok(Method::PATCH, &format!("/v2/api_tokens/{unnamed_uuid}"), Some(r#"{"token_label":"renamed","is_active":true}"#.into())).await;
    assert_eq!((token_result(&on).1, token_result(&on).3), (true, "renamed".to_string()));
    let (status, _, _) = hub.send(Method::DELETE, &format!("/v2/api_tokens/{unnamed_uuid}"), None).await;
    assert!(matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT), "{status}");
    assert_eq!(hub.send(Method::GET, &format!("/v2/api_tokens/{unnamed_uuid}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.send(Method::DELETE, &format!("/v2/api_tokens/{unnamed_uuid}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.token_rows(), 1);
}

#[actix_web::test]
async fn a_jwt_bought_with_a_token_manages_no_token_through_the_hub_tool_paths() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let mut hub = HubTool::new(&app);
    hub.login("alice", PASSWORD, || unreachable!()).await;
    let created = hub.ok(Method::POST, "/v2/api_tokens", Some(r#"{"token_label":"ci","is_active":false}"#.into())).await;
    let (uuid, _, plaintext, _, _) = token_result(&created);
    // `hub-tool login` with the token as the password
    let mut by_token = HubTool::new(&app);
    by_token.login("alice", &plaintext, || unreachable!()).await;
    let user = by_token.get("/v2/user/").await;
    assert_eq!(user["username"], "alice", "reading the profile is fine");
    assert_eq!(by_token.get(&format!("/api/billing/v4/accounts/{}/hub-plan", string(&user["id"]))).await["name"], "personal");
    for (method, path, body) in [
        (Method::GET, "/v2/api_tokens?page_size=100&page=1".to_string(), None),
        (Method::POST, "/v2/api_tokens".to_string(), Some(r#"{"token_label":"more","is_active":false}"#.to_string())),
        (Method::GET, format!("/v2/api_tokens/{uuid}"), None),
        (Method::PATCH, format!("/v2/api_tokens/{uuid}"), Some(r#"{"is_active":false}"#.to_string())),
        (Method::DELETE, format!("/v2/api_tokens/{uuid}"), None),
    ] {
        let (status, _, text) = by_token.send(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["detail"], berth::api::PAT_FORBIDDEN);
    }
    let still = hub.get(&format!("/v2/api_tokens/{uuid}")).await;
    assert!(token_result(&still).1, "the token is unchanged and active");
}

#[actix_web::test]
async fn hub_tools_org_commands_read_members_and_teams_in_the_shapes_they_parse() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    app.signed_up("carol").await;
    let (now, cli) = (app.state.now(), berth::orgs::Actor::cli());
    let acme = berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &cli, now).unwrap();
    berth::orgs::add_member(&mut app.conn(), &acme, &app.user("bobby"), berth::owners::Role::Member, None, &cli, now).unwrap();
    let devs = berth::orgs::teams::create(&mut app.conn(), &acme, "devs", "the developers", &cli, now).unwrap();
    berth::orgs::teams::add_member(&mut app.conn(), &acme, &devs, "bobby", &cli, now).unwrap();
    berth::orgs::create(&mut app.conn(), "globex", &app.user("carol"), Plan::Business, &cli, now).unwrap();
    let mut hub = HubTool::new(&app);
    hub.login("alice", PASSWORD, || unreachable!()).await;

    // `org ls`: the caller's organizations, then for each its teams (each team's members) and members
    let orgs = hub.get("/v2/user/orgs/?page_size=100&page=1").await;
    assert_eq!(string(&orgs["next"]), "");
    let results = list(&orgs["results"]);
    assert_eq!(results.iter().map(|o| string(&o["orgname"])).collect::<Vec<_>>(), ["acme"]);
    for f in ["full_name", "company", "location", "type", "gravatar_email", "gravatar_url", "profile_url", "id"] {
        string(&results[0][f]);
    }
    time(&results[0]["date_joined"]);
    let groups = hub.get("/v2/orgs/acme/groups/?page_size=100&page=1").await;
    let teams = list(&groups["results"]);
    assert_eq!(teams.len(), 1);
    assert_eq!((string(&teams[0]["name"]), string(&teams[0]["description"]), int(&teams[0]["id"])), ("devs".into(), "the developers".into(), i64::from(devs.id)));
    // GetMembersPerTeam reads a bare array, and asks for no page
    let team_members = hub.get("/v2/orgs/acme/groups/devs/members/").await;
    let array = team_members.as_array().expect("a bare array for hub-tool");
    assert_eq!(array.iter().map(|m| (string(&m["username"]), string(&m["full_name"]))).collect::<Vec<_>>(), [("bobby".to_string(), String::new())]);
    // everyone else, and hub-tool asking for a page, keep Docker Hub's paged object
    let paged: Value = reqwest::Client::new().get(format!("{}/v2/orgs/acme/groups/devs/members/", app.url)).bearer_auth(&hub.token).send().await.unwrap().json().await.unwrap();
    assert_eq!((paged["count"].as_i64(), paged["results"][0]["username"].as_str()), (Some(1), Some("bobby")));
    assert_eq!(hub.get("/v2/orgs/acme/groups/devs/members/?page=1").await["count"], 1);
    let members = hub.get("/v2/orgs/acme/members/?page_size=100&page=1").await;
    let people = list(&members["results"]);
    assert_eq!(people.iter().map(|m| string(&m["username"])).collect::<Vec<_>>(), ["alice", "bobby"]);
    for m in &people {
        let _as_go_reads = (string(&m["full_name"]), string(&m["id"]), time(&m["date_joined"]));
    }
    // `account info acme`: the organization, its counts, its plan by the organization's id
    let info = hub.get("/v2/orgs/acme").await;
    assert_eq!(string(&info["orgname"]), "acme");
    assert_eq!((int(&hub.get("/v2/orgs/acme/members/?page_size=1&page=1").await["count"]), int(&hub.get("/v2/orgs/acme/groups/?page_size=1&page=1").await["count"])), (2, 1));
    let org_id = string(&info["id"]);
    let plan = hub.get(&format!("/api/billing/v4/accounts/{org_id}/hub-plan")).await;
    assert_eq!((string(&plan["name"]), int(&plan["seats"]), int(&plan["teams"]), int(&plan["private_repos"])), ("team".into(), 9999, 9999, 9999));
    // one id space for users and organizations, as on Docker Hub: the profile's id is the
    // member list's, and no organization's
    let me = string(&hub.get("/v2/user/").await["id"]);
    assert_eq!(string(&people[0]["id"]), me);
    assert_ne!(me, org_id);
    assert_eq!(hub.get(&format!("/api/billing/v4/accounts/{me}/hub-plan")).await["name"], "personal");
    // an organization one is not in: its plan is not told
    let globex = app.owner("globex").id.0;
    assert_eq!(hub.send(Method::GET, &format!("/api/billing/v4/accounts/{globex}/hub-plan"), None).await.0, StatusCode::NOT_FOUND);
}
