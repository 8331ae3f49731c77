use std::sync::Arc;

use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn enrolment_needs_the_password_and_a_valid_code_and_shows_ten_codes_once() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    // wrong password: no enrolment
    let res = b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", "not my password")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(location(&b.get("/settings/security/2fa/setup").await), "/settings/security");
    // right password: the set-up page shows secret and QR
    b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", PASSWORD)]).await;
    let (_, html) = b.get_text("/settings/security/2fa/setup").await;
    let secret = regex::Regex::new(r#"<code id="totp-secret">([A-Z2-7]{32})</code>"#).unwrap().captures(&html).unwrap()[1].to_string();
    // a phone can hand the same secret to its authenticator app by link
    let link = regex::Regex::new(r#"<a href="(otpauth://totp/[^"]+)" id="otpauth-link">"#).unwrap().captures(&html).expect("an otpauth:// link")[1].replace("&amp;", "&");
    assert!(link.contains(&format!("secret={secret}")) && link.contains("alice"), "{link}");
    let qr = b.get("/settings/security/2fa/qr.png").await;
    assert_eq!(qr.status(), StatusCode::OK);
    assert_eq!(qr.headers()["content-type"], "image/png");
    assert_eq!(qr.headers()["cache-control"], "no-store");
    assert!(qr.bytes().await.unwrap().starts_with(b"\x89PNG"));
    // pending is not on, and the pending secret is sealed at rest
    let u = app.user("alice");
    assert!(!u.has_second_factor());
    let sealed = berth::twofactor::totp::pending(&mut app.conn(), u.id).unwrap().expect("enrolment pending").secret_enc;
    assert!(!String::from_utf8_lossy(&sealed).contains(&secret));
    // a wrong code leaves 2FA off
    let wrong = if app.code_now(&secret) == "000000" { "111111" } else { "000000" };
    let res = b.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", &[("code", wrong)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!app.user("alice").has_second_factor());
    // the right code turns it on and shows 10 codes, no-store, with the Docker CLI note
    let res = b.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", &[("code", &app.code_now(&secret))]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert_eq!(regex::Regex::new(r"<li><code>[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}</code></li>").unwrap().find_iter(&html).count(), 10);
    assert!(html.contains("The Docker CLI now needs a personal access token"));
    assert!(html.contains(r#"href="/settings/tokens""#));
    assert!(app.user("alice").has_second_factor());
    // after enrolment the secret is never shown again, anywhere
    for page in ["/settings/security", "/settings/security/2fa/setup", "/settings/account"] {
        let (_, html) = b.get_text(page).await;
        assert!(!html.contains(&secret), "{page}");
    }
    assert_eq!(b.get("/settings/security/2fa/qr.png").await.status(), StatusCode::NOT_FOUND);
    let (_, html) = b.get_text("/settings/security").await;
    assert!(html.contains("The Docker CLI now needs a personal access token"));
    assert!(html.contains("<strong>10</strong> unused recovery codes"));
}

#[actix_web::test]
async fn recovery_codes_download_as_a_text_file() {
    let app = spawn_app().await;
    let (b, _, codes) = app.with_2fa("alice").await;
    let mut fields = vec![];
    for c in &codes {
        fields.push(("code", c.as_str()));
    }
    let res = b.submit("/settings/security", "/settings/security/2fa/recovery-codes.txt", &fields).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("berth-recovery-codes.txt"));
    let text = res.text().await.unwrap();
    for c in &codes {
        assert!(text.contains(c.as_str()));
    }
    let res = b.submit("/settings/security", "/settings/security/2fa/recovery-codes.txt", &[("code", "<script>")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn with_2fa_the_password_leads_only_to_the_second_step_which_grants_nothing_for_5_minutes() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let b = app.browser();
    let res = b.login("alice", PASSWORD).await;
    assert_eq!(location(&res), "/login/2fa");
    assert!(!b.signed_in().await, "the pending state grants nothing");
    assert_eq!(b.get("/settings/sessions").await.status(), StatusCode::SEE_OTHER);
    // after 5 minutes the pending state is gone
    let token = b.csrf("/login/2fa").await;
    app.clock.advance(301);
    assert_eq!(location(&b.get("/login/2fa").await), "/login");
    let res = b.post_raw("/login/2fa", &[("csrf", &token), ("code", &app.code_now(&secret))]).await;
    assert_eq!(location(&res), "/login");
    assert!(!b.signed_in().await);
    // within 5 minutes a fresh code signs in
    let res = b.login("alice", PASSWORD).await;
    assert_eq!(location(&res), "/login/2fa");
    let res = b.second_step(&app.fresh_code(&secret)).await;
    assert_eq!(location(&res), "/");
    assert!(b.signed_in().await);
}

#[actix_web::test]
async fn a_code_is_accepted_once_and_an_older_step_after_a_newer_one_is_refused() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let code = app.fresh_code(&secret);
    let first = app.browser();
    first.login("alice", PASSWORD).await;
    assert_eq!(location(&first.second_step(&code).await), "/");
    let second = app.browser();
    second.login("alice", PASSWORD).await;
    assert_eq!(second.second_step(&code).await.status(), StatusCode::UNAUTHORIZED, "the same code twice");
    // code of step t accepted, then the code of step t-1 (still within the skew window) refused
    app.clock.advance(60);
    let now = berth::clock::Clock::now(&*app.clock);
    let newer = berth::twofactor::code_at(&secret, now);
    let older = berth::twofactor::code_at(&secret, now - 30);
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    assert_eq!(location(&b.second_step(&newer).await), "/");
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    assert_eq!(b.second_step(&older).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn twenty_concurrent_submissions_of_one_code_sign_in_exactly_once() {
    let app = spawn_app_with(|s| s.throttle.free_failures = 100).await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let mut browsers = vec![];
    for _ in 0..20 {
        let b = app.browser();
        assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
        let token = b.csrf("/login/2fa").await;
        browsers.push((b, token));
    }
    let code = app.fresh_code(&secret);
    let code = &code;
    let results = futures_util::future::join_all(browsers.iter().map(|(b, token)| async move { b.post_raw("/login/2fa", &[("csrf", token), ("code", code)]).await })).await;
    let accepted = results.iter().filter(|r| r.status() == StatusCode::SEE_OTHER).count();
    assert_eq!(accepted, 1);
}

#[actix_web::test]
async fn a_recovery_code_signs_in_once_and_two_parallel_uses_succeed_once() {
    let app = spawn_app().await;
    let (_, _, codes) = app.with_2fa("alice").await;
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    let res = b.second_step(&codes[0].to_uppercase()).await;
    assert_eq!(location(&res), "/");
    let (_, html) = b.get_text("/settings/account").await;
    assert!(html.contains("You used a recovery code"));
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    assert_eq!(b.second_step(&codes[0]).await.status(), StatusCode::UNAUTHORIZED, "spent");
    // two parallel uses of one code
    let (x, y) = (app.browser(), app.browser());
    x.login("alice", PASSWORD).await;
    y.login("alice", PASSWORD).await;
    let (tx, ty) = (x.csrf("/login/2fa").await, y.csrf("/login/2fa").await);
    let (fx, fy) = ([("csrf", tx.as_str()), ("code", codes[1].as_str())], [("csrf", ty.as_str()), ("code", codes[1].as_str())]);
    let (rx, ry) = tokio::join!(x.post_raw("/login/2fa", &fx), y.post_raw("/login/2fa", &fy));
    let wins = [rx.status(), ry.status()].iter().filter(|s| **s == StatusCode::SEE_OTHER).count();
    assert_eq!(wins, 1);
    let events: Vec<String> = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 50).unwrap().0.into_iter().map(|e| e.kind).collect();
    assert_eq!(events.iter().filter(|k| *k == "recovery_code_used").count(), 2);
}

#[actix_web::test]
async fn a_recovery_code_is_never_a_password() {
    let app = spawn_app().await;
    let (_, _, codes) = app.with_2fa("alice").await;
    assert_eq!(app.browser().login("alice", &codes[0]).await.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn wrong_codes_count_per_account_across_sessions_and_then_even_the_right_code_waits() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let right = app.fresh_code(&secret);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    // a session that reached the second step before the attack
    let patient = app.browser();
    assert_eq!(location(&patient.login("alice", PASSWORD).await), "/login/2fa");
    for _ in 0..5 {
        // a fresh session for every guess, as in the AuthQuake attack
        let b = app.browser();
        assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
        assert_eq!(b.second_step(wrong).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(patient.second_step(&right).await.status(), StatusCode::TOO_MANY_REQUESTS, "the right code waits too");
    assert_eq!(app.browser().login("alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "one counter per account");
    app.clock.advance(30);
    assert_eq!(location(&patient.second_step(&app.code_now(&secret)).await), "/");
}

#[actix_web::test]
async fn regenerating_codes_needs_the_password_and_retires_the_old_ones() {
    let app = spawn_app().await;
    let (b, _, old) = app.with_2fa("alice").await;
    let res = b.submit("/settings/security/2fa/recovery-codes", "/settings/security/2fa/recovery-codes", &[("password", "wrong password x")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit("/settings/security/2fa/recovery-codes", "/settings/security/2fa/recovery-codes", &[("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let new: Vec<String> = regex::Regex::new(r"<li><code>([a-z0-9-]{14})</code></li>").unwrap().captures_iter(&html).map(|c| c[1].to_string()).collect();
    assert_eq!(new.len(), 10);
    let x = app.browser();
    x.login("alice", PASSWORD).await;
    assert_eq!(x.second_step(&old[0]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&x.second_step(&new[0]).await), "/");
    // stored only as keyed hashes: the stored bytes, read from the table
    use diesel::prelude::*;
    let hashes: Vec<String> = berth::db::schema::recovery_codes::table.select(berth::db::schema::recovery_codes::code_hash).load(&mut app.conn()).unwrap();
    assert_eq!(hashes.len(), 10);
    for h in &hashes {
        assert_eq!(h.len(), 64);
        assert!(!new.iter().any(|c| h.contains(&c.replace('-', ""))));
    }
}

#[actix_web::test]
async fn disabling_needs_the_password_and_a_code() {
    let app = spawn_app().await;
    let (b, secret, codes) = app.with_2fa("alice").await;
    let page = "/settings/security/2fa/disable";
    let (_, html) = b.get_text(page).await;
    assert!(html.contains("recovery codes will be deleted"), "the confirmation names what is lost");
    let res = b.submit(page, page, &[("password", PASSWORD), ("code", "000000x")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit(page, page, &[("password", "wrong password x"), ("code", &app.fresh_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.user("alice").has_second_factor());
    let res = b.submit(page, page, &[("password", PASSWORD), ("code", &codes[3])]).await;
    assert_eq!(location(&res), "/settings/security");
    let u = app.user("alice");
    assert!(!u.has_second_factor() && !berth::twofactor::any(&mut app.conn(), u.id).unwrap());
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/", "the password alone works again");
}

#[test]
fn the_compare_and_swap_admits_one_of_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let pool = berth::db::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    let keys = berth::keys::Keys::derive(&[3u8; 64]);
    let mut conn = pool.get().unwrap();
    let new = berth::accounts::NewAccount {
        username: "alice".into(),
        email: "a@example.com".into(),
        email_normalized: "a@example.com".into(),
        password_hash: "x".into(),
        plan: berth::accounts::Plan::Personal,
        operator: false,
    };
    let user = berth::accounts::create(&mut conn, new, 0).unwrap();
    berth::twofactor::begin_enrolment(&mut conn, &keys, &user, berth::twofactor::DEFAULT_LABEL, 0).unwrap();
    let user = berth::accounts::find_by_id(&mut conn, user.id).unwrap().unwrap();
    let secret = berth::twofactor::pending_enrolment(&mut conn, &keys, &user).unwrap().unwrap().secret_base32;
    let factor = berth::twofactor::totp::pending(&mut conn, user.id).unwrap().unwrap();
    let now = 1_800_000_000;
    let code = berth::twofactor::code_at(&secret, now);
    let (pool, keys, user, factor) = (Arc::new(pool), Arc::new(keys), Arc::new(user), Arc::new(factor));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (pool, keys, user, factor, code) = (pool.clone(), keys.clone(), user.clone(), factor.clone(), code.clone());
            std::thread::spawn(move || factor.verify(&mut pool.get().unwrap(), &keys, &user, &code, now).unwrap())
        })
        .collect();
    let accepted = handles.into_iter().map(|h| h.join().unwrap()).filter(|ok| *ok).count();
    assert_eq!(accepted, 1);
}

/// Browser `a` passed the password step before the account changed: its right code is
/// refused and it is sent back to the login form, signed in nowhere.
async fn assert_the_waiting_sign_in_ended(app: &TestApp, a: &Browser, secret: &str) {
    let res = a.second_step(&app.fresh_code(secret)).await;
    assert_eq!(location(&res), "/login", "{}", res.status());
    assert!(!a.signed_in().await);
    let (_, html) = a.get_text("/login").await;
    assert!(html.contains("password or security settings changed"), "{html}");
    assert_eq!(location(&a.get("/login/2fa").await), "/login", "nothing waits any more");
}

#[actix_web::test]
async fn a_password_change_on_the_web_ends_a_sign_in_waiting_for_its_code() {
    let app = spawn_app().await;
    let (b, secret, _) = app.with_2fa("alice").await;
    let a = app.browser();
    assert_eq!(location(&a.login("alice", PASSWORD).await), "/login/2fa");
    let new = "a brand new passphrase";
    audit::secret(new);
    let res = b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(location(&res), "/settings/account");
    assert_the_waiting_sign_in_ended(&app, &a, &secret).await;
    // positive control: a sign-in begun after the change completes
    assert_eq!(location(&a.login("alice", new).await), "/login/2fa");
    assert_eq!(location(&a.second_step(&app.fresh_code(&secret)).await), "/");
}

#[actix_web::test]
async fn berth_user_set_password_ends_a_sign_in_waiting_for_its_code() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let a = app.browser();
    assert_eq!(location(&a.login("alice", PASSWORD).await), "/login/2fa");
    // the operator's command, the real binary on this server's data folder
    let new = "an operator chose this one";
    audit::secret(new);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["user", "set-password", "alice", "--password-stdin"])
        .env("BERTH_DATA", &app.settings.data_dir)
        .env("BERTH_DATABASE_URL", &app.settings.database_url)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{new}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).lines().for_each(audit::log_line);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_the_waiting_sign_in_ended(&app, &a, &secret).await;
    assert_eq!(location(&a.login("alice", new).await), "/login/2fa");
    assert_eq!(location(&a.second_step(&app.fresh_code(&secret)).await), "/");
}

#[actix_web::test]
async fn turning_2fa_off_ends_a_sign_in_waiting_for_its_code() {
    let app = spawn_app().await;
    let (_, secret, _) = app.with_2fa("alice").await;
    let a = app.browser();
    assert_eq!(location(&a.login("alice", PASSWORD).await), "/login/2fa");
    berth::twofactor::disable(&mut app.conn(), app.user("alice").id).unwrap();
    let res = a.second_step(&app.fresh_code(&secret)).await;
    assert_eq!(location(&res), "/login");
    assert!(!a.signed_in().await);
}

/// Adds a further authenticator app named `label` on the Security page, as a person would;
/// returns its base32 secret.
async fn add_app(app: &TestApp, b: &Browser, label: &str) -> String {
    let res = b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", PASSWORD), ("label", label)]).await;
    assert_eq!(location(&res), "/settings/security/2fa/setup");
    let (_, html) = b.get_text("/settings/security/2fa/setup").await;
    assert!(html.contains("Add an authenticator app") && html.contains(label), "{html}");
    let secret = regex::Regex::new(r#"<code id="totp-secret">([A-Z2-7]{32})</code>"#).unwrap().captures(&html).unwrap()[1].to_string();
    audit::secret(&secret);
    let res = b.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", &[("code", &app.fresh_code(&secret))]).await;
    assert_eq!(location(&res), "/settings/security", "a further app shows no recovery codes");
    secret
}

/// The Remove links of the Security page, in its order.
async fn factor_ids(b: &Browser) -> Vec<String> {
    let (_, html) = b.get_text("/settings/security").await;
    regex::Regex::new(r#"/settings/security/2fa/factors/(\d+)/remove"#).unwrap().captures_iter(&html).map(|c| c[1].to_string()).collect()
}

async fn signs_in_with(app: &TestApp, code: &str) -> StatusCode {
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
    let res = b.second_step(code).await;
    if location(&res) == "/" { StatusCode::OK } else { res.status() }
}

#[actix_web::test]
async fn a_second_authenticator_app_is_listed_and_either_one_signs_in() {
    let app = spawn_app().await;
    let (b, phone, codes) = app.with_2fa("alice").await;
    let (_, html) = b.get_text("/settings/security").await;
    assert!(html.contains(r#"href="/settings/security/2fa/enable">Add authenticator app</a>"#));
    let (_, form) = b.get_text("/settings/security/2fa/enable").await;
    assert!(form.contains("Add an authenticator app") && form.contains(r#"value="Authenticator app""#), "the name defaults: {form}");
    let tablet = add_app(&app, &b, "Work tablet").await;
    let (_, html) = b.get_text("/settings/security").await;
    assert!(html.contains("Work tablet") && html.contains("<bdi>Authenticator app</bdi>"), "both listed: {html}");
    assert!(html.contains("<strong>10</strong> unused recovery codes"), "the account keeps its recovery codes");
    assert_eq!(factor_ids(&b).await.len(), 2);
    assert_eq!(app.user("alice").second_factor_count, 2);
    assert_eq!(signs_in_with(&app, &app.fresh_code(&phone)).await, StatusCode::OK, "the first app");
    assert_eq!(signs_in_with(&app, &app.fresh_code(&tablet)).await, StatusCode::OK, "the second app");
    assert_eq!(signs_in_with(&app, &codes[0]).await, StatusCode::OK, "a recovery code");
    let (_, html) = b.get_text("/settings/security").await;
    assert!(!html.contains(&tablet) && !html.contains(&phone), "no secret is shown once confirmed");
    assert!(!html.contains("Never"), "both were used: {html}");
    let events: Vec<String> = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 50).unwrap().0.into_iter().map(|e| e.kind).collect();
    assert_eq!(events.iter().filter(|k| *k == "2fa_enabled").count(), 1);
    assert_eq!(events.iter().filter(|k| *k == "second_factor_added").count(), 1);
    // a name that would break the page is refused before anything starts
    let res = b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", PASSWORD), ("label", &"x".repeat(65))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn removing_one_factor_keeps_2fa_on_and_removing_the_last_turns_it_off_with_the_recovery_codes() {
    let app = spawn_app().await;
    let (b, phone, codes) = app.with_2fa("alice").await;
    let tablet = add_app(&app, &b, "Work tablet").await;
    let ids = factor_ids(&b).await;
    let first = format!("/settings/security/2fa/factors/{}/remove", ids[0]);
    let (_, html) = b.get_text(&first).await;
    assert!(html.contains("Your other second factors and your recovery codes keep working"), "{html}");
    // the password and a code, as disabling asks
    let res = b.submit(&first, &first, &[("password", "wrong password x"), ("code", &app.fresh_code(&tablet))]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit(&first, &first, &[("password", PASSWORD), ("code", "000000x")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(factor_ids(&b).await.len(), 2);
    let res = b.submit(&first, &first, &[("password", PASSWORD), ("code", &app.fresh_code(&tablet))]).await;
    assert_eq!(location(&res), "/settings/security");
    assert_eq!(factor_ids(&b).await, [ids[1].clone()]);
    assert!(app.user("alice").has_second_factor(), "2FA stays on");
    assert_eq!(b.get(&first).await.status(), StatusCode::NOT_FOUND, "gone");
    assert_eq!(signs_in_with(&app, &app.fresh_code(&phone)).await, StatusCode::UNAUTHORIZED, "the removed app");
    assert_eq!(signs_in_with(&app, &app.fresh_code(&tablet)).await, StatusCode::OK, "the other app");
    assert_eq!(app.browser().login("alice", PASSWORD).await.headers()["location"], "/login/2fa", "the password alone still leads to the second step");
    assert_eq!(berth::twofactor::recovery::remaining(&mut app.conn(), app.user("alice").id).unwrap(), 10);
    // the last one: 2FA off, recovery codes deleted
    let last = format!("/settings/security/2fa/factors/{}/remove", ids[1]);
    let (_, html) = b.get_text(&last).await;
    assert!(html.contains("your recovery codes will be deleted"), "{html}");
    let res = b.submit(&last, &last, &[("password", PASSWORD), ("code", &codes[2])]).await;
    assert_eq!(location(&res), "/settings/security");
    let u = app.user("alice");
    assert!(!u.has_second_factor() && !berth::twofactor::any(&mut app.conn(), u.id).unwrap());
    use diesel::prelude::*;
    let left: i64 = berth::db::schema::recovery_codes::table.filter(berth::db::schema::recovery_codes::user_id.eq(u.id)).count().get_result(&mut app.conn()).unwrap();
    assert_eq!(left, 0, "the recovery codes are gone with the last factor");
    assert_eq!(location(&app.browser().login("alice", PASSWORD).await), "/", "the password alone works again");
    let events: Vec<String> = berth::activity::list(&mut app.conn(), u.id, 1, 50).unwrap().0.into_iter().map(|e| e.kind).collect();
    assert_eq!(events.iter().filter(|k| *k == "second_factor_removed").count(), 1);
    assert_eq!(events.iter().filter(|k| *k == "2fa_disabled").count(), 1);
}

#[actix_web::test]
async fn one_account_cannot_reach_another_accounts_factor() {
    let app = spawn_app().await;
    let (bob, _, _) = app.with_2fa("bobby").await;
    let ids = factor_ids(&bob).await;
    let (alice, secret, _) = app.with_2fa("alice").await;
    let theirs = format!("/settings/security/2fa/factors/{}/remove", ids[0]);
    assert_eq!(alice.get(&theirs).await.status(), StatusCode::NOT_FOUND);
    let mine = format!("/settings/security/2fa/factors/{}/remove", factor_ids(&alice).await[0]);
    let res = alice.submit(&mine, &theirs, &[("password", PASSWORD), ("code", &app.fresh_code(&secret))]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(app.user("bobby").has_second_factor());
    assert_eq!(alice.get("/settings/security/2fa/factors/x/remove").await.status(), StatusCode::NOT_FOUND);
}
