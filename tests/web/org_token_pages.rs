//! /orgs/{org}/access-tokens: an organization's access tokens on the pages, for its owners.

use berth::accounts::Plan;
use berth::orgs::{self, Actor};
use berth::owners::Role;
use regex::Regex;
use reqwest::StatusCode;

use berth_test_support::*;

const PAGE: &str = "/orgs/acme/access-tokens";

/// alice, signed in, owns `acme` (Team plan) with repositories `acme/app` and `acme/tool`.
async fn acme(app: &TestApp) -> Browser {
    let b = app.signed_up("alice").await;
    let org = orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &Actor::cli(), app.state.now()).unwrap();
    for path in ["app", "tool"] {
        berth::repositories::create(&mut app.conn(), &org, path, false, app.state.now()).unwrap();
    }
    b
}

fn token_in(html: &str) -> String {
    let token = Regex::new(r#"<code id="token">(berth_oat_[0-9A-Za-z]{38})</code>"#).unwrap().captures(html).expect("the token is on the page")[1].to_string();
    audit::secret(&token);
    token
}

fn ids_in(html: &str) -> Vec<String> {
    Regex::new(r#"/orgs/acme/access-tokens/([0-9a-f-]{36})/delete"#).unwrap().captures_iter(html).map(|c| c[1].to_string()).collect()
}

fn org_token_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    berth::db::schema::org_access_tokens::table.count().get_result(&mut app.conn()).unwrap()
}

/// The form as a browser sends it: its five rows (the first ones filled), the public box.
fn form<'a>(label: &'a str, rows: &[(&'a str, &'a str)], public: bool) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![("label", label), ("description", ""), ("expiration", "none"), ("expires_on", "")];
    for i in 0..5 {
        let (repository, scope) = rows.get(i).copied().unwrap_or(("", "scope-image-pull"));
        fields.push(("repository", repository));
        fields.push(("scope", scope));
    }
    if public {
        fields.push(("public", "on"));
    }
    fields
}

