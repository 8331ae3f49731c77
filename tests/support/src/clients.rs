//! The registry's other clients, for the end-to-end test binaries: podman and buildah in a
//! sandbox of their own (containers-storage on `vfs`, the configs, the auth file and the
//! temp files all in one temp folder), a containerd daemon started by the test on its own
//! root, state folder, socket and config, and oras-py driven by a small Python script. The
//! tests run as root without systemd: the storage is root's, removed with the temp folder,
//! and every daemon is stopped by its own pid. A missing program is a failure naming its
//! Debian (or PyPI) package, never a skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::*;

/// The programs these clients need, each with the Debian package that installs it.
pub const CONTAINER_PROGRAMS: [(&str, &str); 5] = [("podman", "podman"), ("buildah", "buildah"), ("containerd", "containerd"), ("ctr", "containerd"), ("python3", "python3")];

/// The oras-py version the client notes describe (scripts/test.sh installs it).
pub const ORAS_VERSION: &str = "0.2.43";

// ---------------------------------------------------------------------------------------
// podman and buildah

/// One sandbox for podman and buildah: both read the same containers-storage, configs and
/// auth file, all under `dir`, so nothing of the machine's own (`/var/lib/containers`,
/// `/etc/containers`, `~/.docker`, `/run/libpod`) is used or changed.
pub struct Containers {
    pub dir: tempfile::TempDir,
}

