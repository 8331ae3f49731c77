//! /orgs: the organizations a user belongs to, the invitations they may accept or decline,
//! and creating one (Team and Business plans). /orgs/{org}: an organization's members,
//! invitations, teams, repositories and settings, each action offered to the roles that
//! may take it and checked again on the server (`orgs::as_member`, `as_editor`,
//! `as_owner`: a non-member gets 404, a member of the wrong role 403); its activity (the
//! audit log, owners only). A team's own page is `web::teams`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::db::Conn;
use crate::http::ClientInfo;
use crate::once::{self, Spent};
use crate::orgs::{self, Actor, events, invitations};
use crate::owners::{self, Owner, Role};
use crate::repositories as repos;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, when};
use crate::web::middleware::html;
use crate::web::pages::{ConfirmPage, FieldErrors, PageQuery, Pager};
use crate::web::pages::{field_status, refused_form};
use crate::web::redirect;
use crate::web::repositories::{DeleteForm, DeleteRoutes, PublicPage, RepoRow, delete_confirmation, delete_for_real, parse_public};
use crate::web::tokens::EmptyForm;

pub const MEMBERS_PER_PAGE: i64 = 25;
pub const REPOSITORIES_PER_PAGE: i64 = 25;
pub const TEAMS_PER_PAGE: i64 = 25;
pub const INVITATIONS_PER_PAGE: i64 = 25;
pub const ACTIVITY_PER_PAGE: i64 = 50;

/// Who acts, as the organization's audit log names them.
pub fn actor(who: &SignedIn, info: &ClientInfo) -> Actor {
    Actor::user(&who.user, &info.client)
}

/// Runs `f` on the organization `name` as one of its owners, in one write transaction, so
/// the check and the change stand or fall together.
pub async fn with_owner<T, F>(app: &AppState, name: String, uid: i32, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut Conn, &Owner) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    app.db(move |c| {
        crate::db::write_tx(c, |c| {
            let org = orgs::as_owner(c, &name, uid)?;
            f(c, &org)
        })
    })
    .await
}

/// The address of an organization's page, or of a part of it.
pub fn org_url(org: &str, part: &str) -> String {
    format!("/orgs/{org}{part}")
}

// ---- /orgs -------------------------------------------------------------------------

pub struct OrgRow {
    pub name: String,
    pub role: &'static str,
    pub plan: &'static str,
}

pub struct InvitationRow {
    pub uuid: String,
    pub org: String,
    pub invitee: String,
    pub role: &'static str,
    pub team: Option<String>,
    pub inviter: String,
    pub invited: When,
    pub expires: When,
    pub expired: bool,
}

fn invitation_row(s: invitations::Shown, now: i64) -> InvitationRow {
    let i = &s.invitation;
    InvitationRow {
        role: i.role().title(),
        inviter: i.inviter_name.clone(),
        invited: when(i.created_at, now),
        expires: when(i.expires_at, now),
        expired: i.is_expired(now),
        uuid: i.uuid.clone(),
        org: s.org,
        invitee: s.invitee,
        team: s.team,
    }
}

#[derive(Template)]
#[template(path = "orgs/list.html")]
struct ListPage {
    chrome: Chrome,
    orgs: Vec<OrgRow>,
    invitations: Vec<InvitationRow>,
    plan: &'static str,
    can_create: bool,
    needs_plan: &'static str,
    name: String,
    once: String,
    errors: FieldErrors,
}

async fn list_page(app: &AppState, who: &SignedIn, name: String, once: Option<String>, errors: FieldErrors) -> Result<String, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (mine, open, plan) = app.db(move |c| Ok((orgs::of_user(c, uid)?, invitations::open_for(c, uid, now)?, owners::of_user(c, uid)?.plan()))).await?;
    Ok(ListPage {
        chrome: Chrome::signed_in("Organizations", "orgs", who)?,
        orgs: mine.into_iter().map(|(o, r)| OrgRow { role: r.title(), plan: o.plan().as_str(), name: o.name }).collect(),
        invitations: open.into_iter().map(|s| invitation_row(s, now)).collect(),
        plan: plan.as_str(),
        can_create: orgs::check_org_plan(plan).is_ok(),
        needs_plan: orgs::NEEDS_TEAM_PLAN,
        name,
        // a form shown again after an error keeps its key: nothing was spent
        once: once.unwrap_or_else(|| once::new_key(now)),
        errors,
    }
    .render()?)
}

