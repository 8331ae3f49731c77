use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn signing_up_creates_the_account_and_signs_in() {
    let app = spawn_app().await;
    let b = app.browser();
    let res = b.signup("Alice", "alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/settings/security");
    let (status, html) = b.get_text("/settings/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alice@example.com"));
    assert!(html.contains("<dd>alice</dd>"), "username is lower-cased");
    assert_eq!(app.owner("alice").plan, "personal", "a new account's own namespace is on the personal plan");
}

#[actix_web::test]
async fn errors_stand_beside_their_fields_and_the_form_keeps_all_but_the_password() {
    let app = spawn_app().await;
    let b = app.browser();
    let res = b.signup("ab", "not-an-email", "short").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="username-error""#) && html.contains("Use 4 to 30 characters."));
    assert!(html.contains(r#"id="email-error""#));
    assert!(html.contains(r#"id="password-error""#) && html.contains("at least 8 characters"));
    assert!(html.contains(r#"value="ab""#) && html.contains(r#"value="not-an-email""#));
    assert!(!html.contains("short\""), "the password is never echoed");
    assert_eq!(berth::accounts::list(&mut app.conn()).unwrap().len(), 0, "nothing written");
}

#[actix_web::test]
async fn password_rules_length_common_list_and_no_truncation() {
    let app = spawn_app().await;
    let b = app.browser();
    // 7 characters refused
    let res = b.signup("seven", "s@example.com", "abcdefg").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // a common password refused
    let res = b.signup("common", "c@example.com", "password123").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("too common"));
    // 129 characters refused
    let long: String = "a quiet harbour at dawn, ".repeat(6).chars().take(128).collect();
    let res = b.signup("toolong", "t@example.com", &format!("{long}!")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // 128 characters work, and the 127-character prefix is a different password
    let res = b.signup("longpass", "l@example.com", &long).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let other = app.browser();
    let prefix: String = long.chars().take(127).collect();
    assert_eq!(other.login("longpass", &prefix).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&other.login("longpass", &long).await), "/");
}

#[actix_web::test]
async fn a_username_differing_only_in_case_or_an_email_in_other_case_is_taken() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let b = app.browser();
    let res = b.signup("ALICE", "other@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("This username is taken."));
    let res = b.signup("alice2", "ALICE@Example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("exists already"));
    assert_eq!(berth::accounts::list(&mut app.conn()).unwrap().len(), 1);
}

#[actix_web::test]
async fn two_users_with_one_password_get_two_argon2id_hashes_with_owasp_parameters() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let (a, b) = (app.user("alice").password_hash, app.user("bobby").password_hash);
    assert_ne!(a, b);
    for h in [a, b] {
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
}

#[actix_web::test]
async fn closed_sign_up_refuses_and_writes_nothing() {
    let app = spawn_app_with(|s| s.signup_open = false).await;
    let b = app.browser();
    let (_, html) = b.get_text("/signup").await;
    assert!(html.contains("Sign-up is closed"));
    let token = b.csrf("/login").await;
    let res = b.post_raw("/signup", &[("csrf", &token), ("username", "alice"), ("email", "a@example.com"), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(berth::accounts::list(&mut app.conn()).unwrap().len(), 0);
}

#[actix_web::test]
async fn html_and_sql_meta_characters_are_refused_and_echoed_escaped() {
    let app = spawn_app().await;
    let b = app.browser();
    let res = b.signup("<script>alert(1)</script>", "x'; DROP TABLE users;--@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "{html}");
    assert_eq!(berth::accounts::list(&mut app.conn()).unwrap().len(), 0);
    // the table is still there and works
    app.signed_up("alice").await;
}
