//! A typed view of the session: handlers never touch string keys directly.

use std::rc::Rc;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::AppError;
use crate::accounts::User;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::sessions::store::{KEY_IP, KEY_PUBLIC_ID, KEY_USER, KEY_USER_AGENT};
use crate::web::browser::{Browser, CsrfBinding};

pub use crate::web::browser::Flash;

/// The signed-in session's random secret its forms' CSRF tokens are derived from.
const KEY_CSRF: &str = "csrf";
const KEY_PENDING_USER: &str = "pending_uid";
const KEY_PENDING_STAMP: &str = "pending_stamp";
const KEY_PENDING_AT: &str = "pending_at";
const KEY_PENDING_NEXT: &str = "pending_next";
const KEY_ENROL_AT: &str = "enrol_at";

/// How long the password-passed, code-pending state of a 2FA login lasts.
pub const PENDING_2FA_SECONDS: i64 = 300;
/// How long after re-entering the password the 2FA set-up page may be used.
pub const ENROL_SECONDS: i64 = 600;

/// The server-side session (a row exists only once someone signs in, or has passed the
/// password step) and the browser cookies kept for everyone else.
pub struct WebSession {
    session: Session,
    browser: Rc<Browser>,
}

impl FromRequest for WebSession {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(WebSession::of(req).map_err(Into::into))
    }
}

fn insert<T: Serialize>(s: &Session, key: &str, value: T) -> Result<(), AppError> {
    s.insert(key, value).map_err(AppError::internal)
}

/// A sign-in whose password step passed and whose second factor is due.
pub struct PendingSignIn {
    pub user_id: i32,
    /// The user's security stamp when the password was checked: a change since (password,
    /// 2FA, disabling) ends this sign-in.
    pub stamp: String,
    pub next: String,
}

impl WebSession {
    pub fn of(req: &HttpRequest) -> Result<WebSession, AppError> {
        Ok(WebSession { session: req.get_session(), browser: Browser::of(req)? })
    }

    pub fn user_id(&self) -> Option<i32> {
        self.session.get(KEY_USER).ok().flatten()
    }

    pub fn public_id(&self) -> Option<String> {
        self.session.get(KEY_PUBLIC_ID).ok().flatten()
    }

    /// The CSRF token of every form this browser is shown. The one rule: an HMAC, under a
    /// key derived from the master key, of what the browser is bound to — once signed in,
    /// the random secret in its server-side session (new at every sign-in); before that,
    /// the id in its signed pre-session cookie. So anonymous forms need no session row, and
    /// a token from another browser, or from before this sign-in, is worthless.
    pub fn csrf_token(&self) -> Result<String, AppError> {
        if self.user_id().is_some() {
            let secret = match self.session.get::<String>(KEY_CSRF).ok().flatten() {
                Some(s) => s,
                None => {
                    let s = crate::keys::random_token(32);
                    insert(&self.session, KEY_CSRF, &s)?;
                    s
                }
            };
            return Ok(self.browser.csrf_token(CsrfBinding::Session(&secret)));
        }
        Ok(self.browser.csrf_token(CsrfBinding::PreSession(&self.browser.pre_session_id())))
    }

    /// Whether `sent` is the token `csrf_token` gives this browser (compared in constant
    /// time). Checking creates nothing: without a binding no token matches.
    pub fn csrf_matches(&self, sent: &str) -> bool {
        let expected = if self.user_id().is_some() {
            self.session.get::<String>(KEY_CSRF).ok().flatten().map(|s| self.browser.csrf_token(CsrfBinding::Session(&s)))
        } else {
            self.browser.presented_pre_session_id().map(|id| self.browser.csrf_token(CsrfBinding::PreSession(id)))
        };
        expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(sent.as_bytes())))
    }

    /// Signs in: a new session id (so a planted cookie never becomes authenticated), a new
    /// CSRF secret, nothing left over from before.
    pub fn sign_in(&self, user_id: i32, client: &Client) -> Result<(), AppError> {
        self.session.clear();
        self.session.renew();
        insert(&self.session, KEY_USER, user_id)?;
        insert(&self.session, KEY_PUBLIC_ID, crate::keys::random_token(16))?;
        insert(&self.session, KEY_IP, &client.ip)?;
        insert(&self.session, KEY_USER_AGENT, crate::activity::truncate(&client.user_agent, crate::activity::MAX_USER_AGENT))?;
        insert(&self.session, KEY_CSRF, crate::keys::random_token(32))?;
        Ok(())
    }

    /// The password was right and a second factor is due: the session grants nothing yet.
    /// Only the password step calls this (it is the first server-side row of a sign-in).
    pub fn begin_second_step(&self, user: &User, now: Timestamp, next: &str) -> Result<(), AppError> {
        self.session.clear();
        self.session.renew();
        insert(&self.session, KEY_PENDING_USER, user.id)?;
        insert(&self.session, KEY_PENDING_STAMP, &user.security_stamp)?;
        insert(&self.session, KEY_PENDING_AT, now)?;
        insert(&self.session, KEY_PENDING_NEXT, next)?;
        Ok(())
    }

    /// The sign-in waiting for its second step, if that state is younger than 5 minutes.
    pub fn pending_second_step(&self, now: Timestamp) -> Option<PendingSignIn> {
        let user_id: i32 = self.session.get(KEY_PENDING_USER).ok().flatten()?;
        let stamp: String = self.session.get(KEY_PENDING_STAMP).ok().flatten()?;
        let at: Timestamp = self.session.get(KEY_PENDING_AT).ok().flatten()?;
        if now - at > PENDING_2FA_SECONDS || now < at {
            return None;
        }
        let next = self.session.get(KEY_PENDING_NEXT).ok().flatten().unwrap_or_else(|| "/".to_string());
        Some(PendingSignIn { user_id, stamp, next })
    }

    /// After a password change: new id, same user; every other session is already gone.
    pub fn renew(&self) -> Result<(), AppError> {
        self.session.renew();
        insert(&self.session, KEY_CSRF, crate::keys::random_token(32))
    }

    /// Ends the server-side session, if there is one (an anonymous visitor has none).
    pub fn sign_out(&self) {
        self.session.purge();
    }

    /// A message for the next page. It travels in a signed, short-lived cookie, signed in
    /// or not, so that telling an anonymous visitor something writes no session row.
    pub fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), AppError> {
        self.browser.set_flash(kind, &text.into());
        Ok(())
    }

    pub fn take_flash(&self) -> Option<Flash> {
        self.browser.take_flash()
    }

    pub fn start_enrolment(&self, now: Timestamp) -> Result<(), AppError> {
        insert(&self.session, KEY_ENROL_AT, now)
    }

    pub fn enrolment_open(&self, now: Timestamp) -> bool {
        let at: Option<Timestamp> = self.session.get(KEY_ENROL_AT).ok().flatten();
        at.is_some_and(|at| now >= at && now - at <= ENROL_SECONDS)
    }

    pub fn end_enrolment(&self) {
        self.session.remove(KEY_ENROL_AT);
    }
}
