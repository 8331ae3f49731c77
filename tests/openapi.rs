//! The OpenAPI document at /v2/openapi.json against the running server: schemathesis
//! (PyPI, installed by scripts/test.sh) generates requests from it — valid and invalid —
//! and checks every answer against the document: status codes, content types, schemas,
//! headers, no 5xx. Examples are capped to stay quick and inside the plan and rate limits.

use std::process::Command;

use berth::accounts::Plan;
use berth_test_support::*;

fn which(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(program).is_file())
}

#[actix_web::test]
async fn schemathesis_finds_the_api_true_to_its_openapi_document() {
    // a real registry behind it: a repository's delete reads its tag list first
    let port = berth_test_support::registry::free_port();
    let app = spawn_app_with(|s| {
        s.api_rate_limit = 1_000_000;
        s.registry_url = format!("http://127.0.0.1:{port}");
    })
    .await;
    let blocks = berth_test_support::registry::auth_block_from_berth(&app).await;
    let _registry = berth_test_support::registry::Registry::serve_on(port, &blocks, None).await;
    app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    // the organization the document's examples name (acme, its group devs of id 1, its
    // repository app), so the examples reach past 404
    let (now, cli) = (app.state.now(), berth::orgs::Actor::cli());
    let org = berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &cli, now).unwrap();
    let devs = berth::orgs::teams::create(&mut app.conn(), &org, "devs", "", &cli, now).unwrap();
    assert_eq!(devs.id, 1, "the examples' group_id");
    berth::orgs::repositories::create(&mut app.conn(), "acme", app.user("alice").id, "app", false, &cli, now).unwrap();
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v2/users/login", app.url))
        .json(&serde_json::json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = login["token"].as_str().expect("a JWT").to_string();
    let doc: serde_json::Value = reqwest::get(format!("{}/v2/openapi.json", app.url)).await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v2/users/login",
        "/v2/users/2fa-login",
        "/v2/auth/token",
        "/v2/user",
        "/v2/repositories/{namespace}/",
        "/v2/access-tokens",
        "/v2/access-tokens/{uuid}",
        "/v2/user/orgs/",
        "/v2/user/invites/",
        "/v2/orgs/{org}",
        "/v2/orgs/{org}/members",
        "/v2/orgs/{org}/members/{username}",
        "/v2/orgs/{org}/groups",
        "/v2/orgs/{org}/groups/{group}",
        "/v2/orgs/{org}/groups/{group}/members",
        "/v2/orgs/{org}/groups/{group}/members/{username}",
        "/v2/orgs/{org}/groups/{group}/repositories/",
        "/v2/orgs/{org}/invites",
        "/v2/repositories/{namespace}/{repo}/groups/",
        "/v2/repositories/{namespace}/{repo}/groups/{group_id}",
        "/v2/invites/bulk",
        "/v2/invites/{id}",
        "/v2/invites/{id}/resend",
        "/v2/invites/{id}/accept",
        "/v2/auditlogs/{org}",
        "/v2/auditlogs/{org}/actions",
        "/v2/orgs/{org}/access-tokens",
        "/v2/orgs/{org}/access-tokens/{id}",
        "/v2/api_tokens",
        "/v2/api_tokens/{token_uuid}",
        "/api/billing/v4/accounts/{id}/hub-plan",
        "/v2/repositories/{namespace}/{repo}/",
        "/v2/repositories/{namespace}/{repo}/tags/",
        "/v2/repositories/{namespace}/{repo}/tags/{tag}/",
        "/v2/namespaces/{namespace}/repositories/{repo}/tags",
        "/v2/namespaces/{namespace}/repositories/{repo}/tags/{tag}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let url = format!("{}/v2/openapi.json", app.url);
    // schemathesis keeps a database of examples in its working folder: not in the tree
    let scratch = tempfile::tempdir().unwrap();
    let workdir = scratch.path().to_path_buf();
    let out = actix_web::rt::task::spawn_blocking(move || {
        // `python3 -m schemathesis.cli` is the same program where no `schemathesis` script is on PATH
        let mut cmd = if which("schemathesis") {
            Command::new("schemathesis")
        } else {
            let mut c = Command::new("python3");
            c.args(["-m", "schemathesis.cli"]);
            c
        };
        cmd.args(["run", &url, "-H", &format!("Authorization: Bearer {jwt}"), "--max-examples", "20", "--checks", "all"])
            // The document cannot say "an expiry in the future, at most a year ahead"; such
            // schema-valid requests are refused with 400 by design, so that one check is off.
            .args(["--exclude-checks", "positive_data_acceptance", "--seed", "20261128"])
            .env("NO_COLOR", "1")
            .current_dir(&workdir)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("schemathesis is needed (pip install schemathesis; scripts/test.sh installs it): {e}"));
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    assert!(text.contains("passed"), "{text}");
}
