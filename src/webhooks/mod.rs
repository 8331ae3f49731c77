//! Webhooks: URLs a repository's owner wants told of every push, as on Docker Hub. The
//! owner of a personal repository, or an owner or editor of an organization's, adds them;
//! each gets a secret, shown once and kept sealed, under which every delivery is signed
//! (HMAC-SHA256 of the body). A push queues one delivery per webhook (`delivery.rs`), which
//! a server instance sends with retries (`send.rs`); the delivery log is what the
//! repository's page shows.
//!
//! Addresses: only http(s), and never an address inside this network (loopback, private,
//! link-local, …) unless the operator allows it (`address.rs`), checked when the webhook
//! is added and again, against the addresses the name resolves to then, at every delivery.

pub mod address;
pub mod delivery;
pub mod send;

use diesel::prelude::*;
use secrecy::SecretString;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{users, webhooks};
use crate::keys::Keys;
use crate::repositories::Repository;

/// Webhooks one repository may hold.
pub const MAX_PER_REPOSITORY: i64 = 20;
/// Characters of a webhook's name.
pub const NAME_MAX: usize = 100;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: i32,
    pub repository_id: i32,
    pub name: String,
    pub url: String,
    pub created_at: Timestamp,
}

/// A webhook with who added it, for the repository's page.
#[derive(Debug, Clone)]
pub struct Listed {
    pub hook: Webhook,
    pub created_by: Option<String>,
}

/// 1–100 characters after trimming, no control or bidi characters.
pub fn check_name(input: &str) -> Result<String, Error> {
    let name = input.trim();
    if name.is_empty() {
        return Err(Error::invalid_field("name", "Give the webhook a name, e.g. \u{201c}CI\u{201d}."));
    }
    if name.chars().count() > NAME_MAX {
        return Err(Error::invalid_field("name", format!("The name can be at most {NAME_MAX} characters.")));
    }
    if let Some(hidden) = crate::text::hidden_controls(name) {
        return Err(Error::invalid_field("name", format!("The name {}", hidden.why())));
    }
    Ok(name.to_string())
}

/// Adds a webhook to `repo` (already checked with `repositories::managed_by`: who manages a
/// repository manages its webhooks) for `url`, already checked with `address::check`
/// against the addresses its host resolved to. Returns it and its
/// secret, the only time the secret is shown.
pub fn add(conn: &mut Conn, keys: &Keys, caller: i32, repo: &Repository, name: &str, url: &address::Checked, now: Timestamp) -> Result<(Webhook, SecretString), Error> {
    let name = check_name(name)?;
    let secret = crate::keys::random_token(32);
    let sealed = keys.seal_webhook_secret(repo.id, secret.as_bytes());
    let hook = crate::db::write_tx(conn, |c| {
        crate::db::lock_owner(c, repo.owner_id)?;
        let held: i64 = webhooks::table.filter(webhooks::repository_id.eq(repo.id)).count().get_result(c)?;
        if held >= MAX_PER_REPOSITORY {
            return Err(Error::invalid_field("url", format!("A repository can have at most {MAX_PER_REPOSITORY} webhooks. Delete one first.")));
        }
        let id = diesel::insert_into(webhooks::table)
            .values((
                webhooks::repository_id.eq(repo.id),
                webhooks::name.eq(&name),
                webhooks::url.eq(url.as_str()),
                webhooks::secret_sealed.eq(&sealed),
                webhooks::created_by.eq(caller),
                webhooks::created_at.eq(now),
            ))
            .returning(webhooks::id)
            .get_result(c)?;
        Ok(Webhook { id, repository_id: repo.id, name, url: url.as_str().to_string(), created_at: now })
    })?;
    Ok((hook, SecretString::from(secret)))
}

/// The webhooks of a repository, oldest first, with who added them.
pub fn list(conn: &mut Conn, repository_id: i32) -> Result<Vec<Listed>, Error> {
    let rows: Vec<(Webhook, Option<String>)> = webhooks::table
        .left_join(users::table.on(users::id.nullable().eq(webhooks::created_by)))
        .filter(webhooks::repository_id.eq(repository_id))
        .order(webhooks::id.asc())
        .select((Webhook::as_select(), users::username.nullable()))
        .load(conn)?;
    Ok(rows.into_iter().map(|(hook, created_by)| Listed { hook, created_by }).collect())
}

/// Deletes webhook `id` of `repo` (already checked with `repositories::managed_by`), and its log.
pub fn delete(conn: &mut Conn, repo: &Repository, id: i32) -> Result<Webhook, Error> {
    crate::db::write_tx(conn, |c| {
        let hook: Webhook =
            webhooks::table.filter(webhooks::id.eq(id)).filter(webhooks::repository_id.eq(repo.id)).select(Webhook::as_select()).first(c).optional()?.ok_or(Error::NotFound)?;
        diesel::delete(webhooks::table.filter(webhooks::id.eq(hook.id))).execute(c)?;
        Ok(hook)
    })
}