pub async fn list(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(list_page(&app, &who, String::new(), None, FieldErrors::default()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    name: String,
    /// The form's one-time key (`once`): a resubmission creates nothing.
    once: String,
}

enum Creation {
    Created(Owner),
    /// This form was sent before: what it created exists.
    Repeated,
    Stale,
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<CreateForm>) -> Result<HttpResponse, PageError> {
    if once::made_at(&form.once).is_none() {
        return Err(Error::invalid("This form has no valid one-time key. Open the organizations page again.").into());
    }
    let (uid, now) = (who.user.id, app.now());
    let plan = app.db(move |c| owners::of_user(c, uid)).await?.plan();
    if orgs::check_org_plan(plan).is_err() {
        return Err(Error::denied(orgs::NEEDS_TEAM_PLAN).into());
    }
    let (user, actor, key, name) = (who.user.clone(), actor(&who, &info), form.once.clone(), form.name.clone());
    let made = app
        .db(move |c| {
            crate::db::write_tx(c, |c| match once::spend(c, uid, &key, now)? {
                Spent::First => orgs::create(c, &name, &user, plan, &actor, now).map(Creation::Created),
                Spent::Again => Ok(Creation::Repeated),
                Spent::Stale => Ok(Creation::Stale),
            })
        })
        .await;
    let typed: String = form.name.chars().take(100).collect();
    let mut errors = FieldErrors::default();
    match made {
        Ok(Creation::Created(org)) => {
            who.session.flash("success", format!("The organization {} was created, with you as its owner.", org.name))?;
            Ok(redirect(&org_url(&org.name, "")))
        }
        Ok(Creation::Repeated) => {
            who.session.flash("info", "This form was sent already: the organization it created is listed here.")?;
            Ok(redirect("/orgs"))
        }
        Ok(Creation::Stale) => {
            errors.add("name", "This form was opened more than a day ago. Check the name and create again.");
            Ok(refused_form(StatusCode::UNPROCESSABLE_ENTITY, list_page(&app, &who, typed, Some(once::new_key(now)), errors).await?))
        }
        Err(e) if e.field().is_some() => {
            let status = field_status(&e);
            errors.add("name", e);
            Ok(refused_form(status, list_page(&app, &who, typed, Some(form.once), errors).await?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The invitation `uuid` of the signed-in user, if it is one of organization `org`'s.
fn own_invitation(c: &mut Conn, org: &str, uuid: &str, uid: i32) -> Result<invitations::Shown, Error> {
    let shown = invitations::for_invitee(c, uuid, uid)?;
    if shown.org != org {
        return Err(Error::NotFound);
    }
    Ok(shown)
}

pub async fn accept(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let (org, uuid) = path.into_inner();
    let (user, actor, now) = (who.user.clone(), actor(&who, &info), app.now());
    let (org, role) = app
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                let shown = own_invitation(c, &org, &uuid, user.id)?;
                let org = invitations::accept(c, &uuid, &user, &actor, now)?;
                Ok((org, shown.invitation.role()))
            })
        })
        .await?;
    who.session.flash("success", format!("You joined {} as {}.", org.name, role.title().to_lowercase()))?;
    Ok(redirect(&org_url(&org.name, "")))
}

pub async fn decline(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let (org, uuid) = path.into_inner();
    let (user, actor, now) = (who.user.clone(), actor(&who, &info), app.now());
    let shown = app
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                let shown = own_invitation(c, &org, &uuid, user.id)?;
                invitations::decline(c, &uuid, &user, &actor, now)?;
                Ok(shown)
            })
        })
        .await?;
    who.session.flash("success", format!("You declined the invitation to {}.", shown.org))?;
    Ok(redirect("/orgs"))
}

// ---- /orgs/{org} -------------------------------------------------------------------

