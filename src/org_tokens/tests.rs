use super::*;
use crate::Error;
use crate::accounts::{self, NewAccount, Plan, User};
use crate::activity::Client;
use crate::db::Conn;
use crate::orgs::events::{self, Action};
use crate::orgs::{self, Actor};
use crate::owners::{Owner, Role};
use crate::tokens::{Lookup, Refused};

const NOW: Timestamp = 1_800_000_000;

struct World {
    pool: crate::db::DbPool,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
        World { pool, _dir: dir }
    }

    fn conn(&self) -> crate::db::DbConn {
        self.pool.get().unwrap()
    }

    fn user(&self, name: &str) -> User {
        let email = format!("{name}@example.com");
        let new = NewAccount { username: name.into(), email: email.clone(), email_normalized: email, password_hash: "unused".into(), plan: Plan::Team, operator: false };
        accounts::create(&mut self.conn(), new, NOW).unwrap()
    }

    /// Organization `name` owned by `owner`, with repositories `repos` (paths in it).
    fn org(&self, name: &str, owner: &User, plan: Plan, repos: &[&str]) -> Owner {
        let c = &mut self.conn();
        let org = orgs::create(c, name, owner, plan, &actor(owner), NOW).unwrap();
        for path in repos {
            crate::repositories::create(c, &org, path, false, NOW).unwrap();
        }
        org
    }

    fn reload(&self, org: &Owner) -> Owner {
        crate::owners::find_by_name(&mut self.conn(), &org.name).unwrap().unwrap()
    }

    fn events(&self, org: &Owner) -> Vec<String> {
        let (list, _) = events::list(&mut self.conn(), org.id, &events::Filter::default(), 1, 100).unwrap();
        list.into_iter().map(|e| e.action).collect()
    }
}

fn actor(user: &User) -> Actor {
    Actor::user(user, &Client { ip: "192.0.2.1".into(), user_agent: "unit test".into() })
}

fn pull(path: &str) -> Requested {
    Requested { kind: resources::REPO_TYPE.into(), path: path.into(), scopes: vec!["scope-image-pull".into()] }
}

fn new_token(org: &str, label: &str, requested: &[Requested]) -> NewOrgToken {
    NewOrgToken { label: label.into(), description: String::new(), resources: Resources::parse(org, requested).unwrap(), expires_at: None }
}

fn make(c: &mut Conn, org: &Owner, owner: &User, label: &str) -> (OrgToken, crate::tokens::PlainToken) {
    create(c, org.id, owner, new_token(&org.name, label, &[pull(&format!("{}/app", org.name))]), &actor(owner), NOW).unwrap()
}

#[test]
fn an_owner_creates_a_token_stored_hashed_counted_and_logged() {
    let w = World::new();
    let alice = w.user("alice");
    let acme = w.org("acme", &alice, Plan::Team, &["app"]);
    let (token, plain) = make(&mut w.conn(), &acme, &alice, "ci");
    assert!(plain.expose().starts_with("berth_oat_"));
    assert_eq!((token.label.as_str(), token.created_by, token.created_by_name.as_str()), ("ci", Some(alice.id), "alice"));
    assert_eq!(token.resources().0, vec![Resource { path: "acme/app".into(), scope: ImageScope::Pull }]);
    assert_eq!(w.reload(&acme).token_count, 1);
    assert!(w.events(&acme).contains(&Action::TokenCreated.as_str().to_string()));
    // only the hash is stored
    use crate::db::schema::org_access_tokens;
    let stored: Vec<u8> = org_access_tokens::table.select(org_access_tokens::token_hash).first(&mut w.conn()).unwrap();
    assert_eq!(stored, plain.hash().0.to_vec());
    // the lookup finds it for the organization's name only
    let c = &mut w.conn();
    assert!(matches!(lookup(c, NOW, "acme", plain.expose()).unwrap(), Lookup::Valid(f) if f.auth.org.id == acme.id && f.auth.org_name == "acme"));
    assert!(matches!(lookup(c, NOW, " ACME ", plain.expose()).unwrap(), Lookup::Valid(_)));
    for wrong in ["alice", "acm", "acme2", ""] {
        assert!(matches!(lookup(c, NOW, wrong, plain.expose()).unwrap(), Lookup::NoMatch), "{wrong}");
    }
    let pat_shaped = plain.expose().replacen("berth_oat_", "berth_pat_", 1);
    assert!(matches!(lookup(c, NOW, "acme", &pat_shaped).unwrap(), Lookup::NoMatch));
}

