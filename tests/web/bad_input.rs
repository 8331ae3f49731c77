//! Malformed input gets a clear 4xx and changes nothing: never a 500, never a panic.

use reqwest::StatusCode;

use berth_test_support::*;

fn count_users(app: &TestApp) -> usize {
    berth::accounts::list(&mut app.conn()).unwrap().len()
}

#[actix_web::test]
async fn an_oversized_form_is_413() {
    let app = spawn_app().await;
    let b = app.browser();
    let token = b.csrf("/signup").await;
    let big = "a".repeat(17 * 1024);
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice"), ("email", "a@example.com"), ("password", &big)]).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // also when the body is streamed without a length
    let body = format!("csrf={token}&username=alice&email=a%40example.com&password={big}");
    let stream = futures_util::stream::iter(body.into_bytes().chunks(1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>());
    let res = b.client.post(b.url("/signup")).header("content-type", "application/x-www-form-urlencoded").body(reqwest::Body::wrap_stream(stream)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count_users(&app), 0);
}

#[actix_web::test]
async fn invalid_utf8_missing_and_repeated_fields_are_400() {
    let app = spawn_app().await;
    let b = app.browser();
    let token = b.csrf("/signup").await;
    let mut raw = format!("csrf={token}&username=alice&email=a%40example.com&password=").into_bytes();
    raw.extend_from_slice(&[0xff, 0xfe, 0x41]);
    let res = b.client.post(b.url("/signup")).header("content-type", "application/x-www-form-urlencoded").body(raw).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // percent-encoded invalid UTF-8 inside a value
    let raw = format!("csrf={token}&username=alice&email=a%40example.com&password=%FF%FEabcdefgh");
    let res = b.client.post(b.url("/signup")).header("content-type", "application/x-www-form-urlencoded").body(raw).send().await.unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice"), ("username", "bobby"), ("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = b.client.post(b.url("/signup")).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count_users(&app), 0);
}

#[actix_web::test]
async fn error_pages_carry_no_internals() {
    let app = spawn_app().await;
    let b = app.browser();
    let token = b.csrf("/signup").await;
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice")]).await;
    let html = res.text().await.unwrap();
    for leak in ["SELECT", "sqlite", "diesel", "/src/", ".rs", "panicked", "backtrace"] {
        assert!(!html.contains(leak), "{leak} in {html}");
    }
    let (status, html) = b.get_text("/settings/activity?page=abc").await;
    assert!(status.is_client_error() || status == StatusCode::SEE_OTHER, "{status}");
    assert!(!html.contains(".rs"));
}

#[actix_web::test]
async fn a_bad_page_number_is_400() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    assert_eq!(b.get("/settings/activity?page=0").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/settings/activity?page=abc").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/settings/activity?page=99999999999999999999").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(b.get("/settings/activity?page=5").await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn meta_characters_in_every_login_field_are_harmless() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    for evil in ["' OR '1'='1", "alice'--", "\"><script>alert(1)</script>", "%00", "alice\u{0}"] {
        let res = app.browser().login(evil, evil).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{evil}");
        assert!(!res.text().await.unwrap().contains("<script>alert(1)"));
    }
}

/// Bad input: unknown fields are refused, on forms as in the JSON API — a
/// field the page does not send is a forged or confused request, not something to ignore.
#[actix_web::test]
async fn unknown_form_fields_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let b = app.browser();
    let token = b.csrf("/signup").await;
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice"), ("email", "a@example.com"), ("password", PASSWORD), ("plan", "business")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("unknown field"), "the page names the problem");
    assert_eq!(count_users(&app), 0);
    let b = app.signed_up("alice").await;
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "x"), ("scope", "repo:admin"), ("expiration", "none"), ("user_id", "2")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.owner("alice").token_count, 0);
    // what the pages send is accepted: the CSRF field is not an unknown one
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "x"), ("scope", "repo:admin"), ("expiration", "none"), ("expires_on", "")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