pub struct MemberRow {
    pub username: String,
    pub email: String,
    pub role: Role,
    /// The first `TEAMS_PER_MEMBER` of the member's teams, and how many more they are in.
    pub teams: Vec<String>,
    pub more_teams: i64,
    pub joined: When,
    pub two_factor: bool,
    pub is_me: bool,
}

/// Teams named in a member's row: a member of fifty teams would make the page the size of
/// its memberships; the team's own page lists all its members.
const TEAMS_PER_MEMBER: i64 = 3;

pub struct TeamRow {
    pub name: String,
    pub description: String,
    pub members: i64,
}

/// What the overview's forms held when one was refused, shown again beside the errors.
#[derive(Default)]
pub struct Typed {
    pub invitee: String,
    pub invite_role: String,
    pub invite_team: String,
    pub repo_path: String,
    pub repo_public: bool,
    pub team_name: String,
    pub team_description: String,
}

#[derive(Template)]
#[template(path = "orgs/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    org: String,
    plan: &'static str,
    role: Role,
    is_owner: bool,
    manages: bool,
    business: bool,
    require_two_factor: bool,
    /// The viewer is refused the organization's repositories until they turn 2FA on.
    two_factor_missing: bool,
    two_factor_message: String,
    members: Vec<MemberRow>,
    members_total: i64,
    members_pager: Pager,
    q: String,
    role_filter: &'static str,
    roles: [Role; 3],
    invitations: Vec<InvitationRow>,
    invitations_pager: Pager,
    teams: Vec<TeamRow>,
    teams_pager: Pager,
    /// The invitation form's team choices: every team's name while they fit one page of
    /// teams; past that (`None`) the form asks for a typed name, as a list of hundreds
    /// would be the page's weight and no help to pick from.
    team_choices: Option<Vec<String>>,
    repositories: Vec<RepoRow>,
    repositories_total: i64,
    repositories_pager: Pager,
    registry_host: String,
    typed: Typed,
    errors: FieldErrors,
    last_owner: &'static str,
}

/// The overview's query: the members' page, search and role, the pages of teams,
/// invitations and repositories.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    page: Option<i64>,
    q: Option<String>,
    role: Option<String>,
    teams: Option<i64>,
    invites: Option<i64>,
    repos: Option<i64>,
}

/// The overview's query parameters but `param`: each list's pager keeps the others where
/// they are.
fn others<'a>(state: &[(&'static str, &'a str)], param: &str) -> Vec<(&'static str, &'a str)> {
    state.iter().filter(|(k, _)| *k != param).copied().collect()
}

/// A page number as a query keeps it: the first page is the address without it.
fn page_param(page: i64) -> String {
    if page > 1 { page.to_string() } else { String::new() }
}

