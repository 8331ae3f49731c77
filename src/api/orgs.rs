//! Organizations in Docker Hub's shapes: `GET /v2/user/orgs/` (the caller's), `GET
//! /v2/orgs/{org}` (members only), and the members: list, change a role, remove (or leave).
//! The caller's role is read afresh on every request (`orgs::as_member` and its kin), and
//! a change reads it in the transaction of the change, after locking the organization's
//! row, so a removal or demotion counts at the next request. Reading is open to a
//! PAT-derived JWT of a member; every change needs a password-derived one.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::{ApiError, ApiJson, ApiPage, ApiUser, page_links};
use crate::Error;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::http::ClientInfo;
use crate::orgs::{self, Actor, Member};
use crate::owners::{Owner, Role};

/// What a call needs of the caller's role in the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Member,
    Editor,
    Owner,
}

/// The organization `name` and the caller's role in it, when the role meets `need`:
/// `NotFound` for anyone who is not a member, `Denied` for a member of a narrower role.
pub fn role_in(conn: &mut Conn, name: &str, user_id: i32, need: Need) -> Result<(Owner, Role), Error> {
    match need {
        Need::Member => orgs::as_member(conn, name, user_id),
        Need::Editor => orgs::as_editor(conn, name, user_id),
        Need::Owner => orgs::as_owner(conn, name, user_id).map(|org| (org, Role::Owner)),
    }
}

/// Runs a change to organization `name` in one write transaction that locks the
/// organization's row before reading the caller's role: a role change or removal that
/// commits meanwhile is seen (both take the same lock), never a role read before it.
pub fn change<T>(conn: &mut Conn, name: &str, user_id: i32, need: Need, f: impl FnOnce(&mut Conn, &Owner, Role) -> Result<T, Error>) -> Result<T, Error> {
    crate::db::write_tx(conn, |conn| {
        if let Some(org) = orgs::find(conn, name)? {
            crate::db::lock_owner(conn, org.id.0)?;
        }
        let (org, role) = role_in(conn, name, user_id, need)?;
        f(conn, &org, role)
    })
}

/// Whoever changes an organization, checked at the door: a JWT the password bought (a
/// token-derived one changes nothing in an organization: 403 before anything is read),
/// the actor the log names, and the time. Its role is read later, in the change's
/// transaction (`Changer::change`).
pub struct Changer {
    pub who: ApiUser,
    pub actor: Actor,
    pub now: Timestamp,
}

impl Changer {
    /// `change` as this caller.
    pub fn change<T>(&self, conn: &mut Conn, org: &str, need: Need, f: impl FnOnce(&mut Conn, &Owner, Role) -> Result<T, Error>) -> Result<T, Error> {
        change(conn, org, self.who.user.id, need, f)
    }
}

impl FromRequest for Changer {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = ApiUser::from_request(req, payload);
        let info = ClientInfo::from_request(req, payload);
        let app = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
        Box::pin(async move {
            let who = who.await?;
            who.require_password()?;
            let actor = Actor::user(&who.user, &info.await?.client);
            Ok(Changer { who, actor, now: app.now() })
        })
    }
}

/// Docker Hub's account object, of a user or an organization: Berth keeps no profile, so
/// its fields are blank; `own` adds what the kind has.
pub fn account_object(id: i32, kind: &str, joined: Timestamp, own: Value) -> Value {
    let mut v = json!({
        "id": id.to_string(),
        "full_name": "",
        "company": "",
        "location": "",
        "profile_url": "",
        "gravatar_url": "",
        "gravatar_email": "",
        "type": kind,
        "date_joined": iso(joined),
    });
    if let (Some(fields), Value::Object(own)) = (v.as_object_mut(), own) {
        fields.extend(own);
    }
    v
}

/// Docker Hub's organization object, with the caller's role and the plan (Berth's).
pub fn org_object(org: &Owner, role: Role) -> Value {
    let own = json!({ "orgname": org.name, "is_active": true, "role": role.title(), "plan": org.plan, "require_two_factor": org.require_two_factor });
    account_object(org.id.0, "Organization", org.created_at, own)
}

/// The account ids of users, as `account_object` shows them: their own namespaces' ids, so
/// a user and an organization never share one (every user has a namespace: a missing one
/// reads 0, which no account has).
pub struct AccountIds(std::collections::HashMap<i32, crate::owners::OwnerId>);

impl AccountIds {
    pub fn of(conn: &mut Conn, user_ids: impl IntoIterator<Item = i32>) -> Result<AccountIds, Error> {
        Ok(AccountIds(crate::owners::namespace_ids(conn, &user_ids.into_iter().collect::<Vec<_>>())?))
    }
    pub fn get(&self, user_id: i32) -> i32 {
        self.0.get(&user_id).map_or(0, |o| o.0)
    }
}

