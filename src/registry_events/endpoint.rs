//! `POST /registry/events`: the registry's notifications. Answers 404 while
//! `BERTH_REGISTRY_EVENTS_SECRET` is unset (there is no such endpoint then); 401 for a
//! missing or wrong `Authorization: Bearer <secret>`, compared in constant time; 413 past
//! `MAX_BATCH_BYTES`; 400 for a batch that is not distribution's envelope (nothing of it
//! is taken); 200 once the batch is recorded, with how many events were new, sent before,
//! and of the registry's grammar but nothing Berth records (`skipped`, each logged). The manifest reads a batch asks for are
//! queued after the commit, never done before the answer.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ENVELOPE_TYPE, MAX_BATCH_BYTES, ingest, parse_batch};
use crate::app::AppState;
use crate::http::{BodyError, content_type_is, read_limited};

fn answer(status: StatusCode, details: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "details": details }))
}

/// Whether the request carries `Bearer <secret>`. Both sides are hashed first, so the
/// comparison takes the same time whatever the length or the first wrong byte.
fn authorized(req: &HttpRequest, secret: &str) -> bool {
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(presented) = presented.strip_prefix("Bearer ").or_else(|| presented.strip_prefix("bearer ")) else { return false };
    let (a, b) = (Sha256::digest(presented.trim().as_bytes()), Sha256::digest(secret.as_bytes()));
    bool::from(a.ct_eq(&b))
}

pub async fn post_events(req: HttpRequest, payload: web::Payload, app: web::Data<AppState>) -> HttpResponse {
    let Some(secret) = app.settings.registry_events_secret.as_ref() else {
        return answer(StatusCode::NOT_FOUND, "not found");
    };
    if !authorized(&req, secret.expose_secret()) {
        return HttpResponse::Unauthorized().insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"berth registry events\"")).json(json!({ "details": "unauthorized" }));
    }
    if !(content_type_is(&req, ENVELOPE_TYPE) || content_type_is(&req, "application/json")) {
        return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("send {ENVELOPE_TYPE}"));
    }
    let body = match read_limited(&req, payload.into_inner(), MAX_BATCH_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "the batch is too large"),
        Err(e @ BodyError::TimedOut) => return answer(StatusCode::REQUEST_TIMEOUT, &e.to_string()),
        Err(e) => return answer(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let batch = match parse_batch(&body) {
        Ok(batch) => batch,
        Err(e) => return answer(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let (now, public_url) = (app.now(), app.public_url.clone());
    let _until_queued = app.registry_reader.hold();
    let (events, skipped) = (batch.events, batch.skipped);
    match app.db(move |c| ingest(c, &events, &public_url, now)).await {
        Ok(done) => {
            let (taken, replayed) = (done.taken, done.replayed);
            app.registry_reader.queue(done.to_read);
            HttpResponse::Ok().json(json!({ "taken": taken, "replayed": replayed, "skipped": skipped }))
        }
        Err(e) => {
            e.log_if_internal("/registry/events");
            // the registry sends the batch again until it is taken
            answer(crate::http::status_of(&e), &e.to_string())
        }
    }
}
