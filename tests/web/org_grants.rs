//! What `/token` grants in an organization's repositories and on shared personal ones: the
//! role matrix (role × credential scope × repository × action, every cell asserted), and
//! that a change of membership, role, team or collaboration counts at the very next
//! request, also for a token issued before it.

use berth::accounts::Plan;
use berth::orgs::{self, Actor};
use berth::owners::{Permission, Role};
use berth::tokens::Scope;
use reqwest::StatusCode;
use serde_json::Value;

use crate::registry_token::pat;
use berth_test_support::*;

async fn token_answer(app: &TestApp, creds: Option<(&str, &str)>, name: &str, actions: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}/token?service=registry.local&scope=repository:{name}:{actions}", app.url));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

/// The actions granted on `name`, asking for pull, push and delete.
async fn granted(app: &TestApp, creds: Option<(&str, &str)>, name: &str) -> Vec<String> {
    crate::registry_token::granted(app, creds, name, "pull,push,delete").await
}

fn cli() -> Actor {
    Actor::cli()
}

/// An organization `acme` (team plan) owned by `owner`, with repositories `acme/private`
/// and `acme/public`.
fn acme(app: &TestApp, owner: &str) -> berth::owners::Owner {
    let c = &mut app.conn();
    let owner = app.user(owner);
    let org = orgs::create(c, "acme", &owner, Plan::Team, &cli(), app.state.now()).unwrap();
    berth::repositories::create(c, &org, "private", false, 0).unwrap();
    berth::repositories::create(c, &org, "public", true, 0).unwrap();
    org
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Editor,
    MemberRead,
    MemberWrite,
    MemberAdmin,
    MemberWithoutTeam,
    NonMember,
    Anonymous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    Password,
    Pat(Scope),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repo {
    Private,
    Public,
    New,
}

impl Repo {
    /// A new repository is named afresh for each cell: a push granted on it creates it.
    fn name(self, cell: usize) -> String {
        match self {
            Repo::Private => "acme/private".into(),
            Repo::Public => "acme/public".into(),
            Repo::New => format!("acme/new-{cell}"),
        }
    }
}

const ALL: [&str; 3] = ["pull", "push", "delete"];
const PULL: usize = 1;
const PUSH: usize = 2;
const DELETE: usize = 3;

/// The table: how far along pull, push, delete the role reaches on the repository, before
/// the credential's scope. Owners and editors have admin everywhere and create by pushing;
/// a member has what their team holds on an existing repository and nothing on a new one;
/// anyone else nothing — public pull aside (below).
fn role_reach(who: Who, repo: Repo) -> usize {
    match (who, repo) {
        (Who::Owner | Who::Editor, _) => DELETE,
        (_, Repo::New) => 0,
        (Who::MemberRead, _) => PULL,
        (Who::MemberWrite, _) => PUSH,
        (Who::MemberAdmin, _) => DELETE,
        (Who::MemberWithoutTeam | Who::NonMember | Who::Anonymous, _) => 0,
    }
}

/// How far the credential's scope reaches, where the role allows.
fn scope_reach(cred: Cred) -> usize {
    match cred {
        Cred::Password | Cred::Pat(Scope::Admin) => DELETE,
        Cred::Pat(Scope::Write) => PUSH,
        Cred::Pat(Scope::Read) => PULL,
        Cred::Pat(Scope::PublicRead) => 0,
    }
}

fn expected(who: Who, cred: Cred, repo: Repo) -> Vec<String> {
    let mut reach = role_reach(who, repo).min(scope_reach(cred));
    if repo == Repo::Public {
        reach = reach.max(PULL); // pull of a public repository, for everyone
    }
    ALL[..reach].iter().map(|s| s.to_string()).collect()
}

#[actix_web::test]
async fn the_role_matrix_every_role_scope_repository_and_action() {
    let app = spawn_app().await;
    let people = [
        ("owner1", Who::Owner),
        ("editor1", Who::Editor),
        ("readers1", Who::MemberRead),
        ("writers1", Who::MemberWrite),
        ("admins1", Who::MemberAdmin),
        ("loner1", Who::MemberWithoutTeam),
        ("stranger1", Who::NonMember),
    ];
    for (name, _) in people {
        app.signed_up(name).await;
    }
    let org = acme(&app, "owner1");
    {
        let c = &mut app.conn();
        let now = app.state.now();
        for (name, who) in people {
            let role = match who {
                Who::Owner | Who::NonMember | Who::Anonymous => continue,
                Who::Editor => Role::Editor,
                _ => Role::Member,
            };
            orgs::add_member(c, &org, &app.user(name), role, None, &cli(), now).unwrap();
        }
        for (team, member, permission) in [("readers", "readers1", Permission::Read), ("writers", "writers1", Permission::Write), ("admins", "admins1", Permission::Admin)] {
            let t = orgs::teams::create(c, &org, team, "", &cli(), now).unwrap();
            orgs::teams::add_member(c, &org, &t, member, &cli(), now).unwrap();
            for repo in ["private", "public"] {
                orgs::teams::set_permission(c, &org, &t, repo, permission, &cli(), now).unwrap();
            }
        }
    }
    let creds = [Cred::Password, Cred::Pat(Scope::Admin), Cred::Pat(Scope::Write), Cred::Pat(Scope::Read), Cred::Pat(Scope::PublicRead)];
    let mut cells = 0;
    for (name, who) in people.iter().copied().chain([("", Who::Anonymous)]) {
        for cred in creds {
            if who == Who::Anonymous && cred != Cred::Password {
                continue; // anonymous has no credential: one row
            }
            let secret = match cred {
                _ if who == Who::Anonymous => None,
                Cred::Password => Some(PASSWORD.to_string()),
                Cred::Pat(scope) => Some(pat(&app, name, scope)),
            };
            for repo in [Repo::Private, Repo::Public, Repo::New] {
                let got = granted(&app, secret.as_deref().map(|s| (name, s)), &repo.name(cells)).await;
                assert_eq!(got, expected(who, cred, repo), "{who:?} with {cred:?} on {repo:?}");
                cells += ALL.len();
            }
        }
    }
    // 7 roles × 5 credentials + anonymous, × 3 repositories × 3 actions
    assert_eq!(cells, (7 * 5 + 1) * 3 * 3);
    // the owners' and editors' pushes created their new repositories, nobody else's did
    let created: Vec<String> = berth::repositories::list(&mut app.conn(), org.id).unwrap().into_iter().map(|r| r.name).filter(|n| n.starts_with("acme/new-")).collect();
    assert_eq!(created.len(), 2 * 3, "owner and editor, with the password, an Admin and a Write token: {created:?}");
}

#[actix_web::test]
async fn leaving_removal_role_and_team_changes_count_at_the_next_token_request_also_for_an_older_token() {
    let app = spawn_app().await;
    app.signed_up("owner1").await;
    app.signed_up("member1").await;
    let org = acme(&app, "owner1");
    let now = app.state.now();
    let team = {
        let c = &mut app.conn();
        orgs::add_member(c, &org, &app.user("member1"), Role::Member, None, &cli(), now).unwrap();
        let t = orgs::teams::create(c, &org, "devs", "", &cli(), now).unwrap();
        orgs::teams::add_member(c, &org, &t, "member1", &cli(), now).unwrap();
        orgs::teams::set_permission(c, &org, &t, "private", Permission::Write, &cli(), now).unwrap();
        t
    };
    // the token is made before every change below
    let t = pat(&app, "member1", Scope::Admin);
    let creds = Some(("member1", t.as_str()));
    assert_eq!(granted(&app, creds, "acme/private").await, ["pull", "push"]);

    orgs::teams::set_permission(&mut app.conn(), &org, &team, "private", Permission::Read, &cli(), now).unwrap();
    assert_eq!(granted(&app, creds, "acme/private").await, ["pull"], "the team's permission narrowed");

    orgs::set_role(&mut app.conn(), &org, "member1", Role::Editor, &cli(), now).unwrap();
    assert_eq!(granted(&app, creds, "acme/private").await, ["pull", "push", "delete"], "an editor");
    assert_eq!(granted(&app, creds, "acme/new").await, ["pull", "push", "delete"], "an editor's push creates");
    orgs::set_role(&mut app.conn(), &org, "member1", Role::Member, &cli(), now).unwrap();
    assert!(granted(&app, creds, "acme/new").await.is_empty(), "a member's push creates nothing");

    orgs::teams::remove_member(&mut app.conn(), &org, &team, "member1", &cli(), now).unwrap();
    assert!(granted(&app, creds, "acme/private").await.is_empty(), "out of the team");
    orgs::teams::add_member(&mut app.conn(), &org, &team, "member1", &cli(), now).unwrap();
    assert_eq!(granted(&app, creds, "acme/private").await, ["pull"]);

    orgs::remove_member(&mut app.conn(), &org, "member1", &cli(), now).unwrap();
    assert!(granted(&app, creds, "acme/private").await.is_empty(), "removed");
    assert_eq!(granted(&app, creds, "acme/public").await, ["pull"], "a public repository stays pullable");
    // removal took them out of the team too: joining again gives the team's grant no more
    orgs::add_member(&mut app.conn(), &org, &app.user("member1"), Role::Member, None, &cli(), now).unwrap();
    assert!(granted(&app, creds, "acme/private").await.is_empty(), "a new membership starts without teams");
    assert!(orgs::teams::members(&mut app.conn(), &team).unwrap().is_empty());

    // leaving (the member removes themselves) ends it the same way
    orgs::teams::add_member(&mut app.conn(), &org, &team, "member1", &cli(), now).unwrap();
    assert_eq!(granted(&app, creds, "acme/private").await, ["pull"]);
    let me = Actor { name: "member1".into(), client: Default::default() };
    orgs::remove_member(&mut app.conn(), &org, "member1", &me, now).unwrap();
    assert!(granted(&app, creds, "acme/private").await.is_empty(), "left");
    let (log, _) = orgs::events::list(&mut app.conn(), org.id, &Default::default(), 1, 100).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"member.leave") && actions.contains(&"member.removed") && actions.contains(&"repo.permission.change"), "{actions:?}");
}