#[test]
fn only_owners_create_and_change_tokens_and_only_of_existing_repositories_of_their_organization() {
    let w = World::new();
    let (alice, bob, carol) = (w.user("alice"), w.user("bobby"), w.user("carol"));
    let acme = w.org("acme", &alice, Plan::Team, &["app"]);
    orgs::add_member(&mut w.conn(), &acme, &bob, Role::Editor, None, &Actor::cli(), NOW).unwrap();
    let c = &mut w.conn();
    let as_bob = create(c, acme.id, &bob, new_token("acme", "x", &[pull("acme/app")]), &actor(&bob), NOW).unwrap_err();
    assert!(matches!(as_bob, Error::Denied(_)), "an editor is refused: {as_bob}");
    let as_carol = create(c, acme.id, &carol, new_token("acme", "x", &[pull("acme/app")]), &actor(&carol), NOW).unwrap_err();
    assert!(matches!(as_carol, Error::NotFound), "a non-member learns nothing");
    let missing = create(c, acme.id, &alice, new_token("acme", "x", &[pull("acme/app"), pull("acme/ghost")]), &actor(&alice), NOW).unwrap_err();
    assert!(missing.to_string().contains("acme/ghost is not a repository of acme"), "{missing}");
    let malformed = create(c, acme.id, &alice, new_token("acme", "x", &[pull("acme/app!")]), &actor(&alice), NOW).unwrap_err();
    assert!(malformed.to_string().contains("acme/app! is not a repository of acme"), "{malformed}");
    assert_eq!(missing.field(), Some("resources"));
    assert_eq!(w.reload(&acme).token_count, 0, "a refusal creates nothing");
    // acme/* and */*/public need no repository
    let wide = create(c, acme.id, &alice, new_token("acme", "all", &[pull("acme/*"), pull("*/*/public")]), &actor(&alice), NOW).unwrap().0;
    assert!(wide.resources().covers_whole_organization());
    let (token, _) = make(c, &acme, &alice, "ci");
    let change = Change { active: Some(false), ..Default::default() };
    assert!(matches!(update(c, acme.id, bob.id, &token.uuid, change.clone(), &actor(&bob), NOW), Err(Error::Denied(_))));
    assert!(matches!(delete(c, acme.id, bob.id, &token.uuid, &actor(&bob), NOW), Err(Error::Denied(_))));
    assert!(update(c, acme.id, alice.id, &token.uuid, change, &actor(&alice), NOW).unwrap().is_active.eq(&false));
}

#[test]
fn the_plan_allows_ten_tokens_on_team_and_every_token_counts_until_deleted() {
    let w = World::new();
    let alice = w.user("alice");
    let acme = w.org("acme", &alice, Plan::Team, &["app"]);
    let c = &mut w.conn();
    let mut made = Vec::new();
    for i in 0..10 {
        made.push(make(c, &acme, &alice, &format!("t{i}")).0);
    }
    update(c, acme.id, alice.id, &made[0].uuid, Change { active: Some(false), ..Default::default() }, &actor(&alice), NOW).unwrap();
    let over = create(c, acme.id, &alice, new_token("acme", "eleventh", &[pull("acme/app")]), &actor(&alice), NOW).unwrap_err();
    assert!(matches!(over, Error::Denied(_)));
    assert!(over.to_string().contains("allows 10 organization access tokens, and it holds 10"), "{over}");
    delete(c, acme.id, alice.id, &made[0].uuid, &actor(&alice), NOW).unwrap();
    assert_eq!(w.reload(&acme).token_count, 9);
    make(c, &acme, &alice, "eleventh");
    assert_eq!((limit(Plan::Team), limit(Plan::Business)), (10, 100));
}

#[test]
fn a_deactivated_or_expired_token_is_refused_and_an_expired_one_can_only_be_deleted() {
    let w = World::new();
    let alice = w.user("alice");
    let acme = w.org("acme", &alice, Plan::Business, &["app"]);
    let c = &mut w.conn();
    let (token, plain) = make(c, &acme, &alice, "ci");
    let off = Change { active: Some(false), ..Default::default() };
    update(c, acme.id, alice.id, &token.uuid, off, &actor(&alice), NOW).unwrap();
    assert!(matches!(lookup(c, NOW, "acme", plain.expose()).unwrap(), Lookup::Refused(OrgRefused(Refused::Deactivated))));
    assert!(matches!(lookup(c, NOW, "bobby", plain.expose()).unwrap(), Lookup::NoMatch), "the reason is only for its holder");
    let on = Change { active: Some(true), ..Default::default() };
    update(c, acme.id, alice.id, &token.uuid, on.clone(), &actor(&alice), NOW).unwrap();
    assert!(matches!(lookup(c, NOW, "acme", plain.expose()).unwrap(), Lookup::Valid(_)));

    let mut soon = new_token("acme", "short", &[pull("acme/app")]);
    soon.expires_at = Some(NOW + 60);
    let (short, short_plain) = create(c, acme.id, &alice, soon, &actor(&alice), NOW).unwrap();
    assert!(matches!(lookup(c, NOW + 60, "acme", short_plain.expose()).unwrap(), Lookup::Refused(OrgRefused(Refused::Expired))));
    assert!(matches!(update(c, acme.id, alice.id, &short.uuid, on, &actor(&alice), NOW + 60), Err(Error::Expired)));
    delete(c, acme.id, alice.id, &short.uuid, &actor(&alice), NOW + 60).unwrap();
    assert!(matches!(lookup(c, NOW, "acme", short_plain.expose()).unwrap(), Lookup::NoMatch), "deleted");
    let logged = w.events(&acme);
    for action in [Action::TokenDeactivated, Action::TokenActivated, Action::TokenDeleted] {
        assert!(logged.contains(&action.as_str().to_string()), "{action:?}");
    }
}

