//! Middleware: security headers on every answer (errors included), an access log that never
//! records a query string or a body, and the signed-in header on error pages. (The `Origin`
//! check is `web::csrf`'s.)

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError, web};

use crate::app::AppState;

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
    let Some(crate::web::error::ErrorPageMessage(message)) = res.response().extensions().get().cloned() else { return Ok(res.map_into_left_body()) };
    let Ok(session) = crate::web::session::WebSession::of(res.request()) else { return Ok(res.map_into_left_body()) };
    let (Some(uid), Some(app)) = (session.user_id(), res.request().app_data::<web::Data<AppState>>().cloned()) else { return Ok(res.map_into_left_body()) };
    let user = app.db(move |c| crate::accounts::find_by_id(c, uid)).await.ok().flatten().filter(|u| !u.is_disabled);
    let (Some(user), Ok(csrf)) = (user, session.csrf_token()) else { return Ok(res.map_into_left_body()) };
    let body = crate::web::error::error_page_for(res.status(), &message, Some((user.username, csrf)));
    Ok(res.map_body(|_, _| actix_web::body::BoxBody::new(body)).map_into_right_body())
}

pub fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}
