//! The organization pages through the real server: creating one (the Team plan's, once per
//! form), invitations (accept, decline, expiry, resend, revoke), roles and the last-owner
//! rule, teams and their repository permissions (what a member may then pull at /token),
//! collaborators on personal repositories, the audit log, who is refused what (404 for
//! non-members, 403 for the wrong role, CSRF), and a 1,000-member organization's page.

use berth::accounts::{NewAccount, Plan};
use berth::orgs::{self, Actor};
use berth::owners::Role;
use regex::Regex;
use reqwest::StatusCode;

use crate::registry_token::granted;
use berth_test_support::*;

/// A server whose sessions outlast the days a test moves its clock by.
async fn spawn_app_for_days() -> TestApp {
    spawn_app_with(|s| (s.session_idle_seconds, s.session_absolute_seconds) = (60 * 86_400, 60 * 86_400)).await
}

/// Signs `name` up and puts them on the Team plan.
async fn team_user(app: &TestApp, name: &str) -> Browser {
    let b = app.signed_up(name).await;
    berth::accounts::set_plan(&mut app.conn(), app.user(name).id, Plan::Team).unwrap();
    b
}

/// Posts a form as the browser would after loading a page of this session (every page
/// carries the same CSRF token); the form holds `fields` and the token.
async fn post(b: &Browser, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    b.submit("/settings/account", action, fields).await
}

async fn create_org(b: &Browser, name: &str) -> reqwest::Response {
    b.submit("/orgs", "/orgs", &[("name", name)]).await
}

async fn invite(owner: &Browser, org: &str, who: &str, role: &str, team: &str) -> reqwest::Response {
    post(owner, &format!("/orgs/{org}/invitations"), &[("invitee", who), ("role", role), ("team", team)]).await
}

