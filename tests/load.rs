//! Load: 200 concurrent clients for 60 s, each a user of its own (half with
//! 2FA), mixing registry `/token` calls, overview pages, token creations and deletions in
//! the web UI and fresh sign-ins (password, and a TOTP code for 2FA users, each code used
//! once per user per 30-second step; a replayed code is refused). Nothing may answer 5xx or
//! speak of a locked database, and at the end every user's tokens reconcile: seeded +
//! created − deleted = rows = the kept count.
//!
//! `BERTH_LOAD_CLIENTS` and `BERTH_LOAD_SECONDS` change the size (defaults 200 and 60).
//! With `-- --nocapture` it prints throughput and p50/p99 per action; the figures in
//! BENCHMARKS.md come from `cargo test --test load -- --nocapture` (the debug test build,
//! as in CI); `--release` measures a release build the same way.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::accounts::Plan;
use berth::clock::Clock;
use berth_test_support::*;
use diesel::prelude::*;
use regex::Regex;
use reqwest::StatusCode;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Action {
    RegistryToken,
    Overview,
    Create,
    Delete,
    SignIn,
    SignIn2fa,
}

struct User {
    name: String,
    pat: String,
    totp: Option<String>,
    seeded: HashSet<String>,
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<Action, Vec<Duration>>,
    created: i64,
    deleted: i64,
    replays_refused: i64,
    problems: Vec<String>,
}

struct Client {
    app_url: String,
    clock: Arc<berth::clock::ManualClock>,
    user: User,
    browser: Browser,
    csrf: String,
    last_step: i64,
    signed_in_at: Instant,
    rng: u64,
    tally: Tally,
}

impl Client {
    fn random(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n
    }

    fn check(&mut self, what: &str, status: StatusCode, body: &str) -> bool {
        let bad = status.is_server_error() || body.to_lowercase().contains("database is locked");
        if bad {
            self.tally.problems.push(format!("{what} of {}: {status} {}", self.user.name, body.chars().take(300).collect::<String>()));
        }
        !bad
    }

    /// A fresh session: password, then a code of a step this user has not used yet.
    async fn sign_in(&mut self) -> Option<Action> {
        let step = self.clock.now() / 30;
        if self.user.totp.is_some() && step <= self.last_step {
            return None;
        }
        let started = Instant::now();
        let b = load_browser(&self.app_url, "load client");
        let res = b.login(&self.user.name, PASSWORD).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if !self.check("sign-in", status, &body) || status != StatusCode::SEE_OTHER {
            self.tally.problems.push(format!("sign-in of {} answered {status}", self.user.name));
            return None;
        }
        let action = match self.user.totp.clone() {
            None => Action::SignIn,
            Some(secret) => {
                // the code is read off the authenticator now (the password step may have
                // waited for argon2); a step this user has used already means waiting for
                // the next one, as a person would
                let mut now = self.clock.now();
                while now / 30 <= self.last_step {
                    actix_web::rt::time::sleep(Duration::from_millis(250)).await;
                    now = self.clock.now();
                }
                let step = now / 30;
                let code = berth::twofactor::code_at(&secret, now);
                let res = b.second_step(&code).await;
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                if !self.check("2FA step", status, &body) || status != StatusCode::SEE_OTHER {
                    self.tally.problems.push(format!("the code of {} for step {step} was refused ({status})", self.user.name));
                    return None;
                }
                self.last_step = step;
                // the same code again, from another browser: the password step passes and
                // the code page refuses the code (any other answer is a problem, not a refusal)
                let replay = load_browser(&self.app_url, "replay");
                let res = replay.login(&self.user.name, PASSWORD).await;
                let (status, to) = (res.status(), location(&res));
                let body = res.text().await.unwrap_or_default();
                if !self.check("the replay's password step", status, &body) || (status, to.as_str()) != (StatusCode::SEE_OTHER, "/login/2fa") {
                    self.tally.problems.push(format!("the replay's password step for {} answered {status} to {to:?}, not the code page", self.user.name));
                } else {
                    let res = replay.second_step(&code).await;
                    let status = res.status();
                    let body = res.text().await.unwrap_or_default();
                    if status == StatusCode::SEE_OTHER && replay.signed_in().await {
                        self.tally.problems.push(format!("a replayed code signed {} in", self.user.name));
                    } else if status == StatusCode::UNAUTHORIZED && body.contains("That code is not valid") {
                        self.tally.replays_refused += 1;
                    } else if self.check("the replayed code", status, &body) {
                        self.tally.problems.push(format!("the replayed code of {} was answered {status}, not the code page's refusal", self.user.name));
                    }
                }
                Action::SignIn2fa
            }
        };
        self.tally.latencies.entry(action).or_default().push(started.elapsed());
        self.browser = b;
        self.csrf = self.browser.csrf("/settings/tokens/new").await;
        self.signed_in_at = Instant::now();
        Some(action)
    }

