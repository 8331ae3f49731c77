//! An organization's audit log in Docker Hub's shape: `GET /v2/auditlogs/{org}` (owners;
//! filtered by `action`, `name`, `actor`, `from`, `to`, newest first) and `GET
//! /v2/auditlogs/{org}/actions`, the actions it may hold, grouped as Docker Hub groups them.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::account::iso;
use super::orgs::{Need, role_in};
use super::{ApiError, ApiPage, ApiUser, page_links};
use crate::app::AppState;
use crate::orgs::events::{self, Action, Entry, Filter};

/// The label Docker Hub shows beside an action.
fn label(action: Action) -> &'static str {
    match action {
        Action::OrgCreated => "Organization Created",
        Action::OrgSettingsChanged => "Organization Settings Changed",
        Action::MemberInvited => "Member Invited",
        Action::InviteRevoked => "Invitation Revoked",
        Action::InviteDeclined => "Invitation Declined",
        Action::MemberJoined => "Member Joined",
        Action::MemberLeft => "Member Left",
        Action::MemberRemoved => "Organization Member Removed",
        Action::MemberRoleChanged => "Member Role Changed",
        Action::TeamCreated => "Team Created",
        Action::TeamChanged => "Team Changed",
        Action::TeamDeleted => "Team Deleted",
        Action::TeamMemberAdded => "Team Member Added",
        Action::TeamMemberRemoved => "Team Member Removed",
        Action::PermissionGranted => "Team Permission Granted",
        Action::PermissionChanged => "Team Permission Changed",
        Action::PermissionRevoked => "Team Permission Revoked",
        Action::RepoCreated => "Repository Created",
        Action::RepoDeleted => "Repository Deleted",
        Action::RepoPrivacyChanged => "Privacy Changed",
        Action::TokenCreated => "Access Token Created",
        Action::TokenChanged => "Access Token Changed",
        Action::TokenActivated => "Access Token Activated",
        Action::TokenDeactivated => "Access Token Deactivated",
        Action::TokenDeleted => "Access Token Deleted",
        Action::TokenUsedFromNewIp => "Access Token Used From a New IP",
    }
}

/// Docker Hub's groups of actions: a repository's, and the organization's (everything else).
fn group_of(action: Action) -> &'static str {
    if action.as_str().starts_with("repo.") { "repo" } else { "org" }
}

/// `GET /v2/auditlogs/{org}/actions`: every action the log records, for owners.
pub async fn actions(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (name, uid) = (org.into_inner(), who.user.id);
    app.db(move |c| role_in(c, &name, uid, Need::Owner)).await?;
    let mut groups = Map::new();
    for (key, title) in [("org", "Organization"), ("repo", "Repository")] {
        let listed: Vec<Value> =
            Action::ALL.into_iter().filter(|a| group_of(*a) == key).map(|a| json!({ "name": a.as_str(), "description": a.description(), "label": label(a) })).collect();
        groups.insert(key.into(), json!({ "actions": listed, "label": title }));
    }
    Ok(HttpResponse::Ok().json(json!({ "actions": groups })))
}

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    action: Option<String>,
    name: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn instant(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|r| {
        chrono::DateTime::parse_from_rfc3339(r.trim())
            .map(|t| t.timestamp())
            .map_err(|_| ApiError::bad_request(format!("Invalid {field}: use an RFC 3339 time, e.g. 2026-12-01T00:00:00Z.")))
    })
    .transpose()
}

/// An entry's details as Docker Hub gives them: a map of strings (what was recorded
/// without a value is left out).
fn details(entry: &Entry) -> Value {
    let recorded: Map<String, Value> = serde_json::from_str(&entry.data).unwrap_or_default();
    let strings: Map<String, Value> = recorded
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, Value::String(s))),
            other => Some((k, Value::String(other.to_string()))),
        })
        .collect();
    Value::Object(strings)
}

/// `GET /v2/auditlogs/{org}`: one page of the organization's log, newest first (25 a page
/// unless asked), for owners. Berth adds `count`, `next` and `previous`.
pub async fn logs(app: web::Data<AppState>, who: ApiUser, org: web::Path<String>, p: web::Query<ApiPage>, q: web::Query<LogQuery>) -> Result<HttpResponse, ApiError> {
    let (page, size) = p.get_or(25)?;
    let q = q.into_inner();
    let action = match q.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(Action::parse(a).ok_or_else(|| ApiError::bad_request(format!("Unknown action {}: /v2/auditlogs/{{org}}/actions lists them.", json!(a))))?),
        None => None,
    };
    let filter = Filter {
        action,
        name: q.name.filter(|n| !n.trim().is_empty()),
        actor: q.actor.filter(|a| !a.trim().is_empty()),
        from: instant("from", q.from.as_deref())?,
        to: instant("to", q.to.as_deref())?,
    };
    let (name, uid) = (org.into_inner(), who.user.id);
    let (org, (rows, total)) = app
        .db(move |c| {
            let (org, _) = role_in(c, &name, uid, Need::Owner)?;
            let found = events::list(c, org.id, &filter, page, size)?;
            Ok((org, found))
        })
        .await?;
    let logs: Vec<Value> = rows
        .iter()
        .map(|e| {
            json!({
                "account": org.name,
                "action": e.action,
                "name": e.name,
                "actor": e.actor,
                "data": details(e),
                "timestamp": iso(e.created_at),
                "action_description": e.action().map(Action::description).unwrap_or(""),
            })
        })
        .collect();
    let (next, previous) = page_links(&format!("{}/v2/auditlogs/{}", app.public_url, org.name), page, size, total);
    Ok(HttpResponse::Ok().json(json!({ "logs": logs, "count": total, "next": next, "previous": previous })))
}
