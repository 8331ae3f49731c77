//! The registry signing keys: ES256 (P-256), each with a self-signed X.509 certificate the
//! registry trusts through its `rootcertbundle`. They live in the database (the private key
//! sealed under a key derived from the master key), so every instance signs with the same
//! one and needs no shared data folder. Signing uses `ring` (about 10× faster than a
//! pure-Rust P-256 here).
//!
//! A key changes in two steps, so that the registry trusts a key before any token names it:
//! `publish` adds a key whose certificate joins the bundle (the signing key is unchanged),
//! and once the registry has the new bundle, `activate` makes it the signing key. Every
//! instance's `Signer` picks the activation up within `RECHECK_SECONDS`. A former signing
//! key's certificate stays in the bundle until `retire` takes it out, which waits until no
//! token it signed can still be live.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use diesel::prelude::*;
use rcgen::PublicKeyData;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::signing_keys;
use crate::db::{Conn, Database, write_tx};
use crate::keys::Keys;

/// The files an earlier Berth kept the key in, in the data folder: read once, when the
/// database holds no key yet, and left in place (an older Berth still reads them).
pub const KEY_FILE: &str = "registry-key.pem";
pub const CERT_FILE: &str = "registry-cert.pem";
/// `registry-cert-retired-STAMP.pem`: a certificate that earlier Berth's `keys rotate` kept
/// for the bundle after deleting its key.
const RETIRED_CERT: (&str, &str) = ("registry-cert-retired-", ".pem");

/// How long a running instance may sign with a key after another one became the signing
/// key: each instance re-reads which key signs this often.
pub const RECHECK_SECONDS: i64 = 30;
/// The longest registry token (BERTH_TOKEN_LIFETIME_SECONDS allows at most an hour), and
/// the clock skew the registry allows: together with `RECHECK_SECONDS`, how long a former
/// signing key's tokens may stay live.
const LONGEST_TOKEN_SECONDS: i64 = 3600;
const REGISTRY_SKEW_SECONDS: i64 = 60;

pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    /// libtrust key id of the public key: the JWT header's `kid`.
    pub kid: String,
    /// The certificate to publish in the registry's bundle (PEM).
    pub cert_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

/// The libtrust key id, as the registry computes it to match a token to its certificate: SHA-256 of the DER SubjectPublicKeyInfo, first
/// 30 bytes, base32 without padding, in 12 groups of 4 joined by ':'.
pub fn libtrust_kid(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let b32 = data_encoding::BASE32_NOPAD.encode(&digest[..30]);
    b32.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).expect("base32 is ASCII")).collect::<Vec<_>>().join(":")
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()
}

/// The DER SubjectPublicKeyInfo of an X.509 certificate (PEM): the seventh element of
/// `tbsCertificate` (the sixth when the optional version is absent).
pub fn certificate_public_key(cert_pem: &str) -> Option<Vec<u8>> {
    let der = pem_body(cert_pem)?;
    let (certificate, _) = der_element(&der, 0x30)?;
    let (tbs, _) = der_element(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_skip(rest)?;
    }
    for _ in 0..5 {
        rest = der_skip(rest)?; // serial, signature algorithm, issuer, validity, subject
    }
    let len = rest.len() - der_skip(rest)?.len();
    (rest.first() == Some(&0x30)).then(|| rest[..len].to_vec())
}

/// The contents of the DER element at the start of `der`, if its tag is `tag`, and what follows it.
fn der_element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *der.first()? != tag {
        return None;
    }
    let (len, header) = match *der.get(1)? {
        short @ 0..=0x7f => (usize::from(short), 2),
        long @ 0x81..=0x84 => {
            let n = usize::from(long & 0x7f);
            (der.get(2..2 + n)?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), 2 + n)
        }
        _ => return None,
    };
    let end = header.checked_add(len)?;
    Some((der.get(header..end)?, der.get(end..)?))
}

/// What follows the DER element at the start of `der`, whatever its tag.
fn der_skip(der: &[u8]) -> Option<&[u8]> {
    der_element(der, *der.first()?).map(|(_, rest)| rest)
}

/// The key id a certificate's public key has (what a JWT signed with its key names).
pub fn certificate_kid(cert_pem: &str) -> Option<String> {
    certificate_public_key(cert_pem).map(|spki| libtrust_kid(&spki))
}

