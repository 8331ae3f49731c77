//! The real registry beside a test server: Debian's `docker-registry` trusting the server's
//! `/token` (its certificate bundle written as `berth registry-config` writes it), and the
//! clients — the docker CLI (`docker login`, client-side, no engine) and `skopeo` — in a
//! sandbox of their own, so the user's own files are never touched. A tiny image to push
//! is built by hand as an OCI layout. A missing program is a failure naming its Debian
//! package, never a skip; every command runs with a timeout. Signals go to the registry's
//! own pid only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestApp;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")]).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Fails (never skips) when the registry, skopeo or docker is missing.
pub fn require_programs() {
    let missing: Vec<String> = [("docker-registry", "docker-registry"), ("skopeo", "skopeo"), ("docker", "docker.io")]
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(program, package)| format!("`{program}` not found: install the Debian package `{package}`"))
        .collect();
    assert!(missing.is_empty(), "the registry end-to-end tests need real programs:\n  {}", missing.join("\n  "));
}

/// What a program did.
pub struct Out {
    pub cmdline: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn describe(&self) -> String {
        format!("$ {}\n-> {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.cmdline, if self.success { "ok" } else { "failed" }, self.stdout, self.stderr)
    }
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert!(self.success, "{what}: expected success\n{}", self.describe());
        self
    }
    pub fn assert_failed(&self, what: &str) -> &Self {
        assert!(!self.success, "{what}: expected failure\n{}", self.describe());
        self
    }
    /// Both streams, for looking for the client's own words.
    pub fn printed(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `program` off the test's thread (the server shares its runtime), killed (its own
/// pid) after the timeout. Berth's settings never leak in from the test's environment.
pub async fn run(program: &str, args: Vec<String>, envs: Vec<(String, String)>, stdin: Option<String>) -> Out {
    let program = program.to_string();
    actix_web::rt::task::spawn_blocking(move || {
        let cmdline = format!("{program} {}", args.join(" "));
        let mut cmd = Command::new(find_program(&program).unwrap_or_else(|| PathBuf::from(&program)));
        for (key, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("BERTH_")) {
            cmd.env_remove(key);
        }
        cmd.args(&args).envs(envs).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{cmdline}`: {e}"));
        if let Some(input) = stdin {
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        }
        let reader = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = pipe.read_to_end(&mut v);
                String::from_utf8_lossy(&v).into_owned()
            })
        };
        let (out, err) = (reader(Box::new(child.stdout.take().unwrap())), reader(Box::new(child.stderr.take().unwrap())));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let success = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        Out { cmdline, success, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
    })
    .await
    .unwrap()
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A registry trusting `app`'s token server, storing images in a folder of its own.
pub struct Registry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    pub async fn start(app: &TestApp) -> Registry {
        require_programs();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        let pem = berth::registry::keys::bundle(&mut app.conn()).expect("the signing certificates");
        berth::registry::keys::write_bundle(&bundle, &pem).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {storage}}}\n  delete: {{enabled: true}}\nhttp: {{addr: 127.0.0.1:{port}}}\n\
             auth:\n  token:\n    realm: {url}/token\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {bundle}\n",
            storage = dir.path().join("storage").display(),
            url = app.url,
            service = app.settings.registry_service,
            issuer = app.settings.issuer,
            bundle = bundle.display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(find_program("docker-registry").unwrap())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Registry { child, port, dir };
        registry.wait_ready().await;
        registry
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Until `GET /v2/` asks for a token.
    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}) before answering\n{}", self.log());
            }
            if let Ok(res) = client.get(format!("http://{}/v2/", self.host())).send().await {
                assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED, "GET /v2/ should ask for a token\n{}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "docker-registry did not answer within 30 s\n{}", self.log());
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn image(&self, reference: &str) -> String {
        format!("docker://{}/{reference}", self.host())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // exited and reaped already: its pid may be another process's by now
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// docker's config, skopeo's auth file, policy and caches in a temp folder.
pub struct Clients {
    dir: tempfile::TempDir,
}

impl Default for Clients {
    fn default() -> Self {
        Clients::new()
    }
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

    fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    fn env(&self, docker_config: &str) -> Vec<(String, String)> {
        [("DOCKER_CONFIG", docker_config.to_string()), ("REGISTRY_AUTH_FILE", self.path("auth.json"))]
            .into_iter()
            .chain(["XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "TMPDIR"].into_iter().zip(["xdg-data", "xdg-config", "xdg-cache", "tmp"].map(|s| self.path(s))))
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// `docker login -u USER --password-stdin`, with a fresh config folder each time.
    pub async fn docker_login(&self, registry: &Registry, user: &str, secret: &str) -> Out {
        let config = tempfile::Builder::new().prefix("docker-config").tempdir_in(self.dir.path()).unwrap().keep();
        let args = strings(&["login", "-u", user, "--password-stdin", &registry.host()]);
        run("docker", args, self.env(&config.display().to_string()), Some(format!("{secret}\n"))).await
    }

    async fn skopeo(&self, subcommand: &str, args: Vec<String>) -> Out {
        let mut all = strings(&["--policy", &self.path("policy.json"), subcommand, "--authfile", &self.path("auth.json")]);
        all.extend(args);
        run("skopeo", all, self.env(&self.path("docker")), None).await
    }

    /// `skopeo copy` of the layout's `v1` to `reference`, with `creds` (`user:secret`).
    pub async fn push(&self, layout: &Path, registry: &Registry, reference: &str, creds: &str) -> Out {
        self.skopeo("copy", vec!["--dest-creds".into(), creds.into(), "--dest-tls-verify=false".into(), format!("oci:{}:v1", layout.display()), registry.image(reference)]).await
    }

    /// A real pull (`skopeo copy` into a fresh OCI layout).
    pub async fn pull(&self, registry: &Registry, reference: &str, creds: &str) -> Out {
        let out = tempfile::Builder::new().prefix("pulled").tempdir_in(self.dir.path()).unwrap().keep();
        self.skopeo("copy", vec!["--src-creds".into(), creds.into(), "--src-tls-verify=false".into(), registry.image(reference), format!("oci:{}:x", out.join("layout").display())])
            .await
    }

    /// `skopeo delete` of `reference`.
    pub async fn delete(&self, registry: &Registry, reference: &str, creds: &str) -> Out {
        self.skopeo("delete", vec!["--creds".into(), creds.into(), "--tls-verify=false".into(), registry.image(reference)]).await
    }
}

/// A ustar archive of one regular file.
fn one_file_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, name.as_bytes());
    // mode, uid, gid, size, mtime: octal, NUL-ended
    for (at, width, value) in [(100, 8, 0o644), (108, 8, 0), (116, 8, 0), (124, 12, content.len() as u64), (136, 12, 1_700_000_000)] {
        put(at, format!("{value:0w$o}\0", w = width - 1).as_bytes());
    }
    put(148, b"        "); // the checksum, counted as spaces
    put(156, b"0");
    put(257, b"ustar\x0000root"); // magic "ustar" NUL, version "00", owner "root"
    put(297, b"root");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512 + 1024, 0);
    tar
}

/// Writes a blob into the layout: (its digest, its size).
fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = berth::keys::sha256_hex(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// An OCI image layout at `layout` whose one (uncompressed) layer holds `hello.txt` with
/// `message`, tagged `v1`. Returns the manifest's digest.
pub fn build_image(layout: &Path, message: &str) -> String {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let (layer, layer_size) = blob(layout, &one_file_tar("hello.txt", message.as_bytes()));
    let config = format!(r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#);
    let (config, config_size) = blob(layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = blob(layout, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    manifest
}
