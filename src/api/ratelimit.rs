//! The API's request-rate limit at the door (the counting is `throttle::rate`): every
//! answer carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix time); over the
//! limit, 429 with `Retry-After`. Failed logins are throttled separately (the throttle).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

use crate::app::AppState;
use crate::throttle::rate::Verdict;

fn set(headers: &mut header::HeaderMap, v: &Verdict) {
    for (name, value) in [("x-ratelimit-limit", v.limit as i64), ("x-ratelimit-remaining", v.remaining as i64), ("x-ratelimit-reset", v.reset)] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

pub async fn limit(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<BoxBody>, Error> {
    let app = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
    let user = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| super::jwt::verify(&app.keys.api_jwt, &app.settings.issuer, t.trim(), app.now()))
        .map(|c| c.rate_key());
    let key = user.unwrap_or_else(|| format!("ip:{}", crate::http::client_ip(req.request(), &app.settings.trusted_proxies)));
    let verdict = app.api_limiter.hit(key).await;
    if !verdict.allowed {
        let retry = (verdict.reset - app.now()).max(1);
        let mut res = super::ApiError::new(actix_web::http::StatusCode::TOO_MANY_REQUESTS, "Request rate limit exceeded.").error_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry));
        set(res.headers_mut(), &verdict);
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    set(res.headers_mut(), &verdict);
    Ok(res)
}