impl SigningKey {
    /// A new key and its certificate: the key, and the row that keeps it sealed.
    fn generate(keys: &Keys, now: Timestamp) -> Result<(SigningKey, NewRow), Error> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| Error::internal(format!("generating a signing key: {e}")))?;
        let cert_pem = self_signed(&pair)?;
        let key = SigningKey::from_pkcs8(&pair.serialize_der(), cert_pem.clone())?;
        let row = NewRow { kid: key.kid.clone(), sealed: Some(keys.seal_signing_key(&key.kid, &pair.serialize_der())), cert_pem, created_at: now, activation: None };
        Ok((key, row))
    }

    fn from_pkcs8(der: &[u8], cert_pem: String) -> Result<SigningKey, Error> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng).map_err(|e| Error::internal(format!("not an ES256 private key: {e}")))?;
        let spki = rcgen::KeyPair::try_from(der).map_err(|e| Error::internal(format!("not an ES256 private key: {e}")))?.subject_public_key_info();
        Ok(SigningKey { pair, rng, kid: libtrust_kid(&spki), cert_pem })
    }

    /// ES256 signature (raw r‖s, 64 bytes, as JOSE wants it).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(&self.rng, message).expect("ECDSA signing with a valid key does not fail").as_ref().to_vec()
    }
}

fn self_signed(pair: &rcgen::KeyPair) -> Result<String, Error> {
    let failed = |e: rcgen::Error| Error::internal(format!("making the signing key's certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Berth registry token signer");
    Ok(params.self_signed(pair).map_err(failed)?.pem())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct Row {
    kid: String,
    sealed_private: Option<Vec<u8>>,
    cert_pem: String,
    created_at: Timestamp,
    activation: Option<i32>,
    activated_at: Option<Timestamp>,
    retired_at: Option<Timestamp>,
}

struct NewRow {
    kid: String,
    /// None: a certificate kept without its key.
    sealed: Option<Vec<u8>>,
    cert_pem: String,
    created_at: Timestamp,
    /// Some: it signed (or signs) from `created_at` on, in this order.
    activation: Option<i32>,
}

fn insert(conn: &mut Conn, row: &NewRow) -> Result<(), Error> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(&row.kid),
            signing_keys::sealed_private.eq(row.sealed.as_deref()),
            signing_keys::cert_pem.eq(&row.cert_pem),
            signing_keys::created_at.eq(row.created_at),
            signing_keys::activation.eq(row.activation),
            signing_keys::activated_at.eq(row.activation.map(|_| row.created_at)),
        ))
        .execute(conn)?;
    Ok(())
}

fn open(keys: &Keys, row: Row) -> Result<SigningKey, Error> {
    let sealed = row.sealed_private.ok_or_else(|| Error::internal(format!("the signing key {} has no private key", row.kid)))?;
    let der = keys.open_signing_key(&row.kid, &sealed).ok_or_else(|| Error::internal(format!("the signing key {} does not open with this master key", row.kid)))?;
    let key = SigningKey::from_pkcs8(&der, row.cert_pem)?;
    if key.kid != row.kid {
        return Err(Error::internal(format!("the signing key stored as {} is the key {}", row.kid, key.kid)));
    }
    Ok(key)
}

/// The key activated last.
fn signing_row(conn: &mut Conn) -> Result<Option<Row>, Error> {
    Ok(signing_keys::table.filter(signing_keys::activation.is_not_null()).order(signing_keys::activation.desc()).select(Row::as_select()).first(conn).optional()?)
}

/// The key that signs registry tokens now.
pub fn signing(conn: &mut Conn, keys: &Keys) -> Result<Option<SigningKey>, Error> {
    signing_row(conn)?.map(|row| open(keys, row)).transpose()
}