    async fn registry_token(&mut self) {
        let url = format!("{}/token?service=registry.local&scope=repository:{}/app:pull,push", self.app_url, self.user.name);
        let res = self.browser.client.get(url).basic_auth(&self.user.name, Some(&self.user.pat)).send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if self.check("/token", status, &body) && status != StatusCode::OK {
            self.tally.problems.push(format!("/token for {} answered {status}: {body}", self.user.name));
        }
    }

    /// The overview; returns the uuids of the tokens this client made that it shows.
    async fn overview(&mut self) -> Vec<String> {
        let (status, html) = self.browser.get_text("/settings/tokens").await;
        if self.check("overview", status, &html) && status != StatusCode::OK {
            self.tally.problems.push(format!("overview of {} answered {status}", self.user.name));
        }
        static UUID: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| Regex::new(r"/settings/tokens/([0-9a-f-]{36})/edit").unwrap());
        let mut own: Vec<String> = UUID.captures_iter(&html).map(|c| c[1].to_string()).filter(|u| !self.user.seeded.contains(u)).collect();
        own.dedup();
        own
    }

    async fn create(&mut self) {
        let n = self.tally.created;
        // as a browser does: open the form (its one-time key), then send it
        let (_, form) = self.browser.get_text("/settings/tokens/new").await;
        let Some(once) = once_in(&form) else {
            self.tally.problems.push(format!("the new-token form of {} has no one-time key", self.user.name));
            return;
        };
        let fields = [("csrf", self.csrf.as_str()), ("once", once.as_str()), ("description", &format!("load {n}")), ("scope", "repo:read"), ("expiration", "30")];
        let res = self.browser.post_raw("/settings/tokens", &fields).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if self.check("create", status, &body) {
            match status {
                StatusCode::CREATED => self.tally.created += 1,
                other => self.tally.problems.push(format!("create for {} answered {other}", self.user.name)),
            }
        }
    }

    async fn delete(&mut self) -> bool {
        let own = self.overview().await;
        let Some(uuid) = own.last().cloned() else { return false };
        let res = self.browser.post_raw(&format!("/settings/tokens/{uuid}/delete"), &[("csrf", self.csrf.as_str())]).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        if self.check("delete", status, &body) {
            match status {
                StatusCode::SEE_OTHER => self.tally.deleted += 1,
                other => self.tally.problems.push(format!("delete for {} answered {other}", self.user.name)),
            }
        }
        true
    }

    async fn run(mut self, until: Instant) -> (User, Tally) {
        if self.sign_in().await.is_none() {
            return (self.user, self.tally);
        }
        while Instant::now() < until {
            let roll = self.random(100);
            let started = Instant::now();
            let action = match roll {
                0..50 => {
                    self.registry_token().await;
                    Action::RegistryToken
                }
                50..70 => {
                    self.overview().await;
                    Action::Overview
                }
                70..82 => {
                    self.create().await;
                    Action::Create
                }
                82..94 => {
                    if !self.delete().await {
                        continue;
                    }
                    Action::Delete
                }
                _ => {
                    // a fresh sign-in at most every 20 s per client (each is a full argon2)
                    if self.signed_in_at.elapsed() > Duration::from_secs(20) {
                        self.sign_in().await;
                    }
                    continue;
                }
            };
            self.tally.latencies.entry(action).or_default().push(started.elapsed());
        }
        (self.user, self.tally)
    }
}