impl Containers {
    /// A sandbox that knows `registry` as a plain-HTTP registry.
    pub fn new(registry: &Registry) -> Containers {
        let dir = tempfile::Builder::new().prefix("containers").tempdir().unwrap();
        for sub in ["root", "runroot", "tmp", "home", "networks"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let at = |sub: &str| dir.path().join(sub).display().to_string();
        let storage = format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n", at("root"), at("runroot"));
        std::fs::write(dir.path().join("storage.conf"), storage).unwrap();
        // no systemd here: cgroupfs and a file for events; the network configuration (which
        // podman and buildah lock on start) and libpod's temp files in the sandbox too
        let containers = format!(
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\ntmp_dir = \"{}\"\n\n[network]\nnetwork_config_dir = \"{}\"\n",
            at("events.log"),
            at("tmp"),
            at("networks"),
        );
        std::fs::write(dir.path().join("containers.conf"), containers).unwrap();
        let registries = format!("unqualified-search-registries = []\n\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n", registry.host());
        std::fs::write(dir.path().join("registries.conf"), registries).unwrap();
        std::fs::write(dir.path().join("policy.json"), r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
        std::fs::write(dir.path().join("auth.json"), "{}").unwrap();
        Containers { dir }
    }

    pub fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    /// Removes the sandbox, the storage's root-owned files too, and checks nothing is left.
    pub fn remove(self) {
        let dir = self.dir.path().to_path_buf();
        drop(self);
        assert!(!dir.exists(), "the podman and buildah sandbox is gone: {}", dir.display());
    }

    /// The auth file `podman login` writes and both read.
    pub fn auth_file(&self) -> String {
        self.path("auth.json")
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CONTAINERS_CONF".into(), self.path("containers.conf")),
            ("CONTAINERS_REGISTRIES_CONF".into(), self.path("registries.conf")),
            ("CONTAINERS_STORAGE_CONF".into(), self.path("storage.conf")),
            ("REGISTRY_AUTH_FILE".into(), self.auth_file()),
            // credentials are also looked up in ~/.docker/config.json: HOME is the sandbox's
            ("HOME".into(), self.path("home")),
            ("DOCKER_CONFIG".into(), self.path("home")),
            ("TMPDIR".into(), self.path("tmp")),
        ]
    }

    fn storage_args(&self) -> Vec<String> {
        vec!["--root".into(), self.path("root"), "--runroot".into(), self.path("runroot"), "--storage-driver".into(), "vfs".into()]
    }

    /// `podman GLOBAL-FLAGS args…`, the storage and the daemon-less settings given as flags
    /// as well as in the configs.
    pub async fn podman(&self, args: &[String], stdin: Option<&str>) -> Out {
        let mut all = self.storage_args();
        all.extend(strings(&["--cgroup-manager", "cgroupfs", "--events-backend", "file", "--tmpdir", &self.path("tmp")]));
        all.extend_from_slice(args);
        run("podman", &all, &self.env(), stdin).await
    }

    pub async fn buildah(&self, args: &[String]) -> Out {
        let mut all = self.storage_args();
        all.extend_from_slice(args);
        run("buildah", &all, &self.env(), None).await
    }

    /// `podman login` with the secret on standard input, into the sandbox's auth file.
    pub async fn podman_login(&self, registry: &Registry, user: &str, secret: &str) -> Out {
        self.podman_login_with(&[], registry, user, secret).await
    }

    /// `podman GLOBAL… login …`, e.g. with `--log-level=debug`.
    pub async fn podman_login_with(&self, global: &[&str], registry: &Registry, user: &str, secret: &str) -> Out {
        let mut args = strings(global);
        args.extend(strings(&["login", "--authfile", &self.auth_file(), "--tls-verify=false", "-u", user, "--password-stdin", &registry.host()]));
        self.podman(&args, Some(&format!("{secret}\n"))).await
    }

    /// `podman pull|push` of `image` (`--tls-verify=false`, the sandbox's policy and auth
    /// file), with `extra` flags before the image.
    pub async fn podman_transfer(&self, verb: &str, image: &str, extra: &[String]) -> Out {
        let mut args = strings(&[verb, "--tls-verify=false", "--signature-policy", &self.path("policy.json"), "--authfile", &self.auth_file()]);
        args.extend_from_slice(extra);
        args.push(image.to_string());
        self.podman(&args, None).await
    }

    /// The image `podman pull` stored for `reference`, as `podman image inspect` formats it.
    pub async fn podman_inspect(&self, reference: &str, format: &str) -> Out {
        self.podman(&strings(&["image", "inspect", "--format", format, reference]), None).await
    }

    /// buildah's image `name` built from scratch with one file, `/name_in_image`, holding
    /// `content` (copied from a file in the sandbox) and committed to containers-storage.
    pub async fn buildah_build(&self, name: &str, file_in_image: &str, content: &[u8]) -> Out {
        let source = self.dir.path().join("tmp").join(file_in_image);
        std::fs::write(&source, content).unwrap();
        let from = self.buildah(&strings(&["from", "--signature-policy", &self.path("policy.json"), "scratch"])).await;
        from.assert_ok("buildah from scratch");
        let container = from.stdout.trim().to_string();
        self.buildah(&strings(&["copy", &container, &source.display().to_string(), &format!("/{file_in_image}")])).await.assert_ok("buildah copy");
        self.buildah(&strings(&["config", "--os", "linux", "--arch", "amd64", &container])).await.assert_ok("buildah config");
        let commit = self.buildah(&strings(&["commit", "--signature-policy", &self.path("policy.json"), &container, name])).await;
        commit.assert_ok("buildah commit");
        self.buildah(&strings(&["rm", &container])).await.assert_ok("buildah rm (the working container)");
        commit
    }

    /// `buildah push` of the local image `name` to `docker://destination`.
    pub async fn buildah_push(&self, name: &str, destination: &str, extra: &[String]) -> Out {
        let mut args = strings(&["push", "--tls-verify=false", "--signature-policy", &self.path("policy.json"), "--authfile", &self.auth_file()]);
        args.extend_from_slice(extra);
        args.extend([name.to_string(), format!("docker://{destination}")]);
        self.buildah(&args).await
    }
}

// ---------------------------------------------------------------------------------------
// containerd

/// A containerd daemon of the test's own: root, state, sockets, plugin folder and config
/// under one temp folder; stopped (its own pid) when dropped, any snapshot mount it left
/// unmounted, then the folder removed.
pub struct Containerd {
    child: Child,
    pub dir: tempfile::TempDir,
}

pub const CTR_NAMESPACE: &str = "berth-test";

impl Containerd {
    pub async fn start() -> Containerd {
        // a short path: a unix socket's path is at most 107 bytes
        let dir = tempfile::Builder::new().prefix("ctrd").tempdir_in("/tmp").unwrap();
        let at = |sub: &str| dir.path().join(sub).display().to_string();
        // the CRI plugin (Kubernetes) needs CNI and is not what `ctr pull` talks to; the
        // snapshotters of other file systems only log that they cannot load
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\"]\n\
             [grpc]\n  address = \"{grpc}\"\n\
             [ttrpc]\n  address = \"{ttrpc}\"\n\
             [debug]\n  address = \"{debug}\"\n\
             [metrics]\n  address = \"\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = at("root"),
            state = at("state"),
            grpc = at("containerd.sock"),
            ttrpc = at("containerd.sock.ttrpc"),
            debug = at("debug.sock"),
            opt = at("opt"),
        );
        std::fs::write(dir.path().join("config.toml"), &config).unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let program = find_program("containerd").expect("containerd (Debian package containerd)");
        let mut command = Command::new(program);
        command.arg("--config").arg(dir.path().join("config.toml")).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        // SAFETY: prctl only touches the child being started: it dies with the test binary
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().expect("containerd starts");
        let mut daemon = Containerd { child, dir };
        daemon.wait_ready(&config).await;
        daemon
    }

    pub fn address(&self) -> String {
        self.dir.path().join("containerd.sock").display().to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Until `ctr version` reaches the daemon on its socket.
    async fn wait_ready(&mut self, config: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("containerd exited ({status}) before answering\nconfig:\n{config}\nlog:\n{}", self.log());
            }
            if Path::new(&self.address()).exists() && self.ctr(&strings(&["version"])).await.success {
                return;
            }
            assert!(Instant::now() < deadline, "containerd did not answer within 30 s\nconfig:\n{config}\nlog:\n{}", self.log());
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `ctr --address SOCKET --namespace berth-test args…`
    pub async fn ctr(&self, args: &[String]) -> Out {
        let mut all = strings(&["--address", &self.address(), "--namespace", CTR_NAMESPACE]);
        all.extend_from_slice(args);
        run("ctr", &all, &[], None).await
    }

    /// Stops the daemon: SIGTERM to its own pid, SIGKILL after 10 s.
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }

