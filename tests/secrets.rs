//! No secret reaches a log line or the database in the clear:
//! a full sign-up / 2FA / login / password-change flow runs with every log level on, then
//! the captured logs and the database files are searched for every secret the flow used.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use berth_test_support::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let sink = Captured::default();
        let writer = sink.clone();
        tracing_subscriber::fmt()
            // everything the server logs, at every level; the test client's own crates are off
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace,cookie_store=off,reqwest=off,hyper=off,hyper_util=off"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        sink
    })
    .clone()
}

#[actix_web::test]
async fn logs_and_database_hold_no_secret_of_a_full_flow() {
    let logs = capture_logs();
    let app = spawn_app().await;
    let (b, secret, codes) = app.with_2fa("alice").await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), secret.clone()];
    secrets.extend(codes.iter().cloned());
    secrets.extend(codes.iter().map(|c| c.replace('-', "")));
    secrets.push(b.cookie().split_once('=').unwrap().1.to_string());
    // the CSRF token lives in the session state by design; it must stay out of the logs
    let csrf = b.csrf("/settings/account").await;
    // sign in again with a code, then with a recovery code, fail a few times
    let x = app.browser();
    x.login("alice", PASSWORD).await;
    let code = app.fresh_code(&secret);
    x.second_step(&code).await;
    secrets.push(x.cookie().split_once('=').unwrap().1.to_string());
    let y = app.browser();
    y.login("alice", PASSWORD).await;
    y.second_step(&codes[4]).await;
    app.browser().login("alice", "a wrong secret password").await;
    secrets.push("a wrong secret password".into());
    // a personal access token, created and used
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "ci"), ("scope", "repo:admin"), ("expiration", "none")]).await;
    let html = res.text().await.unwrap();
    let token = regex::Regex::new(r"berth_pat_[0-9A-Za-z]{38}").unwrap().find(&html).expect("the token").as_str().to_string();
    assert!(berth::tokens::authenticate(&mut app.conn(), app.state.now(), "alice", &token, "127.0.0.1", "t").unwrap().is_some());
    secrets.push(token[10..].to_string());
    let new = "the new secret passphrase";
    b.submit("/settings/account", "/settings/account/password", &[("current_password", PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    secrets.push(new.into());
    secrets.push(b.cookie().split_once('=').unwrap().1.to_string());

    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(logged.contains("request"), "the access log was captured");
    assert!(!logged.contains(&csrf));
    for s in &secrets {
        assert!(!logged.contains(s.as_str()), "a secret reached the log: {s}");
        let decoded = url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().unwrap().1.to_string();
        assert!(!logged.contains(&decoded), "a secret reached the log: {decoded}");
    }

    // the database files: main file and WAL
    drop(app.conn());
    let mut bytes = Vec::new();
    for f in ["berth.db", "berth.db-wal"] {
        if let Ok(b) = std::fs::read(app.settings.data_dir.join(f)) {
            bytes.extend(b);
        }
    }
    let raw_secret = totp_rs::Secret::try_from_base32(&secret).unwrap();
    let raw_secret: &[u8] = raw_secret.as_ref();
    assert!(!bytes.windows(raw_secret.len()).any(|w| w == raw_secret), "the raw TOTP secret is in the database");
    let haystack = String::from_utf8_lossy(&bytes);
    for s in &secrets {
        assert!(!haystack.contains(s.as_str()) || s.len() < 8, "a secret is in the database: {s}");
    }
}

/// The same search over everything the *whole* suite left behind: the logs of
/// every in-process test server and every Berth child process, and every file of every
/// test data folder (database, WAL, shared memory, keys), against every secret the tests
/// registered, plus any string shaped like a token anywhere. `scripts/test.sh` runs the
/// suite with `BERTH_SECRETS_AUDIT_DIR` set, then this test.
#[test]
#[ignore = "runs after the whole suite: scripts/test.sh calls it with --ignored"]
fn the_whole_suite_left_no_secret_in_logs_or_databases() {
    let dir = berth_test_support::audit::dir().expect("BERTH_SECRETS_AUDIT_DIR names the folder the suite wrote (scripts/test.sh sets it)");
    let mut secrets = std::collections::BTreeSet::new();
    for file in files_under(&dir.join("secrets")) {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            // Strings Berth refuses as a password (shorter than 8 characters, or one of the
            // common passwords like "password") protect nothing and occur in ordinary text
            // (the schema says `password_hash`); every real secret passes this policy.
            if berth::accounts::password::check_policy(line, "").is_ok() {
                secrets.insert(line.to_string());
                secrets.insert(url::form_urlencoded::byte_serialize(line.as_bytes()).collect::<String>());
                secrets.insert(line.replace('-', ""));
            }
        }
    }
    let logs = files_under(&dir.join("logs"));
    let dumps = dump_postgres_databases(&dir.join("postgres").join("dumps"));
    let mut data = files_under(&dir.join("data"));
    data.extend(dumps.iter().cloned());
    let log_bytes: u64 = logs.iter().map(|f| f.metadata().unwrap().len()).sum();
    eprintln!("audit: {} secrets, {} log files ({} KB), {} data files", secrets.len(), logs.len(), log_bytes / 1024, data.len());
    // the suite really ran and registered: many secrets, logs with requests in them, databases
    assert!(secrets.len() > 200, "only {} secrets registered: did the whole suite run with the audit on?", secrets.len());
    assert!(log_bytes > 100_000 && data.iter().filter(|f| f.file_name().unwrap() == "berth.db").count() > 50);
    // and ran on PostgreSQL too (scripts/test.sh runs it once per backend)
    assert!(dumps.len() > 50, "only {} PostgreSQL databases were used: did the PostgreSQL run happen?", dumps.len());

    let any_secret = regex::bytes::RegexBuilder::new(&secrets.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|"))
        .size_limit(1 << 28)
        .dfa_size_limit(1 << 28)
        .unicode(false)
        .build()
        .unwrap();
    let token_shape = regex::bytes::Regex::new(r"berth_(?:pat|oat)_[0-9A-Za-z]{38}").unwrap();
    let mut found = Vec::new();
    for file in logs.iter().chain(&data) {
        let bytes = std::fs::read(file).unwrap();
        for m in token_shape.find_iter(&bytes).chain(any_secret.find_iter(&bytes)).take(3) {
            let from = m.start().saturating_sub(80);
            let to = (m.end() + 80).min(bytes.len());
            found.push(format!("{}: {:?}\n    …{}…", file.display(), String::from_utf8_lossy(m.as_bytes()), String::from_utf8_lossy(&bytes[from..to])));
        }
    }
    assert!(found.is_empty(), "secrets left in logs or databases:\n{}", found.join("\n"));
}

/// A plain-SQL `pg_dump` of every PostgreSQL database a test server used, into `into`.
fn dump_postgres_databases(into: &std::path::Path) -> Vec<std::path::PathBuf> {
    let names = berth_test_support::audit::postgres_databases();
    if names.is_empty() {
        return Vec::new();
    }
    let server = berth_test_support::database::postgres_server();
    std::fs::create_dir_all(into).unwrap();
    let mut dumps = Vec::new();
    for name in names {
        let file = into.join(format!("{name}.sql"));
        let url = berth_test_support::database::with_database(&server, &name);
        let out = std::process::Command::new("pg_dump").args(["--no-owner", "--file"]).arg(&file).arg(&url).output().expect("pg_dump runs (Debian's postgresql-client)");
        assert!(out.status.success(), "pg_dump of {name}: {}", String::from_utf8_lossy(&out.stderr));
        dumps.push(file);
    }
    dumps
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
