//! The operator commands, run as the real binary against a temp data folder.

use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Cli {
    dir: tempfile::TempDir,
    /// The suite's backend: `berth.db` in the data folder, or a new PostgreSQL database.
    database: String,
}

impl Cli {
    fn new() -> Cli {
        let dir = berth_test_support::audit::tempdir();
        let database = berth_test_support::database::fresh(&dir.path().join("data"));
        Cli { dir, database }
    }

    /// A data folder whose database is SQLite's default file, whatever the suite's backend:
    /// for what is SQLite's by nature (the file, its modes, its backup).
    fn sqlite() -> Cli {
        let dir = berth_test_support::audit::tempdir();
        let database = dir.path().join("data").join("berth.db").display().to_string();
        Cli { dir, database }
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = berth_command()
            .args(args)
            .env("BERTH_DATA", self.data())
            .env("BERTH_DATABASE_URL", &self.database)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            // what an operator types is a secret (passwords)
            berth_test_support::audit::secret(input.trim_end_matches(['\r', '\n']));
            // a command that fails before reading its input (an unknown user) closes the pipe
            if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).lines().for_each(berth_test_support::audit::log_line);
        out
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>, message: &str) {
        let out = self.run(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(err.contains(message), "{args:?}: expected {message:?} in {err:?}");
        assert!(!err.contains("panicked"), "{err}");
    }

    fn conn(&self) -> berth::db::DbConn {
        berth::db::open(&self.database).unwrap().get().unwrap()
    }

    fn user(&self, name: &str) -> berth::accounts::User {
        berth::accounts::find_by_username(&mut self.conn(), name).unwrap().unwrap()
    }

    /// The user's own namespace: its plan and token counter.
    fn owner(&self, name: &str) -> berth::owners::Owner {
        berth::owners::find_by_name(&mut self.conn(), name).unwrap().unwrap()
    }
}

fn berth_command() -> Command {
    berth_test_support::berth_command(env!("CARGO_BIN_EXE_berth"))
}

fn mode(path: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!("{:o}", std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777)
}

const PW: &str = "an operator chosen passphrase\n";

#[test]
fn help_documents_every_setting() {
    let cli = Cli::new();
    let help = cli.ok(&["--help"], None);
    for var in [
        "BERTH_BIND",
        "BERTH_DATA",
        "BERTH_DATABASE_URL",
        "BERTH_MASTER_KEY_FILE",
        "BERTH_PUBLIC_URL",
        "BERTH_REGISTRY_SERVICE",
        "BERTH_REGISTRY_HOST",
        "BERTH_TRUSTED_PROXIES",
        "BERTH_ISSUER",
        "BERTH_SIGNUP",
        "BERTH_SECURE_COOKIES",
        "BERTH_BODY_TIMEOUT_SECONDS",
        "BERTH_MAX_CONNECTIONS",
        "BERTH_MAX_CONNECTIONS_PER_IP",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
    let help = cli.ok(&["user", "--help"], None);
    for cmd in ["add", "list", "plan", "operator", "set-password", "reset-2fa", "disable", "enable", "revoke-tokens"] {
        assert!(help.contains(cmd), "{cmd} missing from user --help");
    }
}

#[test]
fn user_add_creates_a_user_with_plan_and_operator_flag_in_a_private_data_folder() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    let out = cli.ok(&["user", "add", "Alice", "--email", "alice@example.com", "--plan", "pro", "--operator", "--password-stdin"], Some(PW));
    assert!(out.contains("created user alice"));
    let u = cli.user("alice");
    assert_eq!(cli.owner("alice").plan, "pro");
    assert!(u.is_operator);
    assert!(berth::accounts::password::verify(&secrecy::SecretString::from("an operator chosen passphrase".to_string()), &u.password_hash));
    assert_eq!(std::fs::metadata(cli.data()).unwrap().permissions().mode() & 0o777, 0o700);
    let list = cli.ok(&["user", "list"], None);
    assert!(list.contains("alice") && list.contains("alice@example.com") && list.contains("pro"));
}

#[test]
fn user_add_refuses_bad_input_with_a_clear_message() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    cli.fails(&["user", "add", "ALICE", "--email", "x@example.com", "--password-stdin"], Some(PW), "is taken");
    cli.fails(&["user", "add", "bobby", "--email", "Alice@Example.com", "--password-stdin"], Some(PW), "exists already");
    cli.fails(&["user", "add", "bobby", "--email", "b@example.com", "--password-stdin"], Some("password123\n"), "too common");
    cli.fails(&["user", "add", "bobby", "--email", "b@example.com", "--password-stdin"], Some("short\n"), "at least 8");
    cli.fails(&["user", "add", "bobby", "--email", "b@example.com", "--plan", "gold", "--password-stdin"], Some(PW), "unknown plan");
    cli.fails(&["user", "add", "1bob", "--email", "b@example.com", "--password-stdin"], Some(PW), "Start with a letter");
    cli.fails(&["user", "add", "bobby", "--email", "not-an-email", "--password-stdin"], Some(PW), "valid email");
    // no terminal and no --password-stdin: a clear refusal instead of a hang
    cli.fails(&["user", "add", "bobby", "--email", "b@example.com"], None, "--password-stdin");
    assert_eq!(berth::accounts::list(&mut cli.conn()).unwrap().len(), 1, "nothing else written");
}

