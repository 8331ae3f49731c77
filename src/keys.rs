//! The master secret and the keys derived from it.
//!
//! One random 64-byte secret (`BERTH_MASTER_KEY_FILE`, by default `master.key` in the data
//! folder, mode 0600) is the root; HKDF-SHA256 derives a separate key per purpose, so no key
//! is ever used for two jobs and adding a purpose never needs a migration. The labels below
//! are part of the on-disk format: never change one. Every instance on one database must
//! hold the same secret: the database keeps a check value of it (`check_master_key`).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use diesel::prelude::*;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::key_check;

pub const MASTER_FILE: &str = "master.key";
const MASTER_LEN: usize = 64;

pub const LABEL_SESSION_COOKIE: &str = "berth/v1/session-cookie";
pub const LABEL_TOTP_AEAD: &str = "berth/v1/totp-secret-aead";
pub const LABEL_API_JWT: &str = "berth/v1/api-jwt";
pub const LABEL_PASSWORD_CACHE: &str = "berth/v1/password-cache-hmac";
pub const LABEL_RECOVERY_CODES: &str = "berth/v1/recovery-code-hmac";
pub const LABEL_LOGIN_2FA_TOKEN: &str = "berth/v1/login-2fa-token-hmac";
pub const LABEL_CSRF_TOKEN: &str = "berth/v1/csrf-token-hmac";
pub const LABEL_BROWSER_COOKIE: &str = "berth/v1/browser-cookie-hmac";
pub const LABEL_SIGNING_KEY_AEAD: &str = "berth/v1/registry-signing-key-aead";
pub const LABEL_KEY_CHECK: &str = "berth/v1/master-key-check-hmac";
pub const LABEL_THROTTLE_NAME: &str = "berth/v1/throttle-login-name-hmac";
pub const LABEL_WEBHOOK_SECRET_AEAD: &str = "berth/v1/webhook-secret-aead";

/// What the key check's HMAC is taken of.
const KEY_CHECK_MESSAGE: &[u8] = b"berth key check";

/// Every derived key. Cloning is cheap enough (done once per worker).
#[derive(Clone)]
pub struct Keys {
    /// 64 bytes, as actix-session's `Key` requires.
    pub session_cookie: Vec<u8>,
    totp_aead: [u8; 32],
    pub api_jwt: [u8; 32],
    pub password_cache: [u8; 32],
    recovery_codes: [u8; 32],
    pub login_2fa_token: [u8; 32],
    /// Derives each form's CSRF token from the browser's binding (`web::session`).
    pub csrf_token: [u8; 32],
    /// Signs the cookies kept for visitors without a server-side session (`web::browser`).
    pub browser_cookie: [u8; 32],
    /// Seals the registry signing keys kept in the database (`registry::keys`).
    signing_key_aead: [u8; 32],
    /// Proves to the database which master key this is, without revealing it.
    key_check: [u8; 32],
    /// Names, in the shared throttle's table, a login name no account holds: what was
    /// typed may be a password typed into the wrong field.
    pub throttle_name: [u8; 32],
    /// Seals the webhooks' signing secrets kept in the database (`webhooks`).
    webhook_secret_aead: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn derive(master: &[u8]) -> Keys {
        let hk = Hkdf::<Sha256>::new(Some(b"berth"), master);
        let mut session_cookie = vec![0u8; 64];
        hk.expand(LABEL_SESSION_COOKIE.as_bytes(), &mut session_cookie).expect("64 bytes is a valid HKDF length");
        let k32 = |label: &str| {
            let mut out = [0u8; 32];
            hk.expand(label.as_bytes(), &mut out).expect("32 bytes is a valid HKDF length");
            out
        };
        Keys {
            session_cookie,
            totp_aead: k32(LABEL_TOTP_AEAD),
            api_jwt: k32(LABEL_API_JWT),
            password_cache: k32(LABEL_PASSWORD_CACHE),
            recovery_codes: k32(LABEL_RECOVERY_CODES),
            login_2fa_token: k32(LABEL_LOGIN_2FA_TOKEN),
            csrf_token: k32(LABEL_CSRF_TOKEN),
            browser_cookie: k32(LABEL_BROWSER_COOKIE),
            signing_key_aead: k32(LABEL_SIGNING_KEY_AEAD),
            key_check: k32(LABEL_KEY_CHECK),
            throttle_name: k32(LABEL_THROTTLE_NAME),
            webhook_secret_aead: k32(LABEL_WEBHOOK_SECRET_AEAD),
        }
    }

