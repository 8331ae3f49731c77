//! `GET /token` and `POST /token`: the registry's token server. Credentials come as Basic
//! (GET) or as a form (POST, containerd's `grant_type=password`); the answer is a JWT whose
//! `access` lists what was granted. This door parses the request, checks the credential,
//! asks `authorization` what it is granted and renders the answer. Every answer is JSON,
//! errors included.

use std::borrow::Cow;
use std::collections::HashSet;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::authorization::{self, PushNotes};
use super::grants::{self, Credential, Requested};
use super::jwt::{self, Access};
use crate::Error;
use crate::app::AppState;
use crate::db::Conn;
use crate::http::{BodyError, ClientInfo, content_type_is, decodes_as_utf8, read_limited};
use crate::owners::Namespace;
use crate::signin::{Door, Outcome, TokenOutcome, org_token_step, password_step, token_step};
use crate::tokens::{Refused, Scope, TokenKind};

pub const INCORRECT: &str = "incorrect username or password";
pub const USE_A_TOKEN: &str = "please use personal access token to login";
/// Told only to a holder of the token who names its owner (`tokens::Refused`).
pub const TOKEN_DEACTIVATED: &str = "access token is deactivated";
pub const TOKEN_EXPIRED: &str = "access token has expired";
const FORM_LIMIT: usize = 16 * 1024;
/// A GET's whole query string at most (a normal one is well under 1 KiB).
const QUERY_LIMIT: usize = 32 * 1024;
/// Scopes one request may name (a cross-repository mount sends two or three). Counted as
/// they are read, before any is parsed, so a huge list costs no more than 51 of them.
const MAX_SCOPES: usize = 50;

fn json_error(status: StatusCode, details: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/json").json(json!({ "details": details }))
}

/// A request or credential refused at this door (a domain error is rendered by
/// `from_error`).
#[derive(Debug)]
enum Refusal {
    Status(StatusCode, &'static str),
    UnsupportedGrant,
}

impl Refusal {
    fn response(self) -> HttpResponse {
        match self {
            Refusal::Status(status, details) => json_error(status, details),
            Refusal::UnsupportedGrant => HttpResponse::BadRequest().json(json!({ "error": "unsupported_grant_type" })),
        }
    }
}

/// The registry's rendering of a domain error: its status and sentence as `details`.
fn from_error(e: Error) -> HttpResponse {
    // a refusal of the caller (an organization requiring two-factor authentication) is a
    // 401: skopeo and podman show the token server's words for a 401 only ("invalid status
    // code 403" otherwise), the docker CLI for both
    let status = match e {
        Error::Denied(_) => StatusCode::UNAUTHORIZED,
        _ => crate::http::status_of(&e),
    };
    e.log_if_internal("/token");
    if let Error::Throttled { retry_after } = e {
        return HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after.to_string()))
            .json(json!({ "details": "too many failed login attempts, try again later" }));
    }
    json_error(status, &e.to_string())
}

/// What a request asked for, whatever its shape.
#[derive(Default)]
struct TokenRequest {
    service: Option<String>,
    scopes: Vec<String>,
    username: Option<String>,
    secret: Option<SecretString>,
}