#[test]
fn plan_operator_disable_enable_and_unknown_users() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    cli.ok(&["user", "plan", "alice", "team"], None);
    assert_eq!(cli.owner("alice").plan, "team");
    cli.fails(&["user", "plan", "alice", "gold"], None, "unknown plan");
    cli.ok(&["user", "operator", "alice", "on"], None);
    assert!(cli.user("alice").is_operator);
    cli.ok(&["user", "operator", "alice", "off"], None);
    assert!(!cli.user("alice").is_operator);
    cli.ok(&["user", "disable", "alice"], None);
    assert!(cli.user("alice").is_disabled);
    cli.ok(&["user", "enable", "alice"], None);
    assert!(!cli.user("alice").is_disabled);
    for cmd in [
        &["user", "plan", "nobody", "pro"][..],
        &["user", "disable", "nobody"],
        &["user", "reset-2fa", "nobody"],
        &["user", "revoke-tokens", "nobody"],
        &["user", "operator", "nobody", "on"],
    ] {
        cli.fails(cmd, None, "no user named \"nobody\"");
    }
    cli.fails(&["user", "set-password", "nobody", "--password-stdin"], Some(PW), "no user named");
    // operator actions are in the user's activity log
    let (events, _) = berth::activity::list(&mut cli.conn(), cli.user("alice").id, 1, 50).unwrap();
    assert!(events.iter().filter(|e| e.kind == "operator_action").count() >= 6);
}

