//! End to end against the real programs: Debian's `docker-registry` (distribution 2.8)
//! trusting Berth's token server, the docker CLI (`docker login`, client-side, no engine)
//! and `skopeo` (push, pull, inspect, delete), through the shared harness
//! (`berth_test_support::registry`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::accounts::Plan;
use berth::tokens::{self, Scope};
use berth_test_support::registry::*;
use berth_test_support::*;

// ---------------------------------------------------------------------------------------
// The tests

/// A server, a registry and clients; alice and bobby, each with a "Read, Write, Delete"
/// token (`name:token`), and an image built with `message` (not pushed).
async fn alice_and_bob(message: &str) -> (TestApp, Registry, Clients, String, String, PathBuf) {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    let bob = format!("bobby:{}", pat(&app, "bobby", Scope::Admin, "ci"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, message);
    (app, registry, clients, alice, bob, layout)
}

#[actix_web::test]
async fn docker_login_accepts_pats_refuses_wrong_passwords_2fa_passwords_and_deactivated_tokens() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Admin, "ci");

    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let out = clients.docker_login(&registry, "alice", "not the password").await;
    out.assert_failed("docker login with a wrong password");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());

    app.with_2fa("carol").await;
    let out = clients.docker_login(&registry, "carol", PASSWORD).await;
    out.assert_failed("docker login with the password of a 2FA user");
    assert!(out.stderr.contains("please use personal access token to login"), "{}", out.describe());
    let carol_token = pat(&app, "carol", Scope::Admin, "laptop");
    let out = clients.docker_login(&registry, "carol", &carol_token).await;
    out.assert_ok("docker login of a 2FA user with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let uid = app.user("alice").id;
    let uuid = token_named(&app, "alice", "ci").uuid;
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_failed("docker login with a deactivated PAT");
    assert!(out.stderr.contains("unauthorized: access token is deactivated"), "{}", out.describe());
}

#[actix_web::test]
async fn a_pushed_repository_is_private_until_made_public_and_others_never_push_to_it() {
    let (app, registry, clients, alice, bob, layout) = alice_and_bob("hello from alice\n").await;

    clients.push(&layout, &registry, "alice/app:1", &alice).await.assert_ok("alice pushes alice/app:1");
    let out = clients.inspect(&registry, "alice/app:1", Some(&alice)).await;
    out.assert_ok("alice inspects her image");
    let inspected: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert_eq!(inspected["Os"], "linux", "{}", out.stdout);

    assert_eq!(recorded_public(&app, "alice/app"), Some(false), "the first push records the repository, private");
    clients.inspect(&registry, "alice/app:1", None).await.assert_failed("anonymous inspect of a private repository");
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_failed("bob inspects alice's private repository");

    let owner = app.owner("alice").id;
    assert!(berth::repositories::set_public(&mut app.conn(), owner, "alice/app", true).unwrap());
    assert_eq!(recorded_public(&app, "alice/app"), Some(true));
    clients.inspect(&registry, "alice/app:1", None).await.assert_ok("anonymous inspect of a public repository");
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_ok("bob inspects alice's public repository");
    let out = clients.push(&layout, &registry, "alice/app:2", &bob).await;
    out.assert_failed("bob pushes to alice's public repository");
    assert!(out.stderr.contains("denied") || out.stderr.contains("unauthorized"), "{}", out.describe());
    clients.inspect(&registry, "alice/app:2", Some(&alice)).await.assert_failed("no tag 2 was written");
}

#[actix_web::test]
async fn token_scopes_limit_pull_push_and_delete_at_the_registry() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let write = format!("alice:{}", pat(&app, "alice", Scope::Write, "write"));
    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "read"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "scopes\n");

    // Write: push yes, delete no
    clients.push(&layout, &registry, "alice/app:1", &write).await.assert_ok("a Write PAT pushes");
    clients.inspect(&registry, "alice/app:1", Some(&write)).await.assert_ok("a Write PAT pulls");
    clients.delete(&registry, "alice/app:1", &write).await.assert_failed("a Write PAT deletes");
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_ok("the image survived the refused delete");

    // Read: pull yes, push no
    clients.inspect(&registry, "alice/app:1", Some(&read)).await.assert_ok("a Read-only PAT inspects");
    let pulled = clients.dir.path().join("pulled");
    clients.pull(&registry, "alice/app:1", Some(&read), &pulled).await.assert_ok("a Read-only PAT pulls");
    assert!(pulled.join("index.json").is_file());
    let out = clients.push(&layout, &registry, "alice/other:1", &read).await;
    out.assert_failed("a Read-only PAT pushes");
    assert!(out.stderr.contains("denied"), "a refused push says `denied`\n{}", out.describe());
    assert_eq!(recorded_public(&app, "alice/other"), None, "a refused push records nothing");
    clients.inspect(&registry, "alice/other:1", Some(&admin)).await.assert_failed("nothing was pushed to alice/other");

    // Admin: delete yes
    clients.delete(&registry, "alice/app:1", &admin).await.assert_ok("an Admin PAT deletes");
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_failed("the deleted image is gone");
}

#[actix_web::test]
async fn docker_login_with_a_pat_records_its_last_use() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Admin, "ci");
    let before = token_named(&app, "alice", "ci");
    assert!(before.last_used_at.is_none() && before.last_used_ip.is_none());

    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let after = token_named(&app, "alice", "ci");
    let used = after.last_used_at.expect("last_used_at is set");
    assert!((used - app.state.now()).abs() <= 5, "last_used_at {used} vs now {}", app.state.now());
    assert_eq!(after.last_used_ip.as_deref(), Some("127.0.0.1"));
    let ua = after.last_used_ua.unwrap_or_default();
    assert!(ua.to_lowercase().contains("docker"), "last_used_ua {ua:?}");
}

#[actix_web::test]
async fn docker_login_takes_the_password_of_a_user_without_2fa_and_refuses_an_unknown_token() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;

    let out = clients.docker_login(&registry, "alice", PASSWORD).await;
    out.assert_ok("docker login with the password of a user without 2FA");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    // well-formed (prefix and checksum pass), but no such token exists
    let unknown = berth::tokens::PlainToken::generate();
    assert!(berth::tokens::PlainToken::looks_like_token(unknown.expose()));
    let out = clients.docker_login(&registry, "alice", unknown.expose()).await;
    out.assert_failed("docker login with a token that does not exist");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());
}

