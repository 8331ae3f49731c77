//! Teams as Docker Hub's groups: `/v2/orgs/{org}/groups` (list, create), one group by name
//! (read, rename, describe, delete), its members, the repositories it holds a permission
//! on, and from the repository's side `/v2/repositories/{namespace}/{repo}/groups/`: which
//! groups hold what on it. Members read groups and their members; owners manage groups and
//! their members; owners and editors give groups permissions on repositories. A member
//! sees a group's repositories only when in that group.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::orgs::{AccountIds, Changer, Need, account_object, page_of, paged, role_in};
use super::{ApiError, ApiJson, ApiPage, ApiUser};
use crate::Error;
use crate::accounts::User;
use crate::app::AppState;
use crate::db::Conn;
use crate::orgs::teams::{self, Team};
use crate::owners::{Owner, Permission, Role};
use crate::registry::grants::{Credential, reaches_private_repositories};
use crate::repositories::{Repository, Sight};

/// Docker Hub's group object.
fn group_object(team: &Team, member_count: i64) -> Value {
    json!({ "id": team.id, "uuid": team.uuid, "name": team.name, "description": team.description, "member_count": member_count })
}

/// Docker Hub's group member object; the email address only for an owner's eyes.
fn group_member_object(u: &User, ids: &AccountIds, with_email: bool) -> Value {
    let mut v = account_object(ids.get(u.id), "User", u.created_at, json!({ "username": u.username }));
    if with_email {
        v["email"] = json!(u.email);
    }
    v
}

fn team(conn: &mut Conn, org: &Owner, name: &str) -> Result<Team, Error> {
    teams::find(conn, org.id, name)?.ok_or(Error::NotFound)
}

/// A group with its member count, as answered.
fn counted(conn: &mut Conn, team: &Team) -> Result<Value, Error> {
    Ok(group_object(team, teams::members(conn, team)?.len() as i64))
}

/// The filters of the group list; the page comes in the same query string (`ApiPage`).
#[derive(Debug, Deserialize)]
pub struct GroupsQuery {
    /// Only the groups this member belongs to.
    username: Option<String>,
    /// Only the groups whose name contains this.
    search: Option<String>,
}

