//! The registry signing key: ES256 (P-256) in PKCS#8, with a self-signed X.509 certificate
//! the registry trusts through its `rootcertbundle`. Created in the data folder when
//! missing; signing uses `ring` (about 10× faster than a pure-Rust P-256 here).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::PublicKeyData;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use sha2::{Digest, Sha256};

pub const KEY_FILE: &str = "registry-key.pem";
pub const CERT_FILE: &str = "registry-cert.pem";

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

impl SigningKey {
    /// Loads the key and certificate from the data folder, creating both when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<SigningKey, String> {
        let (key_path, cert_path) = (data_dir.join(KEY_FILE), data_dir.join(CERT_FILE));
        if !key_path.exists() {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
            write_private(&key_path, pair.serialize_pem().as_bytes())?;
            let _ = fs::remove_file(&cert_path);
        }
        let key_pem = fs::read_to_string(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let pair = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| format!("{}: {e}", key_path.display()))?;
        if !cert_path.exists() {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
            params.distinguished_name.push(rcgen::DnType::CommonName, "Berth registry token signer");
            let cert = params.self_signed(&pair).map_err(|e| e.to_string())?;
            fs::write(&cert_path, cert.pem()).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        }
        let cert_pem = fs::read_to_string(&cert_path).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let der = pem_body(&key_pem).ok_or_else(|| format!("{}: not PEM", key_path.display()))?;
        let rng = SystemRandom::new();
        let pair_ring = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).map_err(|e| format!("{}: {e}", key_path.display()))?;
        Ok(SigningKey { pair: pair_ring, rng, kid: libtrust_kid(&pair.subject_public_key_info()), cert_pem })
    }

    /// ES256 signature (raw r‖s, 64 bytes, as JOSE wants it).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(&self.rng, message).expect("ECDSA signing with a valid key does not fail").as_ref().to_vec()
    }
}

/// The certificates the registry must trust: the current one first, then those of earlier
/// keys kept by `rotate`, so tokens signed before a rotation still verify.
pub fn bundle(data_dir: &Path) -> Result<String, String> {
    let current = fs::read_to_string(data_dir.join(CERT_FILE)).map_err(|e| format!("{CERT_FILE}: {e}"))?;
    let mut old: Vec<PathBuf> = fs::read_dir(data_dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("registry-cert-retired-") && n.ends_with(".pem")))
        .collect();
    old.sort();
    let mut out = current;
    for p in old.iter().rev() {
        out.push_str(&fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    Ok(out)
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

/// Retires the current key: its certificate stays in the bundle (named by `stamp`), its
/// private key is deleted, and a new key and certificate are created. Berth signs with the
/// new key after a restart; the registry must be given the new bundle first.
pub fn rotate(data_dir: &Path, stamp: i64) -> Result<(String, String), String> {
    let old = SigningKey::load_or_create(data_dir)?;
    fs::rename(data_dir.join(CERT_FILE), data_dir.join(format!("registry-cert-retired-{stamp}.pem"))).map_err(|e| e.to_string())?;
    fs::remove_file(data_dir.join(KEY_FILE)).map_err(|e| e.to_string())?;
    let new = SigningKey::load_or_create(data_dir)?;
    Ok((old.kid, new.kid))
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kid_of_the_worked_example_matches_registry_auth_md() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExL3/rckXbvPBrqckbtZlXGNVe6Sy\nv3VfGArX4I/ptCY5zXqzcbqbddOTuJlHTTR+PdRXWkyNb8XIiVMN45JVaw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(libtrust_kid(&pem_body(pem).unwrap()), "3ANS:LFB3:HOO5:UGTL:QKWQ:ZH2N:M5QR:N3YS:5VBJ:GS4A:HFOG:523L");
    }

    #[test]
    fn rotation_keeps_the_old_certificate_in_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(bundle(dir.path()).unwrap().matches("BEGIN CERTIFICATE").count(), 1);
        let (old, new) = rotate(dir.path(), 1).unwrap();
        assert_eq!(old, first.kid);
        assert_ne!(old, new);
        let b = bundle(dir.path()).unwrap();
        assert_eq!(b.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(b.starts_with(&SigningKey::load_or_create(dir.path()).unwrap().cert_pem));
        assert!(b.contains(&first.cert_pem));
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

    #[test]
    fn the_key_is_created_once_private_and_signs_verifiably() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = SigningKey::load_or_create(dir.path()).unwrap();
        let k2 = SigningKey::load_or_create(dir.path()).unwrap();
        assert_eq!(k1.kid, k2.kid);
        assert_eq!(k1.kid.len(), 59);
        assert_eq!(fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(k1.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let sig = k1.sign(b"message");
        assert_eq!(sig.len(), 64);
        let spki = rcgen::KeyPair::from_pem(&fs::read_to_string(dir.path().join(KEY_FILE)).unwrap()).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, spki.public_key_raw().to_vec());
        assert!(public.verify(b"message", &sig).is_ok());
    }
}
