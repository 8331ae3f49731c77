//! What a person sees when their session ends under them, and when they sign out.

use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn a_form_sent_after_the_idle_timeout_says_the_session_ended_and_returns_to_its_page_after_sign_in() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let (csrf, once) = b.form("/settings/tokens/new").await;
    app.clock.advance(31 * 60);
    let form = [("csrf", csrf.as_str()), ("once", once.as_deref().unwrap()), ("description", "late"), ("scope", "repo:admin"), ("expiration", "none")];
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
    let res = b
        .client
        .post(b.url("/settings/tokens"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", b.url("/settings/tokens/new"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert_eq!(to, "/login?next=%2Fsettings%2Ftokens%2Fnew", "back to the page of the form after sign-in");
    let (_, html) = b.get_text(&to).await;
    assert!(html.contains("Your session has ended. Sign in again to continue. What you sent was not saved."), "{html}");
    // signing in goes back to the form
    let (csrf, _) = b.form(&to).await;
    let res = b.post_raw("/login", &[("csrf", csrf.as_str()), ("login", "alice"), ("password", PASSWORD), ("next", "/settings/tokens/new")]).await;
    assert_eq!(location(&res), "/settings/tokens/new");
    assert_eq!(app.token_rows(), 0, "nothing was created by the late form");
}

#[actix_web::test]
async fn a_page_opened_after_the_session_ended_says_so_but_a_first_visit_does_not() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    app.clock.advance(31 * 60);
    let res = b.get("/settings/tokens").await;
    assert_eq!(location(&res), "/login?next=%2Fsettings%2Ftokens");
    let (_, html) = b.get_text("/login?next=%2Fsettings%2Ftokens").await;
    assert!(html.contains("Your session has ended. Sign in again to continue."));
    assert!(!html.contains("was not saved"));
    let stranger = app.browser();
    let res = stranger.get("/settings/tokens").await;
    let (_, html) = stranger.get_text(&location(&res)).await;
    assert!(!html.contains("session has ended"), "someone who never signed in is just asked to");
}

#[actix_web::test]
async fn signing_out_says_so() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let res = b.logout().await;
    assert_eq!(location(&res), "/login");
    let (_, html) = b.get_text("/login").await;
    assert!(html.contains("You have been signed out."));
    assert!(!b.signed_in().await);
}

#[actix_web::test]
async fn error_pages_show_a_signed_in_visitor_the_real_header() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    for path in ["/no/such/page", "/settings/tokens/00000000-0000-0000-0000-000000000000/edit", "/settings/tokens?status=gone"] {
        let (status, html) = b.get_text(path).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(html.contains("Signed in as <strong>alice</strong>"), "{path}: the real header");
        assert!(html.contains(r#"action="/logout""#) && !html.contains(r#"href="/signup""#), "{path}: Sign out, not Sign in · Sign up");
    }
    // a stranger still gets Sign in · Sign up
    let (status, html) = app.browser().get_text("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains(r#"href="/signup""#) && !html.contains("Signed in as"));
    // and signing out from an error page works (its CSRF token is the session's)
    let (_, html) = b.get_text("/no/such/page").await;
    let csrf = csrf_in(&html).unwrap();
    let res = b.post_raw("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(location(&res), "/login");
    assert!(!b.signed_in().await);
}