    /// Loads the master secret from `path`, creating it (0600) on first run, and its folder
    /// (0700) when missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Keys> {
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty() && !f.exists()) {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
        }
        let master = match fs::read(path) {
            Ok(bytes) if bytes.len() == MASTER_LEN => bytes,
            Ok(_) => {
                return Err(std::io::Error::other(format!("{} is damaged (wrong length)", path.display())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = vec![0u8; MASTER_LEN];
                fill_random(&mut secret);
                // create_new: two processes starting at once never overwrite each other's secret
                match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                    Ok(mut f) => {
                        f.write_all(&secret)?;
                        f.sync_all()?;
                        secret
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fs::read(path)?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        Ok(Keys::derive(&master))
    }

    /// Encrypts a TOTP secret; the user id is bound in as associated data so a ciphertext
    /// copied to another row does not decrypt.
    pub fn seal_totp(&self, user_id: i32, secret: &[u8]) -> Vec<u8> {
        seal(&self.totp_aead, &user_id.to_be_bytes(), secret)
    }

    pub fn open_totp(&self, user_id: i32, sealed: &[u8]) -> Option<Vec<u8>> {
        open(&self.totp_aead, &user_id.to_be_bytes(), sealed)
    }

    /// Encrypts a registry signing key (PKCS#8) for the database, bound to its key id.
    pub fn seal_signing_key(&self, kid: &str, pkcs8: &[u8]) -> Vec<u8> {
        seal(&self.signing_key_aead, kid.as_bytes(), pkcs8)
    }

    pub fn open_signing_key(&self, kid: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        open(&self.signing_key_aead, kid.as_bytes(), sealed)
    }

    /// Encrypts a webhook's signing secret, bound to its repository.
    pub fn seal_webhook_secret(&self, repository_id: i32, secret: &[u8]) -> Vec<u8> {
        seal(&self.webhook_secret_aead, &repository_id.to_be_bytes(), secret)
    }

    pub fn open_webhook_secret(&self, repository_id: i32, sealed: &[u8]) -> Option<Vec<u8>> {
        open(&self.webhook_secret_aead, &repository_id.to_be_bytes(), sealed)
    }

    /// Whether this is the master key the database was set up with. The first caller
    /// records its check value (an HMAC under a derived key: the master key cannot be
    /// recovered from it); of several instances starting at once on a new database, the
    /// first insert wins and every other compares with what it wrote.
    pub fn matches_database(&self, conn: &mut Conn, now: Timestamp) -> Result<bool, Error> {
        let mine = hmac(&self.key_check, &[KEY_CHECK_MESSAGE]);
        let recorded = match recorded_check(conn)? {
            Some(recorded) => recorded,
            None => {
                let inserted = diesel::insert_into(key_check::table).values((key_check::id.eq(1), key_check::mac.eq(&mine[..]), key_check::created_at.eq(now))).execute(conn);
                match (recorded_check(conn)?, inserted) {
                    (Some(recorded), _) => recorded,
                    (None, Err(e)) => return Err(e.into()),
                    (None, Ok(_)) => return Err(Error::internal("the master key check was written and is not there")),
                }
            }
        };
        Ok(bool::from(recorded.ct_eq(&mine[..])))
    }

    /// Keyed hash of a recovery code: a stolen database alone cannot be brute-forced.
    pub fn recovery_code_mac(&self, user_id: i32, code: &str) -> String {
        hmac_hex(&self.recovery_codes, &[&user_id.to_be_bytes(), code.as_bytes()])
    }
}

/// The check value of the master key the database was set up with, if it was.
fn recorded_check(conn: &mut Conn) -> Result<Option<Vec<u8>>, Error> {
    Ok(key_check::table.select(key_check::mac).first::<Vec<u8>>(conn).optional()?)
}

/// The master key at `path`, checked against the database: every instance of one Berth
/// must hold the same one, or each would seal and verify with a key of its own. It is
/// created only for a database that has none yet; a second instance without the file
/// creates nothing and says to copy it.
pub fn check_master_key(path: &Path, conn: &mut Conn, now: Timestamp) -> Result<Keys, String> {
    let shown = path.display();
    let copy_it = "copy the master key of the first instance (its BERTH_MASTER_KEY_FILE) there, or set BERTH_MASTER_KEY_FILE to where it is";
    if !path.exists() && recorded_check(conn).map_err(|e| format!("reading the master key check: {}", e.chain()))?.is_some() {
        return Err(format!("BERTH_MASTER_KEY_FILE {shown} does not exist, and this database was set up with a master key: {copy_it}"));
    }
    let keys = Keys::load_or_create(path).map_err(|e| format!("BERTH_MASTER_KEY_FILE {shown}: {e}"))?;
    if !keys.matches_database(conn, now).map_err(|e| format!("checking the master key against the database: {}", e.chain()))? {
        return Err(format!("BERTH_MASTER_KEY_FILE {shown} is not the master key this database was set up with: {copy_it}"));
    }
    Ok(keys)
}

/// XChaCha20-Poly1305 with a random nonce, `aad` bound in: nonce ‖ ciphertext ‖ tag.
fn seal(key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    fill_random(&mut nonce);
    let ct = cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg, aad }).expect("XChaCha20-Poly1305 encryption cannot fail for small inputs");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 24 + 16 {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let (nonce, ct) = sealed.split_at(24);
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad }).ok()
}

pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(hmac(key, parts))
}

/// HMAC-SHA256 of `parts`, each prefixed with its length so no two lists of parts collide.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The data folder, created with mode 0700 (tightened if it exists looser).
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut perms = fs::metadata(dir)?.permissions();
    if perms.mode() & 0o077 != 0 {
        perms.set_mode(0o700);
        fs::set_permissions(dir, perms)?;
    }
    Ok(())
}