async fn overview_page(app: &AppState, who: &SignedIn, name: String, q: &OverviewQuery, typed: Typed, errors: FieldErrors) -> Result<String, PageError> {
    let page = PageQuery::from(q.page).number()?;
    let repos_page = PageQuery::from(q.repos).number()?;
    let teams_page = PageQuery::from(q.teams).number()?;
    let invites_page = PageQuery::from(q.invites).number()?;
    let search: String = q.q.as_deref().unwrap_or("").trim().chars().take(30).collect();
    let role_filter = match q.role.as_deref().unwrap_or("") {
        "" | "all" => None,
        r => Some(r.parse::<Role>().map_err(|_| Error::invalid("Unknown role in the address. Choose one from the list."))?),
    };
    let (uid, now) = (who.user.id, app.now());
    let find = search.clone();
    let (org, role, standing, (members, members_total), (teams, teams_total), team_choices, (repositories, repositories_total), (open, open_total)) = app
        .db(move |c| {
            let (org, role) = orgs::as_member(c, &name, uid)?;
            let standing = owners::standing(c, uid, org.id)?;
            let members = orgs::members_shown(c, org.id, Some(&find), role_filter, page, MEMBERS_PER_PAGE, TEAMS_PER_MEMBER)?;
            let teams = orgs::teams::page(c, org.id, teams_page, TEAMS_PER_PAGE)?;
            let choices = match (role, teams.1) {
                (Role::Owner, total) if total <= TEAMS_PER_PAGE && teams_page == 1 => Some(teams.0.iter().map(|(t, _)| t.name.clone()).collect()),
                (Role::Owner, total) if total <= TEAMS_PER_PAGE => Some(orgs::teams::page(c, org.id, 1, TEAMS_PER_PAGE)?.0.into_iter().map(|(t, _)| t.name).collect()),
                _ => None,
            };
            let sight = repos::sight(c, Some(uid), &org, true)?;
            let repositories = repos::visible(c, org.id, sight, repos::Order::Name, repos_page, REPOSITORIES_PER_PAGE)?;
            let open = if role == Role::Owner { invitations::page_of_org(c, &org, invites_page, INVITATIONS_PER_PAGE)? } else { (Vec::new(), 0) };
            Ok((org, role, standing, members, teams, choices, repositories, open))
        })
        .await?;
    let base = org_url(&org.name, "");
    let role_str = role_filter.map(Role::as_str).unwrap_or("");
    let (page_str, teams_str, invites_str, repos_str) = (page_param(page), page_param(teams_page), page_param(invites_page), page_param(repos_page));
    let state = [("page", page_str.as_str()), ("q", search.as_str()), ("role", role_str), ("teams", &teams_str), ("invites", &invites_str), ("repos", &repos_str)];
    let body = OverviewPage {
        chrome: Chrome::signed_in(&format!("{} · Organization", org.name), "orgs", who)?,
        plan: org.plan().as_str(),
        is_owner: role == Role::Owner,
        manages: role.manages_repositories(),
        business: org.plan() == owners::Plan::Business,
        require_two_factor: org.require_two_factor,
        two_factor_missing: standing.is_some_and(|s| s.two_factor_missing),
        two_factor_message: owners::two_factor_required_message(&org.name),
        members: members
            .into_iter()
            .map(|m| MemberRow {
                is_me: m.user_id == uid,
                joined: when(m.joined_at, now),
                username: m.username,
                email: m.email,
                role: m.role,
                more_teams: m.more_teams,
                teams: m.teams,
                two_factor: m.two_factor,
            })
            .collect(),
        members_total,
        members_pager: Pager::new(base.clone(), page, members_total, MEMBERS_PER_PAGE).by_name("page", "Pages of members").keeping(&others(&state, "page")),
        q: search.clone(),
        role_filter: role_filter.map(Role::as_str).unwrap_or("all"),
        roles: Role::ALL,
        invitations: open.into_iter().map(|s| invitation_row(s, now)).collect(),
        invitations_pager: Pager::new(base.clone(), invites_page, open_total, INVITATIONS_PER_PAGE).by_name("invites", "Pages of invitations").keeping(&others(&state, "invites")),
        teams: teams.into_iter().map(|(t, n)| TeamRow { name: t.name, description: t.description, members: n }).collect(),
        teams_pager: Pager::new(base.clone(), teams_page, teams_total, TEAMS_PER_PAGE).by_name("teams", "Pages of teams").keeping(&others(&state, "teams")),
        team_choices,
        repositories: repositories.into_iter().map(|r| RepoRow::new(r, now)).collect(),
        repositories_total,
        repositories_pager: Pager::new(base, repos_page, repositories_total, REPOSITORIES_PER_PAGE).by_name("repos", "Pages of repositories").keeping(&others(&state, "repos")),
        registry_host: app.settings.registry_host.clone(),
        typed,
        errors,
        last_owner: orgs::LAST_OWNER,
        role,
        org: org.name,
    };
    Ok(body.render()?)
}

pub async fn overview(app: web::Data<AppState>, who: SignedIn, name: web::Path<String>, q: web::Query<OverviewQuery>) -> Result<HttpResponse, PageError> {
    Ok(html(overview_page(&app, &who, name.into_inner(), &q, Typed::default(), FieldErrors::default()).await?))
}