#[actix_web::test]
async fn the_last_owner_cannot_leave_be_removed_or_demoted() {
    let app = spawn_app().await;
    app.signed_up("owner1").await;
    app.signed_up("owner2").await;
    let org = acme(&app, "owner1");
    let now = app.state.now();
    let c = &mut app.conn();
    for attempt in [orgs::remove_member(c, &org, "owner1", &cli(), now), orgs::set_role(c, &org, "owner1", Role::Editor, &cli(), now)] {
        let e = attempt.unwrap_err();
        assert_eq!(e.to_string(), orgs::LAST_OWNER);
    }
    assert_eq!(orgs::role_of(c, org.id, app.user("owner1").id).unwrap(), Some(Role::Owner), "nothing changed");
    // with a second owner, the first may go
    orgs::add_member(c, &org, &app.user("owner2"), Role::Owner, None, &cli(), now).unwrap();
    orgs::set_role(c, &org, "owner1", Role::Member, &cli(), now).unwrap();
    assert_eq!(orgs::remove_member(c, &org, "owner2", &cli(), now).unwrap_err().to_string(), orgs::LAST_OWNER);
}

#[actix_web::test]
async fn a_business_organization_requiring_2fa_refuses_a_member_without_it_until_they_turn_it_on() {
    let app = spawn_app().await;
    app.signed_up("owner1").await;
    let member = app.signed_up("member1").await;
    let org = acme(&app, "owner1");
    let now = app.state.now();
    {
        let c = &mut app.conn();
        orgs::add_member(c, &org, &app.user("member1"), Role::Editor, None, &cli(), now).unwrap();
        // a team-plan organization cannot require it
        assert!(orgs::set_require_two_factor(c, &org, true, &cli(), now).is_err());
        orgs::set_plan(c, &org, Plan::Business, &cli(), now).unwrap();
        let org = orgs::find(c, "acme").unwrap().unwrap();
        orgs::set_require_two_factor(c, &org, true, &cli(), now).unwrap();
    }
    let t = pat(&app, "member1", Scope::Admin);
    let res = token_answer(&app, Some(("member1", &t)), "acme/private", "pull").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "the status whose words every client shows");
    let body: Value = res.json().await.unwrap();
    assert!(body["details"].as_str().unwrap().contains("acme requires two-factor authentication"), "{body}");
    // their own namespace is not the organization's business
    assert_eq!(granted(&app, Some(("member1", &t)), "member1/app").await, ["pull", "push", "delete"]);
    member.enable_2fa(&app).await;
    assert_eq!(granted(&app, Some(("member1", &t)), "acme/private").await, ["pull", "push", "delete"], "with 2FA on");
}

