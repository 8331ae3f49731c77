//! What every page shares: the frame (`Chrome`: title, signed-in user, CSRF token, flash,
//! current menu entry), field errors, and the error page.

use actix_web::http::StatusCode;
use askama::Template;

use crate::AppError;
use crate::web::extract::SignedIn;
use crate::web::session::{Flash, WebSession};

pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The side-menu entry to mark as current.
    pub nav: &'static str,
}

impl Chrome {
    pub fn anonymous(title: &str, session: &WebSession) -> Result<Chrome, AppError> {
        Ok(Chrome { title: title.into(), user: None, csrf: session.csrf_token()?, flash: session.take_flash(), nav: "" })
    }

    pub fn signed_in(title: &str, nav: &'static str, who: &SignedIn) -> Result<Chrome, AppError> {
        Ok(Chrome { title: title.into(), user: Some(who.user.username.clone()), csrf: who.session.csrf_token()?, flash: who.session.take_flash(), nav })
    }
}

/// Messages shown beside form fields.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }
}

/// `?page=N` of a paged list: pages count from 1.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    page: Option<i64>,
}

impl From<Option<i64>> for PageQuery {
    fn from(page: Option<i64>) -> Self {
        PageQuery { page }
    }
}

impl PageQuery {
    pub fn number(&self) -> Result<i64, AppError> {
        match self.page.unwrap_or(1) {
            n if n >= 1 => Ok(n),
            _ => Err(AppError::BadRequest("Pages are numbered from 1.".into())),
        }
    }
}

/// Where a list's "Newer / Page N of M / Older" links point (`partials/pager.html`).
pub struct Pager {
    pub base: &'static str,
    pub page: i64,
    pub pages: i64,
    /// The list's other query parameters (`&q=…&sort=…`), kept from page to page.
    pub query: String,
}

impl Pager {
    pub fn new(base: &'static str, page: i64, total: i64, per_page: i64) -> Pager {
        Pager { base, page, pages: ((total + per_page - 1) / per_page).max(1), query: String::new() }
    }

    pub fn keeping(mut self, params: &[(&str, &str)]) -> Pager {
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            self.query.push_str(&format!("&{}={}", k, url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()));
        }
        self
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