#[actix_web::test]
async fn a_read_and_write_pat_pushes_and_the_pull_gives_back_the_same_digest() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let write = format!("alice:{}", pat(&app, "alice", Scope::Write, "write"));
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "read"));
    let layout = clients.dir.path().join("image");
    let built = build_image(&layout, "same digest both ways\n");

    let digestfile = clients.dir.path().join("pushed.digest");
    clients.push_with_digestfile(&layout, &registry, "alice/app:1", &write, &digestfile).await.assert_ok("a Read & Write PAT pushes");
    let pushed = std::fs::read_to_string(&digestfile).unwrap().trim().to_string();
    assert_eq!(pushed, built, "skopeo pushed the manifest as built");

    let out = clients.inspect_digest(&registry, "alice/app:1", Some(&write)).await;
    out.assert_ok("the Read & Write PAT reads the digest back");
    assert_eq!(out.stdout.trim(), pushed, "the registry serves the pushed digest\n{}", out.describe());
    let out = clients.inspect_digest(&registry, "alice/app:1", Some(&read)).await;
    out.assert_ok("a Read-only PAT reads the digest back");
    assert_eq!(out.stdout.trim(), pushed, "{}", out.describe());
    let pulled = clients.dir.path().join("pulled");
    clients.pull(&registry, "alice/app:1", Some(&write), &pulled).await.assert_ok("the Read & Write PAT pulls");
    assert_eq!(layout_digest(&pulled), pushed, "the pulled image is the pushed one");

    // Read-only: no push, and the client says so
    let out = clients.push(&layout, &registry, "alice/app:2", &read).await;
    out.assert_failed("a Read-only PAT pushes");
    assert!(out.stderr.contains("denied"), "{}", out.describe());
    clients.inspect(&registry, "alice/app:2", Some(&admin)).await.assert_failed("the refused push wrote no tag");

    // delete: Read & Write no, Read, Write, Delete yes
    clients.delete(&registry, "alice/app:1", &write).await.assert_failed("a Read & Write PAT deletes");
    let out = clients.inspect_digest(&registry, "alice/app:1", Some(&admin)).await;
    out.assert_ok("the image survived the refused delete");
    assert_eq!(out.stdout.trim(), pushed);
    clients.delete(&registry, "alice/app:1", &admin).await.assert_ok("a Read, Write, Delete PAT deletes");
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_failed("the deleted image is gone");
}

#[actix_web::test]
async fn public_repo_read_only_pats_and_anonymous_clients_pull_public_repositories_only() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let alice_admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let alice_public = format!("alice:{}", pat(&app, "alice", Scope::PublicRead, "public read"));
    let bobby_public = format!("bobby:{}", pat(&app, "bobby", Scope::PublicRead, "public read"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "public and private\n");

    clients.push(&layout, &registry, "alice/open:1", &alice_admin).await.assert_ok("alice pushes alice/open");
    clients.push(&layout, &registry, "alice/closed:1", &alice_admin).await.assert_ok("alice pushes alice/closed");
    let owner = app.owner("alice").id;
    assert!(berth::repositories::set_public(&mut app.conn(), owner, "alice/open", true).unwrap());
    assert_eq!(recorded_public(&app, "alice/open"), Some(true));
    assert_eq!(recorded_public(&app, "alice/closed"), Some(false));

    // bobby's Public Repo Read-only token: alice's public repository yes, her private one no
    clients.pull_fresh(&registry, "alice/open:1", Some(&bobby_public)).await.assert_ok("bobby's PublicRead PAT pulls alice's public repository");
    clients.pull_fresh(&registry, "alice/closed:1", Some(&bobby_public)).await.assert_failed("bobby's PublicRead PAT pulls alice's private repository");
    clients.inspect(&registry, "alice/closed:1", Some(&bobby_public)).await.assert_failed("bobby's PublicRead PAT inspects alice's private repository");

    // alice's own Public Repo Read-only token: the same line through her own repositories
    clients.pull_fresh(&registry, "alice/open:1", Some(&alice_public)).await.assert_ok("alice's PublicRead PAT pulls her public repository");
    clients.pull_fresh(&registry, "alice/closed:1", Some(&alice_public)).await.assert_failed("alice's PublicRead PAT pulls her private repository");
    clients.inspect(&registry, "alice/closed:1", Some(&alice_public)).await.assert_failed("alice's PublicRead PAT inspects her private repository");

    // anonymous
    clients.pull_fresh(&registry, "alice/open:1", None).await.assert_ok("an anonymous pull of a public repository");
    clients.pull_fresh(&registry, "alice/closed:1", None).await.assert_failed("an anonymous pull of a private repository");

    // the private one is there for a token that may read it
    clients.pull_fresh(&registry, "alice/closed:1", Some(&alice_admin)).await.assert_ok("alice's Admin PAT pulls her private repository");
}

#[actix_web::test]
async fn deactivated_deleted_and_expired_tokens_stop_working_for_login_and_pull() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let uid = app.user("alice").id;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let token = pat(&app, "alice", Scope::Read, "ci");
    let creds = format!("alice:{token}");
    let uuid = token_named(&app, "alice", "ci").uuid;
    let layout = clients.dir.path().join("image");
    build_image(&layout, "lifecycle\n");
    clients.push(&layout, &registry, "alice/app:1", &admin).await.assert_ok("alice pushes alice/app:1");

    async fn works(clients: &Clients, registry: &Registry, token: &str, creds: &str, state: &str) {
        let out = clients.docker_login(registry, "alice", token).await;
        out.assert_ok(&format!("docker login with a {state} token"));
        assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
        clients.inspect(registry, "alice/app:1", Some(creds)).await.assert_ok(&format!("a pull with a {state} token"));
    }
    async fn refused(clients: &Clients, registry: &Registry, token: &str, creds: &str, state: &str, says: &str) {
        let out = clients.docker_login(registry, "alice", token).await;
        out.assert_failed(&format!("docker login with a {state} token"));
        assert!(out.stderr.contains(says), "{}", out.describe());
        let out = clients.inspect(registry, "alice/app:1", Some(creds)).await;
        out.assert_failed(&format!("a pull with a {state} token"));
        assert!(out.stderr.contains(says), "Berth refused the token itself\n{}", out.describe());
    }

    works(&clients, &registry, &token, &creds, "new").await;
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).unwrap();
    refused(&clients, &registry, &token, &creds, "deactivated", "access token is deactivated").await;
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(true), &Default::default(), app.state.now()).unwrap();
    works(&clients, &registry, &token, &creds, "reactivated").await;
    let deleted = tokens::delete(&mut app.conn(), uid, std::slice::from_ref(&uuid), &Default::default(), app.state.now()).unwrap();
    assert_eq!(deleted, 1);
    refused(&clients, &registry, &token, &creds, "deleted", "incorrect username or password").await;
    assert!(tokens::find_owned(&mut app.conn(), uid, &uuid).unwrap().is_none(), "the deleted token is gone for good");

    // Expiry: only Berth's clock moves; the registry checks exp/nbf against real time with
    // 60 s of skew, so tokens Berth issues 5 s "ahead" still verify.
    let expiring = pat_expiring(&app, "alice", Scope::Read, "short", Some(app.state.now() + 2));
    let expiring_creds = format!("alice:{expiring}");
    works(&clients, &registry, &expiring, &expiring_creds, "not yet expired").await;
    app.clock.advance(5);
    assert!(token_named(&app, "alice", "short").is_expired(app.state.now()));
    refused(&clients, &registry, &expiring, &expiring_creds, "expired", "access token has expired").await;
    // the other token still works with the clock moved
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_ok("a pull with a valid token after the clock moved");
}

