//! /repositories: list, public/private switch, create and delete — and what the switch
//! means at /token.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use berth_test_support::*;

async fn anonymous_pull(app: &TestApp, name: &str) -> bool {
    let url = format!("{}/token?service=registry.local&scope=repository:{name}:pull", app.url);
    let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let part = body["token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    claims["access"][0]["actions"] == serde_json::json!(["pull"])
}

#[actix_web::test]
async fn a_pushed_repository_is_listed_private_and_the_switch_opens_it_to_anonymous_pulls() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    // a push grant records the repository
    let res = reqwest::Client::new()
        .get(format!("{}/token?service=registry.local&scope=repository:alice/app:push,pull", app.url))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, html) = b.get_text("/repositories").await;
    assert!(html.contains(r#"title="alice/app">alice/<wbr>app</code>"#) && html.contains(r#"badge-grey">Private"#), "{html}");
    assert!(!anonymous_pull(&app, "alice/app").await);
    // making it public asks first, and the question changes nothing
    let res = b.submit("/repositories", "/repositories/visibility", &[("name", "alice/app"), ("public", "true")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Anyone, signed in or not, will be able to pull"));
    assert!(!anonymous_pull(&app, "alice/app").await);
    let res = b.submit("/repositories", "/repositories/visibility", &[("name", "alice/app"), ("public", "true"), ("confirm", "yes")]).await;
    assert_eq!(location(&res), "/repositories");
    assert!(anonymous_pull(&app, "alice/app").await);
    let (_, html) = b.get_text("/repositories").await;
    assert!(html.contains(r#"badge-green">Public"#));
    b.submit("/repositories", "/repositories/visibility", &[("name", "alice/app"), ("public", "false")]).await;
    assert!(!anonymous_pull(&app, "alice/app").await);
}

#[actix_web::test]
async fn create_checks_the_name_and_delete_confirms_first() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    for bad in ["", "App", "a..b", "x/", "<script>"] {
        let res = b.submit("/repositories", "/repositories", &[("path", bad), ("visibility", "private")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let res = b.submit("/repositories", "/repositories", &[("path", "tools/cli"), ("visibility", "public")]).await;
    assert_eq!(location(&res), "/repositories");
    assert!(anonymous_pull(&app, "alice/tools/cli").await);
    let res = b.submit("/repositories", "/repositories", &[("path", "tools/cli"), ("visibility", "private")]).await;
    assert!(res.text().await.unwrap().contains("exists already"));
    let res = b.submit("/repositories", "/repositories", &[("path", "x"), ("visibility", "secret")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (_, confirm) = b.get_text("/repositories/delete?name=alice%2Ftools%2Fcli").await;
    assert!(confirm.contains("garbage collection"));
    let res = b.submit("/repositories", "/repositories/delete", &[("name", "alice/tools/cli")]).await;
    assert_eq!(location(&res), "/repositories");
    assert!(!anonymous_pull(&app, "alice/tools/cli").await);
}

#[actix_web::test]
async fn another_users_repository_cannot_be_switched_or_deleted() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    let bob = app.signed_up("bobby").await;
    let res = bob.submit("/repositories", "/repositories/visibility", &[("name", "alice/app"), ("public", "true")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(bob.get("/repositories/delete?name=alice%2Fapp").await.status(), StatusCode::NOT_FOUND);
    let res = bob.submit("/repositories", "/repositories/delete", &[("name", "alice/app")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!anonymous_pull(&app, "alice/app").await);
    let (_, html) = alice.get_text("/repositories").await;
    assert!(html.contains(r#"title="alice/app">alice/<wbr>app</code>"#));
}
