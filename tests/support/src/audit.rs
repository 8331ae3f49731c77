//! The whole-suite secrets audit. When
//! `BERTH_SECRETS_AUDIT_DIR` is set (scripts/test.sh sets it), every test server logs at
//! debug level (Berth's own crate at trace) into `logs/`, keeps its data folder under
//! `data/`, and the tests write each secret they use (passwords, TOTP secrets, recovery
//! codes, session cookies, token plaintexts) to `secrets/`. After the suite,
//! `tests/secrets.rs::the_whole_suite_left_no_secret_in_logs_or_databases` searches them.
//! Without the variable every function here does nothing and temp folders are deleted.

use std::io::Write;
use std::path::{Path, PathBuf};

pub fn dir() -> Option<PathBuf> {
    std::env::var_os("BERTH_SECRETS_AUDIT_DIR").filter(|d| !d.is_empty()).map(PathBuf::from)
}

fn append(sub: &str, file: &str, line: &str) {
    let Some(dir) = dir() else { return };
    let folder = dir.join(sub);
    std::fs::create_dir_all(&folder).unwrap();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(folder.join(file)).unwrap();
    // one write per line: lines from parallel tests do not interleave
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn binary() -> String {
    let exe = std::env::current_exe().ok();
    let name = exe.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    format!("{name}-{}", std::process::id())
}

/// Remembers a secret a test used; it must appear in no log and no database file.
pub fn secret(s: &str) {
    if !s.is_empty() {
        append("secrets", &format!("{}.txt", binary()), s);
    }
}

/// Registers every token plaintext in `text` (a page or a JSON answer).
pub fn tokens_in(text: &str) {
    if dir().is_some() {
        for m in regex::Regex::new(r"berth_(?:pat|oat)_[0-9A-Za-z]{38}").unwrap().find_iter(text) {
            secret(m.as_str());
        }
    }
}

/// A PostgreSQL database a test server used: the audit searches a dump of it.
pub fn postgres_database(name: &str) {
    append("postgres", "databases.txt", name);
}

/// The PostgreSQL databases the suite used.
pub fn postgres_databases() -> Vec<String> {
    let Some(dir) = dir() else { return Vec::new() };
    std::fs::read_to_string(dir.join("postgres").join("databases.txt")).map(|s| s.lines().map(str::to_string).collect()).unwrap_or_default()
}

/// A log line of a Berth child process.
pub fn log_line(line: &str) {
    append("logs", &format!("{}-children.log", binary()), line);
}

/// A temp folder for a test server: kept under the audit folder when auditing.
pub fn tempdir() -> tempfile::TempDir {
    match dir() {
        Some(dir) => {
            let parent = dir.join("data");
            std::fs::create_dir_all(&parent).unwrap();
            let mut d = tempfile::Builder::new().prefix(&binary()).tempdir_in(parent).unwrap();
            d.disable_cleanup(true);
            d
        }
        None => tempfile::tempdir().unwrap(),
    }
}

/// Copies the files of a folder that will vanish (a tmpfs) into the audit folder.
pub fn keep_copy(folder: &Path) {
    let Some(_) = dir() else { return };
    let copy = tempdir();
    for entry in std::fs::read_dir(folder).unwrap().flatten() {
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
}

/// In-process servers log into `logs/`, once per test binary (a binary that installs
/// its own subscriber first keeps it).
pub fn capture_logs() {
    let Some(dir) = dir() else { return };
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let folder = dir.join("logs");
        std::fs::create_dir_all(&folder).unwrap();
        let file = std::fs::File::create(folder.join(format!("{}.log", binary()))).unwrap();
        let filter = "debug,berth=trace,cookie_store=off,reqwest=off,hyper=off,hyper_util=off,h2=off,fantoccini=off,mio=off,tokio=off";
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).with_writer(std::sync::Mutex::new(file)).with_ansi(false).try_init();
    });
}