#[actix_web::test]
async fn a_containerd_style_post_token_yields_an_access_token_the_registry_accepts() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let token = pat(&app, "alice", Scope::Read, "containerd");
    let layout = clients.dir.path().join("image");
    build_image(&layout, "containerd\n");
    clients.push(&layout, &registry, "alice/app:1", &admin).await.assert_ok("alice pushes alice/app:1");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", token.as_str()),
            ("client_id", "containerd"),
            ("service", "registry.local"),
            ("scope", "repository:alice/app:pull"),
        ])
        .finish();
    let res = http
        .post(format!("{}/token", app.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "containerd/1.7.24")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let answer: serde_json::Value = res.json().await.unwrap();
    let access_token = answer["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {answer}")).to_string();
    assert!(answer["expires_in"].as_i64().is_some_and(|s| s > 0), "{answer}");

    let tags = format!("http://{}/v2/alice/app/tags/list", registry.host());
    let res = http.get(&tags).bearer_auth(&access_token).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{text}\nregistry log:\n{}", registry.log());
    let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["name"], "alice/app", "{text}");
    assert_eq!(listed["tags"], serde_json::json!(["1"]), "{text}");

    let res = http.get(&tags).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED, "without the header the registry asks for a token");
}

#[actix_web::test]
async fn docker_login_then_a_skopeo_pull_shows_as_the_tokens_last_use() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    let browser = app.signed_up("alice").await;
    let uid = app.user("alice").id;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let token = pat(&app, "alice", Scope::Read, "laptop");
    let layout = clients.dir.path().join("image");
    build_image(&layout, "last use\n");
    clients.push(&layout, &registry, "alice/app:1", &admin).await.assert_ok("alice pushes alice/app:1");
    let last_use = || {
        let t = tokens::page(&mut app.conn(), uid, 1, 10).unwrap().into_iter().find(|t| t.description == "laptop").expect("the token is listed");
        (t.last_used_at, t.last_used_ip, t.last_used_ua.unwrap_or_default())
    };
    assert_eq!(last_use(), (None, None, String::new()), "never used yet");

    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with the PAT");
    let (at, ip, ua) = last_use();
    assert!(at.is_some_and(|t| (t - app.state.now()).abs() <= 5), "last_used_at {at:?}");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(ua.to_lowercase().contains("docker"), "after docker login the client is docker: {ua:?}");

    // a different client within the minute: written at once
    clients.inspect(&registry, "alice/app:1", Some(&format!("alice:{token}"))).await.assert_ok("skopeo pulls with the PAT");
    let (at, ip, ua) = last_use();
    assert!(at.is_some_and(|t| (t - app.state.now()).abs() <= 5), "last_used_at {at:?}");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(ua.contains("skopeo"), "after the skopeo pull the client is skopeo: {ua:?}");

    let (status, html) = browser.get_text("/settings/tokens").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let titles: Vec<String> = regex::Regex::new(r#"title="([^"]*)""#).unwrap().captures_iter(&html).map(|c| c[1].to_string()).collect();
    assert!(titles.iter().any(|t| t.contains(" · 127.0.0.1 · ") && t.contains("skopeo")), "the overview shows the last use (IP and skopeo) on hover; titles: {titles:#?}");
}

/// The exact lines the clients print in the four situations the README and the closing
/// note quote; each is asserted, then all are printed together at the end.
#[actix_web::test]
async fn the_clients_own_words_for_success_wrong_token_2fa_password_and_read_only_push() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let mut quoted: Vec<(&str, Out)> = Vec::new();

    let token = pat(&app, "alice", Scope::Admin, "ci");
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
    quoted.push(("docker login, success (PAT)", out));

    let out = clients.docker_login(&registry, "alice", PASSWORD).await;
    out.assert_ok("docker login with the password (no 2FA)");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
    quoted.push(("docker login, success (password, no 2FA)", out));

    let unknown = berth::tokens::PlainToken::generate();
    let out = clients.docker_login(&registry, "alice", unknown.expose()).await;
    out.assert_failed("docker login with a wrong token");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());
    quoted.push(("docker login, wrong token", out));

    app.with_2fa("carol").await;
    let out = clients.docker_login(&registry, "carol", PASSWORD).await;
    out.assert_failed("docker login with the password of a 2FA user");
    assert!(out.stderr.contains("please use personal access token to login"), "{}", out.describe());
    quoted.push(("docker login, password of a 2FA user", out));

    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "read"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "quoted\n");
    let out = clients.push(&layout, &registry, "alice/app:1", &read).await;
    out.assert_failed("skopeo push with a Read-only PAT");
    assert!(out.stderr.contains("denied"), "{}", out.describe());
    quoted.push(("skopeo push with a Read-only PAT (denied)", out));

    eprintln!("\n===== what the clients printed =====");
    let secret = regex::Regex::new(r"berth_pat_[A-Za-z0-9]+").unwrap();
    for (what, out) in &quoted {
        let cmdline = secret.replace_all(&out.cmdline, "berth_pat_<redacted>");
        eprintln!("--- {what}\n$ {cmdline}   (exit: {})", out.status);
        for line in out.printed() {
            eprintln!("    {line}");
        }
    }
    eprintln!("===== end =====\n");
}

// ---------------------------------------------------------------------------------------
// Organizations, collaborators, deleted accounts

/// `acme` (team plan) owned by `owner`.
fn organization(app: &TestApp, owner: &str) -> berth::owners::Owner {
    berth::orgs::create(&mut app.conn(), "acme", &app.user(owner), Plan::Team, &berth::orgs::Actor::cli(), app.state.now()).unwrap()
}

