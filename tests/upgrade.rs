//! Upgrades: a data folder written by an earlier release opens with today's
//! Berth with every user, password, TOTP secret, recovery code, token, session and
//! repository intact. Each fixture under tests/fixtures/upgrade/REV was made by release
//! REV through its own web pages, JSON API, /token and command line
//! (`scripts/make-upgrade-fixture.sh`, whose header says how to regenerate one); its
//! fixture.json lists the secrets in it (test-only). Every test starts today's server on a
//! copy of the folder, with the clock a little after the fixture was written, and checks
//! one behaviour through the same interfaces; `from_REV::…` names the fixture.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use berth::clock::ManualClock;
use berth::config::Settings;
use berth_test_support::*;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// The fixtures, each with the tests of every behaviour below.
macro_rules! fixtures {
    ($($module:ident: $rev:literal),* $(,)?) => {
        const FIXTURES: &[&str] = &[$($rev),*];
        $(mod $module {
            behaviours!($rev:
                every_user_signs_in_with_their_password_on_the_web_and_at_the_json_api,
                a_second_factor_is_still_asked_and_a_code_from_the_saved_secret_completes_it,
                an_unused_recovery_code_completes_a_sign_in_and_a_used_one_does_not,
                every_active_token_authenticates_at_token_with_its_scope_and_the_deactivated_one_is_refused,
                a_saved_session_cookie_is_still_signed_in,
                repositories_are_listed_for_their_owner_with_their_visibility,
                the_registry_signing_key_and_the_operator_are_kept,
                the_key_files_move_into_the_database_sealed_with_the_retired_certificates_and_are_read_no_more
            );
        })*
    };
}

macro_rules! behaviours {
    ($rev:literal: $($test:ident),* $(,)?) => {
        $(
            #[actix_web::test]
            async fn $test() {
                super::$test($rev).await
            }
        )*
    };
}

fixtures!(from_cda7fbc: "cda7fbc", from_d65f549: "d65f549");

/// How long after the fixture was written the upgraded server's clock starts: within every
/// session timeout, and past the TOTP step the fixture's release last accepted.
const LATER: i64 = 90;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

#[derive(Deserialize)]
struct Fixture {
    revision: String,
    created_at: i64,
    registry_service: String,
    registry_key_id: String,
    users: Vec<User>,
    tokens: Vec<Token>,
    sessions: Vec<Session>,
    repositories: Vec<Repository>,
}

#[derive(Deserialize)]
struct User {
    username: String,
    email: String,
    password: String,
    plan: String,
    operator: bool,
    totp_secret: Option<String>,
    recovery_codes: Vec<String>,
    used_recovery_codes: Vec<String>,
}

#[derive(Deserialize)]
struct Token {
    owner: String,
    description: String,
    token: String,
    scope: String,
    active: bool,
}

#[derive(Deserialize)]
struct Session {
    username: String,
    cookie_name: String,
    cookie_value: String,
}

#[derive(Deserialize)]
struct Repository {
    owner: String,
    name: String,
    public: bool,
}

impl Fixture {
    fn user(&self, name: &str) -> &User {
        self.users.iter().find(|u| u.username == name).unwrap_or_else(|| panic!("{name} is in the fixture"))
    }
}

/// Today's server on a copy of the fixture `rev`, as an operator restores a data folder
/// (files owner-only), its clock `LATER` seconds after the fixture was written.
async fn upgrade(rev: &str) -> (TestApp, Fixture) {
    upgrade_with(rev, &[]).await
}

