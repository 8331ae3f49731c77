//! `berth migrate-to`: a SQLite Berth moved to PostgreSQL by the real binary, then served
//! from PostgreSQL on the same data folder (the same master key). These need the test
//! PostgreSQL server in either run of the suite: the target is always `fresh_postgres()`,
//! and the source always a SQLite file.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_test_support::database::fresh_postgres;
use berth_test_support::process::BerthProcess;
use berth_test_support::*;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn berth_command() -> Command {
    berth_test_support::berth_command(env!("CARGO_BIN_EXE_berth"))
}

/// A data folder whose database is a SQLite file, whatever the suite's backend.
struct SqliteBerth {
    dir: tempfile::TempDir,
}

impl SqliteBerth {
    fn new() -> SqliteBerth {
        SqliteBerth { dir: audit::tempdir() }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn database(&self) -> String {
        self.data().join("berth.db").display().to_string()
    }

    /// `berth ARGS` on this folder, `stdin` typed in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_with(args, stdin, &[])
    }

    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut child = berth_command()
            .args(args)
            .env("BERTH_DATA", self.data())
            .env("BERTH_DATABASE_URL", self.database())
            .env_remove("RUST_LOG")
            .env_remove("PGPASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // a command that fails before reading its input closes the pipe
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().chain(String::from_utf8_lossy(&out.stderr).lines()).for_each(audit::log_line);
        out
    }

    /// `berth serve` on this folder, once it listens.
    fn serve(&self) -> BerthProcess {
        BerthProcess::start(env!("CARGO_BIN_EXE_berth"), &self.data(), &self.database(), "127.0.0.1:0", &[])
    }