#[actix_web::test]
async fn organization_members_push_and_pull_as_their_role_and_teams_allow_and_lose_it_at_the_next_token_request() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    for name in ["owner1", "editor1", "reader1", "loner1", "stranger1"] {
        app.signed_up(name).await;
    }
    let org = organization(&app, "owner1");
    let (cli, now) = (berth::orgs::Actor::cli(), app.state.now());
    {
        let c = &mut app.conn();
        berth::orgs::add_member(c, &org, &app.user("editor1"), berth::owners::Role::Editor, None, &cli, now).unwrap();
        berth::orgs::add_member(c, &org, &app.user("reader1"), berth::owners::Role::Member, None, &cli, now).unwrap();
        berth::orgs::add_member(c, &org, &app.user("loner1"), berth::owners::Role::Member, None, &cli, now).unwrap();
    }
    let creds = |name: &str| format!("{name}:{}", pat(&app, name, Scope::Admin, "ci"));
    let (owner, editor, reader, loner, stranger) = (creds("owner1"), creds("editor1"), creds("reader1"), creds("loner1"), creds("stranger1"));
    clients.docker_login(&registry, "reader1", reader.split_once(':').unwrap().1).await.assert_ok("docker login of a member with a PAT");
    let layout = clients.dir.path().join("image");
    build_image(&layout, "hello from acme\n");

    // an owner's push creates the repository, private; an editor's too
    clients.push(&layout, &registry, "acme/app:1", &owner).await.assert_ok("the owner pushes acme/app");
    assert_eq!(recorded_public(&app, "acme/app"), Some(false));
    clients.push(&layout, &registry, "acme/tools:1", &editor).await.assert_ok("an editor pushes a new repository");
    // a member's push to a new repository is refused and records nothing
    let out = clients.push(&layout, &registry, "acme/mine:1", &reader).await;
    out.assert_failed("a member pushes a new repository");
    assert!(out.stderr.contains("denied"), "{}", out.describe());
    assert_eq!(recorded_public(&app, "acme/mine"), None);

    // a member reaches what their team holds
    clients.inspect(&registry, "acme/app:1", Some(&reader)).await.assert_failed("a member without a team pulls");
    let team = berth::orgs::teams::create(&mut app.conn(), &org, "readers", "", &cli, now).unwrap();
    berth::orgs::teams::add_member(&mut app.conn(), &org, &team, "reader1", &cli, now).unwrap();
    berth::orgs::teams::set_permission(&mut app.conn(), &org, &team, "app", berth::owners::Permission::Read, &cli, now).unwrap();
    let pulled = clients.dir.path().join("pulled");
    clients.pull(&registry, "acme/app:1", Some(&reader), &pulled).await.assert_ok("a member with a read team pulls");
    let out = clients.push(&layout, &registry, "acme/app:2", &reader).await;
    out.assert_failed("a member with a read team pushes");
    assert!(out.stderr.contains("denied"), "{}", out.describe());
    clients.inspect(&registry, "acme/tools:1", Some(&reader)).await.assert_failed("the team grants acme/app only");
    clients.inspect(&registry, "acme/app:1", Some(&loner)).await.assert_failed("a member without a team");
    clients.inspect(&registry, "acme/app:1", Some(&stranger)).await.assert_failed("a non-member");
    clients.inspect(&registry, "acme/app:1", None).await.assert_failed("anonymous");
    clients.delete(&registry, "acme/app:1", &reader).await.assert_failed("a member with a read team deletes");

    // write through the team
    berth::orgs::teams::set_permission(&mut app.conn(), &org, &team, "app", berth::owners::Permission::Write, &cli, now).unwrap();
    clients.push(&layout, &registry, "acme/app:2", &reader).await.assert_ok("a member with a write team pushes");

    // removed: the same token reaches nothing at its next request
    berth::orgs::remove_member(&mut app.conn(), &org, "reader1", &cli, now).unwrap();
    clients.inspect(&registry, "acme/app:1", Some(&reader)).await.assert_failed("a removed member pulls");
    let out = clients.push(&layout, &registry, "acme/app:3", &reader).await;
    out.assert_failed("a removed member pushes");
    clients.inspect(&registry, "acme/app:3", Some(&owner)).await.assert_failed("nothing was written");
    // public: pullable by everyone, pushable by members with write only
    berth::orgs::repositories::set_public(&mut app.conn(), "acme", app.user("owner1").id, "acme/app", true, &cli, now).unwrap();
    clients.inspect(&registry, "acme/app:1", None).await.assert_ok("anonymous pulls a public organization repository");
    clients.push(&layout, &registry, "acme/app:4", &stranger).await.assert_failed("a non-member pushes to a public repository");
    clients.delete(&registry, "acme/app:2", &editor).await.assert_ok("an editor deletes");
}

#[actix_web::test]
async fn a_member_of_an_organization_requiring_2fa_is_told_why_at_the_registry_until_they_turn_it_on() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("owner1").await;
    let member = app.signed_up("member1").await;
    let mut org = organization(&app, "owner1");
    let (cli, now) = (berth::orgs::Actor::cli(), app.state.now());
    {
        let c = &mut app.conn();
        berth::orgs::add_member(c, &org, &app.user("member1"), berth::owners::Role::Editor, None, &cli, now).unwrap();
        berth::orgs::set_plan(c, &org, Plan::Business, &cli, now).unwrap();
        org = berth::orgs::find(c, "acme").unwrap().unwrap();
        berth::orgs::set_require_two_factor(c, &org, true, &cli, now).unwrap();
    }
    let creds = format!("member1:{}", pat(&app, "member1", Scope::Admin, "ci"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "2fa required\n");
    let out = clients.push(&layout, &registry, "acme/app:1", &creds).await;
    out.assert_failed("a member without 2FA pushes");
    assert!(out.stderr.contains("requires two-factor authentication"), "skopeo shows Berth's reason\n{}", out.describe());
    member.enable_2fa(&app).await;
    clients.push(&layout, &registry, "acme/app:1", &creds).await.assert_ok("with 2FA on, the same token pushes");
}

#[actix_web::test]
async fn a_collaborator_pulls_or_pushes_a_shared_private_repository_until_removed() {
    let (app, registry, clients, alice, bob, layout) = alice_and_bob("shared\n").await;
    clients.push(&layout, &registry, "alice/app:1", &alice).await.assert_ok("alice pushes");
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_failed("bob before sharing");
    let home = app.owner("alice");
    berth::repositories::sharing::add(&mut app.conn(), &home, "alice/app", "bobby", berth::owners::Permission::Read, 0).unwrap();
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_ok("a read collaborator pulls");
    clients.push(&layout, &registry, "alice/app:2", &bob).await.assert_failed("a read collaborator pushes");
    berth::repositories::sharing::add(&mut app.conn(), &home, "alice/app", "bobby", berth::owners::Permission::Write, 0).unwrap();
    clients.push(&layout, &registry, "alice/app:2", &bob).await.assert_ok("a write collaborator pushes");
    clients.delete(&registry, "alice/app:2", &bob).await.assert_failed("a collaborator never deletes");
    berth::repositories::sharing::remove(&mut app.conn(), &home, "alice/app", "bobby").unwrap();
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_failed("a removed collaborator pulls");
}

#[actix_web::test]
async fn a_deleted_accounts_images_stay_unreachable_and_its_name_cannot_be_taken_again() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "left behind\n");
    clients.push(&layout, &registry, "alice/app:1", &alice).await.assert_ok("alice pushes");
    berth::repositories::set_public(&mut app.conn(), app.owner("alice").id, "alice/app", true).unwrap();
    clients.inspect(&registry, "alice/app:1", None).await.assert_ok("public while alice exists");

    berth::accounts::delete(&mut app.conn(), app.user("alice").id, app.state.now()).unwrap();
    clients.inspect(&registry, "alice/app:1", Some(&alice)).await.assert_failed("the deleted account's token");
    clients.inspect(&registry, "alice/app:1", None).await.assert_failed("a deleted namespace is closed to everyone");
    let res = app.browser().signup("alice", "someone@example.com", PASSWORD).await;
    assert_eq!(res.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY, "the name stays reserved");
    app.signed_up("mallory").await;
    let mallory = format!("mallory:{}", pat(&app, "mallory", Scope::Admin, "ci"));
    clients.push(&layout, &registry, "alice/app:2", &mallory).await.assert_failed("nobody pushes into the deleted namespace");
    let org = berth::orgs::create(&mut app.conn(), "alice", &app.user("mallory"), Plan::Team, &berth::orgs::Actor::cli(), 0);
    assert!(matches!(org, Err(berth::Error::Taken(_))), "no organization takes the name either");
}

// ---------------------------------------------------------------------------------------
// Organization access tokens: an organization's token signs in as the organization,
// reaches what its resources name in the organization's existing repositories and, with
// `*/*/public`, public ones; nothing else, and it never creates a repository.

