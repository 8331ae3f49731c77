//! What Berth keeps in the browser of a visitor who has no server-side session, so that an
//! anonymous page view costs no database write: the pre-session id (what the CSRF token of
//! an anonymous form is bound to) and the flash message for the next page. Both are short-
//! lived cookies signed with a key derived from the master key, with the session cookie's
//! attributes (HttpOnly, SameSite=Lax, `Secure` and `__Host-` with secure cookies).

use std::cell::RefCell;
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::{SharedClock, Timestamp};
use crate::keys::Keys;

/// A pre-session id is good for 2 hours; used in its second hour it is sent again with a
/// new time, so a form shown now stays valid for at least an hour.
pub const PRE_SESSION_SECONDS: i64 = 2 * 3600;
/// A flash message is for the next page, seen within 5 minutes or never.
pub const FLASH_SECONDS: i64 = 300;
/// Flash texts are short sentences; the cap keeps the cookie well under 4 KiB.
const FLASH_MAX_CHARS: usize = 500;

const PRE_SESSION_COOKIE: &str = "berth_presession";
const SECURE_PRE_SESSION_COOKIE: &str = "__Host-berth_presession";
const FLASH_COOKIE: &str = "berth_flash";
const SECURE_FLASH_COOKIE: &str = "__Host-berth_flash";

// What each signature and token is for, so no value signed for one use passes for another.
const SIGNED_PRE_SESSION: &str = "pre-session";
const SIGNED_FLASH: &str = "flash";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

/// Keys and settings of the browser cookies: one per server, registered as app data.
pub struct BrowserCookies {
    csrf_key: [u8; 32],
    signing_key: [u8; 32],
    secure: bool,
    clock: SharedClock,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl BrowserCookies {
    pub fn new(keys: &Keys, secure: bool, clock: SharedClock) -> BrowserCookies {
        BrowserCookies { csrf_key: keys.csrf_token, signing_key: keys.browser_cookie, secure, clock }
    }

    fn pre_session_name(&self) -> &'static str {
        if self.secure { SECURE_PRE_SESSION_COOKIE } else { PRE_SESSION_COOKIE }
    }

