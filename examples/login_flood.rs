//! Login flood: N clients sign in continuously with correct passwords, so every request is
//! a full argon2id verification on the server. Used by `scripts/bench-login.sh` to show that
//! hashing does not stall the async workers (`/healthz` stays fast during the flood).
//!
//! ```text
//! cargo run --release --example login_flood -- BASE_URL CLIENTS SECONDS USER_PREFIX USER_COUNT PASSWORD
//! cargo run --release --example login_flood -- http://127.0.0.1:8080 50 35 floodusr 50 'correct horse battery staple'
//! ```
//!
//! Client `i` signs in as `{USER_PREFIX}{(i % USER_COUNT) + 1}`. Each iteration starts with
//! an empty cookie jar: `GET /login` (pre-session cookie + CSRF token), then `POST /login`,
//! expecting `303 See Other` with `Location: /`. Prints the logins done, logins/s, the login
//! latency and a count per status code; exits non-zero if any login was not a 303 (or a
//! request failed, or no login happened at all).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

const SESSION_COOKIE: &str = "berth_session";
/// What an anonymous page hands out instead of a session: the CSRF token is bound to it.
const PRE_SESSION_COOKIE: &str = "berth_presession";

#[derive(Default)]
struct Tally {
    /// Status of each `POST /login` ("303", "401", "429", ...) or "error: ..." for failures.
    login_status: BTreeMap<String, u64>,
    /// Problems before the POST (GET /login failed, no cookie, no token).
    get_problems: BTreeMap<String, u64>,
    /// Wall time of each successful GET+POST pair, in microseconds.
    ok_latencies_us: Vec<u64>,
}

fn usage() -> ExitCode {
    eprintln!("usage: login_flood BASE_URL CLIENTS SECONDS USER_PREFIX USER_COUNT PASSWORD");
    eprintln!("  e.g. login_flood http://127.0.0.1:8080 50 35 floodusr 50 'correct horse battery staple'");
    ExitCode::from(2)
}

/// The `name=VALUE` pair from the response's Set-Cookie headers, if any.
fn cookie_set(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        pair.strip_prefix(name)?.strip_prefix('=').map(|value| format!("{name}={value}"))
    })
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn bump(map: &mut BTreeMap<String, u64>, key: String) {
    *map.entry(key).or_insert(0) += 1;
}

async fn client_loop(client: reqwest::Client, base: Arc<String>, login: String, password: Arc<String>, token_re: Arc<Regex>, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let login_url = format!("{base}/login");
    while Instant::now() < deadline {
        let started = Instant::now();
        // 1. GET /login with no cookie: a fresh pre-session cookie and its CSRF token.
        let page = match client.get(&login_url).send().await {
            Ok(res) => res,
            Err(e) => {
                bump(&mut tally.get_problems, format!("GET /login error: {e}"));
                continue;
            }
        };
        let get_status = page.status().as_u16();
        let cookie = cookie_set(&page, PRE_SESSION_COOKIE);
        let body = match page.text().await {
            Ok(b) => b,
            Err(e) => {
                bump(&mut tally.get_problems, format!("GET /login body error: {e}"));
                continue;
            }
        };
        if get_status != 200 {
            bump(&mut tally.get_problems, format!("GET /login status {get_status}"));
            continue;
        }
        let Some(cookie) = cookie else {
            bump(&mut tally.get_problems, "GET /login set no berth_presession cookie".into());
            continue;
        };
        let Some(token) = token_re.captures(&body).map(|c| c[1].to_string()) else {
            bump(&mut tally.get_problems, "GET /login page has no csrf token".into());
            continue;
        };

        // 2. POST /login with the cookie and token: one full argon2id verification.
        let form = format!("csrf={}&login={}&password={}", form_encode(&token), form_encode(&login), form_encode(&password));
        let res = client.post(&login_url).header(COOKIE, cookie).header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(form).send().await;
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                let location = res.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                let renewed = cookie_set(&res, SESSION_COOKIE).is_some();
                // drain the body so the connection can be reused
                let _ = res.bytes().await;
                if status == 303 && location.as_deref() == Some("/") && renewed {
                    bump(&mut tally.login_status, "303".into());
                    tally.ok_latencies_us.push(started.elapsed().as_micros() as u64);
                } else if status == 303 {
                    bump(&mut tally.login_status, format!("303 (Location {location:?}, new cookie: {renewed})"));
                } else {
                    bump(&mut tally.login_status, status.to_string());
                }
            }
            Err(e) => bump(&mut tally.login_status, format!("error: {e}")),
        }
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, clients, seconds, prefix, count, password] = args.as_slice() else {
        return usage();
    };
    let (Ok(clients), Ok(seconds), Ok(count)) = (clients.parse::<usize>(), seconds.parse::<f64>(), count.parse::<usize>()) else {
        return usage();
    };
    if clients == 0 || count == 0 || seconds <= 0.0 {
        return usage();
    }
    let base = Arc::new(base.trim_end_matches('/').to_string());
    let password = Arc::new(password.clone());
    let token_re = Arc::new(Regex::new(r#"name="csrf"\s+value="([^"]+)""#).expect("valid regex"));

    // One keep-alive client per flood client; cookies are handled by hand so every
    // iteration starts with an empty jar. Redirects are not followed: the 303 is the answer.
    let mut handles = Vec::with_capacity(clients);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    for i in 0..clients {
        let client = reqwest::Client::builder().redirect(Policy::none()).pool_max_idle_per_host(1).timeout(Duration::from_secs(120)).build().expect("an HTTP client");
        let login = format!("{prefix}{}", (i % count) + 1);
        handles.push(tokio::spawn(client_loop(client, base.clone(), login, password.clone(), token_re.clone(), deadline)));
    }
    eprintln!("login_flood: {clients} clients, {seconds} s, users {prefix}1..{prefix}{count}, against {base}");

    let mut total = Tally::default();
    for h in handles {
        let t = h.await.expect("a flood client panicked");
        for (k, v) in t.login_status {
            *total.login_status.entry(k).or_insert(0) += v;
        }
        for (k, v) in t.get_problems {
            *total.get_problems.entry(k).or_insert(0) += v;
        }
        total.ok_latencies_us.extend(t.ok_latencies_us);
    }
    let elapsed = started.elapsed().as_secs_f64();

    let ok = total.login_status.get("303").copied().unwrap_or(0);
    let attempted: u64 = total.login_status.values().sum();
    total.ok_latencies_us.sort_unstable();
    let lat = &total.ok_latencies_us;
    println!("login_flood: elapsed {elapsed:.1} s, clients {clients}");
    println!("login_flood: logins attempted {attempted}, succeeded (303 -> /) {ok}");
    println!("login_flood: logins/s {:.2}", ok as f64 / elapsed);
    println!(
        "login_flood: login latency (GET+POST) p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(lat, 50.0),
        percentile(lat, 90.0),
        percentile(lat, 99.0),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    for (status, n) in &total.login_status {
        println!("login_flood: POST /login status {status}: {n}");
    }
    for (problem, n) in &total.get_problems {
        println!("login_flood: problem: {problem}: {n}");
    }

    let failed = attempted - ok;
    if ok == 0 || failed > 0 || !total.get_problems.is_empty() {
        eprintln!("login_flood: FAILED: {failed} non-303 logins, {} GET problems, {ok} successes", total.get_problems.values().sum::<u64>());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