/// `upgrade`, with `extra` files (name, contents) in the data folder beside the fixture's.
async fn upgrade_with(rev: &str, extra: &[(&str, &[u8])]) -> (TestApp, Fixture) {
    let folder = fixtures_dir().join(rev);
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(folder.join("fixture.json")).unwrap()).unwrap();
    assert!(fixture.revision.starts_with(rev), "{rev}/fixture.json was written by {}", fixture.revision);
    for u in &fixture.users {
        audit::secret(&u.password);
        u.totp_secret.iter().chain(&u.recovery_codes).chain(&u.used_recovery_codes).for_each(|s| audit::secret(s));
    }
    fixture.tokens.iter().for_each(|t| audit::secret(&t.token));
    fixture.sessions.iter().for_each(|s| audit::secret(&s.cookie_value));

    let dir = audit::tempdir();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "fixture.json" {
            let copy = data.join(entry.file_name());
            std::fs::copy(entry.path(), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    for (name, contents) in extra {
        std::fs::write(data.join(name), contents).unwrap();
    }
    let mut settings = Settings::with_data_dir(&data);
    settings.bind = "127.0.0.1:0".into();
    settings.workers = 2;
    assert_eq!(settings.registry_service, fixture.registry_service);
    let app = spawn_on(dir, settings, ManualClock::new(fixture.created_at + LATER)).await;
    (app, fixture)
}

fn claims(jwt: &str, part: usize) -> Value {
    let part = jwt.split('.').nth(part).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn api_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let res = reqwest::Client::new().post(format!("{}{path}", app.url)).json(&body).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn api_get(app: &TestApp, path: &str, jwt: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new().get(format!("{}{path}", app.url)).bearer_auth(jwt).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

/// GET /token as `docker login` / `docker push` asks, with Basic credentials when given.
async fn registry_token(app: &TestApp, creds: Option<(&str, &str)>, scope: &str) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(format!("{}/token", app.url)).query(&[("service", "registry.local"), ("scope", scope)]);
    if let Some((user, secret)) = creds {
        req = req.basic_auth(user, Some(secret));
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

/// The `access` a 200 answer of /token grants.
fn access(answer: &Value) -> Value {
    claims(answer["token"].as_str().expect("a JWT"), 1)["access"].clone()
}

/// The actions a 200 answer of /token grants on `name` (none when it is not listed).
fn granted(answer: &Value, name: &str) -> Value {
    access(answer).as_array().unwrap().iter().find(|a| a["name"] == name).map(|a| a["actions"].clone()).unwrap_or(json!([]))
}

/// A JWT of the JSON API for `user`: the password, then (with 2FA) a TOTP code of a fresh
/// 30-second step.
async fn api_jwt(app: &TestApp, user: &User) -> String {
    let (status, body) = api_post(app, "/v2/users/login", json!({ "username": user.username, "password": user.password })).await;
    let Some(secret) = &user.totp_secret else {
        assert_eq!(status, StatusCode::OK, "{}: {body}", user.username);
        return body["token"].as_str().unwrap().to_string();
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {body}", user.username);
    let challenge = body["login_2fa_token"].as_str().expect("a login_2fa_token").to_string();
    let code = app.fresh_code(secret);
    let (status, body) = api_post(app, "/v2/users/2fa-login", json!({ "login_2fa_token": challenge, "code": code })).await;
    assert_eq!(status, StatusCode::OK, "{}: {body}", user.username);
    body["token"].as_str().unwrap().to_string()
}

async fn every_user_signs_in_with_their_password_on_the_web_and_at_the_json_api(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    assert!(fixture.users.len() >= 3);
    for u in &fixture.users {
        let b = app.browser();
        let res = b.login(&u.username, &u.password).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{rev}: {}'s password", u.username);
        if u.totp_secret.is_some() {
            assert_eq!(location(&res), "/login/2fa", "{rev}: {} has 2FA", u.username);
            assert!(!b.signed_in().await, "{rev}: the password alone does not sign {} in", u.username);
        } else {
            let (status, page) = b.get_text("/settings/account").await;
            assert_eq!(status, StatusCode::OK, "{rev}: {} is signed in", u.username);
            assert!(page.contains(&u.email), "{rev}: {}'s account page shows their email", u.username);
        }
        let (status, body) = api_post(&app, "/v2/users/login", json!({ "username": u.username, "password": u.password })).await;
        if u.totp_secret.is_some() {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{rev}: {body}");
            assert!(body["login_2fa_token"].is_string(), "{rev}: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{rev}: {}: {body}", u.username);
            let (status, me) = api_get(&app, "/v2/user", body["token"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!((me["username"].as_str(), me["email"].as_str(), me["plan"].as_str()), (Some(u.username.as_str()), Some(u.email.as_str()), Some(u.plan.as_str())), "{rev}");
        }
    }
    // a wrong password is still wrong: the hashes were not replaced by something lax
    let res = app.browser().login(&fixture.users[0].username, "not the fixture password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{rev}");
}

async fn a_second_factor_is_still_asked_and_a_code_from_the_saved_secret_completes_it(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    let with_2fa: Vec<&User> = fixture.users.iter().filter(|u| u.totp_secret.is_some()).collect();
    assert!(!with_2fa.is_empty(), "{rev}: the fixture has a user with 2FA");
    for u in with_2fa {
        let secret = u.totp_secret.as_deref().unwrap();
        let b = app.browser();
        assert_eq!(location(&b.login(&u.username, &u.password).await), "/login/2fa", "{rev}");
        let res = b.second_step(&app.fresh_code(secret)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{rev}: {}'s TOTP code", u.username);
        assert!(b.signed_in().await, "{rev}: a code from the saved secret signs {} in", u.username);
        // the JSON API asks for it too, and a code of the next step completes it
        let jwt = api_jwt(&app, u).await;
        let (status, me) = api_get(&app, "/v2/user", &jwt).await;
        assert_eq!((status, me["username"].as_str()), (StatusCode::OK, Some(u.username.as_str())), "{rev}");
        // with 2FA on, the password no longer works at /token
        let (status, body) = registry_token(&app, Some((&u.username, &u.password)), &format!("repository:{}/x:pull", u.username)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{rev}: {body}");
        assert!(body.to_string().contains("please use personal access token"), "{rev}: {body}");
    }
}

async fn an_unused_recovery_code_completes_a_sign_in_and_a_used_one_does_not(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    let u = fixture.users.iter().find(|u| u.recovery_codes.len() >= 2 && !u.used_recovery_codes.is_empty()).expect("a user with unused and used recovery codes");
    let page = app.browser();
    page.login(&u.username, &u.password).await;
    let res = page.second_step(&u.recovery_codes[0]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{rev}: an unused recovery code");
    assert!(page.signed_in().await, "{rev}: a recovery code signs {} in", u.username);
    // the security page counts what is left: the fixture's unused codes, less the one just used
    let (_, html) = page.get_text("/settings/security").await;
    assert!(html.contains(&format!("<strong>{}</strong> unused recovery codes", u.recovery_codes.len() - 1)), "{rev}: {html}");

    let (status, body) = api_post(&app, "/v2/users/login", json!({ "username": u.username, "password": u.password })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = body["login_2fa_token"].as_str().unwrap();
    let (status, body) = api_post(&app, "/v2/users/2fa-login", json!({ "login_2fa_token": challenge, "code": u.recovery_codes[1] })).await;
    assert_eq!(status, StatusCode::OK, "{rev}: another unused recovery code at the JSON API: {body}");

    let used = app.browser();
    used.login(&u.username, &u.password).await;
    let res = used.second_step(&u.used_recovery_codes[0]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{rev}: a code used before the upgrade stays used");
    assert!(!used.signed_in().await);
}

async fn every_active_token_authenticates_at_token_with_its_scope_and_the_deactivated_one_is_refused(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    assert!(fixture.tokens.iter().any(|t| t.active) && fixture.tokens.iter().any(|t| !t.active), "{rev}: active and deactivated tokens");
    for t in &fixture.tokens {
        let repo = fixture.repositories.iter().find(|r| r.owner == t.owner).map(|r| r.name.clone()).unwrap_or_else(|| format!("{}/new", t.owner));
        let (status, body) = registry_token(&app, Some((&t.owner, &t.token)), &format!("repository:{repo}:pull,push,delete")).await;
        if !t.active {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{rev}: {} is deactivated: {body}", t.description);
            assert_eq!(body["details"], "access token is deactivated", "{rev}: its holder is told why");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{rev}: {}: {body}", t.description);
        assert_eq!(claims(body["token"].as_str().unwrap(), 1)["sub"], t.owner.as_str());
        let actions = match t.scope.as_str() {
            "repo:admin" => json!(["pull", "push", "delete"]),
            "repo:write" => json!(["pull", "push"]),
            "repo:read" => json!(["pull"]),
            other => panic!("{rev}: a fixture token with scope {other}"),
        };
        assert_eq!(access(&body), json!([{ "type": "repository", "name": repo, "actions": actions }]), "{rev}: {} keeps its scope {}", t.description, t.scope);
    }
}

async fn a_saved_session_cookie_is_still_signed_in(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    assert!(!fixture.sessions.is_empty());
    for s in &fixture.sessions {
        assert_eq!(s.cookie_name, SESSION_COOKIE, "{rev}: the cookie keeps its name");
        let b = app.browser();
        b.jar.add_cookie_str(&format!("{}={}; Path=/", s.cookie_name, s.cookie_value), &b.base.parse().unwrap());
        let (status, page) = b.get_text("/settings/account").await;
        assert_eq!(status, StatusCode::OK, "{rev}: {}'s session from before the upgrade is signed in", s.username);
        assert!(page.contains(&fixture.user(&s.username).email), "{rev}: as {}", s.username);
        // and it can still post a form (its CSRF secret survived): sign out
        let res = b.logout().await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{rev}");
        assert!(!b.signed_in().await, "{rev}: signing out ends the upgraded session");
    }
}

async fn repositories_are_listed_for_their_owner_with_their_visibility(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    let mut owners: Vec<&str> = fixture.repositories.iter().map(|r| r.owner.as_str()).collect();
    owners.sort();
    owners.dedup();
    assert!(fixture.repositories.iter().any(|r| r.public) && fixture.repositories.iter().any(|r| !r.public), "{rev}");
    for owner in owners {
        let mut expected: Vec<Value> =
            fixture.repositories.iter().filter(|r| r.owner == owner).map(|r| json!({ "name": r.name.split_once('/').unwrap().1, "is_private": !r.public })).collect();
        expected.sort_by_key(|v| v["name"].as_str().unwrap().to_string());
        let jwt = api_jwt(&app, fixture.user(owner)).await;
        let (status, listed) = api_get(&app, &format!("/v2/repositories/{owner}/"), &jwt).await;
        assert_eq!(status, StatusCode::OK, "{rev}: {listed}");
        let got: Vec<Value> = listed["results"].as_array().unwrap().iter().map(|r| json!({ "name": r["name"], "is_private": r["is_private"] })).collect();
        assert_eq!(got, expected, "{rev}: {owner}'s repositories");

        // the owner's /repositories page lists them too
        let u = fixture.user(owner);
        let b = app.browser();
        let res = b.login(&u.username, &u.password).await;
        if let Some(secret) = &u.totp_secret {
            assert_eq!(location(&res), "/login/2fa");
            b.second_step(&app.fresh_code(secret)).await;
        }
        let (status, html) = b.get_text("/repositories").await;
        assert_eq!(status, StatusCode::OK, "{rev}");
        let text = html.replace("<wbr>", "");
        for r in fixture.repositories.iter().filter(|r| r.owner == owner) {
            assert!(text.contains(&r.name), "{rev}: {} is on {owner}'s /repositories page", r.name);
        }
    }
    // the visibility still decides who may pull: anyone the public ones, nobody else the private ones
    for r in &fixture.repositories {
        let (status, body) = registry_token(&app, None, &format!("repository:{}:pull", r.name)).await;
        assert_eq!(status, StatusCode::OK);
        let want = if r.public { json!(["pull"]) } else { json!([]) };
        assert_eq!(granted(&body, &r.name), want, "{rev}: an anonymous pull of {}", r.name);
    }
}

async fn the_registry_signing_key_and_the_operator_are_kept(rev: &str) {
    let (app, fixture) = upgrade(rev).await;
    let operator = fixture.users.iter().find(|u| u.operator).expect("an operator in the fixture");
    let (status, body) = registry_token(&app, Some((&operator.username, &operator.password)), "registry:catalog:*").await;
    assert_eq!(status, StatusCode::OK, "{rev}: {body}");
    // the registry trusts the same key: the JWT names the fixture's key id
    assert_eq!(claims(body["token"].as_str().unwrap(), 0)["kid"], fixture.registry_key_id.as_str(), "{rev}: the signing key was kept");
    assert_eq!(access(&body), json!([{ "type": "registry", "name": "catalog", "actions": ["*"] }]), "{rev}: the operator keeps the catalog");
    let other = fixture.users.iter().find(|u| !u.operator && u.totp_secret.is_none()).expect("a user without 2FA");
    let (status, body) = registry_token(&app, Some((&other.username, &other.password)), "registry:catalog:*").await;
    assert_eq!((status, granted(&body, "catalog")), (StatusCode::OK, json!([])), "{rev}: {} is no operator", other.username);
}

async fn the_key_files_move_into_the_database_sealed_with_the_retired_certificates_and_are_read_no_more(rev: &str) {
    use berth::registry::keys::{Status, certificate_kid};
    // another fixture's certificate, as one an earlier `keys rotate` kept for the bundle
    let other = FIXTURES.iter().find(|r| **r != rev).expect("two fixtures");
    let retired = std::fs::read_to_string(fixtures_dir().join(other).join("registry-cert.pem")).unwrap();
    let retired_kid = certificate_kid(&retired).unwrap();
    let (app, fixture) = upgrade_with(rev, &[("registry-cert-retired-1764000000.pem", retired.as_bytes())]).await;
    let listed: Vec<(String, Status, bool)> = berth::registry::keys::list(&mut app.conn()).unwrap().into_iter().map(|k| (k.kid, k.status, k.has_private_key)).collect();
    assert_eq!(listed, [(fixture.registry_key_id.clone(), Status::Signing, true), (retired_kid.clone(), Status::Previous, false)], "{rev}");
    let bundle = berth::registry::keys::bundle(&mut app.conn()).unwrap();
    let kids: Vec<String> = bundle.split_inclusive("-----END CERTIFICATE-----\n").map(|c| certificate_kid(c).unwrap()).collect();
    assert_eq!(kids, [fixture.registry_key_id.clone(), retired_kid], "{rev}: the bundle keeps trusting what the old one did, the signing key first");

    // the private key reached the database sealed only: its scalar is in no page of it
    let data = app.settings.data_dir.clone();
    let pem = std::fs::read_to_string(data.join("registry-key.pem")).unwrap();
    let der = base64::engine::general_purpose::STANDARD.decode(pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap();
    let at = der.windows(2).position(|w| w == [0x04, 0x20]).expect("the ECPrivateKey's 32-byte scalar") + 2;
    let scalar = &der[at..at + 32];
    for file in ["berth.db", "berth.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(!bytes.windows(32).any(|w| w == scalar), "{rev}: {file} holds the private key in the clear");
    }

    // restarted without the files, Berth signs with the same key: it is the database's now
    let TestApp { dir, settings, clock, server, .. } = app;
    server.stop(true).await;
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("registry-") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let app = spawn_on(dir, settings, clock).await;
    let operator = fixture.users.iter().find(|u| u.operator).unwrap();
    let (status, body) = registry_token(&app, Some((&operator.username, &operator.password)), "registry:catalog:*").await;
    assert_eq!(status, StatusCode::OK, "{rev}: {body}");
    assert_eq!(claims(body["token"].as_str().unwrap(), 0)["kid"], fixture.registry_key_id.as_str(), "{rev}: the kid did not change");
}

/// A fixture folder without its tests would prove nothing: every folder is in `fixtures!`.
#[test]
fn every_fixture_folder_is_tested() {
    let mut folders: Vec<String> = std::fs::read_dir(fixtures_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(folders, listed);
    for rev in FIXTURES {
        for file in ["fixture.json", "berth.db", "master.key"] {
            assert!(fixtures_dir().join(rev).join(file).is_file(), "{rev}/{file}");
        }
        assert!(!fixtures_dir().join(rev).join("berth.db-wal").exists(), "{rev}: no WAL beside the database");
    }
}
