//! Faults: Berth killed with SIGKILL in the middle of a burst of writes (on the suite's
//! backend), and a SQLite database on a full filesystem. Nothing answered may be lost, nothing half-written
//! may appear, and the backend's integrity check stays `ok`. (The registry restarted mid-pull
//! is in `tests/registry.rs`; `berth backup` under write load in `tests/cli.rs`.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_test_support::process::BerthProcess;
use berth_test_support::*;
use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Berth as a real child process

fn start_berth(data: &Path, database: &str) -> BerthProcess {
    // the burst is one user's; the API's per-user rate limit is not under test here
    BerthProcess::start(env!("CARGO_BIN_EXE_berth"), data, database, "127.0.0.1:0", &[("BERTH_API_RATE_LIMIT", "1000000")])
}

fn berth_cli(data: &Path, database: &str, args: &[&str], stdin: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_DATA", data)
        .env("BERTH_DATABASE_URL", database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn open_db(database: &str) -> berth::db::DbConn {
    berth::db::open(database).unwrap().get().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn api_login(url: &str, user: &str, password: &str) -> String {
    let res = client().post(format!("{url}/v2/users/login")).json(&json!({"username": user, "password": password})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

/// `GET /token` with Basic `user:secret` for a pull of `user/app`.
async fn registry_status(url: &str, user: &str, secret: &str) -> StatusCode {
    client().get(format!("{url}/token?service=registry.local&scope=repository:{user}/app:pull")).basic_auth(user, Some(secret)).send().await.unwrap().status()
}

/// The denormalised token count of the user's own namespace must equal the rows it counts
/// (read from the tables: `tokens::counts` trusts the kept count).
fn assert_counts_reconcile(conn: &mut berth::db::DbConn, username: &str) -> i64 {
    use berth::db::schema::{access_tokens, owners};
    let (id, kept): (i32, i64) = owners::table.filter(owners::name.eq(username)).select((owners::id, owners::token_count)).first(conn).unwrap();
    let rows: i64 = access_tokens::table.filter(access_tokens::owner_id.eq(id)).count().get_result(conn).unwrap();
    assert_eq!(kept, rows, "owners.token_count ({kept}) disagrees with the rows ({rows})");
    rows
}

/// Whether the row survived, of whichever user: what a crash must not lose or bring back is
/// the stored row.
fn uuid_exists(conn: &mut berth::db::DbConn, uuid: &str) -> bool {
    use berth::db::schema::access_tokens;
    access_tokens::table.filter(access_tokens::uuid.eq(uuid)).count().get_result::<i64>(conn).unwrap() == 1
}

// ---------------------------------------------------------------------------------------
// kill -9 in the middle of a burst

#[derive(Default)]
struct Burst {
    created: Mutex<Vec<(String, String)>>, // (uuid, plaintext), answered 201
    deleted: Mutex<Vec<String>>,           // uuid, answered 204
    unanswered: AtomicUsize,               // requests cut off by the kill: outcome unknown
    maybe_deleted: Mutex<Vec<String>>,     // uuid of a cut-off deletion: either state is right
    stop: AtomicBool,
}

#[actix_web::test]
async fn kill_9_mid_burst_loses_no_answered_creation_or_deletion_and_the_database_stays_sound() {
    let dir = berth_test_support::audit::tempdir();
    let data = dir.path().join("data");
    let database = berth_test_support::database::fresh(&data);
    berth_cli(&data, &database, &["user", "add", "alice", "--email", "alice@example.com", "--plan", "team", "--password-stdin"], &format!("{PASSWORD}\n"));
    let mut berth = start_berth(&data, &database);
    let jwt = api_login(&berth.url, "alice", PASSWORD).await;

    let burst = Arc::new(Burst::default());
    let mut workers = Vec::new();
    for w in 0..8 {
        let (burst, url, jwt) = (burst.clone(), berth.url.clone(), jwt.clone());
        workers.push(actix_web::rt::spawn(async move {
            let http = client();
            let mut mine: Vec<String> = Vec::new();
            let mut n = 0;
            while !burst.stop.load(Ordering::SeqCst) {
                n += 1;
                // every third request deletes one of this worker's answered creations
                let delete = n % 3 == 0 && !mine.is_empty();
                let sent = if delete {
                    http.delete(format!("{url}/v2/access-tokens/{}", mine[0])).bearer_auth(&jwt).send().await
                } else {
                    let body = json!({"token_label": format!("burst {w}-{n}"), "scopes": ["repo:read"]});
                    http.post(format!("{url}/v2/access-tokens")).bearer_auth(&jwt).json(&body).send().await
                };
                let answer = match sent {
                    Ok(res) => Some((res.status(), res.text().await)),
                    Err(_) => None,
                };
                match answer {
                    Some((StatusCode::CREATED, Ok(text))) if !delete => {
                        let v: Value = serde_json::from_str(&text).unwrap();
                        let uuid = v["uuid"].as_str().unwrap().to_string();
                        berth_test_support::audit::secret(v["token"].as_str().unwrap());
                        burst.created.lock().unwrap().push((uuid.clone(), v["token"].as_str().unwrap().to_string()));
                        mine.push(uuid);
                    }
                    Some((StatusCode::NO_CONTENT, Ok(_))) if delete => {
                        burst.deleted.lock().unwrap().push(mine.remove(0));
                    }
                    Some((status, Ok(text))) => panic!("unexpected answer {status}: {text}"),
                    // the connection died with the server: the outcome is unknown
                    Some((_, Err(_))) | None => {
                        burst.unanswered.fetch_add(1, Ordering::SeqCst);
                        if delete {
                            burst.maybe_deleted.lock().unwrap().push(mine[0].clone());
                        }
                        break;
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while burst.created.lock().unwrap().len() < 150 || burst.deleted.lock().unwrap().len() < 40 {
        assert!(Instant::now() < deadline, "the burst made too little progress:\n{}", berth.log());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    berth.kill9();
    for w in workers {
        w.await.unwrap();
    }
    burst.stop.store(true, Ordering::SeqCst);
    let created = burst.created.lock().unwrap().clone();
    let deleted = burst.deleted.lock().unwrap().clone();
    let cut = burst.unanswered.load(Ordering::SeqCst);
    let maybe_deleted = burst.maybe_deleted.lock().unwrap().clone();
    assert!(cut >= 1, "the kill cut requests in flight (it came mid-burst)");
    eprintln!("answered before the kill: {} creations, {} deletions; {cut} requests cut off", created.len(), deleted.len());

    // restart on the same folder
    {
        let mut conn = open_db(&database);
        assert_eq!(berth::db::integrity_check(&mut conn).unwrap(), "ok");
    }
    let berth = start_berth(&data, &database);
    let mut conn = open_db(&database);
    for uuid in &deleted {
        assert!(!uuid_exists(&mut conn, uuid), "an answered deletion came back: {uuid}");
    }
    let alive: Vec<&(String, String)> = created.iter().filter(|(u, _)| !deleted.contains(u) && !maybe_deleted.contains(u)).collect();
    for (uuid, token) in &alive {
        assert!(uuid_exists(&mut conn, uuid), "an answered creation is lost: {uuid}");
        assert_eq!(registry_status(&berth.url, "alice", token).await, StatusCode::OK, "token {uuid} works after the restart");
    }
    // a deleted token stays refused (a few: wrong tokens count in the IP throttle)
    for (uuid, token) in created.iter().filter(|(u, _)| deleted.contains(u)).take(3) {
        assert_eq!(registry_status(&berth.url, "alice", token).await, StatusCode::UNAUTHORIZED, "deleted token {uuid}");
    }
    let held = assert_counts_reconcile(&mut conn, "alice");
    // whatever the cut-off requests did, they did all of it or none of it
    // (a cut-off deletion's token is outside `alive` and may still be held: it is among `cut`)
    let (low, high) = (alive.len(), alive.len() + cut);
    assert!((low..=high).contains(&(held as usize)), "held {held}, answered alive {}, cut {cut}", alive.len());
    // the API lists what the database holds
    let jwt = api_login(&berth.url, "alice", PASSWORD).await;
    let list: Value = client().get(format!("{}/v2/access-tokens?page_size=1", berth.url)).bearer_auth(&jwt).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["count"].as_i64().unwrap(), held);
    assert_eq!(berth::db::integrity_check(&mut conn).unwrap(), "ok");
}

// ---------------------------------------------------------------------------------------
// A full filesystem

/// A small tmpfs mounted over a temp folder for the length of a test (we are root).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"]).arg(dir.path()).output().expect("mount(8) runs");
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the filesystem refuses; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // the last bytes too: a one-byte write must fail
        while f.write(&[0]).is_ok_and(|n| n == 1) {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // lazy: the test server may still hold the database open
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[actix_web::test]
async fn sqlite_a_full_disk_gives_a_clear_503_changes_nothing_and_berth_recovers_when_space_returns() {
    let disk = SmallDisk::mount("8m");
    let data = disk.path().join("data");
    let mut settings = berth::config::Settings::with_data_dir(data.clone());
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    let app = spawn_on(tempfile::tempdir().unwrap(), settings, berth::clock::ManualClock::starting_now()).await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, berth::accounts::Plan::Team).unwrap();
    let jwt = api_login(&app.url, "alice", PASSWORD).await;
    // a token made before the disk fills
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "before"), ("scope", "repo:read"), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let filler = disk.fill();
    // Until SQLite needs a new page, writes may still fit in pages it already has; it
    // must then refuse with a clear 503, never a 500 and never a half-written token.
    let mut refused_web = None;
    for i in 0..200 {
        let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", &format!("full {i}")), ("scope", "repo:read"), ("expiration", "none")]).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        match status {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                eprintln!("the full disk refused creation {i} (earlier ones fitted in pages SQLite had)");
                refused_web = Some(html);
                break;
            }
            other => panic!("a token creation on a full disk answered {other}:\n{html}"),
        }
    }
    let html = refused_web.expect("the full disk was noticed within 200 creations");
    assert!(html.contains("Berth cannot save changes right now"), "{html}");
    assert!(!html.to_lowercase().contains("sql") && !html.contains(&data.display().to_string()), "no internals: {html}");

    let res = client().post(format!("{}/v2/access-tokens", app.url)).bearer_auth(&jwt).json(&json!({"token_label": "full", "scopes": ["repo:read"]})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["detail"], "Berth cannot save changes right now. Please try again shortly.");

    // reading still works, and what was refused left nothing behind
    let (status, page) = b.get_text("/settings/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("before"));
    {
        let mut conn = app.conn();
        assert_counts_reconcile(&mut conn, "alice");
        assert_eq!(berth::db::integrity_check(&mut conn).unwrap(), "ok");
    }

    // space returns: Berth writes again without a restart
    std::fs::remove_file(filler).unwrap();
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "after"), ("scope", "repo:read"), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = regex::Regex::new(r"berth_pat_[0-9A-Za-z]{38}").unwrap().find(&res.text().await.unwrap()).unwrap().as_str().to_string();
    berth_test_support::audit::secret(&token);
    assert_eq!(registry_status(&app.url, "alice", &token).await, StatusCode::OK);
    let res = client().post(format!("{}/v2/access-tokens", app.url)).bearer_auth(&jwt).json(&json!({"token_label": "after api", "scopes": ["repo:read"]})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut conn = app.conn();
    let held = assert_counts_reconcile(&mut conn, "alice");
    assert!(held >= 3);
    assert_eq!(berth::db::integrity_check(&mut conn).unwrap(), "ok");
    berth_test_support::audit::keep_copy(&data);
}