/// The signing key, made on the first start: imported from the key files of an earlier
/// Berth in `data_dir` when they are there (so its registry keeps trusting the same key),
/// else a new one. Of several instances starting at once on a new database, one writes
/// its key and the others read it: the first activation's number is unique, and on SQLite
/// the write transaction runs alone.
pub fn ensure(conn: &mut Conn, keys: &Keys, data_dir: &Path, now: Timestamp) -> Result<SigningKey, Error> {
    if let Some(key) = signing(conn, keys)? {
        return Ok(key);
    }
    let (rows, from) = match legacy_rows(data_dir, keys)? {
        Some(rows) => (rows, "imported from the data folder's key files"),
        None => {
            let (_, mut row) = SigningKey::generate(keys, now)?;
            row.activation = Some(1);
            (vec![row], "created")
        }
    };
    let written = write_tx(conn, |c| {
        if signing_keys::table.count().get_result::<i64>(c)? > 0 {
            return Ok(false);
        }
        rows.iter().try_for_each(|row| insert(c, row)).map(|()| true)
    });
    match written {
        Ok(true) => tracing::info!(kid = %rows.last().map(|r| r.kid.as_str()).unwrap_or(""), keys = rows.len(), "registry signing key {from}"),
        // another instance wrote its key first: that one signs
        Ok(false) | Err(Error::Taken(_)) => {}
        Err(e) => return Err(e),
    }
    signing(conn, keys)?.ok_or_else(|| Error::internal("the database holds registry signing keys but none was ever activated"))
}

/// The key files of an earlier Berth, as rows in the order they signed: the retired
/// certificates (by the time their rotation stamped them), then the key that signs. None
/// when `data_dir` holds no key file.
fn legacy_rows(data_dir: &Path, keys: &Keys) -> Result<Option<Vec<NewRow>>, Error> {
    let key_path = data_dir.join(KEY_FILE);
    if !key_path.is_file() {
        return Ok(None);
    }
    let shown = |p: &Path, e: &dyn std::fmt::Display| Error::internal(format!("{}: {e}", p.display()));
    let read = |p: &Path| fs::read_to_string(p).map_err(|e| shown(p, &e));
    let mut retired: Vec<(i64, PathBuf)> = fs::read_dir(data_dir)
        .map_err(|e| shown(data_dir, &e))?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stamp = name.strip_prefix(RETIRED_CERT.0)?.strip_suffix(RETIRED_CERT.1)?.parse().ok()?;
            Some((stamp, entry.path()))
        })
        .collect();
    retired.sort();
    let mut rows = Vec::with_capacity(retired.len() + 1);
    for (stamp, path) in retired {
        let cert_pem = read(&path)?;
        let kid = certificate_kid(&cert_pem).ok_or_else(|| shown(&path, &"not a PEM certificate"))?;
        // a key retired twice (the same certificate under two stamps) is kept once
        if rows.iter().all(|r: &NewRow| r.kid != kid) {
            rows.push(NewRow { kid, sealed: None, cert_pem, created_at: modified(&path).unwrap_or(stamp), activation: Some(rows.len() as i32 + 1) });
        }
    }
    let key_pem = read(&key_path)?;
    let pkcs8 = pem_body(&key_pem).ok_or_else(|| shown(&key_path, &"not PEM"))?;
    let pair = rcgen::KeyPair::try_from(&pkcs8[..]).map_err(|e| shown(&key_path, &e))?;
    let cert_path = data_dir.join(CERT_FILE);
    // an earlier Berth made the certificate anew when it was missing, from the same key
    let cert_pem = if cert_path.is_file() { read(&cert_path)? } else { self_signed(&pair)? };
    let key = SigningKey::from_pkcs8(&pkcs8, cert_pem.clone()).map_err(|e| shown(&key_path, &e))?;
    if certificate_kid(&cert_pem).as_deref() != Some(key.kid.as_str()) {
        return Err(shown(&cert_path, &format!("is not the certificate of the key in {KEY_FILE}")));
    }
    rows.retain(|r| r.kid != key.kid);
    let created_at = modified(&cert_path).or_else(|| modified(&key_path)).unwrap_or_default();
    let activation = Some(rows.len() as i32 + 1);
    rows.push(NewRow { sealed: Some(keys.seal_signing_key(&key.kid, &pkcs8)), kid: key.kid, cert_pem, created_at, activation });
    Ok(Some(rows))
}

/// When a file was last written, in Unix seconds.
fn modified(path: &Path) -> Option<Timestamp> {
    let time = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as Timestamp)
}

/// Adds a new key, published (its certificate goes into the bundle) but not signing.
/// Returns its key id.
pub fn publish(conn: &mut Conn, keys: &Keys, now: Timestamp) -> Result<String, Error> {
    let (key, row) = SigningKey::generate(keys, now)?;
    insert(conn, &row)?;
    Ok(key.kid)
}

/// What `activate` switched.
#[derive(Debug)]
pub struct Activated {
    pub previous: Option<String>,
    pub kid: String,
}

