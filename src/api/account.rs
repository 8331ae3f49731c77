//! `GET /v2/user`: the caller's profile (readable with a PAT-derived JWT too), and
//! `GET /v2/repositories/{namespace}/`: a namespace's repositories as the caller may see them.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::{ApiError, ApiPage, ApiReader, ApiUser, page_links};
use crate::app::AppState;
use crate::registry::grants::Credential;
use crate::repositories::Order;

pub fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `GET /v2/user/`: Docker Hub's account object of the caller (`id` is their namespace's,
/// the id `/api/billing/v4/accounts/{id}/hub-plan` takes), with the email address and
/// the plan.
pub async fn profile(app: web::Data<AppState>, who: ApiUser) -> Result<HttpResponse, ApiError> {
    let u = &who.user;
    let uid = u.id;
    // the plan and the account id are the user's own namespace's
    let home = app.db(move |c| crate::owners::of_user(c, uid)).await?;
    Ok(HttpResponse::Ok().json(super::orgs::account_object(home.id.0, "User", u.created_at, json!({ "username": u.username, "email": u.email, "plan": home.plan }))))
}

/// `GET /v2/repositories/{namespace}/`: the public repositories, and the private ones the
/// caller may pull (`repositories::sight`: their own namespace, an organization's as its
/// owner, editor or through a team, a repository they collaborate on) unless the
/// credential is Public Repo Read-only. Readable with a PAT-derived JWT; with an
/// organization access token's, what its resources let it pull. An unknown namespace lists
/// nothing.
/// The listing's order, as Docker Hub's `ordering` names it (`repositories::Order::from_hub`).
#[derive(Debug, serde::Deserialize)]
pub struct OrderingQuery {
    ordering: Option<String>,
}

pub async fn repositories(
    app: web::Data<AppState>,
    who: ApiReader,
    namespace: web::Path<String>,
    q: web::Query<ApiPage>,
    o: web::Query<OrderingQuery>,
) -> Result<HttpResponse, ApiError> {
    let (page, size) = q.get()?;
    let order = match o.ordering.as_deref() {
        None => Order::Name,
        Some(raw) => Order::from_hub(raw).ok_or_else(|| ApiError::bad_request(format!("Unknown ordering {}: use last_updated, -last_updated, name or -name.", json!(raw))))?,
    };
    let namespace = namespace.into_inner().to_lowercase();
    let (ns, credential) = (namespace.clone(), who.credential());
    let (rows, total) = app
        .db(move |c| {
            let Some(owner) = crate::owners::find_by_name(c, &ns)? else { return Ok((Vec::new(), 0)) };
            if let Credential::OrgToken { org, resources, .. } = &credential {
                return crate::org_tokens::repositories_seen(c, *org, resources, owner.id, order, page, size);
            }
            let private_allowed = crate::registry::grants::reaches_private_repositories(&credential);
            let sight = crate::repositories::sight(c, credential.user_id(), &owner, private_allowed)?;
            crate::repositories::visible(c, owner.id, sight, order, page, size)
        })
        .await?;
    let (next, previous) = page_links(&format!("{}/v2/repositories/{namespace}/", app.public_url), page, size, total);
    Ok(HttpResponse::Ok().json(json!({
        "count": total,
        "next": next,
        "previous": previous,
        "results": rows.iter().map(|r| json!({
            "name": r.name.split_once('/').map(|(_, n)| n).unwrap_or(&r.name),
            "namespace": namespace,
            "is_private": !r.is_public,
            "last_updated": r.last_push_at.map(iso),
        })).collect::<Vec<_>>(),
    })))
}
