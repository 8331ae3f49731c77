//! Managing organization access tokens, by the organization's owners: creation within the
//! plan's limit, the list, changes of label, description and the active flag, and deletion.
//! Every change is one transaction with its entry in the organization's audit log; what
//! only an owner may do is checked again inside it.

use diesel::prelude::*;

use super::resources::Resources;
use super::{OrgToken, hint_shown};
use crate::Error;
use crate::accounts::User;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{org_access_tokens, owners};
use crate::orgs::events::{self, Action};
use crate::orgs::{self, Actor};
use crate::owners::{Owner, OwnerId, Plan, Role};
use crate::tokens::{PlainToken, TokenKind};

/// At most this many characters of description.
pub const DESCRIPTION_MAX: usize = 255;

/// How many organization access tokens an organization's plan allows (every token held
/// counts until deleted, active or not).
pub fn limit(plan: Plan) -> u32 {
    match plan {
        Plan::Team => 10,
        Plan::Business => 100,
        Plan::Personal | Plan::Pro => 0,
    }
}

/// The plan's limit, the one check of it: one more token must fit (`held` are held).
pub fn check_limit(org: &Owner) -> Result<(), Error> {
    let (plan, held, limit) = (org.plan(), org.token_count, limit(org.plan()));
    if held < i64::from(limit) {
        return Ok(());
    }
    let s = if limit == 1 { "" } else { "s" };
    Err(Error::denied(format!(
        "The {plan} plan of {name} allows {limit} organization access token{s}, and it holds {held}. Delete a token to create another (every token counts, active or not).",
        name = org.name
    )))
}

/// The label: the rule of a personal token's description (1–100 characters, no control or
/// bidi characters).
pub fn check_label(input: &str) -> Result<String, Error> {
    crate::tokens::check_token_name(input, "label")
}

/// The description: optional, at most `DESCRIPTION_MAX` characters, no control or bidi
/// characters.
pub fn check_description(input: &str) -> Result<String, Error> {
    let d = input.trim();
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(Error::invalid_field("description", format!("Use at most {DESCRIPTION_MAX} characters.")));
    }
    if let Some(hidden) = crate::text::hidden_controls(d) {
        return Err(Error::invalid_field("description", format!("The description {}", hidden.why())));
    }
    Ok(d.to_string())
}

pub struct NewOrgToken {
    pub label: String,
    pub description: String,
    pub resources: Resources,
    pub expires_at: Option<Timestamp>,
}

/// Refused unless `user_id` is an owner of `org` now: read in the transaction that acts,
/// so an owner demoted a moment ago changes nothing.
fn check_owner(conn: &mut Conn, org: OwnerId, user_id: i32) -> Result<(), Error> {
    match orgs::role_of(conn, org, user_id)? {
        Some(Role::Owner) => Ok(()),
        Some(_) => Err(Error::denied("Only an owner of the organization can manage its access tokens.")),
        None => Err(Error::NotFound),
    }
}

/// Creates a token of organization `org` for `creator`, one of its owners. Counting and
/// inserting happen in one write transaction that holds the organization's row, so
/// concurrent creations cannot pass the plan's limit together; every repository named
/// must be one of the organization's. Returns the token and its plaintext (shown once,
/// never stored).
pub fn create(conn: &mut Conn, org: OwnerId, creator: &User, new: NewOrgToken, actor: &Actor, now: Timestamp) -> Result<(OrgToken, PlainToken), Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.0)?;
        check_owner(conn, org, creator.id)?;
        let owner: Owner = owners::table.find(org.0).select(Owner::as_select()).first(conn)?;
        check_limit(&owner)?;
        for name in new.resources.named_repositories() {
            if !crate::registry::grants::valid_repository_name(name) || !crate::repositories::owns(conn, org, name)? {
                return Err(Error::invalid_field("resources", format!("{name} is not a repository of {}: a token names repositories the organization has.", owner.name)));
            }
        }
        let plain = PlainToken::generate_as(TokenKind::Organization);
        let id = diesel::insert_into(org_access_tokens::table)
            .values((
                org_access_tokens::uuid.eq(uuid::Uuid::new_v4().to_string()),
                org_access_tokens::owner_id.eq(org.0),
                org_access_tokens::label.eq(&new.label),
                org_access_tokens::description.eq(&new.description),
                org_access_tokens::resources.eq(new.resources.to_stored()),
                org_access_tokens::token_hash.eq(plain.hash().0.to_vec()),
                org_access_tokens::hint.eq(plain.hint()),
                org_access_tokens::created_by.eq(Some(creator.id)),
                org_access_tokens::created_by_name.eq(&creator.username),
                org_access_tokens::created_at.eq(now),
                org_access_tokens::expires_at.eq(new.expires_at),
            ))
            .returning(org_access_tokens::id)
            .get_result::<i32>(conn)?;
        // `MultiConnection` returns columns, not a `Selectable` struct: the row is read back
        let token = org_access_tokens::table.find(id).select(OrgToken::as_select()).first(conn)?;
        diesel::update(owners::table.find(org.0)).set(owners::token_count.eq(owners::token_count + 1)).execute(conn)?;
        let data = serde_json::json!({ "id": token.uuid, "token": hint_shown(&token.hint), "resources": new.resources.summary(), "expires_at": token.expires_at });
        events::record(conn, org, Action::TokenCreated, &token.label, actor, data, now)?;
        Ok((token, plain))
    })
}

