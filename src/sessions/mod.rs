//! Web sessions: the server-side store behind the cookie, and what the sessions page does
//! with it (list, end one, end all others, forget expired ones).

pub mod store;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::sessions;

#[derive(Debug, Queryable)]
pub struct SessionInfo {
    pub public_id: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
}

/// The user's live sessions, most recently seen first.
pub fn list_for_user(conn: &mut Conn, user_id: i32, now: Timestamp, idle: i64, absolute: i64) -> Result<Vec<SessionInfo>, Error> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::last_seen.ge(now - idle))
        .filter(sessions::created_at.gt(now - absolute))
        .order(sessions::last_seen.desc())
        .select((sessions::public_id, sessions::ip, sessions::user_agent, sessions::created_at, sessions::last_seen))
        .load(conn)?)
}

/// Ends one of the user's sessions; false when there is no such session of theirs.
pub fn end(conn: &mut Conn, user_id: i32, public_id: &str) -> Result<bool, Error> {
    let n = diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::public_id.eq(public_id))).execute(conn)?;
    Ok(n > 0)
}

/// Ends every session of the user except `keep`.
pub fn end_others(conn: &mut Conn, user_id: i32, keep: &str) -> Result<usize, Error> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::public_id.ne(keep).or(sessions::public_id.is_null()))).execute(conn)?)
}

/// Forgets sessions past their idle or absolute timeout (anonymous ones included).
pub fn purge_expired(conn: &mut Conn, now: Timestamp, idle: i64, absolute: i64) -> Result<usize, Error> {
    Ok(diesel::delete(sessions::table.filter(sessions::last_seen.lt(now - idle).or(sessions::created_at.le(now - absolute)))).execute(conn)?)
}
