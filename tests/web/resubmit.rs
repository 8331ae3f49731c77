//! Forms whose repeat would create or regenerate something carry a one-time key: a reload
//! of the answer, the back button or a double click creates nothing the second time and
//! never shows a secret again.

use berth::accounts::Plan;
use reqwest::StatusCode;

use berth_test_support::*;

const NEW: &str = "/settings/tokens/new";

fn fields<'a>(csrf: &'a str, once: &'a str, description: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("csrf", csrf), ("once", once), ("description", description), ("scope", "repo:read"), ("expiration", "none"), ("expires_on", "")]
}

#[actix_web::test]
async fn the_same_new_token_form_sent_twice_creates_one_token_and_never_shows_it_again() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Pro).unwrap();
    let (csrf, once) = b.form(NEW).await;
    let once = once.expect("a one-time key on the form");
    let first = b.post_raw("/settings/tokens", &fields(&csrf, &once, "laptop")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    audit::tokens_in(&first.text().await.unwrap());
    // F5 on the copy page sends the same form again
    let again = b.post_raw("/settings/tokens", &fields(&csrf, &once, "laptop")).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(again.headers()["cache-control"], "no-store");
    let html = again.text().await.unwrap();
    assert!(html.contains("already created") && html.contains("only once"), "{html}");
    assert!(!html.contains("berth_pat_"), "the secret is never shown again");
    assert_eq!(app.token_rows(), 1);
    // a new form makes a new token
    assert_eq!(b.submit(NEW, "/settings/tokens", &[("description", "second"), ("scope", "repo:read"), ("expiration", "none")]).await.status(), StatusCode::CREATED);
    assert_eq!(app.token_rows(), 2);
}

#[actix_web::test]
async fn ten_simultaneous_sends_of_one_form_create_exactly_one_token() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    let (csrf, once) = b.form(NEW).await;
    let once = once.unwrap();
    let statuses = futures_util::future::join_all((0..10).map(|_| {
        let (b, csrf, once) = (&b, &csrf, &once);
        async move {
            let res = b.post_raw("/settings/tokens", &fields(csrf, once, "double click")).await;
            let status = res.status();
            audit::tokens_in(&res.text().await.unwrap());
            status
        }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 9, "{statuses:?}");
    assert_eq!(app.token_rows(), 1);
}

#[actix_web::test]
async fn a_new_token_post_without_a_valid_key_is_400_and_a_refused_form_keeps_its_key() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let (csrf, once) = b.form(NEW).await;
    let once = once.unwrap();
    let without = [("csrf", csrf.as_str()), ("description", "x"), ("scope", "repo:admin"), ("expiration", "none")];
    assert_eq!(b.post_raw("/settings/tokens", &without).await.status(), StatusCode::BAD_REQUEST);
    for bad in ["", "nonsense", "zz.abcdefghijklmnopqrstuv"] {
        let res = b.post_raw("/settings/tokens", &[("csrf", csrf.as_str()), ("once", bad), ("description", "x"), ("scope", "repo:admin"), ("expiration", "none")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    assert_eq!(app.token_rows(), 0);
    // an error spends nothing: the page shown again carries the same key, which then works
    let res = b.post_raw("/settings/tokens", &[("csrf", csrf.as_str()), ("once", once.as_str()), ("description", ""), ("scope", "repo:admin"), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(once_in(&res.text().await.unwrap()).as_deref(), Some(once.as_str()));
    let res = b.post_raw("/settings/tokens", &[("csrf", csrf.as_str()), ("once", once.as_str()), ("description", "fixed"), ("scope", "repo:admin"), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    audit::tokens_in(&res.text().await.unwrap());
}

#[actix_web::test]
async fn a_form_older_than_a_day_is_refused_and_comes_back_with_a_fresh_key() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let (csrf, once) = b.form(NEW).await;
    let once = once.unwrap();
    app.clock.advance(86_400 + 1);
    // the session would have ended: sign in again, keep the old form
    let b2 = app.browser();
    b2.login("alice", PASSWORD).await;
    let (csrf2, _) = b2.form(NEW).await;
    let res = b2.post_raw("/settings/tokens", &fields(&csrf2, &once, "old form")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("more than a day ago"), "{html}");
    assert_ne!(once_in(&html).as_deref(), Some(once.as_str()), "a fresh key to send the form with");
    assert_eq!(app.token_rows(), 0);
    let _ = csrf;
}

#[actix_web::test]
async fn resubmitting_the_regenerate_form_neither_replaces_nor_shows_recovery_codes_again() {
    let app = spawn_app().await;
    let (b, _secret, _first_codes) = app.with_2fa("alice").await;
    let page = "/settings/security/2fa/recovery-codes";
    let (csrf, once) = b.form(page).await;
    let once = once.expect("a one-time key on the regenerate form");
    let form = [("csrf", csrf.as_str()), ("once", once.as_str()), ("password", PASSWORD)];
    let send = || b.post_raw(page, &form);
    let res = send().await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let codes: Vec<String> = regex::Regex::new(r"<li><code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code></li>").unwrap().captures_iter(&html).map(|c| c[1].to_string()).collect();
    assert_eq!(codes.len(), 10);
    codes.iter().for_each(|c| audit::secret(c));
    // back, then "Confirm form resubmission"
    let res = send().await;
    assert_eq!(location(&res), "/settings/security");
    let (_, html) = b.get_text("/settings/security").await;
    assert!(html.contains("made already and are shown only once"), "the security page says why");
    // the codes shown the first time still work: nothing was replaced
    b.logout().await;
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
    assert_eq!(location(&b.second_step(&codes[0]).await), "/");
    let regenerated = berth::activity::list(&mut app.conn(), app.user("alice").id, 1, 100).unwrap().0.into_iter().filter(|e| e.kind == "recovery_codes_regenerated").count();
    assert_eq!(regenerated, 1);
}