/// An organization access token of acme with `resources` (path, scope), its plaintext.
fn org_token(app: &TestApp, resources: &[(&str, &str)]) -> String {
    let requested: Vec<berth::org_tokens::Requested> =
        resources.iter().map(|(path, scope)| berth::org_tokens::Requested { kind: "TYPE_REPO".into(), path: path.to_string(), scopes: vec![scope.to_string()] }).collect();
    let new = berth::org_tokens::NewOrgToken {
        label: format!("{resources:?}"),
        description: String::new(),
        resources: berth::org_tokens::Resources::parse("acme", &requested).unwrap(),
        expires_at: None,
    };
    let org = app.owner("acme");
    let (_, plain) = berth::org_tokens::create(&mut app.conn(), org.id, &app.user("alice"), new, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    audit::secret(plain.expose());
    plain.expose().to_string()
}

/// alice owns acme and pushes `acme/app` and `acme/other` with her password; bobby pushes
/// `bobby/closed` (private) and `bobby/open` (made public).
async fn acme_and_bobby(app: &TestApp, registry: &Registry, clients: &Clients) {
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "hello from a test");
    for (who, reference) in [("alice", "acme/app:1"), ("alice", "acme/other:1"), ("bobby", "bobby/closed:1"), ("bobby", "bobby/open:1")] {
        clients.push(layout.path(), registry, reference, &format!("{who}:{PASSWORD}")).await.assert_ok(&format!("{who} pushes {reference}"));
    }
    assert!(berth::repositories::set_public(&mut app.conn(), app.owner("bobby").id, "bobby/open", true).unwrap());
}

#[actix_web::test]
async fn docker_login_takes_an_organization_token_with_the_organizations_name_only() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    let token = org_token(&app, &[("acme/*", "scope-image-pull")]);
    let out = clients.docker_login(&registry, "acme", &token).await;
    out.assert_ok("docker login -u acme with the organization's token");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_failed("the token with a member's name");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());
    // deactivated: refused with its reason, which docker prints
    let org = app.owner("acme");
    let id = berth::org_tokens::list(&mut app.conn(), org.id, 1, 10).unwrap().0[0].uuid.clone();
    let off = berth::org_tokens::Change { active: Some(false), ..Default::default() };
    berth::org_tokens::update(&mut app.conn(), org.id, app.user("alice").id, &id, off, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    let out = clients.docker_login(&registry, "acme", &token).await;
    out.assert_failed("a deactivated token");
    assert!(out.stderr.contains("access token is deactivated"), "{}", out.describe());
}

#[actix_web::test]
async fn a_pull_only_token_pulls_its_repository_and_public_ones_and_nothing_else() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    acme_and_bobby(&app, &registry, &clients).await;
    let token = org_token(&app, &[("acme/app", "scope-image-pull"), ("*/*/public", "scope-image-pull")]);
    let creds = format!("acme:{token}");
    clients.pull_fresh(&registry, "acme/app:1", Some(&creds)).await.assert_ok("its repository");
    clients.pull_fresh(&registry, "bobby/open:1", Some(&creds)).await.assert_ok("a public repository of another namespace, through */*/public");
    for (reference, what) in [("acme/other:1", "a repository of acme it does not name"), ("bobby/closed:1", "a private repository outside its organization")] {
        let out = clients.pull_fresh(&registry, reference, Some(&creds)).await;
        out.assert_failed(what);
        assert!(out.stderr.contains("denied") || out.stderr.contains("unauthorized"), "{what}: {}", out.describe());
    }
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "pushed with a pull-only token");
    clients.push(layout.path(), &registry, "acme/app:2", &creds).await.assert_failed("a push with a pull-only resource");
    clients.push(layout.path(), &registry, "acme/brand-new:1", &creds).await.assert_failed("a push to a new repository");
    // without */*/public the public repository is out of reach too
    let narrow = format!("acme:{}", org_token(&app, &[("acme/app", "scope-image-pull")]));
    clients.pull_fresh(&registry, "bobby/open:1", Some(&narrow)).await.assert_failed("no */*/public, no public pull");
    clients.pull_fresh(&registry, "acme/app:1", Some(&narrow)).await.assert_ok("the positive control");
}

#[actix_web::test]
async fn a_push_token_pushes_to_existing_repositories_only_and_deletes_with_the_delete_scope() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    acme_and_bobby(&app, &registry, &clients).await;
    let pusher = format!("acme:{}", org_token(&app, &[("acme/*", "scope-image-push")]));
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "pushed by the organization's token");
    clients.push(layout.path(), &registry, "acme/app:2", &pusher).await.assert_ok("a push to an existing repository of acme");
    clients.pull_fresh(&registry, "acme/app:2", Some(&pusher)).await.assert_ok("and its pull");
    clients.push(layout.path(), &registry, "acme/brand-new:1", &pusher).await.assert_failed("a push to a repository acme does not have");
    let names: Vec<String> = berth::repositories::list(&mut app.conn(), app.owner("acme").id).unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["acme/app", "acme/other"], "no repository was created");
    clients.push(layout.path(), &registry, "bobby/closed:2", &pusher).await.assert_failed("another namespace");
    clients.delete(&registry, "acme/app:2", &pusher).await.assert_failed("a delete without the delete scope");
    let deleter = format!("acme:{}", org_token(&app, &[("acme/app", "scope-image-delete")]));
    clients.delete(&registry, "acme/app:2", &deleter).await.assert_ok("a delete with it");
    clients.pull_fresh(&registry, "acme/app:2", Some(&pusher)).await.assert_failed("the deleted tag is gone");
    // the token's use is its last use, and its first IP is in acme's audit log
    let org = app.owner("acme");
    assert!(berth::org_tokens::list(&mut app.conn(), org.id, 1, 10).unwrap().0.iter().all(|t| t.last_used_at.is_some()));
    let first_uses = berth::orgs::events::Filter { action: Some(berth::orgs::events::Action::TokenUsedFromNewIp), ..Default::default() };
    assert_eq!(berth::orgs::events::list(&mut app.conn(), org.id, &first_uses, 1, 10).unwrap().1, 2);
}

