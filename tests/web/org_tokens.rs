//! Organization access tokens through the JSON API (`/v2/orgs/{org}/access-tokens`, Docker
//! Hub's fields), the JWT they buy at `/v2/auth/token`, and their grants at `/token`
//! (decoded from the registry JWT). The real registry is in tests/registry.rs.

use berth::accounts::Plan;
use berth::orgs::{self, Actor};
use berth::owners::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use berth_test_support::*;

use crate::registry_token::claims;

const OAT_FORBIDDEN: &str = "access to the resource is forbidden with organization access token";
const PAT_FORBIDDEN: &str = "access to the resource is forbidden with personal access token";

async fn call(app: &TestApp, method: Method, path: &str, bearer: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", app.url)).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A JWT of `identifier` with `secret` (a password, a PAT, an organization's token).
async fn login(app: &TestApp, identifier: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}/v2/auth/token", app.url)).json(&json!({ "identifier": identifier, "secret": secret })).send().await.unwrap()
}

async fn jwt(app: &TestApp, identifier: &str, secret: &str) -> String {
    let res = login(app, identifier, secret).await;
    assert_eq!(res.status(), StatusCode::OK, "login of {identifier}");
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
}

/// alice (signed up, Team plan) owns organization `acme` (`plan`) with private
/// repositories `acme/app` and `acme/tool` and public `acme/site`; returns her password JWT.
async fn acme(app: &TestApp, plan: Plan) -> String {
    app.signed_up("alice").await;
    let alice = app.user("alice");
    berth::accounts::set_plan(&mut app.conn(), alice.id, Plan::Team).unwrap();
    let org = orgs::create(&mut app.conn(), "acme", &alice, plan, &Actor::cli(), app.state.now()).unwrap();
    for (path, public) in [("app", false), ("tool", false), ("site", true)] {
        berth::repositories::create(&mut app.conn(), &org, path, public, app.state.now()).unwrap();
    }
    jwt(app, "alice", PASSWORD).await
}

fn repo(path: &str, scopes: &[&str]) -> Value {
    json!({ "type": "TYPE_REPO", "path": path, "scopes": scopes })
}

async fn create(app: &TestApp, bearer: &str, org: &str, body: Value) -> reqwest::Response {
    call(app, Method::POST, &format!("/v2/orgs/{org}/access-tokens"), bearer, Some(body)).await
}

/// A token of acme made through the API: its JSON answer (plaintext included).
async fn made(app: &TestApp, bearer: &str, label: &str, resources: Value) -> Value {
    let res = create(app, bearer, "acme", json!({ "label": label, "resources": resources })).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    audit::secret(body["token"].as_str().unwrap());
    body
}

fn org_token_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    berth::db::schema::org_access_tokens::table.count().get_result(&mut app.conn()).unwrap()
}

