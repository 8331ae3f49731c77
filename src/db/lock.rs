//! The row locks a read-then-write takes on PostgreSQL, where write transactions run side
//! by side. On SQLite the write transaction already holds the database's one write lock
//! (`BEGIN IMMEDIATE`), so these do nothing there.

use diesel::prelude::*;

use super::Conn;
use super::schema::{owners, users};
use crate::Error;

/// Locks the row of the user's own namespace until the transaction ends: what is counted
/// or checked against it (its token count against the plan limit) stays as read until this
/// transaction commits. Call it first in the transaction.
pub fn lock_owner_of_user(conn: &mut Conn, user_id: i32) -> Result<(), Error> {
    if let Conn::Postgres(c) = conn {
        owners::table.filter(owners::user_id.eq(user_id)).select(owners::id).for_update().first::<i32>(c).optional()?;
    }
    Ok(())
}

/// Locks the user's row until the transaction ends: second factors, recovery codes, the
/// password and the security stamp change one at a time per user.
pub fn lock_user(conn: &mut Conn, user_id: i32) -> Result<(), Error> {
    if let Conn::Postgres(c) = conn {
        users::table.find(user_id).select(users::id).for_update().first::<i32>(c).optional()?;
    }
    Ok(())
}

/// Locks an owner's row until the transaction ends: an organization's members and roles
/// (the last-owner rule), its token count and its repositories change one writer at a time.
pub fn lock_owner(conn: &mut Conn, owner_id: i32) -> Result<(), Error> {
    if let Conn::Postgres(c) = conn {
        owners::table.find(owner_id).select(owners::id).for_update().first::<i32>(c).optional()?;
    }
    Ok(())
}
