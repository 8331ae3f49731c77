//! An organization's repositories as its owners and editors manage them: created ahead of
//! the first push, made public or private, each change written to the audit log in its
//! transaction (a delete, which reaches the registry, is `registry_events::delete`'s).
//! Members of another role are refused (`as_editor`).

use super::events::{self, Action};
use super::{Actor, as_editor};
use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;

/// Creates `{org}/{path}` (private unless `public`), for an owner or editor of `org`.
pub fn create(conn: &mut Conn, org: &str, user_id: i32, path: &str, public: bool, actor: &Actor, now: Timestamp) -> Result<String, Error> {
    crate::db::write_tx(conn, |conn| {
        let (org, _) = as_editor(conn, org, user_id)?;
        let name = crate::repositories::create(conn, &org, path, public, now)?;
        events::record(conn, org.id, Action::RepoCreated, &name, actor, serde_json::json!({ "is_private": (!public).to_string() }), now)?;
        Ok(name)
    })
}

/// Makes one of the organization's repositories public or private.
pub fn set_public(conn: &mut Conn, org: &str, user_id: i32, name: &str, public: bool, actor: &Actor, now: Timestamp) -> Result<(), Error> {
    crate::db::write_tx(conn, |conn| {
        let (org, _) = as_editor(conn, org, user_id)?;
        let was = crate::repositories::find(conn, org.id, name)?.ok_or(Error::NotFound)?;
        if was.is_public == public {
            return Ok(());
        }
        crate::repositories::set_public(conn, org.id, name, public)?;
        events::record(conn, org.id, Action::RepoPrivacyChanged, name, actor, serde_json::json!({ "is_private": (!public).to_string() }), now)
    })
}