#[actix_web::test]
async fn a_two_step_key_rotation_keeps_logins_working_and_the_old_keys_tokens_valid_until_they_expire() {
    use berth::registry::keys::RECHECK_SECONDS;
    require_programs();
    let app = spawn_app().await;
    let mut registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Admin, "admin");
    let admin = format!("alice:{token}");
    let layout = clients.dir.path().join("image");
    let built = build_image(&layout, "rotation\n");
    clients.push(&layout, &registry, "alice/app:1", &admin).await.assert_ok("alice pushes alice/app:1");
    let bundle_path = app.settings.data_dir.join("registry-bundle.pem");
    let certificates = |path: &Path| {
        let pem = std::fs::read_to_string(path).unwrap();
        pem.split_inclusive("-----END CERTIFICATE-----\n").map(|c| berth::registry::keys::certificate_kid(c).expect("a certificate")).collect::<Vec<_>>()
    };
    let kid1 = app.state.registry_key.current().kid.clone();
    assert_eq!(certificates(&bundle_path), [kid1.as_str()], "before the rotation the bundle holds the signing key's certificate");

    // T1, signed with the first key; and one of the same key that has expired (minted with
    // Berth's clock set back: the registry judges expiry by its own)
    let t1 = registry_token(&app.url, "alice", &token, "repository:alice/app:pull").await;
    assert_eq!(jwt_kid(&t1), kid1);
    app.clock.advance(-1000);
    let expired = registry_token(&app.url, "alice", &token, "repository:alice/app:pull").await;
    app.clock.advance(1000);
    let (status, text) = tags_list(&registry, "alice/app", Some(&t1)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "T1 before the rotation: {text}\nregistry log:\n{}", registry.log());

    // step 1, through the command line on the same database: the new key is published only
    let out = berth_on(&app, &["keys", "rotate"]).await;
    out.assert_ok("berth keys rotate");
    let said = regex::Regex::new(r"published new key (\S+); key (\S+) still signs").unwrap();
    let caps = said.captures(&out.stdout).unwrap_or_else(|| panic!("no `published new key …; key … still signs` line\n{}", out.describe()));
    let (kid2, still) = (caps[1].to_string(), caps[2].to_string());
    assert_eq!(still, kid1, "{}", out.describe());
    assert_ne!(kid2, kid1);
    // the registry does not trust the new key yet, so Berth must not sign with it
    app.clock.advance(RECHECK_SECONDS);
    assert_eq!(jwt_kid(&registry_token(&app.url, "alice", &token, "repository:alice/app:pull").await), kid1, "a published key does not sign");

    // the bundle gains the new certificate (the signing one stays first); the registry restarts on the same storage
    let auth = auth_block_from_berth(&app).await;
    assert_eq!(certificates(&bundle_path), [kid1.clone(), kid2.clone()]);
    registry.stop();
    let both = Registry::serve(&auth, Some(&registry.storage())).await;

    // step 2: activated through the command line, the running Berth signs with the new key at its next check
    let out = berth_on(&app, &["keys", "activate"]).await;
    out.assert_ok("berth keys activate");
    assert!(out.stdout.contains(&format!("key {kid2} signs registry tokens now")), "{}", out.describe());
    assert_eq!(jwt_kid(&registry_token(&app.url, "alice", &token, "repository:alice/app:pull").await), kid1, "until the next check the old key signs");
    app.clock.advance(RECHECK_SECONDS);
    let t2 = registry_token(&app.url, "alice", &token, "repository:alice/app:pull").await;
    assert_eq!(jwt_kid(&t2), kid2, "T2 is signed with the new key");

    // the clients carry on: docker login, a pull of the image pushed before, a push
    let out = clients.docker_login(&both, "alice", &token).await;
    out.assert_ok("docker login after the rotation");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
    let out = clients.inspect_digest(&both, "alice/app:1", Some(&admin)).await;
    out.assert_ok("skopeo inspect after the rotation");
    assert_eq!(out.stdout.trim(), built, "{}", out.describe());
    clients.pull_fresh(&both, "alice/app:1", Some(&admin)).await.assert_ok("skopeo pull after the rotation");
    clients.push(&layout, &both, "alice/app:2", &admin).await.assert_ok("skopeo push after the rotation");

    // T1, of the old key, still works until it expires; the expired one of the same key does not
    let (status, text) = tags_list(&both, "alice/app", Some(&t1)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "T1 after the rotation: {text}\nregistry log:\n{}", both.log());
    let listed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut tags: Vec<&str> = listed["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["1", "2"], "the image pushed before and the one pushed after the rotation: {text}");
    let (status, text) = tags_list(&both, "alice/app", Some(&expired)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "an expired token of the old key: {text}");
    let (status, text) = tags_list(&both, "alice/app", Some(&t2)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "T2: {text}\nregistry log:\n{}", both.log());
    let (status, _) = tags_list(&both, "alice/app", None).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "without the header the registry asks for a token");

    // negative control: a registry trusting only the new certificate refuses T1, takes T2
    let auth = auth_block_from_berth(&app).await;
    assert_eq!(certificates(&bundle_path), [kid2.clone(), kid1.clone()], "after the activation the new key's certificate comes first");
    let pem = std::fs::read_to_string(&bundle_path).unwrap();
    let only_new = tempfile::tempdir().unwrap();
    let only_new_bundle = only_new.path().join("new-only.pem");
    std::fs::write(&only_new_bundle, pem.split_inclusive("-----END CERTIFICATE-----\n").next().unwrap()).unwrap();
    assert_eq!(certificates(&only_new_bundle), [kid2.as_str()]);
    let from = format!("    rootcertbundle: {}", std::fs::canonicalize(&bundle_path).unwrap().display());
    assert!(auth.contains(&from), "{auth}");
    let auth_new_only = auth.replace(&from, &format!("    rootcertbundle: {}", only_new_bundle.display()));
    let strict = Registry::serve(&auth_new_only, Some(&registry.storage())).await;
    let (status, text) = tags_list(&strict, "alice/app", Some(&t1)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "without the old certificate T1 is refused: {text}\nregistry log:\n{}", strict.log());
    let (status, text) = tags_list(&strict, "alice/app", Some(&t2)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "T2 needs only the new certificate: {text}\nregistry log:\n{}", strict.log());
}

#[actix_web::test]
async fn a_token_created_through_the_json_api_logs_in_to_the_registry() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let http = reqwest::Client::new();
    let login: serde_json::Value =
        http.post(format!("{}/v2/users/login", app.url)).json(&serde_json::json!({ "username": "alice", "password": PASSWORD })).send().await.unwrap().json().await.unwrap();
    let jwt = login["token"].as_str().expect("a JWT").to_string();
    let created = http
        .post(format!("{}/v2/access-tokens", app.url))
        .bearer_auth(&jwt)
        .json(&serde_json::json!({ "token_label": "made by the API", "scopes": ["repo:admin"], "expires_at": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let token = created.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT made through the API");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());
}

// ---------------------------------------------------------------------------------------
// The registry restarted in the middle of a pull

/// A TCP relay in front of the registry, so that the client keeps one address while the
/// registry behind it restarts on another port. It paces the registry's answers (a pull of
/// a large layer then takes seconds, and a restart lands inside it), counts the bytes it
/// passes back, and notes every bearer token the client presents. When the registry's side
/// of a connection dies, the client's side is reset (RST), as a real crash looks.
struct Relay {
    port: u16,
    upstream: Arc<AtomicU16>,
    relayed: Arc<AtomicU64>,
    bearers: Arc<Mutex<Vec<String>>>,
}

fn reset_on_close(stream: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: a valid socket and a correctly sized option value
    unsafe {
        libc::setsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &linger as *const _ as *const libc::c_void, std::mem::size_of::<libc::linger>() as u32);
    }
}

impl Relay {
    fn start(upstream_port: u16) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay { port, upstream: Arc::new(AtomicU16::new(upstream_port)), relayed: Arc::default(), bearers: Arc::default() };
        let (upstream, relayed, bearers) = (relay.upstream.clone(), relay.relayed.clone(), relay.bearers.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream.load(Ordering::SeqCst))) else {
                    reset_on_close(&client);
                    continue;
                };
                let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let bearers = bearers.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = c_read.read(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        for line in text.lines() {
                            if let Some(token) = line.strip_prefix("Authorization: Bearer ") {
                                bearers.lock().unwrap().push(token.trim().to_string());
                            }
                        }
                        if s_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write, relayed) = (server, client, relayed.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n @ 1..) = s_read.read(&mut buf) {
                        if c_write.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        relayed.fetch_add(n as u64, Ordering::SeqCst);
                        // about 8 MB/s: a 40 MB layer takes a few seconds
                        std::thread::sleep(Duration::from_micros(4 * n as u64 / 10));
                    }
                    // no FIN (the client would read a clean EOF): wake the other direction
                    // with a read shutdown, and the last close of the socket sends RST
                    reset_on_close(&c_write);
                    let _ = c_write.shutdown(std::net::Shutdown::Read);
                });
            }
        });
        relay
    }

    fn image(&self, reference: &str) -> String {
        format!("docker://127.0.0.1:{}/{reference}", self.port)
    }
}