/// A cookie-keeping client that drops a pooled connection idle for 3 s: the server closes
/// idle connections after 5 s (actix's keep-alive), and a request sent on a connection the
/// server is closing at that moment fails on the client's side without reaching Berth.
fn load_browser(base: &str, agent: &str) -> Browser {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .pool_idle_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    Browser { client, base: base.to_string(), jar }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

#[actix_web::test]
async fn two_hundred_clients_for_a_minute_get_no_5xx_no_locked_database_and_counts_reconcile() {
    let clients = setting("BERTH_LOAD_CLIENTS", 200) as usize;
    let seconds = setting("BERTH_LOAD_SECONDS", 60);
    let app = spawn_app_with(|s| {
        // every client comes from 127.0.0.1: the per-IP limit would stop the replays
        s.throttle.ip_failures = 1_000_000;
        s.workers = 2;
    })
    .await;
    // the clock moves with the wall clock, one second a second (TOTP steps pass)
    let clock = app.clock.clone();
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            clock.advance(1);
        }
    });

    // the users: seeded with one shared password hash and two PATs each; half turn 2FA on
    let hash = berth::accounts::password::hash(&PASSWORD.to_string().into());
    let spec = berth::dev::SeedSpec { prefix: "load", users: clients, tokens_per_user: 2, plan: Plan::Team, password_hash: &hash };
    let mut out = Vec::new();
    berth::dev::seed(&mut app.conn(), &spec, app.state.now(), Some(&mut out)).unwrap();
    let mut pats: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let (user, token) = line.split_once(' ').unwrap();
        audit::secret(token);
        pats.insert(user.to_string(), token.to_string());
    }
    let mut users = Vec::new();
    for (i, (name, pat)) in pats.into_iter().enumerate() {
        let mut conn = app.conn();
        let account = berth::accounts::find_by_username(&mut conn, &name).unwrap().unwrap();
        let totp = if i % 2 == 0 {
            // enrolment takes the code of a step before the test's: every step of the run is fresh
            let now = app.state.now() - 60;
            berth::twofactor::begin_enrolment(&mut conn, &app.state.keys, &account, berth::twofactor::DEFAULT_LABEL, now).unwrap();
            let account = berth::accounts::find_by_username(&mut conn, &name).unwrap().unwrap();
            let secret = berth::twofactor::pending_enrolment(&mut conn, &app.state.keys, &account).unwrap().unwrap().secret_base32;
            berth::twofactor::confirm_enrolment(&mut conn, &app.state.keys, &account, &berth::twofactor::code_at(&secret, now), now).unwrap().expect("2FA on");
            audit::secret(&secret);
            Some(secret)
        } else {
            None
        };
        let seeded: HashSet<String> = berth::tokens::page(&mut conn, account.id, 1, 100).unwrap().into_iter().map(|t| t.uuid).collect();
        users.push(User { name, pat, totp, seeded });
    }

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (i, user) in users.into_iter().enumerate() {
        let client = Client {
            app_url: app.url.clone(),
            clock: app.clock.clone(),
            browser: load_browser(&app.url, "load client"),
            user,
            csrf: String::new(),
            last_step: i64::MIN,
            signed_in_at: Instant::now(),
            rng: 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
            tally: Tally::default(),
        };
        tasks.push(actix_web::rt::spawn(client.run(until)));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();

    // the figures
    let mut all: BTreeMap<Action, Vec<Duration>> = BTreeMap::new();
    let mut problems = Vec::new();
    let (mut created, mut deleted, mut replays) = (0, 0, 0);
    for (_, tally) in &results {
        for (action, l) in &tally.latencies {
            all.entry(*action).or_default().extend(l);
        }
        problems.extend(tally.problems.iter().cloned());
        created += tally.created;
        deleted += tally.deleted;
        replays += tally.replays_refused;
    }
    let total: usize = all.values().map(Vec::len).sum();
    eprintln!(
        "load: {clients} clients, {elapsed:.1} s, {total} actions ({:.0}/s); {created} tokens created, {deleted} deleted, {replays} replayed codes refused",
        total as f64 / elapsed
    );
    eprintln!("| action | count | per second | p50 ms | p99 ms |");
    eprintln!("|---|---:|---:|---:|---:|");
    for (action, l) in all.iter_mut() {
        l.sort();
        eprintln!(
            "| {action:?} | {} | {:.1} | {:.1} | {:.1} |",
            l.len(),
            l.len() as f64 / elapsed,
            percentile(l, 0.5).as_secs_f64() * 1e3,
            percentile(l, 0.99).as_secs_f64() * 1e3
        );
    }
    assert!(problems.is_empty(), "{} problems, first ones:\n{}", problems.len(), problems.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
    // every kind of action really happened, many times
    for action in [Action::RegistryToken, Action::Overview, Action::Create, Action::Delete, Action::SignIn, Action::SignIn2fa] {
        assert!(all.get(&action).is_some_and(|l| l.len() >= clients / 4), "too few {action:?}: {:?}", all.get(&action).map(Vec::len));
    }
    assert!(replays >= (clients / 2) as i64, "every 2FA user's replayed code was refused");

    // counts reconcile, user by user and in total: the kept count against the stored rows,
    // read from the tables (`tokens::counts` trusts the kept count)
    let mut conn = app.conn();
    use berth::db::schema::{access_tokens, owners};
    for (user, tally) in &results {
        let (id, kept): (i32, i64) = owners::table.filter(owners::name.eq(&user.name)).select((owners::id, owners::token_count)).first(&mut conn).unwrap();
        let rows: i64 = access_tokens::table.filter(access_tokens::owner_id.eq(id)).count().get_result(&mut conn).unwrap();
        let expected = user.seeded.len() as i64 + tally.created - tally.deleted;
        assert_eq!((rows, kept), (expected, expected), "{}: rows and kept count vs seeded + created − deleted", user.name);
    }
    let held: i64 = access_tokens::table.count().get_result(&mut conn).unwrap();
    assert_eq!(held, 2 * clients as i64 + created - deleted);
    assert_eq!(berth::db::integrity_check(&mut conn).unwrap(), "ok");
}