#[test]
fn a_downgrade_below_the_tokens_held_warns_and_the_tokens_keep_working() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    cli.ok(&["user", "plan", "alice", "team"], None);
    let uid = cli.user("alice").id;
    let mut plains = Vec::new();
    for i in 0..3 {
        let new = berth::tokens::NewToken { description: format!("t{i}"), scope: berth::tokens::Scope::Read, expires_at: None };
        let (_, plain) = berth::tokens::create(&mut cli.conn(), uid, new, &Default::default(), 1_800_000_000).unwrap();
        berth_test_support::audit::secret(plain.expose());
        plains.push(plain.expose().to_string());
    }
    let out = cli.run(&["user", "plan", "alice", "personal"], None);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("alice holds 3 access tokens, more than the personal plan's 1") && err.contains("keep working"), "{err}");
    for plain in &plains {
        assert!(berth::tokens::authenticate(&mut cli.conn(), 1_800_000_100, "alice", plain, "127.0.0.1", "t").unwrap().is_some(), "a token held before the downgrade works");
    }
    let held = berth::tokens::limit_reason(berth::accounts::Plan::Personal, cli.owner("alice").token_count).unwrap();
    assert!(held.contains("allows 1 access token; you hold 3"), "{held}");
    // an upgrade says nothing
    let out = cli.run(&["user", "plan", "alice", "pro"], None);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn set_password_ends_sessions_and_reset_2fa_turns_it_off() {
    let cli = Cli::new();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    let keys = berth::keys::Keys::load_or_create(&cli.data().join("master.key")).unwrap();
    let u = cli.user("alice");
    // 2FA on, as the enrolment pages turn it on
    let now = 1_800_000_000;
    berth::twofactor::begin_enrolment(&mut cli.conn(), &keys, &u, berth::twofactor::DEFAULT_LABEL, now).unwrap();
    let pending = cli.user("alice");
    let secret = berth::twofactor::pending_enrolment(&mut cli.conn(), &keys, &pending).unwrap().expect("enrolment begun").secret_base32;
    let codes = berth::twofactor::confirm_enrolment(&mut cli.conn(), &keys, &pending, &berth::twofactor::code_at(&secret, now), now)
        .unwrap()
        .expect("2FA on")
        .recovery_codes
        .expect("the first factor brings recovery codes");
    berth_test_support::audit::secret(&secret);
    codes.iter().for_each(|c| berth_test_support::audit::secret(c));
    assert!(cli.user("alice").has_second_factor());
    // a signed-in session, saved as the session middleware saves one
    let clock = berth::clock::ManualClock::new(now);
    let settings = berth::config::Settings::with_data_dir(cli.data());
    let (idle, absolute) = (settings.session_idle_seconds, settings.session_absolute_seconds);
    let store = berth::sessions::store::DatabaseSessionStore::new(berth::db::open(&cli.database).unwrap(), clock, idle, absolute);
    let state = std::collections::HashMap::from([(berth::sessions::store::KEY_USER.to_string(), u.id.to_string())]);
    let key = actix_web::rt::System::new().block_on(actix_session::storage::SessionStore::save(&store, state, &actix_web::cookie::time::Duration::hours(1))).unwrap();
    berth_test_support::audit::secret(key.as_ref());
    let sessions = |cli: &Cli| berth::sessions::list_for_user(&mut cli.conn(), u.id, now, idle, absolute).unwrap().len();
    assert_eq!(sessions(&cli), 1);
    cli.fails(&["user", "set-password", "alice", "--password-stdin"], Some("password\n"), "too common");
    let out = cli.ok(&["user", "set-password", "alice", "--password-stdin"], Some("a fresh operator passphrase\n"));
    assert!(out.contains("1 session(s) ended"));
    let after = cli.user("alice");
    assert!(berth::accounts::password::verify(&secrecy::SecretString::from("a fresh operator passphrase".to_string()), &after.password_hash));
    assert_ne!(after.security_stamp, u.security_stamp);
    assert_eq!(sessions(&cli), 0);
    cli.ok(&["user", "reset-2fa", "alice"], None);
    let after = cli.user("alice");
    assert!(!after.has_second_factor() && !berth::twofactor::any(&mut cli.conn(), after.id).unwrap());
    let out = cli.ok(&["user", "revoke-tokens", "alice"], None);
    assert!(out.contains("0 access token(s)"));
    let new = |d: &str| berth::tokens::NewToken { description: d.into(), scope: berth::tokens::Scope::Admin, expires_at: None };
    berth::accounts::set_plan(&mut cli.conn(), u.id, berth::accounts::Plan::Team).unwrap();
    let (_, plain) = berth::tokens::create(&mut cli.conn(), u.id, new("ci"), &Default::default(), 0).unwrap();
    berth::tokens::create(&mut cli.conn(), u.id, new("laptop"), &Default::default(), 0).unwrap();
    let out = cli.ok(&["user", "revoke-tokens", "alice"], None);
    assert!(out.contains("2 access token(s) of alice revoked"), "{out}");
    assert!(berth::tokens::authenticate(&mut cli.conn(), 1, "alice", plain.expose(), "", "").unwrap().is_none());
    assert_eq!(berth::tokens::page(&mut cli.conn(), u.id, 1, 10).unwrap().len(), 0);
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let cli = Cli::new();
    cli.fails(&["--public-url", "ftp://x", "user", "list"], None, "BERTH_PUBLIC_URL");
    cli.fails(&["--trusted-proxies", "not-an-ip", "user", "list"], None, "BERTH_TRUSTED_PROXIES");
    let out = cli.run(&["--signup", "maybe"], None);
    assert!(!out.status.success());
    cli.fails(&["--body-timeout-seconds", "0", "user", "list"], None, "BERTH_BODY_TIMEOUT_SECONDS");
    cli.fails(&["--max-connections-per-ip", "0", "user", "list"], None, "BERTH_MAX_CONNECTIONS_PER_IP");
}

/// (soft, hard) "Max open files" of a process, from /proc.
fn open_file_limits_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("a Max open files line");
    let mut figures = line.trim_start_matches("Max open files").split_whitespace();
    (figures.next().unwrap().to_string(), figures.next().unwrap().to_string())
}

#[test]
fn serve_raises_its_soft_open_file_limit_to_the_hard_limit_and_logs_it() {
    let cli = Cli::new();
    let (_, hard) = open_file_limits_of(std::process::id());
    // a shell's usual soft limit, far below the hard one; `exec` keeps the pid
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -Sn 256 && exec \"$0\" serve", env!("CARGO_BIN_EXE_berth")])
        .env("BERTH_DATA", cli.data())
        .env("BERTH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("BERTH_DATABASE_URL", &cli.database)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            berth_test_support::audit::log_line(&line);
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("Berth is listening")) {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {log:#?}");
            }
        }
    }
    let (soft, hard_now) = open_file_limits_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(hard_now, hard);
    assert_eq!(soft, hard, "the soft open-file limit was left at {soft}");
    assert!(log.iter().any(|l| l.contains("open-file limit") && l.contains(&format!("open_files={hard}"))), "no log line gives the limit: {log:#?}");
}

/// The key ids of the certificates in a bundle, in order.
fn bundle_kids(path: &std::path::Path) -> Vec<String> {
    let pem = std::fs::read_to_string(path).unwrap();
    pem.split_inclusive("-----END CERTIFICATE-----\n").map(|c| berth::registry::keys::certificate_kid(c).expect("a certificate")).collect()
}

