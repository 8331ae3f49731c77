//! What every page shares: making the frame (`Chrome`) for a visitor, field errors, paged
//! lists.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::Error;
use crate::owners::Permission;
use crate::web::chrome::Chrome;
use crate::web::extract::SignedIn;
use crate::web::session::WebSession;

impl Chrome {
    pub fn anonymous(title: &str, session: &WebSession) -> Result<Chrome, Error> {
        Ok(Chrome { title: title.into(), user: None, csrf: session.csrf_token()?, flash: session.take_flash(), nav: "" })
    }

    pub fn signed_in(title: &str, nav: &'static str, who: &SignedIn) -> Result<Chrome, Error> {
        Ok(Chrome { title: title.into(), user: Some(who.user.username.clone()), csrf: who.session.csrf_token()?, flash: who.session.take_flash(), nav })
    }
}

/// Messages shown beside form fields.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// A message (a sentence, or the domain error saying it) beside `field`.
    pub fn add(&mut self, field: &'static str, message: impl std::fmt::Display) {
        self.0.push((field, message.to_string()));
    }
    /// A refusal beside the field it names (or the form's own message when it names none).
    pub fn refuse(&mut self, e: crate::Error) {
        self.add(e.field().unwrap_or("form"), e);
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

/// A confirmation before a change that cannot be undone from the same page
/// (`settings/confirm.html`): the question, what follows, and the form that does it.
#[derive(askama::Template)]
#[template(path = "settings/confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
    pub action: String,
    pub button: String,
    pub cancel: String,
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
    pub fn number(&self) -> Result<i64, Error> {
        match self.page.unwrap_or(1) {
            n if n >= 1 => Ok(n),
            _ => Err(Error::invalid("Pages are numbered from 1.")),
        }
    }
}

/// Where a list's "Newer / Page N of M / Older" links point (`partials/pager.html`).
pub struct Pager {
    pub base: String,
    /// The query parameter holding the page number: `page`, unless a page holds two lists.
    pub param: &'static str,
    pub page: i64,
    pub pages: i64,
    /// The links' words: a list by time is "Newer" / "Older", one by name "Previous" / "Next".
    pub back: &'static str,
    pub forward: &'static str,
    /// What the pages are of, for screen readers: "Pages", "Pages of members".
    pub label: &'static str,
    /// The list's other query parameters (`&q=…&sort=…`), kept from page to page.
    pub query: String,
}

impl Pager {
    pub fn new(base: impl Into<String>, page: i64, total: i64, per_page: i64) -> Pager {
        Pager { base: base.into(), param: "page", page, pages: ((total + per_page - 1) / per_page).max(1), back: "Newer", forward: "Older", label: "Pages", query: String::new() }
    }

    /// A list in order of name, paged by `param` (one page may hold two lists), and what
    /// its pages are of (`label`).
    pub fn by_name(mut self, param: &'static str, label: &'static str) -> Pager {
        (self.param, self.label, self.back, self.forward) = (param, label, "Previous", "Next");
        self
    }

    pub fn keeping(mut self, params: &[(&str, &str)]) -> Pager {
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            self.query.push_str(&format!("&{}={}", k, url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()));
        }
        self
    }
}

/// A page answering a form that was refused beside its fields.
pub fn refused_form(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body)
}

/// The status of a form refused beside a field: a name someone holds is a conflict, the
/// rest is input to correct.
pub fn field_status(e: &Error) -> StatusCode {
    match e {
        Error::Taken(_) => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A permission as Docker Hub words it.
pub fn permission_label(p: Permission) -> &'static str {
    match p {
        Permission::None => "None",
        Permission::Read => "Read-only",
        Permission::Write => "Read & Write",
        Permission::Admin => "Admin",
    }
}
