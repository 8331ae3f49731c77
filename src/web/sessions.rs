//! /settings/sessions: the user's signed-in sessions; end one, or all but this one.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::activity::Event;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::signin::events::record;
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, client_name, when};
use crate::web::middleware::html;
use crate::web::pages::ConfirmPage;
use crate::web::redirect;

pub struct SessionRow {
    pub id: String,
    pub current: bool,
    pub ip: String,
    pub client: String,
    pub user_agent: String,
    pub created: When,
    pub last_seen: When,
}

#[derive(Template)]
#[template(path = "settings/sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    rows: Vec<SessionRow>,
    others: usize,
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (idle, absolute) = (app.settings.session_idle_seconds, app.settings.session_absolute_seconds);
    let list = app.db(move |c| crate::sessions::list_for_user(c, uid, now, idle, absolute)).await?;
    let current = who.session.public_id();
    let rows: Vec<SessionRow> = list
        .into_iter()
        .filter_map(|s| {
            let id = s.public_id?;
            Some(SessionRow {
                current: Some(&id) == current.as_ref(),
                id,
                client: client_name(&s.user_agent),
                user_agent: s.user_agent,
                ip: s.ip,
                created: when(s.created_at, now),
                last_seen: when(s.last_seen, now),
            })
        })
        .collect();
    let others = rows.iter().filter(|r| !r.current).count();
    let page = SessionsPage { chrome: Chrome::signed_in("Sessions", "sessions", &who)?, rows, others };
    Ok(html(page.render()?))
}

pub async fn end_form(app: web::Data<AppState>, who: SignedIn, id: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (idle, absolute) = (app.settings.session_idle_seconds, app.settings.session_absolute_seconds);
    let list = app.db(move |c| crate::sessions::list_for_user(c, uid, now, idle, absolute)).await?;
    // named as the list shows it, so the right one is ended
    let session = list.into_iter().find(|s| s.public_id.as_deref() == Some(id.as_str())).ok_or(Error::NotFound)?;
    let current = who.session.public_id().as_deref() == Some(id.as_str());
    let name = format!("{} at {}, signed in {}", client_name(&session.user_agent), session.ip, when(session.created_at, now).relative);
    let page = ConfirmPage {
        chrome: Chrome::signed_in("End session", "sessions", &who)?,
        heading: if current { format!("Sign out of this session ({name})?") } else { format!("End the session of {name}?") },
        message: "The browser or device using it will be signed out at once and must sign in again.".into(),
        action: format!("/settings/sessions/{}/end", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()),
        button: "End session".into(),
        cancel: "/settings/sessions".into(),
    };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyForm {}

pub async fn end(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, id: web::Path<String>, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    let (uid, id) = (who.user.id, id.into_inner());
    let is_current = who.session.public_id().as_deref() == Some(id.as_str());
    let ended = app.db(move |c| crate::sessions::end(c, uid, &id)).await?;
    if !ended {
        return Err(PageError::not_found());
    }
    record(&app.signin, uid, Event::SessionEnded, if is_current { "this session" } else { "another session" }, &info.client).await?;
    if is_current {
        who.session.sign_out();
        return Ok(redirect("/login"));
    }
    who.session.flash("success", "The session was ended: that browser or device is signed out.")?;
    Ok(redirect("/settings/sessions"))
}

pub async fn end_others_form(who: SignedIn) -> Result<HttpResponse, PageError> {
    let page = ConfirmPage {
        chrome: Chrome::signed_in("End other sessions", "sessions", &who)?,
        heading: "End all other sessions?".into(),
        message: "Every other browser and device signed in to your account will be signed out at once. This session stays signed in.".into(),
        action: "/settings/sessions/end-others".into(),
        button: "End all other sessions".into(),
        cancel: "/settings/sessions".into(),
    };
    Ok(html(page.render()?))
}

pub async fn end_others(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(_): CsrfForm<EmptyForm>) -> Result<HttpResponse, PageError> {
    let (uid, keep) = (who.user.id, who.session.public_id().unwrap_or_default());
    let n = app.db(move |c| crate::sessions::end_others(c, uid, &keep)).await?;
    if n > 0 {
        record(&app.signin, uid, Event::SessionEnded, &format!("{n} other session(s)"), &info.client).await?;
    }
    who.session.flash("success", if n == 1 { "1 other session was ended.".to_string() } else { format!("{n} other sessions were ended.") })?;
    Ok(redirect("/settings/sessions"))
}
