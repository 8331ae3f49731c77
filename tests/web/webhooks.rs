//! Webhooks: added on the repository's page by its owner (secret shown once), refused for
//! addresses inside the network unless the operator allows them, posted after a push with
//! the body's HMAC-SHA256, retried with backoff on the test's clock, and logged on the page.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use berth::db::schema::{webhook_deliveries, webhooks};
use berth::webhooks::delivery::{self, Push};
use diesel::prelude::*;
use reqwest::StatusCode;

use berth_test_support::listener::Listener;
use berth_test_support::*;

/// Waits (up to 15 s: the server sends due deliveries every second) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

fn statuses(app: &TestApp) -> Vec<(String, i32, Option<i32>)> {
    webhook_deliveries::table
        .order(webhook_deliveries::id.asc())
        .select((webhook_deliveries::status, webhook_deliveries::attempts, webhook_deliveries::response_code))
        .load(&mut app.conn())
        .unwrap()
}

fn push_of(repository: &str, tag: &str, at: i64) -> Push {
    Push { repository: repository.into(), tag: Some(tag.into()), digest: format!("sha256:{}", "ab".repeat(32)), pusher: "alice".into(), pushed_at: at }
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[actix_web::test]
async fn a_push_is_posted_signed_to_each_webhook_retried_until_answered_and_logged_on_the_page() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let alice = app.signed_up("alice").await;
    let res = alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let ci = Listener::start(vec![500, 200]);

    let res = alice.submit("/repository/alice/app", "/repositories/webhooks", &[("repository", "alice/app"), ("name", "CI"), ("url", &ci.url("/hooks/berth"))]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let secret = regex::Regex::new(r#"<code id="secret">([A-Za-z0-9_-]{40,})</code>"#).unwrap().captures(&html).unwrap_or_else(|| panic!("{html}"))[1].to_string();
    audit::secret(&secret);
    let stored: Vec<u8> = webhooks::table.select(webhooks::secret_sealed).first(&mut app.conn()).unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&secret), "the secret is kept sealed");
    let (_, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains(&ci.url("/hooks/berth")) && page.contains("id=\"no-deliveries\""), "{page}");
    assert!(!page.contains(&secret), "the secret is shown once only");

    // a push: one delivery, answered 500, then again after the backoff, answered 200
    let now = app.state.now();
    let queued = delivery::on_push(&mut app.conn(), &push_of("alice/app", "v1", now), &app.url, now).unwrap();
    assert_eq!(queued, 1);
    eventually("the first attempt", || ci.received().len() == 1 && statuses(&app)[0].1 == 1).await;
    assert_eq!(statuses(&app), vec![("pending".to_string(), 1, Some(500))]);
    let first = &ci.received()[0];
    assert!(first.head.starts_with("POST /hooks/berth HTTP/1.1"), "{}", first.head);
    assert_eq!(first.header("content-type").as_deref(), Some("application/json"));
    assert_eq!(first.header("x-berth-signature-256"), Some(format!("sha256={}", hmac_hex(secret.as_bytes(), &first.body))));
    let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body["repository"]["repo_name"], "alice/app");
    assert_eq!(body["repository"]["is_private"], true);
    assert_eq!(body["push_data"]["tag"], "v1");
    assert_eq!(body["push_data"]["pusher"], "alice");
    assert_eq!(body["push_data"]["digest"], format!("sha256:{}", "ab".repeat(32)));
    let (_, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains("Pending") && page.contains("next try"), "{page}");

    // nothing more before the backoff has passed, on the server's clock
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ci.received().len(), 1, "no retry before the backoff");
    app.clock.advance(delivery::BACKOFF[0]);
    eventually("the retry", || statuses(&app)[0].0 == "delivered").await;
    assert_eq!(statuses(&app), vec![("delivered".to_string(), 2, Some(200))]);
    let retried = &ci.received()[1];
    assert_eq!(retried.body, first.body, "the retry posts the same body");
    let (_, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains(r#"badge-green">Delivered"#), "{page}");
}

#[actix_web::test]
async fn a_delivery_nobody_answers_fails_after_its_attempts_and_a_deleted_webhook_gets_nothing() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let alice = app.signed_up("alice").await;
    alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    // a port nothing listens on: every attempt fails to connect
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let res =
        alice.submit("/repository/alice/app", "/repositories/webhooks", &[("repository", "alice/app"), ("name", "gone"), ("url", &format!("http://127.0.0.1:{closed}/"))]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let now = app.state.now();
    delivery::on_push(&mut app.conn(), &push_of("alice/app", "v1", now), &app.url, now).unwrap();
    for attempt in 1..=delivery::ATTEMPTS {
        eventually(&format!("attempt {attempt}"), || statuses(&app)[0].1 == attempt).await;
        if attempt < delivery::ATTEMPTS {
            app.clock.advance(delivery::BACKOFF[attempt as usize - 1]);
        }
    }
    assert_eq!(statuses(&app), vec![("failed".to_string(), delivery::ATTEMPTS, None)]);
    // half an hour of backoff outlasts the session
    let alice = app.browser();
    alice.login("alice", PASSWORD).await;
    let (status, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains(r#"badge-red">Failed"#) && page.contains("Could not connect."), "{status} {page}");

    // deleting the webhook deletes its log, and the next push queues nothing
    let id: i32 = webhooks::table.select(webhooks::id).first(&mut app.conn()).unwrap();
    let res = alice.submit("/repository/alice/app", "/repositories/webhooks/delete", &[("repository", "alice/app"), ("id", &id.to_string())]).await;
    assert_eq!(location(&res), "/repository/alice/app#webhooks");
    assert!(statuses(&app).is_empty());
    assert_eq!(delivery::on_push(&mut app.conn(), &push_of("alice/app", "v2", now), &app.url, now).unwrap(), 0);
}

#[actix_web::test]
async fn only_http_urls_to_public_addresses_are_taken_unless_the_operator_allows_private_ones() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    for (url, says) in [
        ("http://127.0.0.1:9/hook", "inside this network"),
        ("http://localhost:9/hook", "inside this network"),
        ("http://[::1]:9/hook", "inside this network"),
        ("http://169.254.169.254/latest/meta-data", "inside this network"),
        ("http://10.0.0.7/hook", "inside this network"),
        ("ftp://ci.example.com/hook", "http or https only"),
        ("https://user:secret@ci.example.com/hook", "Leave user names and passwords out"),
        ("not a url", "not a URL"),
        ("", "Enter the URL"),
    ] {
        let res = alice.submit("/repository/alice/app", "/repositories/webhooks", &[("repository", "alice/app"), ("name", "CI"), ("url", url)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = res.text().await.unwrap();
        assert!(html.contains(says) && html.contains(r#"id="hook-url-error""#), "{url}: {html}");
    }
    let res = alice.submit("/repository/alice/app", "/repositories/webhooks", &[("repository", "alice/app"), ("name", " "), ("url", "https://93.184.216.34/hook")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let count: i64 = webhooks::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 0, "nothing refused was stored");
}

#[actix_web::test]
async fn only_the_repositorys_owner_manages_its_webhooks() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let alice = app.signed_up("alice").await;
    let bobby = app.signed_up("bobby").await;
    let carol = app.signed_up("carol").await;
    alice.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    alice.submit("/repository/alice/app", "/repositories/collaborators", &[("name", "alice/app"), ("username", "carol"), ("permission", "write")]).await;
    let add = [("repository", "alice/app"), ("name", "CI"), ("url", "http://127.0.0.1:9/")];
    // a stranger finds nothing; a collaborator sees the page but not its webhooks
    let res = bobby.submit("/repositories", "/repositories/webhooks", &add).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = carol.submit("/repository/alice/app", "/repositories/webhooks", &add).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (status, page) = carol.get_text("/repository/alice/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("id=\"webhooks\""), "{page}");
    let res = alice.submit("/repository/alice/app", "/repositories/webhooks", &add).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id: i32 = webhooks::table.select(webhooks::id).first(&mut app.conn()).unwrap();
    let res = carol.submit("/repository/alice/app", "/repositories/webhooks/delete", &[("repository", "alice/app"), ("id", &id.to_string())]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let count: i64 = webhooks::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(count, 1);
}
