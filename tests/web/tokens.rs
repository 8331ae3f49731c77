//! Personal access tokens in the web UI, and `tokens::authenticate`.

use berth::accounts::Plan;
use berth::activity::Client;
use berth::tokens::{self, NewToken, Scope};
use regex::Regex;
use reqwest::StatusCode;

use berth_test_support::*;

const NEW: &str = "/settings/tokens/new";

fn set_plan(app: &TestApp, name: &str, plan: Plan) {
    berth::accounts::set_plan(&mut app.conn(), app.user(name).id, plan).unwrap();
}

async fn create(b: &Browser, description: &str, scope: &str, expiration: &str, expires_on: &str) -> reqwest::Response {
    b.submit(NEW, "/settings/tokens", &[("description", description), ("scope", scope), ("expiration", expiration), ("expires_on", expires_on)]).await
}

fn token_in(html: &str) -> String {
    Regex::new(r#"<code id="token">(berth_pat_[0-9A-Za-z]{38})</code>"#).unwrap().captures(html).expect("the token is on the page")[1].to_string()
}

fn uuids_in(html: &str) -> Vec<String> {
    Regex::new(r#"name="uuid" value="([0-9a-f-]{36})""#).unwrap().captures_iter(html).map(|c| c[1].to_string()).collect()
}

/// Counts the tokens, and checks on the way that every owner's kept count is right. Read
/// from the tables: `tokens::counts` trusts the kept count this checks.
fn count_tokens(app: &TestApp) -> i64 {
    use berth::db::schema::{access_tokens, org_access_tokens, owners};
    use diesel::prelude::*;
    let kept: Vec<(i32, i64)> = owners::table.select((owners::id, owners::token_count)).load(&mut app.conn()).unwrap();
    for (id, count) in kept {
        let personal: i64 = access_tokens::table.filter(access_tokens::owner_id.eq(id)).count().get_result(&mut app.conn()).unwrap();
        // an organization's count is of its organization access tokens
        let organization: i64 = org_access_tokens::table.filter(org_access_tokens::owner_id.eq(id)).count().get_result(&mut app.conn()).unwrap();
        assert_eq!(count, personal + organization, "the kept token count of owner {id} is off");
    }
    access_tokens::table.count().get_result(&mut app.conn()).unwrap()
}

#[actix_web::test]
async fn a_new_token_is_shown_once_with_its_usage_and_no_store() {
    let app = spawn_app_with(|s| s.registry_host = "registry.example.com:5000".into()).await;
    let b = app.signed_up("alice").await;
    let res = create(&b, "CI on build-01", "repo:admin", "none", "").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get("location").is_none(), "no redirect");
    let html = res.text().await.unwrap();
    let token = token_in(&html);
    assert!(html.contains("docker login -u alice registry.example.com:5000"));
    assert!(html.contains("It will not be shown again"));
    // the overview shows the hint, never the token
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains(&format!("berth_pat_{}…", &token[10..14])));
    assert!(!overview.contains(&token));
    assert!(overview.contains("CI on build-01") && overview.contains("Read, Write, Delete") && overview.contains("Never"));
    // only the SHA-256 is stored
    let db = std::fs::read(app.settings.data_dir.join("berth.db")).unwrap_or_default();
    let wal = std::fs::read(app.settings.data_dir.join("berth.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!String::from_utf8_lossy(&bytes).contains(&token[10..]));
    }
    let auth = tokens::authenticate(&mut app.conn(), app.state.now(), "alice", &token, "127.0.0.1", "test").unwrap().expect("the token works");
    assert_eq!(auth.scope, Scope::Admin);
}

#[actix_web::test]
async fn the_personal_plan_offers_only_read_write_delete_and_one_token() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let (_, form) = b.get_text(NEW).await;
    assert!(form.contains(r#"<option value="repo:admin" selected>Read, Write, Delete</option>"#), "{form}");
    for (value, label) in [("repo:write", "Read &#38; Write"), ("repo:read", "Read-only"), ("repo:public_read", "Public Repo Read-only")] {
        assert!(form.contains(&format!(r#"<option value="{value}" disabled>{label} (Pro)</option>"#)), "{value}: {form}");
    }
    // a forged form gets a clear refusal, not a token
    let res = create(&b, "forged", "repo:read", "none", "").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Scoped tokens need the Pro"));
    assert_eq!(count_tokens(&app), 0);
    assert_eq!(create(&b, "first", "repo:admin", "none", "").await.status(), StatusCode::CREATED);
    // at the limit: the button is disabled with the reason, and the server refuses
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains(r#"<span class="btn btn-primary" aria-disabled="true" id="generate-token""#));
    assert!(overview.contains("Your plan allows 1 access token, and you have reached it."));
    let (_, form) = b.get_text(NEW).await;
    assert!(form.contains(r#"type="submit" disabled>Generate"#));
    let res = create(&b, "second", "repo:admin", "none", "").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("you have reached it"));
    assert_eq!(count_tokens(&app), 1);
    // inactive and expired tokens count too; an upgrade lifts the limit
    set_plan(&app, "alice", Plan::Pro);
    assert_eq!(create(&b, "scoped", "repo:read", "none", "").await.status(), StatusCode::CREATED);
    // a downgrade deletes nothing: the scoped token keeps working, creation is refused
    set_plan(&app, "alice", Plan::Personal);
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains("Read-only") && overview.contains("aria-disabled"));
}

#[actix_web::test]
async fn twenty_concurrent_creations_on_a_pro_account_end_with_exactly_five() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    set_plan(&app, "alice", Plan::Pro);
    // twenty forms opened (twenty one-time keys), then all sent at once
    let mut forms = Vec::new();
    for _ in 0..20 {
        let (csrf, once) = b.form(NEW).await;
        forms.push((csrf, once.expect("the form carries a one-time key")));
    }
    let b = &b;
    let results = futures_util::future::join_all(forms.iter().enumerate().map(|(i, (csrf, once))| async move {
        let d = format!("parallel {i}");
        b.post_raw("/settings/tokens", &[("csrf", csrf.as_str()), ("once", once.as_str()), ("description", d.as_str()), ("scope", "repo:read"), ("expiration", "none")])
            .await
            .status()
    }))
    .await;
    assert_eq!(results.iter().filter(|s| **s == StatusCode::CREATED).count(), 5);
    assert_eq!(results.iter().filter(|s| **s == StatusCode::FORBIDDEN).count(), 15);
    assert_eq!(count_tokens(&app), 5);
}

#[actix_web::test]
async fn the_overview_counts_pages_and_orders_newest_first() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    set_plan(&app, "alice", Plan::Team);
    let uid = app.user("alice").id;
    let now = app.state.now();
    for i in 0..30 {
        let expires_at = if i == 0 { Some(now + 60) } else { None };
        tokens::create(&mut app.conn(), uid, NewToken { description: format!("token {i:02}"), scope: Scope::Read, expires_at }, &Client::default(), now + i).unwrap();
    }
    let first = tokens::page(&mut app.conn(), uid, 1, 100).unwrap();
    tokens::update(&mut app.conn(), uid, &first[1].uuid, None, Some(false), &Client::default(), now).unwrap();
    app.clock.advance(120); // "token 00" expires
    let (_, html) = b.get_text("/settings/tokens").await;
    assert!(html.contains("<strong>28</strong> active · <strong>1</strong> inactive · <strong>1</strong> expired"), "{html}");
    assert_eq!(uuids_in(&html).len(), 25, "25 a page");
    let order: Vec<usize> = ["token 29", "token 28", "token 05"].iter().map(|d| html.find(d).expect(d)).collect();
    assert!(order[0] < order[1] && order[1] < order[2]);
    assert!(!html.contains("token 04"));
    let (_, html) = b.get_text("/settings/tokens?page=2").await;
    assert_eq!(uuids_in(&html).len(), 5);
    assert!(html.contains("token 00") && html.contains(r#"badge-amber">Expired"#) && html.contains("Page 2 of 2"));
    assert_eq!(count_tokens(&app), 30);
    assert_eq!(b.get("/settings/tokens?page=0").await.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn edit_renames_and_deactivates_and_the_row_menu_activates_again() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let token = token_in(&create(&b, "laptop", "repo:admin", "none", "").await.text().await.unwrap());
    let uuid = uuids_in(&b.get_text("/settings/tokens").await.1)[0].clone();
    let page = format!("/settings/tokens/{uuid}/edit");
    let res = b.submit(&page, &page, &[("description", "work laptop")]).await;
    assert_eq!(location(&res), "/settings/tokens");
    let (_, html) = b.get_text("/settings/tokens").await;
    assert!(html.contains("work laptop") && html.contains(r#"badge-grey">Inactive"#), "unticked box = inactive");
    let auth = |app: &TestApp| tokens::authenticate(&mut app.conn(), app.state.now(), "alice", &token, "127.0.0.1", "t").unwrap();
    assert!(auth(&app).is_none(), "an inactive token is refused");
    let res = b.submit("/settings/tokens", &format!("/settings/tokens/{uuid}/activate"), &[]).await;
    assert_eq!(location(&res), "/settings/tokens");
    assert!(auth(&app).is_some(), "reactivated, it works again");
    b.submit("/settings/tokens", &format!("/settings/tokens/{uuid}/deactivate"), &[]).await;
    assert!(auth(&app).is_none());
    let res = b.submit(&page, &page, &[("description", "x".repeat(101).as_str()), ("active", "on")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, events) = b.get_text("/settings/activity").await;
    for e in ["Access token created", "Access token renamed", "Access token activated", "Access token deactivated"] {
        assert!(events.contains(e), "{e}");
    }
}

#[actix_web::test]
async fn an_expired_token_can_only_be_deleted() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let token = token_in(&create(&b, "short lived", "repo:admin", "30", "").await.text().await.unwrap());
    let uuid = uuids_in(&b.get_text("/settings/tokens").await.1)[0].clone();
    app.clock.advance(30 * 86_400 + 1);
    // a month later the session has long ended: sign in again
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/");
    assert!(tokens::authenticate(&mut app.conn(), app.state.now(), "alice", &token, "127.0.0.1", "t").unwrap().is_none());
    let (_, html) = b.get_text("/settings/tokens").await;
    assert!(html.contains(r#"badge-amber">Expired"#) && html.contains("<strong>1</strong> expired"));
    assert!(!html.contains(&format!("/settings/tokens/{uuid}/edit")), "no edit in the menu");
    let res = b.get(&format!("/settings/tokens/{uuid}/edit")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("can only be deleted"));
    let res = b.submit("/settings/tokens", &format!("/settings/tokens/{uuid}/activate"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = format!("/settings/tokens/{uuid}/delete");
    let (_, confirm) = b.get_text(&page).await;
    assert!(confirm.contains("short lived") && confirm.contains("cannot be undone"));
    let res = b.submit(&page, &page, &[]).await;
    assert_eq!(location(&res), "/settings/tokens");
    assert_eq!(count_tokens(&app), 0);
}

#[actix_web::test]
async fn bulk_delete_goes_through_a_confirmation_and_is_all_or_nothing() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    set_plan(&app, "alice", Plan::Pro);
    for d in ["one", "two", "three"] {
        create(&b, d, "repo:read", "none", "").await;
    }
    let other = app.signed_up("bobby").await;
    let bobs = token_in(&create(&other, "bob's", "repo:admin", "none", "").await.text().await.unwrap());
    let bob_uuid = uuids_in(&other.get_text("/settings/tokens").await.1)[0].clone();
    let mine = uuids_in(&b.get_text("/settings/tokens").await.1);
    // step 1: the overview posts the selection; the answer names what will be lost
    let res = b.submit("/settings/tokens", "/settings/tokens/delete", &[("uuid", &mine[0]), ("uuid", &mine[1])]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let confirm = res.text().await.unwrap();
    assert!(confirm.contains("These 2 tokens") && confirm.contains("three") && confirm.contains("two"));
    assert_eq!(count_tokens(&app), 4, "nothing deleted before the confirmation");
    // a list holding a foreign uuid deletes nothing, confirmed or not
    for confirm in [None, Some("yes")] {
        let mut fields = vec![("uuid", mine[0].as_str()), ("uuid", bob_uuid.as_str())];
        if let Some(c) = confirm {
            fields.push(("confirm", c));
        }
        let res = b.submit("/settings/tokens", "/settings/tokens/delete", &fields).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(count_tokens(&app), 4);
    assert!(tokens::authenticate(&mut app.conn(), app.state.now(), "bobby", &bobs, "127.0.0.1", "t").unwrap().is_some(), "B's token still works");
    // step 2: confirmed
    let res = b.submit("/settings/tokens", "/settings/tokens/delete", &[("uuid", &mine[0]), ("uuid", &mine[1]), ("confirm", "yes")]).await;
    assert_eq!(location(&res), "/settings/tokens");
    let (_, html) = b.get_text("/settings/tokens").await;
    assert!(html.contains("2 tokens were deleted."));
    assert_eq!(uuids_in(&html), vec![mine[2].clone()]);
    let (_, events) = b.get_text("/settings/activity").await;
    assert_eq!(events.matches("Access token deleted").count(), 2, "one event per token");
}

#[actix_web::test]
async fn another_users_or_a_malformed_uuid_is_404_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bobby").await;
    create(&bob, "bob's", "repo:admin", "none", "").await;
    let bob_uuid = uuids_in(&bob.get_text("/settings/tokens").await.1)[0].clone();
    for uuid in [bob_uuid.as_str(), "not-a-uuid", "../../etc", "00000000-0000-0000-0000-000000000000"] {
        assert_eq!(alice.get(&format!("/settings/tokens/{uuid}/edit")).await.status(), StatusCode::NOT_FOUND, "{uuid}");
        assert_eq!(alice.get(&format!("/settings/tokens/{uuid}/delete")).await.status(), StatusCode::NOT_FOUND);
        for action in ["edit", "activate", "deactivate", "delete"] {
            let fields: &[(&str, &str)] = if action == "edit" { &[("description", "mine now")] } else { &[] };
            let res = alice.submit("/settings/tokens", &format!("/settings/tokens/{uuid}/{action}"), fields).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action} {uuid}");
        }
    }
    let t = &tokens::page(&mut app.conn(), app.user("bobby").id, 1, 10).unwrap()[0];
    assert!(t.is_active && t.description == "bob's");
}

#[actix_web::test]
async fn bad_token_forms_get_clear_messages_and_write_nothing() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    set_plan(&app, "alice", Plan::Pro);
    let today = chrono::DateTime::from_timestamp(app.state.now(), 0).unwrap().date_naive();
    let yesterday = (today - chrono::Days::new(1)).to_string();
    let too_far = (today + chrono::Days::new(366)).to_string();
    let long = "x".repeat(101);
    let tomorrow = (today + chrono::Days::new(1)).to_string();
    let cases: [(&str, &str, &str, &str, &str); 11] = [
        // a date beside another choice is a conflict, never silently dropped
        ("ok", "repo:read", "none", &tomorrow, "A date is set, but Expiration is not"),
        ("ok", "repo:read", "30", &tomorrow, "A date is set, but Expiration is not"),
        ("", "repo:read", "none", "", "Add a description"),
        ("   ", "repo:read", "none", "", "Add a description"),
        (&long, "repo:read", "none", "", "at most 100 characters"),
        ("tab\there", "repo:read", "none", "", "control characters"),
        ("ok", "repo:root", "none", "", "Choose one of the listed access permissions"),
        ("ok", "repo:read", "custom", &yesterday, "has not passed"),
        ("ok", "repo:read", "custom", &too_far, "at most one year ahead"),
        ("ok", "repo:read", "custom", "31/12/2026", "YYYY-MM-DD, for example 2027-01-15"),
        ("ok", "repo:read", "45", "", "30, 60 or 90 days"),
    ];
    for (description, scope, expiration, on, message) in cases {
        let res = create(&b, description, scope, expiration, on).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{message} missing");
        if !expiration.is_empty() && !on.is_empty() {
            assert!(html.contains(r#"<p class="field-error" id="expires-on-error">"#), "a date error stands at the date field: {message}");
        }
    }
    assert_eq!(count_tokens(&app), 0);
    // the last day allowed, and today, work: the end of that day, UTC
    let last = (today + chrono::Days::new(365)).to_string();
    assert_eq!(create(&b, "a year", "repo:read", "custom", &last).await.status(), StatusCode::CREATED);
    let res = create(&b, "today", "repo:read", "custom", &today.to_string()).await;
    assert!(res.text().await.unwrap().contains(&format!("{today} 23:59:59 UTC")));
}

#[actix_web::test]
async fn descriptions_render_as_text() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let xss = "<img src=x onerror=alert(1)>";
    let created = create(&b, xss, "repo:admin", "none", "").await.text().await.unwrap();
    assert!(!created.contains(xss));
    for page in ["/settings/tokens", "/settings/activity"] {
        let (_, html) = b.get_text(page).await;
        assert!(!html.contains(xss), "{page}");
        assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;"), "{page}");
    }
}

#[actix_web::test]
async fn authenticate_checks_everything_and_records_last_use_sparingly() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let token = token_in(&create(&b, "ci", "repo:admin", "none", "").await.text().await.unwrap());
    let uid = app.user("alice").id;
    let last = |app: &TestApp| {
        let t = &tokens::page(&mut app.conn(), uid, 1, 1).unwrap()[0];
        (t.last_used_at, t.last_used_ip.clone(), t.last_used_ua.clone())
    };
    let auth = |app: &TestApp, user: &str, secret: &str, ip: &str| tokens::authenticate(&mut app.conn(), app.state.now(), user, secret, ip, "docker/28.2").unwrap();
    // failures never touch last use
    assert!(auth(&app, "bobby", &token, "10.0.0.1").is_none(), "another username");
    assert!(auth(&app, "alice", &token.replace("berth_pat_", "berth_pot_"), "10.0.0.1").is_none());
    assert_eq!(last(&app), (None, None, None));
    // success records time, IP and client
    let t0 = app.state.now();
    let ok = auth(&app, "ALICE", &token, "10.0.0.1").expect("works");
    assert_eq!((ok.username.as_str(), ok.scope), ("alice", Scope::Admin));
    assert_eq!(last(&app), (Some(t0), Some("10.0.0.1".into()), Some("docker/28.2".into())));
    // the same IP and client within a minute: no write
    app.clock.advance(30);
    auth(&app, "alice", &token, "10.0.0.1").unwrap();
    assert_eq!(last(&app).0, Some(t0));
    // a new IP: written at once
    auth(&app, "alice", &token, "10.0.0.2").unwrap();
    assert_eq!(last(&app), (Some(t0 + 30), Some("10.0.0.2".into()), Some("docker/28.2".into())));
    // a minute later: written again
    app.clock.advance(60);
    auth(&app, "alice", &token, "10.0.0.2").unwrap();
    assert_eq!(last(&app).0, Some(t0 + 90));
    // the first use and the change of IP are in the activity log, the repeats are not
    let (events, _) = berth::activity::list(&mut app.conn(), uid, 1, 50).unwrap();
    let from: Vec<String> = events.iter().filter(|e| e.kind == "token_used_from_new_ip").map(|e| e.ip.clone()).collect();
    assert_eq!(from, ["10.0.0.2", "10.0.0.1"]);
    // a disabled owner's token does not work
    berth::accounts::set_disabled(&mut app.conn(), uid, true).unwrap();
    assert!(auth(&app, "alice", &token, "10.0.0.2").is_none());
    berth::accounts::set_disabled(&mut app.conn(), uid, false).unwrap();
    assert!(auth(&app, "alice", &token, "10.0.0.2").is_some());
    // deleted: refused
    let uuid = tokens::page(&mut app.conn(), uid, 1, 1).unwrap()[0].uuid.clone();
    tokens::delete(&mut app.conn(), uid, &[uuid], &Client::default(), app.state.now()).unwrap();
    assert!(auth(&app, "alice", &token, "10.0.0.2").is_none());
}

#[test]
fn a_malformed_token_is_refused_before_any_query() {
    use diesel::Connection;
    // a database without tables: any query would fail
    let mut empty = berth::db::Conn::Sqlite(diesel::sqlite::SqliteConnection::establish(":memory:").unwrap());
    let token = tokens::PlainToken::generate();
    let mut broken = token.expose().to_string();
    broken.pop();
    broken.push(if token.expose().ends_with('0') { '1' } else { '0' });
    for bad in ["", "password123", "berth_pat_", broken.as_str()] {
        assert!(tokens::authenticate(&mut empty, 0, "alice", bad, "", "").unwrap().is_none(), "{bad}");
    }
    assert!(tokens::authenticate(&mut empty, 0, "alice", token.expose(), "", "").is_err(), "a well-formed one does query");
}

#[actix_web::test]
async fn a_thousand_tokens_go_in_one_bulk_request() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    set_plan(&app, "alice", Plan::Business);
    let uid = app.user("alice").id;
    let uuids: Vec<String> = (0..1000)
        .map(|i| tokens::create(&mut app.conn(), uid, NewToken { description: format!("bulk {i}"), scope: Scope::Read, expires_at: None }, &Client::default(), 0).unwrap().0.uuid)
        .collect();
    let token = b.csrf("/settings/tokens").await;
    let mut fields: Vec<(&str, &str)> = vec![("csrf", token.as_str()), ("confirm", "yes")];
    fields.extend(uuids.iter().map(|u| ("uuid", u.as_str())));
    let res = b.post_raw("/settings/tokens/delete", &fields).await;
    assert_eq!(location(&res), "/settings/tokens");
    assert_eq!(count_tokens(&app), 0);
    // one more than the limit is refused whole
    let mut fields: Vec<(&str, &str)> = vec![("csrf", token.as_str()), ("confirm", "yes")];
    let many: Vec<String> = (0..1001).map(|i| format!("00000000-0000-0000-0000-{i:012}")).collect();
    fields.extend(many.iter().map(|u| ("uuid", u.as_str())));
    assert_eq!(b.post_raw("/settings/tokens/delete", &fields).await.status(), StatusCode::BAD_REQUEST);
}
