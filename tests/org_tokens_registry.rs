//! Organization access tokens end to end against the real programs: Debian's
//! `docker-registry` trusting Berth's token server, `docker login` and `skopeo` push, pull
//! and delete (`berth_test_support::registry`). An organization's token signs in as the
//! organization, reaches what its resources name in the organization's existing
//! repositories and, with `*/*/public`, public ones; nothing else, and it never creates a
//! repository.

use berth::accounts::Plan;
use berth::org_tokens::{self, NewOrgToken, Requested, Resources};
use berth::orgs::{self, Actor};
use berth_test_support::registry::{Clients, Registry, build_image};
use berth_test_support::*;

/// A token of acme with `resources` (path, scope), its plaintext.
fn oat(app: &TestApp, resources: &[(&str, &str)]) -> String {
    let requested: Vec<Requested> = resources.iter().map(|(path, scope)| Requested { kind: "TYPE_REPO".into(), path: path.to_string(), scopes: vec![scope.to_string()] }).collect();
    let new = NewOrgToken { label: format!("{resources:?}"), description: String::new(), resources: Resources::parse("acme", &requested).unwrap(), expires_at: None };
    let org = app.owner("acme");
    let (_, plain) = org_tokens::create(&mut app.conn(), org.id, &app.user("alice"), new, &Actor::cli(), app.state.now()).unwrap();
    audit::secret(plain.expose());
    plain.expose().to_string()
}

/// alice owns acme and pushes `acme/app` and `acme/other` with her password; bobby pushes
/// `bobby/closed` (private) and `bobby/open` (made public).
async fn world(app: &TestApp, registry: &Registry, clients: &Clients) {
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &Actor::cli(), app.state.now()).unwrap();
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "hello from a test");
    for (who, reference) in [("alice", "acme/app:1"), ("alice", "acme/other:1"), ("bobby", "bobby/closed:1"), ("bobby", "bobby/open:1")] {
        clients.push(layout.path(), registry, reference, &format!("{who}:{PASSWORD}")).await.assert_ok(&format!("{who} pushes {reference}"));
    }
    assert!(berth::repositories::set_public(&mut app.conn(), app.owner("bobby").id, "bobby/open", true).unwrap());
}

#[actix_web::test]
async fn docker_login_takes_an_organization_token_with_the_organizations_name_only() {
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &Actor::cli(), app.state.now()).unwrap();
    let token = oat(&app, &[("acme/*", "scope-image-pull")]);
    let out = clients.docker_login(&registry, "acme", &token).await;
    out.assert_ok("docker login -u acme with the organization's token");
    assert!(out.printed().contains("Login Succeeded"), "{}", out.describe());
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_failed("the token with a member's name");
    assert!(out.printed().contains("incorrect username or password"), "{}", out.describe());
    // deactivated: refused with its reason, which docker prints
    let org = app.owner("acme");
    let id = org_tokens::list(&mut app.conn(), org.id, 1, 10).unwrap().0[0].uuid.clone();
    let off = org_tokens::Change { active: Some(false), ..Default::default() };
    org_tokens::update(&mut app.conn(), org.id, app.user("alice").id, &id, off, &Actor::cli(), app.state.now()).unwrap();
    let out = clients.docker_login(&registry, "acme", &token).await;
    out.assert_failed("a deactivated token");
    assert!(out.printed().contains("access token is deactivated"), "{}", out.describe());
}

#[actix_web::test]
async fn a_pull_only_token_pulls_its_repository_and_public_ones_and_nothing_else() {
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    world(&app, &registry, &clients).await;
    let token = oat(&app, &[("acme/app", "scope-image-pull"), ("*/*/public", "scope-image-pull")]);
    let creds = format!("acme:{token}");
    clients.pull(&registry, "acme/app:1", &creds).await.assert_ok("its repository");
    clients.pull(&registry, "bobby/open:1", &creds).await.assert_ok("a public repository of another namespace, through */*/public");
    for (reference, what) in [("acme/other:1", "a repository of acme it does not name"), ("bobby/closed:1", "a private repository outside its organization")] {
        let out = clients.pull(&registry, reference, &creds).await;
        out.assert_failed(what);
        assert!(out.printed().contains("denied") || out.printed().contains("unauthorized"), "{what}: {}", out.describe());
    }
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "pushed with a pull-only token");
    clients.push(layout.path(), &registry, "acme/app:2", &creds).await.assert_failed("a push with a pull-only resource");
    clients.push(layout.path(), &registry, "acme/brand-new:1", &creds).await.assert_failed("a push to a new repository");
    // without */*/public the public repository is out of reach too
    let narrow = format!("acme:{}", oat(&app, &[("acme/app", "scope-image-pull")]));
    clients.pull(&registry, "bobby/open:1", &narrow).await.assert_failed("no */*/public, no public pull");
    clients.pull(&registry, "acme/app:1", &narrow).await.assert_ok("the positive control");
}

#[actix_web::test]
async fn a_push_token_pushes_to_existing_repositories_only_and_deletes_with_the_delete_scope() {
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    world(&app, &registry, &clients).await;
    let pusher = format!("acme:{}", oat(&app, &[("acme/*", "scope-image-push")]));
    let layout = tempfile::tempdir().unwrap();
    build_image(layout.path(), "pushed by the organization's token");
    clients.push(layout.path(), &registry, "acme/app:2", &pusher).await.assert_ok("a push to an existing repository of acme");
    clients.pull(&registry, "acme/app:2", &pusher).await.assert_ok("and its pull");
    clients.push(layout.path(), &registry, "acme/brand-new:1", &pusher).await.assert_failed("a push to a repository acme does not have");
    let names: Vec<String> = berth::repositories::list(&mut app.conn(), app.owner("acme").id).unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["acme/app", "acme/other"], "no repository was created");
    clients.push(layout.path(), &registry, "bobby/closed:2", &pusher).await.assert_failed("another namespace");
    clients.delete(&registry, "acme/app:2", &pusher).await.assert_failed("a delete without the delete scope");
    let deleter = format!("acme:{}", oat(&app, &[("acme/app", "scope-image-delete")]));
    clients.delete(&registry, "acme/app:2", &deleter).await.assert_ok("a delete with it");
    clients.pull(&registry, "acme/app:2", &pusher).await.assert_failed("the deleted tag is gone");
    // the token's use is its last use, and its first IP is in acme's audit log
    let org = app.owner("acme");
    assert!(org_tokens::list(&mut app.conn(), org.id, 1, 10).unwrap().0.iter().all(|t| t.last_used_at.is_some()));
    let first_uses = orgs::events::Filter { action: Some(orgs::events::Action::TokenUsedFromNewIp), ..Default::default() };
    assert_eq!(orgs::events::list(&mut app.conn(), org.id, &first_uses, 1, 10).unwrap().1, 2);
}
