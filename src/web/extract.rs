//! Extractors: who is asking (client IP and user agent), who is signed in, and form bodies
//! that have passed the CSRF token check.

use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use crate::AppError;
use crate::accounts::User;
use crate::activity::Client;
use crate::server::AppState;
use crate::web::session::WebSession;

/// Largest form body accepted.
pub const FORM_LIMIT: usize = 16 * 1024;

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone()
}

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which case
/// the right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if trusted.is_empty() || !trusted.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    let mut ip = peer;
    for value in req.headers().get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else { return peer };
        for part in text.split(',').rev() {
            match part.trim().parse::<IpAddr>() {
                Ok(addr) => {
                    ip = addr;
                    if !trusted.iter().any(|n| n.contains(&addr)) {
                        return addr;
                    }
                }
                Err(_) => return ip,
            }
        }
    }
    ip
}

/// Client IP and user agent of the request, for throttling, sessions and the activity log.
pub struct ClientInfo {
    pub ip: IpAddr,
    pub client: Client,
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let st = state(req);
        let ip = client_ip(req, &st.settings.trusted_proxies);
        let ua = req.headers().get(header::USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
        let user_agent = crate::activity::truncate(&ua, crate::activity::MAX_USER_AGENT);
        std::future::ready(Ok(ClientInfo { ip, client: Client { ip: ip.to_string(), user_agent } }))
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
                let had_session = [crate::server::SESSION_COOKIE, crate::server::SECURE_SESSION_COOKIE].iter().any(|name| req.cookie(name).is_some());
                if had_session {
                    let lost = if req.method() == actix_web::http::Method::GET { "" } else { " What you sent was not saved." };
                    session.flash("info", format!("Your session has ended. Sign in again to continue.{lost}"))?;
                }
                return Err(AppError::LoginRequired { next: next() }.into());
            };
            match st.db(move |c| crate::accounts::find_by_id(c, uid)).await? {
                Some(user) if !user.is_disabled => Ok(SignedIn { user, session }),
                _ => {
                    session.sign_out();
                    Err(AppError::LoginRequired { next: next() }.into())
                }
            }
        })
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
                return Err(AppError::BadRequest("Expected a form submission.".into()).into());
            }
            let body = read_limited(&req, payload, LIMIT).await?;
            let text = form_text(&body)?;
            check_csrf(&req, text)?;
            Ok(CsrfForm(parse_form(&without_csrf(text))?))
        })
    }
}

/// The body of a urlencoded form as text: UTF-8, and every percent-escape UTF-8 too.
pub fn form_text(body: &[u8]) -> Result<&str, AppError> {
    let text = std::str::from_utf8(body).map_err(|_| AppError::BadRequest("The form is not valid UTF-8.".into()))?;
    if !decodes_as_utf8(text) {
        return Err(AppError::BadRequest("The form is not valid UTF-8.".into()));
    }
    Ok(text)
}

/// A form's fields, strictly (a repeated single-value field is an error).
pub fn parse_form<T: DeserializeOwned>(text: &str) -> Result<T, AppError> {
    serde_html_form::from_str(text).map_err(|e| AppError::BadRequest(format!("The form is incomplete or malformed: {e}.")))
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

/// The whole decoding of a form body, as `CsrfForm` does it (less the CSRF check): for
/// property tests and the `form_decoding` fuzz target.
pub fn decode_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    parse_form(form_text(body)?)
}

/// Whether the request's body is declared as `mime` (parameters such as `; charset=utf-8`
/// allowed, case ignored).
pub fn content_type_is(req: &HttpRequest, mime: &str) -> bool {
    let declared = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    declared.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// Reads a request body of at most `limit` bytes (declared or streamed, chunked included)
/// within the body deadline (`BERTH_BODY_TIMEOUT_SECONDS`): the whole body, not each chunk,
/// so a peer sending a byte now and then cannot hold the connection either.
pub async fn read_limited(req: &HttpRequest, payload: Payload, limit: usize) -> Result<web::BytesMut, AppError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AppError::PayloadTooLarge);
    }
    let deadline = state(req).settings.body_timeout;
    actix_web::rt::time::timeout(deadline, read_body(payload, limit)).await.unwrap_or(Err(AppError::RequestTimeout))
}

async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, AppError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest("The body could not be read.".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Percent-escapes must decode to UTF-8 too (the usual parsers replace bad bytes silently).
pub fn decodes_as_utf8(body: &str) -> bool {
    body.split('&').flat_map(|pair| pair.split('=')).all(|part| {
        let plus_free = part.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_free).decode_utf8().is_ok()
    })
}

fn check_csrf(req: &HttpRequest, body: &str) -> Result<(), AppError> {
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
        Err(AppError::Forbidden("This form has expired or was not sent by Berth. Reload the page and try again.".into()))
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

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct TokenForm {
        description: String,
        scope: String,
        #[serde(default)]
        uuid: Vec<String>,
    }

    #[test]
    fn forms_must_be_utf8_through_and_through_and_strict() {
        let ok: TokenForm = decode_form(b"description=caf%C3%A9+ci&scope=repo%3Aread&uuid=a&uuid=b").unwrap();
        assert_eq!(ok, TokenForm { description: "café ci".into(), scope: "repo:read".into(), uuid: vec!["a".into(), "b".into()] });
        for bad in [&b"description=%FF&scope=x"[..], b"description=\xff&scope=x", b"description=a&description=b&scope=x", b"scope=x", b"description=%C3&scope=x"] {
            assert!(matches!(decode_form::<TokenForm>(bad), Err(AppError::BadRequest(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert!(decode_form::<TokenForm>(&[b'a', 0xff, b'=', b'b']).is_err());
        // unknown fields are refused; the CSRF field (checked before) is taken out first
        assert!(matches!(decode_form::<TokenForm>(b"description=a&scope=b&admin=1"), Err(AppError::BadRequest(_))));
        assert_eq!(without_csrf("csrf=x&description=a&cs%72f=y&scope=b&csrfx=1"), "description=a&scope=b&csrfx=1");
        assert!(decode_form::<TokenForm>(without_csrf("csrf=x&description=a&scope=b").as_bytes()).is_ok());
    }

    proptest! {
        #[test]
        fn form_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(form) = decode_form::<TokenForm>(&bytes) {
                // what decodes was valid UTF-8 all the way down
                prop_assert!(std::str::from_utf8(&bytes).is_ok());
                // no byte was silently replaced: U+FFFD only where the sender wrote one
                let replaced = form.description.contains('\u{FFFD}');
                let sent = String::from_utf8_lossy(&bytes).to_lowercase();
                prop_assert!(!replaced || sent.contains('\u{FFFD}') || sent.contains("%ef%bf%bd"), "a byte was replaced silently");
            }
        }

        #[test]
        fn any_form_a_browser_sends_decodes_to_what_was_typed(description in "\\PC{0,60}", scope in "\\PC{0,20}", uuids in proptest::collection::vec("[0-9a-f-]{0,36}", 0..4)) {
            let mut enc = url::form_urlencoded::Serializer::new(String::new());
            enc.append_pair("description", &description).append_pair("scope", &scope);
            for u in &uuids {
                enc.append_pair("uuid", u);
            }
            let form: TokenForm = decode_form(enc.finish().as_bytes()).unwrap();
            prop_assert_eq!(form, TokenForm { description, scope, uuid: uuids });
        }

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
