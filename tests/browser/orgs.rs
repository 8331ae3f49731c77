//! The organization pages in Chromium. An invitation: the owner creates an organization
//! from /orgs (reached by the top bar) and invites a user by name with a role and a team;
//! the invitee signs in and accepts on /orgs. A team: the owner creates a repository and a
//! team, adds a member and grants the team a permission from the page's lists; the member
//! then finds the repository among those shared with them. Every organization page is
//! measured and photographed at desktop and phone widths, with names as long as they may be.

use super::layout::{VIEWPORTS, full_page_screenshot, misfits, set_viewport};
use super::*;

/// As long as an organization's and a user's names may be (30).
const ORG: &str = "harbourmastersguildofrotterdam";
const OWNER: &str = "orgowner";
const CREW: &str = "deckhandwithaverylongusername1";
const TEAM: &str = "night-shift.crane-operators_01";

async fn sign_in(b: &Client, base: &str, username: &str) {
    goto(b, &format!("{base}/login")).await;
    fill(b, "input#login", username).await;
    fill(b, "input#password", PASSWORD).await;
    click_on(b, "form[action='/login'] button[type=submit]").await;
    wait_for_path(b, "/settings/account").await;
}

/// Signs up `CREW`, then `OWNER` on the Team plan, who creates `ORG` from the top bar's
/// Organizations link; ends on the organization's page, signed in as its owner.
async fn owner_creates_the_organization(b: &Client, base: &str, state: &AppState) {
    sign_up(b, base, CREW, "crew@example.com", None).await;
    sign_out(b).await;
    sign_up(b, base, OWNER, "owner@example.com", None).await;
    let mut conn = state.database.pool.get().unwrap();
    let owner = berth::accounts::find_by_username(&mut conn, OWNER).unwrap().expect("the owner in the database");
    berth::accounts::set_plan(&mut conn, owner.id, berth::accounts::Plan::Team).unwrap();
    drop(conn);
    click_on(b, ".topbar a[href='/orgs']").await;
    wait_for_path(b, "/orgs").await;
    fill(b, "input#org-name", ORG).await;
    screenshot(b, "org-create.png").await;
    click_on(b, "form[action='/orgs'] button[type=submit]").await;
    wait_for_path(b, &format!("/orgs/{ORG}")).await;
    assert_eq!(text_of(b, "#my-role").await, "Owner");
    let flash = text_of(b, ".flash").await;
    assert!(flash.contains("was created, with you as its owner"), "{flash:?}");
}

async fn invitation_flow(b: &Client, base: &str, state: &AppState) {
    owner_creates_the_organization(b, base, state).await;
    fill(b, "input#team-name", TEAM).await;
    click_on(b, &format!("form[action='/orgs/{ORG}/teams'] button[type=submit]")).await;
    wait_for_path(b, &format!("/orgs/{ORG}/teams/{TEAM}")).await;
    goto(b, &format!("{base}/orgs/{ORG}")).await;

    // the owner invites by username, as a member of the team
    fill(b, "input#invitee", CREW).await;
    choose(b, "select#invite-role", "Member", "member").await;
    choose(b, "select#invite-team", TEAM, TEAM).await;
    click_on(b, &format!("form[action='/orgs/{ORG}/invitations'] button[type=submit]")).await;
    let flash = wait_for_text(b, ".flash", "say who was invited", |t| t.contains("was invited as member")).await;
    assert!(flash.contains(CREW), "{flash:?}");
    let row = text_of(b, "#invitations-table tbody tr").await;
    assert!(row.contains(CREW) && row.contains(TEAM) && row.contains(OWNER), "the owner's list names the invitation: {row:?}");
    screenshot(b, "org-invited.png").await;
    sign_out(b).await;

    // the invitee finds it on /orgs and accepts
    sign_in(b, base, CREW).await;
    click_on(b, ".topbar a[href='/orgs']").await;
    wait_for_path(b, "/orgs").await;
    let offered = text_of(b, "table#invitations tbody tr").await;
    for what in [ORG, "Member", TEAM, OWNER] {
        assert!(offered.contains(what), "the invitation should show {what:?}: {offered:?}");
    }
    screenshot(b, "org-invitation.png").await;
    click_on(b, &format!("form[action$='/accept'][action^='/orgs/{ORG}/invitations/'] button[type=submit]")).await;
    wait_for_path(b, &format!("/orgs/{ORG}")).await;
    assert_eq!(text_of(b, "#my-role").await, "Member");
    assert!(text_of(b, ".flash").await.contains(&format!("You joined {ORG} as member.")));
    let me = texts(b, "#members-table tbody tr td.primary").await;
    assert!(me.iter().any(|m| m.starts_with(CREW) && m.contains("you")), "the new member is listed: {me:?}");
    let forms = b.find_all(Locator::Css(&format!("form[action='/orgs/{ORG}/invitations']"))).await.unwrap();
    assert!(forms.is_empty(), "a member is offered no owner's forms");
    goto(b, &format!("{base}/orgs")).await;
    assert_eq!(text_of(b, "#no-invitations").await, "No open invitations.");
    assert!(text_of(b, "table#orgs").await.contains(ORG));
}

