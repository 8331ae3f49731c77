//! Invitations in Docker Hub's shapes: `POST /v2/invites/bulk` (owners invite usernames, one
//! status per invitee, `dry_run` to check only), `GET /v2/orgs/{org}/invites` (owners),
//! `DELETE /v2/invites/{id}` (an owner revokes, the invitee declines) and `PATCH
//! /v2/invites/{id}/resend` (seven days more). Berth's own, where Docker Hub accepts in its
//! web UI: `GET /v2/user/invites/` (the caller's open invitations) and `POST
//! /v2/invites/{id}/accept`. An unknown name answers exactly as a malformed one, so the call
//! tells nobody who has an account.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::iso;
use super::orgs::{Changer, Need, org_object, parse_role, role_in};
use super::{ApiError, ApiJson, ApiUser};
use crate::Error;
use crate::app::AppState;
use crate::orgs::invitations::{self, Invitation, Outcome, Shown};
use crate::orgs::teams;
use crate::owners::Role;

/// Most invitees one bulk call takes.
pub const MOST_INVITEES: usize = 100;

/// Docker Hub's invite object, with Berth's `expires_at`.
fn invite_object(i: &Invitation, org: &str, invitee: &str, team: Option<&str>) -> Value {
    json!({
        "id": i.uuid,
        "inviter_username": i.inviter_name,
        "invitee": invitee,
        "org": org,
        "team": team,
        "role": i.role().as_str(),
        "created_at": iso(i.created_at),
        "expires_at": iso(i.expires_at),
    })
}

fn shown_object(s: &Shown) -> Value {
    invite_object(&s.invitation, &s.org, &s.invitee, s.team.as_deref())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    org: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    role: Option<String>,
    invitees: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v2/invites/bulk`: owners invite up to 100 usernames at once, as `role` (member
/// unless said) and into `team` when given. 202 with one status per invitee: `invited`
/// (with the invite, unless a dry run), `existing_org_member`, `already_invited` (Berth's:
/// an open invitation exists), or `invalid_email_or_docker_id` for a malformed name, an
/// unknown one and a disabled account alike. An unknown team or role refuses the whole call.
pub async fn bulk(app: web::Data<AppState>, by: Changer, ApiJson(body): ApiJson<BulkBody>) -> Result<HttpResponse, ApiError> {
    if body.invitees.is_empty() {
        return Err(ApiError::bad_request("Name at least one invitee."));
    }
    if body.invitees.len() > MOST_INVITEES {
        return Err(ApiError::bad_request(format!("Invite at most {MOST_INVITEES} people at once.")));
    }
    let role = body.role.as_deref().map(|r| parse_role("role", r)).transpose()?.unwrap_or(Role::Member);
    let answers = app
        .db(move |c| {
            by.change(c, &body.org, Need::Owner, |c, org, _| {
                let team = match body.team.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    Some(t) => Some(teams::find(c, org.id, t)?.ok_or_else(|| Error::invalid_field("team", "No group of this organization has that name."))?.name),
                    None => None,
                };
                let mut answers = Vec::with_capacity(body.invitees.len());
                for typed in &body.invitees {
                    let outcome = invitations::invite(c, org, typed, role, team.as_deref(), &by.who.user, &by.actor, by.now, body.dry_run)?;
                    answers.push(match outcome {
                        Outcome::Invited(i) if body.dry_run || i.uuid.is_empty() => json!({ "invitee": typed, "status": "invited" }),
                        Outcome::Invited(i) => {
                            let name = crate::accounts::normalize_username(typed).unwrap_or_else(|_| typed.clone());
                            json!({ "invitee": typed, "status": "invited", "invite": invite_object(&i, &org.name, &name, team.as_deref()) })
                        }
                        Outcome::AlreadyMember => json!({ "invitee": typed, "status": "existing_org_member" }),
                        Outcome::AlreadyInvited => json!({ "invitee": typed, "status": "already_invited" }),
                        Outcome::Invalid => json!({ "invitee": typed, "status": "invalid_email_or_docker_id" }),
                    });
                }
                Ok(answers)
            })
        })
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "invitees": answers })))
}

/// `GET /v2/orgs/{org}/invites`: the organization's invitations, expired ones included (an
/// owner resends or revokes them), oldest first; for owners.
pub async fn of_org(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (name, uid) = (org.into_inner(), who.user.id);
    let all = app
        .db(move |c| {
            let (org, _) = role_in(c, &name, uid, Need::Owner)?;
            invitations::of_org(c, &org)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(shown_object).collect::<Vec<_>>() })))
}

/// `GET /v2/user/invites/` (Berth's): the invitations the caller may still accept.
pub async fn of_user(app: web::Data<AppState>, who: ApiUser) -> Result<HttpResponse, ApiError> {
    let (uid, now) = (who.user.id, app.now());
    let all = app.db(move |c| invitations::open_for(c, uid, now)).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(shown_object).collect::<Vec<_>>() })))
}

/// `DELETE /v2/invites/{id}`: the invitee declines, or an owner of the organization revokes.
pub async fn remove(app: web::Data<AppState>, by: Changer, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    app.db(move |c| match invitations::decline(c, &id, &by.who.user, &by.actor, by.now) {
        Err(Error::NotFound) => crate::db::write_tx(c, |c| {
            let (org, invitation) = invitations::of_org_by_uuid(c, &id, by.who.user.id)?;
            by.change(c, &org.name, Need::Owner, |c, org, _| invitations::revoke(c, org, &invitation, &by.actor, by.now))
        }),
        declined => declined,
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /v2/invites/{id}/resend`: an owner gives an invitation seven days from now.
pub async fn resend(app: web::Data<AppState>, by: Changer, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    app.db(move |c| {
        crate::db::write_tx(c, |c| {
            let (org, invitation) = invitations::of_org_by_uuid(c, &id, by.who.user.id)?;
            by.change(c, &org.name, Need::Owner, |c, _, _| invitations::resend(c, &invitation, by.now))
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v2/invites/{id}/accept` (Berth's): the invitee joins the organization with the
/// invitation's role. Joining changes what the caller's credentials reach, so it takes a JWT
/// the password bought, never one a token bought, of whatever kind (`Changer`).
pub async fn accept(app: web::Data<AppState>, by: Changer, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (org, role) = app
        .db(move |c| {
            let org = invitations::accept(c, &id, &by.who.user, &by.actor, by.now)?;
            let role = crate::orgs::role_of(c, org.id, by.who.user.id)?.ok_or(Error::NotFound)?;
            Ok((org, role))
        })
        .await?;
    Ok(HttpResponse::Ok().json(org_object(&org, role)))
}
