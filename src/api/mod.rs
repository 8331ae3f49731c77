//! The Docker Hub-compatible JSON API under `/v2`: login (with 2FA), access
//! tokens, the profile, organizations (members, groups, invitations, the audit log) and their access tokens. Bearer JWTs, no cookies, JSON everywhere — errors included. The
//! handlers call the same domain functions as the web pages.

pub mod account;
pub mod auditlogs;
pub mod auth;
pub mod billing;
pub mod groups;
pub mod invites;
pub mod jwt;
pub mod org_tokens;
pub mod orgs;
pub mod ratelimit;
pub mod repository;
pub mod tags;
pub mod tokens;

use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::Error;
use crate::accounts::User;
use crate::app::AppState;
use crate::http::BodyError;
use crate::http::{content_type_is, read_limited};
use crate::registry::grants::Credential;
use crate::tokens::Scope;

/// Largest JSON body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

pub const PAT_FORBIDDEN: &str = "access to the resource is forbidden with personal access token";
pub const OAT_FORBIDDEN: &str = "access to the resource is forbidden with organization access token";

/// The API's error: a status and a JSON body, never HTML, never an internal message.
#[derive(Debug)]
pub enum ApiError {
    Detail(StatusCode, String),
    /// 400 with the fields at fault (the access-token form).
    Fields(serde_json::Map<String, serde_json::Value>, String),
    TooManyRequests(u64),
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Detail(status, detail.into())
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found.")
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Authentication credentials were not provided or are not valid.")
    }
    pub fn pat_forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, PAT_FORBIDDEN)
    }
    pub fn oat_forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, OAT_FORBIDDEN)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Detail(s, d) => write!(f, "{s}: {d}"),
            ApiError::Fields(_, t) => f.write_str(t),
            ApiError::TooManyRequests(s) => write!(f, "too many requests, retry after {s} s"),
        }
    }
}

/// The API's rendering of a domain error: its status and sentence as `detail`.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        e.log_if_internal("JSON API");
        match e {
            Error::Throttled { retry_after } => ApiError::TooManyRequests(retry_after),
            Error::NotFound => ApiError::not_found(),
            other => ApiError::new(crate::http::status_of(&other), other.to_string()),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "The body is larger than 16 KiB."),
            BodyError::TimedOut => ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string()),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Detail(s, _) => *s,
            ApiError::Fields(..) => StatusCode::BAD_REQUEST,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::Detail(_, d) => res.json(json!({ "detail": d })),
            ApiError::Fields(fields, text) => res.json(json!({ "fields": fields, "text": text })),
            ApiError::TooManyRequests(s) => res.insert_header((header::RETRY_AFTER, s.to_string())).json(json!({ "detail": "Too many failed attempts. Try again later." })),
        }
    }
}

/// A JSON body: `application/json`, at most `LIMIT` bytes (16 KiB unless a route's body needs
/// more, as a README does), parsed strictly; errors name the field.
pub struct ApiJson<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for ApiJson<T, LIMIT> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !content_type_is(&req, "application/json") {
                return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.").into());
            }
            let body = read_limited(&req, payload, LIMIT).await.map_err(|e| match e {
                BodyError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The body is larger than {} KiB.", LIMIT / 1024)),
                other => ApiError::from(other),
            })?;
            // every body here is an object; serde alone would take `[a, b]` for a struct
            if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(ApiError::bad_request("The body must be a JSON object.").into());
            }
            // the path names the field at fault, which serde_json's own message does not for
            // a wrong type
            let value = serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_slice(&body)).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." { ApiError::bad_request(format!("Malformed JSON: {inner}.")) } else { ApiError::bad_request(format!("Malformed JSON at `{path}`: {inner}.")) }
            })?;
            Ok(ApiJson(value))
        })
    }
}

/// `?page=N&page_size=M` of a paged list: both count from 1; `page_size` is clamped to 100.
#[derive(Debug, serde::Deserialize)]
pub struct ApiPage {
    page: Option<i64>,
    page_size: Option<i64>,
}

pub const MAX_PAGE_SIZE: i64 = 100;

impl ApiPage {
    pub fn get(&self) -> Result<(i64, i64), ApiError> {
        self.get_or(10)
    }

    /// Whether the query names a page or a page size at all.
    pub fn is_given(&self) -> bool {
        self.page.is_some() || self.page_size.is_some()
    }

    /// As `get`, for a list whose pages hold `default` items unless asked otherwise.
    pub fn get_or(&self, default: i64) -> Result<(i64, i64), ApiError> {
        let (page, size) = (self.page.unwrap_or(1), self.page_size.unwrap_or(default));
        if page < 1 || size < 1 {
            return Err(ApiError::bad_request("page and page_size count from 1."));
        }
        Ok((page, size.min(MAX_PAGE_SIZE)))
    }
}

