//! A typed view of the session: handlers never touch string keys directly.

use std::rc::Rc;

use actix_session::{Session, SessionExt};
use actix_web::HttpRequest;
use serde::Serialize;

use crate::Error;
use crate::accounts::User;
use crate::activity::Client;
use crate::clock::Timestamp;
use crate::sessions::store::{KEY_IP, KEY_PUBLIC_ID, KEY_USER, KEY_USER_AGENT};
use crate::web::browser::Browser;

pub use crate::web::browser::Flash;

pub const SESSION_COOKIE: &str = "berth_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-berth_session";

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

fn insert<T: Serialize>(s: &Session, key: &str, value: T) -> Result<(), Error> {
    s.insert(key, value).map_err(Error::internal)
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
    pub fn of(req: &HttpRequest) -> Result<WebSession, Error> {
        Ok(WebSession { session: req.get_session(), browser: Browser::of(req)? })
    }

    pub fn user_id(&self) -> Option<i32> {
        self.session.get(KEY_USER).ok().flatten()
    }

    pub fn public_id(&self) -> Option<String> {
        self.session.get(KEY_PUBLIC_ID).ok().flatten()
    }

    /// The signed-in session's CSRF secret (`web::csrf`), made on first use when `create`.
    pub fn csrf_secret(&self, create: bool) -> Result<Option<String>, Error> {
        match self.session.get::<String>(KEY_CSRF).ok().flatten() {
            Some(s) => Ok(Some(s)),
            None if create => {
                let s = crate::keys::random_token(32);
                insert(&self.session, KEY_CSRF, &s)?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    /// The browser cookies of this visitor.
    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    /// Signs in: a new session id (so a planted cookie never becomes authenticated), a new
    /// CSRF secret, nothing left over from before.
    pub fn sign_in(&self, user_id: i32, client: &Client) -> Result<(), Error> {
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
    pub fn begin_second_step(&self, user: &User, now: Timestamp, next: &str) -> Result<(), Error> {
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
    pub fn renew(&self) -> Result<(), Error> {
        self.session.renew();
        insert(&self.session, KEY_CSRF, crate::keys::random_token(32))
    }

    /// Ends the server-side session, if there is one (an anonymous visitor has none).
    pub fn sign_out(&self) {
        self.session.purge();
    }

    /// A message for the next page. It travels in a signed, short-lived cookie, signed in
    /// or not, so that telling an anonymous visitor something writes no session row.
    pub fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), Error> {
        self.browser.set_flash(kind, &text.into());
        Ok(())
    }

    pub fn take_flash(&self) -> Option<Flash> {
        self.browser.take_flash()
    }

    pub fn start_enrolment(&self, now: Timestamp) -> Result<(), Error> {
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