/// The overview again with a form's refusal beside its field (the form's own field name,
/// `prefix` + the domain's), or the error page when the refusal names no field.
pub async fn refused_on_overview(app: &AppState, who: &SignedIn, org: String, e: Error, key: fn(&'static str) -> &'static str, typed: Typed) -> Result<HttpResponse, PageError> {
    let Some(field) = e.field() else { return Err(e.into()) };
    let status = field_status(&e);
    let mut errors = FieldErrors::default();
    errors.add(key(field), e);
    Ok(refused_form(status, overview_page(app, who, org, &OverviewQuery::default(), typed, errors).await?))
}

// ---- members ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleForm {
    role: String,
}

fn parse_role(role: &str) -> Result<Role, Error> {
    role.parse().map_err(|_| Error::invalid_field("role", "Choose owner, editor or member."))
}

pub async fn set_role(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, PageError> {
    let role = parse_role(&form.role)?;
    let (org, username) = path.into_inner();
    let (actor, now, name) = (actor(&who, &info), app.now(), username.clone());
    with_owner(&app, org.clone(), who.user.id, move |c, o| orgs::set_role(c, o, &name, role, &actor, now)).await?;
    who.session.flash("success", format!("{username}'s role is {}.", role.title()))?;
    Ok(redirect(&org_url(&org, "#members")))
}

/// A member of the organization by username: `NotFound` for anyone else.
fn member(c: &mut Conn, org: &Owner, username: &str) -> Result<(String, Role), Error> {
    let user = crate::accounts::find_by_username(c, &username.trim().to_lowercase())?.ok_or(Error::NotFound)?;
    let role = orgs::role_of(c, org.id, user.id)?.ok_or(Error::NotFound)?;
    Ok((user.username, role))
}

pub async fn remove_form(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    let (org, username) = path.into_inner();
    let uid = who.user.id;
    let (org, (name, role)) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &org, uid)?;
            let found = member(c, &org, &username)?;
            Ok((org.name, found))
        })
        .await?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in("Remove member", "orgs", &who)?,
        heading: format!("Remove {name} from {org}?"),
        message: format!(
            "{name} ({}) leaves the organization and its teams at once: from their next request they reach none of its private repositories. Their account and personal access tokens stay theirs.",
            role.title().to_lowercase()
        ),
        action: org_url(&org, &format!("/members/{name}/remove")),
        button: format!("Remove {name}"),
        cancel: org_url(&org, "#members"),
    };
    Ok(html(page.render()?))
}

pub async fn remove(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let (org, username) = path.into_inner();
    let (actor, now, name) = (actor(&who, &info), app.now(), username.clone());
    with_owner(&app, org.clone(), who.user.id, move |c, o| orgs::remove_member(c, o, &name, &actor, now)).await?;
    who.session.flash("success", format!("{username} was removed from {org}."))?;
    Ok(redirect(&org_url(&org, "#members")))
}

pub async fn leave_form(app: web::Data<AppState>, who: SignedIn, org: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (org, uid) = (org.into_inner(), who.user.id);
    let (org, _) = app.db(move |c| orgs::as_member(c, &org, uid)).await?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in("Leave organization", "orgs", &who)?,
        heading: format!("Leave {}?", org.name),
        message: "You leave the organization and its teams at once and reach none of its private repositories any more. To come back, an owner must invite you again.".into(),
        action: org_url(&org.name, "/leave"),
        button: format!("Leave {}", org.name),
        cancel: org_url(&org.name, ""),
    };
    Ok(html(page.render()?))
}

pub async fn leave(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, org: web::Path<String>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    let (org, uid, actor, now) = (org.into_inner(), who.user.id, actor(&who, &info), app.now());
    let me = who.user.username.clone();
    let left = app
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                let (org, _) = orgs::as_member(c, &org, uid)?;
                orgs::remove_member(c, &org, &me, &actor, now)?;
                Ok(org.name)
            })
        })
        .await?;
    who.session.flash("success", format!("You left {left}."))?;
    Ok(redirect("/orgs"))
}

// ---- invitations -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteForm {
    invitee: String,
    role: String,
    #[serde(default)]
    team: String,
}

