//! What every page shares: making the frame (`Chrome`) for a visitor, field errors, paged
//! lists.

use crate::Error;
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