#[actix_web::test]
async fn a_collaborator_reads_or_writes_a_shared_private_repository_until_removed() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let home = app.owner("alice");
    berth::repositories::create(&mut app.conn(), &home, "app", false, 0).unwrap();
    let t = pat(&app, "bobby", Scope::Admin);
    let creds = Some(("bobby", t.as_str()));
    assert!(granted(&app, creds, "alice/app").await.is_empty());
    let share = |p| berth::repositories::sharing::add(&mut app.conn(), &home, "alice/app", "bobby", p, 0);
    share(Permission::Read).unwrap();
    assert_eq!(granted(&app, creds, "alice/app").await, ["pull"]);
    share(Permission::Write).unwrap();
    assert_eq!(granted(&app, creds, "alice/app").await, ["pull", "push"], "never delete");
    assert!(share(Permission::Admin).is_err(), "a collaborator reads or writes");
    assert!(granted(&app, creds, "alice/other").await.is_empty(), "one repository, not the namespace");
    let shared = berth::repositories::shared_with(&mut app.conn(), app.user("bobby").id).unwrap();
    assert_eq!(shared.iter().map(|(r, _)| r.name.as_str()).collect::<Vec<_>>(), ["alice/app"]);
    berth::repositories::sharing::remove(&mut app.conn(), &home, "alice/app", "bobby").unwrap();
    assert!(granted(&app, creds, "alice/app").await.is_empty(), "removed");
}

