//! The pages' renderer of errors. A handler returns `Result<_, PageError>`: a domain error
//! (as every domain function gives it), a body that was not taken, or what only pages
//! have — sign in first, a method the address does not take. The visitor sees the status
//! and the error's plain sentence on an error page, never SQL, a path or a backtrace (an
//! internal cause goes to the log).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::Error;
use crate::http::BodyError;
use crate::web::chrome::Chrome;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error(transparent)]
    Body(#[from] BodyError),
    /// Not signed in: pages answer with a redirect to the login form.
    #[error("Please sign in.")]
    LoginRequired { next: String },
    #[error("This address does not accept that method.")]
    MethodNotAllowed,
}

impl From<diesel::result::Error> for PageError {
    fn from(e: diesel::result::Error) -> Self {
        PageError::Domain(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Domain(Error::Internal(Box::new(e)))
    }
}

impl PageError {
    pub fn not_found() -> Self {
        PageError::Domain(Error::NotFound)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Domain(e) => crate::http::status_of(e),
            PageError::Body(BodyError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::Body(BodyError::TimedOut) => StatusCode::REQUEST_TIMEOUT,
            PageError::Body(_) => StatusCode::BAD_REQUEST,
            PageError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            PageError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::Domain(e) = self {
            e.log_if_internal("pages");
        }
        if let PageError::LoginRequired { next } = self {
            let target = if next == "/" || next.is_empty() {
                "/login".to_string()
            } else {
                format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
            };
            return HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish();
        }
        let mut res = HttpResponse::build(self.status_code());
        if let PageError::Domain(Error::Throttled { retry_after }) = self {
            res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        let message = self.to_string();
        let mut response = res.content_type("text/html; charset=utf-8").body(error_page(self.status_code(), &message));
        response.extensions_mut().insert(ErrorPageMessage(message));
        response
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    reason: &'a str,
    message: &'a str,
    /// Where "Go to Berth's start page" points: `/`, or Berth's public URL when the page
    /// was opened under another address.
    home: &'a str,
}

/// What an error page said, kept on its response so that `web::middleware::error_header`
/// can render it again with the signed-in header.
#[derive(Debug, Clone)]
pub struct ErrorPageMessage(pub String);

/// The HTML of an error page for a visitor not known to be signed in. Never fails: a
/// template error falls back to plain text.
pub fn error_page(status: StatusCode, message: &str) -> String {
    error_page_for(status, message, None)
}

/// The same, with the header of `signed_in` (username, CSRF token for Sign out).
pub fn error_page_for(status: StatusCode, message: &str, signed_in: Option<(String, String)>) -> String {
    error_page_at(status, message, signed_in, "/")
}

/// An error page whose start-page link is `home` (an absolute URL where a relative one
/// would lead back to the wrong address).
pub fn error_page_at(status: StatusCode, message: &str, signed_in: Option<(String, String)>, home: &str) -> String {
    let (user, csrf) = signed_in.map(|(u, c)| (Some(u), c)).unwrap_or_default();
    let page = ErrorPage {
        chrome: Chrome { title: status.canonical_reason().unwrap_or("Error").into(), user, csrf, flash: None, nav: "" },
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        home,
    };
    page.render().unwrap_or_else(|_| format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error")))
}
