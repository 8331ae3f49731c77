//! Cross-site request forgery, every piece in one place. A state-changing page request must
//! pass two checks: its `Origin`, when named, is Berth's own public origin
//! (`origin_check`, which wraps the page routes only: the JSON API and `/token` carry no
//! cookies, so no list of exempt paths is kept in step with the routes), and its form
//! carries this browser's token (`CsrfForm`). The token is an HMAC, under a key derived
//! from the master key, of what the browser is bound to: once signed in, the random secret
//! in its server-side session (new at every sign-in); before that, the id in its signed
//! pre-session cookie. So anonymous forms need no session row, and a token from another
//! browser, or from before this sign-in, is worthless.

use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::app::AppState;
use crate::http::body::{content_type_is, form_text, parse_form, read_limited};
use crate::web::error::PageError;
use crate::web::session::WebSession;

/// Largest form body accepted.
pub const FORM_LIMIT: usize = 16 * 1024;

/// What the CSRF token of a form is bound to.
pub enum CsrfBinding<'a> {
    /// The random secret kept in a signed-in session.
    Session(&'a str),
    /// The id of the signed pre-session cookie.
    PreSession(&'a str),
}

/// The CSRF token for `binding` under `key` (`Keys::csrf_token`): only Berth can make one,
/// and one made for another binding or kind is worthless here.
pub fn token(key: &[u8; 32], binding: CsrfBinding<'_>) -> String {
    let (kind, value) = match binding {
        CsrfBinding::Session(secret) => ("session", secret),
        CsrfBinding::PreSession(id) => ("pre-session", id),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::keys::hmac(key, &[kind.as_bytes(), value.as_bytes()]))
}

impl WebSession {
    /// The CSRF token of every form this browser is shown (the rule is this module's).
    pub fn csrf_token(&self) -> Result<String, Error> {
        let key = self.browser().csrf_key();
        if self.user_id().is_some() {
            let secret = self.csrf_secret(true)?.unwrap_or_default();
            return Ok(token(key, CsrfBinding::Session(&secret)));
        }
        Ok(token(key, CsrfBinding::PreSession(&self.browser().pre_session_id())))
    }

    /// Whether `sent` is the token `csrf_token` gives this browser (compared in constant
    /// time). Checking creates nothing: without a binding no token matches.
    pub fn csrf_matches(&self, sent: &str) -> bool {
        let key = self.browser().csrf_key();
        let expected = if self.user_id().is_some() {
            self.csrf_secret(false).ok().flatten().map(|s| token(key, CsrfBinding::Session(&s)))
        } else {
            self.browser().presented_pre_session_id().map(|id| token(key, CsrfBinding::PreSession(id)))
        };
        expected.is_some_and(|e| bool::from(subtle::ConstantTimeEq::ct_eq(e.as_bytes(), sent.as_bytes())))
    }
}

/// A urlencoded form that carried this browser's CSRF token (`WebSession::csrf_token`).
/// Bodies are capped at `LIMIT` (16 KiB unless a route needs more), must be UTF-8, and are
/// parsed strictly (a repeated single-value field is an error).
pub struct CsrfForm<T, const LIMIT: usize = FORM_LIMIT>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for CsrfForm<T, LIMIT> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !content_type_is(&req, "application/x-www-form-urlencoded") {
                return Err(PageError::from(Error::invalid("Expected a form submission.")).into());
            }
            let body = read_limited(&req, payload, LIMIT).await.map_err(PageError::from)?;
            let text = form_text(&body).map_err(PageError::from)?;
            check(&req, text)?;
            Ok(CsrfForm(parse_form(&without_csrf(text)).map_err(PageError::from)?))
        })
    }
}

/// The form without its `csrf` field, checked already: the form types refuse unknown
/// fields (a clear 400), and `csrf` is not one of theirs.
pub fn without_csrf(text: &str) -> String {
    text.split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("").replace('+', " ");
            percent_encoding::percent_decode_str(&key).decode_utf8_lossy() != "csrf"
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Exactly one `csrf` field, and it is this browser's token.
fn check(req: &HttpRequest, body: &str) -> Result<(), PageError> {
    let session = WebSession::of(req)?;
    let mut sent = url::form_urlencoded::parse(body.as_bytes()).filter(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    let ok = match (sent.next(), sent.next()) {
        (Some(sent), None) => session.csrf_matches(&sent),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        tracing::warn!(path = req.path(), "refused a form without a valid CSRF token");
        Err(Error::denied("This form has expired or was not sent by Berth. Reload the page and try again.").into())
    }
}

/// A state-changing page request that names an `Origin` must come from Berth's own public
/// origin. Wraps the page routes only.
pub async fn origin_check(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = req.headers().get(header::ORIGIN).filter(|_| !safe);
    if let Some(origin) = origin {
        let (allowed, public_url) = req.app_data::<web::Data<AppState>>().map(|s| (s.public_origin.clone(), s.public_url.clone())).unwrap_or_default();
        let sent_from = origin.to_str().unwrap_or("");
        if sent_from != allowed {
            tracing::warn!(path = req.path(), "refused a cross-origin form post");
            // The page came from this very server under another address (a LAN IP, another
            // host name): say which address Berth expects, with an absolute link there.
            let same_server = url::Url::parse(sent_from).ok().and_then(|u| u.host_str().map(|h| (h.to_string(), u.port()))).is_some_and(|(host, port)| {
                let served = req.connection_info().host().to_string();
                served == host || port.is_some_and(|p| served == format!("{host}:{p}"))
            });
            let res = if same_server {
                let message = format!(
                    "This Berth is set up to be opened at {public_url} (BERTH_PUBLIC_URL), but this page was opened at {sent_from}, so its forms are refused. Open {public_url} and try again."
                );
                HttpResponse::Forbidden().content_type("text/html; charset=utf-8").body(crate::web::error::error_page_at(
                    actix_web::http::StatusCode::FORBIDDEN,
                    &message,
                    None,
                    &public_url,
                ))
            } else {
                PageError::from(Error::denied("This form was sent from another site, so it was refused.")).error_response()
            };
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_is_taken_out_exactly() {
        assert_eq!(without_csrf("csrf=x&description=a&cs%72f=y&scope=b&csrfx=1"), "description=a&scope=b&csrfx=1");
    }

    #[test]
    fn csrf_tokens_differ_per_binding_and_kind() {
        let key = [7u8; 32];
        let a = token(&key, CsrfBinding::PreSession("one"));
        assert_eq!(a, token(&key, CsrfBinding::PreSession("one")));
        assert_ne!(a, token(&key, CsrfBinding::PreSession("two")));
        assert_ne!(a, token(&key, CsrfBinding::Session("one")));
        assert_ne!(a, token(&[8u8; 32], CsrfBinding::PreSession("one")));
        assert!(a.len() >= 43);
    }
}