/// Makes the newest published key the signing key. None when no key waits to sign. Of two
/// activations at once one wins; the other fails (`Taken`) and changes nothing.
pub fn activate(conn: &mut Conn, now: Timestamp) -> Result<Option<Activated>, Error> {
    write_tx(conn, |c| {
        let waiting = signing_keys::table
            .filter(signing_keys::activation.is_null())
            .filter(signing_keys::retired_at.is_null())
            .filter(signing_keys::sealed_private.is_not_null())
            .order((signing_keys::created_at.desc(), signing_keys::id.desc()))
            .select((signing_keys::id, signing_keys::kid))
            .first::<(i32, String)>(c)
            .optional()?;
        let Some((id, kid)) = waiting else { return Ok(None) };
        let previous = signing_row(c)?;
        let activation = previous.as_ref().and_then(|p| p.activation).unwrap_or(0) + 1;
        let changed = diesel::update(signing_keys::table.find(id).filter(signing_keys::activation.is_null()))
            .set((signing_keys::activation.eq(activation), signing_keys::activated_at.eq(now)))
            .execute(c)?;
        if changed != 1 {
            return Err(Error::Taken("value"));
        }
        Ok(Some(Activated { previous: previous.map(|p| p.kid), kid }))
    })
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It signs the tokens.
    Signing,
    /// Its certificate is in the bundle; it has never signed.
    Published,
    /// It signed before the signing key; its certificate stays in the bundle for the tokens it signed.
    Previous,
    /// Out of the bundle.
    Retired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Signing => "signing",
            Status::Published => "published",
            Status::Previous => "previous",
            Status::Retired => "retired",
        }
    }
}

pub struct Listed {
    pub kid: String,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    pub status: Status,
    /// When the tokens it signed are all expired, for a former signing key.
    pub verifies_until: Option<Timestamp>,
    /// False for a certificate kept without its key: it can never sign again.
    pub has_private_key: bool,
    cert_pem: String,
}

/// Every key, the signing one first, then the newest first.
pub fn list(conn: &mut Conn) -> Result<Vec<Listed>, Error> {
    let mut rows: Vec<Row> = signing_keys::table.order(signing_keys::id.desc()).select(Row::as_select()).load(conn)?;
    let signing = rows.iter().filter_map(|r| r.activation).max();
    let is_signing = |r: &Row| r.activation.is_some() && r.activation == signing;
    rows.sort_by_key(|r| !is_signing(r));
    // a former signing key stopped signing when the next activation happened
    let stopped = |activation: i32| rows.iter().find(|r| r.activation == Some(activation + 1)).and_then(|r| r.activated_at);
    let listed = rows
        .iter()
        .map(|r| {
            let status = match (r.retired_at, r.activation) {
                (Some(_), _) => Status::Retired,
                (None, None) => Status::Published,
                (None, Some(_)) if is_signing(r) => Status::Signing,
                (None, Some(_)) => Status::Previous,
            };
            let verifies_until = r.activation.filter(|_| status != Status::Signing).and_then(stopped).map(|t| t + RECHECK_SECONDS + LONGEST_TOKEN_SECONDS + REGISTRY_SKEW_SECONDS);
            Listed {
                kid: r.kid.clone(),
                created_at: r.created_at,
                activated_at: r.activated_at,
                retired_at: r.retired_at,
                status,
                verifies_until,
                has_private_key: r.sealed_private.is_some(),
                cert_pem: r.cert_pem.clone(),
            }
        })
        .collect();
    Ok(listed)
}

/// The certificates the registry must trust, the signing key's first: every key not
/// retired, so a token of the previous key still verifies, and the next key's tokens
/// verify from the moment it is activated.
pub fn bundle(conn: &mut Conn) -> Result<String, Error> {
    Ok(list(conn)?.into_iter().filter(|k| k.status != Status::Retired).map(|k| k.cert_pem).collect())
}

/// Why `retire` took nothing out.
#[derive(Debug, PartialEq, Eq)]
pub enum NotRetired {
    Unknown,
    Signing,
    AlreadyRetired,
    /// Tokens it signed may be live until then.
    StillVerifies(Timestamp),
}

