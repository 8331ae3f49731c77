//! The JSON API's bearer token: an HS256 JWT with a key of its own (HKDF label
//! `berth/v1/api-jwt`), an audience distinct from the registry's, 10 minutes, and a record
//! of how it was obtained. It is checked again against the database on every request.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Timestamp;

pub const AUDIENCE: &str = "berth-api";
pub const LIFETIME: i64 = 600;

/// How the JWT was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Password,
    PasswordAndSecondFactor,
    PersonalAccessToken,
    /// An organization access token: the JWT speaks for the organization (`sub`), of no
    /// user (`uid` 0, no stamp), and `tid` names the token.
    OrganizationAccessToken,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub uid: i32,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub amr: Method,
    /// The user's security stamp when issued: a password or 2FA change ends the JWT.
    pub stamp: String,
    /// For a token-derived JWT: the token's uuid, and a PAT's scope.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
}

impl Claims {
    /// Whose requests the API's rate limit counts together: a user's, or one organization
    /// access token's (a token has its own limit, as on Docker Hub).
    pub fn rate_key(&self) -> String {
        match (self.amr, &self.tid) {
            (Method::OrganizationAccessToken, Some(tid)) => format!("org-token:{tid}"),
            _ => format!("user:{}", self.uid),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn mac(key: &[u8], input: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(input);
    m.finalize().into_bytes().to_vec()
}

pub fn sign(key: &[u8], claims: &Claims) -> String {
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64(&serde_json::to_vec(claims).expect("claims serialize"));
    let input = format!("{header}.{body}");
    let sig = b64(&mac(key, input.as_bytes()));
    format!("{input}.{sig}")
}

/// The claims of a JWT this server signed for the API audience and issuer that has not
/// expired; None for anything else (forged, expired, a registry token, garbage).
pub fn verify(key: &[u8], issuer: &str, token: &str, now: Timestamp) -> Option<Claims> {
    if token.len() > 4096 {
        return None;
    }
    let mut parts = token.split('.');
    let (header, body, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || header != b64(br#"{"alg":"HS256","typ":"JWT"}"#) {
        return None;
    }
    let given = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).ok()?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("{header}.{body}").as_bytes());
    m.verify_slice(&given).ok()?; // constant time
    let claims: Claims = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    (claims.aud == AUDIENCE && claims.iss == issuer && claims.exp > now && claims.iat <= now + 60).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "berth".into(),
            aud: AUDIENCE.into(),
            sub: "alice".into(),
            uid: 1,
            iat: now,
            exp: now + LIFETIME,
            jti: "j".into(),
            amr: Method::Password,
            stamp: "s".into(),
            tid: None,
            scope: None,
        }
    }

    /// Every organization access token has a rate limit of its own: none shares a user's
    /// count (their JWTs all carry `uid` 0), nor another token's.
    #[test]
    fn an_organization_tokens_requests_are_counted_apart() {
        let mut c = claims(1000);
        assert_eq!(c.rate_key(), "user:1");
        c.amr = Method::OrganizationAccessToken;
        c.uid = 0;
        c.tid = Some("t1".into());
        assert_eq!(c.rate_key(), "org-token:t1");
        c.tid = Some("t2".into());
        assert_eq!(c.rate_key(), "org-token:t2");
    }

    #[test]
    fn signed_tokens_verify_and_tampered_expired_or_foreign_ones_do_not() {
        let key = [7u8; 32];
        let t = sign(&key, &claims(1000));
        assert_eq!(verify(&key, "berth", &t, 1000).unwrap().sub, "alice");
        assert!(verify(&key, "berth", &t, 1000 + LIFETIME).is_none(), "expired");
        assert!(verify(&[8u8; 32], "berth", &t, 1000).is_none(), "another key");
        assert!(verify(&key, "other", &t, 1000).is_none(), "another issuer");
        let mut c = claims(1000);
        c.aud = "registry.local".into();
        assert!(verify(&key, "berth", &sign(&key, &c), 1000).is_none(), "the registry audience");
        let forged = format!("{}.{}", &t[..t.rfind('.').unwrap()], b64(b"nope"));
        assert!(verify(&key, "berth", &forged, 1000).is_none());
        let none_alg = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), t.split('.').nth(1).unwrap());
        assert!(verify(&key, "berth", &none_alg, 1000).is_none());
        assert!(verify(&key, "berth", "garbage", 1000).is_none());
    }
}