async fn team_flow(b: &Client, base: &str, state: &AppState) {
    owner_creates_the_organization(b, base, state).await;
    let (org, crew) = {
        let mut conn = state.database.pool.get().unwrap();
        let org = berth::orgs::find(&mut conn, ORG).unwrap().expect("the organization");
        let crew = berth::accounts::find_by_username(&mut conn, CREW).unwrap().expect("the crew member");
        (org, crew)
    };
    let now = chrono::Utc::now().timestamp();
    berth::orgs::add_member(&mut state.database.pool.get().unwrap(), &org, &crew, berth::owners::Role::Member, None, &berth::orgs::Actor::cli(), now).unwrap();

    // a repository, then a team
    let repo = "cranes/container-terminal-scheduling-service";
    fill(b, "input#path", repo).await;
    click_on(b, &format!("form[action='/orgs/{ORG}/repositories'] button[type=submit]")).await;
    wait_for_text(b, ".flash", "say the repository was created", |t| t.contains("was created")).await;
    fill(b, "input#team-name", TEAM).await;
    fill(b, "input#team-description", "Cranes at night, quay 3 to 7").await;
    click_on(b, &format!("form[action='/orgs/{ORG}/teams'] button[type=submit]")).await;
    wait_for_path(b, &format!("/orgs/{ORG}/teams/{TEAM}")).await;
    assert_eq!(text_of(b, "#no-members").await, "Nobody is in this team yet.");

    // a member of the organization joins the team
    fill(b, "input#member", CREW).await;
    click_on(b, &format!("form[action='/orgs/{ORG}/teams/{TEAM}/members'] button[type=submit]")).await;
    wait_for(b, "table#team-members").await;
    assert_eq!(texts(b, "table#team-members td.primary").await, [CREW]);

    // the team may read and write the repository, then administer it
    let full = format!("{ORG}/{repo}");
    choose(b, "select#grant-repository", &full, &full).await;
    choose(b, "select#grant-permission", "Read & Write", "write").await;
    screenshot(b, "team-grant.png").await;
    click_on(b, "form:has(#grant-repository) button[type=submit]").await;
    wait_for(b, "table#team-permissions").await;
    let granted = text_of(b, "table#team-permissions tbody tr").await;
    assert!(granted.contains(repo.split('/').next_back().unwrap()), "{granted:?}");
    let chosen = wait_for(b, "table#team-permissions select[name=permission]").await.prop("value").await.unwrap();
    assert_eq!(chosen.as_deref(), Some("write"));
    choose(b, "table#team-permissions select[name=permission]", "Admin", "admin").await;
    click_on(b, "table#team-permissions form.role-form button[type=submit]").await;
    wait_for_text(b, ".flash", "say the team has Admin", |t| t.contains("has Admin")).await;
    screenshot(b, "team.png").await;

    // the member finds it shared with them
    let owner_pages = org_pages(&full);
    sign_out(b).await;
    sign_in(b, base, CREW).await;
    goto(b, &format!("{base}/repositories")).await;
    let shared = text_of(b, "table#shared").await;
    assert!(shared.contains("Admin (through a team)") && shared.contains(ORG), "{shared:?}");
    let member_pages = [("org-member", format!("/orgs/{ORG}")), ("team-member", format!("/orgs/{ORG}/teams/{TEAM}")), ("repositories-shared", "/repositories".into())];
    let mut failures = measure(b, base, &member_pages).await;
    sign_out(b).await;
    sign_in(b, base, OWNER).await;
    failures.extend(measure(b, base, &owner_pages).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The owner's pages of the organization, and the repository's.
fn org_pages(full: &str) -> [(&'static str, String); 8] {
    let q = url::form_urlencoded::byte_serialize(full.as_bytes()).collect::<String>();
    [
        ("orgs", "/orgs".into()),
        ("org", format!("/orgs/{ORG}")),
        ("team", format!("/orgs/{ORG}/teams/{TEAM}")),
        ("org-activity", format!("/orgs/{ORG}/activity")),
        ("org-leave", format!("/orgs/{ORG}/leave")),
        ("org-member-remove", format!("/orgs/{ORG}/members/{CREW}/remove")),
        ("org-repository-delete", format!("/orgs/{ORG}/repositories/delete?name={q}")),
        ("repository", format!("/repository/{full}")),
    ]
}

/// Each page at each width: nothing sticks out or scrolls sideways; a full-page screenshot
/// of each (`layout-<width>-<name>.png`). Returns what did not fit.
async fn measure(b: &Client, base: &str, pages: &[(&str, String)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (width, height) in VIEWPORTS {
        set_viewport(b, width, height).await;
        for (name, page) in pages {
            goto(b, &format!("{base}{page}")).await;
            wait_for(b, "main h1").await;
            assert_eq!(response_status(b).await, 200, "{page} should answer 200");
            failures.extend(misfits(b, width, page).await);
            full_page_screenshot(b, width, height, name).await;
        }
    }
    set_viewport(b, VIEWPORTS[0].0, VIEWPORTS[0].1).await;
    failures
}

#[actix_web::test]
async fn browser_an_owner_invites_by_username_and_the_invitee_accepts_on_the_organizations_page() {
    run_in_browser("chromedriver-org-invitation.log", "org-invitation-failure.png", |b, base, state| async move { invitation_flow(&b, &base, &state).await }).await;
}

#[actix_web::test]
async fn browser_an_owner_creates_a_team_adds_a_member_and_grants_a_repository_and_the_pages_fit_phones() {
    run_in_browser("chromedriver-org-team.log", "org-team-failure.png", |b, base, state| async move { team_flow(&b, &base, &state).await }).await;
}