#[test]
fn a_token_outlives_its_creator_leaving_and_belongs_to_its_organization_only() {
    let w = World::new();
    let (alice, bob) = (w.user("alice"), w.user("bobby"));
    let acme = w.org("acme", &alice, Plan::Team, &["app"]);
    let globex = w.org("globex", &bob, Plan::Team, &["app"]);
    orgs::add_member(&mut w.conn(), &acme, &bob, Role::Owner, None, &Actor::cli(), NOW).unwrap();
    let c = &mut w.conn();
    let (token, plain) = make(c, &acme, &bob, "made by bob");
    orgs::remove_member(c, &acme, "bobby", &actor(&bob), NOW).unwrap();
    assert!(matches!(lookup(c, NOW, "acme", plain.expose()).unwrap(), Lookup::Valid(_)), "it is the organization's, not bob's");
    let kept = find(c, acme.id, &token.uuid).unwrap().unwrap();
    assert_eq!(kept.created_by_name, "bobby");
    // bob, now owner of globex only, cannot reach it through his organization
    assert!(find(c, globex.id, &token.uuid).unwrap().is_none());
    assert!(matches!(update(c, globex.id, bob.id, &token.uuid, Change { active: Some(false), ..Default::default() }, &actor(&bob), NOW), Err(Error::NotFound)));
    assert!(matches!(delete(c, acme.id, bob.id, &token.uuid, &actor(&bob), NOW), Err(Error::NotFound)), "no longer a member");
    assert!(matches!(lookup(c, NOW, "globex", plain.expose()).unwrap(), Lookup::NoMatch));
}

#[test]
fn last_use_is_written_once_a_minute_and_a_new_ip_is_logged_once() {
    let w = World::new();
    let alice = w.user("alice");
    let acme = w.org("acme", &alice, Plan::Team, &["app"]);
    let c = &mut w.conn();
    let (_, plain) = make(c, &acme, &alice, "ci");
    let found = |c: &mut Conn| match lookup(c, NOW, "acme", plain.expose()).unwrap() {
        Lookup::Valid(f) => f,
        _ => panic!("valid"),
    };
    let due = found(c).last_use_due(NOW, "10.0.0.1", "docker/28").expect("never used: due");
    record_last_use(c, &due, NOW).unwrap();
    record_last_use(c, &due, NOW).unwrap(); // a concurrent request that saw the same stale use
    let f = found(c);
    assert!(f.last_use_due(NOW + 30, "10.0.0.1", "docker/28").is_none(), "within the minute, same client");
    assert!(f.last_use_due(NOW + 60, "10.0.0.1", "docker/28").is_some());
    assert!(f.last_use_due(NOW + 1, "10.0.0.2", "docker/28").is_some(), "a new IP at once");
    let new_ip = w.events(&acme).iter().filter(|a| *a == Action::TokenUsedFromNewIp.as_str()).count();
    assert_eq!(new_ip, 1);
    let token = &list(c, acme.id, 1, 10).unwrap().0[0];
    assert_eq!((token.last_used_at, token.last_used_ip.as_deref()), (Some(NOW), Some("10.0.0.1")));
}

#[test]
fn labels_follow_the_description_rule_and_descriptions_are_optional() {
    assert_eq!(check_label(" ci on build-01 ").unwrap(), "ci on build-01");
    assert!(check_label("").unwrap_err().to_string().contains("Add a label"));
    assert_eq!(check_label("").unwrap_err().field(), Some("label"));
    assert!(check_label(&"é".repeat(101)).is_err());
    assert!(check_label("a\u{202E}b").unwrap_err().to_string().starts_with("The label cannot"));
    assert_eq!(check_description("").unwrap(), "");
    assert!(check_description(&"x".repeat(256)).is_err());
    assert!(check_description("line\nbreak").is_err());
}
