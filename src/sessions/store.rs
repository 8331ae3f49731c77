//! actix-session's `SessionStore` over the database: sessions live server-side, so logout and
//! "end session" really end them. The cookie carries a 256-bit random key; the table holds
//! only its SHA-256. Idle and absolute timeouts are enforced here, on the injectable clock.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use actix_web::web;
use diesel::prelude::*;

use crate::clock::SharedClock;
use crate::db::DbPool;
use crate::db::schema::sessions;

/// Session-state keys the store copies into columns (for the sessions page).
pub const KEY_USER: &str = "uid";
pub const KEY_PUBLIC_ID: &str = "sid";
pub const KEY_IP: &str = "ip";
pub const KEY_USER_AGENT: &str = "ua";

/// `last_seen` is written at most this often per session, not on every request.
const TOUCH_EVERY: i64 = 60;

#[derive(Clone)]
pub struct DatabaseSessionStore {
    pool: DbPool,
    clock: SharedClock,
    idle_seconds: i64,
    absolute_seconds: i64,
}

impl DatabaseSessionStore {
    pub fn new(pool: DbPool, clock: SharedClock, idle_seconds: i64, absolute_seconds: i64) -> Self {
        DatabaseSessionStore { pool, clock, idle_seconds, absolute_seconds }
    }
}

fn key_hash(key: &SessionKey) -> String {
    crate::keys::sha256_hex(key.as_ref().as_bytes())
}

struct Columns {
    user_id: Option<i32>,
    public_id: Option<String>,
    ip: String,
    user_agent: String,
    state: String,
}

fn columns(state: &HashMap<String, String>) -> Result<Columns, serde_json::Error> {
    let get = |k: &str| state.get(k).and_then(|v| serde_json::from_str::<String>(v).ok());
    Ok(Columns {
        user_id: state.get(KEY_USER).and_then(|v| serde_json::from_str(v).ok()),
        public_id: get(KEY_PUBLIC_ID),
        ip: get(KEY_IP).unwrap_or_default(),
        user_agent: get(KEY_USER_AGENT).unwrap_or_default(),
        state: serde_json::to_string(state)?,
    })
}

fn other(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("session store: {e}")
}

impl SessionStore for DatabaseSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let (pool, hash, now) = (self.pool.clone(), key_hash(session_key), self.clock.now());
        let (idle, absolute) = (self.idle_seconds, self.absolute_seconds);
        let row = web::block(move || -> Result<Option<String>, anyhow::Error> {
            let mut conn = pool.get().map_err(other)?;
            let found: Option<(String, i64, i64)> =
                sessions::table.find(&hash).select((sessions::state, sessions::created_at, sessions::last_seen)).first(&mut conn).optional().map_err(other)?;
            match found {
                Some((state, created, seen)) if now - seen <= idle && now - created < absolute => Ok(Some(state)),
                Some(_) => {
                    diesel::delete(sessions::table.find(&hash)).execute(&mut conn).map_err(other)?;
                    Ok(None)
                }
                None => Ok(None),
            }
        })
        .await
        .map_err(|e| LoadError::Other(other(e)))?
        .map_err(LoadError::Other)?;
        match row {
            Some(state) => Ok(Some(serde_json::from_str(&state).map_err(|e| LoadError::Deserialization(e.into()))?)),
            None => Ok(None),
        }
    }

    async fn save(&self, session_state: HashMap<String, String>, _ttl: &Duration) -> Result<SessionKey, SaveError> {
        let cols = columns(&session_state).map_err(|e| SaveError::Serialization(e.into()))?;
        // 32 random bytes: 256 bits, well above OWASP's 64-bit floor
        let key: SessionKey = crate::keys::random_token(32).try_into().map_err(|e| SaveError::Other(other(e)))?;
        let (pool, hash, now) = (self.pool.clone(), key_hash(&key), self.clock.now());
        web::block(move || -> Result<(), anyhow::Error> {
            let mut conn = pool.get().map_err(other)?;
            diesel::insert_into(sessions::table)
                .values((
                    sessions::id_hash.eq(hash),
                    sessions::public_id.eq(cols.public_id),
                    sessions::user_id.eq(cols.user_id),
                    sessions::state.eq(cols.state),
                    sessions::ip.eq(cols.ip),
                    sessions::user_agent.eq(cols.user_agent),
                    sessions::created_at.eq(now),
                    sessions::last_seen.eq(now),
                ))
                .execute(&mut conn)
                .map_err(other)?;
            Ok(())
        })
        .await
        .map_err(|e| SaveError::Other(other(e)))?
        .map_err(SaveError::Other)?;
        Ok(key)
    }

    /// Updates a live session only: a session ended elsewhere in the meantime stays ended.
    async fn update(&self, session_key: SessionKey, session_state: HashMap<String, String>, _ttl: &Duration) -> Result<SessionKey, UpdateError> {
        let cols = columns(&session_state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let (pool, hash, now) = (self.pool.clone(), key_hash(&session_key), self.clock.now());
        web::block(move || -> Result<(), anyhow::Error> {
            let mut conn = pool.get().map_err(other)?;
            diesel::update(sessions::table.find(hash))
                .set((
                    sessions::public_id.eq(cols.public_id),
                    sessions::user_id.eq(cols.user_id),
                    sessions::state.eq(cols.state),
                    sessions::ip.eq(cols.ip),
                    sessions::user_agent.eq(cols.user_agent),
                    sessions::last_seen.eq(now),
                ))
                .execute(&mut conn)
                .map_err(other)?;
            Ok(())
        })
        .await
        .map_err(|e| UpdateError::Other(other(e)))?
        .map_err(UpdateError::Other)?;
        Ok(session_key)
    }

    async fn update_ttl(&self, session_key: &SessionKey, _ttl: &Duration) -> Result<(), anyhow::Error> {
        let (pool, hash, now) = (self.pool.clone(), key_hash(session_key), self.clock.now());
        web::block(move || -> Result<(), anyhow::Error> {
            let mut conn = pool.get().map_err(other)?;
            diesel::update(sessions::table.find(hash).filter(sessions::last_seen.le(now - TOUCH_EVERY))).set(sessions::last_seen.eq(now)).execute(&mut conn).map_err(other)?;
            Ok(())
        })
        .await
        .map_err(other)?
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let (pool, hash) = (self.pool.clone(), key_hash(session_key));
        web::block(move || -> Result<(), anyhow::Error> {
            let mut conn = pool.get().map_err(other)?;
            diesel::delete(sessions::table.find(hash)).execute(&mut conn).map_err(other)?;
            Ok(())
        })
        .await
        .map_err(other)?
    }
}