    fn add_user(&self, name: &str) {
        let out = self.run(&["user", "add", name, "--email", &format!("{name}@example.com"), "--password-stdin"], &format!("{PASSWORD}\n"));
        assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `berth migrate-to TARGET`: its standard output when it succeeds.
    fn migrate(&self, target: &str) -> String {
        self.migrate_with(target, &[])
    }

    fn migrate_with(&self, target: &str, env: &[(&str, &str)]) -> String {
        let out = self.run_with(&["migrate-to", target], "", env);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
        assert!(out.status.success(), "migrate-to failed: {stderr}");
        assert_prints_no_secret(&format!("{stdout}{stderr}"), target);
        stdout
    }

    /// `berth migrate-to TARGET` refused: its error line, which must hold `message`.
    fn refused(&self, target: &str, message: &str) -> String {
        let out = self.run(&["migrate-to", target], "");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "migrate-to should have been refused: {}", String::from_utf8_lossy(&out.stdout));
        assert!(stderr.contains(message), "expected {message:?} in {stderr:?}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_prints_no_secret(&stderr, target);
        stderr
    }
}

/// What the command printed holds no password of the target's URL (either form) and no
/// stored secret.
fn assert_prints_no_secret(printed: &str, target: &str) {
    let in_url = url::Url::parse(target).ok().and_then(|u| u.password().map(str::to_string));
    let in_keywords = target.split_whitespace().find_map(|w| w.strip_prefix("password=")).map(str::to_string);
    for password in in_url.into_iter().chain(in_keywords).filter(|p| !p.is_empty()) {
        assert!(!printed.contains(&password), "the URL's password was printed: {printed}");
    }
    for stored in ["$argon2", "\\x"] {
        assert!(!printed.contains(stored), "a stored value was printed: {printed}");
    }
}

/// The tables src/db/schema.rs declares.
fn schema_tables() -> BTreeSet<String> {
    let schema = include_str!("../src/db/schema.rs");
    regex::Regex::new(r"diesel::table!\s*\{\s*(\w+)\s*\(").unwrap().captures_iter(schema).map(|c| c[1].to_string()).collect()
}

/// The `  table  rows` lines of migrate-to's report, in its order.
fn reported(stdout: &str) -> Vec<(String, i64)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(|l| {
            let (table, rows) = l.split_once(' ').unwrap();
            (table.to_string(), rows.trim().parse().unwrap())
        })
        .collect()
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn sqlite(database: &str) -> SqliteConnection {
    SqliteConnection::establish(database).unwrap()
}

fn pg(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap()
}

/// Berth's tables in the PostgreSQL database (diesel's record of migrations aside).
fn pg_tables(url: &str) -> BTreeSet<String> {
    let rows: Vec<Text> = diesel::sql_query("SELECT tablename::text AS text FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__diesel_schema_migrations'")
        .load(&mut pg(url))
        .unwrap();
    rows.into_iter().map(|r| r.text).collect()
}

fn sqlite_tables(database: &str) -> BTreeSet<String> {
    let rows: Vec<Text> = diesel::sql_query("SELECT name AS text FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'")
        .load(&mut sqlite(database))
        .unwrap();
    rows.into_iter().map(|r| r.text).collect()
}

fn count_pg(url: &str, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result::<Count>(&mut pg(url)).unwrap().n
}

fn count_sqlite(database: &str, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result::<Count>(&mut sqlite(database)).unwrap().n
}

/// Every row of `table` in both databases, each as a JSON array of its values as text
/// (bytes as lower-case hex, booleans as 0 and 1), sorted: an oracle written apart from the
/// copy's own SQL, comparing every column byte for byte.
fn rows_of_both(database: &str, url: &str, table: &str) -> (Vec<Value>, Vec<Value>) {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
    }
    let cols: Vec<Col> = diesel::sql_query(format!(
        "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY column_name"
    ))
    .load(&mut pg(url))
    .unwrap();
    assert!(!cols.is_empty(), "{table} has columns");
    let in_sqlite = cols.iter().map(|c| format!("CASE typeof({0}) WHEN 'blob' THEN lower(hex({0})) WHEN 'null' THEN NULL ELSE CAST({0} AS TEXT) END", c.name)).collect::<Vec<_>>();
    let in_pg = cols
        .iter()
        .map(|c| match c.kind.as_str() {
            "bytea" => format!("encode({}, 'hex')", c.name),
            "boolean" => format!("({}::int)::text", c.name),
            _ => format!("{}::text", c.name),
        })
        .collect::<Vec<_>>();
    let parse = |rows: Vec<Text>| {
        let mut v: Vec<Value> = rows.into_iter().map(|r| serde_json::from_str(&r.text).unwrap()).collect();
        v.sort_by_key(|r| r.to_string());
        v
    };
    let ours: Vec<Text> = diesel::sql_query(format!("SELECT json_array({}) AS text FROM {table}", in_sqlite.join(", "))).load(&mut sqlite(database)).unwrap();
    let theirs: Vec<Text> = diesel::sql_query(format!("SELECT json_build_array({})::text AS text FROM {table}", in_pg.join(", "))).load(&mut pg(url)).unwrap();
    (parse(ours), parse(theirs))
}

fn assert_same_rows(database: &str, url: &str, table: &str) {
    let (ours, theirs) = rows_of_both(database, url, table);
    assert_eq!(ours.len(), theirs.len(), "{table}: row counts differ");
    assert!(ours == theirs, "{table}: the rows differ between SQLite and PostgreSQL");
}

