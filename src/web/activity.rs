//! /settings/activity: the account's security events, newest first.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::app::AppState;
use crate::web::chrome::Chrome;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, client_name, when};
use crate::web::middleware::html;
use crate::web::pages::{PageQuery, Pager};

pub const PER_PAGE: i64 = 50;

pub struct Row {
    pub label: String,
    pub detail: String,
    pub when: When,
    pub ip: String,
    pub client: String,
    pub user_agent: String,
}

#[derive(Template)]
#[template(path = "settings/activity.html")]
struct ActivityPage {
    chrome: Chrome,
    rows: Vec<Row>,
    pager: Pager,
}

pub async fn page(app: web::Data<AppState>, who: SignedIn, q: web::Query<PageQuery>) -> Result<HttpResponse, PageError> {
    let page = q.number()?;
    let (uid, now) = (who.user.id, app.now());
    let (entries, total) = app.db(move |c| crate::activity::list(c, uid, page, PER_PAGE)).await?;
    let rows = entries
        .into_iter()
        .map(|e| Row {
            label: e.label().to_string(),
            detail: e.detail.clone(),
            when: when(e.created_at, now),
            ip: if e.ip.is_empty() { "—".into() } else { e.ip.clone() },
            client: client_name(&e.user_agent),
            user_agent: e.user_agent,
        })
        .collect();
    let page = ActivityPage { chrome: Chrome::signed_in("Activity", "activity", &who)?, rows, pager: Pager::new("/settings/activity", page, total, PER_PAGE) };
    Ok(html(page.render()?))
}