/// Docker Hub's `next` and `previous` links of a page of `total` items under `base`.
pub fn page_links(base: &str, page: i64, size: i64, total: i64) -> (Option<String>, Option<String>) {
    let link = |p: i64| format!("{base}?page={p}&page_size={size}");
    ((page.saturating_mul(size) < total).then(|| link(page.saturating_add(1))), (page > 1).then(|| link(page - 1)))
}

/// The user behind a bearer JWT, re-checked on every request: the user exists and is
/// enabled, the security stamp still matches, and a PAT-derived JWT's token is still active
/// and unexpired — so a deactivation or a password change bites at once.
pub struct ApiUser {
    pub user: User,
    pub claims: jwt::Claims,
}

impl ApiUser {
    pub fn via_pat(&self) -> bool {
        self.claims.amr == jwt::Method::PersonalAccessToken
    }
    /// The registry credential this JWT stands for, so the API grants what `/token` would:
    /// a PAT-derived JWT carries its token's scope (an unreadable one grants the least),
    /// the password counts as a "Read, Write, Delete" token.
    pub fn credential(&self) -> Credential {
        let scope = match self.claims.amr {
            // an organization's JWT is never an `ApiUser`; were it one, it would grant the least
            jwt::Method::PersonalAccessToken | jwt::Method::OrganizationAccessToken => self.claims.scope.as_deref().and_then(Scope::parse).unwrap_or(Scope::PublicRead),
            jwt::Method::Password | jwt::Method::PasswordAndSecondFactor => Scope::Admin,
        };
        Credential::User { user_id: self.user.id, username: self.user.username.clone(), scope, operator: self.user.is_operator }
    }

    /// Account administration, and every change to an organization, needs a JWT the
    /// password bought (an organization access token's never gets this far: `ApiUser`
    /// refuses it). The match names every way a JWT is obtained: a new kind does not
    /// compile until its answer here is decided.
    pub fn require_password(&self) -> Result<(), ApiError> {
        match self.claims.amr {
            jwt::Method::Password | jwt::Method::PasswordAndSecondFactor => Ok(()),
            jwt::Method::PersonalAccessToken => Err(ApiError::pat_forbidden()),
            jwt::Method::OrganizationAccessToken => Err(ApiError::oat_forbidden()),
        }
    }
}

/// The claims of the request's bearer JWT, if it carries one this server signed and it
/// has not expired; a 401 otherwise.
fn bearer_claims(req: &HttpRequest, app: &AppState) -> Result<jwt::Claims, ApiError> {
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("JWT ")));
    bearer.and_then(|t| jwt::verify(&app.keys.api_jwt, &app.settings.issuer, t.trim(), app.now())).ok_or_else(ApiError::unauthorized)
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone()
}

impl ApiUser {
    /// The user of a user's JWT, checked against the database now.
    async fn of(app: &AppState, claims: jwt::Claims) -> Result<ApiUser, ApiError> {
        let (c, now) = (claims.clone(), app.now());
        let user = app
            .db(move |conn| {
                let Some(user) = crate::accounts::find_by_id(conn, c.uid)? else { return Ok(None) };
                if user.is_disabled || user.security_stamp != c.stamp || user.username != c.sub {
                    return Ok(None);
                }
                if let Some(tid) = &c.tid {
                    let live = crate::tokens::find_owned(conn, user.id, tid)?.is_some_and(|t| t.is_active && !t.is_expired(now));
                    if !live {
                        return Ok(None);
                    }
                }
                Ok(Some(user))
            })
            .await
            .map_err(ApiError::from)?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(ApiUser { user, claims })
    }
}

/// A user's endpoint: a JWT of an organization access token is refused with Docker Hub's
/// words whatever it asks (it may only list repositories: `ApiCaller`).
impl FromRequest for ApiUser {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        from_bearer(req, |app, claims| async move {
            if claims.amr == jwt::Method::OrganizationAccessToken {
                return Err(ApiError::oat_forbidden());
            }
            ApiUser::of(&app, claims).await
        })
    }
}

/// An extractor's future: the bearer JWT's claims (401 without valid ones), then `then`
/// says who they are.
fn from_bearer<T, F, Fut>(req: &HttpRequest, then: F) -> Pin<Box<dyn std::future::Future<Output = Result<T, actix_web::Error>>>>
where
    F: FnOnce(web::Data<AppState>, jwt::Claims) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let req = req.clone();
    Box::pin(async move {
        let app = state(&req);
        let claims = bearer_claims(&req, &app)?;
        Ok(then(app, claims).await?)
    })
}

/// The organization access token behind a bearer JWT, re-checked on every request: it
/// still exists in the organization the JWT names, active and unexpired.
pub struct ApiOrgToken {
    pub auth: crate::org_tokens::OrgAuthenticated,
}

