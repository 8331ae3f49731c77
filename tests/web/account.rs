use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn the_account_page_shows_the_plan_and_the_plan_table() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let (_, html) = b.get_text("/settings/account").await;
    assert!(html.contains(r#"<span class="badge badge-blue">personal</span>"#));
    for row in ["<td>pro</td><td>5</td><td>yes</td>", "<td>team</td><td>unlimited</td>", "<td>business</td><td>unlimited</td>"] {
        assert!(html.contains(row), "{row}");
    }
    assert!(html.contains("Read, Write, Delete"));
    assert!(html.contains(r#"aria-current="page">General"#));
    assert!(html.contains(r#"href="/settings/tokens""#), "the tokens entry is in the menu");
}

#[actix_web::test]
async fn changing_the_email_needs_the_current_password_and_a_free_address() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let res = b.submit("/settings/account", "/settings/account/email", &[("email", "new@example.com"), ("current_password", "wrong one here")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit("/settings/account", "/settings/account/email", &[("email", "BOBBY@example.com"), ("current_password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("exists already"));
    let res = b.submit("/settings/account", "/settings/account/email", &[("email", "not an email"), ("current_password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.user("alice").email, "alice@example.com");
    let res = b.submit("/settings/account", "/settings/account/email", &[("email", "New@Example.com"), ("current_password", PASSWORD)]).await;
    assert_eq!(location(&res), "/settings/account");
    assert_eq!(app.user("alice").email, "New@Example.com");
    assert_eq!(location(&app.browser().login("new@example.com", PASSWORD).await), "/");
}

#[actix_web::test]
async fn the_activity_page_lists_security_events_with_time_ip_and_client() {
    let app = spawn_app().await;
    let (b, secret, codes) = app.with_2fa("alice").await;
    app.browser().login("alice", "wrong password here").await;
    let x = app.browser();
    x.login("alice", PASSWORD).await;
    x.second_step(&codes[0]).await;
    b.submit("/settings/security/2fa/recovery-codes", "/settings/security/2fa/recovery-codes", &[("password", PASSWORD)]).await;
    let new = "another good passphrase";
    let y = app.browser();
    y.login("alice", PASSWORD).await;
    y.second_step(&codes[1]).await;
    b.submit("/settings/sessions/end-others", "/settings/sessions/end-others", &[]).await;
    b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    let disable = "/settings/security/2fa/disable";
    b.submit(disable, disable, &[("password", new), ("code", &app.fresh_code(&secret))]).await;
    b.logout().await;
    let b = app.browser();
    b.login("alice", new).await;
    let (status, html) = b.get_text("/settings/activity").await;
    assert_eq!(status, StatusCode::OK);
    for label in [
        "Signed in",
        "Sign-in failed",
        "Signed out",
        "Two-factor authentication enabled",
        "Two-factor authentication disabled",
        "Recovery code used",
        "Recovery codes regenerated",
        "Password changed",
        "Session ended",
    ] {
        assert!(html.contains(label), "{label} missing");
    }
    assert!(html.contains("127.0.0.1") && html.contains("Chrome on Linux") && html.contains(" UTC\""));
}

#[actix_web::test]
async fn deleting_the_account_needs_the_password_and_a_code_with_2fa_and_keeps_the_name_reserved() {
    let app = spawn_app().await;
    let (b, secret, _) = app.with_2fa("alice").await;
    let other = app.browser();
    other.login("alice", PASSWORD).await;
    other.second_step(&app.fresh_code(&secret)).await;
    assert!(other.signed_in().await);
    let page = "/settings/account/delete";
    let (status, html) = b.get_text(page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("stays reserved") && html.contains(r#"name="code""#), "asks for a code with 2FA on");

    let res = b.submit(page, page, &[("password", "not the password"), ("code", &app.fresh_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit(page, page, &[("password", PASSWORD), ("code", "000000")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("That code is not valid."));
    let res = b.submit(page, page, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "no code, no deletion");
    assert!(berth::accounts::find_by_username(&mut app.conn(), "alice").unwrap().is_some(), "nothing deleted yet");
    // a form from elsewhere deletes nothing
    assert_eq!(b.post_raw(page, &[("csrf", "forged"), ("password", PASSWORD)]).await.status(), StatusCode::FORBIDDEN);

    let res = b.submit(page, page, &[("password", PASSWORD), ("code", &app.fresh_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    assert!(berth::accounts::find_by_username(&mut app.conn(), "alice").unwrap().is_none());
    assert!(!b.signed_in().await && !other.signed_in().await, "every session ended");
    assert_eq!(app.session_rows(), 0);
    assert_eq!(app.browser().signup("alice", "new-alice@example.com", PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "the name stays reserved");
}

#[actix_web::test]
async fn the_only_owner_of_an_organization_cannot_delete_the_account() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), berth::accounts::Plan::Team, &berth::orgs::Actor::cli(), 0).unwrap();
    let page = "/settings/account/delete";
    let res = b.submit(page, page, &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("You are the only owner of acme"));
    assert!(b.signed_in().await);
    assert!(berth::accounts::find_by_username(&mut app.conn(), "alice").unwrap().is_some());
}
