//! Text people type that others read: bidi and control characters are refused in every
//! description (web and JSON API), and reserved names cannot be signed up.

use berth::accounts::Plan;
use reqwest::StatusCode;
use serde_json::{Value, json};

use berth_test_support::*;

/// Flips what follows it (U+202E RIGHT-TO-LEFT OVERRIDE), and the other bidi controls.
const HOSTILE: [&str; 5] = ["ci \u{202E}lmth.exe", "a\u{202A}b", "a\u{2066}b\u{2069}", "x\u{061C}y", "tab\there"];
/// Direction marks and an emoji joined with ZWJ stay allowed.
const FRIENDLY: [&str; 3] = ["בדיקה\u{200F} ci", "left\u{200E}right", "👩\u{200D}💻 laptop"];

#[actix_web::test]
async fn bidi_and_control_characters_are_refused_in_descriptions_on_the_web() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    let create = |description: &'static str| {
        let b = &b;
        async move { b.submit("/settings/tokens/new", "/settings/tokens", &[("description", description), ("scope", "repo:read"), ("expiration", "none"), ("expires_on", "")]).await }
    };
    for description in HOSTILE {
        let res = create(description).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{description:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains("cannot hold"), "{description:?}: a clear message");
    }
    assert_eq!(app.token_rows(), 0, "nothing written");
    for description in FRIENDLY {
        let res = create(description).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{description:?}");
        audit::tokens_in(&res.text().await.unwrap());
    }
    // renaming refuses them too
    let uuid = berth::tokens::page(&mut app.conn(), app.user("alice").id, 1, 10).unwrap()[0].uuid.clone();
    let page = format!("/settings/tokens/{uuid}/edit");
    let res = b.submit(&page, &page, &[("description", HOSTILE[0]), ("active", "on")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(berth::tokens::page(&mut app.conn(), app.user("alice").id, 1, 10).unwrap().iter().all(|t| !t.description.contains('\u{202E}')));
}

#[actix_web::test]
async fn bidi_and_control_characters_are_refused_in_descriptions_by_the_json_api() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, Plan::Team).unwrap();
    let client = reqwest::Client::new();
    let login: Value = client.post(format!("{}/v2/users/login", app.url)).json(&json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap().json().await.unwrap();
    let jwt = login["token"].as_str().unwrap().to_string();
    let create = |label: &str| client.post(format!("{}/v2/access-tokens", app.url)).bearer_auth(&jwt).json(&json!({ "token_label": label, "scopes": ["repo:read"] })).send();
    for label in HOSTILE {
        let res = create(label).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{label:?}");
        let body: Value = res.json().await.unwrap();
        assert!(body["fields"]["token_label"][0].as_str().unwrap().contains("cannot hold"), "{body}");
    }
    assert_eq!(app.token_rows(), 0, "nothing written");
    let made: Value = create(FRIENDLY[2]).await.unwrap().json().await.unwrap();
    audit::tokens_in(made["token"].as_str().unwrap());
    let uuid = made["uuid"].as_str().unwrap();
    let res = client.patch(format!("{}/v2/access-tokens/{uuid}", app.url)).bearer_auth(&jwt).json(&json!({ "token_label": HOSTILE[0] })).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let kept = berth::tokens::page(&mut app.conn(), app.user("alice").id, 1, 10).unwrap();
    assert_eq!(kept[0].description, FRIENDLY[2], "the rename changed nothing");
}

#[actix_web::test]
async fn reserved_names_cannot_be_signed_up_but_an_operator_may_create_them() {
    let app = spawn_app().await;
    for name in ["library", "Admin", "administrator", "root", "token", "tokens", "registry", "berth", "support", "security", "help", "login", "signup", "settings"] {
        let res = app.browser().signup(name, &format!("{}@example.com", name.to_lowercase()), PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(res.text().await.unwrap().contains("This name is reserved"), "{name}");
    }
    assert!(berth::accounts::list(&mut app.conn()).unwrap().is_empty(), "no account was created");
    // the operator's path (berth user add) does not consult the list
    let new = berth::accounts::NewAccount {
        username: "admin".into(),
        email: "admin@example.com".into(),
        email_normalized: "admin@example.com".into(),
        password_hash: berth::accounts::password::hash(&PASSWORD.to_string().into()),
        plan: Plan::Personal,
        operator: true,
    };
    berth::accounts::create(&mut app.conn(), new, app.state.now()).unwrap();
    assert_eq!(location(&app.browser().login("admin", PASSWORD).await), "/");
}

#[actix_web::test]
async fn user_text_from_before_the_rule_is_isolated_wherever_it_is_shown() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let uid = app.user("alice").id;
    // a description stored before bidi controls were refused
    let legacy = "old \u{202E}gnp.exe";
    let new = berth::tokens::NewToken { description: legacy.into(), scope: berth::tokens::Scope::Admin, expires_at: None };
    let (t, plain) = berth::tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap();
    audit::secret(plain.expose());
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert!(overview.contains(&format!("<bdi>{legacy}</bdi>")), "the overview isolates it");
    let (_, confirm) = b.get_text(&format!("/settings/tokens/{}/delete", t.uuid)).await;
    assert!(confirm.contains(&format!("<strong><bdi>{legacy}</bdi></strong>")));
    b.submit("/settings/tokens", &format!("/settings/tokens/{}/deactivate", t.uuid), &[]).await;
    let (_, flashed) = b.get_text("/settings/tokens").await;
    assert!(flashed.contains(&format!("\u{201c}\u{2068}{legacy}\u{2069}\u{201d} was deactivated.")), "the flash isolates it");
    let (_, activity) = b.get_text("/settings/activity").await;
    assert!(activity.contains(&format!("\u{2068}{legacy}\u{2069}")), "the activity detail isolates it");
}