impl TokenRequest {
    /// Reads the pairs of a query or form, stopping at the first refusal: pairs after it are
    /// never decoded.
    fn from_pairs<'a>(pairs: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>) -> Result<Self, Refusal> {
        let mut request = TokenRequest::default();
        for (k, v) in pairs {
            request.add(&k, v.into_owned())?;
        }
        Ok(request)
    }

    /// A GET's query: as `from_pairs`, but bytes that are not UTF-8 (which the decoder turns
    /// into U+FFFD) refuse the request, checked in the one decoding pass. Nothing a GET may
    /// carry (service, scopes, account) has a reason to hold U+FFFD; the password, which
    /// might, comes in the Basic header.
    fn from_query(query: &str) -> Result<Self, Refusal> {
        let mut not_utf8 = false;
        let pairs = url::form_urlencoded::parse(query.as_bytes()).take_while(|(k, v)| {
            not_utf8 = k.contains('\u{FFFD}') || v.contains('\u{FFFD}');
            !not_utf8
        });
        let request = Self::from_pairs(pairs)?;
        if not_utf8 {
            return Err(Refusal::Status(StatusCode::BAD_REQUEST, "the query string is not valid UTF-8"));
        }
        Ok(request)
    }

    fn add(&mut self, key: &str, value: String) -> Result<(), Refusal> {
        match key {
            "service" => self.service = Some(value),
            // repeated or space-joined; both appear in the wild
            "scope" => {
                for scope in value.split(' ').filter(|s| !s.is_empty()) {
                    if self.scopes.len() == MAX_SCOPES {
                        return Err(Refusal::Status(StatusCode::BAD_REQUEST, "too many scopes"));
                    }
                    self.scopes.push(scope.to_string());
                }
            }
            "username" => self.username = Some(value),
            "password" => self.secret = Some(SecretString::from(value)),
            "grant_type" if value != "password" => {
                // a refresh token is never handed out, so none can come back
                return Err(Refusal::UnsupportedGrant);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parses an `Authorization: Basic …` value into (username, secret): base64 of UTF-8
/// `user:secret`, split at the first colon. None for anything else.
pub fn parse_basic(value: &[u8]) -> Option<(String, SecretString)> {
    use base64::Engine;
    if value.len() > 4096 {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    Some((user.to_string(), SecretString::from(secret.to_string())))
}

/// The Basic credentials of a request, if it sent any. Err for a malformed header.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, SecretString)>, Refusal> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    parse_basic(value.as_bytes()).map(Some).ok_or(Refusal::Status(StatusCode::BAD_REQUEST, "malformed Authorization header"))
}

pub async fn get_token(app: web::Data<AppState>, req: HttpRequest, info: ClientInfo) -> HttpResponse {
    let query = req.query_string();
    if query.len() > QUERY_LIMIT {
        return json_error(StatusCode::URI_TOO_LONG, "the query string is too long");
    }
    // refused, not decoded lossily: a replacement character must never reach a signed token
    let mut request = match TokenRequest::from_query(query) {
        Ok(request) => request,
        Err(refusal) => return refusal.response(),
    };
    // GET carries credentials only in the Basic header
    request.username = None;
    request.secret = None;
    match basic_credentials(&req) {
        Ok(Some((u, s))) => {
            request.username = Some(u);
            request.secret = Some(s);
        }
        Ok(None) => {}
        Err(refusal) => return refusal.response(),
    }
    answer(&app, request, &info).await
}

pub async fn post_token(app: web::Data<AppState>, req: HttpRequest, info: ClientInfo, payload: web::Payload) -> HttpResponse {
    if !content_type_is(&req, "application/x-www-form-urlencoded") {
        return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected application/x-www-form-urlencoded");
    }
    let body = match read_limited(&req, payload.into_inner(), FORM_LIMIT).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return json_error(StatusCode::PAYLOAD_TOO_LARGE, &BodyError::TooLarge.to_string()),
        Err(e @ BodyError::TimedOut) => return json_error(StatusCode::REQUEST_TIMEOUT, &e.to_string()),
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Ok(text) = std::str::from_utf8(&body) else { return json_error(StatusCode::BAD_REQUEST, "the body is not valid UTF-8") };
    if !decodes_as_utf8(text) {
        return json_error(StatusCode::BAD_REQUEST, "the body is not valid UTF-8");
    }
    let mut request = match TokenRequest::from_pairs(url::form_urlencoded::parse(text.as_bytes())) {
        Ok(request) => request,
        Err(refusal) => return refusal.response(),
    };
    if let (None, Ok(Some((u, s)))) = (&request.secret, basic_credentials(&req)) {
        request.username = Some(u);
        request.secret = Some(s);
    }
    answer(&app, request, &info).await
}

async fn answer(app: &AppState, request: TokenRequest, info: &ClientInfo) -> HttpResponse {
    if request.service.as_ref().is_some_and(|s| *s != app.settings.registry_service) {
        return json_error(StatusCode::BAD_REQUEST, "unknown service");
    }
    let mut scopes: Vec<Requested> = Vec::with_capacity(request.scopes.len());
    for s in &request.scopes {
        match grants::parse_scope(s) {
            Some(r) => scopes.push(r),
            None => return json_error(StatusCode::BAD_REQUEST, "malformed scope"),
        }
    }
    // the same scope twice (client retries) is asked once; most requests name one scope
    if scopes.len() > 1 {
        let first: Vec<bool> = {
            let mut seen = HashSet::with_capacity(scopes.len());
            scopes.iter().map(|r| seen.insert(r)).collect()
        };
        let mut first = first.into_iter();
        scopes.retain(|_| first.next().unwrap_or(false));
    }
    let granted = match (request.username, request.secret) {
        (Some(name), Some(secret)) => match TokenKind::of(secret.expose_secret()) {
            Some(TokenKind::Personal) => token_and_grant(app, &name, secret, scopes, info).await,
            Some(TokenKind::Organization) => org_token_and_grant(app, &name, secret, scopes, info).await,
            None => match password(app, &name, secret, info).await {
                Ok(credential) => authorization::grant(app, credential, scopes).await.map_err(NoToken::from),
                Err(refused) => Err(refused),
            },
        },
        (Some(_), None) | (None, _) => authorization::grant(app, Credential::Anonymous, scopes).await.map_err(NoToken::from),
    };
    match granted {
        Err(NoToken::Refused(refused)) => refused.response(),
        Err(NoToken::Failed(e)) => from_error(e),
        Ok((credential, access)) => {
            let s = &app.settings;
            let issued = jwt::issue(
                &*app.registry_key.signing(&app.database, app.now()).await,
                &s.issuer,
                credential.subject(),
                &s.registry_service,
                &access,
                app.now(),
                s.token_lifetime_seconds,
            );
            let issued_at = chrono::DateTime::from_timestamp(issued.issued_at, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            HttpResponse::Ok().json(json!({
                "token": issued.token,
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "issued_at": issued_at,
            }))
        }
    }
}

/// Why no token is issued: the credential refused here, or a domain error (throttled,
/// unavailable, internal).
enum NoToken {
    Refused(Refusal),
    Failed(Error),
}

impl From<Error> for NoToken {
    fn from(e: Error) -> Self {
        NoToken::Failed(e)
    }
}

/// A PAT, on the path of every `docker pull` and `push`: the token check
/// (`signin::token_step`) and the grant decision (`authorization`) are indexed reads done
/// right on the async worker,
/// in one read transaction; the blocking pool is used only when something is due to be
/// written — the token's last use (at most once a minute, or a new IP or client) or a push
/// noted on a repository (at most once a minute).
async fn token_and_grant(app: &AppState, username: &str, secret: SecretString, scopes: Vec<Requested>, info: &ClientInfo) -> Result<(Credential, Vec<Access>), NoToken> {
    let public_default = app.settings.default_public;
    let step = token_step(&app.signin, Door::Registry, username, secret.expose_secret(), &info.client, info.ip, move |c, auth, now| {
        let credential = Credential::User { user_id: auth.user_id, username: auth.username.clone(), scope: auth.scope, operator: auth.operator };
        decide_for_token(c, credential, (&auth.owner_name, auth.owner), scopes, public_default, now)
    })
    .await?;
    token_granted(step)
}

/// An organization access token, on the same path as a PAT: presented with the
/// organization's name, it is granted what its resources give in the organization.
async fn org_token_and_grant(app: &AppState, org: &str, secret: SecretString, scopes: Vec<Requested>, info: &ClientInfo) -> Result<(Credential, Vec<Access>), NoToken> {
    let public_default = app.settings.default_public;
    let step = org_token_step(&app.signin, Door::Registry, org, secret.expose_secret(), &info.client, info.ip, move |c, auth, now| {
        let credential = Credential::OrgToken { token_id: auth.token_id, org: auth.org.id, org_name: auth.org_name.clone(), resources: auth.resources.clone() };
        decide_for_token(c, credential, (&auth.org_name, auth.org), scopes, public_default, now)
    })
    .await?;
    token_granted(step)
}

/// The grants of a token, in the read that checked it. The token's owner came with it:
/// requests in that namespace need no owner lookup.
fn decide_for_token(
    c: &mut Conn,
    credential: Credential,
    home: (&str, Namespace),
    scopes: Vec<Requested>,
    public_default: bool,
    now: i64,
) -> Result<((Credential, Vec<Access>), PushNotes), Error> {
    let (access, pushes) = authorization::decide(c, &credential, Some(home), scopes, now)?;
    Ok(((credential, access), PushNotes { pushes, public_default, now }))
}

/// A token step's answer: the grants, or why the token is refused (said to its holder).
fn token_granted<A>(step: TokenOutcome<(Credential, Vec<Access>), A>) -> Result<(Credential, Vec<Access>), NoToken> {
    let refused = |details| Err(NoToken::Refused(Refusal::Status(StatusCode::UNAUTHORIZED, details)));
    match step {
        TokenOutcome::Valid(_, granted) => Ok(granted),
        TokenOutcome::NoMatch => refused(INCORRECT),
        TokenOutcome::Refused(Refused::Deactivated) => refused(TOKEN_DEACTIVATED),
        TokenOutcome::Refused(Refused::Expired) => refused(TOKEN_EXPIRED),
    }
}

/// The password, while 2FA is off: the credential.
async fn password(app: &AppState, username: &str, secret: SecretString, info: &ClientInfo) -> Result<Credential, NoToken> {
    let refused = |details| Err(NoToken::Refused(Refusal::Status(StatusCode::UNAUTHORIZED, details)));
    match password_step(&app.signin, Door::Registry, username, secret, &info.client, info.ip).await? {
        Outcome::Granted(user) => Ok(Credential::User { user_id: user.id, username: user.username, scope: Scope::Admin, operator: user.is_operator }),
        Outcome::UseAToken => refused(USE_A_TOKEN),
        Outcome::Refused | Outcome::NeedsSecondFactor(_) => refused(INCORRECT),
        Outcome::Throttled(wait) => Err(Error::Throttled { retry_after: wait }.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn basic(s: &str) -> String {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s))
    }

    #[test]
    fn basic_headers_split_at_the_first_colon() {
        let (u, p) = parse_basic(basic("alice:pa:ss").as_bytes()).unwrap();
        assert_eq!((u.as_str(), p.expose_secret()), ("alice", "pa:ss"));
        assert!(parse_basic(b"basic YWxpY2U6eA==").is_some());
        for bad in ["Basic", "Basic !!!", "Bearer abc", &basic("nocolon"), "Basic /w==", ""] {
            assert!(parse_basic(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(parse_basic(format!("Basic {}", "A".repeat(10_000)).as_bytes()).is_none());
    }

    /// Parses a query through an iterator that counts the pairs it hands out.
    fn parse_counting(query: &str) -> (Result<TokenRequest, Refusal>, usize) {
        let pulled = std::cell::Cell::new(0);
        let pairs = url::form_urlencoded::parse(query.as_bytes()).inspect(|_| pulled.set(pulled.get() + 1));
        let result = TokenRequest::from_pairs(pairs);
        (result, pulled.get())
    }

    #[test]
    fn six_thousand_five_hundred_scopes_are_refused_after_reading_fifty_one() {
        let repeated: String = (0..6_500).map(|i| format!("scope=repository:alice/r{i}:pull&")).collect();
        let (result, pulled) = parse_counting(&repeated);
        assert!(matches!(result, Err(Refusal::Status(StatusCode::BAD_REQUEST, "too many scopes"))));
        assert_eq!(pulled, MAX_SCOPES + 1, "the pairs after the 51st are never decoded");

        let joined = format!("scope={}", vec!["a:b:"; 6_500].join("+"));
        assert!(joined.len() <= QUERY_LIMIT);
        let (result, _) = parse_counting(&joined);
        assert!(matches!(result, Err(Refusal::Status(StatusCode::BAD_REQUEST, "too many scopes"))));

        let fifty: String = (0..50).map(|i| format!("scope=repository:alice/r{i}:pull&")).collect();
        assert_eq!(parse_counting(&fifty).0.unwrap().scopes.len(), 50);
    }

    proptest! {
        #[test]
        fn the_basic_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_basic(&bytes);
        }

        #[test]
        fn any_user_and_secret_round_trip(user in "[^:]{0,40}", secret in "\\PC{0,60}") {
            let (u, s) = parse_basic(basic(&format!("{user}:{secret}")).as_bytes()).unwrap();
            prop_assert_eq!(u, user);
            prop_assert_eq!(s.expose_secret(), secret.as_str());
        }
    }
}