#[actix_web::test]
async fn a_registry_restarted_mid_pull_is_survived_by_the_clients_retry_with_a_fresh_token() {
    require_programs();
    let app = spawn_app().await;
    let auth = auth_block_from_berth(&app).await;
    let mut first = Registry::serve(&auth, None).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let creds = format!("alice:{}", pat(&app, "alice", Scope::Write, "pull through a restart"));

    // a 40 MB layer of noise (incompressible), pushed straight to the registry
    let layout = clients.dir.path().join("image");
    let mut noise = vec![0u8; 40 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for chunk in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let built = build_image_with(&layout, "noise.bin", &noise);
    drop(noise);
    clients.push(&layout, &first, "alice/big:1", &creds).await.assert_ok("the push");

    let relay = Relay::start(first.port);
    let out_dir = clients.dir.path().join("pulled-big");
    let args = vec![
        "--authfile".into(),
        clients.path("auth.json"),
        "--src-tls-verify=false".into(),
        "--src-creds".into(),
        creds.clone(),
        "--retry-times".into(),
        "5".into(),
        relay.image("alice/big:1"),
        format!("oci:{}:x", out_dir.display()),
    ];
    let pull = {
        let mut all = strings(&["--policy", &clients.path("policy.json"), "copy"]);
        all.extend(args);
        let env = clients.env(&clients.path("docker"));
        actix_web::rt::spawn(async move { run("skopeo", &all, &env, None).await })
    };
    // mid-pull: a quarter of the layer has passed the relay
    let deadline = Instant::now() + Duration::from_secs(30);
    while relay.relayed.load(Ordering::SeqCst) < 10 << 20 {
        assert!(Instant::now() < deadline, "the pull did not start (relayed {} bytes)", relay.relayed.load(Ordering::SeqCst));
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    first.stop();
    let before: Vec<String> = relay.bearers.lock().unwrap().clone();
    assert!(!before.is_empty(), "the client presented a token before the restart");
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let second = Registry::serve(&auth, Some(&first.storage())).await;
    relay.upstream.store(second.port, Ordering::SeqCst);

    let out = pull.await.unwrap();
    out.assert_ok("the pull survives the restart by retrying");
    assert!(out.stderr.to_lowercase().contains("retrying"), "skopeo retried:\n{}", out.describe());
    assert_eq!(layout_digest(&out_dir), built, "the pulled image is the pushed one");
    let after: Vec<String> = relay.bearers.lock().unwrap()[before.len()..].to_vec();
    assert!(after.iter().any(|t| !before.contains(t)), "the retry came with a fresh token from Berth");
    for token in after.iter().filter(|t| !before.contains(t)) {
        assert_eq!(jwt_kid(token), jwt_kid(&before[0]), "signed by Berth's key");
    }
}

// ---------------------------------------------------------------------------------------
// The README's set-up, on Debian's packaged registry

/// The README's "Use Berth with your registry" section, from its heading to the next.
fn readme_registry_section() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("\n## Use Berth with your registry\n").expect("the README has a section \"Use Berth with your registry\"");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map(|i| i + 3).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The arguments the README's `sh` blocks give `registry-config` (after the word
/// `registry-config`, comments dropped): the command an operator copies, the same every
/// time it appears.
fn readme_registry_config_args(section: &str) -> Vec<String> {
    let mut in_sh = false;
    let mut found = Vec::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let command = line.split(" #").next().unwrap().trim();
        let words: Vec<&str> = command.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "registry-config") {
            found.push(words[i + 1..].iter().map(|w| w.to_string()).collect::<Vec<_>>());
        }
    }
    // the set-up writes the bundle, and a key rotation writes it again to the same place
    assert!(!found.is_empty() && found.iter().all(|args| *args == found[0]), "one `registry-config` command in the README's sh blocks: {found:?}");
    found.remove(0)
}

/// Sets `path` (nested keys, e.g. `["http", "addr"]`) to `value` in a block-style YAML
/// text, changing that one line only (comments and the rest stay as shipped).
fn yaml_set(yaml: &str, path: &[&str], value: &str) -> String {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut hits = 0;
    let lines: Vec<String> = yaml
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                return line.to_string();
            }
            let indent = line.len() - trimmed.len();
            let key = trimmed.split(':').next().unwrap().trim().to_string();
            stack.retain(|(i, _)| *i < indent);
            stack.push((indent, key.clone()));
            if stack.iter().map(|(_, k)| k.as_str()).eq(path.iter().copied()) {
                hits += 1;
                return format!("{}{key}: {value}", &line[..indent]);
            }
            line.to_string()
        })
        .collect();
    assert_eq!(hits, 1, "{path:?} occurs once in\n{yaml}");
    lines.join("\n") + "\n"
}

/// Replaces the top-level `key:` block (its line and every indented or blank line after
/// it) with `block`.
fn yaml_replace_block(yaml: &str, key: &str, block: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == format!("{key}:")).unwrap_or_else(|| panic!("no top-level `{key}:` in\n{yaml}"));
    let end = (start + 1..lines.len()).find(|&i| !(lines[i].trim().is_empty() || lines[i].starts_with(' '))).unwrap_or(lines.len());
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend(block.lines());
    out.extend(&lines[end..]);
    out.join("\n") + "\n"
}

#[test]
fn yaml_edits_change_one_value_and_replace_one_block() {
    let packaged = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/x\nhttp:\n  addr: :5000\n  headers:\n    X: [y]\nauth:\n  htpasswd:\n    realm: basic-realm\n\nhealth:\n  storagedriver:\n    enabled: true\n";
    let edited = yaml_set(packaged, &["http", "addr"], "127.0.0.1:1234");
    assert!(edited.contains("http:\n  addr: 127.0.0.1:1234\n  headers:\n"), "{edited}");
    let edited = yaml_set(&edited, &["storage", "filesystem", "rootdirectory"], "/tmp/s");
    assert!(edited.contains("    rootdirectory: /tmp/s\n"), "{edited}");
    let edited = yaml_replace_block(&edited, "auth", "auth:\n  token:\n    realm: r\n");
    assert!(!edited.contains("htpasswd") && edited.contains("auth:\n  token:\n    realm: r\nhealth:\n"), "{edited}");
}

/// The uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd.lines().find(|l| l.split(':').next() == Some(name));
    let fields: Vec<&str> = line.unwrap_or_else(|| panic!("no user `{name}` (the Debian package docker-registry creates it)")).split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// A folder anybody may enter and read (a temp folder is 0700).
