//! The JSON API of organizations: members, groups (teams), repository group permissions,
//! invitations and the audit log, in Docker Hub's shapes, with the role read at every request.

use berth::accounts::Plan;
use berth::orgs::{self, Actor, teams};
use berth::owners::{Permission, Role};
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{call, jwt, new_token};
use berth_test_support::*;

const PAT_FORBIDDEN: &str = "access to the resource is forbidden with personal access token";

/// The status and the JSON body (null when there is none) of one call.
async fn send(app: &TestApp, method: Method, path: &str, bearer: &str, body: Option<Value>) -> (StatusCode, Value) {
    let res = call(app, method, path, bearer, body).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    audit::tokens_in(&text);
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")) })
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> (StatusCode, Value) {
    send(app, Method::GET, path, bearer, None).await
}

/// Organization acme: alice owns it, erin edits, mike is a member (in group devs, which
/// reads the private acme/app), olga is no member. Group ops holds nothing and has nobody;
/// acme/site is public.
struct Acme {
    app: TestApp,
    owner: String,
    editor: String,
    member: String,
    outsider: String,
    devs: i32,
    ops: i32,
}

async fn acme() -> Acme {
    let app = spawn_app().await;
    for name in ["alice", "erin", "mike", "olga"] {
        app.signed_up(name).await;
    }
    let (now, cli) = (app.state.now(), Actor::cli());
    let mut c = app.conn();
    let org = orgs::create(&mut c, "acme", &app.user("alice"), Plan::Team, &cli, now).unwrap();
    orgs::add_member(&mut c, &org, &app.user("erin"), Role::Editor, None, &cli, now).unwrap();
    orgs::add_member(&mut c, &org, &app.user("mike"), Role::Member, None, &cli, now).unwrap();
    let devs = teams::create(&mut c, &org, "devs", "Developers", &cli, now).unwrap();
    let ops = teams::create(&mut c, &org, "ops", "", &cli, now).unwrap();
    teams::add_member(&mut c, &org, &devs, "mike", &cli, now).unwrap();
    let alice = app.user("alice").id;
    orgs::repositories::create(&mut c, "acme", alice, "app", false, &cli, now).unwrap();
    orgs::repositories::create(&mut c, "acme", alice, "site", true, &cli, now).unwrap();
    teams::set_permission(&mut c, &org, &devs, "acme/app", Permission::Read, &cli, now).unwrap();
    drop(c);
    let (owner, editor) = (jwt(&app, "alice", PASSWORD).await, jwt(&app, "erin", PASSWORD).await);
    let (member, outsider) = (jwt(&app, "mike", PASSWORD).await, jwt(&app, "olga", PASSWORD).await);
    Acme { app, owner, editor, member, outsider, devs: devs.id, ops: ops.id }
}

fn org_events(app: &TestApp) -> i64 {
    berth::db::schema::org_events::table.count().get_result(&mut app.conn()).unwrap()
}

fn invitation_rows(app: &TestApp) -> i64 {
    berth::db::schema::invitations::table.count().get_result(&mut app.conn()).unwrap()
}

#[actix_web::test]
async fn an_owner_runs_an_organization_through_the_api_in_docker_hubs_shapes() {
    let a = acme().await;
    let (app, t) = (&a.app, a.owner.as_str());
    let (status, mine) = get(app, "/v2/user/orgs/", t).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((mine["count"].as_i64(), mine["next"].is_null(), mine["previous"].is_null()), (Some(1), true, true));
    let org = &mine["results"][0];
    for field in ["id", "orgname", "full_name", "company", "location", "date_joined"] {
        assert!(org.get(field).is_some(), "{field}");
    }
    assert_eq!((org["orgname"].as_str(), org["type"].as_str(), org["role"].as_str()), (Some("acme"), Some("Organization"), Some("Owner")));
    // with and without the trailing slash, as Docker Hub's clients write either
    for path in ["/v2/orgs/acme", "/v2/orgs/acme/", "/v2/user/orgs"] {
        assert_eq!(get(app, path, t).await.0, StatusCode::OK, "{path}");
    }
    assert_eq!(get(app, "/v2/orgs/acme", t).await.1["plan"], "team");

    // members: Docker Hub's roles, each member's groups
    let (_, members) = get(app, "/v2/orgs/acme/members", t).await;
    assert_eq!(members["count"], 3);
    let names: Vec<&str> = members["results"].as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "erin", "mike"]);
    let mike = &members["results"][2];
    assert_eq!((mike["role"].as_str(), mike["groups"].clone(), mike["is_guest"].as_bool(), mike["type"].as_str()), (Some("Member"), json!(["devs"]), Some(false), Some("User")));
    assert_eq!(mike["email"], "mike@example.com", "an owner sees email addresses");
    assert_eq!(members["results"][1]["role"], "Editor");
    let (_, only) = get(app, "/v2/orgs/acme/members?role=editor", t).await;
    assert_eq!(only["results"][0]["username"], "erin");
    let (_, found) = get(app, "/v2/orgs/acme/members?search=MIK&page_size=1", t).await;
    assert_eq!((found["count"].as_i64(), found["results"][0]["username"].as_str()), (Some(1), Some("mike")));
    let (_, paged) = get(app, "/v2/orgs/acme/members?page=2&page_size=2", t).await;
    assert_eq!(paged["results"].as_array().unwrap().len(), 1);
    assert!(paged["previous"].as_str().unwrap().ends_with("/v2/orgs/acme/members?page=1&page_size=2"));
    let (status, changed) = send(app, Method::PUT, "/v2/orgs/acme/members/mike", t, Some(json!({ "role": "editor" }))).await;
    assert_eq!((status, changed["role"].as_str(), changed["username"].as_str()), (StatusCode::OK, Some("Editor"), Some("mike")));
    send(app, Method::PUT, "/v2/orgs/acme/members/mike", t, Some(json!({ "role": "member" }))).await;

    // groups
    let (status, created) = send(app, Method::POST, "/v2/orgs/acme/groups", t, Some(json!({ "name": "QA", "description": "Testers" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((created["name"].as_str(), created["description"].as_str(), created["member_count"].as_i64()), (Some("qa"), Some("Testers"), Some(0)));
    assert!(created["id"].as_i64().is_some() && created["uuid"].as_str().unwrap().len() == 36);
    let (_, groups) = get(app, "/v2/orgs/acme/groups/", t).await;
    let listed: Vec<(&str, i64)> = groups["results"].as_array().unwrap().iter().map(|g| (g["name"].as_str().unwrap(), g["member_count"].as_i64().unwrap())).collect();
    assert_eq!((groups["count"].as_i64(), listed), (Some(3), vec![("devs", 1), ("ops", 0), ("qa", 0)]));
    assert_eq!(get(app, "/v2/orgs/acme/groups?username=mike", t).await.1["results"][0]["name"], "devs");
    assert_eq!(get(app, "/v2/orgs/acme/groups?search=q", t).await.1["count"], 1);
    let (status, added) = send(app, Method::POST, "/v2/orgs/acme/groups/qa/members", t, Some(json!({ "member": "erin" }))).await;
    assert_eq!((status, added["username"].as_str()), (StatusCode::OK, Some("erin")));
    let (_, qa) = get(app, "/v2/orgs/acme/groups/qa", t).await;
    assert_eq!((qa["member_count"].as_i64(), qa["id"].clone()), (Some(1), created["id"].clone()));
    let (_, qa_members) = get(app, "/v2/orgs/acme/groups/qa/members/", t).await;
    assert_eq!((qa_members["count"].as_i64(), qa_members["results"][0]["username"].as_str()), (Some(1), Some("erin")));
    assert_eq!(qa_members["results"][0]["email"], "erin@example.com");
    let (status, renamed) = send(app, Method::PATCH, "/v2/orgs/acme/groups/qa", t, Some(json!({ "name": "quality" }))).await;
    assert_eq!((status, renamed["name"].as_str(), renamed["description"].as_str()), (StatusCode::OK, Some("quality"), Some("Testers")));
    let (status, replaced) = send(app, Method::PUT, "/v2/orgs/acme/groups/quality", t, Some(json!({ "name": "quality", "description": "QA" }))).await;
    assert_eq!((status, replaced["description"].as_str()), (StatusCode::OK, Some("QA")));
    assert_eq!(get(app, "/v2/orgs/acme/groups/qa", t).await.0, StatusCode::NOT_FOUND, "renamed");

    // a group's permissions on repositories, from both sides
    let (status, granted) = send(app, Method::POST, "/v2/repositories/acme/site/groups/", t, Some(json!({ "group_id": a.ops, "permission": "write" }))).await;
    assert_eq!((status, granted), (StatusCode::OK, json!({ "group_id": a.ops, "group_name": "ops", "permission": "write" })));
    let (_, on_app) = get(app, "/v2/repositories/acme/app/groups/", t).await;
    assert_eq!((on_app["count"].as_i64(), on_app["results"].clone()), (Some(1), json!([{ "group_id": a.devs, "group_name": "devs", "permission": "read" }])));
    let (status, held) = get(app, "/v2/orgs/acme/groups/devs/repositories/", t).await;
    assert_eq!((status, held), (StatusCode::OK, json!([{ "namespace": "acme", "repository": "app", "permission": "read" }])));
    let (status, one) = get(app, &format!("/v2/repositories/acme/site/groups/{}", a.ops), t).await;
    assert_eq!((status, one["permission"].as_str()), (StatusCode::OK, Some("write")));
    // Docker Hub's clients send the fields they leave out as 0 and ""
    let (status, patched) =
        send(app, Method::PATCH, &format!("/v2/repositories/acme/site/groups/{}/", a.ops), t, Some(json!({ "group_id": 0, "group_name": "", "permission": "admin" }))).await;
    assert_eq!((status, patched["permission"].as_str()), (StatusCode::OK, Some("admin")));
    assert_eq!(send(app, Method::DELETE, &format!("/v2/repositories/acme/site/groups/{}", a.ops), t, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(app, &format!("/v2/repositories/acme/site/groups/{}", a.ops), t).await.0, StatusCode::NOT_FOUND);
    // a repository of several components
    orgs::repositories::create(&mut app.conn(), "acme", app.user("alice").id, "tools/cli", false, &Actor::cli(), app.state.now()).unwrap();
    let (status, _) = send(app, Method::POST, "/v2/repositories/acme/tools/cli/groups/", t, Some(json!({ "group_name": "ops", "permission": "read" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(app, "/v2/orgs/acme/groups/ops/repositories/", t).await.1, json!([{ "namespace": "acme", "repository": "tools/cli", "permission": "read" }]));

    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/groups/quality/members/erin", t, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(app, "/v2/orgs/acme/groups/quality/members", t).await.1["count"], 0);
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/groups/quality/", t, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(app, "/v2/orgs/acme/groups/quality", t).await.0, StatusCode::NOT_FOUND);

    // the audit log holds every change above, newest first, with Docker Hub's fields
    let (status, log) = get(app, "/v2/auditlogs/acme", t).await;
    assert_eq!(status, StatusCode::OK);
    let newest = &log["logs"][0];
    assert_eq!(
        (newest["account"].as_str(), newest["action"].as_str(), newest["name"].as_str(), newest["actor"].as_str()),
        (Some("acme"), Some("team.delete"), Some("quality"), Some("alice"))
    );
    assert_eq!(newest["action_description"], "deleted a team");
    assert!(newest["timestamp"].as_str().unwrap().ends_with('Z'));
    let actions: Vec<&str> = log["logs"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in
        ["member.role.change", "team.create", "team.member.add", "team.change", "repo.permission.grant", "repo.permission.change", "repo.permission.revoke", "team.member.remove"]
    {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let (_, roles) = get(app, "/v2/auditlogs/acme?action=member.role.change", t).await;
    assert_eq!(roles["logs"].as_array().unwrap().len(), 2);
    assert_eq!(roles["logs"][1]["data"], json!({ "from": "member", "to": "editor" }), "details are strings");
    let (_, by_cli) = get(app, "/v2/auditlogs/acme?actor=berth%20command%20line&page_size=100", t).await;
    assert!(by_cli["logs"].as_array().unwrap().iter().all(|e| e["actor"] == "berth command line") && by_cli["count"].as_i64().unwrap() >= 8);
    let (_, joined) = get(app, "/v2/auditlogs/acme?action=member.join&name=mike", t).await;
    assert_eq!((joined["count"].as_i64(), joined["logs"][0]["data"].clone()), (Some(1), json!({ "role": "member" })), "a detail without a value is left out");
    let later = chrono::DateTime::from_timestamp(app.state.now() + 60, 0).unwrap().to_rfc3339();
    let (_, none) = get(app, &format!("/v2/auditlogs/acme?from={}", later.replace('+', "%2B")), t).await;
    assert_eq!(none["logs"], json!([]));
    let (_, page) = get(app, "/v2/auditlogs/acme?page_size=2&page=2", t).await;
    assert_eq!(page["logs"].as_array().unwrap().len(), 2);
    let (status, listed) = get(app, "/v2/auditlogs/acme/actions", t).await;
    assert_eq!(status, StatusCode::OK);
    let org_actions = listed["actions"]["org"]["actions"].as_array().unwrap();
    assert!(org_actions.iter().any(|a| a == &json!({ "name": "team.create", "description": "created a team", "label": "Team Created" })));
    assert_eq!(listed["actions"]["repo"]["label"], "Repository");
    assert!(listed["actions"]["repo"]["actions"].as_array().unwrap().iter().all(|a| a["name"].as_str().unwrap().starts_with("repo.")));
}

#[actix_web::test]
async fn each_role_may_do_what_docker_hub_lets_it_and_a_non_member_finds_nothing() {
    let a = acme().await;
    let app = &a.app;
    let (devs, ops) = (a.devs, a.ops);
    let (nf, fb, ok) = (StatusCode::NOT_FOUND, StatusCode::FORBIDDEN, StatusCode::OK);
    let (created, gone, accepted) = (StatusCode::CREATED, StatusCode::NO_CONTENT, StatusCode::ACCEPTED);
    // each row runs as the outsider, the member, the editor, then the owner: what the
    // editor changes, the owner finds changed
    let rows: Vec<(Method, String, Option<Value>, [StatusCode; 4])> = vec![
        (Method::GET, "/v2/orgs/acme".into(), None, [nf, ok, ok, ok]),
        (Method::GET, "/v2/orgs/acme/members".into(), None, [nf, ok, ok, ok]),
        (Method::PUT, "/v2/orgs/acme/members/mike".into(), Some(json!({ "role": "member" })), [nf, fb, fb, ok]),
        (Method::GET, "/v2/orgs/acme/groups".into(), None, [nf, ok, ok, ok]),
        (Method::POST, "/v2/orgs/acme/groups".into(), Some(json!({ "name": "qa" })), [nf, fb, fb, created]),
        (Method::GET, "/v2/orgs/acme/groups/qa".into(), None, [nf, ok, ok, ok]),
        (Method::PATCH, "/v2/orgs/acme/groups/qa".into(), Some(json!({ "description": "x" })), [nf, fb, fb, ok]),
        (Method::PUT, "/v2/orgs/acme/groups/qa".into(), Some(json!({ "name": "qa", "description": "y" })), [nf, fb, fb, ok]),
        (Method::POST, "/v2/orgs/acme/groups/qa/members".into(), Some(json!({ "member": "mike" })), [nf, fb, fb, ok]),
        (Method::GET, "/v2/orgs/acme/groups/qa/members".into(), None, [nf, ok, ok, ok]),
        (Method::GET, "/v2/orgs/acme/groups/devs/repositories/".into(), None, [nf, ok, ok, ok]),
        // mike is not in ops: its repositories are not his to see
        (Method::GET, "/v2/orgs/acme/groups/ops/repositories/".into(), None, [nf, fb, ok, ok]),
        (Method::DELETE, "/v2/orgs/acme/groups/qa/members/mike".into(), None, [nf, fb, fb, gone]),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), Some(json!({ "group_id": ops, "permission": "read" })), [nf, fb, ok, ok]),
        (Method::GET, "/v2/repositories/acme/app/groups/".into(), None, [nf, fb, ok, ok]),
        (Method::GET, format!("/v2/repositories/acme/app/groups/{ops}"), None, [nf, fb, ok, ok]),
        (Method::PATCH, format!("/v2/repositories/acme/app/groups/{ops}"), Some(json!({ "permission": "write" })), [nf, fb, ok, ok]),
        (Method::DELETE, format!("/v2/repositories/acme/app/groups/{ops}"), None, [nf, fb, gone, nf]),
        (Method::GET, format!("/v2/repositories/acme/app/groups/{devs}"), None, [nf, fb, ok, ok]),
        (Method::DELETE, "/v2/orgs/acme/groups/qa".into(), None, [nf, fb, fb, gone]),
        (Method::GET, "/v2/orgs/acme/invites".into(), None, [nf, fb, fb, ok]),
        (Method::POST, "/v2/invites/bulk".into(), Some(json!({ "org": "acme", "invitees": ["olga"], "dry_run": true })), [nf, fb, fb, accepted]),
        (Method::GET, "/v2/auditlogs/acme".into(), None, [nf, fb, fb, ok]),
        (Method::GET, "/v2/auditlogs/acme/actions".into(), None, [nf, fb, fb, ok]),
        // erin leaves herself; then there is nobody to remove
        (Method::DELETE, "/v2/orgs/acme/members/erin".into(), None, [nf, fb, gone, nf]),
    ];
    for (method, path, body, expected) in rows {
        for (who, bearer, want) in
            [("outsider", &a.outsider, expected[0]), ("member", &a.member, expected[1]), ("editor", &a.editor, expected[2]), ("owner", &a.owner, expected[3])]
        {
            let (status, answer) = send(app, method.clone(), &path, bearer, body.clone()).await;
            assert_eq!(status, want, "{method} {path} as the {who}: {answer}");
            if status.is_client_error() {
                assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} as the {who}: {answer}");
            }
        }
    }
    // a name that is nobody's organization answers as one the caller is not in
    let (status, answer) = get(app, "/v2/orgs/nosuchorg", &a.owner).await;
    assert_eq!((status, answer), (nf, json!({ "detail": "Not found." })));
    assert_eq!(get(app, "/v2/orgs/olga", &a.outsider).await.0, nf, "a user's namespace is no organization");
}

#[actix_web::test]
async fn email_addresses_are_shown_to_owners_only() {
    let a = acme().await;
    for (bearer, shown) in [(&a.owner, true), (&a.editor, false), (&a.member, false)] {
        let (_, members) = get(&a.app, "/v2/orgs/acme/members", bearer).await;
        let (_, group) = get(&a.app, "/v2/orgs/acme/groups/devs/members", bearer).await;
        for m in members["results"].as_array().unwrap().iter().chain(group["results"].as_array().unwrap()) {
            assert_eq!(m.get("email").is_some(), shown, "{m}");
        }
        let text = format!("{members}{group}");
        assert_eq!(text.contains("@example.com"), shown, "{text}");
    }
}

#[actix_web::test]
async fn bulk_invitations_answer_per_invitee_and_an_unknown_name_looks_like_a_malformed_one() {
    let a = acme().await;
    let (app, t) = (&a.app, a.owner.as_str());
    app.signed_up("dora").await;
    berth::accounts::set_disabled(&mut app.conn(), app.user("dora").id, true).unwrap();
    let events = org_events(app);
    let (status, dry) = send(app, Method::POST, "/v2/invites/bulk", t, Some(json!({ "org": "acme", "invitees": ["olga", "mike"], "dry_run": true }))).await;
    assert_eq!((status, dry), (StatusCode::ACCEPTED, json!({ "invitees": [{ "invitee": "olga", "status": "invited" }, { "invitee": "mike", "status": "existing_org_member" }] })));
    assert_eq!((invitation_rows(app), org_events(app)), (0, events), "a dry run writes nothing");

    let invitees = json!(["olga", "mike", "nosuchuser", "Bad Name!", "dora", "olga"]);
    let (status, answer) = send(app, Method::POST, "/v2/invites/bulk", t, Some(json!({ "org": "acme", "team": "devs", "role": "editor", "invitees": invitees }))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let answers = answer["invitees"].as_array().unwrap();
    let statuses: Vec<&str> = answers.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["invited", "existing_org_member", "invalid_email_or_docker_id", "invalid_email_or_docker_id", "invalid_email_or_docker_id", "already_invited"]);
    // an unknown name, a malformed one and a disabled account answer alike: the same keys, the same words
    for i in &answers[2..5] {
        let keys: Vec<&String> = i.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["invitee", "status"], "{i}");
    }
    let invite = &answers[0]["invite"];
    let id = invite["id"].as_str().unwrap().to_string();
    assert_eq!(
        (invite["inviter_username"].as_str(), invite["invitee"].as_str(), invite["org"].as_str(), invite["team"].as_str(), invite["role"].as_str()),
        (Some("alice"), Some("olga"), Some("acme"), Some("devs"), Some("editor"))
    );
    assert!(invite["created_at"].as_str().is_some() && invite["expires_at"].as_str().is_some());
    let (status, listed) = get(app, "/v2/orgs/acme/invites", t).await;
    assert_eq!((status, listed["data"].as_array().unwrap().len(), listed["data"][0]["id"].as_str()), (StatusCode::OK, 1, Some(id.as_str())));

    // the invitee sees it and accepts with a password JWT, never a token's
    let (_, mine) = get(app, "/v2/user/invites/", &a.outsider).await;
    assert_eq!(mine["data"][0]["org"], "acme");
    assert_eq!(get(app, "/v2/user/invites", &a.member).await.1["data"], json!([]));
    let pat = new_token(app, &a.outsider, "laptop", "repo:admin").await["token"].as_str().unwrap().to_string();
    let via_pat = jwt(app, "olga", &pat).await;
    let (status, refused) = send(app, Method::POST, &format!("/v2/invites/{id}/accept"), &via_pat, None).await;
    assert_eq!((status, refused), (StatusCode::FORBIDDEN, json!({ "detail": PAT_FORBIDDEN })));
    assert_eq!(get(app, "/v2/orgs/acme", &a.outsider).await.0, StatusCode::NOT_FOUND, "still no member");
    assert_eq!(send(app, Method::POST, &format!("/v2/invites/{id}/accept"), &a.member, None).await.0, StatusCode::NOT_FOUND, "someone else's invitation");
    // resending gives seven days from now (a JWT lasts ten minutes: new ones after each wait)
    app.clock.advance(6 * 24 * 3600);
    let (t, editor) = (jwt(app, "alice", PASSWORD).await, jwt(app, "erin", PASSWORD).await);
    let t = t.as_str();
    assert_eq!(send(app, Method::PATCH, &format!("/v2/invites/{id}/resend"), t, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(app, Method::PATCH, &format!("/v2/invites/{id}/resend"), &editor, None).await.0, StatusCode::FORBIDDEN);
    let (_, listed) = get(app, "/v2/orgs/acme/invites", t).await;
    let expires = chrono::DateTime::parse_from_rfc3339(listed["data"][0]["expires_at"].as_str().unwrap()).unwrap().timestamp();
    assert_eq!(expires, app.state.now() + berth::orgs::invitations::LIFETIME);
    app.clock.advance(2 * 24 * 3600);
    let (t, member) = (jwt(app, "alice", PASSWORD).await, jwt(app, "mike", PASSWORD).await);
    let t = t.as_str();
    let (status, joined) = send(app, Method::POST, &format!("/v2/invites/{id}/accept"), &jwt(app, "olga", PASSWORD).await, None).await;
    assert_eq!((status, joined["orgname"].as_str(), joined["role"].as_str()), (StatusCode::OK, Some("acme"), Some("Editor")));
    let (_, members) = get(app, "/v2/orgs/acme/members?search=olga", t).await;
    assert_eq!((members["results"][0]["role"].as_str(), members["results"][0]["groups"].clone()), (Some("Editor"), json!(["devs"])));
    assert_eq!(get(app, "/v2/orgs/acme/invites", t).await.1["data"], json!([]));

    // the invitee declines; an owner revokes; nobody else does either
    for name in ["nora", "paul"] {
        app.signed_up(name).await;
    }
    let (_, answer) = send(app, Method::POST, "/v2/invites/bulk/", t, Some(json!({ "org": "acme", "invitees": ["nora", "paul"] }))).await;
    let ids: Vec<String> = answer["invitees"].as_array().unwrap().iter().map(|i| i["invite"]["id"].as_str().unwrap().to_string()).collect();
    let nora = jwt(app, "nora", PASSWORD).await;
    assert_eq!(send(app, Method::DELETE, &format!("/v2/invites/{}", ids[1]), &nora, None).await.0, StatusCode::NOT_FOUND, "not hers");
    assert_eq!(send(app, Method::DELETE, &format!("/v2/invites/{}", ids[1]), &member, None).await.0, StatusCode::FORBIDDEN, "a member revokes nothing");
    assert_eq!(send(app, Method::DELETE, &format!("/v2/invites/{}", ids[0]), &nora, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(app, Method::DELETE, &format!("/v2/invites/{}", ids[1]), t, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(invitation_rows(app), 0);
    let (_, log) = get(app, "/v2/auditlogs/acme?action=member.invite.revoke", t).await;
    assert_eq!(log["logs"][0]["name"], "paul");
    let (_, log) = get(app, "/v2/auditlogs/acme?action=member.invite.decline", t).await;
    assert_eq!((log["logs"][0]["name"].as_str(), log["logs"][0]["actor"].as_str()), (Some("nora"), Some("nora")), "{log}");

    // an invitation past its seven days is refused
    app.signed_up("quin").await;
    let (_, answer) = send(app, Method::POST, "/v2/invites/bulk", t, Some(json!({ "org": "acme", "invitees": ["quin"] }))).await;
    let id = answer["invitees"][0]["invite"]["id"].as_str().unwrap().to_string();
    app.clock.advance(7 * 24 * 3600 + 1);
    let quin = jwt(app, "quin", PASSWORD).await;
    let (status, expired) = send(app, Method::POST, &format!("/v2/invites/{id}/accept"), &quin, None).await;
    assert_eq!((status, expired["detail"].as_str()), (StatusCode::BAD_REQUEST, Some(berth::orgs::invitations::EXPIRED)));
}

#[actix_web::test]
async fn a_jwt_bought_with_a_pat_reads_an_organization_but_changes_nothing() {
    let a = acme().await;
    let app = &a.app;
    let pat = new_token(app, &a.owner, "ci", "repo:admin").await["token"].as_str().unwrap().to_string();
    let t = jwt(app, "alice", &pat).await;
    for path in [
        "/v2/user/orgs/",
        "/v2/orgs/acme",
        "/v2/orgs/acme/members",
        "/v2/orgs/acme/groups",
        "/v2/orgs/acme/groups/devs",
        "/v2/orgs/acme/groups/devs/members",
        "/v2/orgs/acme/groups/devs/repositories/",
        "/v2/repositories/acme/app/groups/",
    ] {
        assert_eq!(get(app, path, &t).await.0, StatusCode::OK, "{path}");
    }
    let (events, invitations) = (org_events(app), invitation_rows(app));
    let ops = a.ops;
    for (method, path, body) in [
        (Method::PUT, "/v2/orgs/acme/members/mike".to_string(), Some(json!({ "role": "editor" }))),
        (Method::DELETE, "/v2/orgs/acme/members/mike".into(), None),
        (Method::DELETE, "/v2/orgs/acme/members/alice".into(), None),
        (Method::POST, "/v2/orgs/acme/groups".into(), Some(json!({ "name": "qa" }))),
        (Method::PUT, "/v2/orgs/acme/groups/devs".into(), Some(json!({ "name": "devs", "description": "x" }))),
        (Method::PATCH, "/v2/orgs/acme/groups/devs".into(), Some(json!({ "description": "x" }))),
        (Method::DELETE, "/v2/orgs/acme/groups/devs".into(), None),
        (Method::POST, "/v2/orgs/acme/groups/devs/members".into(), Some(json!({ "member": "erin" }))),
        (Method::DELETE, "/v2/orgs/acme/groups/devs/members/mike".into(), None),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), Some(json!({ "group_id": ops, "permission": "read" }))),
        (Method::PATCH, format!("/v2/repositories/acme/app/groups/{}", a.devs), Some(json!({ "permission": "admin" }))),
        (Method::DELETE, format!("/v2/repositories/acme/app/groups/{}", a.devs), None),
        (Method::POST, "/v2/invites/bulk".into(), Some(json!({ "org": "acme", "invitees": ["olga"] }))),
        (Method::DELETE, "/v2/invites/00000000-0000-0000-0000-000000000000".into(), None),
        (Method::PATCH, "/v2/invites/00000000-0000-0000-0000-000000000000/resend".into(), None),
        (Method::POST, "/v2/invites/00000000-0000-0000-0000-000000000000/accept".into(), None),
    ] {
        let (status, answer) = send(app, method.clone(), &path, &t, body).await;
        assert_eq!((status, answer), (StatusCode::FORBIDDEN, json!({ "detail": PAT_FORBIDDEN })), "{method} {path}");
    }
    assert_eq!((org_events(app), invitation_rows(app)), (events, invitations), "nothing changed");
    // the positive control: the password's JWT makes the same change
    assert_eq!(send(app, Method::POST, "/v2/orgs/acme/groups", &a.owner, Some(json!({ "name": "qa" }))).await.0, StatusCode::CREATED);
}

#[actix_web::test]
async fn a_public_read_only_pat_sees_a_groups_public_repositories_only() {
    let a = acme().await;
    let app = &a.app;
    berth::accounts::set_plan(&mut app.conn(), app.user("erin").id, Plan::Pro).unwrap();
    let (now, cli) = (app.state.now(), Actor::cli());
    let org = orgs::find(&mut app.conn(), "acme").unwrap().unwrap();
    let devs = teams::find(&mut app.conn(), org.id, "devs").unwrap().unwrap();
    teams::set_permission(&mut app.conn(), &org, &devs, "acme/site", Permission::Write, &cli, now).unwrap();
    let pat = new_token(app, &a.editor, "public", "repo:public_read").await["token"].as_str().unwrap().to_string();
    let narrow = jwt(app, "erin", &pat).await;
    let (_, held) = get(app, "/v2/orgs/acme/groups/devs/repositories/", &narrow).await;
    assert_eq!(held, json!([{ "namespace": "acme", "repository": "site", "permission": "write" }]));
    assert_eq!(get(app, "/v2/repositories/acme/app/groups/", &narrow).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/v2/repositories/acme/site/groups/", &narrow).await.0, StatusCode::OK);
    // the positive control: the password sees both
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs/repositories/", &a.editor).await.1.as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_member_the_two_factor_rule_refuses_is_shown_public_repositories_only() {
    let a = acme().await;
    let app = &a.app;
    let (now, cli) = (app.state.now(), Actor::cli());
    let org = orgs::find(&mut app.conn(), "acme").unwrap().unwrap();
    orgs::set_plan(&mut app.conn(), &org, Plan::Business, &cli, now).unwrap();
    let org = orgs::find(&mut app.conn(), "acme").unwrap().unwrap();
    let devs = teams::find(&mut app.conn(), org.id, "devs").unwrap().unwrap();
    teams::set_permission(&mut app.conn(), &org, &devs, "acme/site", Permission::Read, &cli, now).unwrap();
    let both = json!([{ "namespace": "acme", "repository": "app", "permission": "read" }, { "namespace": "acme", "repository": "site", "permission": "read" }]);
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs/repositories/", &a.member).await.1, both);
    orgs::set_require_two_factor(&mut app.conn(), &org, true, &cli, now).unwrap();
    // neither mike nor erin has a second factor: what /token refuses them is not named either
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs/repositories/", &a.member).await.1, json!([both[1]]));
    assert_eq!(get(app, "/v2/repositories/acme/app/groups/", &a.editor).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(app, "/v2/repositories/acme/site/groups/", &a.editor).await.0, StatusCode::OK);
    orgs::set_require_two_factor(&mut app.conn(), &org, false, &cli, now).unwrap();
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs/repositories/", &a.member).await.1, both);
}

#[actix_web::test]
async fn the_last_owner_can_neither_leave_nor_step_down_and_a_member_may_leave() {
    let a = acme().await;
    let (app, t) = (&a.app, a.owner.as_str());
    let last = json!({ "detail": orgs::LAST_OWNER });
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/members/alice", t, None).await, (StatusCode::BAD_REQUEST, last.clone()));
    assert_eq!(send(app, Method::PUT, "/v2/orgs/acme/members/alice", t, Some(json!({ "role": "member" }))).await, (StatusCode::BAD_REQUEST, last));
    assert_eq!(get(app, "/v2/orgs/acme", t).await.1["role"], "Owner");
    // a member leaves of their own accord (recorded as leaving); an editor removes nobody else
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/members/mike", &a.editor, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/members/MIKE", &a.member, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(app, "/v2/auditlogs/acme?action=member.leave", t).await.1["logs"][0]["name"], "mike");
    // with a second owner the first may go
    send(app, Method::PUT, "/v2/orgs/acme/members/erin", t, Some(json!({ "role": "owner" }))).await;
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/members/alice", t, None).await.0, StatusCode::NO_CONTENT);
    let (_, members) = get(app, "/v2/orgs/acme/members", &a.editor).await;
    assert_eq!((members["count"].as_i64(), members["results"][0]["username"].as_str()), (Some(1), Some("erin")));
}

#[actix_web::test]
async fn a_removal_or_demotion_counts_at_the_next_request() {
    let a = acme().await;
    let (app, t) = (&a.app, a.owner.as_str());
    let grant = json!({ "group_id": a.ops, "permission": "read" });
    assert_eq!(send(app, Method::POST, "/v2/repositories/acme/app/groups/", &a.editor, Some(grant.clone())).await.0, StatusCode::OK);
    send(app, Method::PUT, "/v2/orgs/acme/members/erin", t, Some(json!({ "role": "member" }))).await;
    assert_eq!(send(app, Method::POST, "/v2/repositories/acme/app/groups/", &a.editor, Some(grant)).await.0, StatusCode::FORBIDDEN, "the same JWT, a narrower role");
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs/repositories/", &a.member).await.0, StatusCode::OK);
    assert_eq!(send(app, Method::DELETE, "/v2/orgs/acme/members/mike", t, None).await.0, StatusCode::NO_CONTENT);
    for path in ["/v2/orgs/acme", "/v2/orgs/acme/members", "/v2/orgs/acme/groups/devs/repositories/"] {
        assert_eq!(get(app, path, &a.member).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(get(app, "/v2/user/orgs/", &a.member).await.1["count"], 0);
    // the removal took mike out of devs as well
    assert_eq!(get(app, "/v2/orgs/acme/groups/devs", t).await.1["member_count"], 0);
}

#[actix_web::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let a = acme().await;
    let (app, t) = (&a.app, a.owner.as_str());
    let (events, invitations) = (org_events(app), invitation_rows(app));
    let many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    for (method, path, body, says) in [
        (Method::PUT, "/v2/orgs/acme/members/mike".to_string(), json!({ "role": "boss" }), "Unknown role"),
        (Method::PUT, "/v2/orgs/acme/members/mike".into(), json!({ "role": "editor", "extra": 1 }), "unknown field"),
        (Method::POST, "/v2/orgs/acme/groups".into(), json!({ "name": "x" }), "2 to 30"),
        (Method::POST, "/v2/orgs/acme/groups".into(), json!({ "name": "devs" }), "exists already"),
        (Method::POST, "/v2/orgs/acme/groups".into(), json!({ "name": "<b>qa</b>" }), "letters"),
        (Method::POST, "/v2/orgs/acme/groups".into(), json!({ "name": "qa", "description": "a\u{202E}b" }), "description"),
        (Method::PATCH, "/v2/orgs/acme/groups/devs".into(), json!({ "name": "ops" }), "exists already"),
        (Method::POST, "/v2/orgs/acme/groups/devs/members".into(), json!({ "member": "olga" }), "invite them first"),
        (Method::POST, "/v2/orgs/acme/groups/devs/members".into(), json!({ "user": "mike" }), "unknown field"),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), json!({ "group_id": a.ops, "permission": "owner" }), "read, write or admin"),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), json!({ "group_id": 999999, "permission": "read" }), "No group"),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), json!({ "group_id": a.ops, "group_name": "devs", "permission": "read" }), "two different groups"),
        (Method::POST, "/v2/repositories/acme/app/groups/".into(), json!({ "permission": "read" }), "Name the group"),
        (Method::POST, "/v2/invites/bulk".into(), json!({ "org": "acme", "invitees": [] }), "at least one"),
        (Method::POST, "/v2/invites/bulk".into(), json!({ "org": "acme", "invitees": many }), "at most 100"),
        (Method::POST, "/v2/invites/bulk".into(), json!({ "org": "acme", "invitees": ["olga"], "role": "king" }), "Unknown role"),
        (Method::POST, "/v2/invites/bulk".into(), json!({ "org": "acme", "invitees": ["olga"], "team": "nosuch" }), "No group"),
        (Method::POST, "/v2/invites/bulk".into(), json!({ "org": "acme", "invitees": "olga" }), "invitees"),
    ] {
        let (status, answer) = send(app, method.clone(), &path, t, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(says), "{method} {path} {body}: {answer}");
    }
    for path in [
        "/v2/orgs/acme/members?role=boss",
        "/v2/orgs/acme/members?page=0",
        "/v2/orgs/acme/groups?page_size=abc",
        "/v2/auditlogs/acme?action=team.explode",
        "/v2/auditlogs/acme?from=yesterday",
        "/v2/auditlogs/acme?to=2026-13-01T00:00:00Z",
    ] {
        let (status, answer) = get(app, path, t).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // an invitee with a NUL, and names with SQL or HTML in them, are just names nobody has
    let (status, answer) = send(app, Method::POST, "/v2/invites/bulk", t, Some(json!({ "org": "acme", "invitees": ["ol\u{0}ga", "' OR 1=1 --", "<script>"] }))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(answer["invitees"].as_array().unwrap().iter().all(|i| i["status"] == "invalid_email_or_docker_id"));
    assert_eq!(get(app, "/v2/orgs/acme/members?search=%00", t).await.1["count"], 0);
    assert_eq!(get(app, "/v2/auditlogs/acme?actor=%00", t).await.1["logs"], json!([]));
    assert_eq!(get(app, "/v2/orgs/ac%00me", t).await.0, StatusCode::NOT_FOUND);
    assert_eq!((org_events(app), invitation_rows(app)), (events, invitations), "nothing changed");
    // a method a path does not take says which it does
    let res = call(app, Method::DELETE, "/v2/orgs/acme/members", t, None).await;
    assert_eq!((res.status(), res.headers()["allow"].to_str().unwrap()), (StatusCode::METHOD_NOT_ALLOWED, "GET"));
}
