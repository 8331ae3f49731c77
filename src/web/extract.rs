//! Extractors of the pages: who is signed in, and where to return after signing in.
//! (Who is asking and body reading are `http`'s; CSRF-checked forms are `web::csrf`'s.)

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::accounts::User;
use crate::app::AppState;
use crate::web::error::PageError;
use crate::web::session::WebSession;

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone()
}

impl FromRequest for WebSession {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(WebSession::of(req).map_err(|e| PageError::from(e).into()))
    }
}

/// A signed-in user with a live session. Anonymous requests are sent to the login form.
pub struct SignedIn {
    pub user: User,
    pub session: WebSession,
}

impl FromRequest for SignedIn {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = WebSession::from_request(&req, &mut Payload::None).await?;
            let st = state(&req);
            // after sign-in, back to this page; for a form, to the page that showed it
            let next = || match req.uri().path_and_query() {
                Some(pq) if req.method() == actix_web::http::Method::GET => pq.as_str().to_string(),
                _ => referring_page(&req, &st.public_origin).unwrap_or_else(|| "/".to_string()),
            };
            let Some(uid) = session.user_id() else {
                // a session cookie that no longer names a session: it ended (idle or
                // absolute timeout, signed out elsewhere), which the login page says
                let had_session = [crate::web::session::SESSION_COOKIE, crate::web::session::SECURE_SESSION_COOKIE].iter().any(|name| req.cookie(name).is_some());
                if had_session {
                    let lost = if req.method() == actix_web::http::Method::GET { "" } else { " What you sent was not saved." };
                    session.flash("info", format!("Your session has ended. Sign in again to continue.{lost}")).map_err(PageError::from)?;
                }
                return Err(PageError::LoginRequired { next: next() }.into());
            };
            match st.db(move |c| crate::accounts::find_by_id(c, uid)).await.map_err(PageError::from)? {
                Some(user) if !user.is_disabled => Ok(SignedIn { user, session }),
                _ => {
                    session.sign_out();
                    Err(PageError::LoginRequired { next: next() }.into())
                }
            }
        })
    }
}

/// The local page a request came from (its Referer, when that is this Berth), for a
/// return after sign-in.
fn referring_page(req: &HttpRequest, public_origin: &str) -> Option<String> {
    let referer = url::Url::parse(req.headers().get(actix_web::http::header::REFERER)?.to_str().ok()?).ok()?;
    if referer.origin().ascii_serialization() != public_origin {
        return None;
    }
    let page = match referer.query() {
        Some(q) => format!("{}?{q}", referer.path()),
        None => referer.path().to_string(),
    };
    Some(safe_next(Some(&page)))
}

/// `next=` after login: only a local path, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else { return "/".into() };
    let decoded_ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c == '\\' || c.is_control())
        && !next.to_ascii_lowercase().contains("%5c")
        && !next.to_ascii_lowercase().starts_with("/%2f")
        && !next.to_ascii_lowercase().starts_with("/%09");
    if decoded_ok && next.len() <= 2048 { next.to_string() } else { "/".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn next_accepts_only_local_paths() {
        for bad in ["//evil.com", "/\\evil.com", "/%5Cevil.com", "/%5cevil.com", "https://evil.com", "javascript:alert(1)", "evil.com", "/%2F%2Fevil.com", "/\tevil", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/settings/tokens?page=2")), "/settings/tokens?page=2");
    }

    proptest! {
        #[test]
        fn next_never_leaves_the_site(s in "\\PC{0,40}") {
            let out = safe_next(Some(&s));
            prop_assert!(out.starts_with('/'));
            prop_assert!(!out.starts_with("//"));
            prop_assert!(!out.contains('\\'));
            let parsed = url::Url::parse("http://berth.local/").unwrap().join(&out);
            if let Ok(u) = parsed {
                prop_assert_eq!(u.host_str(), Some("berth.local"));
            }
        }
    }
}
