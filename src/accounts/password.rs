//! Password rules and hashing: argon2id with OWASP's parameters, a policy of length plus a
//! common-password list, and a bounded pool so hashing never blocks the async workers.

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::Error;

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
/// A refusal says why, beside the password field.
pub fn check_policy(password: &str, username: &str) -> Result<(), Error> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(Error::invalid_field("password", "Use at least 8 characters."));
    }
    if len > MAX_LEN {
        return Err(Error::invalid_field("password", "Use at most 128 characters."));
    }
    let lowered = password.to_lowercase();
    if common_passwords().contains(lowered.trim()) {
        return Err(Error::invalid_field("password", "This password is too common. Choose one that is harder to guess."));
    }
    if !username.is_empty() && lowered.trim() == username.to_lowercase() {
        return Err(Error::invalid_field("password", "The password must not be your username."));
    }
    Ok(())
}

thread_local! {
    /// argon2's 19 MiB working memory, kept per hashing thread and reused: no allocation,
    /// no page faults, and memory bounded by the number of hashing threads.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn argon2_into(argon: &Argon2, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), argon2::Error> {
    let blocks = argon.params().block_count();
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes with a fresh 16-byte salt from the OS into a PHC string. Slow by design: call
/// through `HashPool`.
pub fn hash(password: &SecretString) -> String {
    let mut salt = [0u8; 16];
    crate::keys::fill_random(&mut salt);
    let mut out = [0u8; 32];
    let argon = argon2();
    argon2_into(&argon, password.expose_secret().as_bytes(), &salt, &mut out).expect("argon2 hashing cannot fail with valid parameters");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: argon.params().try_into().expect("argon2 parameters encode"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("32 bytes is a valid output")),
    }
    .to_string()
}

/// Verifies against a stored PHC string (algorithm and parameters come from the string).
pub fn verify(password: &SecretString, stored: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map(Version::try_from).transpose().ok()?.unwrap_or(Version::V0x13);
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        argon2_into(&Argon2::new(algorithm, version, params), password.expose_secret().as_bytes(), salt, &mut out).ok()?;
        Some(bool::from(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes())))
    };
    check().unwrap_or(false)
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

/// Runs password hashing on its own threads: never on the async workers, and never in the
/// blocking pool that database calls (`web::block`) use.
///
/// The threads run at the lowest CPU priority (nice 19), so a flood of logins takes only
/// the CPU nothing else wants: pages, `/healthz` and the database work preempt argon2 at
/// once, and queued logins wait instead. At most one hash per thread runs at a time, which
/// also caps argon2's memory (19 MiB per hash) at `threads` x 19 MiB.
#[derive(Clone)]
pub struct HashPool {
    jobs: tokio::sync::mpsc::Sender<Job>,
    /// argon2 verifications run, dummy ones included (tests prove what a cache saves).
    verifications: Arc<AtomicU64>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Logins waiting beyond this many make callers wait to enqueue (back-pressure).
const QUEUE: usize = 1024;

impl HashPool {
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("berth-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // the lock is held only while waiting for the next job
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
                        match job {
                            Some(job) => job(),
                            None => return, // the pool was dropped
                        }
                    }
                })
                .expect("spawning a password-hashing thread");
        }
        HashPool { jobs: tx, verifications: Arc::new(AtomicU64::new(0)) }
    }

    /// One thread per core.
    pub fn for_cores() -> Self {
        Self::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(job());
            }))
            .await
            .map_err(|_| Error::internal("the password-hashing pool is gone"))?;
        result.await.map_err(|_| Error::internal("a password-hashing job failed"))
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no user.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, Error> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.run(move || match stored {
            Some(h) => verify(&password, &h),
            None => verify_dummy(&password),
        })
        .await
    }

    /// How many verifications this pool was asked for.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, Error> {
        self.run(move || hash(&password)).await
    }
}

/// Nice 19 for the calling thread (on Linux, `setpriority` with id 0 is per thread).
fn lower_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; failure only leaves the
    // priority as it was.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if rc != 0 {
        tracing::warn!("could not lower the priority of a password-hashing thread");
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

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_phc_code() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let pw = SecretString::from("interoperable passphrase".to_string());
        let ours = hash(&pw);
        assert!(argon2().verify_password(pw.expose_secret().as_bytes(), &PasswordHash::new(&ours).unwrap()).is_ok());
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let theirs = argon2().hash_password(pw.expose_secret().as_bytes(), &salt).unwrap().to_string();
        assert!(verify(&pw, &theirs));
        // other parameters in the string are honoured (a hash from before a parameter change)
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
        let old = weak.hash_password(pw.expose_secret().as_bytes(), &salt).unwrap().to_string();
        assert!(verify(&pw, &old));
        assert!(!verify(&SecretString::from("wrong".to_string()), &old));
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[actix_web::test]
    async fn the_pool_runs_jobs_on_its_own_low_priority_threads() {
        let pool = HashPool::new(2);
        let (name, nice) = pool
            .run(|| {
                // SAFETY: getpriority has no preconditions.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                (std::thread::current().name().map(str::to_string), nice)
            })
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("berth-hash-"));
        assert_eq!(nice, 19);
        let pw = SecretString::from("pool passphrase here".to_string());
        let h = pool.hash(pw.clone()).await.unwrap();
        assert_eq!(pool.verifications(), 0, "hashing is not verifying");
        assert!(pool.verify(pw.clone(), Some(h)).await.unwrap());
        assert!(!pool.verify(pw, None).await.unwrap());
        assert_eq!(pool.verifications(), 2, "dummy verifications count too");
    }
}
