use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn login_works_with_the_username_or_the_email() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/");
    assert!(b.signed_in().await);
    let b = app.browser();
    assert_eq!(location(&b.login("ALICE@example.com", PASSWORD).await), "/");
    assert!(b.signed_in().await);
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_get_one_answer_and_a_real_hash_check() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let b = app.browser();
    let wrong = b.login("alice", "not the password at all").await;
    let (ws, wb) = (wrong.status(), wrong.text().await.unwrap());
    let before = berth::accounts::password::dummy_verifications();
    let unknown = b.login("nobody", "not the password at all").await;
    let (us, ub) = (unknown.status(), unknown.text().await.unwrap());
    assert!(berth::accounts::password::dummy_verifications() > before, "an unknown user is verified against the dummy hash");
    assert_eq!(ws, StatusCode::UNAUTHORIZED);
    assert_eq!(ws, us);
    let strip = |s: &str| regex::Regex::new(r#"value="[^"]*""#).unwrap().replace_all(s, "").to_string();
    assert_eq!(strip(&wb), strip(&ub), "same page apart from echoed values");
    assert!(wb.contains("Incorrect username or password."));
    assert!(!b.signed_in().await);
}

#[actix_web::test]
async fn the_session_cookie_changes_at_login_and_a_planted_one_never_becomes_signed_in() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let attacker = app.browser();
    attacker.csrf("/login").await;
    assert_eq!(attacker.cookie(), "", "an anonymous page view makes no session to plant");
    // the attacker's own sign-in with its password step passed: a live server-side session
    app.with_2fa("mallory").await;
    assert_eq!(location(&attacker.login("mallory", PASSWORD).await), "/login/2fa");
    let pending = attacker.cookie();
    assert!(pending.starts_with("berth_session="), "{pending}");
    // planted in the victim's browser, that session or a made-up id never becomes signed in
    for planted in [pending, "berth_session=a-made-up-session-key-of-forty-characters".to_string()] {
        let victim = app.browser();
        victim.jar.add_cookie_str(&format!("{planted}; Path=/"), &app.url.parse().unwrap());
        assert_eq!(location(&victim.login("alice", PASSWORD).await), "/");
        assert!(victim.signed_in().await);
        assert_ne!(victim.cookie(), planted, "the id was renewed at login");
        let replay = app.browser();
        replay.jar.add_cookie_str(&format!("{planted}; Path=/"), &app.url.parse().unwrap());
        assert!(!replay.signed_in().await, "the planted id stays unsigned");
    }
    assert!(!attacker.signed_in().await, "the planted session stays unsigned");
}

#[actix_web::test]
async fn logout_ends_the_session_server_side() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let saved = b.cookie();
    let res = b.logout().await;
    assert_eq!(location(&res), "/login");
    let replay = app.browser();
    replay.jar.add_cookie_str(&format!("{saved}; Path=/"), &app.url.parse().unwrap());
    assert!(!replay.signed_in().await, "a saved cookie replayed after logout is anonymous");
}

#[actix_web::test]
async fn next_only_accepts_local_paths() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    for evil in ["//evil.com", "/\\evil.com", "/%5Cevil.com", "https://evil.com", "javascript:alert(1)"] {
        let b = app.browser();
        let res = b.submit("/login", "/login", &[("login", "alice"), ("password", PASSWORD), ("next", evil)]).await;
        assert_eq!(location(&res), "/", "{evil}");
    }
    let b = app.browser();
    let res = b.get("/settings/sessions").await;
    assert_eq!(location(&res), "/login?next=%2Fsettings%2Fsessions");
    let (_, html) = b.get_text("/login?next=%2Fsettings%2Fsessions").await;
    assert!(html.contains(r#"name="next" value="/settings/sessions""#));
    let res = b.submit("/login?next=%2Fsettings%2Fsessions", "/login", &[("login", "alice"), ("password", PASSWORD), ("next", "/settings/sessions")]).await;
    assert_eq!(location(&res), "/settings/sessions");
}

#[actix_web::test]
async fn a_disabled_user_cannot_sign_in_and_loses_their_sessions() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let id = app.user("alice").id;
    berth::accounts::set_disabled(&mut app.conn(), id, true).unwrap();
    assert!(!b.signed_in().await);
    let res = app.browser().login("alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("Incorrect username or password."));
    berth::accounts::set_disabled(&mut app.conn(), id, false).unwrap();
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/");
}

#[actix_web::test]
async fn pages_need_a_signed_in_session() {
    let app = spawn_app().await;
    let b = app.browser();
    for page in ["/settings/account", "/settings/security", "/settings/sessions", "/settings/activity", "/settings/tokens"] {
        let res = b.get(page).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{page}");
        assert!(location(&res).starts_with("/login"), "{page}");
    }
}