/// `GET /v2/orgs/{org}/groups`: the organization's groups by name, for members.
pub async fn list(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>, p: web::Query<ApiPage>, q: web::Query<GroupsQuery>) -> Result<HttpResponse, ApiError> {
    let (page, size) = p.get()?;
    let (name, uid, q) = (org.into_inner(), who.user.id, q.into_inner());
    let (org, all) = app
        .db(move |c| {
            let (org, _) = role_in(c, &name, uid, Need::Member)?;
            let mut all = teams::list(c, org.id)?;
            if let Some(username) = &q.username {
                let of = crate::orgs::member(c, org.id, username)?.map(|m| m.teams).unwrap_or_default();
                all.retain(|(t, _)| of.contains(&t.name));
            }
            if let Some(search) = q.search.as_deref().map(|s| s.trim().to_lowercase()) {
                all.retain(|(t, _)| t.name.contains(&search));
            }
            Ok((org, all))
        })
        .await?;
    let (rows, total) = page_of(all, page, size);
    Ok(paged(&app, &format!("/orgs/{}/groups", org.name), page, size, total, rows.iter().map(|(t, n)| group_object(t, *n)).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /v2/orgs/{org}/groups` `{name, description}`: owners create a group.
pub async fn create(app: web::Data<AppState>, by: Changer, org: web::Path<String>, ApiJson(body): ApiJson<GroupBody>) -> Result<HttpResponse, ApiError> {
    let name = org.into_inner();
    let team =
        app.db(move |c| by.change(c, &name, Need::Owner, |c, org, _| teams::create(c, org, &body.name, body.description.as_deref().unwrap_or(""), &by.actor, by.now))).await?;
    Ok(HttpResponse::Created().json(group_object(&team, 0)))
}

/// `GET /v2/orgs/{org}/groups/{group}`: one group, for members.
pub async fn one(app: web::Data<AppState>, who: ApiUser, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let ((name, group), uid) = (path.into_inner(), who.user.id);
    let found = app
        .db(move |c| {
            let (org, _) = role_in(c, &name, uid, Need::Member)?;
            let team = team(c, &org, &group)?;
            counted(c, &team)
        })
        .await?;
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

async fn update(app: &AppState, by: Changer, path: (String, String), body: GroupPatch) -> Result<HttpResponse, ApiError> {
    let (name, group) = path;
    let changed = app
        .db(move |c| {
            by.change(c, &name, Need::Owner, |c, org, _| {
                let mut team = team(c, org, &group)?;
                if body.name.is_some() || body.description.is_some() {
                    team = teams::update(c, org, &team, body.name.as_deref(), body.description.as_deref(), &by.actor, by.now)?;
                }
                counted(c, &team)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(changed))
}

/// `PUT /v2/orgs/{org}/groups/{group}` `{name, description}`: owners rename or describe a group.
pub async fn replace(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>, ApiJson(body): ApiJson<GroupBody>) -> Result<HttpResponse, ApiError> {
    update(&app, by, path.into_inner(), GroupPatch { name: Some(body.name), description: body.description }).await
}

/// `PATCH /v2/orgs/{org}/groups/{group}` `{name?, description?}`: the same, each part optional.
pub async fn patch(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>, ApiJson(body): ApiJson<GroupPatch>) -> Result<HttpResponse, ApiError> {
    update(&app, by, path.into_inner(), body).await
}

/// `DELETE /v2/orgs/{org}/groups/{group}`: owners delete a group; its members lose what it
/// granted at their next request.
pub async fn delete(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, group) = path.into_inner();
    app.db(move |c| {
        by.change(c, &name, Need::Owner, |c, org, _| {
            let team = team(c, org, &group)?;
            teams::delete(c, org, &team, &by.actor, by.now)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    search: Option<String>,
}

/// Whether a request comes from Docker's Hub CLI (`User-Agent: hub-tool/<version>`), which
/// reads a group's members as a bare JSON array (Docker Hub's answer when it wrote them).
fn from_hub_cli(req: &HttpRequest) -> bool {
    let agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    agent.split(['/', ' ']).next().is_some_and(|product| product.eq_ignore_ascii_case("hub-tool"))
}

/// Members the Hub CLI's bare array holds at most.
pub const BARE_MEMBERS_MAX: i64 = 10_000;

/// `GET /v2/orgs/{org}/groups/{group}/members`: one page of a group's members (`search` in
/// the username), for members; email addresses only when an owner asks. The Hub CLI,
/// asking with no `page` nor `page_size`, gets every member as a bare array, the shape it
/// parses; everyone else, and the CLI too when it asks for a page, gets the paged object.
pub async fn members(
    app: web::Data<AppState>,
    who: ApiUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    p: web::Query<ApiPage>,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let bare = from_hub_cli(&req) && !p.is_given();
    // the bare array is bounded too: a team of tens of thousands would be one unbounded
    // read (and, on SQLite, more bound parameters than a statement takes)
    let (page, size) = if bare { (1, BARE_MEMBERS_MAX) } else { p.get()? };
    let ((name, group), uid, search) = (path.into_inner(), who.user.id, q.into_inner().search);
    let (org, team, caller, (rows, total), ids) = app
        .db(move |c| {
            let (org, caller) = role_in(c, &name, uid, Need::Member)?;
            let team = team(c, &org, &group)?;
            let found = teams::member_page(c, &team, search.as_deref(), page, size)?;
            let ids = AccountIds::of(c, found.0.iter().map(|u| u.id))?;
            Ok((org, team, caller, found, ids))
        })
        .await?;
    let results: Vec<Value> = rows.iter().map(|u| group_member_object(u, &ids, caller == Role::Owner)).collect();
    if bare {
        return Ok(HttpResponse::Ok().json(results));
    }
    Ok(paged(&app, &format!("/orgs/{}/groups/{}/members", org.name, team.name), page, size, total, results))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    member: String,
}

/// `POST /v2/orgs/{org}/groups/{group}/members` `{"member": username}`: owners add a member
/// of the organization to a group.
pub async fn add_member(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>, ApiJson(body): ApiJson<MemberBody>) -> Result<HttpResponse, ApiError> {
    let (name, group) = path.into_inner();
    let user = app
        .db(move |c| {
            by.change(c, &name, Need::Owner, |c, org, _| {
                let team = team(c, org, &group)?;
                teams::add_member(c, org, &team, &body.member, &by.actor, by.now)?;
                let user = crate::accounts::find_by_username(c, &body.member)?.ok_or(Error::NotFound)?;
                let ids = AccountIds::of(c, [user.id])?;
                Ok((user, ids))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(group_member_object(&user.0, &user.1, true)))
}

/// `DELETE /v2/orgs/{org}/groups/{group}/members/{username}`: owners take a user out of a group.
pub async fn remove_member(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, group, username) = path.into_inner();
    app.db(move |c| {
        by.change(c, &name, Need::Owner, |c, org, _| {
            let team = team(c, org, &group)?;
            teams::remove_member(c, org, &team, &username, &by.actor, by.now)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v2/orgs/{org}/groups/{group}/repositories/`: what the group holds on which of the
/// organization's repositories, a bare array as Docker Hub answers, `repository` the name
/// without the namespace. For owners and editors, and for the group's own members; a
/// caller who sees public repositories only (`public_only`) sees those.
pub async fn repositories(app: web::Data<AppState>, who: ApiUser, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let ((name, group), uid, credential) = (path.into_inner(), who.user.id, who.credential());
    let (org, held) = app
        .db(move |c| {
            let (org, role) = role_in(c, &name, uid, Need::Member)?;
            let team = team(c, &org, &group)?;
            if !role.manages_repositories() && !teams::members(c, &team)?.iter().any(|(id, _)| *id == uid) {
                return Err(Error::denied("Only owners, editors and the group's own members can see its repositories."));
            }
            let mut held = teams::permissions(c, &team)?;
            if public_only(c, &org, &credential)? {
                let public: Vec<String> = crate::repositories::list(c, org.id)?.into_iter().filter(|r| r.is_public).map(|r| r.name).collect();
                held.retain(|(repo, _)| public.contains(repo));
            }
            Ok((org, held))
        })
        .await?;
    let prefix = format!("{}/", org.name);
    Ok(HttpResponse::Ok().json(
        held.iter().map(|(repo, p)| json!({ "namespace": org.name, "repository": repo.strip_prefix(&prefix).unwrap_or(repo), "permission": p.as_str() })).collect::<Vec<_>>(),
    ))
}

/// Docker Hub's repository-group object.
fn grant_object(team: &Team, permission: Permission) -> Value {
    json!({ "group_id": team.id, "group_name": team.name, "permission": permission.as_str() })
}

/// Whether the caller sees only the organization's public repositories, as the listings
/// decide (`repositories::sight`): through a "Public Repo Read-only" credential, or as a
/// member the organization's two-factor rule refuses. A listing never names what `/token`
/// would refuse.
fn public_only(conn: &mut Conn, org: &Owner, credential: &Credential) -> Result<bool, Error> {
    Ok(crate::repositories::sight(conn, credential.user_id(), org, reaches_private_repositories(credential))? == Sight::PublicOnly)
}

/// The organization's repository `{org}/{repo}`; a private one only for a caller who sees
/// private repositories (`public_only`).
fn repository_in(conn: &mut Conn, org: &Owner, repo: &str, credential: &Credential) -> Result<Repository, Error> {
    let found = crate::repositories::find(conn, org.id, &format!("{}/{}", org.name, repo.trim_matches('/')))?.ok_or(Error::NotFound)?;
    if !found.is_public && public_only(conn, org, credential)? {
        return Err(Error::NotFound);
    }
    Ok(found)
}

fn parse_permission(raw: &str) -> Result<Permission, Error> {
    Permission::parse(raw).ok_or_else(|| Error::invalid_field("permission", "Choose read, write or admin."))
}

/// The group a body names by `group_id` or `group_name` (both, when given, must name the
/// same group); `None` when it names none. Docker Hub's clients send `0` and `""` for the
/// one they leave out.
fn named_team(conn: &mut Conn, org: &Owner, id: Option<i64>, name: Option<&str>) -> Result<Option<Team>, Error> {
    let by_id = match id.filter(|i| *i != 0) {
        Some(i) => {
            let found = match i32::try_from(i) {
                Ok(i) => teams::find_by_id(conn, org.id, i)?,
                Err(_) => None,
            };
            Some(found.ok_or_else(|| Error::invalid_field("group_id", "No group of this organization has that id."))?)
        }
        None => None,
    };
    let by_name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => Some(teams::find(conn, org.id, n)?.ok_or_else(|| Error::invalid_field("group_name", "No group of this organization has that name."))?),
        None => None,
    };
    match (by_id, by_name) {
        (Some(a), Some(b)) if a.id != b.id => Err(Error::invalid("group_id and group_name name two different groups.")),
        (a, b) => Ok(a.or(b)),
    }
}

/// `GET /v2/repositories/{namespace}/{repo}/groups/`: the groups holding a permission on one
/// of the organization's repositories, by name; for owners and editors.
pub async fn of_repository(app: web::Data<AppState>, who: ApiUser, path: web::Path<(String, String)>, p: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    let (page, size) = p.get()?;
    let ((namespace, repo), uid, credential) = (path.into_inner(), who.user.id, who.credential());
    let (full, held) = app
        .db(move |c| {
            let (org, _) = role_in(c, &namespace, uid, Need::Editor)?;
            let repository = repository_in(c, &org, &repo, &credential)?;
            Ok((repository.name, teams::on_repository(c, repository.id)?))
        })
        .await?;
    let (rows, total) = page_of(held, page, size);
    Ok(paged(&app, &format!("/repositories/{full}/groups/"), page, size, total, rows.iter().map(|(t, p)| grant_object(t, *p)).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    group_name: Option<String>,
    permission: String,
}

/// `POST /v2/repositories/{namespace}/{repo}/groups/` `{"group_id", "permission"}`: owners and
/// editors give a group read, write or admin on the repository (or change what it has).
/// 200, as Docker Hub answers.
pub async fn grant(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>, ApiJson(body): ApiJson<GrantBody>) -> Result<HttpResponse, ApiError> {
    let ((namespace, repo), credential) = (path.into_inner(), by.who.credential());
    let (team, permission) = app
        .db(move |c| {
            by.change(c, &namespace, Need::Editor, |c, org, _| {
                let repository = repository_in(c, org, &repo, &credential)?;
                let permission = parse_permission(&body.permission)?;
                let team =
                    named_team(c, org, body.group_id, body.group_name.as_deref())?.ok_or_else(|| Error::invalid_field("group_id", "Name the group: group_id (or group_name)."))?;
                teams::set_permission(c, org, &team, &repository.name, permission, &by.actor, by.now)?;
                Ok((team, permission))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(grant_object(&team, permission)))
}

/// The group `group_id` and what it holds on the repository; `NotFound` when it holds nothing.
fn held_by(conn: &mut Conn, repository: &Repository, group_id: i32) -> Result<(Team, Permission), Error> {
    teams::on_repository(conn, repository.id)?.into_iter().find(|(t, _)| t.id == group_id).ok_or(Error::NotFound)
}

/// `GET /v2/repositories/{namespace}/{repo}/groups/{group_id}`: what one group holds on the
/// repository; 404 when it holds nothing.
pub async fn grant_of(app: web::Data<AppState>, who: ApiUser, path: web::Path<(String, String, i32)>) -> Result<HttpResponse, ApiError> {
    let ((namespace, repo, group_id), uid, credential) = (path.into_inner(), who.user.id, who.credential());
    let (team, permission) = app
        .db(move |c| {
            let (org, _) = role_in(c, &namespace, uid, Need::Editor)?;
            let repository = repository_in(c, &org, &repo, &credential)?;
            held_by(c, &repository, group_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(grant_object(&team, permission)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantPatch {
    #[serde(default)]
    group_id: Option<i64>,
    #[serde(default)]
    group_name: Option<String>,
    permission: String,
}

/// `PATCH /v2/repositories/{namespace}/{repo}/groups/{group_id}` `{"permission"}`: changes what
/// a group holds on the repository; 404 when it holds nothing yet.
pub async fn change_grant(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String, i32)>, ApiJson(body): ApiJson<GrantPatch>) -> Result<HttpResponse, ApiError> {
    let ((namespace, repo, group_id), credential) = (path.into_inner(), by.who.credential());
    let (team, permission) = app
        .db(move |c| {
            by.change(c, &namespace, Need::Editor, |c, org, _| {
                let repository = repository_in(c, org, &repo, &credential)?;
                let (team, _) = held_by(c, &repository, group_id)?;
                let permission = parse_permission(&body.permission)?;
                if named_team(c, org, body.group_id, body.group_name.as_deref())?.is_some_and(|t| t.id != team.id) {
                    return Err(Error::invalid("The body names another group than the path."));
                }
                teams::set_permission(c, org, &team, &repository.name, permission, &by.actor, by.now)?;
                Ok((team, permission))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(grant_object(&team, permission)))
}

/// `DELETE /v2/repositories/{namespace}/{repo}/groups/{group_id}`: owners and editors take a
/// group's permission on the repository away.
pub async fn revoke(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String, i32)>) -> Result<HttpResponse, ApiError> {
    let ((namespace, repo, group_id), credential) = (path.into_inner(), by.who.credential());
    app.db(move |c| {
        by.change(c, &namespace, Need::Editor, |c, org, _| {
            let repository = repository_in(c, org, &repo, &credential)?;
            let (team, _) = held_by(c, &repository, group_id)?;
            teams::revoke_permission(c, org, &team, &repository.name, &by.actor, by.now)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
