//! End to end against the real programs: Debian's `docker-registry` (distribution 2.8)
//! trusting Berth's token server, the docker CLI (`docker login`, client-side, no engine)
//! and `skopeo` (push, pull, inspect, delete). A missing program is a failure naming its
//! Debian package, never a skip. Every command runs with a timeout and with its own
//! config, auth and cache files in a temp folder, so the user's own files are never touched.

#[path = "web/helpers.rs"]
mod helpers;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth::accounts::Plan;
use berth::tokens::{self, NewToken, Scope};
use diesel::prelude::*;
use helpers::*;
use sha2::{Digest, Sha256};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The programs

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Fails (never skips) when one of the three programs is missing.
fn require_programs() {
    let mut missing = Vec::new();
    for (program, package) in [("docker-registry", "docker-registry"), ("skopeo", "skopeo"), ("docker", "docker.io")] {
        if find_program(program).is_none() {
            missing.push(format!("`{program}` not found: install the Debian package `{package}` (apt-get install {package})"));
        }
    }
    assert!(missing.is_empty(), "the registry end-to-end tests need real programs:\n  {}", missing.join("\n  "));
}

struct Out {
    cmdline: String,
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Out {
    fn describe(&self) -> String {
        format!("$ {}\n-> {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.cmdline, self.status, self.stdout, self.stderr)
    }
    fn assert_ok(&self, what: &str) -> &Self {
        assert!(self.success, "{what}: expected success\n{}", self.describe());
        self
    }
    fn assert_failed(&self, what: &str) -> &Self {
        assert!(!self.success, "{what}: expected failure\n{}", self.describe());
        self
    }
}

fn run_blocking(program: String, args: Vec<String>, envs: Vec<(String, String)>, stdin: Option<String>) -> Out {
    let cmdline = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(find_program(&program).unwrap_or_else(|| PathBuf::from(&program)));
    cmd.args(&args).envs(envs).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{cmdline}`: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let _ = pipe.write_all(input.as_bytes());
    }
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill(); // this child's pid only
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    match status {
        Some(s) => Out { cmdline, success: s.success(), status: s.to_string(), stdout, stderr },
        None => Out { cmdline, success: false, status: format!("TIMED OUT after {COMMAND_TIMEOUT:?} (killed)"), stdout, stderr },
    }
}

/// Runs a program off the test's thread (the Berth server shares its runtime).
async fn run(program: &str, args: &[String], envs: &[(String, String)], stdin: Option<&str>) -> Out {
    let (program, args, envs, stdin) = (program.to_string(), args.to_vec(), envs.to_vec(), stdin.map(str::to_string));
    actix_web::rt::task::spawn_blocking(move || run_blocking(program, args, envs, stdin)).await.unwrap()
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// The registry

struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    async fn start(app: &TestApp) -> Registry {
        let bundle = app.settings.data_dir.join(berth::registry::keys::CERT_FILE);
        assert!(bundle.is_file(), "Berth did not write {}", bundle.display());
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "version: 0.1\n\
             log: {{level: warn}}\n\
             storage:\n  filesystem: {{rootdirectory: {storage}}}\n  delete: {{enabled: true}}\n\
             http: {{addr: 127.0.0.1:{port}}}\n\
             auth:\n  token:\n    realm: {url}/token\n    service: registry.local\n    issuer: berth\n    rootcertbundle: {bundle}\n",
            storage = dir.path().join("storage").display(),
            url = app.url,
            bundle = bundle.display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let program = find_program("docker-registry").expect("docker-registry (Debian package docker-registry)");
        let child = Command::new(program)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let mut registry = Registry { child, port, dir };
        registry.wait_ready(&config).await;
        registry
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Until `GET /v2/` answers 401 (the registry asks for a token).
    async fn wait_ready(&mut self, config: &str) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}) before answering\nconfig:\n{config}\nlog:\n{}", self.log());
            }
            if let Ok(res) = client.get(format!("http://{}/v2/", self.host())).send().await {
                assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED, "GET /v2/ should ask for a token\nlog:\n{}", self.log());
                let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                assert!(challenge.contains("/token"), "challenge {challenge}");
                return;
            }
            assert!(Instant::now() < deadline, "docker-registry did not answer within 30 s\nlog:\n{}", self.log());
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn image(&self, reference: &str) -> String {
        format!("docker://{}/{reference}", self.host())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // SIGKILL to this child's own pid, nothing else
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Client sandbox: docker config, skopeo auth file, policy and caches in a temp folder

struct Clients {
    dir: tempfile::TempDir,
}

impl Clients {
    fn new() -> Clients {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["docker", "xdg-data", "xdg-config", "xdg-cache", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("policy.json"), r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
        std::fs::write(dir.path().join("auth.json"), "{}").unwrap();
        Clients { dir }
    }

    fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    fn env(&self, docker_config: &str) -> Vec<(String, String)> {
        vec![
            ("DOCKER_CONFIG".into(), docker_config.to_string()),
            ("REGISTRY_AUTH_FILE".into(), self.path("auth.json")),
            ("XDG_DATA_HOME".into(), self.path("xdg-data")),
            ("XDG_CONFIG_HOME".into(), self.path("xdg-config")),
            ("XDG_CACHE_HOME".into(), self.path("xdg-cache")),
            ("TMPDIR".into(), self.path("tmp")),
        ]
    }

    /// `docker login` with a fresh config folder each time (nothing carries over).
    async fn docker_login(&self, registry: &Registry, user: &str, secret: &str) -> Out {
        let config = tempfile::Builder::new().prefix("docker-config").tempdir_in(self.dir.path()).unwrap().keep();
        let args = strings(&["login", "-u", user, "--password-stdin", &registry.host()]);
        run("docker", &args, &self.env(&config.display().to_string()), Some(&format!("{secret}\n"))).await
    }

    async fn skopeo(&self, subcommand: &str, args: &[String]) -> Out {
        let mut all = strings(&["--policy", &self.path("policy.json"), subcommand]);
        all.extend_from_slice(args);
        run("skopeo", &all, &self.env(&self.path("docker")), None).await
    }

    async fn push(&self, layout: &Path, registry: &Registry, reference: &str, creds: &str) -> Out {
        let args = vec![
            "--authfile".into(),
            self.path("auth.json"),
            "--dest-creds".into(),
            creds.into(),
            "--dest-tls-verify=false".into(),
            format!("oci:{}:v1", layout.display()),
            registry.image(reference),
        ];
        self.skopeo("copy", &args).await
    }

    /// `creds` None = anonymous (`--no-creds`).
    async fn inspect(&self, registry: &Registry, reference: &str, creds: Option<&str>) -> Out {
        let mut args = vec!["--authfile".into(), self.path("auth.json"), "--tls-verify=false".into()];
        match creds {
            Some(c) => args.extend(["--creds".into(), c.into()]),
            None => args.push("--no-creds".into()),
        }
        args.push(registry.image(reference));
        self.skopeo("inspect", &args).await
    }

    async fn pull(&self, registry: &Registry, reference: &str, creds: &str, out: &Path) -> Out {
        let args = vec![
            "--authfile".into(),
            self.path("auth.json"),
            "--src-creds".into(),
            creds.into(),
            "--src-tls-verify=false".into(),
            registry.image(reference),
            format!("oci:{}:x", out.display()),
        ];
        self.skopeo("copy", &args).await
    }

    async fn delete(&self, registry: &Registry, reference: &str, creds: &str) -> Out {
        let args = vec!["--authfile".into(), self.path("auth.json"), "--creds".into(), creds.into(), "--tls-verify=false".into(), registry.image(reference)];
        self.skopeo("delete", &args).await
    }
}

// ---------------------------------------------------------------------------------------
// A tiny OCI image layout, built by hand

/// A ustar archive holding one regular file.
fn one_file_tar(name: &str, content: &[u8]) -> Vec<u8> {
    fn octal(field: &mut [u8], value: u64) {
        let digits = field.len() - 1;
        let s = format!("{value:0digits$o}");
        field[..digits].copy_from_slice(s.as_bytes());
        field[digits] = 0;
    }
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], content.len() as u64); // size
    octal(&mut h[136..148], 1_700_000_000); // mtime
    h[148..156].copy_from_slice(b"        "); // checksum counted as spaces
    h[156] = b'0'; // regular file
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..269].copy_from_slice(b"root");
    h[297..301].copy_from_slice(b"root");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn write_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    (digest, bytes.len())
}

/// An OCI image layout with one layer holding `hello.txt`, tagged `v1`.
fn build_image(layout: &Path, message: &str) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let tar = one_file_tar("hello.txt", message.as_bytes());
    let diff_id = sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let (layer_digest, layer_size) = write_blob(layout, &gz.finish().unwrap());
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let (config_digest, config_size) = write_blob(layout, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = write_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------------------
// Berth side

/// A PAT of `user` (moved to the Team plan so any scope and any number are allowed).
fn pat(app: &TestApp, user: &str, scope: Scope, description: &str) -> String {
    let uid = app.user(user).id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
    let new = NewToken { description: description.into(), scope, expires_at: None };
    let (_, plain) = tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).map_err(|_| ()).unwrap();
    plain.expose().to_string()
}

fn token_named(app: &TestApp, user: &str, description: &str) -> tokens::AccessToken {
    let uid = app.user(user).id;
    tokens::page(&mut app.conn(), uid, 1, 100).unwrap().into_iter().find(|t| t.description == description).expect("token exists")
}

/// `Some(is_public)` once Berth recorded the repository.
fn recorded_public(app: &TestApp, name: &str) -> Option<bool> {
    use berth::db::schema::repositories;
    repositories::table.filter(repositories::name.eq(name)).select(repositories::is_public).first(&mut app.conn()).optional().unwrap()
}

// ---------------------------------------------------------------------------------------
// The tests

#[actix_web::test]
async fn docker_login_accepts_pats_refuses_wrong_passwords_2fa_passwords_and_deactivated_tokens() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Admin, "ci");

    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let out = clients.docker_login(&registry, "alice", "not the password").await;
    out.assert_failed("docker login with a wrong password");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());

    app.with_2fa("carol").await;
    let out = clients.docker_login(&registry, "carol", PASSWORD).await;
    out.assert_failed("docker login with the password of a 2FA user");
    assert!(out.stderr.contains("please use personal access token to login"), "{}", out.describe());
    let carol_token = pat(&app, "carol", Scope::Admin, "laptop");
    let out = clients.docker_login(&registry, "carol", &carol_token).await;
    out.assert_ok("docker login of a 2FA user with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let uid = app.user("alice").id;
    let uuid = token_named(&app, "alice", "ci").uuid;
    tokens::update(&mut app.conn(), uid, &uuid, None, Some(false), &Default::default(), app.state.now()).map_err(|_| ()).unwrap();
    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_failed("docker login with a deactivated PAT");
    assert!(out.stderr.contains("incorrect username or password"), "{}", out.describe());
}

#[actix_web::test]
async fn a_pushed_repository_is_private_until_made_public_and_others_never_push_to_it() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    app.signed_up("bobby").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    let bob = format!("bobby:{}", pat(&app, "bobby", Scope::Admin, "ci"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "hello from alice\n");

    clients.push(&layout, &registry, "alice/app:1", &alice).await.assert_ok("alice pushes alice/app:1");
    let out = clients.inspect(&registry, "alice/app:1", Some(&alice)).await;
    out.assert_ok("alice inspects her image");
    let inspected: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    assert_eq!(inspected["Os"], "linux", "{}", out.stdout);

    assert_eq!(recorded_public(&app, "alice/app"), Some(false), "the first push records the repository, private");
    clients.inspect(&registry, "alice/app:1", None).await.assert_failed("anonymous inspect of a private repository");
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_failed("bob inspects alice's private repository");

    let owner = app.user("alice").id;
    assert!(berth::registry::repos::set_public(&mut app.conn(), owner, "alice/app", true).unwrap());
    assert_eq!(recorded_public(&app, "alice/app"), Some(true));
    clients.inspect(&registry, "alice/app:1", None).await.assert_ok("anonymous inspect of a public repository");
    clients.inspect(&registry, "alice/app:1", Some(&bob)).await.assert_ok("bob inspects alice's public repository");
    let out = clients.push(&layout, &registry, "alice/app:2", &bob).await;
    out.assert_failed("bob pushes to alice's public repository");
    assert!(out.stderr.contains("denied") || out.stderr.contains("unauthorized"), "{}", out.describe());
    clients.inspect(&registry, "alice/app:2", Some(&alice)).await.assert_failed("no tag 2 was written");
}

#[actix_web::test]
async fn token_scopes_limit_pull_push_and_delete_at_the_registry() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let admin = format!("alice:{}", pat(&app, "alice", Scope::Admin, "admin"));
    let write = format!("alice:{}", pat(&app, "alice", Scope::Write, "write"));
    let read = format!("alice:{}", pat(&app, "alice", Scope::Read, "read"));
    let layout = clients.dir.path().join("image");
    build_image(&layout, "scopes\n");

    // Write: push yes, delete no
    clients.push(&layout, &registry, "alice/app:1", &write).await.assert_ok("a Write PAT pushes");
    clients.inspect(&registry, "alice/app:1", Some(&write)).await.assert_ok("a Write PAT pulls");
    clients.delete(&registry, "alice/app:1", &write).await.assert_failed("a Write PAT deletes");
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_ok("the image survived the refused delete");

    // Read: pull yes, push no
    clients.inspect(&registry, "alice/app:1", Some(&read)).await.assert_ok("a Read-only PAT inspects");
    let pulled = clients.dir.path().join("pulled");
    clients.pull(&registry, "alice/app:1", &read, &pulled).await.assert_ok("a Read-only PAT pulls");
    assert!(pulled.join("index.json").is_file());
    clients.push(&layout, &registry, "alice/other:1", &read).await.assert_failed("a Read-only PAT pushes");
    assert_eq!(recorded_public(&app, "alice/other"), None, "a refused push records nothing");
    clients.inspect(&registry, "alice/other:1", Some(&admin)).await.assert_failed("nothing was pushed to alice/other");

    // Admin: delete yes
    clients.delete(&registry, "alice/app:1", &admin).await.assert_ok("an Admin PAT deletes");
    clients.inspect(&registry, "alice/app:1", Some(&admin)).await.assert_failed("the deleted image is gone");
}

#[actix_web::test]
async fn docker_login_with_a_pat_records_its_last_use() {
    require_programs();
    let app = spawn_app().await;
    let registry = Registry::start(&app).await;
    let clients = Clients::new();
    app.signed_up("alice").await;
    let token = pat(&app, "alice", Scope::Admin, "ci");
    let before = token_named(&app, "alice", "ci");
    assert!(before.last_used_at.is_none() && before.last_used_ip.is_none());

    let out = clients.docker_login(&registry, "alice", &token).await;
    out.assert_ok("docker login with a PAT");
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.describe());

    let after = token_named(&app, "alice", "ci");
    let used = after.last_used_at.expect("last_used_at is set");
    assert!((used - app.state.now()).abs() <= 5, "last_used_at {used} vs now {}", app.state.now());
    assert_eq!(after.last_used_ip.as_deref(), Some("127.0.0.1"));
    let ua = after.last_used_ua.unwrap_or_default();
    assert!(ua.to_lowercase().contains("docker"), "last_used_ua {ua:?}");
}