impl ApiOrgToken {
    async fn of(app: &AppState, claims: &jwt::Claims) -> Result<ApiOrgToken, ApiError> {
        let (org_name, tid, now) = (claims.sub.clone(), claims.tid.clone().ok_or_else(ApiError::unauthorized)?, app.now());
        let found = app
            .db(move |conn| {
                let Some(org) = crate::orgs::find(conn, &org_name)? else { return Ok(None) };
                let token = crate::org_tokens::find(conn, org.id, &tid)?.filter(|t| t.is_live(now));
                Ok(token.map(|t| crate::org_tokens::OrgAuthenticated { token_id: t.id, resources: t.resources(), token_uuid: t.uuid, org: org.namespace(), org_name: org.name }))
            })
            .await?;
        Ok(ApiOrgToken { auth: found.ok_or_else(ApiError::unauthorized)? })
    }

    /// The registry credential this JWT stands for.
    pub fn credential(&self) -> Credential {
        let a = &self.auth;
        Credential::OrgToken { token_id: a.token_id, org: a.org.id, org_name: a.org_name.clone(), resources: a.resources.clone() }
    }
}

/// Whoever a bearer JWT speaks for, on the endpoints an organization access token may
/// call too (the repository listing).
pub enum ApiCaller {
    /// Boxed: the user row is the larger variant by far.
    User(Box<ApiUser>),
    OrgToken(ApiOrgToken),
}

impl ApiCaller {
    pub fn credential(&self) -> Credential {
        match self {
            ApiCaller::User(u) => u.credential(),
            ApiCaller::OrgToken(t) => t.credential(),
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        from_bearer(req, |app, claims| async move {
            if claims.amr == jwt::Method::OrganizationAccessToken {
                return Ok(ApiCaller::OrgToken(ApiOrgToken::of(&app, &claims).await?));
            }
            Ok(ApiCaller::User(Box::new(ApiUser::of(&app, claims).await?)))
        })
    }
}

/// Whoever reads a repository, its tags or a namespace's repositories: anyone, as on Docker
/// Hub, where public repositories need no sign-in. A request without `Authorization` is
/// anonymous (it sees public repositories only); one with it is the bearer JWT's caller, and
/// a JWT that is not valid is a 401, never read as anonymous.
pub struct ApiReader(pub Option<ApiCaller>);

impl ApiReader {
    pub fn credential(&self) -> Credential {
        self.0.as_ref().map_or(Credential::Anonymous, ApiCaller::credential)
    }
}

impl FromRequest for ApiReader {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            return Box::pin(std::future::ready(Ok(ApiReader(None))));
        }
        let caller = ApiCaller::from_request(req, payload);
        Box::pin(async move { Ok(ApiReader(Some(caller.await?))) })
    }
}

/// The OpenAPI 3.1 description of these endpoints, checked against the running server by
/// tests/openapi.rs (schemathesis).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(OPENAPI)
}

/// A resource whose other methods answer 405 with the `Allow` header RFC 9110 requires.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut res = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.").error_response();
        res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        Ok::<_, actix_web::Error>(res)
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post};
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::bad_request(format!("Invalid query: {e}.")).into()))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
        .service(resource("/users/login", "POST").route(post().to(auth::login)))
        .service(resource("/users/2fa-login", "POST").route(post().to(auth::second_factor)))
        .service(resource("/auth/token", "POST").route(post().to(auth::auth_token)))
        .service(resource("/openapi.json", "GET").route(get().to(openapi)))
        .service(resource("/repositories/{namespace}/", "GET").route(get().to(account::repositories)))
        .service(resource("/repositories/{namespace}", "GET").route(get().to(account::repositories)))
        .service(resource("/access-tokens", "GET, POST").route(get().to(tokens::list)).route(post().to(tokens::create)))
        .service(resource("/access-tokens/{uuid}", "GET, PATCH, DELETE").route(get().to(tokens::one)).route(patch().to(tokens::update)).route(delete().to(tokens::remove)))
        .configure(hub_cli_routes)
        .configure(tag_routes)
        .configure(organization_routes)
        .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::not_found()) }));
}

/// A repository, and its tags under the paths Docker Hub has had for them.
fn tag_routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch};
    both(cfg, "/repositories/{namespace}/{repo}/", "GET, PATCH, DELETE", |r| {
        r.route(get().to(repository::one)).route(patch().to(repository::patch)).route(delete().to(repository::delete))
    });
    for base in ["/repositories/{namespace}/{repo}/tags", "/namespaces/{namespace}/repositories/{repo}/tags"] {
        both(cfg, &format!("{base}/"), "GET", |r| r.route(get().to(tags::list)));
        both(cfg, &format!("{base}/{{tag}}/"), "GET, DELETE", |r| r.route(get().to(tags::one)).route(delete().to(tags::delete)));
    }
}

