//! The real registry and its clients, for the end-to-end test binaries: Debian's
//! `docker-registry` (distribution 2.8) trusting a test server's token service, a client
//! sandbox (docker config, skopeo auth file, policy and caches in a temp folder, so the
//! user's own files are never touched), every command with a timeout, and a tiny OCI image
//! layout built by hand. A missing program is a failure naming its Debian package, never a
//! skip.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth::accounts::Plan;
use berth::tokens::{self, NewToken, Scope};
use sha2::{Digest, Sha256};

use crate::*;

/// The built `berth` binary beside the running test binary (`target/<profile>/berth`;
/// test binaries live in `target/<profile>/deps`), which cargo builds for every
/// integration test of the package.
pub fn berth_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    profile.join("berth")
}

pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// The programs

pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")]).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Fails (never skips) when one of the three programs is missing.
pub fn require_programs() {
    require(&[("docker-registry", "docker-registry"), ("skopeo", "skopeo"), ("docker", "docker.io")]);
}

/// Fails (never skips) when one of the `(program, Debian package)` pairs is missing.
pub fn require(programs: &[(&str, &str)]) {
    let mut missing = Vec::new();
    for (program, package) in programs {
        if find_program(program).is_none() {
            missing.push(format!("`{program}` not found: install the Debian package `{package}` (apt-get install {package})"));
        }
    }
    assert!(missing.is_empty(), "the registry end-to-end tests need real programs:\n  {}", missing.join("\n  "));
}

pub struct Out {
    pub cmdline: String,
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn describe(&self) -> String {
        format!("$ {}\n-> {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.cmdline, self.status, self.stdout, self.stderr)
    }
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert!(self.success, "{what}: expected success\n{}", self.describe());
        self
    }
    pub fn assert_failed(&self, what: &str) -> &Self {
        assert!(!self.success, "{what}: expected failure\n{}", self.describe());
        self
    }
    /// What the program printed, line by line, as `stdout: …` / `stderr: …` (for quoting).
    pub fn printed(&self) -> Vec<String> {
        let lines = |stream: &str, text: &str| text.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("{stream}: {l}")).collect::<Vec<_>>();
        [lines("stdout", &self.stdout), lines("stderr", &self.stderr)].concat()
    }
}

pub fn run_blocking(program: String, args: Vec<String>, envs: Vec<(String, String)>, stdin: Option<String>) -> Out {
    let cmdline = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(find_program(&program).unwrap_or_else(|| PathBuf::from(&program)));
    // Berth's own settings come from the arguments and `envs` only, never from this shell
    for (key, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("BERTH_")) {
        cmd.env_remove(key);
    }
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
pub async fn run(program: &str, args: &[String], envs: &[(String, String)], stdin: Option<&str>) -> Out {
    let (program, args, envs, stdin) = (program.to_string(), args.to_vec(), envs.to_vec(), stdin.map(str::to_string));
    actix_web::rt::task::spawn_blocking(move || run_blocking(program, args, envs, stdin)).await.unwrap()
}

pub fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// The registry

pub struct Registry {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// `child` is `runuser`, whose own child is the registry: it is stopped with SIGTERM,
    /// which runuser passes on (a SIGKILL would leave the registry running).
    pub runuser: bool,
}

/// The registry's `auth:` block as Berth's own command prints it: the built binary runs
/// `berth --public-url URL registry-config` on the test server's data folder, exactly as
/// the README tells an operator to, and writes the certificate bundle. Returns the printed
/// YAML from the `auth:` line on.
pub async fn auth_block_from_berth(app: &TestApp) -> String {
    config_from_berth(app, &[]).await
}

/// Like `auth_block_from_berth`, with more of Berth's settings in the command's environment
/// (`BERTH_REGISTRY_EVENTS_SECRET` adds the `notifications:` block, which then follows).
pub async fn config_from_berth(app: &TestApp, envs: &[(&str, &str)]) -> String {
    let out = berth_on_with(app, &["--public-url", &app.url, "registry-config"], envs).await;
    out.assert_ok("berth registry-config");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let start = lines.iter().position(|l| *l == "auth:").unwrap_or_else(|| panic!("no `auth:` line\n{}", out.describe()));
    let block = lines[start..].join("\n") + "\n";
    // The bundle lands at the default `<data>/registry-bundle.pem`: these registries run as
    // the test's own user, who may read Berth's 0700 folder. The README's set-up, with
    // Debian's registry running as its own user, is the last test of this file.
    let bundle = std::fs::canonicalize(app.settings.data_dir.join("registry-bundle.pem")).expect("registry-config wrote the bundle");
    for expected in [
        "  token:".to_string(),
        format!("    realm: {}/token", app.url),
        "    service: registry.local".to_string(),
        "    issuer: berth".to_string(),
        format!("    rootcertbundle: {}", bundle.display()),
    ] {
        assert!(lines[start..].contains(&expected.as_str()), "`{expected}` missing from the printed block\n{}", out.describe());
    }
    let pem = std::fs::read_to_string(&bundle).unwrap();
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "the bundle holds a certificate:\n{pem}");
    block
}

