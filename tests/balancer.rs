//! Two Berth processes on one PostgreSQL database behind a real nginx (Debian's), round
//! robin with passive health checks, as the README's "Running several instances" sets it
//! up: an instance restarted or killed must cost the clients nothing nginx can retry, and
//! nothing answered may be lost. These tests need nginx and the test PostgreSQL server in
//! either run; a missing nginx fails them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_test_support::process::BerthProcess;
use berth_test_support::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long nginx leaves an instance alone after one failed request.
const FAIL_TIMEOUT: u64 = 2;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx in front of `upstreams`, as the README's example: round robin, an instance that
/// fails once is left alone for `FAIL_TIMEOUT` (open-source nginx has only passive checks), and a
/// request that could not reach one instance, or got a 502/503/504 from it, is passed to
/// the next — for idempotent methods only, nginx's default.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    fn start(upstreams: &[u16]) -> Nginx {
        let program =
            ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).expect("nginx is installed (Debian package nginx; scripts/test.sh installs it)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let servers: String = upstreams.iter().map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout={FAIL_TIMEOUT}s;\n")).collect();
        let d = dir.path().display();
        let config = format!(
            "daemon off;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             upstream berth {{\n{servers}  }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://berth;\n      proxy_set_header Host $http_host;\n      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_connect_timeout 2s;\n      proxy_next_upstream error timeout http_502 http_503 http_504;\n    }}\n  }}\n}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let child =
            Command::new(program).arg("-c").arg(&path).arg("-p").arg(dir.path()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen:\n{}", std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, dir, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT to our own child: nginx's graceful stop
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the pid of our own child, not yet reaped
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Two instances, each on a fixed port (a restart takes the same one), on one PostgreSQL
/// database, with one master key, behind nginx.
struct Site {
    dirs: Vec<tempfile::TempDir>,
    ports: Vec<u16>,
    database: String,
    instances: Vec<Option<BerthProcess>>,
    nginx: Nginx,
}

impl Site {
    fn start() -> Site {
        let database = database::fresh_postgres();
        let dirs = vec![audit::tempdir(), audit::tempdir()];
        let ports = vec![free_port(), free_port()];
        let data = |i: usize| dirs[i].path().join("data");
        let first = BerthProcess::start(env!("CARGO_BIN_EXE_berth"), &data(0), &database, &format!("127.0.0.1:{}", ports[0]), &Self::envs());
        // what every instance needs the same copy of, as an operator copies it: the master
        // key (the signing key is in the database)
        std::fs::create_dir_all(data(1)).unwrap();
        std::fs::copy(data(0).join("master.key"), data(1).join("master.key")).unwrap();
        let second = BerthProcess::start(env!("CARGO_BIN_EXE_berth"), &data(1), &database, &format!("127.0.0.1:{}", ports[1]), &Self::envs());
        let nginx = Nginx::start(&ports);
        Site { dirs, ports, database, instances: vec![Some(first), Some(second)], nginx }
    }

    fn envs() -> Vec<(&'static str, &'static str)> {
        // the whole load is one user's from one address: the API's rate limit is not under test
        vec![("BERTH_API_RATE_LIMIT", "1000000"), ("BERTH_TRUSTED_PROXIES", "127.0.0.1")]
    }

    fn data(&self, i: usize) -> PathBuf {
        self.dirs[i].path().join("data")
    }

    fn restart(&mut self, i: usize) {
        let process = BerthProcess::start(env!("CARGO_BIN_EXE_berth"), &self.data(i), &self.database, &format!("127.0.0.1:{}", self.ports[i]), &Self::envs());
        self.instances[i] = Some(process);
    }

    fn conn(&self) -> berth::db::DbConn {
        berth::db::open(&self.database).unwrap().get().unwrap()
    }

    /// A user added with the CLI, as an operator would.
    fn user(&self, name: &str, plan: &str) {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["user", "add", name, "--email", &format!("{name}@example.com"), "--plan", plan, "--password-stdin"])
            .env("BERTH_DATA", self.data(0))
            .env("BERTH_DATABASE_URL", &self.database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn api_login(url: &str, user: &str, password: &str) -> reqwest::Response {
    client().post(format!("{url}/v2/users/login")).json(&json!({"username": user, "password": password})).send().await.unwrap()
}

async fn jwt(url: &str, user: &str) -> String {
    let res = api_login(url, user, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

async fn new_token(url: &str, jwt: &str, label: &str) -> reqwest::Response {
    client().post(format!("{url}/v2/access-tokens")).bearer_auth(jwt).json(&json!({"token_label": label, "scopes": ["repo:admin"]})).send().await.unwrap()
}

async fn registry_status(url: &str, user: &str, secret: &str) -> Result<StatusCode, reqwest::Error> {
    Ok(client().get(format!("{url}/token?service=registry.local&scope=repository:{user}/app:pull")).basic_auth(user, Some(secret)).send().await?.status())
}

#[actix_web::test]
async fn postgres_behind_nginx_wrong_passwords_over_both_instances_lock_after_five_and_a_session_crosses() {
    let site = Site::start();
    site.user("alice", "personal");
    let url = site.nginx.url();
    for i in 0..5 {
        assert_eq!(api_login(&url, "alice", "a wrong password").await.status(), StatusCode::UNAUTHORIZED, "failure {}", i + 1);
    }
    assert_eq!(api_login(&url, "alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "locked after five in total");
    // round robin: a browser's requests go to both instances, its session works on each
    let b = Browser::new(&url, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
    let res = b.signup("bobby", "bobby@example.com", PASSWORD).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        regex::Regex::new(r#"class="(error|field-error)[^"]*"[^>]*>([^<]*)<"#).unwrap().captures_iter(&text).map(|c| c[2].to_string()).collect::<Vec<_>>().join(" | ")
    );
    for _ in 0..4 {
        assert_eq!(b.get("/settings/tokens").await.status(), StatusCode::OK);
    }
}

/// A steady `GET /token` load through nginx while both instances are restarted one after
/// the other with SIGTERM: Berth stops accepting, finishes what it has, exits; nginx passes
/// what could not reach one instance to the other. Not one request may fail.
/// Until 50 more requests were served (at most 20 s).
async fn progress(served: &AtomicUsize) {
    let before = served.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while served.load(Ordering::SeqCst) < before + 50 {
        assert!(Instant::now() < deadline, "the load stalled");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn postgres_behind_nginx_a_rolling_restart_under_a_steady_token_load_fails_no_request() {
    let mut site = Site::start();
    site.user("alice", "pro");
    let url = site.nginx.url();
    let pat: Value = new_token(&url, &jwt(&url, "alice").await, "puller").await.json().await.unwrap();
    let pat = pat["token"].as_str().unwrap().to_string();
    audit::secret(&pat);
    let (stop, served, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, served, failed, url, pat) = (stop.clone(), served.clone(), failed.clone(), url.clone(), pat.clone());
        clients.push(actix_web::rt::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match registry_status(&url, "alice", &pat).await {
                    Ok(StatusCode::OK) => served.fetch_add(1, Ordering::SeqCst),
                    other => {
                        failed.lock().unwrap().push(format!("{other:?}"));
                        0
                    }
                };
            }
        }));
    }
    progress(&served).await;
    for i in 0..2 {
        let mut old = site.instances[i].take().unwrap();
        let exited = actix_web::web::block(move || {
            let clean = old.terminate(Duration::from_secs(30));
            (clean, old.log())
        })
        .await
        .unwrap();
        assert!(exited.0, "instance {i} did not exit cleanly on SIGTERM:\n{}", exited.1);
        progress(&served).await;
        site.restart(i);
        // nginx tries the restarted instance again once its fail_timeout has passed: only
        // then is the next one stopped, or nginx would find no instance to send to
        actix_web::rt::time::sleep(Duration::from_secs(FAIL_TIMEOUT + 1)).await;
        progress(&served).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    eprintln!("rolling restart: {} requests served, {} failed", served.load(Ordering::SeqCst), failed.len());
    assert!(failed.is_empty(), "{} requests failed during the rolling restart: {:?}\nnginx:\n{}", failed.len(), &failed[..failed.len().min(10)], site.nginx.log());
}

/// `kill -9` of one instance in the middle of a burst of token creations through nginx:
/// every creation answered 201 is stored and works, the other instance keeps answering,
/// and after the killed one restarts the kept counts agree with the rows.
#[actix_web::test]
async fn postgres_behind_nginx_kill_9_of_one_instance_mid_burst_loses_no_answered_write() {
    let mut site = Site::start();
    site.user("alice", "team");
    let url = site.nginx.url();
    let jwt = jwt(&url, "alice").await;
    let (stop, created, cut) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<(String, String)>::new())), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (stop, created, cut, url, jwt) = (stop.clone(), created.clone(), cut.clone(), url.clone(), jwt.clone());
        workers.push(actix_web::rt::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                match client().post(format!("{url}/v2/access-tokens")).bearer_auth(&jwt).json(&json!({"token_label": format!("w{w}-{n}"), "scopes": ["repo:admin"]})).send().await {
                    Ok(res) if res.status() == StatusCode::CREATED => {
                        let body: Value = res.json().await.unwrap();
                        let token = body["token"].as_str().unwrap().to_string();
                        audit::secret(&token);
                        created.lock().unwrap().push((body["uuid"].as_str().unwrap().to_string(), token));
                    }
                    // a POST in flight to the killed instance: nginx does not pass a request it
                    // has sent on (it may have been written), so the client sees 502
                    Ok(res) if res.status() == StatusCode::BAD_GATEWAY => drop(cut.fetch_add(1, Ordering::SeqCst)),
                    Ok(res) => panic!("unexpected {}: {}", res.status(), res.text().await.unwrap_or_default()),
                    Err(e) => panic!("nginx did not answer: {e}"),
                }
            }
        }));
    }
    let count = |created: &Mutex<Vec<(String, String)>>| created.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&created) < 60 {
        assert!(Instant::now() < deadline, "the burst made too little progress");
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    site.instances[0].as_mut().unwrap().kill9();
    let at_kill = count(&created);
    // the other instance keeps answering through nginx
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&created) < at_kill + 60 {
        assert!(Instant::now() < deadline, "no creations after the kill:\n{}", site.nginx.log());
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    site.restart(0);
    let created = created.lock().unwrap().clone();
    eprintln!("kill -9 behind nginx: {} creations answered, {} cut off", created.len(), cut.load(Ordering::SeqCst));
    let mut conn = site.conn();
    use berth::db::schema::{access_tokens, owners};
    for (uuid, _) in &created {
        let found: i64 = access_tokens::table.filter(access_tokens::uuid.eq(uuid)).count().get_result(&mut conn).unwrap();
        assert_eq!(found, 1, "answered creation {uuid} is stored");
    }
    let (id, kept): (i32, i64) = owners::table.filter(owners::name.eq("alice")).select((owners::id, owners::token_count)).first(&mut conn).unwrap();
    let rows: i64 = access_tokens::table.filter(access_tokens::owner_id.eq(id)).count().get_result(&mut conn).unwrap();
    assert_eq!(kept, rows, "the kept count agrees with the rows");
    assert!(rows >= created.len() as i64 && rows <= (created.len() + cut.load(Ordering::SeqCst)) as i64, "{rows} rows for {} answered", created.len());
    // both instances serve the tokens, the restarted one included
    for (i, (_, token)) in created.iter().take(4).enumerate() {
        let instance = site.instances[i % 2].as_ref().unwrap();
        assert_eq!(registry_status(&instance.url, "alice", token).await.unwrap(), StatusCode::OK);
    }
}

/// The registry's realm is the balancer: a token made through one instance logs the real
/// docker CLI in whichever instance nginx picks, and once deactivated through that instance
/// it is refused through the balancer.
#[actix_web::test]
async fn postgres_behind_nginx_a_token_made_on_one_instance_logs_docker_in_through_the_balancer_until_deactivated() {
    let site = Site::start();
    site.user("alice", "pro");
    let first = site.instances[0].as_ref().unwrap().url.clone();
    let jwt = jwt(&first, "alice").await;
    let made: Value = new_token(&first, &jwt, "laptop").await.json().await.unwrap();
    let (pat, uuid) = (made["token"].as_str().unwrap().to_string(), made["uuid"].as_str().unwrap().to_string());
    audit::secret(&pat);
    let registry = Registry::start(&site);
    for i in 0..4 {
        let out = registry.docker_login("alice", &pat);
        assert!(out.status.success(), "docker login {} through nginx: {}", i + 1, String::from_utf8_lossy(&out.stderr));
    }
    let res = client().patch(format!("{first}/v2/access-tokens/{uuid}")).bearer_auth(&jwt).json(&json!({"is_active": false})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..2 {
        let out = registry.docker_login("alice", &pat);
        assert!(!out.status.success(), "a deactivated token logs in: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// docker-registry trusting the bundle `berth registry-config` writes, its realm at nginx.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    fn start(site: &Site) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["--public-url", &site.nginx.url(), "registry-config", "--bundle", bundle.to_str().unwrap()])
            .env("BERTH_DATA", site.data(1))
            .env("BERTH_DATABASE_URL", &site.database)
            .output()
            .unwrap();
        assert!(out.status.success(), "registry-config: {}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap();
        let auth = &printed[printed.find("\nauth:\n").expect("an auth: block") + 1..];
        assert!(auth.contains(&format!("realm: {}/token", site.nginx.url())), "{auth}");
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n{auth}",
            dir.path().join("storage").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let program =
            ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"].into_iter().find(|p| Path::new(p).exists()).expect("docker-registry (Debian package docker-registry)");
        let child = Command::new(program).arg("serve").arg(dir.path().join("config.yml")).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen: {}", std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, dir, port }
    }

    /// `docker login` with a config folder of its own each time (nothing carries over).
    fn docker_login(&self, user: &str, secret: &str) -> std::process::Output {
        use std::io::Write;
        let config = tempfile::Builder::new().prefix("docker-config").tempdir_in(self.dir.path()).unwrap();
        let mut child = Command::new("docker")
            .args(["login", "-u", user, "--password-stdin", &format!("127.0.0.1:{}", self.port)])
            .env("DOCKER_CONFIG", config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the docker CLI (Debian package docker.io)");
        child.stdin.take().unwrap().write_all(format!("{secret}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // our own child, by its pid
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
