//! Middleware for every answer: security headers (errors included), the CSRF `Origin`
//! check for cookie-authenticated routes, and an access log that never records a query
//! string or a body.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};

use crate::AppError;
use crate::server::AppState;

pub const CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds the security headers (CSP, no framing, nosniff, referrer policy, HSTS with secure
/// cookies) to every response, including errors raised by
/// inner middleware (which would otherwise bypass a plain `DefaultHeaders`).
pub async fn security_headers(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let hsts = req.app_data::<web::Data<AppState>>().map(|s| s.secure_cookies).unwrap_or(false);
    let is_static = req.path().starts_with("/static/");
    match next.call(req).await {
        Ok(mut res) => {
            add_security_headers(res.headers_mut(), hsts, is_static);
            Ok(res)
        }
        // The request is gone with the error, so the headers travel inside it.
        Err(e) => Err(WithSecurityHeaders { inner: e, hsts }.into()),
    }
}

fn add_security_headers(h: &mut header::HeaderMap, hsts: bool, is_static: bool) {
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    if !is_static {
        // signed-in pages must not be kept by browsers or proxies; anonymous ones lose nothing
        h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    if hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, header::HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
}

#[derive(Debug)]
struct WithSecurityHeaders {
    inner: Error,
    hsts: bool,
}

impl std::fmt::Display for WithSecurityHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl ResponseError for WithSecurityHeaders {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.inner.as_response_error().status_code()
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = self.inner.error_response();
        add_security_headers(res.headers_mut(), self.hsts, false);
        res
    }
}

/// Routes that carry no cookies and so need no CSRF defence (registry and JSON API).
pub fn is_cookieless(path: &str) -> bool {
    path == "/token" || path == "/v2" || path.starts_with("/v2/")
}

/// CSRF, part one: a state-changing request that names an `Origin` must come from Berth's
/// own public origin. (Part two, the token bound to this browser, is checked by `CsrfForm`.)
pub async fn origin_check(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = req.headers().get(header::ORIGIN).filter(|_| !safe && !is_cookieless(req.path()));
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
                HttpResponse::Forbidden().content_type("text/html; charset=utf-8").body(crate::web::pages::error_page_at(
                    actix_web::http::StatusCode::FORBIDDEN,
                    &message,
                    None,
                    &public_url,
                ))
            } else {
                AppError::Forbidden("This form was sent from another site, so it was refused.".into()).error_response()
            };
            return Ok(req.into_response(res).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// One line per request: method, path (never the query string), status, milliseconds.
pub async fn access_log(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().clone(), req.path().to_string());
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(%method, %path, status, ms = started.elapsed().as_millis() as u64, "request");
    res
}

/// An error page shown to a signed-in visitor carries the real header (who is signed in,
/// Sign out) instead of "Sign in · Sign up": the page is rendered again with the session's
/// user. Pages only, inside the session middleware.
pub async fn error_header(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let res = next.call(req).await?;
    let Some(crate::web::pages::ErrorPageMessage(message)) = res.response().extensions().get().cloned() else { return Ok(res.map_into_left_body()) };
    let Ok(session) = crate::web::session::WebSession::of(res.request()) else { return Ok(res.map_into_left_body()) };
    let (Some(uid), Some(app)) = (session.user_id(), res.request().app_data::<web::Data<AppState>>().cloned()) else { return Ok(res.map_into_left_body()) };
    let user = app.db(move |c| crate::accounts::find_by_id(c, uid)).await.ok().flatten().filter(|u| !u.is_disabled);
    let (Some(user), Ok(csrf)) = (user, session.csrf_token()) else { return Ok(res.map_into_left_body()) };
    let body = crate::web::pages::error_page_for(res.status(), &message, Some((user.username, csrf)));
    Ok(res.map_body(|_, _| actix_web::body::BoxBody::new(body)).map_into_right_body())
}

pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}