/// The built `berth` on the test server's data folder and database, as an operator runs it
/// beside a running Berth.
pub async fn berth_on(app: &TestApp, args: &[&str]) -> Out {
    berth_on_with(app, args, &[]).await
}

/// `berth_on` with more `BERTH_*` settings in the environment.
pub async fn berth_on_with(app: &TestApp, args: &[&str], more: &[(&str, &str)]) -> Out {
    let mut envs = vec![("BERTH_DATA".to_string(), app.settings.data_dir.display().to_string()), ("BERTH_DATABASE_URL".to_string(), app.settings.database_url.clone())];
    envs.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    run(&berth_binary().display().to_string(), &strings(args), &envs, None).await
}

/// A free port on the loopback address (for a registry whose address Berth must know
/// before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Registry {
    /// A registry on `port` (the test server's `BERTH_REGISTRY_URL`) that reports its events
    /// to the test server: `berth registry-config` run with `secret` as
    /// BERTH_REGISTRY_EVENTS_SECRET prints the `notifications:` block after `auth:`, and the
    /// registry takes both. With `endpoint`, the notifications go there instead (a dead
    /// address: the registry's events are lost, as while Berth is down).
    pub async fn reporting(app: &TestApp, port: u16, secret: &str, endpoint: Option<&str>) -> Registry {
        Registry::reporting_with(app, port, secret, endpoint, true).await
    }

    /// `reporting`, with `storage: delete: enabled` as `deletes` says (a registry that
    /// refuses deletes answers them 405).
    pub async fn reporting_with(app: &TestApp, port: u16, secret: &str, endpoint: Option<&str>, deletes: bool) -> Registry {
        let blocks = config_from_berth(app, &[("BERTH_REGISTRY_EVENTS_SECRET", secret)]).await;
        let url = format!("      url: {}/registry/events", app.url);
        for expected in ["notifications:", url.as_str(), &format!("        Authorization: [\"Bearer {secret}\"]"), "        - application/octet-stream"] {
            assert!(blocks.lines().any(|l| l == expected), "`{expected}` missing from the printed blocks\n{blocks}");
        }
        let blocks = match endpoint {
            Some(elsewhere) => blocks.replace(&url, &format!("      url: {elsewhere}")),
            None => blocks,
        };
        Registry::serve_configured(port, &blocks, None, deletes).await
    }

    pub async fn start(app: &TestApp) -> Registry {
        let auth = auth_block_from_berth(app).await;
        Registry::serve(&auth, None).await
    }

    /// A registry trusting the given `auth:` block, storing images in `storage` (another
    /// registry's folder, as after a restart) or, when None, in a fresh folder of its own.
    pub async fn serve(auth: &str, storage: Option<&Path>) -> Registry {
        Registry::serve_on(free_port(), auth, storage).await
    }

    /// `serve` on a given port. `blocks` is the configuration after `http:` as Berth prints
    /// it: the `auth:` block, and the `notifications:` block when Berth takes events.
    pub async fn serve_on(port: u16, blocks: &str, storage: Option<&Path>) -> Registry {
        Registry::serve_configured(port, blocks, storage, true).await
    }

    /// `serve_on`, deleting manifests only when `deletes`.
    pub async fn serve_configured(port: u16, blocks: &str, storage: Option<&Path>, deletes: bool) -> Registry {
        let auth = blocks;
        let dir = tempfile::tempdir().unwrap();
        let storage = storage.map(Path::to_path_buf).unwrap_or_else(|| dir.path().join("storage"));
        let config = format!(
            "version: 0.1\n\
             log: {{level: warn}}\n\
             storage:\n  filesystem: {{rootdirectory: {storage}}}\n  delete: {{enabled: {deletes}}}\n\
             http: {{addr: 127.0.0.1:{port}}}\n\
             {auth}",
            storage = storage.display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let program = find_program("docker-registry").expect("docker-registry (Debian package docker-registry)");
        let child = Command::new(program).arg("serve").arg(&config_path).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("docker-registry starts");
        let mut registry = Registry { child, port, dir, runuser: false };
        registry.wait_ready(&config).await;
        registry
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Until `GET /v2/` answers 401 (the registry asks for a token).
    pub async fn wait_ready(&mut self, config: &str) {
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

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The folder its images live in (when it has its own).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Stops the process (this child's own pid) and keeps its folder, e.g. for a restart.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // exited and reaped: its pid may belong to another process by now
        }
        if self.runuser {
            terminate(&mut self.child);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn image(&self, reference: &str) -> String {
        format!("docker://{}/{reference}", self.host())
    }
}

/// SIGTERM to our own, not yet reaped `child`, then up to 10 s for it to exit; SIGKILL if
/// it has not.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return; // exited and reaped: its pid may belong to another process by now
    }
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Registry {
    fn drop(&mut self) {
        // signals go to this child's own pid, nothing else
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Client sandbox: docker config, skopeo auth file, policy and caches in a temp folder

impl Default for Clients {
    fn default() -> Clients {
        Clients::new()
    }
}

pub struct Clients {
    pub dir: tempfile::TempDir,
}

impl Clients {
    pub fn new() -> Clients {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["docker", "xdg-data", "xdg-config", "xdg-cache", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("policy.json"), r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
        std::fs::write(dir.path().join("auth.json"), "{}").unwrap();
        Clients { dir }
    }

    pub fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    pub fn env(&self, docker_config: &str) -> Vec<(String, String)> {
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
    pub async fn docker_login(&self, registry: &Registry, user: &str, secret: &str) -> Out {
        let config = tempfile::Builder::new().prefix("docker-config").tempdir_in(self.dir.path()).unwrap().keep();
        let args = strings(&["login", "-u", user, "--password-stdin", &registry.host()]);
        run("docker", &args, &self.env(&config.display().to_string()), Some(&format!("{secret}\n"))).await
    }

    pub async fn skopeo(&self, subcommand: &str, args: &[String]) -> Out {
        let mut all = strings(&["--policy", &self.path("policy.json"), subcommand]);
        all.extend_from_slice(args);
        run("skopeo", &all, &self.env(&self.path("docker")), None).await
    }

    pub async fn push(&self, layout: &Path, registry: &Registry, reference: &str, creds: &str) -> Out {
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

    /// `push` with more of skopeo's options (`--all` copies every platform of an index).
    pub async fn push_with(&self, layout: &Path, registry: &Registry, reference: &str, creds: &str, extra: &[&str]) -> Out {
        let mut args = vec!["--authfile".into(), self.path("auth.json"), "--dest-creds".into(), creds.into(), "--dest-tls-verify=false".into()];
        args.extend(strings(extra));
        args.extend([format!("oci:{}:v1", layout.display()), registry.image(reference)]);
        self.skopeo("copy", &args).await
    }

    /// Like `push`, and skopeo writes the digest of the pushed manifest to `digestfile`.
    pub async fn push_with_digestfile(&self, layout: &Path, registry: &Registry, reference: &str, creds: &str, digestfile: &Path) -> Out {
        let args = vec![
            "--authfile".into(),
            self.path("auth.json"),
            "--dest-creds".into(),
            creds.into(),
            "--dest-tls-verify=false".into(),
            "--digestfile".into(),
            digestfile.display().to_string(),
            format!("oci:{}:v1", layout.display()),
            registry.image(reference),
        ];
        self.skopeo("copy", &args).await
    }

    /// `creds` None = anonymous (`--no-creds`).
    pub async fn inspect(&self, registry: &Registry, reference: &str, creds: Option<&str>) -> Out {
        self.inspect_with(registry, reference, creds, &[]).await
    }

    /// The manifest digest the registry serves (`skopeo inspect --format '{{.Digest}}'`).
    pub async fn inspect_digest(&self, registry: &Registry, reference: &str, creds: Option<&str>) -> Out {
        self.inspect_with(registry, reference, creds, &strings(&["--format", "{{.Digest}}"])).await
    }

    pub async fn inspect_with(&self, registry: &Registry, reference: &str, creds: Option<&str>, extra: &[String]) -> Out {
        let mut args = vec!["--authfile".into(), self.path("auth.json"), "--tls-verify=false".into()];
        match creds {
            Some(c) => args.extend(["--creds".into(), c.into()]),
            None => args.push("--no-creds".into()),
        }
        args.extend_from_slice(extra);
        args.push(registry.image(reference));
        self.skopeo("inspect", &args).await
    }

    /// A real pull (`skopeo copy` into an OCI layout at `out`); `creds` None = anonymous.
    pub async fn pull(&self, registry: &Registry, reference: &str, creds: Option<&str>, out: &Path) -> Out {
        let mut args = vec!["--authfile".into(), self.path("auth.json"), "--src-tls-verify=false".into()];
        match creds {
            Some(c) => args.extend(["--src-creds".into(), c.into()]),
            None => args.push("--src-no-creds".into()),
        }
        args.extend([registry.image(reference), format!("oci:{}:x", out.display())]);
        self.skopeo("copy", &args).await
    }

    /// A pull into a fresh folder under the sandbox.
    pub async fn pull_fresh(&self, registry: &Registry, reference: &str, creds: Option<&str>) -> Out {
        let out = tempfile::Builder::new().prefix("pulled").tempdir_in(self.dir.path()).unwrap().keep();
        self.pull(registry, reference, creds, &out.join("layout")).await
    }

    pub async fn delete(&self, registry: &Registry, reference: &str, creds: &str) -> Out {
        let args = vec!["--authfile".into(), self.path("auth.json"), "--creds".into(), creds.into(), "--tls-verify=false".into(), registry.image(reference)];
        self.skopeo("delete", &args).await
    }
}

// ---------------------------------------------------------------------------------------
// A tiny OCI image layout, built by hand

/// A ustar archive holding one regular file.
pub fn one_file_tar(name: &str, content: &[u8]) -> Vec<u8> {
    pub fn octal(field: &mut [u8], value: u64) {
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

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn write_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = sha256(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    (digest, bytes.len())
}

/// An OCI image layout with one layer holding `hello.txt`, tagged `v1`.
/// Returns the manifest's digest.
pub fn build_image(layout: &Path, message: &str) -> String {
    build_image_with(layout, "hello.txt", message.as_bytes())
}

/// An OCI image layout with one layer holding `name` with `content`, tagged `v1`.
pub fn build_image_with(layout: &Path, name: &str, content: &[u8]) -> String {
    let image = write_image(layout, name, content, ("linux", "amd64", None));
    write_layout_index(layout, "application/vnd.oci.image.manifest.v1+json", &image.digest, image.manifest_size);
    image.digest
}

/// One image written into a layout's blobs.
pub struct BuiltImage {
    pub digest: String,
    pub manifest_size: usize,
    /// Its config and layer, in bytes: what Berth records as the image's size.
    pub size: usize,
}

/// An OCI image layout holding an index with one image per platform (os, architecture,
/// variant), tagged `v1`. Returns the index's digest and the images, in order.
pub fn build_index(layout: &Path, platforms: &[(&str, &str, Option<&str>)]) -> (String, Vec<BuiltImage>) {
    let images: Vec<BuiltImage> = platforms.iter().map(|p| write_image(layout, "hello.txt", format!("hello from {p:?}\n").as_bytes(), *p)).collect();
    let entries: Vec<serde_json::Value> = platforms
        .iter()
        .zip(&images)
        .map(|((os, arch, variant), image)| {
            let mut platform = serde_json::json!({"os": os, "architecture": arch});
            if let Some(v) = variant {
                platform["variant"] = serde_json::json!(v);
            }
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.digest, "size": image.manifest_size, "platform": platform})
        })
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let (digest, size) = write_blob(layout, &serde_json::to_vec(&index).unwrap());
    write_layout_index(layout, "application/vnd.oci.image.index.v1+json", &digest, size);
    (digest, images)
}

/// The layout's `index.json`, naming one manifest (or index) as `v1`.
fn write_layout_index(layout: &Path, media_type: &str, digest: &str, size: usize) {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// An image's layer, config and manifest written into a layout's blobs.
fn write_image(layout: &Path, name: &str, content: &[u8], (os, architecture, variant): (&str, &str, Option<&str>)) -> BuiltImage {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let tar = one_file_tar(name, content);
    let diff_id = sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let (layer_digest, layer_size) = write_blob(layout, &gz.finish().unwrap());
    let mut config = serde_json::json!({
        "architecture": architecture,
        "os": os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    if let Some(v) = variant {
        config["variant"] = serde_json::json!(v);
    }
    let (config_digest, config_size) = write_blob(layout, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    });
    let (digest, manifest_size) = write_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    BuiltImage { digest, manifest_size, size: config_size + layer_size }
}

/// The digest of the one manifest an OCI layout's index names.
pub fn layout_digest(layout: &Path) -> String {
    let index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().expect("index.json names a manifest").to_string()
}

// ---------------------------------------------------------------------------------------
// Berth side

/// A PAT of `user` (moved to the Team plan so any scope and any number are allowed).
pub fn pat(app: &TestApp, user: &str, scope: Scope, description: &str) -> String {
    pat_expiring(app, user, scope, description, None)
}

pub fn pat_expiring(app: &TestApp, user: &str, scope: Scope, description: &str, expires_at: Option<i64>) -> String {
    let uid = app.user(user).id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
    let new = NewToken { description: description.into(), scope, expires_at };
    let (_, plain) = tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap();
    plain.expose().to_string()
}

pub fn token_named(app: &TestApp, user: &str, description: &str) -> tokens::AccessToken {
    let uid = app.user(user).id;
    tokens::page(&mut app.conn(), uid, 1, 100).unwrap().into_iter().find(|t| t.description == description).expect("token exists")
}

/// `Some(is_public)` once Berth recorded the repository.
pub fn recorded_public(app: &TestApp, name: &str) -> Option<bool> {
    berth::repositories::facts(&mut app.conn(), name, None, None).unwrap().public
}

/// A registry token from Berth's `POST /token` (the password grant, as containerd asks).
pub async fn registry_token(berth_url: &str, user: &str, secret: &str, scope: &str) -> String {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("grant_type", "password"), ("username", user), ("password", secret), ("service", "registry.local"), ("scope", scope)])
        .finish();
    let res = http.post(format!("{berth_url}/token")).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "POST {berth_url}/token: {text}");
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    answer["access_token"].as_str().unwrap_or_else(|| panic!("no access_token in {answer}")).to_string()
}

/// The `kid` of a JWT's header (its first, base64url segment).
pub fn jwt_kid(token: &str) -> String {
    use base64::Engine;
    let segment = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap_or_else(|e| panic!("header of {token}: {e}"));
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap_or_else(|| panic!("no kid in {header}")).to_string()
}

/// `GET /v2/<name>/tags/list` with `Authorization: Bearer <token>` (none when None);
/// returns the status and the body.
pub async fn tags_list(registry: &Registry, name: &str, token: Option<&str>) -> (reqwest::StatusCode, String) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut req = http.get(format!("http://{}/v2/{name}/tags/list", registry.host()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}