/// One page of the organization's tokens, newest first (`page` from 1), and how many it holds.
pub fn list(conn: &mut Conn, org: OwnerId, page: i64, per_page: i64) -> Result<(Vec<OrgToken>, i64), Error> {
    let mine = || org_access_tokens::table.filter(org_access_tokens::owner_id.eq(org.0));
    let total = mine().count().get_result(conn)?;
    let rows = mine().order(org_access_tokens::id.desc()).offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(OrgToken::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One of the organization's tokens by its id (uuid): None when it does not exist or is
/// another organization's.
pub fn find(conn: &mut Conn, org: OwnerId, uuid: &str) -> Result<Option<OrgToken>, Error> {
    // no uuid holds a NUL, and PostgreSQL's text cannot carry one into the query
    if uuid.contains('\0') {
        return Ok(None);
    }
    Ok(org_access_tokens::table.filter(org_access_tokens::uuid.eq(uuid)).filter(org_access_tokens::owner_id.eq(org.0)).select(OrgToken::as_select()).first(conn).optional()?)
}

/// What a change may set; `None` leaves it as it is. Resources and expiry are fixed at
/// creation.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub label: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

/// Changes one of the organization's tokens, for `user_id`, one of its owners. An expired
/// token can only be deleted.
pub fn update(conn: &mut Conn, org: OwnerId, user_id: i32, uuid: &str, change: Change, actor: &Actor, now: Timestamp) -> Result<OrgToken, Error> {
    crate::db::write_tx(conn, |conn| {
        check_owner(conn, org, user_id)?;
        let token = find(conn, org, uuid)?.ok_or(Error::NotFound)?;
        if token.is_expired(now) {
            return Err(Error::Expired);
        }
        let target = org_access_tokens::table.filter(org_access_tokens::id.eq(token.id));
        let label = change.label.filter(|l| *l != token.label);
        let description = change.description.filter(|d| *d != token.description);
        if label.is_some() || description.is_some() {
            let (l, d) = (label.clone().unwrap_or_else(|| token.label.clone()), description.clone().unwrap_or_else(|| token.description.clone()));
            diesel::update(target).set((org_access_tokens::label.eq(&l), org_access_tokens::description.eq(&d))).execute(conn)?;
            let data =
                serde_json::json!({ "id": token.uuid, "label": label.map(|l| [token.label.clone(), l]), "description": description.map(|d| [token.description.clone(), d]) });
            events::record(conn, org, Action::TokenChanged, &token.label, actor, data, now)?;
        }
        if let Some(active) = change.active.filter(|a| *a != token.is_active) {
            diesel::update(target).set(org_access_tokens::is_active.eq(active)).execute(conn)?;
            let action = if active { Action::TokenActivated } else { Action::TokenDeactivated };
            events::record(conn, org, action, &token.label, actor, serde_json::json!({ "id": token.uuid, "token": hint_shown(&token.hint) }), now)?;
        }
        find(conn, org, uuid)?.ok_or(Error::NotFound)
    })
}

/// Deletes one of the organization's tokens, for `user_id`, one of its owners: it stops
/// working at once, and no longer counts against the plan's limit.
pub fn delete(conn: &mut Conn, org: OwnerId, user_id: i32, uuid: &str, actor: &Actor, now: Timestamp) -> Result<OrgToken, Error> {
    crate::db::write_tx(conn, |conn| {
        crate::db::lock_owner(conn, org.0)?;
        check_owner(conn, org, user_id)?;
        let token = find(conn, org, uuid)?.ok_or(Error::NotFound)?;
        diesel::delete(org_access_tokens::table.filter(org_access_tokens::id.eq(token.id))).execute(conn)?;
        diesel::update(owners::table.find(org.0)).set(owners::token_count.eq(owners::token_count - 1)).execute(conn)?;
        events::record(conn, org, Action::TokenDeleted, &token.label, actor, serde_json::json!({ "id": token.uuid, "token": hint_shown(&token.hint) }), now)?;
        Ok(token)
    })
}
