//! The pages' error type. Handlers return `Result<_, AppError>`; the client sees a status and
//! a plain sentence, never SQL, a path or a backtrace (those go to the log, without secrets).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("The page you asked for does not exist.")]
    NotFound,
    #[error("This address does not accept that method.")]
    MethodNotAllowed,
    #[error("The request is too large.")]
    PayloadTooLarge,
    /// The body did not arrive within the body deadline.
    #[error("The request took too long to arrive. Please try again.")]
    RequestTimeout,
    #[error("Too many failed attempts. Try again in {}.", crate::web::fmt::duration(*retry_after))]
    TooManyRequests { retry_after: u64 },
    /// Not signed in: pages answer with a redirect to the login form.
    #[error("Please sign in.")]
    LoginRequired { next: String },
    /// The database cannot take writes right now (disk full, locked for too long).
    #[error("Berth cannot save changes right now. Please try again shortly.")]
    Unavailable,
    #[error("Something went wrong on our side.")]
    Internal(String),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match &e {
            E::NotFound => AppError::NotFound,
            E::DatabaseError(_, info) if is_unavailable(info.message()) => {
                tracing::warn!(error = %info.message(), "database unavailable");
                AppError::Unavailable
            }
            _ => AppError::Internal(e.to_string()),
        }
    }
}

fn is_unavailable(message: &str) -> bool {
    message.contains("database or disk is full") || message.contains("database is locked") || message.contains("disk I/O error")
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool");
        AppError::Unavailable
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("template: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(format!("blocking task: {e}"))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        if let AppError::LoginRequired { next } = self {
            let target = if next == "/" || next.is_empty() {
                "/login".to_string()
            } else {
                format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())
            };
            return HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish();
        }
        let mut res = HttpResponse::build(self.status_code());
        if let AppError::TooManyRequests { retry_after } = self {
            res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        let message = self.to_string();
        let mut response = res.content_type("text/html; charset=utf-8").body(crate::web::pages::error_page(self.status_code(), &message));
        response.extensions_mut().insert(crate::web::pages::ErrorPageMessage(message));
        response
    }
}
