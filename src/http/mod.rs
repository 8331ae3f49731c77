//! HTTP plumbing every door shares (the pages, the JSON API, the registry's `/token`): who
//! is asking (`client`), reading a body within its limit and deadline (`body`), and the
//! status each kind of domain error answers with. Nothing here renders a page or JSON.

pub mod body;
pub mod client;

use actix_web::http::StatusCode;

pub use body::{BodyError, content_type_is, decodes_as_utf8, read_limited};
pub use client::{ClientInfo, client_ip};

use crate::Error;

/// The status a domain error answers with, at every door.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::PlanLimit { .. } | Error::ScopeNotInPlan | Error::Denied(_) => StatusCode::FORBIDDEN,
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Expired | Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        Error::Taken(_) => StatusCode::CONFLICT,
        Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Registry(_) => StatusCode::BAD_GATEWAY,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