/// Bytes from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source is unavailable")
}

/// A random token of `bytes` bytes, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_are_distinct_and_stable() {
        let a = Keys::derive(&[7u8; 64]);
        let b = Keys::derive(&[7u8; 64]);
        assert_eq!(a.api_jwt, b.api_jwt);
        let all = [a.totp_aead, a.api_jwt, a.password_cache, a.recovery_codes, a.login_2fa_token, a.csrf_token, a.browser_cookie, a.signing_key_aead, a.key_check];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
        assert_ne!(&a.session_cookie[..32], &a.api_jwt[..]);
        let labels = [
            LABEL_SESSION_COOKIE,
            LABEL_TOTP_AEAD,
            LABEL_API_JWT,
            LABEL_PASSWORD_CACHE,
            LABEL_RECOVERY_CODES,
            LABEL_LOGIN_2FA_TOKEN,
            LABEL_CSRF_TOKEN,
            LABEL_BROWSER_COOKIE,
            LABEL_SIGNING_KEY_AEAD,
            LABEL_KEY_CHECK,
        ];
        assert_eq!(labels.iter().collect::<std::collections::HashSet<_>>().len(), labels.len(), "one label per purpose");
        assert_ne!(Keys::derive(&[8u8; 64]).api_jwt, a.api_jwt);
    }

    #[test]
    fn totp_seal_round_trips_and_is_bound_to_the_user() {
        let k = Keys::derive(&[1u8; 64]);
        let sealed = k.seal_totp(5, b"twenty bytes secret!");
        assert_eq!(k.open_totp(5, &sealed).unwrap(), b"twenty bytes secret!");
        assert!(k.open_totp(6, &sealed).is_none());
        assert!(!sealed.windows(20).any(|w| w == b"twenty bytes secret!"));
    }

    #[test]
    fn signing_key_seal_round_trips_and_is_bound_to_the_kid_and_the_purpose() {
        let k = Keys::derive(&[1u8; 64]);
        let sealed = k.seal_signing_key("AAAA:BBBB", b"a PKCS#8 private key");
        assert_eq!(k.open_signing_key("AAAA:BBBB", &sealed).unwrap(), b"a PKCS#8 private key");
        assert!(k.open_signing_key("AAAA:CCCC", &sealed).is_none(), "bound to its kid");
        assert!(Keys::derive(&[2u8; 64]).open_signing_key("AAAA:BBBB", &sealed).is_none(), "another master key");
        assert!(k.open_totp(0, &k.seal_signing_key("", b"x")).is_none(), "the TOTP key opens no signing key");
        assert!(!sealed.windows(8).any(|w| w == b"a PKCS#8"));
    }

    #[test]
    fn first_run_creates_private_folder_and_secret_and_reuses_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("elsewhere");
        let secret = dir.join(MASTER_FILE);
        let k1 = Keys::load_or_create(&secret).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        let k2 = Keys::load_or_create(&secret).unwrap();
        assert_eq!(k1.session_cookie, k2.session_cookie);
        fs::write(&secret, b"short").unwrap();
        assert!(Keys::load_or_create(&secret).unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn sqlite_the_database_keeps_the_first_master_keys_check_and_refuses_another_key() {
        let tmp = tempfile::tempdir().unwrap();
        let pool = crate::db::open(tmp.path().join("berth.db").to_str().unwrap()).unwrap();
        let mut conn = pool.get().unwrap();
        let first = tmp.path().join("first.key");
        let keys = check_master_key(&first, &mut conn, 1).unwrap();
        assert!(keys.matches_database(&mut conn, 2).unwrap());
        assert_eq!(check_master_key(&first, &mut conn, 3).unwrap().api_jwt, keys.api_jwt, "the same file again");
        // the check is not the master key, nor any key derived from it
        let recorded = recorded_check(&mut conn).unwrap().unwrap();
        let master = fs::read(&first).unwrap();
        assert!(!master.windows(16).any(|w| recorded.windows(16).any(|r| r == w)));
        assert!(![keys.totp_aead, keys.key_check, keys.signing_key_aead].iter().any(|k| k[..] == recorded[..]));

        let other = tmp.path().join("other.key");
        Keys::load_or_create(&other).unwrap();
        let err = check_master_key(&other, &mut conn, 4).unwrap_err();
        assert!(err.contains("is not the master key this database was set up with") && err.contains("copy the master key of the first instance"), "{err}");
        assert!(!err.contains(&hex::encode(&master[..8])), "{err}");
        let missing = tmp.path().join("missing").join("master.key");
        let err = check_master_key(&missing, &mut conn, 5).unwrap_err();
        assert!(err.contains("does not exist") && err.contains("copy the master key of the first instance"), "{err}");
        assert!(!missing.parent().unwrap().exists(), "a second instance creates no key of its own");
        assert_eq!(recorded_check(&mut conn).unwrap().unwrap(), recorded, "the first check stays");
    }
}