#[actix_web::test]
async fn a_deleted_account_keeps_its_name_reserved_and_a_sole_owner_cannot_delete_theirs() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    app.signed_up("owner1").await;
    let org = acme(&app, "owner1");
    let now = app.state.now();
    let c = &mut app.conn();
    // the only owner of acme cannot go
    let e = berth::accounts::delete(c, app.user("owner1").id, now).unwrap_err();
    assert!(e.to_string().contains("only owner of acme"), "{e}");
    assert!(berth::accounts::find_by_username(c, "owner1").unwrap().is_some(), "nothing deleted");

    orgs::add_member(c, &org, &app.user("alice"), Role::Member, None, &cli(), now).unwrap();
    let t = pat(&app, "alice", Scope::Admin);
    berth::accounts::delete(c, app.user("alice").id, now).unwrap();
    assert!(!alice.signed_in().await, "the session ended");
    assert_eq!(token_answer(&app, Some(("alice", &t)), "alice/app", "pull").await.status(), StatusCode::UNAUTHORIZED, "the token is gone");
    assert!(orgs::role_of(c, org.id, 0).unwrap().is_none());
    let (members, _) = orgs::members(c, org.id, None, None, 1, 50).unwrap();
    assert_eq!(members.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), ["owner1"], "the membership is forgotten");
    // the name stays reserved for accounts and organizations alike
    let res = app.browser().signup("alice", "alice2@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("This username is taken."));
    assert!(matches!(orgs::create(c, "alice", &app.user("owner1"), Plan::Team, &cli(), now), Err(berth::Error::Taken(_))));
    // until an operator releases it
    assert!(berth::owners::release(c, "alice").unwrap());
    assert_eq!(app.browser().signup("alice", "alice2@example.com", PASSWORD).await.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn an_organization_is_deleted_only_without_repositories_and_its_name_stays_reserved() {
    let app = spawn_app().await;
    app.signed_up("owner1").await;
    let org = acme(&app, "owner1");
    let now = app.state.now();
    let c = &mut app.conn();
    let e = orgs::delete(c, &org, now).unwrap_err();
    assert!(e.to_string().contains("holds 2 repositories"), "{e}");
    for name in ["acme/private", "acme/public"] {
        assert!(berth::repositories::delete(c, org.id, name).unwrap());
    }
    orgs::delete(c, &org, now).unwrap();
    assert!(orgs::find(c, "acme").unwrap().is_none());
    assert!(matches!(orgs::create(c, "acme", &app.user("owner1"), Plan::Team, &cli(), now), Err(berth::Error::Taken(_))), "a new acme never inherits acme/*");
    // and nobody may push into the old namespace
    let t = pat(&app, "owner1", Scope::Admin);
    assert!(granted(&app, Some(("owner1", &t)), "acme/private").await.is_empty());
}
