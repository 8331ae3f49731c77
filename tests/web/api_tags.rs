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