fn token_in(html: &str) -> String {
    regex::Regex::new(r#"<code id="token">(berth_pat_[0-9A-Za-z]{38})</code>"#).unwrap().captures(html).expect("the token is on the page")[1].to_string()
}

async fn create_token(b: &Browser, description: &str, scope: &str) -> String {
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", description), ("scope", scope), ("expiration", "none")]).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
    let token = token_in(&res.text().await.unwrap());
    audit::secret(&token);
    token
}

/// `GET /token` with Basic `user:secret` for `scope`.
async fn registry_token(app: &TestApp, user: &str, secret: &str, scope: &str) -> StatusCode {
    let url = format!("{}/token?service=registry.local&scope={scope}", app.url);
    reqwest::Client::new().get(url).basic_auth(user, Some(secret)).send().await.unwrap().status()
}

/// The `kid` of the registry token `/token` signs for `user` with `secret`: which signing
/// key signs.
async fn signing_kid(app: &TestApp, user: &str, secret: &str) -> String {
    use base64::Engine;
    let url = format!("{}/token?service=registry.local&scope=repository:{user}/app:pull", app.url);
    let body: Value = reqwest::Client::new().get(url).basic_auth(user, Some(secret)).send().await.unwrap().json().await.unwrap();
    let header = body["token"].as_str().unwrap().split('.').next().unwrap().to_string();
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn api(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(format!("{}{path}", app.url)).json(&body).send().await.unwrap()
}

/// The same browser, cookies and all, pointed at another server (cookies ignore the port).
fn moved(b: &Browser, to: &TestApp) -> Browser {
    Browser { client: b.client.clone(), base: to.url.clone(), jar: b.jar.clone() }
}

fn max_id(url: &str, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT coalesce(max(id), 0)::bigint AS n FROM {table}")).get_result::<Count>(&mut pg(url)).unwrap().n
}

#[actix_web::test]
async fn a_sqlite_berth_moved_to_postgresql_keeps_every_row_and_its_people_sign_in_as_before() {
    // a SQLite Berth with a row in every table, made the way people make them
    let app = spawn_app_with(|s| s.database_url = s.data_dir.join("berth.db").display().to_string()).await;
    let (alice, secret, codes) = app.with_2fa("alice").await;
    let bob = app.signed_up("bobby").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("bobby").id, berth::accounts::Plan::Pro).unwrap();
    let pull_token = create_token(&bob, "CI pulls", "repo:read").await;
    let push_token = create_token(&bob, "CI pushes", "repo:write").await;
    // a use of each (their last use), and a push that records the repository bobby/app
    assert_eq!(registry_token(&app, "bobby", &pull_token, "repository:bobby/app:pull").await, StatusCode::OK);
    assert_eq!(registry_token(&app, "bobby", &push_token, "repository:bobby/app:pull,push").await, StatusCode::OK);
    let kid = signing_kid(&app, "bobby", &pull_token).await;
    // a JSON API sign-in of alice waiting for her second factor
    let res = api(&app, "/v2/users/login", json!({ "username": "alice", "password": PASSWORD })).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.json::<Value>().await.unwrap()["login_2fa_token"].as_str().unwrap().to_string();
    audit::secret(&challenge);
    let database = app.settings.database_url.clone();
    // a SQLite Berth is one process and keeps its throttle and rate counts in memory; a row
    // of each table, as an instance on PostgreSQL writes them, still proves their copy (an
    // address of no client here, and a reservation already expired, so they refuse no one)
    let now = berth::clock::Clock::now(&*app.clock);
    let rows = format!(
        "INSERT INTO throttle_accounts (account, failures, last_failure) VALUES ('name:ghost', 2, {now}); \
         INSERT INTO throttle_ip_failures (ip, at) VALUES ('192.0.2.7', {now}); \
         INSERT INTO throttle_reservations (account, ip, expires_at) VALUES (NULL, '192.0.2.7', {}); \
         INSERT INTO rate_windows (caller, window_start, hits) VALUES ('ip:192.0.2.7', {now}, 3);",
        now - 60
    );
    diesel::connection::SimpleConnection::batch_execute(&mut sqlite(&database), &rows).unwrap();
    // an organization with a member, a team holding a permission, an open invitation, its
    // audit log, an access token; a collaborator; a reserved name
    let org_token = {
        use berth::orgs::{self, Actor};
        let c = &mut app.conn();
        let (alice, bobby) = (app.user("alice"), app.user("bobby"));
        let acme = orgs::create(c, "acme", &alice, berth::accounts::Plan::Team, &Actor::cli(), now).unwrap();
        orgs::add_member(c, &acme, &bobby, berth::owners::Role::Member, None, &Actor::cli(), now).unwrap();
        berth::repositories::create(c, &acme, "app", false, now).unwrap();
        let team = orgs::teams::create(c, &acme, "devs", "", &Actor::cli(), now).unwrap();
        orgs::teams::add_member(c, &acme, &team, "bobby", &Actor::cli(), now).unwrap();
        orgs::teams::set_permission(c, &acme, &team, "app", berth::owners::Permission::Read, &Actor::cli(), now).unwrap();
        let beta = orgs::create(c, "beta", &alice, berth::accounts::Plan::Team, &Actor::cli(), now).unwrap();
        orgs::invitations::invite(c, &beta, "bobby", berth::owners::Role::Member, None, &alice, &Actor::cli(), now, false).unwrap();
        berth::repositories::sharing::add(c, &app.owner("bobby"), "bobby/app", "alice", berth::owners::Permission::Read, now).unwrap();
        berth::owners::reserve(c, "gone", now).unwrap();
        // the registry's events: an index pushed with a tag (a manifest, a tag, a taken id),
        // then pulled (the client's index pull)
        let (index, pushed) = (format!("sha256:{}", "1".repeat(64)), "application/vnd.oci.image.index.v1+json");
        let batch = serde_json::json!({"events": [
            {"id": "push-1", "action": "push", "target": {"mediaType": pushed, "digest": index, "size": 300, "repository": "acme/app", "tag": "v1"}, "actor": {"name": "alice"}},
            {"id": "pull-1", "action": "pull", "target": {"mediaType": pushed, "digest": index, "repository": "acme/app", "tag": "v1"}, "request": {"method": "GET", "addr": "10.0.0.1:1", "useragent": "docker"}},
        ]});
        let events = berth::registry_events::parse_batch(&serde_json::to_vec(&batch).unwrap()).unwrap();
        berth::registry_events::ingest(c, &events.events, &app.url, now).unwrap();
        // a webhook (its secret sealed) and a delivery queued by a push
        let hooked = berth::repositories::managed_by(c, bobby.id, "bobby/app").unwrap();
        let parsed = berth::webhooks::address::parse("https://ci.example.com/hooks/berth").unwrap();
        let url = berth::webhooks::address::check(parsed, vec!["93.184.216.34:443".parse().unwrap()], false).unwrap();
        berth::webhooks::add(c, &app.state.keys, bobby.id, &hooked, "CI", &url, now).unwrap();
        let push = berth::webhooks::delivery::Push {
            repository: "bobby/app".into(),
            tag: Some("v1".into()),
            digest: format!("sha256:{}", "0".repeat(64)),
            pusher: "bobby".into(),
            pushed_at: now,
        };
        berth::webhooks::delivery::on_push(c, &push, &app.url, now).unwrap();
        let requested = [berth::org_tokens::Requested { kind: "TYPE_REPO".into(), path: "acme/app".into(), scopes: vec!["scope-image-pull".into()] }];
        let resources = berth::org_tokens::Resources::parse("acme", &requested).unwrap();
        let new = berth::org_tokens::NewOrgToken { label: "CI of acme".into(), description: "pulls the app".into(), resources, expires_at: Some(now + 86_400) };
        let (_, plain) = berth::org_tokens::create(c, acme.id, &alice, new, &Actor::cli(), now).unwrap();
        audit::secret(plain.expose());
        plain.expose().to_string()
    };
    // its use: its last use and an entry in the audit log
    assert_eq!(registry_token(&app, "acme", &org_token, "repository:acme/app:pull").await, StatusCode::OK);
    for table in schema_tables() {
        assert!(count_sqlite(&database, &table) > 0, "the SQLite Berth holds no row of {table}: give this test one, so that its copy is proven");
    }
    let (status, overview) = bob.get_text("/settings/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(overview.contains("CI pulls") && overview.contains("CI pushes") && overview.contains("used-from"), "{overview}");
    let (_, activity) = bob.get_text("/settings/activity").await;
    let (_, repositories) = bob.get_text("/repositories").await;
    assert!(repositories.contains("bobby/app"));

    // stopped, moved by the binary
    let TestApp { dir, clock, settings, server, .. } = app;
    server.stop(true).await;
    let target = fresh_postgres();
    let berth = SqliteBerth { dir };
    let stdout = berth.migrate(&target);

    // every table of the schema was copied, and counted the same in both
    let report = reported(&stdout);
    let copied: BTreeSet<String> = report.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(copied, schema_tables(), "the tables copied are those of src/db/schema.rs");
    assert_eq!(pg_tables(&target), schema_tables(), "PostgreSQL's migrations make the tables of src/db/schema.rs");
    assert_eq!(sqlite_tables(&database), schema_tables(), "SQLite's migrations make the tables of src/db/schema.rs");
    for (table, rows) in &report {
        assert_eq!((*rows, count_pg(&target, table)), (count_sqlite(&database, table), *rows), "{table}");
        assert_same_rows(&database, &target, table);
    }
    let shown = berth::db::shown(&target);
    assert!(stdout.contains(&format!("next: set BERTH_DATABASE_URL='{shown}' ")), "{stdout}");
    assert!(stdout.contains("master.key"), "{stdout}");

    // served from PostgreSQL on the same data folder
    let old_max: Vec<(&str, i64)> = ["users", "owners", "access_tokens", "activity", "throttle_ip_failures"].into_iter().map(|t| (t, max_id(&target, t))).collect();
    let mut on_pg = settings.clone();
    on_pg.database_url = target.clone();
    let app = spawn_on(berth.dir, on_pg, clock).await;
    let bob = moved(&bob, &app);
    // bob's session from before still works, and his pages read as before: tokens with their
    // last use, his activity, his repository
    assert!(bob.signed_in().await, "the session cookie from before the move is still signed in");
    assert_eq!(bob.get_text("/settings/tokens").await.1, overview);
    assert_eq!(bob.get_text("/settings/activity").await.1, activity);
    assert_eq!(bob.get_text("/repositories").await.1, repositories);
    assert_eq!(signing_kid(&app, "bobby", &pull_token).await, kid, "the same signing key signs: the registry's bundle still holds it");
    // his tokens authenticate (their hashes came byte for byte), at /token and the JSON API
    assert_eq!(registry_token(&app, "bobby", &pull_token, "repository:bobby/app:pull").await, StatusCode::OK);
    assert_eq!(
        registry_token(&app, "bobby", &format!("{}{}", &pull_token[..pull_token.len() - 1], if pull_token.ends_with('x') { 'y' } else { 'x' }), "repository:bobby/app:pull").await,
        StatusCode::UNAUTHORIZED,
        "a wrong token is still refused"
    );
    assert_eq!(api(&app, "/v2/users/login", json!({ "username": "bobby", "password": push_token })).await.status(), StatusCode::OK);
    assert_eq!(registry_token(&app, "acme", &org_token, "repository:acme/app:pull").await, StatusCode::OK, "and the organization's token");
    // alice's password, a code of her authenticator (the sealed secret opens with the same
    // master key), and a recovery code
    let b = app.browser();
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/login/2fa");
    b.second_step(&app.fresh_code(&secret)).await;
    assert!(b.signed_in().await, "password and TOTP code");
    let b = app.browser();
    b.login("alice", PASSWORD).await;
    b.second_step(&codes[0]).await;
    assert!(b.signed_in().await, "password and recovery code");
    assert!(moved(&alice, &app).signed_in().await, "alice's session from before");
    // the JSON API challenge from before the move completes with a code
    let res = api(&app, "/v2/users/2fa-login", json!({ "login_2fa_token": challenge, "code": app.fresh_code(&secret) })).await;
    assert_eq!(res.status(), StatusCode::OK, "the login challenge was copied");

    // new rows get fresh ids
    create_token(&bob, "after the move", "repo:admin").await;
    let refused = app.browser().login("nobody", "a wrong password").await.status();
    assert!(refused.is_client_error(), "a wrong password is refused and counted: {refused}");
    app.signed_up("carola").await;
    for (table, before) in old_max {
        assert!(max_id(&target, table) > before, "{table}: a new row after the move got a fresh id");
    }
    assert_eq!(count_pg(&target, "users"), 3);
}

#[actix_web::test]
async fn a_database_larger_than_one_batch_is_copied_whole_and_byte_for_byte() {
    let berth = SqliteBerth::new();
    // 2 500 tokens: three batches of the copy, the last one partial
    let out = berth.run(&["dev", "seed", "--users", "25", "--tokens-per-user", "100", "--prefix", "load"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = fresh_postgres();
    let report = reported(&berth.migrate(&target));
    assert!(report.contains(&("access_tokens".to_string(), 2500)), "{report:?}");
    assert!(report.contains(&("users".to_string(), 25)), "{report:?}");
    for table in ["users", "owners", "access_tokens"] {
        assert_same_rows(&berth.database(), &target, table);
    }
}

#[test]
fn a_target_holding_berth_rows_is_refused_naming_the_table_and_left_as_it_was() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    // a Berth on PostgreSQL already, with one user
    let target = fresh_postgres();
    let other = SqliteBerth::new();
    let out = other.run_with(&["user", "add", "zedd", "--email", "zedd@example.com", "--password-stdin"], &format!("{PASSWORD}\n"), &[("BERTH_DATABASE_URL", &target)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before: Vec<(String, i64)> = pg_tables(&target).into_iter().map(|t| (t.clone(), count_pg(&target, &t))).collect();
    berth.refused(&target, "the target is not empty: table users holds 1 row(s)");
    let after: Vec<(String, i64)> = pg_tables(&target).into_iter().map(|t| (t.clone(), count_pg(&target, &t))).collect();
    assert_eq!(before, after, "nothing changed in the target");
    let names: Vec<Text> = diesel::sql_query("SELECT username AS text FROM users").load(&mut pg(&target)).unwrap();
    assert_eq!(names.into_iter().map(|n| n.text).collect::<Vec<_>>(), ["zedd"]);
}

#[test]
fn a_database_of_something_else_is_refused_and_gets_no_berth_table() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    let target = fresh_postgres();
    diesel::sql_query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)").execute(&mut pg(&target)).unwrap();
    berth.refused(&target, "holds tables that are not Berth's (invoices)");
    let tables: Vec<Text> = diesel::sql_query("SELECT tablename::text AS text FROM pg_tables WHERE schemaname = current_schema()").load(&mut pg(&target)).unwrap();
    assert_eq!(tables.into_iter().map(|t| t.text).collect::<Vec<_>>(), ["invoices"], "no migration ran");
}

#[test]
fn migrate_to_is_refused_while_a_server_runs_on_the_sqlite_database_and_copies_once_it_stopped() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    let mut server = berth.serve();
    let target = fresh_postgres();
    berth.refused(&target, "Berth is in use on");
    assert!(pg_tables(&target).is_empty(), "the target was not touched");
    // a second server on the same file is allowed, as before; the copy waits for both
    let mut second = berth.serve();
    assert!(server.terminate(Duration::from_secs(30)), "stopped as a service manager stops it: {}", server.log());
    berth.refused(&target, "stop every Berth server on this database");
    second.kill9();
    let report = reported(&berth.migrate(&target));
    assert!(report.contains(&("users".to_string(), 1)), "{report:?}");
}

#[test]
fn berth_serve_and_user_commands_refuse_while_a_copy_holds_the_sqlite_database() {
    use std::os::unix::io::AsRawFd;
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    // what migrate-to holds while it copies
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(format!("{}.lock", berth.database())).unwrap();
    // SAFETY: flock only reads the descriptor `lock` keeps open
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let mut child = berth_command()
        .arg("serve")
        .env("BERTH_DATA", berth.data())
        .env("BERTH_DATABASE_URL", berth.database())
        .env("BERTH_BIND", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth serve started while the database was being copied");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("`berth migrate-to` is copying") && stderr.contains("wait until it is done"), "{stderr}");
    // nor does a command that writes: its change would be lost to the copy
    let out = berth.run(&["user", "add", "bobby", "--email", "bobby@example.com", "--password-stdin"], &format!("{PASSWORD}\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("`berth migrate-to` is copying"), "{stderr}");
    assert_eq!(count_sqlite(&berth.database(), "users"), 1, "bobby was not added");
    // once the copy is over, both work
    drop(lock);
    berth.add_user("bobby");
    berth.serve();
}

#[test]
fn only_a_postgresql_target_is_taken_and_no_url_is_repeated() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    for target in ["mysql://berth:hunter2secret@db/berth", "/srv/berth/other.db", "sqlite:///srv/berth.db", ""] {
        let err = berth.refused(target, "migrate-to copies into PostgreSQL: give a postgres:// or postgresql:// URL, or libpq's keyword form");
        assert!(target.is_empty() || !err.contains(target), "{err}");
        assert!(!err.contains("hunter2secret"), "{err}");
    }
}

#[test]
fn a_target_in_libpq_keyword_form_is_taken_with_its_password_inline_or_from_pgpassword() {
    let target = url::Url::parse(&fresh_postgres()).unwrap();
    let keywords = format!("host={} port={} user={} dbname={}", target.host_str().unwrap(), target.port().unwrap(), target.username(), &target.path()[1..]);
    let password = target.password().unwrap().to_string();
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    let inline = format!("{keywords} password={password}");
    let stdout = berth.migrate(&inline);
    assert!(stdout.contains(&format!("BERTH_DATABASE_URL='{keywords}'")), "{stdout}");
    // the password left out of the command line, as the help advises
    let other = SqliteBerth::new();
    other.add_user("bobby");
    let elsewhere = url::Url::parse(&fresh_postgres()).unwrap();
    let keywords = format!("host={} port={} user={} dbname={}", elsewhere.host_str().unwrap(), elsewhere.port().unwrap(), elsewhere.username(), &elsewhere.path()[1..]);
    let report = reported(&other.migrate_with(&keywords, &[("PGPASSWORD", elsewhere.password().unwrap())]));
    assert!(report.contains(&("users".to_string(), 1)), "{report:?}");
}

#[test]
fn a_missing_source_is_refused_and_nothing_is_created() {
    let berth = SqliteBerth::new();
    let target = fresh_postgres();
    berth.refused(&target, &format!("no SQLite database at {}", berth.database()));
    assert!(!berth.data().exists(), "no data folder was made");
    assert!(pg_tables(&target).is_empty(), "the target was not touched");
}

#[test]
fn a_berth_already_on_postgresql_is_refused_as_a_source() {
    let berth = SqliteBerth::new();
    let source = fresh_postgres();
    let out = berth.run_with(&["migrate-to", &fresh_postgres()], "", &[("BERTH_DATABASE_URL", &source)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("this Berth's database is PostgreSQL already"), "{stderr}");
    assert_prints_no_secret(&stderr, &source);
}

#[test]
fn a_sqlite_database_older_than_this_berth_is_refused_and_left_unchanged() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    let mut conn = sqlite(&berth.database());
    diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)").execute(&mut conn).unwrap();
    drop(conn);
    let before = std::fs::read(berth.database()).unwrap();
    let target = fresh_postgres();
    berth.refused(&target, "is not up to date with this Berth (1 migration(s) to apply)");
    assert_eq!(std::fs::read(berth.database()).unwrap(), before, "the source was only read");
    assert!(pg_tables(&target).is_empty(), "the target was not touched");
}

#[test]
fn a_copy_that_fails_halfway_leaves_the_target_empty_and_can_run_again() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    berth.add_user("bobby");
    let target = fresh_postgres();
    // a migrated, empty target whose activity table refuses rows: users and owners are
    // copied before it fails (users first, the table every other one names)
    drop(berth::db::open(&target).unwrap());
    let mut conn = pg(&target);
    // (a constraint, not a trigger: the copy turns the tables' own triggers off)
    diesel::sql_query("ALTER TABLE activity ADD CONSTRAINT refused_by_the_test CHECK (false)").execute(&mut conn).unwrap();
    let err = berth.refused(&target, "nothing was copied into");
    assert!(err.contains("copying table activity") && err.contains("refused_by_the_test"), "{err}");
    for table in pg_tables(&target) {
        assert_eq!(count_pg(&target, &table), 0, "{table} is empty after the failed copy");
    }
    diesel::sql_query("ALTER TABLE activity DROP CONSTRAINT refused_by_the_test").execute(&mut conn).unwrap();
    let report = reported(&berth.migrate(&target));
    assert!(report.contains(&("users".to_string(), 2)) && report.contains(&("activity".to_string(), 2)), "{report:?}");
    assert_same_rows(&berth.database(), &target, "users");
}

#[test]
fn the_report_lists_each_table_after_the_tables_it_names() {
    let berth = SqliteBerth::new();
    berth.add_user("alice");
    let report = reported(&berth.migrate(&fresh_postgres()));
    let order: Vec<&str> = report.iter().map(|(t, _)| t.as_str()).collect();
    let at = |t: &str| order.iter().position(|o| *o == t).unwrap_or_else(|| panic!("{t} is not in {order:?}"));
    for names_users in ["activity", "owners", "recovery_codes", "second_factors", "sessions"] {
        assert!(at("users") < at(names_users), "{order:?}");
    }
    assert!(at("owners") < at("access_tokens") && at("owners") < at("repositories"), "{order:?}");
}
