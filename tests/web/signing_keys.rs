//! What every instance on one database shares: the master key (checked against the
//! database) and the registry signing key (kept in it), rotated in two steps through the
//! command line while the servers run. The real registry's view of a rotation is in
//! tests/registry.rs.

use std::sync::{Arc, Barrier};

use base64::Engine;
use berth::accounts::Plan;
use berth::registry::keys::RECHECK_SECONDS;
use berth::tokens::{self, NewToken, Scope};
use reqwest::StatusCode;
use serde_json::Value;

use berth_test_support::*;

/// `berth ARGS` as an operator runs it beside the running `app`: its data folder and
/// database, nothing else from this process's environment. Returns what it printed.
async fn berth(app: &TestApp, args: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    for (key, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("BERTH_")) {
        command.env_remove(key);
    }
    command.args(args).env("BERTH_DATA", &app.settings.data_dir).env("BERTH_DATABASE_URL", &app.settings.database_url).env_remove("RUST_LOG");
    let out = actix_web::rt::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    String::from_utf8_lossy(&out.stderr).lines().for_each(audit::log_line);
    assert!(out.status.success(), "berth {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A registry token for alice's admin PAT.
async fn jwt(app: &TestApp, token: &str) -> String {
    let res =
        reqwest::Client::new().get(format!("{}/token?service=registry.local&scope=repository:alice/app:pull", app.url)).basic_auth("alice", Some(token)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

fn kid(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// Whether the JWT's ES256 signature verifies with the public key of `cert_pem`.
fn verifies_with(jwt: &str, cert_pem: &str) -> bool {
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).unwrap();
    let spki = berth::registry::keys::certificate_public_key(cert_pem).expect("a certificate");
    // a P-256 SubjectPublicKeyInfo ends with the uncompressed point
    let point = &spki[spki.len() - 65..];
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point).verify(input.as_bytes(), &signature).is_ok()
}

/// The certificates of the bundle `berth registry-config` writes, by key id.
async fn bundle(app: &TestApp) -> Vec<(String, String)> {
    let path = app.dir.path().join("bundle.pem");
    berth(app, &["registry-config", "--bundle", path.to_str().unwrap()]).await;
    let pem = std::fs::read_to_string(path).unwrap();
    pem.split_inclusive("-----END CERTIFICATE-----\n").map(|c| (berth::registry::keys::certificate_kid(c).unwrap(), c.to_string())).collect()
}

fn admin_pat(app: &TestApp) -> String {
    let uid = app.user("alice").id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
    let new = NewToken { description: "admin".into(), scope: Scope::Admin, expires_at: None };
    tokens::create(&mut app.conn(), uid, new, &Default::default(), app.state.now()).unwrap().1.expose().to_string()
}

/// A second instance on the same database and clock: its own data folder, and a copy of
/// the first one's master key, as another machine would hold.
async fn second_instance(app: &TestApp) -> TestApp {
    let dir = audit::tempdir();
    let mut settings = app.settings.clone();
    settings.data_dir = dir.path().join("data");
    settings.master_key_file = dir.path().join("secrets").join("master.key");
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::copy(&app.settings.master_key_file, &settings.master_key_file).unwrap();
    spawn_on(dir, settings, app.clock.clone()).await
}

#[actix_web::test]
async fn every_running_instance_signs_with_a_key_activated_from_the_command_line_within_30_seconds() {
    let app = spawn_app().await;
    let other = second_instance(&app).await;
    app.signed_up("alice").await;
    let token = admin_pat(&app);
    audit::secret(&token);
    let old = jwt(&app, &token).await;
    let kid1 = kid(&old);
    assert_eq!(kid(&jwt(&other, &token).await), kid1, "both instances sign with the key in the database");
    assert!(!other.settings.data_dir.join("registry-key.pem").exists() && !app.settings.data_dir.join("registry-key.pem").exists());

    // step 1: published, not signing, even after a check
    let out = berth(&app, &["keys", "rotate"]).await;
    let kid2 = out.split("published new key ").nth(1).and_then(|r| r.split(';').next()).unwrap_or_else(|| panic!("{out}")).to_string();
    app.clock.advance(RECHECK_SECONDS);
    assert_eq!(kid(&jwt(&app, &token).await), kid1, "a published key does not sign");
    assert_eq!(kid(&jwt(&other, &token).await), kid1);
    let published = bundle(&app).await;
    assert_eq!(published.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), [kid1.as_str(), kid2.as_str()]);

    // step 2: within 30 s of the clock every instance signs with the new key, not before
    assert!(berth(&app, &["keys", "activate"]).await.contains(&format!("key {kid2} signs")));
    app.clock.advance(RECHECK_SECONDS - 1);
    assert_eq!(kid(&jwt(&app, &token).await), kid1, "29 s after the last check the key in hand still signs");
    assert_eq!(kid(&jwt(&other, &token).await), kid1);
    app.clock.advance(1);
    let new = jwt(&app, &token).await;
    assert_eq!(kid(&new), kid2, "30 s after its last check the instance signs with the activated key");
    assert_eq!(kid(&jwt(&other, &token).await), kid2, "the other instance too");
    assert_eq!(app.state.registry_key.current().kid, kid2);

    // the bundle verifies both: the old key's token with the old certificate, the new one's with the new
    let certificates = bundle(&app).await;
    assert_eq!(certificates.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), [kid2.as_str(), kid1.as_str()], "the signing key first, the previous one kept");
    let cert = |k: &str| certificates.iter().find(|(kid, _)| kid == k).map(|(_, c)| c.as_str()).unwrap();
    assert!(verifies_with(&old, cert(&kid1)), "a token of the old key verifies against the bundle");
    assert!(verifies_with(&new, cert(&kid2)));
    assert!(!verifies_with(&old, cert(&kid2)) && !verifies_with(&new, cert(&kid1)), "each only with its own key");
}

#[actix_web::test]
async fn a_server_refuses_to_start_with_a_master_key_that_is_not_the_one_its_database_was_set_up_with() {
    let app = spawn_app().await;
    let recorded = std::fs::read(&app.settings.master_key_file).unwrap();
    let mut settings = app.settings.clone();
    settings.master_key_file = app.dir.path().join("another.key");
    berth::keys::Keys::load_or_create(&settings.master_key_file).unwrap();
    let err = berth::server::start(settings.clone(), app.clock.clone()).err().expect("refused");
    assert!(
        err.contains(&format!(
            "BERTH_MASTER_KEY_FILE {} is not the master key this database was set up with: copy the master key of the first instance",
            settings.master_key_file.display()
        )),
        "{err}"
    );
    for key in [&recorded, &std::fs::read(&settings.master_key_file).unwrap()] {
        assert!(!err.contains(&base64::engine::general_purpose::STANDARD.encode(&key[..12])) && !err.contains(&hex::encode(&key[..8])), "{err}");
    }
    // without the file, nothing is made
    settings.master_key_file = app.dir.path().join("absent").join("master.key");
    let err = berth::server::start(settings.clone(), app.clock.clone()).err().expect("refused");
    assert!(err.contains("does not exist") && err.contains("copy the master key of the first instance"), "{err}");
    assert!(!settings.master_key_file.exists());
    // positive control: a copy of the right key starts
    let again = second_instance(&app).await;
    assert_eq!(again.state.registry_key.current().kid, app.state.registry_key.current().kid);
}

/// Several instances starting at once on a new database: one master key check and one
/// signing key result, whichever wins; an instance with another master key is refused.
#[actix_web::test]
async fn instances_starting_at_once_on_a_new_database_end_with_one_master_key_and_one_signing_key() {
    let dir = audit::tempdir();
    let data = dir.path().join("data");
    berth::keys::ensure_data_dir(&data).unwrap();
    let url = database::fresh(&data);
    let pool = berth::db::open(&url).unwrap();
    let master = data.join("master.key");
    berth::keys::Keys::load_or_create(&master).unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (pool, barrier, data, master) = (pool.clone(), barrier.clone(), data.clone(), master.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                // two of the eight hold a master key of their own
                let file = if i % 4 == 3 { data.join(format!("stray-{i}.key")) } else { master };
                berth::keys::Keys::load_or_create(&file).unwrap();
                barrier.wait();
                let keys = berth::keys::check_master_key(&file, &mut conn, 1_000)?;
                Ok::<_, String>(berth::registry::keys::ensure(&mut conn, &keys, &data, 1_000).map_err(|e| e.chain())?.kid)
            })
        })
        .collect();
    let results: Vec<Result<String, String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let kids: std::collections::HashSet<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(kids.len(), 1, "{results:?}");
    let refused: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    // the stray keys lose the race, or win it and the six holders of the shared key lose
    assert!(refused.len() == 2 || refused.len() == 7, "{results:?}");
    assert!(refused.iter().all(|e| e.contains("is not the master key this database was set up with")), "{refused:?}");
    assert_eq!(berth::registry::keys::list(&mut pool.get().unwrap()).unwrap().len(), 1, "one signing key");
}
