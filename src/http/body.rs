//! Reading a request body: its declared type, a size limit, one deadline for the whole
//! body, and UTF-8 all the way down for urlencoded text.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::app::AppState;

/// Why a body was not taken. Each door says it in its own format.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("The request is too large.")]
    TooLarge,
    /// The body did not arrive within the body deadline.
    #[error("The request took too long to arrive. Please try again.")]
    TimedOut,
    #[error("The body could not be read.")]
    Unreadable,
    #[error("The form is not valid UTF-8.")]
    NotUtf8,
    #[error("The form is incomplete or malformed: {0}.")]
    Malformed(String),
}

/// Whether the request's body is declared as `mime` (parameters such as `; charset=utf-8`
/// allowed, case ignored).
pub fn content_type_is(req: &HttpRequest, mime: &str) -> bool {
    let declared = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    declared.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// Reads a request body of at most `limit` bytes (declared or streamed, chunked included)
/// within the body deadline (`BERTH_BODY_TIMEOUT_SECONDS`): the whole body, not each chunk,
/// so a peer sending a byte now and then cannot hold the connection either.
pub async fn read_limited(req: &HttpRequest, payload: Payload, limit: usize) -> Result<web::BytesMut, BodyError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let deadline = req.app_data::<web::Data<AppState>>().expect("AppState is registered").settings.body_timeout;
    actix_web::rt::time::timeout(deadline, read_body(payload, limit)).await.unwrap_or(Err(BodyError::TimedOut))
}

async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Percent-escapes must decode to UTF-8 too (the usual parsers replace bad bytes silently).
pub fn decodes_as_utf8(body: &str) -> bool {
    body.split('&').flat_map(|pair| pair.split('=')).all(|part| {
        let plus_free = part.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_free).decode_utf8().is_ok()
    })
}

/// The body of a urlencoded form as text: UTF-8, and every percent-escape UTF-8 too.
pub fn form_text(body: &[u8]) -> Result<&str, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    if !decodes_as_utf8(text) {
        return Err(BodyError::NotUtf8);
    }
    Ok(text)
}

/// A form's fields, strictly (a repeated single-value field is an error).
pub fn parse_form<T: DeserializeOwned>(text: &str) -> Result<T, BodyError> {
    serde_html_form::from_str(text).map_err(|e| BodyError::Malformed(e.to_string()))
}

/// The whole decoding of a form body, as the pages do it (less the CSRF check): for
/// property tests and the `form_decoding` fuzz target.
pub fn decode_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    parse_form(form_text(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct TokenForm {
        description: String,
        scope: String,
        #[serde(default)]
        uuid: Vec<String>,
    }

    #[test]
    fn forms_must_be_utf8_through_and_through_and_strict() {
        let ok: TokenForm = decode_form(b"description=caf%C3%A9+ci&scope=repo%3Aread&uuid=a&uuid=b").unwrap();
        assert_eq!(ok, TokenForm { description: "café ci".into(), scope: "repo:read".into(), uuid: vec!["a".into(), "b".into()] });
        for bad in [&b"description=%FF&scope=x"[..], b"description=\xff&scope=x", b"description=a&description=b&scope=x", b"scope=x", b"description=%C3&scope=x"] {
            assert!(matches!(decode_form::<TokenForm>(bad), Err(BodyError::NotUtf8 | BodyError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
        }
        assert!(decode_form::<TokenForm>(&[b'a', 0xff, b'=', b'b']).is_err());
        // unknown fields are refused (the pages take the CSRF field out first)
        assert!(matches!(decode_form::<TokenForm>(b"description=a&scope=b&admin=1"), Err(BodyError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn form_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(form) = decode_form::<TokenForm>(&bytes) {
                // what decodes was valid UTF-8 all the way down
                prop_assert!(std::str::from_utf8(&bytes).is_ok());
                // no byte was silently replaced: U+FFFD only where the sender wrote one
                let replaced = form.description.contains('\u{FFFD}');
                let sent = String::from_utf8_lossy(&bytes).to_lowercase();
                prop_assert!(!replaced || sent.contains('\u{FFFD}') || sent.contains("%ef%bf%bd"), "a byte was replaced silently");
            }
        }

        #[test]
        fn any_form_a_browser_sends_decodes_to_what_was_typed(description in "\\PC{0,60}", scope in "\\PC{0,20}", uuids in proptest::collection::vec("[0-9a-f-]{0,36}", 0..4)) {
            let mut enc = url::form_urlencoded::Serializer::new(String::new());
            enc.append_pair("description", &description).append_pair("scope", &scope);
            for u in &uuids {
                enc.append_pair("uuid", u);
            }
            let form: TokenForm = decode_form(enc.finish().as_bytes()).unwrap();
            prop_assert_eq!(form, TokenForm { description, scope, uuid: uuids });
        }
    }
}
