//! The frame of every page, the error page included: title, signed-in user, CSRF token for
//! Sign out, flash message, current menu entry. A plain struct, so that rendering an error
//! needs nothing else of the pages; `web::pages` makes one for a visitor.

use crate::web::browser::Flash;

pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// The side-menu entry to mark as current.
    pub nav: &'static str,
}
