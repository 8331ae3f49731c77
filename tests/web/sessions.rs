use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn the_sessions_page_lists_each_session_and_ends_one() {
    let app = spawn_app().await;
    let laptop = app.signed_up("alice").await;
    let phone = app.browser_with_agent("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0");
    assert_eq!(location(&phone.login("alice", PASSWORD).await), "/");
    let (_, html) = laptop.get_text("/settings/sessions").await;
    assert!(html.contains("Chrome on Linux") && html.contains("Firefox on Android"), "{html}");
    assert!(html.contains("this session"));
    assert!(html.contains("127.0.0.1"));
    // end the phone's session from the laptop
    let id = regex::Regex::new(r#"href="/settings/sessions/([A-Za-z0-9_-]+)/end">End</a>"#).unwrap().captures(&html).unwrap()[1].to_string();
    let page = format!("/settings/sessions/{id}/end");
    let (_, confirm) = laptop.get_text(&page).await;
    assert!(confirm.contains("signed out at once"));
    assert!(confirm.contains("End the session of Firefox on Android at 127.0.0.1, signed in just now?"), "the page names the session: {confirm}");
    let res = laptop.submit(&page, &page, &[]).await;
    assert_eq!(location(&res), "/settings/sessions");
    assert!(!phone.signed_in().await);
    assert!(laptop.signed_in().await);
    // an unknown or someone else's id is a 404, its confirmation page too
    assert_eq!(laptop.get(&page).await.status(), StatusCode::NOT_FOUND);
    let res = laptop.post_raw(&page, &[("csrf", csrf_in(&laptop.get_text("/settings/sessions").await.1).unwrap().as_str())]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn ending_all_other_sessions_keeps_only_this_one() {
    let app = spawn_app().await;
    let me = app.signed_up("alice").await;
    let others: Vec<Browser> = futures_util::future::join_all((0..3).map(|_| async {
        let b = app.browser();
        b.login("alice", PASSWORD).await;
        b
    }))
    .await;
    let bob = app.signed_up("bobby").await;
    let res = me.submit("/settings/sessions/end-others", "/settings/sessions/end-others", &[]).await;
    assert_eq!(location(&res), "/settings/sessions");
    let (_, html) = me.get_text("/settings/sessions").await;
    assert!(html.contains("3 other sessions were ended."));
    for o in &others {
        assert!(!o.signed_in().await);
    }
    assert!(me.signed_in().await);
    assert!(bob.signed_in().await, "another user's sessions are untouched");
}

#[actix_web::test]
async fn changing_the_password_ends_other_sessions_and_renews_this_one() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    let before = a.cookie();
    let new = "a brand new passphrase";
    let res = a.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(location(&res), "/settings/account");
    assert!(!b.signed_in().await, "the other jar is logged out");
    assert!(a.signed_in().await);
    assert_ne!(a.cookie(), before, "the session id was renewed");
    let replay = app.browser();
    replay.jar.add_cookie_str(&format!("{before}; Path=/"), &app.url.parse().unwrap());
    assert!(!replay.signed_in().await, "the old id is dead");
    assert_eq!(app.browser().login("alice", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&app.browser().login("alice", new).await), "/");
}

#[actix_web::test]
async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    let res = a
        .submit(
            "/settings/account",
            "/settings/account/password",
            &[("current_password", "wrong one here"), ("new_password", "another good one"), ("confirm_password", "another good one")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("That is not your current password."));
    let res =
        a.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", "password123"), ("confirm_password", "password123")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = a
        .submit(
            "/settings/account",
            "/settings/account/password",
            &[("current_password", PASSWORD), ("new_password", "another good one"), ("confirm_password", "another good two")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/", "unchanged");
}

#[actix_web::test]
async fn sessions_end_after_30_idle_minutes_and_after_12_hours_however_active() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    app.clock.advance(29 * 60);
    assert!(a.signed_in().await, "29 idle minutes are fine");
    app.clock.advance(29 * 60);
    assert!(a.signed_in().await, "activity keeps it alive");
    app.clock.advance(31 * 60);
    assert!(!a.signed_in().await, "31 idle minutes end it");

    let b = app.browser();
    b.login("alice", PASSWORD).await;
    for _ in 0..=((12 * 60) / 20) {
        app.clock.advance(20 * 60);
        if !b.signed_in().await {
            break;
        }
    }
    assert!(!b.signed_in().await, "12 hours end it however active");
}

/// Two instances on one data folder (as behind a load balancer): the second accepts the
/// cookie the first set. The first keeps running; the restart is the next test.
#[actix_web::test]
async fn a_second_instance_on_the_same_data_folder_accepts_the_first_ones_cookie() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    let (dir, settings, clock) = (app.dir, app.settings.clone(), app.clock.clone());
    drop(app.state);
    let mut settings = settings;
    settings.bind = "127.0.0.1:0".into();
    let again = spawn_on(dir, settings, clock).await;
    let b = Browser { client: a.client.clone(), base: again.url.clone(), jar: a.jar.clone() };
    // the cookie was set for 127.0.0.1, whatever the port
    assert!(b.signed_in().await);
}

/// The server stops (gracefully, as on a deploy), its port refuses connections, and a new
/// server on the same data folder and port takes the cookie of the old one: the session
/// key and the sessions live in the data folder, not in the process.
#[actix_web::test]
async fn a_restart_keeps_users_signed_in() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    assert!(a.signed_in().await);
    let addr = app.url.trim_start_matches("http://").to_string();
    app.server.stop(true).await;
    let mut refused = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_err() {
            refused = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "{addr} still accepts connections after the stop");
    assert!(a.client.get(a.url("/settings/account")).send().await.is_err(), "nothing answers while stopped");
    let TestApp { dir, mut settings, clock, state, .. } = app;
    drop(state);
    settings.bind = addr.clone();
    let again = spawn_on(dir, settings, clock).await;
    assert_eq!(again.url, format!("http://{addr}"), "the same port");
    assert!(a.signed_in().await, "the cookie of the stopped server signs in at the new one");
}

#[actix_web::test]
async fn session_ids_are_stored_only_hashed() {
    let app = spawn_app().await;
    let a = app.signed_up("alice").await;
    // the stored bytes themselves, read from the table
    use diesel::prelude::*;
    let rows: Vec<(String, String)> =
        berth::db::schema::sessions::table.select((berth::db::schema::sessions::id_hash, berth::db::schema::sessions::state)).load(&mut app.conn()).unwrap();
    assert!(!rows.is_empty());
    let cookie = a.cookie();
    let value = cookie.split_once('=').unwrap().1;
    for (hash, state) in rows {
        assert_eq!(hash.len(), 64);
        assert!(!state.contains(value) && !hash.contains(value));
    }
}

#[actix_web::test]
async fn a_thousand_anonymous_views_of_login_and_signup_write_no_session_row() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let before = app.session_rows();
    assert_eq!(before, 1);
    // first visits (no cookie at all), twenty at a time
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..50 {
        let views = (0..20).map(|i| client.get(format!("{}{}", app.url, if i % 2 == 0 { "/login" } else { "/signup" })).send());
        for res in futures_util::future::join_all(views).await {
            let res = res.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.text().await.unwrap().contains(r#"name="csrf""#));
        }
    }
    // a returning visitor (pre-session cookie kept), a second-step page with no sign-in in
    // progress (a flash message on the next page), the front page, a failed sign-in
    let b = app.browser();
    for _ in 0..100 {
        assert_eq!(b.get("/login").await.status(), StatusCode::OK);
        assert_eq!(b.get("/signup").await.status(), StatusCode::OK);
    }
    assert_eq!(location(&b.get("/login/2fa").await), "/login");
    let (_, html) = b.get_text("/login").await;
    assert!(html.contains("Your sign-in took too long."), "the flash message arrives");
    let (_, html) = b.get_text("/login").await;
    assert!(!html.contains("Your sign-in took too long."), "and is shown once");
    assert_eq!(location(&b.get("/").await), "/login");
    assert_eq!(b.login("alice", "not the password at all").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.session_rows(), before, "anonymous visitors cost no session row");
    // positive control: signing in writes its row
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/");
    assert_eq!(app.session_rows(), before + 1);
}
