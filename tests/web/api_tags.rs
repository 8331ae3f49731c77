//! The Hub API's tags of a repository: the list (paged, ordered, filtered) and one tag in
//! Docker Hub's shapes, under both of Docker Hub's paths; seen and deleted as `/token`
//! would grant it. (The delete that reaches the registry: `tests/registry_events.rs`.)

use berth::accounts::Plan;
use berth::repositories::tags::{self, Details, Platform, Pushed};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api::{call, jwt, new_token};
use berth_test_support::*;

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// alice/app with v1 and v2 on one digest (two platforms) and latest on another, pushed a
/// minute apart in that order.
fn seed(app: &TestApp) -> i32 {
    let c = &mut app.conn();
    berth::repositories::create(c, &app.owner("alice"), "app", false, app.state.now()).unwrap();
    let id = tags::repository_id(c, "alice/app").unwrap().unwrap();
    let platforms = vec![
        Platform { os: "linux".into(), architecture: "amd64".into(), variant: None, digest: digest(10), size: 1000 },
        Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()), digest: digest(11), size: 1100 },
    ];
    for (n, (tag, d)) in [("v1", digest(1)), ("v2", digest(1)), ("latest", digest(2))].into_iter().enumerate() {
        let at = app.state.now() + 60 * n as i64;
        let pushed = Pushed { digest: &d, media_type: "application/vnd.oci.image.index.v1+json", manifest_size: 300, tag: Some(tag), pushed_by: Some("alice") };
        tags::record_push(c, id, pushed, at).unwrap();
        let details = if d == digest(1) {
            Details { size: 2100, platforms: platforms.clone() }
        } else {
            Details { size: 500, platforms: vec![Platform { digest: d.clone(), size: 500, ..platforms[0].clone() }] }
        };
        tags::record_details(c, id, &d, "application/vnd.oci.image.index.v1+json", 300, &details, at).unwrap();
    }
    id
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> (StatusCode, Value) {
    let res = call(app, Method::GET, path, bearer, None).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn names(page: &Value) -> Vec<String> {
    page["results"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

#[actix_web::test]
async fn the_tag_list_pages_orders_and_filters_in_docker_hubs_shape_under_both_paths() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    seed(&app);
    let alice = jwt(&app, "alice", PASSWORD).await;
    for base in ["/v2/repositories/alice/app/tags/", "/v2/namespaces/alice/repositories/app/tags"] {
        let (status, page) = get(&app, base, &alice).await;
        assert_eq!(status, StatusCode::OK, "{base}: {page}");
        assert_eq!(page["count"], 3);
        assert_eq!(names(&page), ["latest", "v2", "v1"], "the newest first");
    }
    let (_, page) = get(&app, "/v2/repositories/alice/app/tags/?page_size=2&ordering=-name", &alice).await;
    assert_eq!(names(&page), ["latest", "v1"], "-name is A to Z, as Docker Hub reads it");
    assert!(page["next"].as_str().unwrap().ends_with("/v2/repositories/alice/app/tags/?page=2&page_size=2"), "{page}");
    let (_, page) = get(&app, "/v2/repositories/alice/app/tags/?page=2&page_size=2&ordering=-name", &alice).await;
    assert_eq!(names(&page), ["v2"]);
    let (_, page) = get(&app, "/v2/repositories/alice/app/tags/?ordering=-last_updated&name=v", &alice).await;
    assert_eq!((page["count"].as_i64(), names(&page)), (Some(2), vec!["v1".to_string(), "v2".to_string()]));
    let (status, _) = get(&app, "/v2/repositories/alice/app/tags/?ordering=size", &alice).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, v1) = get(&app, "/v2/repositories/alice/app/tags/v1/", &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((v1["name"].as_str(), v1["digest"].as_str(), v1["full_size"].as_i64()), (Some("v1"), Some(digest(1).as_str()), Some(2100)));
    assert_eq!(v1["last_updater_username"], "alice");
    assert_eq!(v1["tag_last_pulled"], Value::Null);
    assert!(v1["tag_last_pushed"].as_str().unwrap().ends_with('Z') && v1["last_updated"] == v1["tag_last_pushed"]);
    let images = v1["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!((images[1]["architecture"].as_str(), images[1]["os"].as_str(), images[1]["variant"].as_str()), (Some("arm64"), Some("linux"), Some("v8")));
    assert_eq!((images[1]["digest"].as_str(), images[1]["size"].as_i64()), (Some(digest(11).as_str()), Some(1100)));
    let (status, _) = get(&app, "/v2/namespaces/alice/repositories/app/tags/v9", &alice).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn tags_are_seen_and_deleted_as_token_would_grant_and_a_shared_digest_is_a_conflict() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    let id = seed(&app);
    let (alice, bobby) = (jwt(&app, "alice", PASSWORD).await, jwt(&app, "bobby", PASSWORD).await);
    // another user, and a Public Repo Read-only token, find a private repository's tags nowhere
    let (status, _) = get(&app, "/v2/repositories/alice/app/tags/", &bobby).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let public_read = new_token(&app, &alice, "public", "repo:public_read").await;
    let public_read = jwt(&app, "alice", public_read["token"].as_str().unwrap()).await;
    let (status, _) = get(&app, "/v2/repositories/alice/app/tags/v1/", &public_read).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // a Read & Write token sees them and may not delete
    let writer = new_token(&app, &alice, "writer", "repo:write").await;
    let writer = jwt(&app, "alice", writer["token"].as_str().unwrap()).await;
    let (status, _) = get(&app, "/v2/repositories/alice/app/tags/", &writer).await;
    assert_eq!(status, StatusCode::OK);
    let res = call(&app, Method::DELETE, "/v2/repositories/alice/app/tags/latest/", &writer, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // made public, everyone signed in reads them, and still only alice deletes
    berth::repositories::set_public(&mut app.conn(), app.owner("alice").id, "alice/app", true).unwrap();
    let (status, _) = get(&app, "/v2/repositories/alice/app/tags/", &bobby).await;
    assert_eq!(status, StatusCode::OK);
    let res = call(&app, Method::DELETE, "/v2/repositories/alice/app/tags/latest/", &bobby, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // v1 shares its digest with v2: a conflict naming v2, and nothing deleted
    let res = call(&app, Method::DELETE, "/v2/repositories/alice/app/tags/v1/", &alice, None).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("v2") && detail.contains(&digest(1)), "{detail}");
    assert_eq!(tags::all(&mut app.conn(), id).unwrap().len(), 3);
}

#[actix_web::test]
async fn a_repository_reads_as_on_docker_hub_its_descriptions_change_by_its_admin_and_its_visibility_by_password_only() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    seed(&app);
    let (alice, bobby) = (jwt(&app, "alice", PASSWORD).await, jwt(&app, "bobby", PASSWORD).await);
    let (status, repo) = get(&app, "/v2/repositories/alice/app/", &alice).await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!((repo["name"].as_str(), repo["namespace"].as_str(), repo["is_private"].as_bool()), (Some("app"), Some("alice"), Some(true)));
    assert_eq!((repo["status"].as_i64(), repo["status_description"].as_str(), repo["pull_count"].as_i64()), (Some(1), Some("active"), Some(0)));
    assert!(repo["date_registered"].as_str().unwrap().ends_with('Z') && repo["last_updated"].as_str().is_some(), "{repo}");
    assert_eq!(get(&app, "/v2/repositories/alice/app/", &bobby).await.0, StatusCode::NOT_FOUND);

    // descriptions: checked, and set by the repository's admin
    let patch = |bearer: String, body: Value| {
        let app = &app;
        async move { call(app, Method::PATCH, "/v2/repositories/alice/app/", &bearer, Some(body)).await }
    };
    let res = patch(alice.clone(), serde_json::json!({"description": "x".repeat(101)})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = patch(alice.clone(), serde_json::json!({"full_description": "# App\u{202e}gnp.exe"})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = patch(alice.clone(), serde_json::json!({"description": " The app ", "full_description": "# App\n\nRun it:\n\n    docker run app\n"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let repo: Value = res.json().await.unwrap();
    assert_eq!((repo["description"].as_str(), repo["full_description"].as_str()), (Some("The app"), Some("# App\n\nRun it:\n\n    docker run app\n")));

    // visibility: never with a token, even a full one; with the password, and then others read it
    let full = new_token(&app, &alice, "full", "repo:admin").await;
    let full = jwt(&app, "alice", full["token"].as_str().unwrap()).await;
    let res = patch(full.clone(), serde_json::json!({"is_private": false})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(get(&app, "/v2/repositories/alice/app/", &bobby).await.0, StatusCode::NOT_FOUND, "still private");
    let res = patch(full, serde_json::json!({"description": "by token"})).await;
    assert_eq!(res.status(), StatusCode::OK, "a full token may change the descriptions");
    let res = patch(alice.clone(), serde_json::json!({"is_private": false, "description": "x".repeat(101)})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(get(&app, "/v2/repositories/alice/app/", &bobby).await.0, StatusCode::NOT_FOUND, "a refused description leaves the visibility as it was");
    let res = patch(alice.clone(), serde_json::json!({"is_private": null})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a visibility is true or false, never null");
    let res = patch(alice.clone(), serde_json::json!({"is_private": false})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // the change is in alice's activity log, as an organization's is in its audit log
    let noted = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 100).unwrap().0;
    assert!(noted.iter().any(|e| e.kind == "repository_visibility_changed" && e.detail == "alice/app made public"));
    let (status, repo) = get(&app, "/v2/repositories/alice/app/", &bobby).await;
    assert_eq!((status, repo["is_private"].as_bool(), repo["description"].as_str()), (StatusCode::OK, Some(false), Some("by token")));
    let res = patch(bobby.clone(), serde_json::json!({"description": "mine now"})).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a public repository is not everyone's to change");
    let res = call(&app, Method::DELETE, "/v2/repositories/alice/app/", &bobby, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = patch(alice, serde_json::json!({"stars": 5})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "an unknown field is refused");
}

#[actix_web::test]
async fn anyone_reads_a_public_repository_and_its_tags_without_signing_in_and_nothing_private() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    seed(&app);
    berth::repositories::create(&mut app.conn(), &app.owner("alice"), "secret", false, app.state.now()).unwrap();
    let anonymous = |path: &str| {
        let url = format!("{}{path}", app.url);
        async move {
            let res = reqwest::Client::new().get(url).send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // private: not found without a sign-in, as for any other stranger
    for path in ["/v2/repositories/alice/app/", "/v2/repositories/alice/app/tags/", "/v2/repositories/alice/app/tags/v1/", "/v2/namespaces/alice/repositories/app/tags"] {
        assert_eq!(anonymous(path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, list) = anonymous("/v2/repositories/alice/").await;
    assert_eq!((status, list["count"].as_i64()), (StatusCode::OK, Some(0)), "{list}");

    berth::repositories::set_public(&mut app.conn(), app.owner("alice").id, "alice/app", true).unwrap();
    let (status, repo) = anonymous("/v2/repositories/alice/app/").await;
    assert_eq!((status, repo["name"].as_str(), repo["is_private"].as_bool()), (StatusCode::OK, Some("app"), Some(false)), "{repo}");
    // (`-name` is A to Z on Docker Hub)
    let (status, page) = anonymous("/v2/repositories/alice/app/tags/?ordering=-name").await;
    assert_eq!((status, names(&page)), (StatusCode::OK, vec!["latest".to_string(), "v1".into(), "v2".into()]), "{page}");
    let (status, one) = anonymous("/v2/namespaces/alice/repositories/app/tags/v1").await;
    assert_eq!((status, one["digest"].as_str()), (StatusCode::OK, Some(digest(1).as_str())), "{one}");
    let (status, list) = anonymous("/v2/repositories/alice/").await;
    let listed: Vec<&str> = list["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!((status, listed), (StatusCode::OK, vec!["app"]), "the private repository stays unseen: {list}");
    assert_eq!(anonymous("/v2/repositories/alice/secret/").await.0, StatusCode::NOT_FOUND);

    // a credential that is not valid is refused, never read as no credential
    let res = reqwest::Client::new().get(format!("{}/v2/repositories/alice/app/", app.url)).bearer_auth("not-a-jwt").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // and deleting still needs a sign-in
    let res = reqwest::Client::new().delete(format!("{}/v2/repositories/alice/app/tags/latest/", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