#[actix_web::test]
async fn an_owner_manages_organization_tokens_with_docker_hubs_fields() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Team).await;
    let res = create(
        &app,
        &t,
        "acme",
        json!({ "label": "ci on build-01", "description": "pulls the app", "resources": [repo("acme/app", &["scope-image-push"]), repo("*/*/public", &["scope-image-pull"])], "expires_at": null }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    audit::secret(&secret);
    assert!(regex::Regex::new("^berth_oat_[0-9A-Za-z]{38}$").unwrap().is_match(&secret));
    for field in ["id", "label", "description", "resources", "expires_at", "is_active", "created_by", "created_at", "last_used_at"] {
        assert!(created.get(field).is_some(), "{field}");
    }
    assert_eq!((created["label"].as_str(), created["description"].as_str(), created["created_by"].as_str()), (Some("ci on build-01"), Some("pulls the app"), Some("alice")));
    assert_eq!(
        created["resources"],
        json!([{ "type": "TYPE_REPO", "path": "acme/app", "scopes": ["scope-image-pull", "scope-image-push"] }, { "type": "TYPE_REPO", "path": "*/*/public", "scopes": ["scope-image-pull"] }]),
        "push implies pull"
    );
    assert!(created["last_used_at"].is_null() && created["expires_at"].is_null() && created["is_active"] == true);
    let id = created["id"].as_str().unwrap().to_string();
    made(&app, &t, "second", json!([repo("acme/*", &["scope-image-pull"])])).await;

    let list: Value = call(&app, Method::GET, "/v2/orgs/acme/access-tokens?page=1&page_size=1", &t, None).await.json().await.unwrap();
    assert_eq!(list["total"], 2);
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert_eq!(list["results"][0]["label"], "second", "newest first");
    assert!(list["results"][0].get("token").is_none(), "the plaintext only in the create answer");
    assert!(list["next"].as_str().unwrap().ends_with("/v2/orgs/acme/access-tokens?page=2&page_size=1"));
    assert!(list["previous"].is_null());
    let one: Value = call(&app, Method::GET, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.json().await.unwrap();
    assert_eq!((one["label"].as_str(), one.get("token")), (Some("ci on build-01"), None));

    let patched = call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(json!({ "label": "renamed", "description": "", "is_active": false }))).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!((patched["label"].as_str(), patched["description"].as_str(), patched["is_active"].as_bool()), (Some("renamed"), Some(""), Some(false)));
    for fixed in [json!({ "resources": [repo("acme/*", &["scope-image-delete"])] }), json!({ "expires_at": "2027-01-01T00:00:00Z" })] {
        let res = call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(fixed)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("fixed at creation"));
    }
    let still: Value = call(&app, Method::GET, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.json().await.unwrap();
    assert_eq!(still["resources"], created["resources"], "a refused change changes nothing");

    assert_eq!(call(&app, Method::DELETE, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&app, Method::GET, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(call(&app, Method::DELETE, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.owner("acme").token_count, 1);
    let (log, _) = berth::orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 50).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for a in ["oat.create", "oat.update", "oat.deactivate", "oat.delete"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(log.iter().filter(|e| e.action.starts_with("oat.")).all(|e| e.actor == "alice"));
    assert!(log.iter().all(|e| !e.data.contains(&secret[10..])), "the audit log holds no secret");
}

#[actix_web::test]
async fn bad_resources_labels_and_expiries_are_a_400_with_a_detail_and_create_nothing() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Team).await;
    app.signed_up("bobby").await;
    berth::repositories::create(&mut app.conn(), &app.owner("bobby"), "app", true, app.state.now()).unwrap();
    let pull = &["scope-image-pull"];
    let many: Vec<Value> = (0..51).map(|i| repo(&format!("acme/r{i}"), pull)).collect();
    let too_far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    for (body, says) in [
        (json!({ "label": "x", "resources": [repo("bobby/app", pull)] }), "bobby/app is not a repository of acme"),
        (json!({ "label": "x", "resources": [repo("acme/ghost", pull)] }), "acme/ghost is not a repository of acme"),
        (json!({ "label": "x", "resources": [repo("acme/app", &["scope-image-root"])] }), "Unknown scope"),
        (json!({ "label": "x", "resources": [{ "type": "TYPE_ORG", "path": "acme", "scopes": ["scope-org-member-read"] }] }), "TYPE_ORG"),
        (json!({ "label": "x", "resources": [repo("*/*/public", &["scope-image-push"])] }), "can only be pulled"),
        (json!({ "label": "x", "resources": [] }), "at least one resource"),
        (json!({ "label": "x", "resources": many }), "at most 50 repositories"),
        (json!({ "label": "  ", "resources": [repo("acme/app", pull)] }), "Add a label"),
        (json!({ "label": "x\u{202E}y", "resources": [repo("acme/app", pull)] }), "The label cannot"),
        (json!({ "label": "x", "resources": [repo("acme/app", pull)], "expires_at": too_far }), "at most one year ahead"),
        (json!({ "label": "x", "resources": [repo("acme/app", pull)], "expires_at": "2001-01-01T00:00:00Z" }), "has not passed"),
        (json!({ "label": "x", "resources": [repo("acme/app", pull)], "expires_at": "soon" }), "RFC 3339"),
        (json!({ "label": "x" }), "resources"),
        (json!({ "label": "x", "resources": [repo("acme/app", pull)], "scopes": ["repo:admin"] }), "unknown field"),
    ] {
        let res = create(&app, &t, "acme", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    assert_eq!((org_token_rows(&app), app.owner("acme").token_count), (0, 0), "bad input changes nothing");
    // the positive control: the same form, right
    made(&app, &t, "x", json!([repo("acme/app", pull)])).await;
    assert_eq!(org_token_rows(&app), 1);
}

#[actix_web::test]
async fn only_owners_manage_tokens_and_no_token_derived_jwt_may() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Team).await;
    let token = made(&app, &t, "ci", json!([repo("acme/app", &["scope-image-pull"])])).await;
    let id = token["id"].as_str().unwrap().to_string();
    let org = app.owner("acme");
    app.signed_up("edith").await;
    app.signed_up("nancy").await;
    orgs::add_member(&mut app.conn(), &org, &app.user("edith"), Role::Editor, None, &Actor::cli(), app.state.now()).unwrap();
    let editor = jwt(&app, "edith", PASSWORD).await;
    let outsider = jwt(&app, "nancy", PASSWORD).await;
    let pat = {
        let uid = app.user("alice").id;
        let new = berth::tokens::NewToken { description: "laptop".into(), scope: berth::tokens::Scope::Admin, expires_at: None };
        berth::tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap().1.expose().to_string()
    };
    let via_pat = jwt(&app, "alice", &pat).await;
    let via_oat = jwt(&app, "acme", token["token"].as_str().unwrap()).await;
    let requests = [
        (Method::GET, "/v2/orgs/acme/access-tokens".to_string(), None),
        (Method::POST, "/v2/orgs/acme/access-tokens".to_string(), Some(json!({ "label": "x", "resources": [repo("acme/app", &["scope-image-pull"])] }))),
        (Method::GET, format!("/v2/orgs/acme/access-tokens/{id}"), None),
        (Method::PATCH, format!("/v2/orgs/acme/access-tokens/{id}"), Some(json!({ "is_active": false }))),
        (Method::DELETE, format!("/v2/orgs/acme/access-tokens/{id}"), None),
    ];
    for (method, path, body) in &requests {
        let answer = |res: reqwest::Response| async move { (res.status(), res.json::<Value>().await.unwrap()["detail"].as_str().unwrap_or_default().to_string()) };
        let (status, detail) = answer(call(&app, method.clone(), path, &editor, body.clone()).await).await;
        assert_eq!((status, detail.as_str()), (StatusCode::FORBIDDEN, "Only an owner of the organization can do this."), "editor: {method} {path}");
        assert_eq!(call(&app, method.clone(), path, &outsider, body.clone()).await.status(), StatusCode::NOT_FOUND, "non-member: {method} {path}");
        assert_eq!(answer(call(&app, method.clone(), path, &via_pat, body.clone()).await).await, (StatusCode::FORBIDDEN, PAT_FORBIDDEN.to_string()), "PAT: {method} {path}");
        assert_eq!(answer(call(&app, method.clone(), path, &via_oat, body.clone()).await).await, (StatusCode::FORBIDDEN, OAT_FORBIDDEN.to_string()), "OAT: {method} {path}");
    }
    assert_eq!(org_token_rows(&app), 1, "nothing was created");
    let one: Value = call(&app, Method::GET, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.json().await.unwrap();
    assert_eq!(one["is_active"], true, "nor changed (the positive control: the owner reads it)");
    // a demoted owner loses it at the next request
    app.signed_up("owen").await;
    orgs::add_member(&mut app.conn(), &org, &app.user("owen"), Role::Owner, None, &Actor::cli(), app.state.now()).unwrap();
    let owen = jwt(&app, "owen", PASSWORD).await;
    assert_eq!(call(&app, Method::GET, "/v2/orgs/acme/access-tokens", &owen, None).await.status(), StatusCode::OK);
    orgs::set_role(&mut app.conn(), &org, "owen", Role::Member, &Actor::cli(), app.state.now()).unwrap();
    assert_eq!(call(&app, Method::GET, "/v2/orgs/acme/access-tokens", &owen, None).await.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn an_organization_tokens_jwt_lists_what_it_covers_and_is_refused_everywhere_else() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Team).await;
    app.signed_up("bobby").await;
    let bob_home = app.owner("bobby");
    berth::repositories::create(&mut app.conn(), &bob_home, "open", true, app.state.now()).unwrap();
    berth::repositories::create(&mut app.conn(), &bob_home, "closed", false, app.state.now()).unwrap();
    let narrow = made(&app, &t, "app only", json!([repo("acme/app", &["scope-image-pull"])])).await;
    let wide = made(&app, &t, "everything", json!([repo("acme/*", &["scope-image-pull"]), repo("*/*/public", &["scope-image-pull"])])).await;
    let (narrow_secret, wide_secret) = (narrow["token"].as_str().unwrap(), wide["token"].as_str().unwrap());
    assert_eq!(login(&app, "alice", narrow_secret).await.status(), StatusCode::UNAUTHORIZED, "a member's name is not the organization's");
    assert_eq!(login(&app, "acme", &narrow_secret.replace("berth_oat_", "berth_pat_")).await.status(), StatusCode::UNAUTHORIZED);
    let narrow_jwt = jwt(&app, "acme", narrow_secret).await;
    let wide_jwt = jwt(&app, "acme", wide_secret).await;
    let names = |v: Value| v["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let listed = |bearer: String, ns: &'static str| {
        let app = &app;
        async move {
            let res = call(app, Method::GET, &format!("/v2/repositories/{ns}/"), &bearer, None).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(names(listed(narrow_jwt.clone(), "acme").await), ["app"]);
    assert!(names(listed(narrow_jwt.clone(), "bobby").await).is_empty(), "no public pull without */*/public");
    let all = listed(wide_jwt.clone(), "acme").await;
    assert_eq!((names(all.clone()), all["count"].as_i64()), (vec!["app".to_string(), "site".into(), "tool".into()], Some(3)));
    assert_eq!(names(listed(wide_jwt.clone(), "bobby").await), ["open"], "another namespace: its public repositories only");
    for (method, path) in [(Method::GET, "/v2/user"), (Method::GET, "/v2/access-tokens"), (Method::POST, "/v2/access-tokens"), (Method::GET, "/v2/orgs/acme/access-tokens")] {
        let body = (method == Method::POST).then(|| json!({ "token_label": "x" }));
        let res = call(&app, method.clone(), path, &wide_jwt, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(res.json::<Value>().await.unwrap()["detail"], OAT_FORBIDDEN);
    }
    // deactivating the token ends its JWT at once
    let id = narrow["id"].as_str().unwrap();
    call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(json!({ "is_active": false }))).await;
    assert_eq!(call(&app, Method::GET, "/v2/repositories/acme/", &narrow_jwt, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, "acme", narrow_secret).await.status(), StatusCode::UNAUTHORIZED);
}

/// (actions granted on `name` at `/token`) for `user` with `secret`, asking pull, push, delete.
async fn granted(app: &TestApp, user: &str, secret: &str, name: &str) -> Result<Vec<String>, (StatusCode, String)> {
    let res = reqwest::Client::new()
        .get(format!("{}/token?service=registry.local&scope=repository:{name}:pull,push,delete", app.url))
        .basic_auth(user, Some(secret))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    if status != StatusCode::OK {
        return Err((status, body["details"].as_str().unwrap_or_default().to_string()));
    }
    let c = claims(body["token"].as_str().unwrap());
    assert_eq!(c["sub"], user);
    Ok(c["access"][0]["actions"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default())
}

#[actix_web::test]
async fn at_the_token_server_an_organization_token_gets_its_resources_on_existing_repositories_of_its_organization() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Business).await;
    app.signed_up("bobby").await;
    let bob_home = app.owner("bobby");
    berth::repositories::create(&mut app.conn(), &bob_home, "open", true, app.state.now()).unwrap();
    berth::repositories::create(&mut app.conn(), &bob_home, "closed", false, app.state.now()).unwrap();
    let token = made(
        &app,
        &t,
        "ci",
        json!([repo("acme/app", &["scope-image-push"]), repo("acme/tool", &["scope-image-pull", "scope-image-delete"]), repo("*/*/public", &["scope-image-pull"])]),
    )
    .await;
    let secret = token["token"].as_str().unwrap();
    let all = |a: &[&str]| Ok(a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    for (name, want) in [
        ("acme/app", all(&["pull", "push"])),
        ("acme/tool", all(&["pull", "push", "delete"])),
        ("acme/site", all(&["pull"])),
        ("acme/new", all(&[])),
        ("bobby/open", all(&["pull"])),
        ("bobby/closed", all(&[])),
        ("ghost/app", all(&[])),
    ] {
        assert_eq!(granted(&app, "acme", secret, name).await, want, "{name}");
    }
    // `docker login -u acme`: no scope, a JWT with an empty access list
    let res = reqwest::Client::new().get(format!("{}/token?service=registry.local&account=acme", app.url)).basic_auth("acme", Some(secret)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(claims(res.json::<Value>().await.unwrap()["token"].as_str().unwrap())["access"], json!([]));
    // any other name is refused, and nothing is created by a refused push
    for wrong in ["alice", "bobby", "acm"] {
        assert_eq!(granted(&app, wrong, secret, "acme/app").await, Err((StatusCode::UNAUTHORIZED, "incorrect username or password".into())), "{wrong}");
    }
    assert!(berth::repositories::list(&mut app.conn(), app.owner("acme").id).unwrap().iter().all(|r| r.name != "acme/new"));
    // the first use is the token's last use, and an audit entry from its IP
    let listed: Value = call(&app, Method::GET, &format!("/v2/orgs/acme/access-tokens/{}", token["id"].as_str().unwrap()), &t, None).await.json().await.unwrap();
    assert!(listed["last_used_at"].is_string());
    let used = berth::orgs::events::Filter { action: Some(berth::orgs::events::Action::TokenUsedFromNewIp), ..Default::default() };
    assert_eq!(berth::orgs::events::list(&mut app.conn(), app.owner("acme").id, &used, 1, 10).unwrap().1, 1);
    // deactivated, then deleted: refused with its reason to its holder, then unknown
    let id = token["id"].as_str().unwrap();
    call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(json!({ "is_active": false }))).await;
    assert_eq!(granted(&app, "acme", secret, "acme/app").await, Err((StatusCode::UNAUTHORIZED, "access token is deactivated".into())));
    call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(json!({ "is_active": true }))).await;
    assert_eq!(granted(&app, "acme", secret, "acme/app").await, all(&["pull", "push"]), "active again");
    call(&app, Method::DELETE, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await;
    assert_eq!(granted(&app, "acme", secret, "acme/app").await, Err((StatusCode::UNAUTHORIZED, "incorrect username or password".into())));
}

#[actix_web::test]
async fn an_expired_organization_token_is_refused_and_can_only_be_deleted() {
    let app = spawn_app().await;
    let t = acme(&app, Plan::Team).await;
    let soon = chrono::DateTime::from_timestamp(app.state.now() + 3600, 0).unwrap().to_rfc3339();
    let res = create(&app, &t, "acme", json!({ "label": "short", "resources": [repo("acme/app", &["scope-image-pull"])], "expires_at": soon })).await;
    let token: Value = res.json().await.unwrap();
    let secret = token["token"].as_str().unwrap();
    audit::secret(secret);
    assert!(granted(&app, "acme", secret, "acme/app").await.is_ok());
    app.clock.advance(3601);
    let t = jwt(&app, "alice", PASSWORD).await;
    assert_eq!(granted(&app, "acme", secret, "acme/app").await, Err((StatusCode::UNAUTHORIZED, "access token has expired".into())));
    let id = token["id"].as_str().unwrap();
    let res = call(&app, Method::PATCH, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, Some(json!({ "is_active": true }))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::DELETE, &format!("/v2/orgs/acme/access-tokens/{id}"), &t, None).await.status(), StatusCode::NO_CONTENT);
}

/// Twenty creations at once on a Team organization, which allows ten: exactly ten are
/// made, and the kept count says so (the organization's row lock on PostgreSQL, the write
/// lock on SQLite).
#[actix_web::test]
async fn the_plan_limit_holds_under_twenty_concurrent_creations() {
    let app = spawn_app_with(|s| s.api_rate_limit = 1_000).await;
    let t = acme(&app, Plan::Team).await;
    let attempts = (0..20).map(|i| {
        let (app, t) = (&app, t.clone());
        async move { create(app, &t, "acme", json!({ "label": format!("t{i}"), "resources": [repo("acme/app", &["scope-image-pull"])] })).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for res in answers {
        match res.status() {
            StatusCode::CREATED => {
                audit::secret(res.json::<Value>().await.unwrap()["token"].as_str().unwrap());
                created += 1;
            }
            StatusCode::FORBIDDEN => assert!(res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().contains("allows 10 organization access tokens")),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((created, org_token_rows(&app), app.owner("acme").token_count), (10, 10, 10));
}
