//! A typed view of the session: handlers never touch string keys directly.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};

use crate::AppError;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::sessions::store::{KEY_IP, KEY_PUBLIC_ID, KEY_USER, KEY_USER_AGENT};

const KEY_CSRF: &str = "csrf";
const KEY_PENDING_USER: &str = "pending_uid";
const KEY_PENDING_AT: &str = "pending_at";
const KEY_PENDING_NEXT: &str = "pending_next";
const KEY_FLASH: &str = "flash";
const KEY_ENROL_AT: &str = "enrol_at";

/// How long the password-passed, code-pending state of a 2FA login lasts.
pub const PENDING_2FA_SECONDS: i64 = 300;
/// How long after re-entering the password the 2FA set-up page may be used.
pub const ENROL_SECONDS: i64 = 600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

pub struct WebSession(pub Session);

impl FromRequest for WebSession {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(WebSession(req.get_session())))
    }
}

fn insert<T: Serialize>(s: &Session, key: &str, value: T) -> Result<(), AppError> {
    s.insert(key, value).map_err(AppError::internal)
}

impl WebSession {
    pub fn user_id(&self) -> Option<i32> {
        self.0.get(KEY_USER).ok().flatten()
    }

    pub fn public_id(&self) -> Option<String> {
        self.0.get(KEY_PUBLIC_ID).ok().flatten()
    }

    /// The CSRF token of this session, created on first use.
    pub fn csrf_token(&self) -> Result<String, AppError> {
        if let Ok(Some(t)) = self.0.get::<String>(KEY_CSRF) {
            return Ok(t);
        }
        let t = crate::keys::random_token(32);
        insert(&self.0, KEY_CSRF, &t)?;
        Ok(t)
    }

    pub fn stored_csrf(&self) -> Option<String> {
        self.0.get(KEY_CSRF).ok().flatten()
    }

    /// Signs in: a new session id (so a planted cookie never becomes authenticated), a new
    /// CSRF token, nothing left over from before.
    pub fn sign_in(&self, user_id: i32, client: &Client) -> Result<(), AppError> {
        let flash: Option<Flash> = self.0.get(KEY_FLASH).ok().flatten();
        self.0.clear();
        self.0.renew();
        insert(&self.0, KEY_USER, user_id)?;
        insert(&self.0, KEY_PUBLIC_ID, crate::keys::random_token(16))?;
        insert(&self.0, KEY_IP, &client.ip)?;
        insert(&self.0, KEY_USER_AGENT, crate::activity::truncate(&client.user_agent, crate::activity::MAX_USER_AGENT))?;
        insert(&self.0, KEY_CSRF, crate::keys::random_token(32))?;
        if let Some(f) = flash {
            insert(&self.0, KEY_FLASH, f)?;
        }
        Ok(())
    }

    /// The password was right and a second factor is due: the session grants nothing yet.
    pub fn begin_second_step(&self, user_id: i32, now: Timestamp, next: &str) -> Result<(), AppError> {
        self.0.clear();
        self.0.renew();
        insert(&self.0, KEY_PENDING_USER, user_id)?;
        insert(&self.0, KEY_PENDING_AT, now)?;
        insert(&self.0, KEY_PENDING_NEXT, next)?;
        insert(&self.0, KEY_CSRF, crate::keys::random_token(32))?;
        Ok(())
    }

    /// The user waiting for the second step, if that state is younger than 5 minutes.
    pub fn pending_second_step(&self, now: Timestamp) -> Option<(i32, String)> {
        let uid: i32 = self.0.get(KEY_PENDING_USER).ok().flatten()?;
        let at: Timestamp = self.0.get(KEY_PENDING_AT).ok().flatten()?;
        if now - at > PENDING_2FA_SECONDS || now < at {
            return None;
        }
        let next = self.0.get(KEY_PENDING_NEXT).ok().flatten().unwrap_or_else(|| "/".to_string());
        Some((uid, next))
    }

    /// After a password change: new id, same user; every other session is already gone.
    pub fn renew(&self) -> Result<(), AppError> {
        self.0.renew();
        insert(&self.0, KEY_CSRF, crate::keys::random_token(32))
    }

    pub fn sign_out(&self) {
        self.0.purge();
    }

    pub fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), AppError> {
        insert(&self.0, KEY_FLASH, Flash { kind: kind.into(), text: text.into() })
    }

    pub fn take_flash(&self) -> Option<Flash> {
        let f = self.0.get(KEY_FLASH).ok().flatten();
        if f.is_some() {
            self.0.remove(KEY_FLASH);
        }
        f
    }

    pub fn start_enrolment(&self, now: Timestamp) -> Result<(), AppError> {
        insert(&self.0, KEY_ENROL_AT, now)
    }

    pub fn enrolment_open(&self, now: Timestamp) -> bool {
        let at: Option<Timestamp> = self.0.get(KEY_ENROL_AT).ok().flatten();
        at.is_some_and(|at| now >= at && now - at <= ENROL_SECONDS)
    }

    pub fn end_enrolment(&self) {
        self.0.remove(KEY_ENROL_AT);
    }
}