/// Takes a key's certificate out of the bundle (the next `registry-config` writes it
/// without): only once every token it signed has expired, so no live token stops working.
pub fn retire(conn: &mut Conn, kid: &str, now: Timestamp) -> Result<Result<(), NotRetired>, Error> {
    write_tx(conn, |c| {
        let Some(key) = list(c)?.into_iter().find(|k| k.kid == kid) else { return Ok(Err(NotRetired::Unknown)) };
        match key.status {
            Status::Signing => return Ok(Err(NotRetired::Signing)),
            Status::Retired => return Ok(Err(NotRetired::AlreadyRetired)),
            Status::Published | Status::Previous => {}
        }
        if let Some(until) = key.verifies_until.filter(|until| now < *until) {
            return Ok(Err(NotRetired::StillVerifies(until)));
        }
        diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid))).set(signing_keys::retired_at.eq(now)).execute(c)?;
        Ok(Ok(()))
    })
}

/// The signing key of a running instance. Another instance (or `berth keys activate`) may
/// switch the key in the database at any time; this one re-reads which key signs when
/// `RECHECK_SECONDS` have passed on its clock since it last looked. One request per period
/// does the re-read, on the blocking pool; the others meanwhile sign with the key they have,
/// which the registry trusts still.
pub struct Signer {
    current: RwLock<Arc<SigningKey>>,
    checked_at: AtomicI64,
    /// Opens a newly activated key.
    keys: Keys,
    #[cfg(test)]
    rereads: std::sync::atomic::AtomicU32,
}

impl Signer {
    pub fn new(key: SigningKey, keys: Keys, now: Timestamp) -> Signer {
        Signer {
            current: RwLock::new(Arc::new(key)),
            checked_at: AtomicI64::new(now),
            keys,
            #[cfg(test)]
            rereads: Default::default(),
        }
    }