fn world_readable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `runuser -u docker-registry -- docker-registry serve CONFIG`, as the packaged systemd unit
/// runs it (`User=docker-registry`), its config.yml owned by that user and mode 0600, as the
/// README has it once the file holds the events secret.
async fn serve_as_packaged(config: &str, dir: tempfile::TempDir, port: u16) -> Registry {
    use std::os::unix::fs::PermissionsExt;
    let runuser = find_program("runuser").expect("`runuser` not found: install the Debian package util-linux");
    let program = find_program("docker-registry").expect("docker-registry (Debian package docker-registry)");
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let (uid, gid) = system_user("docker-registry");
    std::os::unix::fs::chown(&config_path, Some(uid), Some(gid)).unwrap();
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
    let child = Command::new(runuser)
        .args(["-u", "docker-registry", "--"])
        .arg(program)
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("runuser starts");
    let mut registry = Registry { child, port, dir, runuser: true };
    registry.wait_ready(config).await;
    registry
}

/// Runs the built `berth` with the environment the README has the operator set.
async fn berth_command(args: &[String], envs: &[(String, String)], stdin: Option<&str>) -> Out {
    run(env!("CARGO_BIN_EXE_berth"), args, envs, stdin).await
}

#[actix_web::test]
async fn the_readme_set_up_works_with_debians_packaged_registry_running_as_its_own_user() {
    use std::os::unix::fs::PermissionsExt;
    require_programs();
    let packaged = std::fs::read_to_string("/etc/docker/registry/config.yml").expect("/etc/docker/registry/config.yml (the Debian package docker-registry ships it)");
    let (uid, gid) = system_user("docker-registry");
    let section = readme_registry_section();
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (berth_port, registry_port) = (free_port(), free_port());

    // /etc/docker/registry, and the registry's storage folder, owned by its user
    let etc = world_readable_tempdir();
    let storage = etc.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    std::os::unix::fs::chown(&storage, Some(uid), Some(gid)).unwrap();

    // Berth's settings, as the README has the operator export them
    let dir = berth_test_support::audit::tempdir();
    let data = dir.path().join("data");
    let public_url = format!("http://127.0.0.1:{berth_port}");
    let registry_host = format!("127.0.0.1:{registry_port}");
    let events_secret = berth::keys::random_token(32);
    berth_test_support::audit::secret(&events_secret);
    let envs: Vec<(String, String)> = vec![
        ("BERTH_DATA".into(), data.display().to_string()),
        ("BERTH_PUBLIC_URL".into(), public_url.clone()),
        ("BERTH_REGISTRY_HOST".into(), registry_host.clone()),
        ("BERTH_REGISTRY_EVENTS_SECRET".into(), events_secret.clone()),
    ];

    // the first user, then the registry's auth block and bundle
    berth_test_support::audit::secret(PASSWORD);
    let add = strings(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"]);
    berth_command(&add, &envs, Some(&format!("{PASSWORD}\n"))).await.assert_ok("berth user add");
    let mut args = strings(&["registry-config"]);
    args.extend(readme_registry_config_args(&section).iter().map(|a| a.replace("/etc/docker/registry", &etc.path().display().to_string())));
    let out = berth_command(&args, &envs, None).await;
    out.assert_ok("berth registry-config, as the README writes it");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines.iter().position(|l| *l == "auth:").unwrap_or_else(|| panic!("no `auth:` line\n{}", out.describe()));
    assert!(lines[..start].iter().any(|l| l.starts_with('#') && l.to_lowercase().contains("replace")), "the block says it replaces the packaged one\n{}", out.describe());
    let auth = lines[start..].join("\n") + "\n";
    assert!(lines[start..].contains(&format!("      url: {public_url}/registry/events").as_str()), "the notifications reach Berth\n{}", out.describe());
    assert!(lines[start..].iter().any(|l| l.starts_with('#') && l.contains("0600")), "the block says config.yml holds a secret now\n{}", out.describe());
    let bundle = lines[start..].iter().find_map(|l| l.trim().strip_prefix("rootcertbundle: ")).expect("a rootcertbundle line");
    assert_eq!(std::fs::metadata(bundle).unwrap().permissions().mode() & 0o777, 0o644, "{bundle} is readable by the registry's user");

    // the packaged config: its listen address and storage moved, its auth block replaced
    let config = yaml_set(&packaged, &["http", "addr"], &format!("127.0.0.1:{registry_port}"));
    let config = yaml_set(&config, &["storage", "filesystem", "rootdirectory"], &storage.display().to_string());
    let config = yaml_replace_block(&config, "auth", &auth);
    let registry = serve_as_packaged(&config, etc, registry_port).await;

    // Berth itself, on the same data folder and settings
    let mut settings = berth::config::Settings::with_data_dir(&data);
    settings.bind = format!("127.0.0.1:{berth_port}");
    settings.public_url = Some(public_url.clone());
    settings.registry_host = registry_host.clone();
    settings.registry_url = berth::config::registry_url_of(None, &registry_host).unwrap();
    settings.registry_events_secret = Some(events_secret.clone().into());
    settings.workers = 2;
    let app = spawn_on(dir, settings, berth::clock::ManualClock::starting_now()).await;
    assert_eq!(app.url, public_url);

    // alice signs in, makes a token and runs the `docker login` line the page shows
    let b = app.browser();
    assert_eq!(b.login("alice", PASSWORD).await.status(), reqwest::StatusCode::SEE_OTHER, "alice signs in");
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "laptop"), ("scope", "repo:admin"), ("expiration", "none"), ("expires_on", "")]).await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let page = res.text().await.unwrap();
    berth_test_support::audit::tokens_in(&page);
    let token = regex::Regex::new(r#"<code id="token">(berth_pat_[0-9A-Za-z]{38})</code>"#).unwrap().captures(&page).expect("the token is on the page")[1].to_string();
    let usage = regex::Regex::new(r"<code>docker login -u alice (\S+)</code>").unwrap().captures(&page).expect("the page shows `docker login`")[1].to_string();
    assert_eq!(usage, registry.host(), "the token page names the registry users log in to");

    let clients = Clients::new();
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT (no Docker engine runs here)");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let layout = clients.dir.path().join("image");
    let built = build_image(&layout, "hello from the README\n");
    clients.push(&layout, &registry, "alice/hello:1", &format!("alice:{token}")).await.assert_ok("skopeo copy of a tiny OCI image");
    let out = clients.inspect_digest(&registry, "alice/hello:1", Some(&format!("alice:{token}"))).await;
    out.assert_ok("the pushed image is there");
    assert_eq!(out.stdout.trim(), built, "{}", out.describe());

    // the registry, reading its 0600 config.yml as its own user, reported the push to Berth
    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded = || {
        let id = berth::repositories::tags::repository_id(&mut app.conn(), "alice/hello").unwrap()?;
        berth::repositories::tags::find(&mut app.conn(), id, "1").unwrap()
    };
    while recorded().is_none() {
        assert!(Instant::now() < deadline, "the push's event did not reach Berth within 30 s\nregistry log:\n{}", registry.log());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(recorded().unwrap().digest, built, "Berth records the tag's digest");

    // the settings the steps above needed are the ones the README tells the operator to set
    for var in ["BERTH_DATA", "BERTH_PUBLIC_URL", "BERTH_REGISTRY_HOST", "BERTH_REGISTRY_EVENTS_SECRET"] {
        assert!(section.contains(var), "the README's registry section says to set {var}");
    }
}