    fn flash_name(&self) -> &'static str {
        if self.secure { SECURE_FLASH_COOKIE } else { FLASH_COOKIE }
    }

    /// `payload.time.mac`: the payload is URL-safe base64 and the time decimal, so neither
    /// holds a dot.
    fn seal(&self, purpose: &str, payload: &str, at: Timestamp) -> String {
        let at = at.to_string();
        let mac = crate::keys::hmac(&self.signing_key, &[purpose.as_bytes(), payload.as_bytes(), at.as_bytes()]);
        format!("{payload}.{at}.{}", b64(&mac))
    }

    /// The payload and time of a value `seal` made for `purpose` no more than `lifetime`
    /// seconds ago; `None` for anything else (forged, altered, expired, malformed).
    fn open(&self, purpose: &str, value: &str, now: Timestamp, lifetime: i64) -> Option<(String, Timestamp)> {
        let mut parts = value.split('.');
        let (payload, at_text, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = crate::keys::hmac(&self.signing_key, &[purpose.as_bytes(), payload.as_bytes(), at_text.as_bytes()]);
        if !bool::from(b64(&expected).as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let at: Timestamp = at_text.parse().ok()?;
        (0..=lifetime).contains(&(now - at)).then(|| (payload.to_string(), at))
    }

    fn cookie(&self, name: &'static str, value: String, max_age: i64) -> Cookie<'static> {
        Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(self.secure).max_age(Duration::seconds(max_age)).finish()
    }
}

enum FlashOut {
    Untouched,
    Clear,
    Set(Flash),
}

/// This request's view of the browser cookies; the middleware writes the changes.
pub struct Browser {
    cookies: web::Data<BrowserCookies>,
    now: Timestamp,
    presented: Option<(String, Timestamp)>,
    flash_in: Option<Flash>,
    /// The pre-session id to send back (new, or an old one with a fresh time).
    pre_session_out: RefCell<Option<String>>,
    flash_out: RefCell<FlashOut>,
}

impl Browser {
    /// The browser state the middleware attached to this request.
    pub fn of(req: &HttpRequest) -> Result<Rc<Browser>, crate::Error> {
        req.extensions().get::<Rc<Browser>>().cloned().ok_or_else(|| crate::Error::internal("the browser-cookie middleware is not installed on this route"))
    }

    /// This browser's pre-session id, created (and sent) if it has none yet.
    pub fn pre_session_id(&self) -> String {
        let mut out = self.pre_session_out.borrow_mut();
        if let Some(id) = out.as_ref() {
            return id.clone();
        }
        match &self.presented {
            Some((id, at)) => {
                if self.now - at > PRE_SESSION_SECONDS / 2 {
                    *out = Some(id.clone());
                }
                id.clone()
            }
            None => {
                let id = crate::keys::random_token(32);
                *out = Some(id.clone());
                id
            }
        }
    }

    /// The pre-session id the browser presented, valid and unexpired; never creates one.
    pub fn presented_pre_session_id(&self) -> Option<&str> {
        self.presented.as_ref().map(|(id, _)| id.as_str())
    }

    /// The key CSRF tokens are made with (`web::csrf`).
    pub fn csrf_key(&self) -> &[u8; 32] {
        &self.cookies.csrf_key
    }

    pub fn set_flash(&self, kind: &str, text: &str) {
        let flash = Flash { kind: kind.to_string(), text: text.chars().take(FLASH_MAX_CHARS).collect() };
        *self.flash_out.borrow_mut() = FlashOut::Set(flash);
    }

    /// The flash message the browser brought, once; it is cleared on the way out.
    pub fn take_flash(&self) -> Option<Flash> {
        let mut out = self.flash_out.borrow_mut();
        match *out {
            FlashOut::Untouched if self.flash_in.is_some() => {
                *out = FlashOut::Clear;
                self.flash_in.clone()
            }
            _ => None,
        }
    }

    fn write_cookies<B>(&self, res: &mut HttpResponse<B>) -> Result<(), Error> {
        let c = &self.cookies;
        if let Some(id) = self.pre_session_out.borrow_mut().take() {
            let value = c.seal(SIGNED_PRE_SESSION, &id, self.now);
            res.add_cookie(&c.cookie(c.pre_session_name(), value, PRE_SESSION_SECONDS)).map_err(actix_web::error::ErrorInternalServerError)?;
        }
        match std::mem::replace(&mut *self.flash_out.borrow_mut(), FlashOut::Untouched) {
            FlashOut::Untouched => {}
            FlashOut::Clear => res.add_removal_cookie(&c.cookie(c.flash_name(), String::new(), 0)).map_err(actix_web::error::ErrorInternalServerError)?,
            FlashOut::Set(flash) => {
                let json = serde_json::to_vec(&flash).map_err(actix_web::error::ErrorInternalServerError)?;
                let value = c.seal(SIGNED_FLASH, &b64(&json), self.now);
                res.add_cookie(&c.cookie(c.flash_name(), value, FLASH_SECONDS)).map_err(actix_web::error::ErrorInternalServerError)?;
            }
        }
        Ok(())
    }
}

fn decode_flash(payload: &str) -> Option<Flash> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Reads the browser cookies into the request and writes back what the handler changed.
pub async fn keep(cookies: web::Data<BrowserCookies>, req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let now = cookies.clock.now();
    let presented = req.cookie(cookies.pre_session_name()).and_then(|k| cookies.open(SIGNED_PRE_SESSION, k.value(), now, PRE_SESSION_SECONDS));
    let flash_cookie = req.cookie(cookies.flash_name());
    let flash_in = flash_cookie.as_ref().and_then(|k| cookies.open(SIGNED_FLASH, k.value(), now, FLASH_SECONDS)).and_then(|(p, _)| decode_flash(&p));
    // a flash cookie that is forged or stale is dropped as well
    let flash_out = if flash_cookie.is_some() && flash_in.is_none() { FlashOut::Clear } else { FlashOut::Untouched };
    let browser = Rc::new(Browser { cookies, now, presented, flash_in, pre_session_out: RefCell::new(None), flash_out: RefCell::new(flash_out) });
    req.extensions_mut().insert(browser.clone());
    let mut res = next.call(req).await?;
    browser.write_cookies(res.response_mut())?;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> BrowserCookies {
        BrowserCookies::new(&Keys::derive(&[3u8; 64]), false, std::sync::Arc::new(crate::clock::SystemClock))
    }

    #[test]
    fn sealed_values_open_only_unaltered_for_their_purpose_and_lifetime() {
        let c = cookies();
        let v = c.seal(SIGNED_PRE_SESSION, "abc_-", 1000);
        assert_eq!(c.open(SIGNED_PRE_SESSION, &v, 1000, 60), Some(("abc_-".to_string(), 1000)));
        assert_eq!(c.open(SIGNED_PRE_SESSION, &v, 1060, 60).map(|p| p.1), Some(1000));
        assert!(c.open(SIGNED_PRE_SESSION, &v, 1061, 60).is_none(), "expired");
        assert!(c.open(SIGNED_PRE_SESSION, &v, 999, 60).is_none(), "from the future");
        assert!(c.open(SIGNED_FLASH, &v, 1000, 60).is_none(), "another purpose");
        let other = BrowserCookies::new(&Keys::derive(&[4u8; 64]), false, std::sync::Arc::new(crate::clock::SystemClock));
        assert!(other.open(SIGNED_PRE_SESSION, &v, 1000, 60).is_none(), "another key");
        for bad in [v.replacen("abc", "abd", 1), v.replacen(".1000.", ".1001.", 1), format!("{v}.x"), "".into(), "a.b".into(), "..".into()] {
            assert!(c.open(SIGNED_PRE_SESSION, &bad, 1000, 60).is_none(), "{bad}");
        }
    }

    fn browser(presented: Option<(&str, Timestamp)>, flash_in: Option<Flash>, now: Timestamp) -> Browser {
        Browser {
            cookies: web::Data::new(cookies()),
            now,
            presented: presented.map(|(id, at)| (id.to_string(), at)),
            flash_in,
            pre_session_out: RefCell::new(None),
            flash_out: RefCell::new(FlashOut::Untouched),
        }
    }

    #[test]
    fn a_pre_session_id_is_made_once_kept_and_sent_again_only_in_its_second_hour() {
        let none = browser(None, None, 10_000);
        let made = none.pre_session_id();
        assert_eq!(none.pre_session_id(), made, "one id per request");
        assert!(none.presented_pre_session_id().is_none(), "checking never sees a made-up id");
        assert_eq!(none.pre_session_out.borrow().as_deref(), Some(made.as_str()), "a new id is sent");
        let young = browser(Some(("kept", 10_000 - PRE_SESSION_SECONDS / 2)), None, 10_000);
        assert_eq!(young.pre_session_id(), "kept");
        assert!(young.pre_session_out.borrow().is_none(), "a young cookie is not sent again");
        let old = browser(Some(("kept", 10_000 - PRE_SESSION_SECONDS / 2 - 1)), None, 10_000);
        assert_eq!(old.pre_session_id(), "kept");
        assert_eq!(old.pre_session_out.borrow().as_deref(), Some("kept"), "the same id, with a fresh time");
    }

    #[test]
    fn a_flash_is_taken_once_and_one_set_now_is_for_the_next_page() {
        let f = Flash { kind: "info".into(), text: "hello".into() };
        let b = browser(None, Some(f.clone()), 0);
        assert_eq!(b.take_flash(), Some(f));
        assert_eq!(b.take_flash(), None);
        assert!(matches!(*b.flash_out.borrow(), FlashOut::Clear));
        b.set_flash("success", &"x".repeat(2 * FLASH_MAX_CHARS));
        assert_eq!(b.take_flash(), None);
        assert!(matches!(&*b.flash_out.borrow(), FlashOut::Set(f) if f.text.chars().count() == FLASH_MAX_CHARS));
    }
}