#[actix_web::test]
async fn an_owner_creates_a_token_whose_secret_is_shown_once_and_a_resubmission_creates_nothing() {
    let app = spawn_app_with(|s| s.registry_host = "registry.example.com:5000".into()).await;
    let b = acme(&app).await;
    let (status, page) = b.get_text(PAGE).await;
    assert_eq!(status, StatusCode::OK);
    for option in
        [r#"<option value="acme/*">All repositories (acme/*)</option>"#, r#"<option value="acme/app">acme/app</option>"#, r#"<option value="acme/tool">acme/tool</option>"#]
    {
        assert!(page.contains(option), "{option}");
    }
    assert_eq!(page.matches(r#"name="repository""#).count(), 5, "five rows without JavaScript");
    assert!(page.contains("<strong>0</strong> of 10 tokens held"));
    let (csrf, once) = b.form(PAGE).await;
    let once = once.expect("the form has a one-time key");
    let mut fields = vec![("csrf", csrf.as_str()), ("once", once.as_str())];
    fields.extend(form("CI on build-01", &[("acme/app", "scope-image-push"), ("acme/*", "scope-image-pull")], true));
    let res = b.post_raw(PAGE, &fields).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let token = token_in(&html);
    assert!(html.contains("docker login -u acme registry.example.com:5000"));
    assert!(html.contains("It will not be shown again"));
    // the list shows it, never its secret
    let (_, list) = b.get_text(PAGE).await;
    assert!(list.contains("CI on build-01") && list.contains(&format!("berth_oat_{}…", &token[10..14])) && !list.contains(&token));
    assert!(list.contains("<li>acme/app: Image Pull &#38; Push</li><li>acme/*: Image Pull</li><li>public repositories: Image Pull</li>"), "{list}");
    assert!(list.contains("<bdi>alice</bdi>") && list.contains("Never") && list.contains("Active"));
    // the same form again (reload, back button, double click): no second token, no secret
    let again = b.post_raw(PAGE, &fields).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let again = again.text().await.unwrap();
    assert!(again.contains("already created") && !again.contains("berth_oat_"));
    assert_eq!(org_token_rows(&app), 1);
    // it works at the registry with the organization's name
    let res =
        reqwest::Client::new().get(format!("{}/token?service=registry.local&scope=repository:acme/app:pull,push", app.url)).basic_auth("acme", Some(&token)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_form_without_resources_or_with_a_forged_one_is_refused_beside_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let b = acme(&app).await;
    app.signed_up("bobby").await;
    for (fields, says) in [
        (form("no rows", &[], false), "Add at least one resource"),
        (form("forged", &[("bobby/app", "scope-image-pull")], false), "bobby/app is not a repository of acme"),
        (form("missing", &[("acme/ghost", "scope-image-pull")], false), "acme/ghost is not a repository of acme"),
        (form("forged scope", &[("acme/app", "scope-image-root")], false), "Unknown scope"),
        (form("", &[("acme/app", "scope-image-pull")], false), "Add a label"),
    ] {
        let res = b.submit(PAGE, PAGE, &fields).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{says}");
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
        assert!(html.contains(r#"class="field-error""#), "beside its field");
    }
    // rows that do not pair up
    let res = b.submit(PAGE, PAGE, &[("label", "x"), ("description", ""), ("expiration", "none"), ("repository", "acme/app")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = b.submit(PAGE, PAGE, &[("label", "x"), ("description", ""), ("expiration", "soon"), ("repository", "acme/app"), ("scope", "scope-image-pull")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(org_token_rows(&app), 0, "nothing was created");
    // the positive control
    let res = b.submit(PAGE, PAGE, &form("right", &[("acme/app", "scope-image-pull")], false)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    token_in(&res.text().await.unwrap());
}

#[actix_web::test]
async fn deactivate_activate_and_delete_need_the_csrf_token_and_are_in_the_audit_log() {
    let app = spawn_app().await;
    let b = acme(&app).await;
    let res = b.submit(PAGE, PAGE, &form("ci", &[("acme/app", "scope-image-pull")], false)).await;
    let token = token_in(&res.text().await.unwrap());
    let (_, list) = b.get_text(PAGE).await;
    let id = ids_in(&list).pop().expect("the token's row");
    let registry = |app: &TestApp, token: String| {
        let url = format!("{}/token?service=registry.local", app.url);
        async move { reqwest::Client::new().get(url).basic_auth("acme", Some(&token)).send().await.unwrap().status() }
    };
    // without the CSRF token, or with another's: refused, nothing changes
    assert_eq!(b.post_raw(&format!("{PAGE}/{id}/deactivate"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(b.post_raw(&format!("{PAGE}/{id}/deactivate"), &[("csrf", "forged")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(registry(&app, token.clone()).await, StatusCode::OK);
    assert_eq!(b.get(&format!("{PAGE}/{id}/deactivate")).await.status(), StatusCode::METHOD_NOT_ALLOWED, "no GET changes anything");
    // (the list's forms carry its CSRF token only: its one-time key is the creation form's)
    let csrf = b.csrf(PAGE).await;
    let res = b.post_raw(&format!("{PAGE}/{id}/deactivate"), &[("csrf", &csrf)]).await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, PAGE.to_string()));
    assert_eq!(registry(&app, token.clone()).await, StatusCode::UNAUTHORIZED);
    let (_, list) = b.get_text(PAGE).await;
    assert!(list.contains("was deactivated") && list.contains("Inactive") && list.contains("/activate"));
    b.post_raw(&format!("{PAGE}/{id}/activate"), &[("csrf", &csrf)]).await;
    assert_eq!(registry(&app, token.clone()).await, StatusCode::OK);
    let (status, confirm) = b.get_text(&format!("{PAGE}/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("will stop working at once") && confirm.contains("ci"));
    assert_eq!(org_token_rows(&app), 1, "the confirmation deletes nothing");
    let res = b.submit(&format!("{PAGE}/{id}/delete"), &format!("{PAGE}/{id}/delete"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!((org_token_rows(&app), app.owner("acme").token_count), (0, 0));
    assert_eq!(registry(&app, token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(b.get(&format!("{PAGE}/{id}/delete")).await.status(), StatusCode::NOT_FOUND);
    let (log, _) = orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 50).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for a in ["oat.create", "oat.deactivate", "oat.activate", "oat.delete"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[actix_web::test]
async fn members_of_other_roles_get_403_and_everyone_else_404_on_every_route() {
    let app = spawn_app().await;
    let owner = acme(&app).await;
    let res = owner.submit(PAGE, PAGE, &form("ci", &[("acme/app", "scope-image-pull")], false)).await;
    token_in(&res.text().await.unwrap());
    let (_, list) = owner.get_text(PAGE).await;
    let id = ids_in(&list).pop().unwrap();
    let org = app.owner("acme");
    let editor = app.signed_up("edith").await;
    orgs::add_member(&mut app.conn(), &org, &app.user("edith"), Role::Editor, None, &Actor::cli(), app.state.now()).unwrap();
    let member = app.signed_up("mike1").await;
    orgs::add_member(&mut app.conn(), &org, &app.user("mike1"), Role::Member, None, &Actor::cli(), app.state.now()).unwrap();
    let outsider = app.signed_up("nancy").await;
    for (who, b, want) in [("editor", &editor, StatusCode::FORBIDDEN), ("member", &member, StatusCode::FORBIDDEN), ("outsider", &outsider, StatusCode::NOT_FOUND)] {
        assert_eq!(b.get(PAGE).await.status(), want, "{who}: the list");
        assert_eq!(b.get(&format!("{PAGE}/{id}/delete")).await.status(), want, "{who}: the delete page");
        assert_eq!(b.get("/orgs/nosuchorg/access-tokens").await.status(), StatusCode::NOT_FOUND, "{who}: an unknown organization");
        // forms posted with the visitor's own CSRF token (taken from a page they may see)
        let csrf = b.csrf("/settings/account").await;
        let once = berth::once::new_key(app.state.now());
        let mut create = vec![("csrf", csrf.as_str()), ("once", once.as_str())];
        create.extend(form("theirs", &[("acme/app", "scope-image-pull")], false));
        assert_eq!(b.post_raw(PAGE, &create).await.status(), want, "{who}: create");
        for action in ["deactivate", "activate", "delete"] {
            assert_eq!(b.post_raw(&format!("{PAGE}/{id}/{action}"), &[("csrf", &csrf)]).await.status(), want, "{who}: {action}");
        }
    }
    assert_eq!(org_token_rows(&app), 1);
    let (_, list) = owner.get_text(PAGE).await;
    assert!(list.contains("Active"), "nothing was changed by them");
    // signed out: to the login form
    let anonymous = app.browser();
    assert_eq!(anonymous.get(PAGE).await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn what_an_owner_typed_is_shown_as_text_and_more_rows_are_a_link_away() {
    let app = spawn_app().await;
    let b = acme(&app).await;
    let hostile = "<img src=x onerror=alert(1)>";
    let mut fields = form(hostile, &[("acme/app", "scope-image-pull")], false);
    fields[1] = ("description", "<script>alert(2)</script>");
    let res = b.submit(PAGE, PAGE, &fields).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    token_in(&res.text().await.unwrap());
    let (_, list) = b.get_text(PAGE).await;
    assert!(!list.contains(hostile) && list.contains("&#60;img src=x onerror=alert(1)&#62;"), "escaped");
    assert!(!list.contains("<script>alert(2)"));
    let (_, more) = b.get_text(&format!("{PAGE}?rows=10")).await;
    assert_eq!(more.matches(r#"name="repository""#).count(), 10);
    let (_, most) = b.get_text(&format!("{PAGE}?rows=1000")).await;
    assert_eq!(most.matches(r#"name="repository""#).count(), 50, "at most the 50 a token may hold");
}