/// Docker Hub's member object: `date_joined` is when they joined the organization. The
/// email address only for an owner's eyes.
pub fn member_object(m: &Member, ids: &AccountIds, with_email: bool) -> Value {
    let mut v = account_object(ids.get(m.user_id), "User", m.joined_at, json!({ "username": m.username, "role": m.role.title(), "groups": m.teams, "is_guest": false }));
    if with_email {
        v["email"] = json!(m.email);
    }
    v
}

/// One page out of a list held whole: (the page, the total).
pub fn page_of<T>(all: Vec<T>, page: i64, size: i64) -> (Vec<T>, i64) {
    let total = all.len() as i64;
    let skip = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
    (all.into_iter().skip(skip).take(size as usize).collect(), total)
}

/// Docker Hub's paged list: `count`, `next`, `previous`, `results`.
pub fn paged(app: &AppState, path: &str, page: i64, size: i64, total: i64, results: Vec<Value>) -> HttpResponse {
    let (next, previous) = page_links(&format!("{}/v2{path}", app.public_url), page, size, total);
    HttpResponse::Ok().json(json!({ "count": total, "next": next, "previous": previous, "results": results }))
}

/// `GET /v2/user/orgs/`: the organizations the caller belongs to, by name, with the role in each.
pub async fn of_user(app: web::Data<AppState>, who: ApiUser, q: web::Query<ApiPage>) -> Result<HttpResponse, ApiError> {
    let (page, size) = q.get()?;
    let uid = who.user.id;
    let all = app.db(move |c| orgs::of_user(c, uid)).await?;
    let (rows, total) = page_of(all, page, size);
    Ok(paged(&app, "/user/orgs/", page, size, total, rows.iter().map(|(o, r)| org_object(o, *r)).collect()))
}

/// `GET /v2/orgs/{org}`: for its members; anyone else gets 404.
pub async fn one(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (name, uid) = (org.into_inner(), who.user.id);
    let (org, role) = app.db(move |c| role_in(c, &name, uid, Need::Member)).await?;
    Ok(HttpResponse::Ok().json(org_object(&org, role)))
}

/// The member list's filters; the page comes in the same query string (`ApiPage`).
#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    search: Option<String>,
    role: Option<String>,
}

/// A role as typed in a query or a body: `owner`, `editor` or `member`.
pub fn parse_role(field: &'static str, raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>().map_err(|_| ApiError::bad_request(format!("Unknown {field} {}: use owner, editor or member.", json!(raw))))
}

/// `GET /v2/orgs/{org}/members`: one page of the members (`search` in the username, `role`),
/// for members. Email addresses only when an owner asks.
pub async fn members(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>, p: web::Query<ApiPage>, q: web::Query<MembersQuery>) -> Result<HttpResponse, ApiError> {
    let (page, size) = p.get()?;
    let role = q.role.as_deref().map(|r| parse_role("role", r)).transpose()?;
    let (name, uid, search) = (org.into_inner(), who.user.id, q.search.clone());
    let (org, caller, (rows, total), ids) = app
        .db(move |c| {
            let (org, caller) = role_in(c, &name, uid, Need::Member)?;
            let found = orgs::members(c, org.id, search.as_deref(), role, page, size)?;
            let ids = AccountIds::of(c, found.0.iter().map(|m| m.user_id))?;
            Ok((org, caller, found, ids))
        })
        .await?;
    let results = rows.iter().map(|m| member_object(m, &ids, caller == Role::Owner)).collect();
    Ok(paged(&app, &format!("/orgs/{}/members", org.name), page, size, total, results))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

/// `PUT /v2/orgs/{org}/members/{username}` `{"role": …}`: owners change a member's role.
/// The last owner keeps theirs.
pub async fn set_role(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>, ApiJson(body): ApiJson<RoleBody>) -> Result<HttpResponse, ApiError> {
    let role = parse_role("role", &body.role)?;
    let (name, username) = path.into_inner();
    let (member, ids) = app
        .db(move |c| {
            by.change(c, &name, Need::Owner, |c, org, _| {
                orgs::set_role(c, org, &username, role, &by.actor, by.now)?;
                let member = orgs::member(c, org.id, &username)?.ok_or(Error::NotFound)?;
                let ids = AccountIds::of(c, [member.user_id])?;
                Ok((member, ids))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(member_object(&member, &ids, true)))
}

/// `DELETE /v2/orgs/{org}/members/{username}`: an owner removes a member; any member may
/// remove themselves (leave). The last owner can do neither.
pub async fn remove(app: web::Data<AppState>, by: Changer, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, username) = path.into_inner();
    let leaving = username.trim().eq_ignore_ascii_case(&by.who.user.username);
    let need = if leaving { Need::Member } else { Need::Owner };
    app.db(move |c| by.change(c, &name, need, |c, org, _| orgs::remove_member(c, org, &username, &by.actor, by.now))).await?;
    Ok(HttpResponse::NoContent().finish())
}