/// The key id a line `PREFIX KID…` of `out` names.
fn kid_after(out: &str, prefix: &str) -> String {
    let rest = out.split(prefix).nth(1).unwrap_or_else(|| panic!("no {prefix:?} in {out}"));
    rest.split(|c: char| c.is_whitespace() || c == ';').next().unwrap().to_string()
}

#[test]
fn registry_config_prints_the_auth_block_and_writes_the_bundle_and_a_rotation_publishes_before_it_signs() {
    let cli = Cli::new();
    // set up as the README does: the first user makes the data folder and database
    cli.ok(&["user", "add", "admin", "--email", "admin@example.com", "--operator", "--password-stdin"], Some(PW));
    let out = cli.ok(&["--public-url", "https://berth.example.com", "--registry-service", "registry.example.com", "registry-config"], None);
    let bundle = cli.data().join("registry-bundle.pem");
    assert!(out.lines().any(|l| l.starts_with("# Replace the whole `auth:` block")), "{out}");
    for line in ["auth:", "  token:", "    realm: https://berth.example.com/token", "    service: registry.example.com", "    issuer: berth"] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing in {out}");
    }
    assert!(out.contains(&format!("rootcertbundle: {}", std::fs::canonicalize(&bundle).unwrap().display())));
    let first = kid_after(&out, "# Berth signs registry tokens with key ");
    assert_eq!(bundle_kids(&bundle), [first.as_str()]);
    for file in ["registry-key.pem", "registry-cert.pem"] {
        assert!(!cli.data().join(file).exists(), "the key lives in the database, not in {file}");
    }

    // step 1: the new key is published, the old one still signs
    let out = cli.ok(&["keys", "rotate"], None);
    let second = kid_after(&out, "published new key ");
    assert!(out.contains(&format!("key {first} still signs")) && out.contains("berth registry-config") && out.contains("berth keys activate"), "{out}");
    let custom = cli.dir.path().join("bundle.pem");
    let out = cli.ok(&["registry-config", "--bundle", custom.to_str().unwrap(), "--realm", "http://10.0.0.5:8080/token"], None);
    assert_eq!(kid_after(&out, "# Berth signs registry tokens with key "), first);
    assert!(out.contains(&format!("# The bundle also trusts key {second} (published")), "{out}");
    assert_eq!(bundle_kids(&custom), [first.clone(), second.clone()], "the signing key's certificate first, then the published one");

    // step 2: the new key signs; the old certificate stays for the tokens it signed
    let out = cli.ok(&["keys", "activate"], None);
    assert!(out.contains(&format!("key {second} signs registry tokens now")) && out.contains(&format!("key {first} no longer signs")), "{out}");
    cli.ok(&["registry-config", "--bundle", custom.to_str().unwrap()], None);
    assert_eq!(bundle_kids(&custom), [second.clone(), first.clone()]);
    cli.fails(&["keys", "activate"], None, "nothing to activate");

    let list = cli.ok(&["keys", "list"], None);
    let status = |kid: &str| list.lines().find(|l| l.starts_with(kid)).unwrap_or_else(|| panic!("{kid} not listed:\n{list}")).split_whitespace().nth(1).unwrap().to_string();
    assert_eq!((status(&second), status(&first)), ("signing".to_string(), "previous".to_string()), "{list}");
    assert!(list.contains("its tokens may be live until"), "{list}");
    // a key that may still verify a live token, or the signing one, stays; bad input changes nothing
    cli.fails(&["keys", "retire", &first], None, "may be live until");
    cli.fails(&["keys", "retire", &second], None, "signs registry tokens");
    cli.fails(&["keys", "retire", "NOPE:NOPE"], None, "no signing key \"NOPE:NOPE\"");
    cli.ok(&["registry-config", "--bundle", custom.to_str().unwrap()], None);
    assert_eq!(bundle_kids(&custom), [second, first], "the refusals changed nothing");
}

