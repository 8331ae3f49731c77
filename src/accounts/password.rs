//! Password rules and hashing: argon2id with OWASP's parameters, a policy of length plus a
//! common-password list, and a bounded pool so hashing never blocks the async workers.

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::AppError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// OWASP: argon2id, m = 19456 KiB, t = 2, p = 1.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19_456, 2, 1, None).expect("valid argon2 parameters"))
}

/// Django's list of 20,000 common passwords (BSD licence, see COMMON-PASSWORDS-LICENSE).
static COMMON_GZ: &[u8] = include_bytes!("common-passwords.txt.gz");

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(COMMON_GZ).read_to_string(&mut text).expect("the bundled password list is valid gzip");
        text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
    })
}

pub fn common_password_count() -> usize {
    common_passwords().len()
}

/// Checks the policy: 8–128 characters, no composition rules, not a common password.
/// Returns the message to show beside the field.
pub fn check_policy(password: &str, username: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err("Use at least 8 characters.");
    }
    if len > MAX_LEN {
        return Err("Use at most 128 characters.");
    }
    let lowered = password.to_lowercase();
    if common_passwords().contains(lowered.trim()) {
        return Err("This password is too common. Choose one that is harder to guess.");
    }
    if !username.is_empty() && lowered.trim() == username.to_lowercase() {
        return Err("The password must not be your username.");
    }
    Ok(())
}

/// Hashes with a fresh 16-byte salt from the OS. Slow by design: call through `HashPool`.
pub fn hash(password: &SecretString) -> String {
    let mut salt = [0u8; 16];
    crate::keys::fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    argon2().hash_password(password.expose_secret().as_bytes(), &salt).expect("argon2 hashing cannot fail with valid parameters").to_string()
}

/// Verifies against a stored PHC string (parameters come from the string).
pub fn verify(password: &SecretString, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

static DUMMY_VERIFICATIONS: AtomicU64 = AtomicU64::new(0);

/// Verifies against a throwaway hash, so an unknown user costs what a known one does.
pub fn verify_dummy(password: &SecretString) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash(&SecretString::from(crate::keys::random_token(24))));
    DUMMY_VERIFICATIONS.fetch_add(1, Ordering::Relaxed);
    let _ = verify(password, stored);
    false
}

/// How many dummy verifications ran (tests prove unknown users are really hashed).
pub fn dummy_verifications() -> u64 {
    DUMMY_VERIFICATIONS.load(Ordering::Relaxed)
}

/// Runs password hashing off the async workers, at most one job per core at a time, so a
/// flood of logins queues here instead of starving the workers and the database pool.
#[derive(Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
}

impl HashPool {
    pub fn new(size: usize) -> Self {
        HashPool { permits: Arc::new(Semaphore::new(size.max(1))) }
    }

    pub fn for_cores() -> Self {
        Self::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, AppError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        actix_web::rt::task::spawn_blocking(job).await.map_err(AppError::internal)
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
        self.run(move || match stored {
            Some(h) => verify(&password, &h),
            None => verify_dummy(&password),
        })
        .await
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AppError> {
        self.run(move || hash(&password)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_list_is_large_and_refused() {
        assert!(common_password_count() >= 10_000, "{}", common_password_count());
        assert!(check_policy("password123", "alice").is_err());
        assert!(check_policy("PassWord123", "alice").is_err());
    }

    #[test]
    fn length_rules_count_characters_and_never_truncate() {
        assert!(check_policy("sev7nch", "").is_err());
        assert!(check_policy("eight ch", "").is_ok());
        let long: String = "correct horse battery staple ".repeat(5).chars().take(128).collect();
        assert_eq!(long.chars().count(), 128);
        assert!(check_policy(&long, "").is_ok());
        assert!(check_policy(&format!("{long}x"), "").is_err());
        // multi-byte characters count once each
        assert!(check_policy(&"ü".repeat(100), "").is_ok());
    }

    #[test]
    fn hashes_are_argon2id_owasp_salted_and_do_not_truncate() {
        let pw = SecretString::from("a long passphrase of ours".to_string());
        let h1 = hash(&pw);
        let h2 = hash(&pw);
        assert_ne!(h1, h2, "a salt per hash");
        let parsed = PasswordHash::new(&h1).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(parsed.params.get_decimal("m"), Some(19456));
        assert_eq!(parsed.params.get_decimal("t"), Some(2));
        assert_eq!(parsed.params.get_decimal("p"), Some(1));
        assert!(verify(&pw, &h1));
        assert!(!verify(&SecretString::from("a long passphrase of our".to_string()), &h1));
        assert!(!verify(&pw, "not a hash"));
    }
}