fn invite_field(field: &'static str) -> &'static str {
    match field {
        "team" => "invite_team",
        "role" => "invite_role",
        _ => "invitee",
    }
}

pub async fn invite(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, org: web::Path<String>, CsrfForm(form): CsrfForm<InviteForm>) -> Result<HttpResponse, PageError> {
    let org = org.into_inner();
    let typed = Typed { invitee: form.invitee.chars().take(100).collect(), invite_role: form.role.clone(), invite_team: form.team.chars().take(100).collect(), ..Typed::default() };
    let role = match parse_role(&form.role) {
        Ok(role) => role,
        Err(e) => return refused_on_overview(&app, &who, org, e, invite_field, typed).await,
    };
    let (inviter, actor, now) = (who.user.clone(), actor(&who, &info), app.now());
    let (invitee, team) = (form.invitee.clone(), Some(form.team.trim().to_string()).filter(|t| !t.is_empty()));
    let done = with_owner(&app, org.clone(), who.user.id, move |c, o| invitations::invite(c, o, &invitee, role, team.as_deref(), &inviter, &actor, now, false)).await;
    // every answer but Invalid found the account, so the name is a username (nothing to isolate)
    let shown = crate::accounts::normalize_username(&form.invitee).unwrap_or_default();
    let why = match done {
        Ok(invitations::Outcome::Invited(i)) => {
            let until = when(i.expires_at, now).short;
            who.session.flash("success", format!("{} was invited as {}. The invitation is open until {until}.", shown, role.title().to_lowercase()))?;
            return Ok(redirect(&org_url(&org, "#invitations")));
        }
        Ok(invitations::Outcome::AlreadyMember) => format!("{shown} is a member already."),
        Ok(invitations::Outcome::AlreadyInvited) => format!("{shown} has an open invitation already: resend or revoke it below."),
        Ok(invitations::Outcome::Invalid) => "No account has this username.".to_string(),
        Err(e) => return refused_on_overview(&app, &who, org, e, invite_field, typed).await,
    };
    refused_on_overview(&app, &who, org, Error::invalid_field("invitee", why), invite_field, typed).await
}

/// The organization's invitation `uuid`, for one of its owners.
fn org_invitation(c: &mut Conn, org: &str, uuid: &str, uid: i32) -> Result<(Owner, invitations::Invitation), Error> {
    let (owner, invitation) = invitations::of_org_by_uuid(c, uuid, uid)?;
    if owner.name != org {
        return Err(Error::NotFound);
    }
    Ok((owner, invitation))
}

pub async fn resend(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    let (org, uuid) = path.into_inner();
    let (uid, now, name) = (who.user.id, app.now(), org.clone());
    let renewed = app
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                let (_, invitation) = org_invitation(c, &name, &uuid, uid)?;
                invitations::resend(c, &invitation, now)
            })
        })
        .await?;
    who.session.flash("success", format!("The invitation is open again, until {}.", when(renewed.expires_at, now).short))?;
    Ok(redirect(&org_url(&org, "#invitations")))
}

pub async fn revoke(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let (org, uuid) = path.into_inner();
    let (uid, actor, now, name) = (who.user.id, actor(&who, &info), app.now(), org.clone());
    app.db(move |c| {
        crate::db::write_tx(c, |c| {
            let (owner, invitation) = org_invitation(c, &name, &uuid, uid)?;
            invitations::revoke(c, &owner, &invitation, &actor, now)
        })
    })
    .await?;
    who.session.flash("success", "The invitation was revoked.")?;
    Ok(redirect(&org_url(&org, "#invitations")))
}

// ---- settings ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsForm {
    /// A checkbox: present when ticked.
    require_two_factor: Option<String>,
}

pub async fn settings(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    org: web::Path<String>,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let (org, on, actor, now) = (org.into_inner(), form.require_two_factor.is_some(), actor(&who, &info), app.now());
    with_owner(&app, org.clone(), who.user.id, move |c, o| orgs::set_require_two_factor(c, o, on, &actor, now)).await?;
    let said = if on { "Members must now use two-factor authentication to reach the organization's repositories." } else { "Members no longer need two-factor authentication." };
    who.session.flash("success", said)?;
    Ok(redirect(&org_url(&org, "#settings")))
}

