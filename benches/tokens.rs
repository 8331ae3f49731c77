//! Token costs that must stay flat as data grows:
//! - `tokens::authenticate` on a database of 1,000 tokens vs 1,000,000;
//! - the overview's queries (one page + the counts) for a user with 10 tokens vs 10,000.
//!
//! Run: `cargo bench --bench tokens`. The datasets are built once with `berth dev seed`'s
//! code and kept in `target/bench-data/` (the 1,000,000-token one takes about a minute).

use std::path::PathBuf;

use berth::accounts::Plan;
use berth::db::DbPool;
use criterion::{Criterion, criterion_group, criterion_main};

const NOW: i64 = 1_800_000_000;

struct Dataset {
    pool: DbPool,
    /// (username, token) pairs to present
    tokens: Vec<(String, String)>,
}

fn dataset(name: &str, users: usize, per_user: usize) -> Dataset {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("{name}.db"));
    let list = dir.join(format!("{name}.tokens"));
    if !db.exists() || !list.exists() {
        let _ = std::fs::remove_file(&db);
        let pool = berth::db::open(db.to_str().unwrap()).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&list).unwrap());
        let spec = berth::dev::SeedSpec { prefix: "bench", users, tokens_per_user: per_user, plan: Plan::Team, password_hash: "unused" };
        berth::dev::seed(&mut pool.get().unwrap(), &spec, NOW - 86_400, Some(&mut out)).unwrap();
        drop(out);
    }
    let pool = berth::db::open(db.to_str().unwrap()).unwrap();
    let text = std::fs::read_to_string(&list).unwrap();
    // every 997th pair: spread over the whole table, 1,000 at most
    let step = (text.lines().count() / 1000).max(1);
    let tokens = text
        .lines()
        .step_by(step)
        .take(1000)
        .map(|l| {
            let (u, t) = l.split_once(' ').unwrap();
            (u.to_string(), t.to_string())
        })
        .collect();
    Dataset { pool, tokens }
}

fn authenticate(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokens::authenticate");
    for (name, users, per_user) in [("tokens-1000", 100, 10), ("tokens-1000000", 100_000, 10)] {
        let d = dataset(name, users, per_user);
        let mut conn = d.pool.get().unwrap();
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let (user, token) = &d.tokens[i % d.tokens.len()];
                i += 1;
                let ok = berth::tokens::authenticate(&mut conn, NOW, user, token, "127.0.0.1", "bench").unwrap();
                assert!(ok.is_some());
            })
        });
    }
    group.finish();
}

fn overview(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokens overview (page + counts)");
    for (name, per_user) in [("user-10-tokens", 10), ("user-10000-tokens", 10_000)] {
        let d = dataset(name, 1, per_user);
        let mut conn = d.pool.get().unwrap();
        let uid = berth::accounts::find_by_username(&mut conn, "bench0").unwrap().unwrap().id;
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = berth::tokens::page(&mut conn, uid, 1, 25).unwrap();
                let counts = berth::tokens::counts(&mut conn, uid, NOW).unwrap();
                assert_eq!(page.len(), per_user.min(25));
                assert_eq!(counts.total(), per_user as i64);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, authenticate, overview);
criterion_main!(benches);
