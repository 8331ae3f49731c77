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
    // both changes are in alice's activity log; the question alone was not
    let entries = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 100).unwrap().0;
    let noted: Vec<&str> = entries.iter().filter(|e| e.kind == "repository_visibility_changed").map(|e| e.detail.as_str()).collect();
    assert_eq!(noted, ["alice/app made private", "alice/app made public"]);
    let (_, log) = b.get_text("/settings/activity").await;
    assert!(log.contains("Repository made public or private") && log.contains("alice/app made public"), "{log}");
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
    // no registry answers at this server's BERTH_REGISTRY_URL: the confirmation says so and
    // offers only forgetting, labelled; a real delete is refused and forgets nothing
    let (_, confirm) = b.get_text("/repositories/delete?name=alice%2Ftools%2Fcli").await;
    assert!(confirm.contains("the registry could not be read") && confirm.contains("nothing is deleted in the registry"), "{confirm}");
    assert!(confirm.contains(r#"name="forget_only" value="yes""#) && confirm.contains("Only forget it in Berth"), "{confirm}");
    let res = b.submit("/repositories", "/repositories/delete", &[("name", "alice/tools/cli")]).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let page = res.text().await.unwrap();
    assert!(page.contains("The registry failed to list the tags") && page.contains("Nothing was deleted"), "{page}");
    assert!(anonymous_pull(&app, "alice/tools/cli").await, "still recorded, still public");
    let res = b.submit("/repositories", "/repositories/delete", &[("name", "alice/tools/cli"), ("forget_only", "yes")]).await;
    assert_eq!(location(&res), "/repositories");
    let (_, list) = b.get_text("/repositories").await;
    assert!(list.contains("Nothing was deleted in the registry"), "{list}");
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

#[actix_web::test]
async fn a_repositorys_page_lists_its_tags_with_pull_commands_and_shows_its_readme_rendered_and_cleaned() {
    use berth::repositories::tags::{self, Details, Platform, Pushed};
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    let carol = app.signed_up("carol").await;
    alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    alice.submit("/repository/alice/app", "/repositories/collaborators", &[("name", "alice/app"), ("username", "carol"), ("permission", "read")]).await;
    let id = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let now = app.state.now();
    let pushed = Pushed { digest: &digest, media_type: "application/vnd.oci.image.manifest.v1+json", manifest_size: 400, tag: Some("v1"), pushed_by: Some("alice") };
    tags::record_push(&mut app.conn(), id, pushed, now).unwrap();
    let platform = Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()), digest: digest.clone(), size: 23_400_000 };
    tags::record_details(&mut app.conn(), id, &digest, "application/vnd.oci.image.manifest.v1+json", 400, &Details { size: 23_400_000, platforms: vec![platform] }, now).unwrap();

    let readme = "# The app\n\nRun `app`.\n\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n\n[docs](javascript:alert(1)) ![pixel](https://evil.example/p.png) [site](https://example.com/)";
    let res = alice.submit("/repository/alice/app", "/repositories/describe", &[("repository", "alice/app"), ("description", "A small app"), ("full_description", readme)]).await;
    assert_eq!(location(&res), "/repository/alice/app#readme");
    let (status, page) = alice.get_text("/repository/alice/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<code>v1</code>") && page.contains("sha256:ababababab") && page.contains("23.4 MB") && page.contains("linux/arm64/v8"), "{page}");
    assert!(page.contains("docker pull localhost:5000/alice/app:v1") && page.contains(r##"data-copy="#pull-1""##), "{page}");
    assert!(page.contains("<h1>The app</h1>") && page.contains("<code>app</code>") && page.contains("A small app"), "{page}");
    let readme_part = page.split(r#"<div class="readme">"#).nth(1).unwrap().split("</div>").next().unwrap().to_lowercase();
    for banned in ["<script", "onerror", "href=\"javascript", "<img", "src=", "evil.example"] {
        assert!(!readme_part.contains(banned), "{banned} in {readme_part}");
    }
    assert!(readme_part.contains(r#"<a href="https://example.com/" rel="nofollow noopener noreferrer">site</a>"#), "{readme_part}");
    // a collaborator reads it all, edits nothing
    let (_, seen) = carol.get_text("/repository/alice/app").await;
    assert!(seen.contains("<h1>The app</h1>") && seen.contains("<code>v1</code>") && !seen.contains(r#"action="/repositories/describe""#), "{seen}");
    let res = carol.submit("/repository/alice/app", "/repositories/describe", &[("repository", "alice/app"), ("description", "mine"), ("full_description", "")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // a description of two lines is refused beside its field, and nothing changes
    let res = alice.submit("/repository/alice/app", "/repositories/describe", &[("repository", "alice/app"), ("description", "two\nlines"), ("full_description", "x")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="description-error""#));
    assert_eq!(berth::repositories::descriptions(&mut app.conn(), id).unwrap().0, "A small app");
}

#[test]
fn only_the_readme_is_ever_marked_safe() {
    // every template is text escaped by askama; the README, cleaned by
    // repositories::readme::render, is the one exception
    let mut marked = Vec::new();
    let mut folders = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| l.contains("|safe") || l.contains("| safe")) {
                    marked.push(format!("{}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert_eq!(marked.len(), 1, "{marked:#?}");
    assert!(marked[0].contains("settings/repository.html") && marked[0].contains("readme_html|safe"), "{marked:#?}");
}

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// alice/app with v1 and v2 on one digest and latest on another, as the registry's events
/// would record them.
fn seed_tags(app: &TestApp) {
    use berth::repositories::tags::{self, Pushed};
    let c = &mut app.conn();
    berth::repositories::create(c, &app.owner("alice"), "app", false, app.state.now()).unwrap();
    let id = tags::repository_id(c, "alice/app").unwrap().unwrap();
    for (tag, d) in [("v1", digest(1)), ("v2", digest(1)), ("latest", digest(2))] {
        let pushed = Pushed { digest: &d, media_type: "application/vnd.oci.image.manifest.v1+json", manifest_size: 300, tag: Some(tag), pushed_by: Some("alice") };
        tags::record_push(c, id, pushed, app.state.now()).unwrap();
    }
}

fn recorded_tags(app: &TestApp) -> Vec<String> {
    let c = &mut app.conn();
    let id = berth::repositories::tags::repository_id(c, "alice/app").unwrap().unwrap();
    berth::repositories::tags::all(c, id).unwrap().into_iter().map(|(t, _)| t).collect()
}

#[actix_web::test]
async fn deleting_a_tag_confirms_first_listing_every_tag_on_its_digest_and_only_its_admin_may() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bobby").await;
    let carol = app.signed_up("carol").await;
    seed_tags(&app);
    alice.submit("/repository/alice/app", "/repositories/collaborators", &[("name", "alice/app"), ("username", "bobby"), ("permission", "write")]).await;

    // the owner sees a Delete per tag, leading to a confirmation (a link: no script needed)
    let (_, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains(r#"href="/repositories/tags/delete?repository=alice/app&amp;tag=v1""#), "{page}");
    let (status, confirm) = alice.get_text("/repositories/tags/delete?repository=alice%2Fapp&tag=v1").await;
    assert_eq!(status, StatusCode::OK);
    crate::html::assert_valid("delete tag", &confirm);
    let going = regex::Regex::new(r#"(?s)<ul class="tag-list" id="going">(.*?)</ul>"#).unwrap().captures(&confirm).unwrap()[1].to_string();
    assert!(going.contains("<code>v1</code>") && going.contains("<code>v2</code>") && !going.contains("latest"), "every tag on the digest, and no other: {going}");
    assert!(confirm.contains(&digest(1)) && confirm.contains("registry garbage-collect"), "{confirm}");
    assert!(confirm.contains(r#"action="/repositories/tags/delete""#) && confirm.contains(r#"name="csrf""#));

    // a collaborator (read & write) sees no Delete and is refused; an outsider finds nothing
    let (_, page) = bob.get_text("/repository/alice/app").await;
    assert!(!page.contains("/repositories/tags/delete"), "{page}");
    assert_eq!(bob.get("/repositories/tags/delete?repository=alice%2Fapp&tag=v1").await.status(), StatusCode::FORBIDDEN);
    let (first, second) = (digest(1), digest(2));
    let fields = [("repository", "alice/app"), ("tag", "v1"), ("digest", first.as_str())];
    assert_eq!(bob.submit("/repository/alice/app", "/repositories/tags/delete", &fields).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(carol.get("/repositories/tags/delete?repository=alice%2Fapp&tag=v1").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(carol.submit("/repositories", "/repositories/tags/delete", &fields).await.status(), StatusCode::NOT_FOUND);
    // no CSRF token: refused
    assert_eq!(alice.post_raw("/repositories/tags/delete", &fields).await.status(), StatusCode::FORBIDDEN);
    // a tag that moved since the confirmation is not deleted unseen
    let moved = [("repository", "alice/app"), ("tag", "v1"), ("digest", second.as_str())];
    let res = alice.submit("/repository/alice/app", "/repositories/tags/delete", &moved).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("on another image since"));
    // no registry answers at this server's BERTH_REGISTRY_URL: a clear refusal
    let res = alice.submit("/repository/alice/app", "/repositories/tags/delete", &fields).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.text().await.unwrap().contains("The registry failed to delete a manifest"));
    assert_eq!(recorded_tags(&app), ["latest", "v1", "v2"], "nothing forgotten");
    // bad input: a 4xx, never a 500
    for q in ["repository=alice%2Fapp&tag=nope", "repository=..&tag=v1", "repository=alice%2Fapp", "repository=alice%2Fapp&tag=v1&x=1"] {
        let status = alice.get(&format!("/repositories/tags/delete?{q}")).await.status();
        assert!(status.is_client_error(), "{q}: {status}");
    }
}

#[actix_web::test]
async fn a_repositorys_delete_confirmation_names_every_tag_when_the_registry_lists_them() {
    // the registry is read for its tag list; here none answers, so the page says so, and the
    // tags recorded are not promised gone
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    seed_tags(&app);
    let (status, confirm) = alice.get_text("/repositories/delete?name=alice%2Fapp").await;
    assert_eq!(status, StatusCode::OK);
    crate::html::assert_valid("delete repository, registry unreadable", &confirm);
    assert!(confirm.contains("The registry failed to list the tags") && confirm.contains("Only forget it in Berth"), "{confirm}");
    assert!(!confirm.contains(r#"id="going""#), "{confirm}");
}
