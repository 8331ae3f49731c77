//! The registry token: a JWT signed ES256 with the libtrust `kid`, claims exactly as the
//! registry checks them (it refuses anything else): `aud` a string, times integers.

use base64::Engine;
use serde::Serialize;

use super::keys::SigningKey;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    access: &'a [Access],
}

pub struct Issued {
    pub token: String,
    pub issued_at: Timestamp,
    pub expires_in: i64,
}

pub fn issue(key: &SigningKey, issuer: &str, subject: &str, audience: &str, access: &[Access], now: Timestamp, lifetime: i64) -> Issued {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::to_vec(&Header { alg: "ES256", typ: "JWT", kid: &key.kid }).expect("header serializes");
    let claims = Claims { iss: issuer, sub: subject, aud: audience, exp: now + lifetime, nbf: now - 1, iat: now, jti: crate::keys::random_token(16), access };
    let claims = serde_json::to_vec(&claims).expect("claims serialize");
    let signing_input = format!("{}.{}", b64(&header), b64(&claims));
    let signature = key.sign(signing_input.as_bytes());
    Issued { token: format!("{signing_input}.{}", b64(&signature)), issued_at: now, expires_in: lifetime }
}
