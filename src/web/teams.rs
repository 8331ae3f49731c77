//! /orgs/{org}/teams/{team}: a team of an organization — its description, members and
//! permissions on the organization's repositories. Every member of the organization may
//! look; owners create, rename and delete teams and choose their members; owners and
//! editors set what a team may do on a repository.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::orgs::{self, teams};
use crate::owners::{Permission, Role};
use crate::repositories as repos;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::middleware::html;
use crate::web::orgs::{Typed, actor, org_url, refused_on_overview, with_owner};
use crate::web::pages::{ConfirmPage, FieldErrors};
use crate::web::pages::{field_status, permission_label, refused_form};
use crate::web::redirect;
use crate::web::tokens::EmptyForm;

/// What a team may be given on a repository, with Docker Hub's words.
pub const GRANTS: [(&str, &str); 3] = [("read", "Read-only"), ("write", "Read & Write"), ("admin", "Admin")];

/// Up to this many repositories the grant form lists them; an organization with more has
/// the name typed (a list of 10,000 would weigh the page down for every owner).
const LISTED_MAX: i64 = 200;

pub struct PermissionRow {
    pub repository: String,
    pub value: &'static str,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "orgs/team.html")]
struct TeamPage {
    chrome: Chrome,
    org: String,
    team: String,
    description: String,
    is_owner: bool,
    manages: bool,
    members: Vec<String>,
    permissions: Vec<PermissionRow>,
    /// The organization's repositories a grant may name, when there are few enough for a
    /// list; otherwise the name is typed.
    repositories: Vec<String>,
    held_repositories: i64,
    grants: [(&'static str, &'static str); 3],
    /// What the forms held when one was refused.
    new_name: String,
    new_description: String,
    member: String,
    repository: String,
    errors: FieldErrors,
}

/// What the team page's forms held, shown again beside a refusal.
#[derive(Default)]
struct Held {
    name: Option<String>,
    description: Option<String>,
    member: String,
    repository: String,
}

async fn team_page(app: &AppState, who: &SignedIn, org: String, team: String, held: Held, errors: FieldErrors) -> Result<String, PageError> {
    let uid = who.user.id;
    let (org, role, team, members, permissions, repositories) = app
        .db(move |c| {
            let (org, role) = orgs::as_member(c, &org, uid)?;
            let team = teams::find(c, org.id, &team)?.ok_or(Error::NotFound)?;
            let members = teams::members(c, &team)?;
            let permissions = teams::permissions(c, &team)?;
            let repositories = if role.manages_repositories() { repos::visible(c, org.id, repos::Sight::All, repos::Order::Name, 1, LISTED_MAX + 1)? } else { (Vec::new(), 0) };
            Ok((org, role, team, members, permissions, repositories))
        })
        .await?;
    Ok(TeamPage {
        chrome: Chrome::signed_in(&format!("{} · Team {}", org.name, team.name), "orgs", who)?,
        is_owner: role == Role::Owner,
        manages: role.manages_repositories(),
        members: members.into_iter().map(|(_, name)| name).collect(),
        permissions: permissions.into_iter().map(|(repository, p)| PermissionRow { repository, value: p.as_str(), label: permission_label(p) }).collect(),
        held_repositories: repositories.1,
        repositories: if repositories.1 > LISTED_MAX { Vec::new() } else { repositories.0.into_iter().map(|r| r.name).collect() },
        grants: GRANTS,
        new_name: held.name.unwrap_or_else(|| team.name.clone()),
        new_description: held.description.unwrap_or_else(|| team.description.clone()),
        member: held.member,
        repository: held.repository,
        errors,
        org: org.name,
        team: team.name,
        description: team.description,
    }
    .render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    Ok(html(team_page(&app, &who, org, team, Held::default(), FieldErrors::default()).await?))
}

/// The team page again with a refusal beside `field`, or the error page when it names none.
async fn refused(app: &AppState, who: &SignedIn, org: String, team: String, e: Error, field: &'static str, held: Held) -> Result<HttpResponse, PageError> {
    let status = match &e {
        Error::Invalid { field: Some(_), .. } | Error::Taken(_) => field_status(&e),
        _ => return Err(e.into()),
    };
    let mut errors = FieldErrors::default();
    errors.add(field, e);
    Ok(refused_form(status, team_page(app, who, org, team, held, errors).await?))
}

/// Who may change a part of a team: its name, members and existence are its owners';
/// its repository permissions its owners' and editors'.
#[derive(Clone, Copy)]
enum May {
    Owners,
    Editors,
}

/// Runs `f` on the team `team` of the organization `org` for a user who may change that
/// part of it, in one write transaction: the check and the change stand or fall together.
async fn on_team<T, F>(app: &AppState, org: String, team: String, uid: i32, may: May, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut crate::db::Conn, &crate::owners::Owner, &teams::Team) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    app.db(move |c| {
        crate::db::write_tx(c, |c| {
            let o = match may {
                May::Owners => orgs::as_owner(c, &org, uid)?,
                May::Editors => orgs::as_editor(c, &org, uid)?.0,
            };
            let team = teams::find(c, o.id, &team)?.ok_or(Error::NotFound)?;
            f(c, &o, &team)
        })
    })
    .await
}

fn team_url(org: &str, team: &str) -> String {
    org_url(org, &format!("/teams/{team}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamForm {
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, org: web::Path<String>, CsrfForm(form): CsrfForm<TeamForm>) -> Result<HttpResponse, PageError> {
    let org = org.into_inner();
    let (actor, now, name, description) = (actor(&who, &info), app.now(), form.name.clone(), form.description.clone());
    match with_owner(&app, org.clone(), who.user.id, move |c, o| teams::create(c, o, &name, &description, &actor, now)).await {
        Ok(team) => {
            who.session.flash("success", format!("The team {} was created. Add its members and repository permissions here.", team.name))?;
            Ok(redirect(&team_url(&org, &team.name)))
        }
        Err(e) => {
            let typed = Typed { team_name: form.name.chars().take(100).collect(), team_description: form.description.chars().take(300).collect(), ..Typed::default() };
            refused_on_overview(&app, &who, org, e, |f| if f == "description" { "team_description" } else { "team_name" }, typed).await
        }
    }
}

pub async fn edit(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<TeamForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (actor, now, name, description, current) = (actor(&who, &info), app.now(), form.name.clone(), form.description.clone(), team.clone());
    let saved = on_team(&app, org.clone(), current, who.user.id, May::Owners, move |c, o, t| teams::update(c, o, t, Some(&name), Some(&description), &actor, now)).await;
    match saved {
        Ok(team) => {
            who.session.flash("success", "The team was saved.")?;
            Ok(redirect(&team_url(&org, &team.name)))
        }
        Err(e) => {
            let field = if e.field() == Some("description") { "description" } else { "name" };
            let held = Held { name: Some(form.name.chars().take(100).collect()), description: Some(form.description.chars().take(300).collect()), ..Held::default() };
            refused(&app, &who, org, team, e, field, held).await
        }
    }
}

pub async fn delete_form(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (org, team) = on_team(&app, org, team, who.user.id, May::Owners, |_, o, t| Ok((o.name.clone(), t.name.clone()))).await?;
    let page = ConfirmPage {
        chrome: Chrome::signed_in("Delete team", "orgs", &who)?,
        heading: format!("Delete the team {team}?"),
        message: "Its members stay in the organization, but lose what this team's permissions gave them at their next request.".into(),
        action: format!("{}/delete", team_url(&org, &team)),
        button: format!("Delete {team}"),
        cancel: team_url(&org, &team),
    };
    Ok(html(page.render()?))
}

pub async fn delete(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (actor, now) = (actor(&who, &info), app.now());
    let gone = on_team(&app, org.clone(), team, who.user.id, May::Owners, move |c, o, t| teams::delete(c, o, t, &actor, now).map(|()| t.name.clone())).await?;
    who.session.flash("success", format!("The team {gone} was deleted."))?;
    Ok(redirect(&org_url(&org, "#teams")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberForm {
    member: String,
}

pub async fn add_member(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (actor, now, member, current) = (actor(&who, &info), app.now(), form.member.clone(), team.clone());
    let added = on_team(&app, org.clone(), current, who.user.id, May::Owners, move |c, o, t| teams::add_member(c, o, t, &member, &actor, now)).await;
    match added {
        Ok(()) => {
            who.session.flash("success", format!("{} is in the team {team}.", form.member.trim().to_lowercase()))?;
            Ok(redirect(&team_url(&org, &team)))
        }
        Err(e) => refused(&app, &who, org, team, e, "member", Held { member: form.member.chars().take(100).collect(), ..Held::default() }).await,
    }
}

pub async fn remove_member(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (actor, now, member, current) = (actor(&who, &info), app.now(), form.member.clone(), team.clone());
    on_team(&app, org.clone(), current, who.user.id, May::Owners, move |c, o, t| teams::remove_member(c, o, t, &member, &actor, now)).await?;
    who.session.flash("success", format!("{} left the team {team}.", form.member.trim().to_lowercase()))?;
    Ok(redirect(&team_url(&org, &team)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionForm {
    repository: String,
    /// Absent on the revoke form.
    permission: Option<String>,
}

/// A repository the organization does not hold is a mistake in the form, not a missing page.
fn no_such_repository(e: Error) -> Error {
    match e {
        Error::NotFound => Error::invalid_field("repository", "The organization has no repository of this name."),
        other => other,
    }
}

pub async fn set_permission(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<PermissionForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let held = Held { repository: form.repository.chars().take(255).collect(), ..Held::default() };
    let Some(permission) = form.permission.as_deref().and_then(Permission::parse) else {
        return refused(&app, &who, org, team, Error::invalid_field("permission", "Choose read-only, read & write or admin."), "permission", held).await;
    };
    let (actor, now, repository) = (actor(&who, &info), app.now(), form.repository.clone());
    let set = on_team(&app, org.clone(), team.clone(), who.user.id, May::Editors, move |c, o, t| {
        // the team must still exist when the repository is looked up: a missing team is a 404
        teams::set_permission(c, o, t, &repository, permission, &actor, now).map_err(no_such_repository)
    })
    .await;
    match set {
        Ok(()) => {
            who.session.flash("success", format!("The team {team} has {} on {}.", permission_label(permission), form.repository.trim()))?;
            Ok(redirect(&team_url(&org, &team)))
        }
        Err(e) => {
            let field = if e.field() == Some("permission") { "permission" } else { "repository" };
            refused(&app, &who, org, team, e, field, held).await
        }
    }
}

pub async fn revoke_permission(
    app: web::Data<AppState>,
    who: SignedIn,
    info: ClientInfo,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<PermissionForm>,
) -> Result<HttpResponse, PageError> {
    let (org, team) = path.into_inner();
    let (actor, now, repository) = (actor(&who, &info), app.now(), form.repository.clone());
    on_team(&app, org.clone(), team.clone(), who.user.id, May::Editors, move |c, o, t| teams::revoke_permission(c, o, t, &repository, &actor, now)).await?;
    who.session.flash("success", format!("The team {team} no longer has a permission on {}.", form.repository.trim()))?;
    Ok(redirect(&team_url(&org, &team)))
}