/// The id of `b`'s open invitation to `org`, as the Accept button on /orgs names it.
async fn invitation(b: &Browser, org: &str) -> Option<String> {
    let (_, html) = b.get_text("/orgs").await;
    Regex::new(&format!(r#"action="/orgs/{org}/invitations/([0-9a-f-]+)/accept""#)).unwrap().captures(&html).map(|c| c[1].to_string())
}

/// `who` (signed in as `b`) joins `org` as `role` (in `team`, unless empty) by invitation.
async fn join(owner: &Browser, org: &str, b: &Browser, who: &str, role: &str, team: &str) {
    let res = invite(owner, org, who, role, team).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "inviting {who}: {}", res.text().await.unwrap());
    let uuid = invitation(b, org).await.expect("the invitation on /orgs");
    let res = post(b, &format!("/orgs/{org}/invitations/{uuid}/accept"), &[]).await;
    assert_eq!(location(&res), format!("/orgs/{org}"));
}

/// The members of `org` and their roles, read by the domain.
fn members(app: &TestApp, org: &str) -> Vec<(String, Role)> {
    let org = app.owner(org);
    orgs::members(&mut app.conn(), org.id, None, None, 1, 2000).unwrap().0.into_iter().map(|m| (m.username, m.role)).collect()
}

fn role_of(app: &TestApp, org: &str, user: &str) -> Option<Role> {
    orgs::role_of(&mut app.conn(), app.owner(org).id, app.user(user).id).unwrap()
}

/// How many organizations exist.
fn org_count(app: &TestApp) -> usize {
    orgs::list_all(&mut app.conn()).unwrap().len()
}

/// alice (Team) owns acme with a private repository acme/app and a team devs; bob is a
/// member of acme (in no team), carol a user outside it.
async fn acme(app: &TestApp) -> (Browser, Browser, Browser) {
    let alice = team_user(app, "alice").await;
    assert_eq!(location(&create_org(&alice, "acme").await), "/orgs/acme");
    assert_eq!(location(&post(&alice, "/orgs/acme/repositories", &[("path", "app"), ("visibility", "private")]).await), "/orgs/acme#repositories");
    assert_eq!(location(&post(&alice, "/orgs/acme/teams", &[("name", "devs"), ("description", "The developers")]).await), "/orgs/acme/teams/devs");
    let bob = app.signed_up("bobby").await;
    join(&alice, "acme", &bob, "bobby", "member", "").await;
    let carol = app.signed_up("carol").await;
    (alice, bob, carol)
}

#[actix_web::test]
async fn only_team_and_business_users_create_organizations_and_a_resent_form_creates_nothing() {
    let app = spawn_app().await;
    for (name, plan) in [("paula", Plan::Personal), ("pete", Plan::Pro)] {
        let b = app.signed_up(name).await;
        berth::accounts::set_plan(&mut app.conn(), app.user(name).id, plan).unwrap();
        let (status, html) = b.get_text("/orgs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Creating an organization needs the Team or Business plan") && html.contains("ask them to change it"), "{html}");
        assert!(!html.contains(r#"action="/orgs""#), "no working form on the {plan} plan");
        // a form made up anyway is refused
        let csrf = b.csrf("/orgs").await;
        let res = b.post_raw("/orgs", &[("csrf", &csrf), ("once", &berth::once::new_key(app.state.now())), ("name", "sneaky")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(res.text().await.unwrap().contains("needs the Team or Business plan"));
    }
    assert_eq!(org_count(&app), 0);

    let alice = team_user(&app, "alice").await;
    let (csrf, once) = alice.form("/orgs").await;
    let fields = [("csrf", csrf.as_str()), ("once", once.as_deref().unwrap()), ("name", "Acme")];
    let res = alice.post_raw("/orgs", &fields).await;
    assert_eq!(location(&res), "/orgs/acme");
    let (_, html) = alice.get_text("/orgs/acme").await;
    assert!(html.contains(r#"<strong id="my-role">Owner</strong>"#) && html.contains("was created, with you as its owner"), "{html}");
    assert_eq!(app.owner("acme").plan(), Plan::Team, "the organization has its creator's plan");
    // the same form again (a reload, a double click) creates nothing
    let res = alice.post_raw("/orgs", &fields).await;
    assert_eq!(location(&res), "/orgs");
    assert_eq!(org_count(&app), 1);
    let (_, html) = alice.get_text("/orgs").await;
    assert!(html.contains("This form was sent already") && html.contains(r#"<a href="/orgs/acme">acme</a>"#), "{html}");

    // names: taken (by an organization or a user), reserved, kept after a deletion, malformed
    berth::owners::reserve(&mut app.conn(), "oldco", app.state.now()).unwrap();
    let error_beside_name = Regex::new(r#"<p class="field-error" id="org-name-error">([^<]*)</p>"#).unwrap();
    for (name, status, says) in [
        ("acme", StatusCode::CONFLICT, "This name is taken."),
        ("paula", StatusCode::CONFLICT, "This name is taken."),
        ("oldco", StatusCode::CONFLICT, "This name is taken."),
        ("admin", StatusCode::UNPROCESSABLE_ENTITY, "This name is reserved."),
        ("a!", StatusCode::UNPROCESSABLE_ENTITY, "Use 4 to 30 characters."),
        ("9lives", StatusCode::UNPROCESSABLE_ENTITY, "Start with a letter."),
    ] {
        let res = create_org(&alice, name).await;
        assert_eq!(res.status(), status, "{name}");
        let html = res.text().await.unwrap();
        let beside = error_beside_name.captures(&html).map(|c| c[1].to_string());
        assert!(beside.as_deref().is_some_and(|e| e.starts_with(says)), "{name}: {beside:?}");
        assert!(html.contains(&format!(r#"value="{name}""#)), "the name stays in the field");
    }
    assert_eq!(org_count(&app), 1);
    // the Business plan creates too, with its own plan
    let bea = app.signed_up("beatrice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("beatrice").id, Plan::Business).unwrap();
    assert_eq!(location(&create_org(&bea, "bigcorp").await), "/orgs/bigcorp");
    assert_eq!(app.owner("bigcorp").plan(), Plan::Business);
}

#[actix_web::test]
async fn an_invited_member_accepts_and_pulls_the_private_repository_their_team_may_read() {
    let app = spawn_app().await;
    let alice = team_user(&app, "alice").await;
    create_org(&alice, "acme").await;
    post(&alice, "/orgs/acme/repositories", &[("path", "app"), ("visibility", "private")]).await;
    post(&alice, "/orgs/acme/repositories", &[("path", "secret"), ("visibility", "private")]).await;
    post(&alice, "/orgs/acme/teams", &[("name", "devs"), ("description", "")]).await;
    let res = post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "read")]).await;
    assert_eq!(location(&res), "/orgs/acme/teams/devs");

    // the page may say that no such user exists
    let res = invite(&alice, "acme", "nobody", "member", "").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="invitee-error">No account has this username."#));
    let res = invite(&alice, "acme", "alice", "member", "").await;
    assert!(res.text().await.unwrap().contains("is a member already"));
    let res = invite(&alice, "acme", "bobby", "member", "nosuchteam").await;
    assert!(res.text().await.unwrap().contains(r#"id="invite-team-error">No team of this organization has that name."#));

    let bob = app.signed_up("bobby").await;
    let res = invite(&alice, "acme", "bobby", "member", "devs").await;
    assert_eq!(location(&res), "/orgs/acme#invitations");
    let res = invite(&alice, "acme", "bobby", "member", "devs").await;
    assert!(res.text().await.unwrap().contains("has an open invitation already"));
    let (_, owners_view) = alice.get_text("/orgs/acme").await;
    assert!(owners_view.contains(r#"<td class="primary">bobby</td>"#), "the owner lists the invitation");

    // before accepting, bob reaches nothing and sees nothing
    let bob_pw = Some(("bobby", PASSWORD));
    assert!(granted(&app, bob_pw, "acme/app", "pull").await.is_empty());
    assert_eq!(bob.get("/orgs/acme").await.status(), StatusCode::NOT_FOUND);
    let (_, list) = bob.get_text("/orgs").await;
    let row = Regex::new(r#"(?s)<td class="primary">acme</td>\s*<td data-label="Role">Member</td>\s*<td data-label="Team">devs</td>\s*<td data-label="Invited by">alice <small"#)
        .unwrap();
    assert!(row.is_match(&list), "the invitation with its role, team and inviter: {list}");
    assert!(list.contains("in 7 days"), "and when it expires");

    let uuid = invitation(&bob, "acme").await.unwrap();
    // accepted under another organization's address it is nobody's
    assert_eq!(post(&bob, &format!("/orgs/other/invitations/{uuid}/accept"), &[]).await.status(), StatusCode::NOT_FOUND);
    // nor can anyone else accept it
    let carol = app.signed_up("carol").await;
    assert_eq!(post(&carol, &format!("/orgs/acme/invitations/{uuid}/accept"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(role_of(&app, "acme", "carol"), None);

    let res = post(&bob, &format!("/orgs/acme/invitations/{uuid}/accept"), &[]).await;
    assert_eq!(location(&res), "/orgs/acme");
    assert_eq!(role_of(&app, "acme", "bobby"), Some(Role::Member));
    let (status, html) = bob.get_text("/orgs/acme").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("You joined acme as member.") && html.contains(r#"<strong id="my-role">Member</strong>"#));
    assert!(html.contains(r#"title="acme/app""#) && !html.contains(r#"title="acme/secret""#), "a member sees what their teams may pull: {html}");
    assert!(!html.contains(r#"action="/orgs/acme/invitations""#) && !html.contains("/orgs/acme/activity"), "and no owner's forms");
    assert!(invitation(&bob, "acme").await.is_none(), "the invitation is spent");

    assert_eq!(granted(&app, bob_pw, "acme/app", "pull,push").await, ["pull"]);
    assert!(granted(&app, bob_pw, "acme/secret", "pull").await.is_empty());
    let (_, repos) = bob.get_text("/repositories").await;
    assert!(repos.contains("Shared with you") && repos.contains(r#"title="acme/app""#) && repos.contains("Read-only (through a team)"), "{repos}");
    assert!(!repos.contains("acme/secret"));
    // the repository's page says which teams have what
    let (status, page) = bob.get_text("/repository/acme/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"<a href="/orgs/acme/teams/devs">devs</a></td><td data-label="Permission">Read-only</td>"#), "{page}");
    assert_eq!(bob.get("/repository/acme/secret").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(carol.get("/repository/acme/app").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(carol.get("/orgs/acme/teams/devs").await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_declined_revoked_or_expired_invitation_cannot_be_accepted_until_it_is_resent() {
    let app = spawn_app_for_days().await;
    let alice = team_user(&app, "alice").await;
    create_org(&alice, "acme").await;
    let (bob, carol, dave) = (app.signed_up("bobby").await, app.signed_up("carol").await, app.signed_up("david").await);
    for who in ["bobby", "carol", "david"] {
        invite(&alice, "acme", who, "editor", "").await;
    }

    // declined: gone from both lists
    let uuid = invitation(&bob, "acme").await.unwrap();
    assert_eq!(location(&post(&bob, &format!("/orgs/acme/invitations/{uuid}/decline"), &[]).await), "/orgs");
    assert!(invitation(&bob, "acme").await.is_none());
    assert_eq!(post(&bob, &format!("/orgs/acme/invitations/{uuid}/accept"), &[]).await.status(), StatusCode::NOT_FOUND);
    let (_, html) = alice.get_text("/orgs/acme").await;
    assert!(!html.contains(r#"<td class="primary">bobby</td>"#));
    let declined = berth::orgs::events::list(&mut app.conn(), app.owner("acme").id, &berth::orgs::events::Filter::default(), 1, 10).unwrap().0;
    assert_eq!(
        (declined[0].action.as_str(), declined[0].name.as_str(), declined[0].actor.as_str()),
        ("member.invite.decline", "bobby", "bobby"),
        "the owners see it in the audit log"
    );

    // revoked by the owner
    let dave_uuid = invitation(&dave, "acme").await.unwrap();
    assert_eq!(location(&post(&alice, &format!("/orgs/acme/invitations/{dave_uuid}/revoke"), &[]).await), "/orgs/acme#invitations");
    assert!(invitation(&dave, "acme").await.is_none());
    assert_eq!(post(&dave, &format!("/orgs/acme/invitations/{dave_uuid}/accept"), &[]).await.status(), StatusCode::NOT_FOUND);

    // expired after seven days: no longer offered, refused, shown expired to the owner
    let carol_uuid = invitation(&carol, "acme").await.unwrap();
    app.clock.advance(7 * 86_400 + 1);
    assert!(invitation(&carol, "acme").await.is_none(), "an expired invitation is not offered");
    let res = post(&carol, &format!("/orgs/acme/invitations/{carol_uuid}/accept"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(orgs::invitations::EXPIRED));
    assert_eq!(role_of(&app, "acme", "carol"), None);
    let (_, html) = alice.get_text("/orgs/acme").await;
    assert!(html.contains(r#"<span class="badge badge-amber">Expired</span>"#), "{html}");
    // resent: open for seven more days, and accepted
    assert_eq!(location(&post(&alice, &format!("/orgs/acme/invitations/{carol_uuid}/resend"), &[]).await), "/orgs/acme#invitations");
    assert_eq!(invitation(&carol, "acme").await.as_deref(), Some(carol_uuid.as_str()));
    app.clock.advance(6 * 86_400);
    assert_eq!(location(&post(&carol, &format!("/orgs/acme/invitations/{carol_uuid}/accept"), &[]).await), "/orgs/acme");
    assert_eq!(role_of(&app, "acme", "carol"), Some(Role::Editor));

    // the invitee's answers are not the owner's to give, nor the owner's actions the invitee's
    invite(&alice, "acme", "david", "member", "").await;
    let uuid = invitation(&dave, "acme").await.unwrap();
    assert_eq!(post(&alice, &format!("/orgs/acme/invitations/{uuid}/accept"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post(&dave, &format!("/orgs/acme/invitations/{uuid}/revoke"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post(&carol, &format!("/orgs/acme/invitations/{uuid}/revoke"), &[]).await.status(), StatusCode::FORBIDDEN, "an editor is no owner");
    assert_eq!(post(&carol, &format!("/orgs/acme/invitations/{uuid}/resend"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert!(invitation(&dave, "acme").await.is_some(), "still open");
}

#[actix_web::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed_and_cannot_leave() {
    let app = spawn_app().await;
    let (alice, bob, _) = acme(&app).await;
    for (action, fields) in [("/orgs/acme/members/alice/role", vec![("role", "editor")]), ("/orgs/acme/members/alice/remove", vec![]), ("/orgs/acme/leave", vec![])] {
        let res = post(&alice, action, &fields).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{action}");
        assert!(res.text().await.unwrap().contains(orgs::LAST_OWNER), "{action}");
    }
    assert_eq!(role_of(&app, "acme", "alice"), Some(Role::Owner));
    // a role from outside the list is refused
    assert_eq!(post(&alice, "/orgs/acme/members/bobby/role", &[("role", "god")]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(&alice, "/orgs/acme/members/nobody/role", &[("role", "editor")]).await.status(), StatusCode::NOT_FOUND);

    // with a second owner the first may step down, and then leave
    assert_eq!(location(&post(&alice, "/orgs/acme/members/bobby/role", &[("role", "owner")]).await), "/orgs/acme#members");
    let (_, html) = alice.get_text("/orgs/acme").await;
    assert!(html.contains("role is Owner."));
    assert_eq!(location(&post(&alice, "/orgs/acme/members/alice/role", &[("role", "editor")]).await), "/orgs/acme#members");
    assert_eq!(role_of(&app, "acme", "alice"), Some(Role::Editor));
    // an editor changes no roles
    assert_eq!(post(&alice, "/orgs/acme/members/bobby/role", &[("role", "member")]).await.status(), StatusCode::FORBIDDEN);
    let (status, confirm) = alice.get_text("/orgs/acme/leave").await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Leave acme?"));
    assert_eq!(location(&post(&alice, "/orgs/acme/leave", &[]).await), "/orgs");
    assert_eq!(role_of(&app, "acme", "alice"), None);
    assert_eq!(alice.get("/orgs/acme").await.status(), StatusCode::NOT_FOUND);
    // bob, the last owner now, is held to the same rule
    let res = post(&bob, "/orgs/acme/leave", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(members(&app, "acme"), [("bobby".to_string(), Role::Owner)]);
}

#[actix_web::test]
async fn an_owner_removes_a_member_after_a_confirmation_and_the_member_loses_the_teams_grants() {
    let app = spawn_app().await;
    let (alice, bob, _) = acme(&app).await;
    post(&alice, "/orgs/acme/teams/devs/members", &[("member", "bobby")]).await;
    post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "app"), ("permission", "write")]).await;
    assert_eq!(granted(&app, Some(("bobby", PASSWORD)), "acme/app", "pull,push").await, ["pull", "push"]);
    let (status, confirm) = alice.get_text("/orgs/acme/members/bobby/remove").await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Remove bobby from acme?") && confirm.contains(r#"action="/orgs/acme/members/bobby/remove""#));
    assert_eq!(role_of(&app, "acme", "bobby"), Some(Role::Member), "the question changes nothing");
    assert_eq!(location(&post(&alice, "/orgs/acme/members/bobby/remove", &[]).await), "/orgs/acme#members");
    assert_eq!(role_of(&app, "acme", "bobby"), None);
    assert!(granted(&app, Some(("bobby", PASSWORD)), "acme/app", "pull,push").await.is_empty());
    assert_eq!(bob.get("/orgs/acme").await.status(), StatusCode::NOT_FOUND);
    let (_, team) = alice.get_text("/orgs/acme/teams/devs").await;
    assert!(team.contains("Nobody is in this team yet."), "and from its teams");
}

#[actix_web::test]
async fn members_are_refused_owners_and_editors_actions_and_outsiders_find_nothing() {
    let app = spawn_app().await;
    let (alice, bob, carol) = acme(&app).await;
    let before = orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 1000).unwrap().1;
    let owners_posts: [(&str, Vec<(&str, &str)>); 9] = [
        ("/orgs/acme/invitations", vec![("invitee", "carol"), ("role", "member"), ("team", "")]),
        ("/orgs/acme/members/alice/role", vec![("role", "member")]),
        ("/orgs/acme/members/alice/remove", vec![]),
        ("/orgs/acme/settings", vec![]),
        ("/orgs/acme/teams", vec![("name", "mine"), ("description", "")]),
        ("/orgs/acme/teams/devs/edit", vec![("name", "renamed"), ("description", "")]),
        ("/orgs/acme/teams/devs/delete", vec![]),
        ("/orgs/acme/teams/devs/members", vec![("member", "bobby")]),
        ("/orgs/acme/teams/devs/members/remove", vec![("member", "alice")]),
    ];
    let editors_posts: [(&str, Vec<(&str, &str)>); 5] = [
        ("/orgs/acme/repositories", vec![("path", "mine"), ("visibility", "private")]),
        ("/orgs/acme/repositories/visibility", vec![("name", "acme/app"), ("public", "true"), ("confirm", "yes")]),
        ("/orgs/acme/repositories/delete", vec![("name", "acme/app")]),
        ("/orgs/acme/teams/devs/permissions", vec![("repository", "acme/app"), ("permission", "admin")]),
        ("/orgs/acme/teams/devs/permissions/revoke", vec![("repository", "acme/app")]),
    ];
    for (action, fields) in owners_posts.iter().chain(editors_posts.iter()) {
        let res = post(&bob, action, fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "a member posting {action}");
        let html = res.text().await.unwrap();
        assert!(html.contains("Only an owner"), "{action}: {html}");
        assert_eq!(post(&carol, action, fields).await.status(), StatusCode::NOT_FOUND, "an outsider posting {action}");
    }
    for page in ["/orgs/acme/activity", "/orgs/acme/members/alice/remove", "/orgs/acme/teams/devs/delete", "/orgs/acme/repositories/delete?name=acme%2Fapp"] {
        assert_eq!(bob.get(page).await.status(), StatusCode::FORBIDDEN, "{page}");
        assert_eq!(carol.get(page).await.status(), StatusCode::NOT_FOUND, "{page}");
    }
    for page in ["/orgs/acme", "/orgs/acme/teams/devs", "/orgs/nosuch", "/orgs/alice"] {
        assert_eq!(carol.get(page).await.status(), StatusCode::NOT_FOUND, "{page}");
    }
    assert_eq!(bob.get("/orgs/acme/teams/devs").await.status(), StatusCode::OK, "members may look at teams");
    // nothing changed
    let after = orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 1000).unwrap().1;
    assert_eq!(before, after, "no entry in the audit log");
    assert_eq!(members(&app, "acme"), [("alice".to_string(), Role::Owner), ("bobby".to_string(), Role::Member)]);
    assert!(berth::repositories::find(&mut app.conn(), app.owner("acme").id, "acme/app").unwrap().is_some_and(|r| !r.is_public));
    assert!(orgs::teams::find(&mut app.conn(), app.owner("acme").id, "devs").unwrap().is_some());

    // an editor manages repositories and team permissions, and nothing of an owner's
    alice.get_text("/orgs/acme").await;
    post(&alice, "/orgs/acme/members/bobby/role", &[("role", "editor")]).await;
    assert_eq!(location(&post(&bob, "/orgs/acme/repositories", &[("path", "tools"), ("visibility", "private")]).await), "/orgs/acme#repositories");
    assert_eq!(location(&post(&bob, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/tools"), ("permission", "admin")]).await), "/orgs/acme/teams/devs");
    for (action, fields) in &owners_posts {
        assert_eq!(post(&bob, action, fields).await.status(), StatusCode::FORBIDDEN, "an editor posting {action}");
    }
}

#[actix_web::test]
async fn form_posts_without_this_sessions_csrf_token_change_nothing() {
    let app = spawn_app().await;
    let (alice, bob, carol) = acme(&app).await;
    invite(&alice, "acme", "carol", "member", "").await;
    let uuid = invitation(&carol, "acme").await.unwrap();
    let foreign = bob.csrf("/settings/account").await;
    let before = orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 1000).unwrap().1;
    let paths = [
        "/orgs".to_string(),
        "/orgs/acme/leave".into(),
        "/orgs/acme/settings".into(),
        "/orgs/acme/members/bobby/role".into(),
        "/orgs/acme/members/bobby/remove".into(),
        "/orgs/acme/invitations".into(),
        format!("/orgs/acme/invitations/{uuid}/accept"),
        format!("/orgs/acme/invitations/{uuid}/decline"),
        format!("/orgs/acme/invitations/{uuid}/resend"),
        format!("/orgs/acme/invitations/{uuid}/revoke"),
        "/orgs/acme/repositories".into(),
        "/orgs/acme/repositories/visibility".into(),
        "/orgs/acme/repositories/delete".into(),
        "/orgs/acme/teams".into(),
        "/orgs/acme/teams/devs/edit".into(),
        "/orgs/acme/teams/devs/delete".into(),
        "/orgs/acme/teams/devs/members".into(),
        "/orgs/acme/teams/devs/members/remove".into(),
        "/orgs/acme/teams/devs/permissions".into(),
        "/orgs/acme/teams/devs/permissions/revoke".into(),
        "/repositories/collaborators".into(),
        "/repositories/collaborators/remove".into(),
    ];
    let fields = [("name", "acme/app"), ("role", "owner"), ("member", "bobby"), ("repository", "acme/app"), ("permission", "admin")];
    for path in &paths {
        let res = alice.post_raw(path, &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "no token on {path}");
        let mut with_foreign = vec![("csrf", foreign.as_str())];
        with_foreign.extend_from_slice(&fields);
        assert_eq!(alice.post_raw(path, &with_foreign).await.status(), StatusCode::FORBIDDEN, "another session's token on {path}");
        // a form from another site is refused by its Origin before anything is read
        let csrf = alice.csrf("/settings/account").await;
        let res = alice
            .client
            .post(alice.url(path))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&name=acme%2Fapp"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "another origin on {path}");
    }
    let after = orgs::events::list(&mut app.conn(), app.owner("acme").id, &Default::default(), 1, 1000).unwrap().1;
    assert_eq!(before, after, "nothing was recorded");
    assert_eq!(members(&app, "acme"), [("alice".to_string(), Role::Owner), ("bobby".to_string(), Role::Member)]);
    assert_eq!(org_count(&app), 1);
    assert!(invitation(&carol, "acme").await.is_some());
}

#[actix_web::test]
async fn team_pages_create_teams_add_members_and_grant_repository_permissions() {
    let app = spawn_app().await;
    let (alice, bob, _) = acme(&app).await;
    // bad names beside the field, on the organization's page
    for (name, says) in [("x", "Use 2 to 30 characters."), ("-ops", "Start with a letter or digit."), ("devs", "A team of this name exists already.")] {
        let res = post(&alice, "/orgs/acme/teams", &[("name", name), ("description", "")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(res.text().await.unwrap().contains(&format!(r#"id="team-name-error">{says}"#)), "{name}");
    }
    let res = post(&alice, "/orgs/acme/teams", &[("name", "ops"), ("description", "hidden\u{202e}text")]).await;
    assert!(res.text().await.unwrap().contains(r#"id="team-description-error">"#));
    assert_eq!(orgs::teams::list(&mut app.conn(), app.owner("acme").id).unwrap().len(), 1);

    // members: only the organization's
    let res = post(&alice, "/orgs/acme/teams/devs/members", &[("member", "carol")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="member-error">Only members of the organization can join its teams"#));
    assert_eq!(location(&post(&alice, "/orgs/acme/teams/devs/members", &[("member", "bobby")]).await), "/orgs/acme/teams/devs");
    let (_, page) = alice.get_text("/orgs/acme/teams/devs").await;
    assert!(page.contains(r#"<td class="primary">bobby</td>"#) && page.contains("The developers"), "{page}");
    let (_, overview) = alice.get_text("/orgs/acme").await;
    assert!(overview.contains(r#"<td data-label="Teams"><a href="/orgs/acme/teams/devs">devs</a></td>"#), "the member list names the teams");

    // permissions: granted, changed, revoked; what bob may pull follows
    let bob_pw = Some(("bobby", PASSWORD));
    let res = post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/nope"), ("permission", "read")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("The organization has no repository of this name."));
    let res = post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "owner")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(granted(&app, bob_pw, "acme/app", "pull").await.is_empty());
    post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "write")]).await;
    let (_, page) = bob.get_text("/orgs/acme/teams/devs").await;
    assert!(page.contains(r#"<td data-label="Permission">Read &#38; Write</td>"#), "a member sees: {page}");
    assert!(!page.contains(r#"action="/orgs/acme/teams/devs/permissions""#), "and changes nothing");
    assert_eq!(granted(&app, bob_pw, "acme/app", "pull,push,delete").await, ["pull", "push"]);
    post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "admin")]).await;
    assert_eq!(granted(&app, bob_pw, "acme/app", "pull,push,delete").await, ["pull", "push", "delete"]);
    let (_, page) = alice.get_text("/repository/acme/app").await;
    assert!(page.contains(r#"<td data-label="Permission">Admin</td>"#));
    assert_eq!(location(&post(&alice, "/orgs/acme/teams/devs/permissions/revoke", &[("repository", "acme/app")]).await), "/orgs/acme/teams/devs");
    assert!(granted(&app, bob_pw, "acme/app", "pull").await.is_empty());
    assert_eq!(post(&alice, "/orgs/acme/teams/devs/permissions/revoke", &[("repository", "acme/app")]).await.status(), StatusCode::NOT_FOUND);

    // rename, then delete behind a confirmation
    let res = post(&alice, "/orgs/acme/teams/devs/edit", &[("name", "Platform"), ("description", "Builds things")]).await;
    assert_eq!(location(&res), "/orgs/acme/teams/platform");
    assert_eq!(alice.get("/orgs/acme/teams/devs").await.status(), StatusCode::NOT_FOUND);
    let (status, confirm) = alice.get_text("/orgs/acme/teams/platform/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Delete the team platform?"));
    assert_eq!(location(&post(&alice, "/orgs/acme/teams/platform/delete", &[]).await), "/orgs/acme#teams");
    assert!(orgs::teams::list(&mut app.conn(), app.owner("acme").id).unwrap().is_empty());
    assert_eq!(role_of(&app, "acme", "bobby"), Some(Role::Member), "its members stay in the organization");
}

#[actix_web::test]
async fn owners_and_editors_manage_the_organizations_repositories_and_making_one_public_asks_first() {
    let app = spawn_app().await;
    let (alice, bob, _) = acme(&app).await;
    post(&alice, "/orgs/acme/members/bobby/role", &[("role", "editor")]).await;
    let res = post(&bob, "/orgs/acme/repositories", &[("path", "Bad Name"), ("visibility", "private")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"id="path-error">Use lowercase letters"#));
    let res = post(&bob, "/orgs/acme/repositories", &[("path", "app"), ("visibility", "private")]).await;
    assert!(res.text().await.unwrap().contains("This repository exists already."));
    // public: a question first, which changes nothing
    let res = post(&bob, "/orgs/acme/repositories/visibility", &[("name", "acme/app"), ("public", "true")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Anyone, signed in or not, will be able to pull") && html.contains(r#"action="/orgs/acme/repositories/visibility""#));
    assert!(granted(&app, None, "acme/app", "pull").await.is_empty());
    let res = post(&bob, "/orgs/acme/repositories/visibility", &[("name", "acme/app"), ("public", "true"), ("confirm", "yes")]).await;
    assert_eq!(location(&res), "/orgs/acme#repositories");
    assert_eq!(granted(&app, None, "acme/app", "pull").await, ["pull"]);
    post(&bob, "/orgs/acme/repositories/visibility", &[("name", "acme/app"), ("public", "false")]).await;
    assert!(granted(&app, None, "acme/app", "pull").await.is_empty());
    assert_eq!(post(&bob, "/orgs/acme/repositories/visibility", &[("name", "acme/nope"), ("public", "false")]).await.status(), StatusCode::NOT_FOUND);
    // delete: a confirmation, then gone
    let (status, confirm) = bob.get_text("/orgs/acme/repositories/delete?name=acme%2Fapp").await;
    assert_eq!(status, StatusCode::OK);
    // no registry answers here: only forgetting is offered, labelled
    assert!(confirm.contains(r#"action="/orgs/acme/repositories/delete""#) && confirm.contains("Only forget it in Berth"), "{confirm}");
    assert_eq!(post(&bob, "/orgs/acme/repositories/delete", &[("name", "acme/app")]).await.status(), StatusCode::BAD_GATEWAY);
    assert!(berth::repositories::find(&mut app.conn(), app.owner("acme").id, "acme/app").unwrap().is_some(), "a refused delete forgets nothing");
    assert_eq!(location(&post(&bob, "/orgs/acme/repositories/delete", &[("name", "acme/app"), ("forget_only", "yes")]).await), "/orgs/acme#repositories");
    assert!(berth::repositories::find(&mut app.conn(), app.owner("acme").id, "acme/app").unwrap().is_none());
    assert_eq!(post(&bob, "/orgs/acme/repositories/delete", &[("name", "acme/app")]).await.status(), StatusCode::NOT_FOUND);
    let (_, log) = alice.get_text("/orgs/acme/activity?action=repo.delete").await;
    assert_eq!(log.matches("<code>repo.delete</code>").count(), 1, "{log}");
    // the log names who did each
    let (_, log) = alice.get_text("/orgs/acme/activity?action=repo.change_privacy").await;
    assert_eq!(log.matches("<code>repo.change_privacy</code>").count(), 2, "{log}");
    assert!(log.contains(r#"<td data-label="Actor">bobby</td>"#));
}

#[actix_web::test]
async fn the_two_factor_requirement_is_a_business_setting_that_holds_members_without_it_back() {
    let app = spawn_app().await;
    let (alice, bob, _) = acme(&app).await;
    post(&alice, "/orgs/acme/teams/devs/members", &[("member", "bobby")]).await;
    post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "read")]).await;
    let (_, html) = alice.get_text("/orgs/acme").await;
    assert!(html.contains("is a Business plan setting") && !html.contains(r#"action="/orgs/acme/settings""#));
    let res = post(&alice, "/orgs/acme/settings", &[("require_two_factor", "on")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!app.owner("acme").require_two_factor);

    orgs::set_plan(&mut app.conn(), &app.owner("acme"), Plan::Business, &Actor::cli(), app.state.now()).unwrap();
    assert_eq!(location(&post(&alice, "/orgs/acme/settings", &[("require_two_factor", "on")]).await), "/orgs/acme#settings");
    assert!(app.owner("acme").require_two_factor);
    let (_, html) = bob.get_text("/orgs/acme").await;
    assert!(html.contains(r#"id="two-factor-missing""#) && html.contains("requires two-factor authentication"), "{html}");
    assert!(!html.contains(r#"title="acme/app""#), "a member without 2FA sees none of its private repositories");
    let (_, mine) = bob.get_text("/repositories").await;
    assert!(!mine.contains(r#"title="acme/app""#) && mine.contains("The organization acme requires two-factor authentication"), "nor on /repositories, and is told why");
    assert_eq!(post(&alice, "/orgs/acme/settings", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(!app.owner("acme").require_two_factor);
    let (_, mine) = bob.get_text("/repositories").await;
    assert!(mine.contains(r#"title="acme/app""#) && !mine.contains("requires two-factor authentication"), "back once the requirement is off");
}

#[actix_web::test]
async fn a_user_shares_a_personal_repository_with_collaborators() {
    let app = spawn_app().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bobby").await;
    post(&alice, "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    let (status, page) = alice.get_text("/repository/alice/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Collaborators") && page.contains(r#"id="no-collaborators""#), "{page}");
    let (_, list) = alice.get_text("/repositories").await;
    assert!(list.contains(r#"<a href="/repository/alice/app">"#), "the list links to the repository's page");

    for (who, permission, says) in
        [("nobody", "read", "No account has this username."), ("alice", "read", "This is your own repository."), ("bobby", "admin", "Choose read-only or read &#38; write.")]
    {
        let res = post(&alice, "/repositories/collaborators", &[("name", "alice/app"), ("username", who), ("permission", permission)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{who}");
        assert!(res.text().await.unwrap().contains(says), "{who}");
    }
    let bob_pw = Some(("bobby", PASSWORD));
    assert!(granted(&app, bob_pw, "alice/app", "pull").await.is_empty());
    assert_eq!(
        location(&post(&alice, "/repositories/collaborators", &[("name", "alice/app"), ("username", "Bobby"), ("permission", "read")]).await),
        "/repository/alice/app#collaborators"
    );
    assert_eq!(granted(&app, bob_pw, "alice/app", "pull,push").await, ["pull"]);
    post(&alice, "/repositories/collaborators", &[("name", "alice/app"), ("username", "bobby"), ("permission", "write")]).await;
    assert_eq!(granted(&app, bob_pw, "alice/app", "pull,push,delete").await, ["pull", "push"]);
    let (_, page) = alice.get_text("/repository/alice/app").await;
    assert!(page.contains(r#"<td class="primary">bobby</td>"#) && page.contains("Read &#38; Write"));
    let (_, shared) = bob.get_text("/repositories").await;
    assert!(
        shared.contains("Shared with you") && shared.contains("Read &#38; Write (as a collaborator)") && shared.contains(r#"<td data-label="Namespace">alice</td>"#),
        "{shared}"
    );
    let (status, seen) = bob.get_text("/repository/alice/app").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!seen.contains("Add a collaborator"), "a collaborator shares it with nobody else");

    // nobody but alice changes who shares it
    assert_eq!(post(&bob, "/repositories/collaborators", &[("name", "alice/app"), ("username", "carol"), ("permission", "read")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post(&bob, "/repositories/collaborators/remove", &[("name", "alice/app"), ("username", "bobby")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(location(&post(&alice, "/repositories/collaborators/remove", &[("name", "alice/app"), ("username", "bobby")]).await), "/repository/alice/app#collaborators");
    assert!(granted(&app, bob_pw, "alice/app", "pull").await.is_empty());
    assert_eq!(bob.get("/repository/alice/app").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post(&alice, "/repositories/collaborators/remove", &[("name", "alice/app"), ("username", "bobby")]).await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_audit_log_is_for_owners_and_filters_by_action_actor_and_day() {
    let app = spawn_app_for_days().await;
    let (alice, _bob, carol) = acme(&app).await;
    app.clock.advance(2 * 86_400);
    invite(&alice, "acme", "carol", "member", "devs").await;
    let (status, log) = alice.get_text("/orgs/acme/activity").await;
    assert_eq!(status, StatusCode::OK);
    for action in ["org.create", "repo.create", "team.create", "member.invite", "member.join"] {
        assert!(log.contains(&format!("<code>{action}</code>")), "{action} in {log}");
    }
    assert!(log.contains("created the organization") && log.contains("role: member · team: devs"), "descriptions and details: {log}");
    assert!(log.contains(r#"<td data-label="IP address">127.0.0.1</td>"#), "{log}");
    assert!(log.contains(r#"<td data-label="Object"><bdi>carol</bdi></td>"#));

    let (_, only) = alice.get_text("/orgs/acme/activity?action=member.invite").await;
    assert_eq!(only.matches("<code>member.invite</code>").count(), 2, "{only}");
    assert!(!only.contains("<code>team.create</code>"));
    assert!(only.contains(r#"<option value="member.invite" selected>"#), "the filter stays chosen");
    let (_, about_carol) = alice.get_text("/orgs/acme/activity?object=carol").await;
    assert!(about_carol.contains("1 entry.") && about_carol.contains(r#"value="carol""#), "{about_carol}");
    let (_, by_bob) = alice.get_text("/orgs/acme/activity?actor=bobby").await;
    assert!(by_bob.contains("<code>member.join</code>") && !by_bob.contains("<code>org.create</code>"), "{by_bob}");
    let today = chrono::DateTime::from_timestamp(app.state.now(), 0).unwrap().format("%Y-%m-%d").to_string();
    let (_, recent) = alice.get_text(&format!("/orgs/acme/activity?from={today}")).await;
    assert!(recent.contains("1 entry.") && recent.contains("<code>member.invite</code>"), "{recent}");
    let (_, older) = alice.get_text(&format!("/orgs/acme/activity?to={}", chrono::DateTime::from_timestamp(app.state.now() - 86_400, 0).unwrap().format("%Y-%m-%d"))).await;
    assert!(older.contains("<code>org.create</code>") && older.matches("<code>member.invite</code>").count() == 1, "{older}");
    for bad in ["action=nope", "from=yesterday", "to=2027-13-01", "page=0"] {
        assert_eq!(alice.get(&format!("/orgs/acme/activity?{bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(carol.get("/orgs/acme/activity").await.status(), StatusCode::NOT_FOUND);
}

/// Fills the organization `org` (made by alice): `members` more members named
/// `{prefix}NNNN`, `teams` teams each holding every 25th member (a member in two teams)
/// and a read permission on 40 of `repositories` repositories.
fn fill_org(app: &TestApp, org: &str, prefix: &str, members: usize, teams: usize, repositories: usize) {
    let (org, now, cli) = (app.owner(org), app.state.now(), Actor::cli());
    berth::db::write_tx(&mut app.conn(), |c| {
        let mut names = Vec::with_capacity(members);
        for i in 0..members {
            let name = format!("{prefix}{i:04}");
            let email = format!("{name}@example.com");
            let new = NewAccount {
                username: name.clone(),
                email: email.clone(),
                email_normalized: email,
                password_hash: "none: nobody signs in".into(),
                plan: Plan::Personal,
                operator: false,
            };
            let user = berth::accounts::create(c, new, now)?;
            orgs::add_member(c, &org, &user, Role::Member, None, &cli, now)?;
            names.push(name);
        }
        for r in 0..repositories {
            berth::repositories::create(c, &org, &format!("repo-{r}"), false, now)?;
        }
        for t in 0..teams {
            let team = orgs::teams::create(c, &org, &format!("team-{t}"), "", &cli, now)?;
            for name in names.iter().skip(t % 25).step_by(25).take(2 * members / teams.max(1)) {
                orgs::teams::add_member(c, &org, &team, name, &cli, now)?;
            }
            for r in (0..repositories).skip(t).step_by(teams).take(40) {
                orgs::teams::set_permission(c, &org, &team, &format!("repo-{r}"), berth::owners::Permission::Read, &cli, now)?;
            }
        }
        Ok::<(), berth::Error>(())
    })
    .unwrap();
}

/// The counts the overview shows, as the page shows them: members, repositories, and the
/// teams of bobby's row (the names shown, then "and N more").
async fn overview_counts(owner: &Browser) -> (String, String, String) {
    let (status, html) = owner.get_text("/orgs/acme").await;
    assert_eq!(status, StatusCode::OK);
    let total = |section: &str| Regex::new(&format!(r#"{section} <span class="muted">\((\d+)\)</span>"#)).unwrap().captures(&html).unwrap()[1].to_string();
    let row = Regex::new(r#"(?s)bobby<small.*?<td data-label="Teams">(.*?)</td>"#).unwrap().captures(&html).unwrap()[1].to_string();
    let teams = Regex::new(r#"<a href="[^"]*">([^<]*)</a>"#).unwrap().captures_iter(&row).map(|c| c[1].to_string()).collect::<Vec<_>>().join(",");
    let more = Regex::new(r"and (\d+) more").unwrap().captures(&row).map(|c| format!(" +{}", &c[1])).unwrap_or_default();
    (total("Members"), total("Repositories"), teams + &more)
}

#[actix_web::test]
async fn the_overviews_counts_follow_members_teams_repositories_and_deleted_accounts() {
    let app = spawn_app().await;
    let alice = team_user(&app, "alice").await;
    create_org(&alice, "acme").await;
    let now = app.state.now();
    for name in ["bobby", "carol", "dave"] {
        app.signed_up(name).await;
    }
    let cli = Actor::cli();
    let c = &mut app.conn();
    let acme = berth::owners::find_by_name(c, "acme").unwrap().unwrap();
    let mut teams = Vec::new();
    for t in ["t1", "t2", "t3", "t4", "t5"] {
        teams.push(orgs::teams::create(c, &acme, t, "", &cli, now).unwrap());
    }
    for name in ["bobby", "carol", "dave"] {
        orgs::add_member(c, &acme, &app.user(name), Role::Member, Some("t1"), &cli, now).unwrap();
    }
    for team in &teams[1..] {
        orgs::teams::add_member(c, &acme, team, "bobby", &cli, now).unwrap();
    }
    for r in ["one", "two", "three"] {
        berth::repositories::create(c, &acme, r, false, now).unwrap();
    }
    let count = |m: &str, r: &str, t: &str| (m.to_string(), r.to_string(), t.to_string());
    assert_eq!(overview_counts(&alice).await, count("4", "3", "t1,t2,t3 +2"));

    orgs::teams::delete(c, &acme, &teams[4], &cli, now).unwrap();
    assert_eq!(overview_counts(&alice).await, count("4", "3", "t1,t2,t3 +1"), "a deleted team");
    orgs::teams::remove_member(c, &acme, &teams[0], "bobby", &cli, now).unwrap();
    assert_eq!(overview_counts(&alice).await, count("4", "3", "t2,t3,t4"), "removed from a team");
    assert!(berth::repositories::delete(c, acme.id, "acme/two").unwrap());
    assert_eq!(overview_counts(&alice).await, count("4", "2", "t2,t3,t4"), "a deleted repository");
    orgs::remove_member(c, &acme, "carol", &cli, now).unwrap();
    assert_eq!(overview_counts(&alice).await, count("3", "2", "t2,t3,t4"), "a removed member");
    berth::accounts::delete(c, app.user("dave").id, now).unwrap();
    assert_eq!(overview_counts(&alice).await, count("2", "2", "t2,t3,t4"), "a deleted account");
    // bobby leaves and comes back: the membership starts with no teams
    orgs::remove_member(c, &acme, "bobby", &cli, now).unwrap();
    orgs::add_member(c, &acme, &app.user("bobby"), Role::Member, None, &cli, now).unwrap();
    assert_eq!(overview_counts(&alice).await, count("2", "2", ""), "no team");
    let (_, found) = alice.get_text("/orgs/acme?q=bob").await;
    assert!(found.contains(r#"<span class="muted">(1)</span>"#) && found.contains("bobby"), "a search counts what it finds");
}

#[actix_web::test]
async fn an_organization_of_1000_members_is_paged_searched_and_its_grant_form_asks_for_a_typed_name() {
    let app = spawn_app().await;
    let alice = team_user(&app, "alice").await;
    create_org(&alice, "smallco").await;
    create_org(&alice, "bigco").await;
    fill_org(&app, "smallco", "crew", 4, 2, 10);
    fill_org(&app, "bigco", "member", 999, 50, 2000);
    assert_eq!(members(&app, "bigco").len(), 1000);
    // a new client: the setup may have idled the old one's connection past the server's
    // keep-alive, and a request sent as the server closes it fails
    let alice = app.browser();
    alice.login("alice", PASSWORD).await;

    let per_page = berth::web::orgs::MEMBERS_PER_PAGE as usize;
    let (status, html) = alice.get_text("/orgs/bigco").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Members <span class=\"muted\">(1000)</span>") && html.contains(&format!("Page 1 of {}", 1000 / per_page)), "paged");
    assert_eq!(html.matches(r#"<td data-label="Joined">"#).count(), per_page);
    assert!(html.contains(r#"<td data-label="Teams"><a href="/orgs/bigco/teams/team-0">team-0</a>, <a href="/orgs/bigco/teams/team-25">team-25</a></td>"#), "each member's teams");
    let last = 1000 / per_page;
    let (_, end) = alice.get_text(&format!("/orgs/bigco?page={last}")).await;
    assert!(end.contains("member0998") && !end.contains("member0000"));
    assert!(end.contains(&format!(r#"href="/orgs/bigco?page={}">Previous</a>"#, last - 1)));
    let (_, found) = alice.get_text("/orgs/bigco?q=member099").await;
    assert_eq!(found.matches(r#"<td data-label="Joined">"#).count(), 9, "search");
    // 2,000 repositories are too many for the grant form's list: the name is typed
    let (_, team) = alice.get_text("/orgs/bigco/teams/team-0").await;
    assert!(team.contains(r#"<input id="grant-repository" name="repository" type="text""#) && !team.contains("<option value=\"bigco/repo-1\""), "{}", team.len());
    let res = post(&alice, "/orgs/bigco/teams/team-0/permissions", &[("repository", "bigco/repo-1999"), ("permission", "write")]).await;
    assert_eq!(location(&res), "/orgs/bigco/teams/team-0");
    let (_, small_team) = alice.get_text("/orgs/smallco/teams/team-0").await;
    assert!(small_team.contains(r#"<option value="smallco/repo-9">"#), "a few are listed");

    // 50 teams: two pages of them, each list's pager keeping the others' pages
    let teams_per_page = berth::web::orgs::TEAMS_PER_PAGE as usize;
    let team_rows =
        |html: &str| Regex::new(r#"<td class="primary"><a href="/orgs/bigco/teams/(team-\d+)">"#).unwrap().captures_iter(html).map(|c| c[1].to_string()).collect::<Vec<_>>();
    assert_eq!(team_rows(&html).len(), teams_per_page);
    assert!(html.contains(r#"<nav class="actions" aria-label="Pages of teams">"#) && html.contains(r#"href="/orgs/bigco?teams=2">Next</a>"#));
    let (status, second) = alice.get_text("/orgs/bigco?page=3&teams=2").await;
    assert_eq!(status, StatusCode::OK);
    let (first_names, second_names) = (team_rows(&html), team_rows(&second));
    assert_eq!(first_names.len() + second_names.len(), 50, "every team on one of the two pages");
    assert!(first_names.iter().all(|t| !second_names.contains(t)));
    assert!(second.contains(r#"href="/orgs/bigco?teams=1&#38;page=3">Previous</a>"#), "the teams' pager keeps the members' page");
    assert!(second.contains(r#"href="/orgs/bigco?page=4&#38;teams=2">Next</a>"#), "the members' pager keeps the teams' page");
    // ... and the invitation form asks for a typed team name, which a team of page 2 takes
    assert!(html.contains(r#"<input id="invite-team" name="team" type="text""#) && !html.contains(r#"<option value="team-0">"#));
    let small = app.browser();
    small.login("alice", PASSWORD).await;
    let (_, small_html) = small.get_text("/orgs/smallco").await;
    assert!(small_html.contains(r#"<option value="team-1">team-1</option>"#), "a few teams are a list");
    let late = second_names.last().unwrap().clone();
    for i in 0..30 {
        let (name, now) = (format!("guest{i:02}"), app.state.now());
        let email = format!("{name}@example.com");
        let new =
            NewAccount { username: name, email: email.clone(), email_normalized: email, password_hash: "none: nobody signs in".into(), plan: Plan::Personal, operator: false };
        berth::accounts::create(&mut app.conn(), new, now).unwrap();
    }
    assert_eq!(location(&invite(&alice, "bigco", "guest00", "member", &late).await), "/orgs/bigco#invitations");
    let (bigco, inviter) = (app.owner("bigco"), app.user("alice"));
    for i in 1..30 {
        orgs::invitations::invite(&mut app.conn(), &bigco, &format!("guest{i:02}"), Role::Member, None, &inviter, &Actor::cli(), app.state.now(), false).unwrap();
    }
    // 30 invitations: a page of them, the rest on the next
    let (_, html) = alice.get_text("/orgs/bigco").await;
    let invitees = |html: &str| Regex::new(r#"<td class="primary">(guest\d+)</td>"#).unwrap().captures_iter(html).map(|c| c[1].to_string()).collect::<Vec<_>>();
    let per_page = berth::web::orgs::INVITATIONS_PER_PAGE as usize;
    assert_eq!(invitees(&html), (0..per_page).map(|i| format!("guest{i:02}")).collect::<Vec<_>>(), "oldest first");
    assert!(Regex::new(&format!(r#"(?s)<td class="primary">guest00</td>.*?<td data-label="Team">{late}</td>"#)).unwrap().is_match(&html), "the typed team");
    let (_, rest) = alice.get_text("/orgs/bigco?invites=2").await;
    assert_eq!(invitees(&rest), (per_page..30).map(|i| format!("guest{i:02}")).collect::<Vec<_>>());
    assert!(rest.contains(r#"href="/orgs/bigco?invites=1">Previous</a>"#));
    let (status, _) = alice.get_text("/orgs/bigco?teams=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "pages count from 1");

    // how fast the large page is against the small one is a benchmark's to say, not a
    // test's: row O2 of scripts/bench.sh (BENCHMARKS.md)
}

#[actix_web::test]
async fn the_organization_pages_are_valid_html() {
    let app = spawn_app().await;
    let (alice, bob, carol) = acme(&app).await;
    invite(&alice, "acme", "carol", "member", "devs").await;
    post(&alice, "/orgs/acme/teams/devs/members", &[("member", "bobby")]).await;
    post(&alice, "/orgs/acme/teams/devs/permissions", &[("repository", "acme/app"), ("permission", "read")]).await;
    post(&bob, "/repositories", &[("path", "mine"), ("visibility", "private")]).await;
    post(&bob, "/repositories/collaborators", &[("name", "bobby/mine"), ("username", "carol"), ("permission", "write")]).await;
    for (who, page) in [
        (&alice, "/orgs"),
        (&alice, "/orgs/acme"),
        (&alice, "/orgs/acme/teams/devs"),
        (&alice, "/orgs/acme/activity"),
        (&alice, "/orgs/acme/leave"),
        (&alice, "/orgs/acme/members/bobby/remove"),
        (&alice, "/orgs/acme/teams/devs/delete"),
        (&alice, "/orgs/acme/repositories/delete?name=acme%2Fapp"),
        (&alice, "/repository/acme/app"),
        (&bob, "/orgs/acme"),
        (&bob, "/orgs/acme/teams/devs"),
        (&bob, "/repositories"),
        (&bob, "/repository/bobby/mine"),
        (&carol, "/orgs"),
        (&carol, "/repositories"),
        (&carol, "/repository/bobby/mine"),
    ] {
        let (status, html) = who.get_text(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        crate::html::assert_valid(page, &html);
    }
    let personal = app.signed_up("paula").await;
    crate::html::assert_valid("/orgs on the personal plan", &personal.get_text("/orgs").await.1);
    let res = post(&alice, "/orgs/acme/repositories/visibility", &[("name", "acme/app"), ("public", "true")]).await;
    crate::html::assert_valid("make public", &res.text().await.unwrap());
    let res = post(&alice, "/orgs/acme/invitations", &[("invitee", "nobody"), ("role", "member"), ("team", "")]).await;
    crate::html::assert_valid("an invitation refused", &res.text().await.unwrap());
    let res = post(&alice, "/orgs/acme/teams/devs/members", &[("member", "paula")]).await;
    crate::html::assert_valid("a team member refused", &res.text().await.unwrap());
}

#[actix_web::test]
async fn a_teams_member_count_follows_additions_removals_and_deleted_accounts() {
    let app = spawn_app().await;
    let now = app.state.now();
    for name in ["alice", "bobby", "carol", "dave"] {
        app.signed_up(name).await;
    }
    let c = &mut app.conn();
    let acme = orgs::create(c, "acme", &app.user("alice"), Plan::Team, &Actor::cli(), now).unwrap();
    let devs = orgs::teams::create(c, &acme, "devs", "", &Actor::cli(), now).unwrap();
    for name in ["bobby", "carol", "dave"] {
        orgs::add_member(c, &acme, &app.user(name), Role::Member, Some("devs"), &Actor::cli(), now).unwrap();
    }
    orgs::teams::add_member(c, &acme, &devs, "alice", &Actor::cli(), now).unwrap();
    let counted = |c: &mut berth::db::Conn| -> (i64, i64) {
        let listed = orgs::teams::list(c, acme.id).unwrap().into_iter().find(|(t, _)| t.name == "devs").unwrap().1;
        (listed, orgs::teams::members(c, &devs).unwrap().len() as i64)
    };
    assert_eq!(counted(c), (4, 4));
    orgs::teams::remove_member(c, &acme, &devs, "alice", &Actor::cli(), now).unwrap();
    assert_eq!(counted(c), (3, 3), "removed from the team");
    orgs::remove_member(c, &acme, "bobby", &Actor::cli(), now).unwrap();
    assert_eq!(counted(c), (2, 2), "removed from the organization");
    berth::accounts::delete(c, app.user("carol").id, now).unwrap();
    assert_eq!(counted(c), (1, 1), "a deleted account's memberships go, and the count with them");
}

/// The overview's counts are kept by triggers that update the organization's owner row:
/// twenty first pushes into `acme` (each creating its repository at `/token`) and ten
/// members joining, all at once, are each counted, and none of them fails waiting for
/// that row (on PostgreSQL each update takes the row's lock in turn; on SQLite the write
/// lock orders them).
#[actix_web::test]
async fn the_kept_counts_hold_under_concurrent_first_pushes_and_joins() {
    let app = spawn_app_with(|s| s.api_rate_limit = 1_000).await;
    app.signed_up("alice").await;
    let (now, cli) = (app.state.now(), Actor::cli());
    orgs::create(&mut app.conn(), "acme", &app.user("alice"), Plan::Team, &cli, now).unwrap();
    let joiners: Vec<berth::accounts::User> = (0..10)
        .map(|i| {
            let (name, email) = (format!("joiner{i}"), format!("joiner{i}@example.com"));
            let new =
                NewAccount { username: name, email: email.clone(), email_normalized: email, password_hash: "none: nobody signs in".into(), plan: Plan::Personal, operator: false };
            berth::accounts::create(&mut app.conn(), new, now).unwrap()
        })
        .collect();
    let token = berth_test_support::registry::pat(&app, "alice", berth::tokens::Scope::Admin, "ci");
    let acme = app.owner("acme");

    let pushes = futures_util::future::join_all((0..20).map(|i| {
        let (app, token) = (&app, token.clone());
        async move { granted(app, Some(("alice", &token)), &format!("acme/r{i}"), "pull,push").await }
    }));
    let joins = futures_util::future::join_all(joiners.into_iter().map(|user| {
        let (acme, cli) = (acme.clone(), cli.clone());
        app.state.db(move |c| orgs::add_member(c, &acme, &user, Role::Member, None, &cli, now))
    }));
    let (pushed, joined) = tokio::join!(pushes, joins);
    for actions in &pushed {
        assert!(actions.iter().any(|a| a == "push"), "an owner's first push is granted: {actions:?}");
    }
    for result in joined {
        result.expect("a member joins");
    }

    use berth::db::schema::{org_members, owners, repositories};
    use diesel::prelude::*;
    let c = &mut app.conn();
    let (members, repos): (i64, i64) = owners::table.find(acme.id.0).select((owners::member_count, owners::repository_count)).first(c).unwrap();
    let counted_members: i64 = org_members::table.filter(org_members::owner_id.eq(acme.id.0)).count().get_result(c).unwrap();
    let counted_repos: i64 = repositories::table.filter(repositories::owner_id.eq(acme.id.0)).count().get_result(c).unwrap();
    assert_eq!((members, repos), (11, 20), "alice and ten joiners; twenty repositories");
    assert_eq!((counted_members, counted_repos), (members, repos), "the kept counts are the rows' counts");
}