/// A path served with and without its trailing slash: Docker Hub's clients write both
/// (`/v2/orgs/acme/groups/` and `/v2/orgs/acme/groups`). The OpenAPI document names one.
fn both(cfg: &mut web::ServiceConfig, path: &str, allow: &'static str, routes: impl Fn(actix_web::Resource) -> actix_web::Resource) {
    let twin = match path.strip_suffix('/') {
        Some(bare) => bare.to_string(),
        None => format!("{path}/"),
    };
    cfg.service(routes(resource(path, allow))).service(routes(resource(&twin, allow)));
}

/// What Docker's Hub CLI calls besides the above: the profile with its trailing slash
/// (`/v2/user/`, the only form it writes) and the token endpoints under their earlier name
/// `/v2/api_tokens`.
fn hub_cli_routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post};
    both(cfg, "/user", "GET", |r| r.route(get().to(account::profile)));
    both(cfg, "/api_tokens", "GET, POST", |r| r.route(get().to(tokens::legacy_list)).route(post().to(tokens::legacy_create)));
    both(cfg, "/api_tokens/{uuid}", "GET, PATCH, DELETE", |r| r.route(get().to(tokens::one)).route(patch().to(tokens::update)).route(delete().to(tokens::remove)));
}

/// The organizations' endpoints. A repository's name may have several components
/// (`acme/tools/cli`): `{repo}` takes them all.
fn organization_routes(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch, post, put};
    both(cfg, "/user/orgs/", "GET", |r| r.route(get().to(orgs::of_user)));
    both(cfg, "/user/invites/", "GET", |r| r.route(get().to(invites::of_user)));
    both(cfg, "/orgs/{org}", "GET", |r| r.route(get().to(orgs::one)));
    both(cfg, "/orgs/{org}/members", "GET", |r| r.route(get().to(orgs::members)));
    both(cfg, "/orgs/{org}/members/{username}", "PUT, DELETE", |r| r.route(put().to(orgs::set_role)).route(delete().to(orgs::remove)));
    both(cfg, "/orgs/{org}/groups", "GET, POST", |r| r.route(get().to(groups::list)).route(post().to(groups::create)));
    both(cfg, "/orgs/{org}/groups/{group}", "GET, PUT, PATCH, DELETE", |r| {
        r.route(get().to(groups::one)).route(put().to(groups::replace)).route(patch().to(groups::patch)).route(delete().to(groups::delete))
    });
    both(cfg, "/orgs/{org}/groups/{group}/members", "GET, POST", |r| r.route(get().to(groups::members)).route(post().to(groups::add_member)));
    both(cfg, "/orgs/{org}/groups/{group}/members/{username}", "DELETE", |r| r.route(delete().to(groups::remove_member)));
    both(cfg, "/orgs/{org}/groups/{group}/repositories/", "GET", |r| r.route(get().to(groups::repositories)));
    both(cfg, "/orgs/{org}/invites", "GET", |r| r.route(get().to(invites::of_org)));
    both(cfg, "/repositories/{namespace}/{repo:[^/]+(?:/[^/]+)*}/groups/", "GET, POST", |r| r.route(get().to(groups::of_repository)).route(post().to(groups::grant)));
    both(cfg, "/repositories/{namespace}/{repo:[^/]+(?:/[^/]+)*}/groups/{group_id}", "GET, PATCH, DELETE", |r| {
        r.route(get().to(groups::grant_of)).route(patch().to(groups::change_grant)).route(delete().to(groups::revoke))
    });
    both(cfg, "/invites/bulk", "POST", |r| r.route(post().to(invites::bulk)));
    both(cfg, "/invites/{id}", "DELETE", |r| r.route(delete().to(invites::remove)));
    both(cfg, "/invites/{id}/resend", "PATCH", |r| r.route(patch().to(invites::resend)));
    both(cfg, "/invites/{id}/accept", "POST", |r| r.route(post().to(invites::accept)));
    both(cfg, "/auditlogs/{org}", "GET", |r| r.route(get().to(auditlogs::logs)));
    both(cfg, "/auditlogs/{org}/actions", "GET", |r| r.route(get().to(auditlogs::actions)));
    both(cfg, "/orgs/{org}/access-tokens", "GET, POST", |r| r.route(get().to(org_tokens::list)).route(post().to(org_tokens::create)));
    both(cfg, "/orgs/{org}/access-tokens/{id}", "GET, PATCH, DELETE", |r| {
        r.route(get().to(org_tokens::one)).route(patch().to(org_tokens::update)).route(delete().to(org_tokens::remove))
    });
}
