//! A token's permissions can be changed after creation, within the plan's rules, while it
//! has not expired; the change takes effect at the next `/token` and is in the activity log.

use berth::accounts::Plan;
use berth::activity::Client;
use berth::tokens::{self, NewToken, Scope};
use reqwest::StatusCode;
use serde_json::Value;

use berth_test_support::*;

async fn push_granted(app: &TestApp, token: &str) -> bool {
    let url = format!("{}/token?service=registry.local&scope=repository:alice/app:pull,push", app.url);
    let body: Value = reqwest::Client::new().get(url).basic_auth("alice", Some(token)).send().await.unwrap().json().await.unwrap();
    use base64::Engine;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body["token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap()).unwrap();
    claims["access"][0]["actions"].as_array().unwrap().iter().any(|a| a == "push")
}

#[actix_web::test]
async fn the_edit_page_changes_a_tokens_permissions_within_the_plan_and_logs_it() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let uid = app.user("alice").id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Pro).unwrap();
    let (t, plain) =
        tokens::create(&mut app.conn(), uid, NewToken { description: "ci".into(), scope: Scope::Read, expires_at: None }, &Client::default(), app.state.now()).unwrap();
    audit::secret(plain.expose());
    assert!(!push_granted(&app, plain.expose()).await, "read-only pulls only");
    let page = format!("/settings/tokens/{}/edit", t.uuid);
    let (_, html) = b.get_text(&page).await;
    assert!(html.contains(r#"<option value="repo:read" selected>"#), "the current permission is chosen");
    assert!(html.contains("Pull and push images in your repositories; no deleting."), "each permission explained");
    let res = b.submit(&page, &page, &[("description", "ci"), ("active", "on"), ("scope", "repo:write")]).await;
    assert_eq!(location(&res), "/settings/tokens");
    assert!(push_granted(&app, plain.expose()).await, "the next /token grants push");
    let events: Vec<(String, String)> = berth::activity::list(&mut app.conn(), uid, 1, 50).unwrap().0.into_iter().map(|e| (e.kind, e.detail)).collect();
    assert!(events.iter().any(|(k, d)| k == "token_scope_changed" && d.contains("Read-only → Read & Write")), "{events:?}");

    // down to the personal plan: a scoped permission is refused and the whole form changes nothing
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Personal).unwrap();
    let res = b.submit(&page, &page, &[("description", "renamed"), ("active", "on"), ("scope", "repo:read")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let kept = tokens::find_owned(&mut app.conn(), uid, &t.uuid).unwrap().unwrap();
    assert_eq!((kept.scope.as_str(), kept.description.as_str()), ("repo:write", "ci"), "all or nothing");
    // nonsense is a 422 that changes nothing
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Pro).unwrap();
    let res = b.submit(&page, &page, &[("description", "ci"), ("active", "on"), ("scope", "repo:root")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // an expired token cannot be changed
    app.clock.advance(10);
    let (short, _) = tokens::create(
        &mut app.conn(),
        uid,
        NewToken { description: "short".into(), scope: Scope::Read, expires_at: Some(app.state.now() + 5) },
        &Client::default(),
        app.state.now(),
    )
    .unwrap();
    app.clock.advance(6);
    assert!(matches!(tokens::set_scope(&mut app.conn(), uid, &short.uuid, Scope::Admin, &Client::default(), app.state.now()), Err(berth::Error::Expired)));
}