// ---- repositories ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryForm {
    path: String,
    visibility: String,
}

pub async fn create_repository(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    org: web::Path<String>,
    CsrfForm(form): CsrfForm<RepositoryForm>,
) -> Result<HttpResponse, PageError> {
    let org = org.into_inner();
    let public = parse_public(&form.visibility)?;
    let (uid, actor, now, name, path) = (who.user.id, actor(&who, &info), app.now(), org.clone(), form.path.clone());
    match app.db(move |c| orgs::repositories::create(c, &name, uid, &path, public, &actor, now)).await {
        Ok(full) => {
            who.session.flash("success", format!("{full} was created."))?;
            Ok(redirect(&org_url(&org, "#repositories")))
        }
        Err(e) => {
            let typed = Typed { repo_path: form.path.chars().take(255).collect(), repo_public: public, ..Typed::default() };
            refused_on_overview(&app, &who, org, e, |_| "repo_path", typed).await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibilityForm {
    name: String,
    public: String,
    /// "yes" from the confirmation page: making a repository public asks first.
    confirm: Option<String>,
}

pub async fn repository_visibility(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    org: web::Path<String>,
    CsrfForm(form): CsrfForm<VisibilityForm>,
) -> Result<HttpResponse, PageError> {
    let org = org.into_inner();
    let public = match form.public.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(Error::invalid("Visibility is public or private.").into()),
    };
    let (uid, name, lookup) = (who.user.id, form.name.clone(), org.clone());
    if public && form.confirm.as_deref() != Some("yes") {
        app.db(move |c| {
            let (o, _) = orgs::as_editor(c, &lookup, uid)?;
            repos::find(c, o.id, &name)?.ok_or(Error::NotFound)
        })
        .await?;
        let page = PublicPage {
            chrome: Chrome::signed_in("Make repository public", "orgs", &who)?,
            name: form.name,
            action: org_url(&org, "/repositories/visibility"),
            cancel: org_url(&org, "#repositories"),
        };
        return Ok(html(page.render()?));
    }
    let (actor, now) = (actor(&who, &info), app.now());
    app.db(move |c| orgs::repositories::set_public(c, &lookup, uid, &name, public, &actor, now)).await?;
    who.session.flash("success", format!("{} is now {}.", form.name, if public { "public: anyone may pull it" } else { "private" }))?;
    Ok(redirect(&org_url(&org, "#repositories")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameQuery {
    name: String,
}

fn repository_routes(org: &str) -> DeleteRoutes {
    DeleteRoutes { action: org_url(org, "/repositories/delete"), cancel: org_url(org, "#repositories"), nav: "orgs" }
}

/// One of the organization's repositories, for its owners and editors.
async fn edited_repository(app: &AppState, uid: i32, org: &str, name: &str) -> Result<(), PageError> {
    let (org, name) = (org.to_string(), name.to_string());
    app.db(move |c| {
        let (o, _) = orgs::as_editor(c, &org, uid)?;
        repos::find(c, o.id, &name)?.ok_or(Error::NotFound)
    })
    .await?;
    Ok(())
}

pub async fn delete_repository_form(app: web::Data<AppState>, who: SignedIn, org: web::Path<String>, q: web::Query<NameQuery>) -> Result<HttpResponse, PageError> {
    let (org, name) = (org.into_inner(), q.into_inner().name);
    edited_repository(&app, who.user.id, &org, &name).await?;
    delete_confirmation(&app, &who, name, repository_routes(&org)).await
}

pub async fn delete_repository(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    org: web::Path<String>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<HttpResponse, PageError> {
    let org = org.into_inner();
    edited_repository(&app, who.user.id, &org, &form.name).await?;
    delete_for_real(&app, &who, &actor(&who, &info), form, repository_routes(&org), &org_url(&org, "#repositories")).await
}

// ---- activity ----------------------------------------------------------------------

pub struct EventRow {
    pub actor: String,
    pub action: String,
    pub description: &'static str,
    pub object: String,
    pub details: String,
    pub when: When,
    /// The time of day, "14:05:09 UTC", under the date.
    pub time: String,
    pub ip: String,
}

/// An entry's details (`{"role": "member", "team": null}`) as "role: member".
fn details(data: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(data) else { return String::new() };
    map.iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(format!("{k}: {s}")),
            other => Some(format!("{k}: {other}")),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[derive(Template)]
#[template(path = "orgs/activity.html")]
struct ActivityPage {
    chrome: Chrome,
    org: String,
    rows: Vec<EventRow>,
    total: i64,
    pager: Pager,
    actions: Vec<(&'static str, &'static str)>,
    action: String,
    object: String,
    actor: String,
    from: String,
    to: String,
    filtered: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    page: Option<i64>,
    action: Option<String>,
    /// What an entry is about: a member's username, a team's or a repository's name.
    object: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A day typed as YYYY-MM-DD: its first second (or, for `to`, its last), UTC.
fn day(text: &str, field: &'static str, end: bool) -> Result<Option<i64>, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Error::invalid_field(field, "Enter the date as YYYY-MM-DD, for example 2027-01-15."))?;
    let start = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp();
    Ok(Some(if end { start + 86_399 } else { start }))
}

pub async fn activity(app: web::Data<AppState>, who: SignedIn, org: web::Path<String>, q: web::Query<ActivityQuery>) -> Result<HttpResponse, PageError> {
    let page = PageQuery::from(q.page).number()?;
    let action_text = q.action.as_deref().unwrap_or("").trim().to_string();
    let action = match action_text.as_str() {
        "" | "all" => None,
        a => Some(events::Action::parse(a).ok_or_else(|| Error::invalid("Unknown action in the address. Choose one from the list."))?),
    };
    let actor: String = q.actor.as_deref().unwrap_or("").trim().chars().take(100).collect();
    let (from_text, to_text) = (q.from.clone().unwrap_or_default(), q.to.clone().unwrap_or_default());
    let object: String = q.object.as_deref().unwrap_or("").trim().chars().take(255).collect();
    let typed = |t: &String| Some(t.clone()).filter(|t| !t.is_empty());
    let filter = events::Filter { action, name: typed(&object), actor: typed(&actor), from: day(&from_text, "from", false)?, to: day(&to_text, "to", true)? };
    let filtered = filter.action.is_some() || filter.name.is_some() || filter.actor.is_some() || filter.from.is_some() || filter.to.is_some();
    let (uid, now, name) = (who.user.id, app.now(), org.into_inner());
    let (org, (entries, total)) = app
        .db(move |c| {
            let org = orgs::as_owner(c, &name, uid)?;
            let list = events::list(c, org.id, &filter, page, ACTIVITY_PER_PAGE)?;
            Ok((org.name, list))
        })
        .await?;
    let rows = entries
        .into_iter()
        .map(|e| EventRow {
            description: e.action().map(|a| a.description()).unwrap_or(""),
            details: details(&e.data),
            time: chrono::DateTime::from_timestamp(e.created_at, 0).unwrap_or_default().format("%H:%M:%S UTC").to_string(),
            when: when(e.created_at, now),
            ip: if e.ip.is_empty() { "—".into() } else { e.ip },
            actor: e.actor,
            action: e.action,
            object: e.name,
        })
        .collect();
    let (from_shown, to_shown): (String, String) = (from_text.trim().chars().take(10).collect(), to_text.trim().chars().take(10).collect());
    let pager = Pager::new(org_url(&org, "/activity"), page, total, ACTIVITY_PER_PAGE).keeping(&[
        ("action", action.map(|a| a.as_str()).unwrap_or("")),
        ("object", &object),
        ("actor", &actor),
        ("from", &from_shown),
        ("to", &to_shown),
    ]);
    let body = ActivityPage {
        chrome: Chrome::signed_in(&format!("{org} · Activity"), "orgs", &who)?,
        rows,
        total,
        pager,
        actions: events::Action::ALL.iter().map(|a| (a.as_str(), a.description())).collect(),
        action: action.map(|a| a.as_str().to_string()).unwrap_or_default(),
        object,
        actor,
        from: from_shown,
        to: to_shown,
        filtered,
        org,
    };
    Ok(html(body.render()?))
}