/// The master key may live outside the data folder (a mounted secret); a Berth whose
/// master key is not the one its database was set up with refuses to start and to touch
/// its keys, and says what to do, without showing either key.
#[test]
fn the_master_key_file_setting_is_honoured_and_a_master_key_that_is_not_the_databases_is_refused() {
    let cli = Cli::new();
    let secrets = cli.dir.path().join("secrets");
    let master = secrets.join("berth.key");
    let flag = format!("--master-key-file={}", master.display());
    cli.ok(&["user", "add", "admin", "--email", "admin@example.com", "--password-stdin"], Some(PW));
    cli.ok(&[flag.as_str(), "registry-config"], None);
    assert_eq!(mode(&master), "600");
    assert_eq!(mode(&secrets), "700");
    assert!(!cli.data().join("master.key").exists(), "no key in the data folder");
    assert_eq!(std::fs::read(&master).unwrap().len(), 64);

    // another instance without the file: nothing is created, and the message says to copy it
    let elsewhere = cli.dir.path().join("other-host").join("master.key");
    let out = cli.run(&["--master-key-file", elsewhere.to_str().unwrap(), "keys", "list"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("does not exist") && err.contains("copy the master key of the first instance"), "{err}");
    assert!(!elsewhere.exists());
    // another key: refused, by the commands and by the server
    berth::keys::Keys::load_or_create(&elsewhere).unwrap();
    let other = elsewhere.to_str().unwrap();
    for args in
        [&["--master-key-file", other, "keys", "rotate"][..], &["--master-key-file", other, "registry-config"], &["serve", "--master-key-file", other, "--bind", "127.0.0.1:0"]]
    {
        let out = berth_command().args(args).env("BERTH_DATA", cli.data()).env("BERTH_DATABASE_URL", &cli.database).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started with another master key");
        assert!(
            err.contains(&format!("BERTH_MASTER_KEY_FILE {other} is not the master key this database was set up with: copy the master key of the first instance")),
            "{args:?}: {err}"
        );
        for key in [&master, &elsewhere] {
            let bytes = std::fs::read(key).unwrap();
            assert!(!err.contains(&hex::encode(&bytes[..8])), "{err}");
        }
    }
    // a copy of the first key works anywhere
    std::fs::copy(&master, &elsewhere).unwrap();
    assert!(cli.ok(&["--master-key-file", other, "keys", "list"], None).contains("signing"));
    let list = cli.ok(&[flag.as_str(), "keys", "list"], None);
    assert_eq!(list.lines().filter(|l| l.contains("signing")).count(), 1, "one key, created once: {list}");
    cli.fails(&["--master-key-file=", "keys", "list"], None, "a value is required for '--master-key-file");
}

#[test]
fn sqlite_commands_that_read_an_existing_berth_refuse_a_folder_without_one_and_create_nothing() {
    let cli = Cli::sqlite();
    let backup = cli.dir.path().join("backup.db");
    let commands: Vec<Vec<&str>> = vec![
        vec!["registry-config"],
        vec!["registry-config", "--bundle", "/nonexistent/bundle.pem"],
        vec!["keys", "rotate"],
        vec!["keys", "activate"],
        vec!["keys", "list"],
        vec!["keys", "retire", "KID"],
        vec!["backup", backup.to_str().unwrap()],
        vec!["user", "list"],
        vec!["user", "plan", "alice", "pro"],
        vec!["user", "operator", "alice", "on"],
        vec!["user", "reset-2fa", "alice"],
        vec!["user", "disable", "alice"],
        vec!["user", "enable", "alice"],
        vec!["user", "revoke-tokens", "alice"],
    ];
    for args in &commands {
        cli.fails(args, None, "no Berth");
        assert!(!cli.data().exists(), "{args:?} created the data folder");
    }
    cli.fails(&["user", "set-password", "alice", "--password-stdin"], Some(PW), "no Berth database at");
    assert!(!cli.data().exists() && !backup.exists(), "nothing was created");
    // a data folder the server made (master secret, no database yet) is a Berth
    std::fs::create_dir(cli.data()).unwrap();
    berth::keys::Keys::load_or_create(&cli.data().join("master.key")).unwrap();
    cli.fails(&["user", "list"], None, "no Berth database at");
    let out = cli.ok(&["registry-config"], None);
    assert!(out.contains("rootcertbundle:"), "{out}");
    assert_eq!(berth::registry::keys::list(&mut cli.conn()).unwrap().len(), 1, "the first registry-config makes the signing key");
    // the first user may be added before Berth ever started, in a folder that does not exist yet
    let fresh = Cli::sqlite();
    fresh.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    assert!(fresh.ok(&["user", "list"], None).contains("alice"));
}

#[test]
fn sqlite_berth_variables_reach_every_command_that_reads_an_existing_berth() {
    let cli = Cli::sqlite();
    let database = cli.dir.path().join("elsewhere.db");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_DATA", cli.data())
            .env("BERTH_DATABASE_URL", &database)
            .env("BERTH_PUBLIC_URL", "https://berth.example.com")
            .env("BERTH_REGISTRY_SERVICE", "registry.example.com")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            berth_test_support::audit::secret(input.trim_end());
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    assert!(database.is_file() && !cli.data().join("berth.db").exists(), "BERTH_DATABASE_URL reached `user add`");
    assert!(run(&["user", "list"], None).contains("alice"));
    let out = run(&["registry-config"], None);
    assert!(out.contains("realm: https://berth.example.com/token") && out.contains("service: registry.example.com"), "{out}");
    assert!(cli.data().join("master.key").is_file(), "BERTH_DATA reached `registry-config`");
    let keys = || berth::registry::keys::list(&mut berth::db::open(database.to_str().unwrap()).unwrap().get().unwrap()).unwrap().len();
    assert_eq!(keys(), 1, "BERTH_DATABASE_URL reached `registry-config`");
    assert!(run(&["keys", "rotate"], None).contains("published new key"));
    assert_eq!(keys(), 2);
    let copy = cli.dir.path().join("copy.db");
    assert!(run(&["backup", copy.to_str().unwrap()], None).contains(&format!("backed up {}", database.display())));
}

#[test]
fn registry_config_warns_of_a_bundle_the_registry_cannot_read_and_of_an_unset_public_url() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    cli.ok(&["user", "add", "admin", "--email", "admin@example.com", "--password-stdin"], Some(PW));
    // the default bundle lies in the 0700 data folder
    let out = cli.run(&["registry-config"], None);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("cannot read") && err.contains(&std::fs::canonicalize(cli.data()).unwrap().display().to_string()), "{err}");
    assert!(err.contains("BERTH_PUBLIC_URL is unset") && String::from_utf8_lossy(&out.stdout).contains("realm: http://127.0.0.1:8080/token"), "{err}");
    // a folder anybody may enter, as /etc/docker/registry: no warning, and a 0644 bundle
    let etc = tempfile::tempdir().unwrap();
    std::fs::set_permissions(etc.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = etc.path().join("berth-bundle.pem");
    let out = cli.run(&["--public-url", "http://10.0.0.5:8080", "registry-config", "--bundle", bundle.to_str().unwrap()], None);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning");
    assert!(String::from_utf8_lossy(&out.stdout).contains("realm: http://10.0.0.5:8080/token"));
    assert_eq!(std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(std::fs::read_to_string(&bundle).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    // a bundle path that cannot be written: a clear error
    cli.fails(&["registry-config", "--bundle", "/nonexistent/bundle.pem"], None, "/nonexistent/bundle.pem");
}

#[test]
fn subcommand_help_lists_its_own_options_not_the_server_settings() {
    let cli = Cli::new();
    let help = cli.ok(&["registry-config", "--help"], None);
    assert!(help.contains("--bundle") && help.contains("--realm") && help.contains("--service"), "{help}");
    for server_flag in ["--throttle-base-seconds", "--bind", "--session-idle-minutes", "--workers"] {
        assert!(!help.contains(server_flag), "{server_flag} in registry-config --help:\n{help}");
    }
    let own: [(&[&str], &[&str]); 10] = [
        (&["user", "add"], &["--email", "--plan", "--operator", "--password-stdin"]),
        (&["user", "list"], &[]),
        (&["user", "plan"], &[]),
        (&["user", "operator"], &[]),
        (&["user", "set-password"], &["--password-stdin"]),
        (&["user", "reset-2fa"], &[]),
        (&["user", "disable"], &[]),
        (&["user", "enable"], &[]),
        (&["user", "revoke-tokens"], &[]),
        (&["backup"], &[]),
    ];
    for (command, options) in own {
        let help = cli.ok(&[command, &["--help"]].concat(), None);
        for option in options {
            assert!(help.contains(option), "{option} missing from {command:?} --help:\n{help}");
        }
        assert!(!help.contains("--throttle-base-seconds") && !help.contains("--public-url"), "{command:?} --help lists server settings:\n{help}");
    }
    // the top level still lists them all
    assert!(cli.ok(&["--help"], None).contains("--throttle-base-seconds"));
}

#[test]
fn sqlite_backup_under_write_load_is_sound_and_holds_everything_committed_before_it() {
    let cli = Cli::sqlite();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--plan", "business", "--password-stdin"], Some(PW));
    assert!(cli.ok(&["integrity"], None).ends_with(": ok\n"));
    let uid = cli.user("alice").id;
    let new = |i: usize| berth::tokens::NewToken { description: format!("t{i}"), scope: berth::tokens::Scope::Admin, expires_at: None };
    for i in 0..200 {
        berth::tokens::create(&mut cli.conn(), uid, new(i), &Default::default(), 0).unwrap();
    }
    // a writer keeps creating tokens while the backup runs
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, db) = (stop.clone(), cli.data().join("berth.db"));
        std::thread::spawn(move || {
            let pool = berth::db::open(db.to_str().unwrap()).unwrap();
            let mut n = 200;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = berth::tokens::NewToken { description: format!("t{n}"), scope: berth::tokens::Scope::Admin, expires_at: None };
                berth::tokens::create(&mut pool.get().unwrap(), uid, t, &Default::default(), 0).unwrap();
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let file = cli.dir.path().join("backup.db");
    let out = cli.ok(&["backup", file.to_str().unwrap()], None);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(out.contains("integrity_check: ok"), "{out}");
    assert!(written > 200, "the writer wrote during the run");
    // restore: the copy is a complete database with every token made before the backup began
    let restored = berth::db::open(file.to_str().unwrap()).unwrap();
    let mut c = restored.get().unwrap();
    assert_eq!(berth::db::integrity_check(&mut c).unwrap(), "ok");
    let held = berth::tokens::counts(&mut c, uid, 1).unwrap().total();
    assert!(held >= 200, "{held} tokens in the backup");
    let names: Vec<String> = berth::tokens::page(&mut c, uid, 1, 100_000).unwrap().into_iter().map(|t| t.description).collect();
    for i in 0..200 {
        assert!(names.contains(&format!("t{i}")), "t{i} is in the backup");
    }
    // an existing file is never overwritten
    cli.fails(&["backup", file.to_str().unwrap()], None, "exists already");
}

/// The database and the files SQLite keeps beside it while Berth serves, every backup and
/// the seeded tokens hold password and token hashes or plaintexts: 0600 under umask 022.
/// The registry's certificate bundle is public and stays readable (0644).
#[test]
fn sqlite_the_database_its_wal_and_shm_backups_and_seeded_tokens_are_0600_under_umask_022() {
    use std::io::BufRead;
    let cli = Cli::sqlite();
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    let db = cli.data().join("berth.db");
    assert_eq!(mode(&db), "600", "berth.db made by a command");
    let mut server = berth_command()
        .arg("serve")
        .env("BERTH_DATA", cli.data())
        .env("BERTH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env_remove("BERTH_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let listening = lines.by_ref().map_while(Result::ok).inspect(|l| berth_test_support::audit::log_line(l)).any(|l| l.contains("Berth is listening"));
    assert!(listening, "berth serve did not start");
    // the server writes at start (the session purge): its WAL and shared memory exist
    let (wal, shm) = (cli.data().join("berth.db-wal"), cli.data().join("berth.db-shm"));
    for _ in 0..100 {
        if wal.exists() && shm.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for file in [&db, &wal, &shm] {
        assert_eq!(mode(file), "600", "{} while serving", file.display());
    }
    let backup = cli.dir.path().join("backup.db");
    cli.ok(&["backup", backup.to_str().unwrap()], None);
    assert_eq!(mode(&backup), "600", "the backup");
    server.kill().unwrap();
    server.wait().unwrap();
    let tokens = cli.dir.path().join("seed.tokens");
    cli.ok(&["dev", "seed", "--users", "2", "--tokens-per-user", "1", "--tokens-out", tokens.to_str().unwrap()], None);
    std::fs::read_to_string(&tokens).unwrap().lines().for_each(|l| berth_test_support::audit::secret(l.split_once(' ').unwrap().1));
    assert_eq!(mode(&tokens), "600", "the seeded tokens");
    std::fs::remove_file(&tokens).unwrap(); // plaintexts: not for the secrets audit to find
    let bundle = cli.dir.path().join("bundle.pem");
    cli.ok(&["registry-config", "--bundle", bundle.to_str().unwrap()], None);
    assert_eq!(mode(&bundle), "644", "the public certificate bundle, for a registry running as another user");
}

/// A database URL may hold a password: `--help` names the variable but never shows its
/// value, and a PostgreSQL Berth that cannot reach its server says so with an error that
/// names the server but never the password (in any of the URL's forms).
#[test]
fn help_and_errors_never_show_the_database_urls_password() {
    let cli = Cli::new();
    let secret_url = "postgres://berth:s3cret-pg-password@db.example/berth";
    berth_test_support::audit::secret("s3cret-pg-password");
    for args in [&["--help"][..], &["serve", "--help"]] {
        let out = berth_command().args(args).env("BERTH_DATABASE_URL", secret_url).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(help.contains("[env: BERTH_DATABASE_URL]") && help.contains("postgres://"), "{args:?} names the variable and PostgreSQL: {help}");
        assert!(!help.contains("s3cret") && !help.contains("db.example"), "{args:?} shows the URL: {help}");
    }
    // port 1 of loopback: refused at once
    for url in [
        "postgres://berth:s3cret-pg-password@127.0.0.1:1/berth",
        "postgresql://berth@127.0.0.1:1/berth?password=s3cret-pg-password",
        "host=127.0.0.1 port=1 dbname=berth password=s3cret-pg-password",
    ] {
        for args in [&["user", "list"][..], &["serve", "--bind", "127.0.0.1:0"]] {
            let out = berth_command().args(args).env("BERTH_DATA", cli.data()).env("BERTH_DATABASE_URL", url).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} with {url:?} should fail");
            assert!(err.contains("127.0.0.1") && !err.contains("panicked"), "the error names the server: {err}");
            assert!(!err.contains("s3cret"), "the error repeats the password: {err}");
        }
    }
}

/// `berth backup` copies SQLite only; on PostgreSQL it says to use pg_dump, and `integrity`
/// checks the schema there.
#[test]
fn postgres_backup_points_to_pg_dump() {
    let cli = Cli { database: berth_test_support::database::fresh_postgres(), ..Cli::new() };
    cli.ok(&["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"], Some(PW));
    let file = cli.dir.path().join("backup.db");
    cli.fails(&["backup", file.to_str().unwrap()], None, "pg_dump");
    assert!(!file.exists(), "no file was made");
    assert!(cli.ok(&["integrity"], None).ends_with(": ok\n"));
    assert_eq!(berth::db::integrity_check(&mut cli.conn()).unwrap(), "ok");
}

/// `sqlite://PATH` is the same file as PATH.
#[test]
fn a_sqlite_url_names_the_file() {
    let cli = Cli::new();
    let file = cli.dir.path().join("elsewhere.db");
    let url = format!("sqlite://{}", file.display());
    let mut child = berth_command()
        .args(["user", "add", "alice", "--email", "alice@example.com", "--password-stdin"])
        .env("BERTH_DATA", cli.data())
        .env("BERTH_DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    berth_test_support::audit::secret(PW);
    child.stdin.take().unwrap().write_all(PW.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(file.is_file(), "the database is at the sqlite:// path");
    let user = berth::accounts::find_by_username(&mut berth::db::open(file.to_str().unwrap()).unwrap().get().unwrap(), "alice").unwrap();
    assert!(user.is_some(), "alice is in that file");
}

#[test]
fn org_commands_create_list_plan_members_and_delete_with_clear_refusals() {
    let cli = Cli::new();
    for name in ["alice", "bobby"] {
        cli.ok(&["user", "add", name, "--email", &format!("{name}@example.com"), "--password-stdin"], Some(PW));
    }
    let out = cli.ok(&["org", "add", "acme", "--owner", "alice"], None);
    assert!(out.contains("created organization acme (team plan), owner alice"), "{out}");
    cli.fails(&["org", "add", "acme", "--owner", "alice"], None, "is taken");
    cli.fails(&["org", "add", "bobby", "--owner", "alice"], None, "is taken"); // a username
    cli.fails(&["org", "add", "admin", "--owner", "alice"], None, "reserved");
    cli.fails(&["org", "add", "1acme", "--owner", "alice"], None, "Start with a letter");
    cli.fails(&["org", "add", "other", "--owner", "nobody"], None, "no user named \"nobody\"");
    cli.fails(&["org", "add", "other", "--owner", "alice", "--plan", "pro"], None, "team or business");
    cli.fails(&["user", "add", "acme", "--email", "acme@example.com", "--password-stdin"], Some(PW), "is taken");

    cli.ok(&["org", "plan", "acme", "business"], None);
    assert_eq!(cli.owner("acme").plan, "business");
    cli.fails(&["org", "plan", "acme", "personal"], None, "team or business");
    cli.fails(&["org", "plan", "nobody", "team"], None, "no organization named \"nobody\"");

    cli.fails(&["org", "member", "add", "acme", "bobby", "--role", "boss"], None, "unknown role");
    cli.fails(&["org", "member", "add", "acme", "bobby", "--team", "devs"], None, "No team");
    let out = cli.ok(&["org", "member", "add", "acme", "bobby", "--role", "editor"], None);
    assert!(out.contains("bobby is now a member of acme (role editor)"), "{out}");
    cli.fails(&["org", "member", "add", "acme", "bobby"], None, "member already");
    let list = cli.ok(&["org", "list"], None);
    assert!(list.lines().any(|l| l.starts_with("acme") && l.contains("business") && l.contains(" 2 ")), "{list}");

    cli.fails(&["org", "member", "remove", "acme", "alice"], None, "needs an owner");
    cli.ok(&["org", "member", "remove", "acme", "bobby"], None);
    cli.fails(&["org", "member", "remove", "acme", "bobby"], None, "not a member");
    let org = berth::orgs::find(&mut cli.conn(), "acme").unwrap().unwrap();
    assert_eq!(berth::orgs::role_of(&mut cli.conn(), org.id, cli.user("bobby").id).unwrap(), None);

    // deletion: refused while repositories exist; the name stays reserved after it
    berth::repositories::create(&mut cli.conn(), &org, "app", false, 0).unwrap();
    cli.fails(&["org", "delete", "acme"], None, "holds 1 repository");
    berth::repositories::delete(&mut cli.conn(), org.id, "acme/app").unwrap();
    cli.ok(&["org", "delete", "acme"], None);
    cli.fails(&["org", "delete", "acme"], None, "no organization named");
    assert!(cli.ok(&["names", "list"], None).contains("acme"));
    cli.fails(&["org", "add", "acme", "--owner", "alice"], None, "kept reserved");
    cli.fails(&["user", "add", "acme", "--email", "acme@example.com", "--password-stdin"], Some(PW), "is taken");
    cli.ok(&["names", "release", "acme"], None);
    cli.fails(&["names", "release", "acme"], None, "is not reserved");
    cli.ok(&["org", "add", "acme", "--owner", "alice", "--plan", "business"], None);
}
