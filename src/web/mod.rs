//! The web pages: routes, and one module per area. Handlers are thin: parse, call a domain
//! function through `AppState::db`, render a template.

pub mod account;
pub mod activity;
pub mod auth;
pub mod browser;
pub mod chrome;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod fmt;
pub mod middleware;
pub mod org_tokens;
pub mod orgs;
pub mod pages;
pub mod repositories;
pub mod security;
pub mod session;
pub mod sessions;
pub mod teams;
pub mod tokens;
pub mod webhooks;

use actix_web::http::header;
use actix_web::{HttpResponse, Resource, web};

use crate::Error;
use crate::app::AppState;
use crate::web::error::PageError;
use crate::web::session::WebSession;

/// A resource whose other methods answer 405 with an error page (a GET on a
/// state-changing route must never do anything).
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.service(resource("/").route(get().to(home)))
        .service(resource("/signup").route(get().to(auth::signup_form)).route(post().to(auth::signup)))
        .service(resource("/login").route(get().to(auth::login_form)).route(post().to(auth::login)))
        .service(resource("/login/2fa").route(get().to(auth::second_step_form)).route(post().to(auth::second_step)))
        .service(resource("/logout").route(post().to(auth::logout)))
        .service(resource("/settings").route(get().to(|| async { redirect("/settings/account") })))
        .service(resource("/settings/account").route(get().to(account::page)))
        .service(resource("/settings/account/email").route(post().to(account::change_email)))
        .service(resource("/settings/account/password").route(post().to(account::change_password)))
        .service(resource("/settings/account/delete").route(get().to(account::delete_form)).route(post().to(account::delete)))
        .service(resource("/settings/security").route(get().to(security::page)))
        .service(resource("/settings/security/2fa/enable").route(get().to(security::enable_form)).route(post().to(security::enable)))
        .service(resource("/settings/security/2fa/setup").route(get().to(security::setup_form)).route(post().to(security::confirm)))
        .service(resource("/settings/security/2fa/qr.png").route(get().to(security::qr_png)))
        .service(resource("/settings/security/2fa/recovery-codes").route(get().to(security::regenerate_form)).route(post().to(security::regenerate)))
        .service(resource("/settings/security/2fa/recovery-codes.txt").route(post().to(security::download_codes)))
        .service(resource("/settings/security/2fa/disable").route(get().to(security::disable_form)).route(post().to(security::disable)))
        .service(resource("/settings/security/2fa/factors/{id}/remove").route(get().to(security::remove_form)).route(post().to(security::remove)))
        .service(resource("/settings/tokens").route(get().to(tokens::overview)).route(post().to(tokens::create)))
        .service(resource("/settings/tokens/new").route(get().to(tokens::new_form)))
        .service(resource("/settings/tokens/delete").route(post().to(tokens::delete_many)))
        .service(resource("/settings/tokens/delete-expired").route(get().to(tokens::delete_expired_form)).route(post().to(tokens::delete_expired)))
        .service(resource("/settings/tokens/{uuid}/edit").route(get().to(tokens::edit_form)).route(post().to(tokens::edit)))
        .service(resource("/settings/tokens/{uuid}/activate").route(post().to(tokens::activate)))
        .service(resource("/settings/tokens/{uuid}/deactivate").route(post().to(tokens::deactivate)))
        .service(resource("/settings/tokens/{uuid}/delete").route(get().to(tokens::delete_form)).route(post().to(tokens::delete_one)))
        .service(resource("/settings/sessions").route(get().to(sessions::page)))
        .service(resource("/settings/sessions/end-others").route(get().to(sessions::end_others_form)).route(post().to(sessions::end_others)))
        .service(resource("/settings/sessions/{id}/end").route(get().to(sessions::end_form)).route(post().to(sessions::end)))
        .service(resource("/settings/activity").route(get().to(activity::page)))
        .service(resource("/orgs/{org}/access-tokens").route(get().to(org_tokens::page)).route(post().to(org_tokens::create)))
        .service(resource("/orgs/{org}/access-tokens/{id}/delete").route(get().to(org_tokens::delete_form)).route(post().to(org_tokens::delete)))
        // activate, deactivate (after delete, which it would take too)
        .service(resource("/orgs/{org}/access-tokens/{id}/{change}").route(post().to(org_tokens::set_active)))
        .service(resource("/repositories").route(get().to(repositories::page)).route(post().to(repositories::create)))
        .service(resource("/repositories/visibility").route(post().to(repositories::visibility)))
        .service(resource("/repositories/delete").route(get().to(repositories::delete_form)).route(post().to(repositories::delete)))
        .service(resource("/repositories/tags/delete").route(get().to(repositories::tag_delete_form)).route(post().to(repositories::tag_delete)))
        .service(resource("/repositories/collaborators").route(post().to(repositories::add_collaborator)))
        .service(resource("/repositories/collaborators/remove").route(post().to(repositories::remove_collaborator)))
        .service(resource("/repositories/describe").route(post().to(repositories::describe)))
        .service(resource("/repositories/webhooks").route(post().to(webhooks::add)))
        .service(resource("/repositories/webhooks/delete").route(post().to(webhooks::delete)))
        .service(resource("/repository/{namespace}/{path:.+}").route(get().to(repositories::show)))
        .service(resource("/orgs").route(get().to(orgs::list)).route(post().to(orgs::create)))
        .service(resource("/orgs/{org}").route(get().to(orgs::overview)))
        .service(resource("/orgs/{org}/leave").route(get().to(orgs::leave_form)).route(post().to(orgs::leave)))
        .service(resource("/orgs/{org}/settings").route(post().to(orgs::settings)))
        .service(resource("/orgs/{org}/activity").route(get().to(orgs::activity)))
        .service(resource("/orgs/{org}/members/{username}/role").route(post().to(orgs::set_role)))
        .service(resource("/orgs/{org}/members/{username}/remove").route(get().to(orgs::remove_form)).route(post().to(orgs::remove)))
        .service(resource("/orgs/{org}/invitations").route(post().to(orgs::invite)))
        .service(resource("/orgs/{org}/invitations/{uuid}/accept").route(post().to(orgs::accept)))
        .service(resource("/orgs/{org}/invitations/{uuid}/decline").route(post().to(orgs::decline)))
        .service(resource("/orgs/{org}/invitations/{uuid}/resend").route(post().to(orgs::resend)))
        .service(resource("/orgs/{org}/invitations/{uuid}/revoke").route(post().to(orgs::revoke)))
        .service(resource("/orgs/{org}/repositories").route(post().to(orgs::create_repository)))
        .service(resource("/orgs/{org}/repositories/visibility").route(post().to(orgs::repository_visibility)))
        .service(resource("/orgs/{org}/repositories/delete").route(get().to(orgs::delete_repository_form)).route(post().to(orgs::delete_repository)))
        .service(resource("/orgs/{org}/teams").route(post().to(teams::create)))
        .service(resource("/orgs/{org}/teams/{team}").route(get().to(teams::page)))
        .service(resource("/orgs/{org}/teams/{team}/edit").route(post().to(teams::edit)))
        .service(resource("/orgs/{org}/teams/{team}/delete").route(get().to(teams::delete_form)).route(post().to(teams::delete)))
        .service(resource("/orgs/{org}/teams/{team}/members").route(post().to(teams::add_member)))
        .service(resource("/orgs/{org}/teams/{team}/members/remove").route(post().to(teams::remove_member)))
        .service(resource("/orgs/{org}/teams/{team}/permissions").route(post().to(teams::set_permission)))
        .service(resource("/orgs/{org}/teams/{team}/permissions/revoke").route(post().to(teams::revoke_permission)));
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_string())).finish()
}

async fn home(session: WebSession) -> HttpResponse {
    if session.user_id().is_some() { redirect("/settings/account") } else { redirect("/login") }
}

pub async fn healthz(app: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    use diesel::RunQueryDsl;
    app.db(|c| diesel::sql_query("SELECT 1").execute(c).map_err(Error::from)).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ok"))
}

pub async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError::not_found())
}

async fn method_not_allowed() -> Result<HttpResponse, PageError> {
    Err(PageError::MethodNotAllowed)
}

const CSS: &str = include_str!("../../static/berth.css");
const JS: &str = include_str!("../../static/berth.js");

/// The stylesheet and script, compiled into the binary so it runs from any folder.
pub async fn static_file(name: web::Path<String>) -> Result<HttpResponse, PageError> {
    let (body, content_type) = match name.as_str() {
        "berth.css" => (CSS, "text/css; charset=utf-8"),
        "berth.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Err(PageError::not_found()),
    };
    Ok(HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "public, max-age=3600")).body(body))
}