    /// The key this instance signs with, as last read.
    pub fn current(&self) -> Arc<SigningKey> {
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The key to sign with at `now`.
    pub async fn signing(&self, database: &Database, now: Timestamp) -> Arc<SigningKey> {
        let checked = self.checked_at.load(Ordering::Acquire);
        // the one request that moves the time of the last check forward re-reads
        if now - checked < RECHECK_SECONDS || self.checked_at.compare_exchange(checked, now, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return self.current();
        }
        #[cfg(test)]
        self.rereads.fetch_add(1, Ordering::Relaxed);
        let (known, keys) = (self.current().kid.clone(), self.keys.clone());
        let read = database
            .run(move |c| match signing_row(c)? {
                Some(row) if row.kid != known => open(&keys, row).map(Some),
                _ => Ok(None),
            })
            .await;
        match read {
            Ok(Some(key)) => {
                tracing::info!(kid = %key.kid, "signing registry tokens with the newly activated key");
                *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
            }
            Ok(None) => {}
            // the key in hand is still trusted; the next period tries again
            Err(e) => tracing::warn!(error = %e.chain(), "re-reading the registry signing key"),
        }
        self.current()
    }
}

/// Writes the bundle for the registry, mode 0644 whatever the umask: it holds certificates
/// only, and the registry runs as its own user (Debian: `docker-registry`), which must read it.
pub fn write_bundle(path: &Path, pem: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = |e: std::io::Error| format!("writing the bundle {}: {e}", path.display());
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(path).map_err(shown)?;
    f.write_all(pem.as_bytes()).and_then(|_| f.sync_all()).map_err(shown)?;
    // `mode` above applies to a new file only, and through the umask
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(shown)
}

/// The first folder on the way to `path` that other users may not enter (no `o+x`), if any:
/// a file below it is unreadable to the registry's user whatever the file's own mode.
pub fn folder_closed_to_others(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let absolute = fs::canonicalize(path).ok()?;
    let mut folders: Vec<&Path> = absolute.ancestors().skip(1).collect();
    folders.reverse();
    folders.into_iter().find(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 == 0)).map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, crate::db::DbPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(dir.path().join("berth.db").to_str().unwrap()).unwrap();
        (dir, pool)
    }

    fn keys() -> Keys {
        Keys::derive(&[9u8; 64])
    }

    fn verifies(cert_pem: &str, message: &[u8], signature: &[u8]) -> bool {
        let spki = certificate_public_key(cert_pem).unwrap();
        // a P-256 SubjectPublicKeyInfo ends with the uncompressed point
        let point = &spki[spki.len() - 65..];
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point).verify(message, signature).is_ok()
    }

    fn certificates(bundle: &str) -> Vec<String> {
        bundle.split_inclusive("-----END CERTIFICATE-----\n").map(|c| certificate_kid(c).expect("a certificate")).collect()
    }

    #[test]
    fn the_kid_of_the_worked_example_matches_registry_auth_md() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExL3/rckXbvPBrqckbtZlXGNVe6Sy\nv3VfGArX4I/ptCY5zXqzcbqbddOTuJlHTTR+PdRXWkyNb8XIiVMN45JVaw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(libtrust_kid(&pem_body(pem).unwrap()), "3ANS:LFB3:HOO5:UGTL:QKWQ:ZH2N:M5QR:N3YS:5VBJ:GS4A:HFOG:523L");
    }

    #[test]
    fn a_certificates_kid_is_its_keys_and_garbage_has_none() {
        let (key, _) = SigningKey::generate(&keys(), 1).unwrap();
        assert_eq!(certificate_kid(&key.cert_pem).as_deref(), Some(key.kid.as_str()));
        assert_eq!(key.kid.len(), 59);
        let body = pem_body(&key.cert_pem).unwrap();
        use base64::Engine;
        for broken in [&body[..body.len() / 2], &body[..3], &[0x30, 0x85, 1, 2, 3, 4, 5][..], &[][..]] {
            let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", base64::engine::general_purpose::STANDARD.encode(broken));
            assert_eq!(certificate_kid(&pem), None);
        }
        assert_eq!(certificate_kid("not PEM at all"), None);
    }

    #[test]
    fn sqlite_the_first_key_is_made_once_sealed_and_signs_verifiably() {
        let (dir, pool) = database();
        let mut c = pool.get().unwrap();
        let k1 = ensure(&mut c, &keys(), dir.path(), 100).unwrap();
        let k2 = ensure(&mut c, &keys(), dir.path(), 200).unwrap();
        assert_eq!(k1.kid, k2.kid);
        assert_eq!(signing_keys::table.count().get_result::<i64>(&mut c).unwrap(), 1);
        assert!(!dir.path().join(KEY_FILE).exists(), "no key file is written");
        let sig = k1.sign(b"message");
        assert_eq!(sig.len(), 64);
        assert!(verifies(&k1.cert_pem, b"message", &sig));
        assert!(!verifies(&k1.cert_pem, b"another message", &sig));
        // the stored key is sealed: it opens with the master key only
        let sealed: Vec<u8> = signing_keys::table.select(signing_keys::sealed_private).first::<Option<Vec<u8>>>(&mut c).unwrap().unwrap();
        let der = keys().open_signing_key(&k1.kid, &sealed).unwrap();
        assert!(!sealed.windows(32).any(|w| der.windows(32).any(|d| d == w)), "the private key is not stored in the clear");
        assert!(signing(&mut c, &Keys::derive(&[8u8; 64])).unwrap_err().chain().contains("does not open with this master key"));
    }

    #[test]
    fn sqlite_a_rotation_publishes_first_and_signs_with_the_new_key_only_once_activated() {
        let (dir, pool) = database();
        let mut c = pool.get().unwrap();
        let first = ensure(&mut c, &keys(), dir.path(), 1_000).unwrap();
        assert_eq!(certificates(&bundle(&mut c).unwrap()), [first.kid.as_str()]);
        assert!(activate(&mut c, 1_001).unwrap().is_none(), "nothing waits to be activated");

        let second = publish(&mut c, &keys(), 1_010).unwrap();
        assert_eq!(signing(&mut c, &keys()).unwrap().unwrap().kid, first.kid, "publishing does not change the signing key");
        assert_eq!(certificates(&bundle(&mut c).unwrap()), [first.kid.clone(), second.clone()], "the signing key's certificate first");
        let statuses = |c: &mut Conn| list(c).unwrap().into_iter().map(|k| (k.kid, k.status)).collect::<Vec<_>>();
        assert_eq!(statuses(&mut c), [(first.kid.clone(), Status::Signing), (second.clone(), Status::Published)]);

        let done = activate(&mut c, 1_020).unwrap().unwrap();
        assert_eq!((done.previous.as_deref(), done.kid.as_str()), (Some(first.kid.as_str()), second.as_str()));
        assert_eq!(signing(&mut c, &keys()).unwrap().unwrap().kid, second);
        assert_eq!(certificates(&bundle(&mut c).unwrap()), [second.clone(), first.kid.clone()], "the previous key's certificate stays");
        assert_eq!(statuses(&mut c), [(second.clone(), Status::Signing), (first.kid.clone(), Status::Previous)]);
        assert!(activate(&mut c, 1_021).unwrap().is_none());

        // the previous key's tokens may live for the longest lifetime after its last one
        let until = 1_020 + RECHECK_SECONDS + LONGEST_TOKEN_SECONDS + REGISTRY_SKEW_SECONDS;
        assert_eq!(list(&mut c).unwrap()[1].verifies_until, Some(until));
        assert_eq!(retire(&mut c, &first.kid, until - 1).unwrap(), Err(NotRetired::StillVerifies(until)));
        assert_eq!(retire(&mut c, &second, until).unwrap(), Err(NotRetired::Signing));
        assert_eq!(retire(&mut c, "NOPE", until).unwrap(), Err(NotRetired::Unknown));
        assert_eq!(certificates(&bundle(&mut c).unwrap()).len(), 2, "refusals change nothing");
        assert_eq!(retire(&mut c, &first.kid, until).unwrap(), Ok(()));
        assert_eq!(certificates(&bundle(&mut c).unwrap()), [second.as_str()]);
        assert_eq!(retire(&mut c, &first.kid, until).unwrap(), Err(NotRetired::AlreadyRetired));
        assert_eq!(statuses(&mut c)[1], (first.kid.clone(), Status::Retired));

        // the newest of two published keys is the one activated
        let (third, fourth) = (publish(&mut c, &keys(), 2_000).unwrap(), publish(&mut c, &keys(), 2_001).unwrap());
        assert_eq!(activate(&mut c, 2_002).unwrap().unwrap().kid, fourth);
        assert_eq!(statuses(&mut c).into_iter().find(|(k, _)| *k == third).unwrap().1, Status::Published);
        assert_eq!(retire(&mut c, &third, 2_003).unwrap(), Ok(()), "a key that never signed leaves at once");
        assert_eq!(activate(&mut c, 2_004).unwrap().map(|a| a.kid), None, "a retired key is never activated");
    }

    /// Key files as an earlier Berth left them after two rotations.
    fn legacy_folder(dir: &Path) -> Vec<String> {
        let mut kids = Vec::new();
        for stamp in [1_700_000_000, 1_700_100_000] {
            let (old, _) = SigningKey::generate(&keys(), 1).unwrap();
            fs::write(dir.join(format!("registry-cert-retired-{stamp}.pem")), &old.cert_pem).unwrap();
            kids.push(old.kid);
        }
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        fs::write(dir.join(KEY_FILE), pair.serialize_pem()).unwrap();
        fs::write(dir.join(CERT_FILE), self_signed(&pair).unwrap()).unwrap();
        kids.push(libtrust_kid(&pair.subject_public_key_info()));
        kids
    }

    #[test]
    fn sqlite_an_earlier_berths_key_files_are_imported_once_with_the_retired_certificates() {
        let (dir, pool) = database();
        let mut c = pool.get().unwrap();
        let kids = legacy_folder(dir.path());
        let key = ensure(&mut c, &keys(), dir.path(), 2_000_000_000).unwrap();
        assert_eq!(key.kid, kids[2], "the key of registry-key.pem keeps signing");
        assert!(verifies(&key.cert_pem, b"m", &key.sign(b"m")));
        assert_eq!(certificates(&bundle(&mut c).unwrap()), [kids[2].clone(), kids[1].clone(), kids[0].clone()], "every certificate the old bundle held");
        let listed = list(&mut c).unwrap();
        assert_eq!(listed.iter().map(|k| (k.status, k.has_private_key)).collect::<Vec<_>>(), [(Status::Signing, true), (Status::Previous, false), (Status::Previous, false)]);
        // once: from now on the database is what counts, whatever the folder holds
        for file in [KEY_FILE, CERT_FILE] {
            fs::remove_file(dir.path().join(file)).unwrap();
        }
        assert_eq!(ensure(&mut c, &keys(), dir.path(), 2_000_000_100).unwrap().kid, kids[2]);
        legacy_folder(dir.path());
        assert_eq!(ensure(&mut c, &keys(), dir.path(), 2_000_000_200).unwrap().kid, kids[2]);
        assert_eq!(signing_keys::table.count().get_result::<i64>(&mut c).unwrap(), 3);
        // the retired ones can never sign again
        assert!(activate(&mut c, 2_000_000_300).unwrap().is_none());
    }

    #[test]
    fn sqlite_a_key_file_whose_certificate_is_anothers_is_refused_and_nothing_is_imported() {
        let (dir, pool) = database();
        let mut c = pool.get().unwrap();
        legacy_folder(dir.path());
        let (other, _) = SigningKey::generate(&keys(), 1).unwrap();
        fs::write(dir.path().join(CERT_FILE), &other.cert_pem).unwrap();
        let err = ensure(&mut c, &keys(), dir.path(), 1).unwrap_err().chain();
        assert!(err.contains(CERT_FILE) && err.contains("is not the certificate of the key"), "{err}");
        assert_eq!(signing_keys::table.count().get_result::<i64>(&mut c).unwrap(), 0);
    }

    #[test]
    fn sqlite_instances_starting_at_once_on_a_new_database_end_with_one_key() {
        let (dir, pool) = database();
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, barrier, folder) = (pool.clone(), barrier.clone(), dir.path().to_path_buf());
                std::thread::spawn(move || {
                    let mut c = pool.get().unwrap();
                    barrier.wait();
                    ensure(&mut c, &keys(), &folder, 1).unwrap().kid
                })
            })
            .collect();
        let kids: std::collections::HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(kids.len(), 1, "{kids:?}");
        assert_eq!(signing_keys::table.count().get_result::<i64>(&mut pool.get().unwrap()).unwrap(), 1);
    }

    #[actix_web::test]
    async fn sqlite_a_signer_rereads_the_signing_key_once_per_period_and_never_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path().join("berth.db").to_str().unwrap(), 2).unwrap();
        let mut c = database.pool.get().unwrap();
        let first = ensure(&mut c, &keys(), dir.path(), 0).unwrap().kid;
        let signer = Signer::new(ensure(&mut c, &keys(), dir.path(), 0).unwrap(), keys(), 1_000);
        publish(&mut c, &keys(), 1_001).unwrap();
        let second = activate(&mut c, 1_002).unwrap().unwrap().kid;
        assert_eq!(signer.signing(&database, 1_000 + RECHECK_SECONDS - 1).await.kid, first, "within the period the key in hand signs");
        assert_eq!(signer.rereads.load(Ordering::Relaxed), 0);
        // many requests at once past the period: one re-reads, and every later one has the new key
        let at = 1_000 + RECHECK_SECONDS;
        let answers = futures_util::future::join_all((0..50).map(|_| signer.signing(&database, at))).await;
        assert_eq!(signer.rereads.load(Ordering::Relaxed), 1, "one re-read for 50 requests");
        assert!(answers.iter().all(|k| k.kid == first || k.kid == second));
        assert_eq!(signer.signing(&database, at + 1).await.kid, second);
        assert_eq!(signer.current().kid, second);
        assert_eq!(signer.rereads.load(Ordering::Relaxed), 1);
        // a key that does not open is not taken: the one in hand keeps signing
        let stranger = Signer::new(signing(&mut c, &keys()).unwrap().unwrap(), Keys::derive(&[1u8; 64]), 0);
        publish(&mut c, &keys(), 2_000).unwrap();
        activate(&mut c, 2_001).unwrap();
        assert_eq!(stranger.signing(&database, RECHECK_SECONDS).await.kid, second);
    }

    #[test]
    fn the_bundle_is_written_readable_by_all_and_a_closed_folder_on_its_way_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        let closed = open.join("closed");
        fs::create_dir_all(&closed).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o711)).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o750)).unwrap();
        let readable = open.join("bundle.pem");
        fs::write(&readable, "old").unwrap();
        fs::set_permissions(&readable, fs::Permissions::from_mode(0o600)).unwrap();
        write_bundle(&readable, "-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(fs::read_to_string(&readable).unwrap(), "-----BEGIN CERTIFICATE-----\n");
        assert_eq!(fs::metadata(&readable).unwrap().permissions().mode() & 0o777, 0o644, "an existing file is made readable too");
        assert_eq!(folder_closed_to_others(&readable), None, "every folder on the way has o+x");
        let hidden = closed.join("bundle.pem");
        write_bundle(&hidden, "x").unwrap();
        assert_eq!(fs::metadata(&hidden).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(folder_closed_to_others(&hidden), Some(fs::canonicalize(&closed).unwrap()));
        let err = write_bundle(&dir.path().join("missing/bundle.pem"), "x").unwrap_err();
        assert!(err.contains("missing/bundle.pem"), "{err}");
    }
}