    /// Stops the daemon, removes its folder and checks nothing of it is left.
    pub fn remove(self) {
        let dir = self.dir.path().to_path_buf();
        drop(self);
        assert!(!dir.exists(), "containerd's folder (root's files) is gone once it stopped: {}", dir.display());
    }

    /// The mount points under the daemon's folder (snapshots mounted while unpacking).
    pub fn mounts(&self) -> Vec<PathBuf> {
        let root = std::fs::canonicalize(self.dir.path()).unwrap_or_else(|_| self.dir.path().to_path_buf());
        let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        table.lines().filter_map(|l| l.split_whitespace().nth(1)).map(PathBuf::from).filter(|p| p.starts_with(&root)).collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.stop();
        // a daemon stopped mid-unpack may leave a snapshot mounted: unmount it, deepest
        // first, so the folder (root's files) can go
        let mut mounts = self.mounts();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for mount in mounts {
            let path = std::ffi::CString::new(mount.display().to_string()).unwrap();
            // SAFETY: umount2(2) with a valid C string, on a mount under our own folder
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

// ---------------------------------------------------------------------------------------
// oras-py

/// `tests/fixtures/oras_client.py ACTION HOST NAME:TAG PATH` with `user`'s secret in its
/// environment (never on the command line) and HOME in `home`, so oras's login writes no
/// file of the machine's.
pub async fn oras(action: &str, registry: &Registry, reference: &str, path: &Path, user: &str, secret: &str, home: &Path) -> Out {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/oras_client.py");
    let args = vec![script.display().to_string(), action.into(), registry.host(), reference.into(), path.display().to_string()];
    let envs =
        vec![("ORAS_USER".into(), user.into()), ("ORAS_SECRET".into(), secret.into()), ("HOME".into(), home.display().to_string()), ("PYTHONDONTWRITEBYTECODE".into(), "1".into())];
    run("python3", &args, &envs, None).await
}

/// Fails, naming the PyPI package, unless python3 imports oras at the pinned version.
pub async fn require_oras() {
    let out = run("python3", &strings(&["-c", "import oras.version; print(oras.version.__version__)"]), &[], None).await;
    assert!(
        out.success && out.stdout.trim() == ORAS_VERSION,
        "the oras tests need oras-py {ORAS_VERSION} (the PyPI package `oras`: python3 -m pip install oras=={ORAS_VERSION}, as scripts/test.sh does)\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------------------
// What a pushed image holds

/// The manifest digest the registry serves for `reference`, read by skopeo.
pub async fn registry_digest(registry: &Registry, reference: &str, creds: &str) -> String {
    let out = Clients::new().inspect_digest(registry, reference, Some(creds)).await;
    out.assert_ok("skopeo inspect of the pushed image");
    out.stdout.trim().to_string()
}

/// The files in the layers of the image `reference`, pulled by skopeo into an OCI layout:
/// (path in the image, content).
pub async fn files_in_image(registry: &Registry, reference: &str, creds: &str) -> Vec<(String, Vec<u8>)> {
    let clients = Clients::new();
    let layout = clients.dir.path().join("pulled");
    clients.pull(registry, reference, Some(creds), &layout).await.assert_ok("skopeo pulls the pushed image");
    let blob = |digest: &str| std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&layout_digest(&layout))).unwrap();
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().expect("the manifest lists layers") {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&blob(layer["digest"].as_str().unwrap())[..]).read_to_end(&mut tar).expect("a gzip layer");
        files.extend(tar_files(&tar));
    }
    files
}

/// The regular files of a ustar archive.
pub fn tar_files(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let header = &tar[at..at + 512];
        let field = |range: std::ops::Range<usize>| String::from_utf8_lossy(&header[range]).trim_end_matches('\0').trim().to_string();
        let size = usize::from_str_radix(&field(124..136), 8).unwrap_or(0);
        let name = format!("{}{}", field(345..500), field(0..100));
        if matches!(header[156], b'0' | 0) {
            files.push((name, tar[(at + 512).min(tar.len())..(at + 512 + size).min(tar.len())].to_vec()));
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    files
}

pub fn holds_file(files: &[(String, Vec<u8>)], name: &str, content: &[u8]) -> bool {
    files.iter().any(|(n, c)| n.trim_start_matches("./").trim_start_matches('/') == name && c == content)
}

/// The claims of a JWT (its second, base64url segment), e.g. a registry token's `access`.
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let segment = token.split('.').nth(1).unwrap_or_else(|| panic!("{token} is no JWT"));
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).unwrap_or_else(|e| panic!("claims of {token}: {e}"));
    serde_json::from_slice(&claims).unwrap()
}
