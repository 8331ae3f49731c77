//! The credential matrix: every front door × every kind of
//! credential × 2FA off/on × token active/inactive/expired, one table, every cell asserted.
//! With 2FA on, the password alone works nowhere; a PAT never opens the web UI; a recovery
//! code is never a password.

use berth::accounts::Plan;
use berth::tokens::{self, NewToken, Scope};
use reqwest::StatusCode;
use serde_json::{Value, json};

use berth_test_support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    WebLogin,
    ApiLogin,
    ApiAuthToken,
    RegistryGet,
    RegistryPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    Password,
    Pat,
    RecoveryCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Active,
    Inactive,
    Expired,
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Signed in / a JWT / a registry token.
    Granted,
    /// Only the second step: /login/2fa, or a login_2fa_token.
    SecondStepOnly,
    /// The registry's "please use personal access token to login".
    UseAToken,
    /// The registry tells the token's holder why: "access token is deactivated".
    TokenDeactivated,
    /// "access token has expired".
    TokenExpired,
    Refused,
}

fn expected(door: Door, cred: Cred, two_fa: bool, state: TokenState) -> Answer {
    use Answer::*;
    match (cred, door) {
        (Cred::RecoveryCode, _) => Refused,
        (Cred::Pat, Door::WebLogin) => Refused,
        (Cred::Pat, _) if state == TokenState::Active => Granted,
        // only the registry explains; the JSON API keeps Docker Hub's generic words
        (Cred::Pat, Door::RegistryGet | Door::RegistryPost) if state == TokenState::Inactive => TokenDeactivated,
        (Cred::Pat, Door::RegistryGet | Door::RegistryPost) => TokenExpired,
        (Cred::Pat, _) => Refused,
        (Cred::Password, _) if !two_fa => Granted,
        (Cred::Password, Door::WebLogin | Door::ApiLogin | Door::ApiAuthToken) => SecondStepOnly,
        (Cred::Password, Door::RegistryGet | Door::RegistryPost) => UseAToken,
    }
}

async fn knock(app: &TestApp, door: Door, user: &str, secret: &str) -> Answer {
    let http = reqwest::Client::new();
    match door {
        Door::WebLogin => {
            let b = app.browser();
            let res = b.login(user, secret).await;
            match (res.status(), location(&res).as_str()) {
                (StatusCode::SEE_OTHER, "/login/2fa") => {
                    assert!(!b.signed_in().await, "the second step grants nothing");
                    Answer::SecondStepOnly
                }
                (StatusCode::SEE_OTHER, "/") if b.signed_in().await => Answer::Granted,
                (StatusCode::UNAUTHORIZED, _) => Answer::Refused,
                other => panic!("web login answered {other:?}"),
            }
        }
        Door::ApiLogin | Door::ApiAuthToken => {
            let (path, body, field) = if door == Door::ApiLogin {
                ("/v2/users/login", json!({ "username": user, "password": secret }), "token")
            } else {
                ("/v2/auth/token", json!({ "identifier": user, "secret": secret }), "access_token")
            };
            let res = http.post(format!("{}{path}", app.url)).json(&body).send().await.unwrap();
            let status = res.status();
            let v: Value = res.json().await.unwrap();
            match status {
                StatusCode::OK if v[field].is_string() => Answer::Granted,
                StatusCode::UNAUTHORIZED if v["login_2fa_token"].is_string() => {
                    assert!(v.get(field).is_none());
                    Answer::SecondStepOnly
                }
                StatusCode::UNAUTHORIZED => Answer::Refused,
                other => panic!("{path} answered {other}: {v}"),
            }
        }
        Door::RegistryGet | Door::RegistryPost => {
            let res = if door == Door::RegistryGet {
                http.get(format!("{}/token?service=registry.local&account={user}", app.url)).basic_auth(user, Some(secret)).send().await.unwrap()
            } else {
                http.post(format!("{}/token", app.url))
                    .form(&[("grant_type", "password"), ("username", user), ("password", secret), ("service", "registry.local"), ("client_id", "containerd")])
                    .send()
                    .await
                    .unwrap()
            };
            let status = res.status();
            let v: Value = res.json().await.unwrap();
            match (status, v["details"].as_str()) {
                (StatusCode::OK, _) if v["token"].is_string() => Answer::Granted,
                (StatusCode::UNAUTHORIZED, Some("please use personal access token to login")) => Answer::UseAToken,
                (StatusCode::UNAUTHORIZED, Some("access token is deactivated")) => Answer::TokenDeactivated,
                (StatusCode::UNAUTHORIZED, Some("access token has expired")) => Answer::TokenExpired,
                (StatusCode::UNAUTHORIZED, Some("incorrect username or password")) => Answer::Refused,
                other => panic!("/token answered {other:?}: {v}"),
            }
        }
    }
}

#[actix_web::test]
async fn every_door_every_credential_every_state() {
    // the matrix fails on purpose many times per account: throttling is tested elsewhere
    let app = spawn_app_with(|s| {
        s.throttle.free_failures = 10_000;
        s.throttle.ip_failures = 100_000;
    })
    .await;
    let now = app.state.now();
    let mut cells = 0;
    for two_fa in [false, true] {
        let name = if two_fa { "twofauser" } else { "plainuser" };
        // both users enrol once, so both hold a (former) recovery code; the plain one turns 2FA off again
        let (b, secret, codes) = app.with_2fa(name).await;
        if !two_fa {
            let page = "/settings/security/2fa/disable";
            let res = b.submit(page, page, &[("password", PASSWORD), ("code", &app.fresh_code(&secret))]).await;
            assert_eq!(location(&res), "/settings/security");
        }
        let uid = app.user(name).id;
        berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
        for state in [TokenState::Active, TokenState::Inactive, TokenState::Expired] {
            let expires_at = (state == TokenState::Expired).then_some(now + 5);
            let (token, plain) =
                tokens::create(&mut app.conn(), uid, NewToken { description: format!("{state:?}"), scope: Scope::Admin, expires_at }, &Default::default(), now).unwrap();
            if state == TokenState::Inactive {
                tokens::update(&mut app.conn(), uid, &token.uuid, None, Some(false), &Default::default(), now).unwrap();
            }
            if state == TokenState::Expired {
                app.clock.set(now + 6);
            }
            for door in [Door::WebLogin, Door::ApiLogin, Door::ApiAuthToken, Door::RegistryGet, Door::RegistryPost] {
                for cred in [Cred::Password, Cred::Pat, Cred::RecoveryCode] {
                    let secret = match cred {
                        Cred::Password => PASSWORD.to_string(),
                        Cred::Pat => plain.expose().to_string(),
                        Cred::RecoveryCode => codes[9].clone(),
                    };
                    let got = knock(&app, door, name, &secret).await;
                    assert_eq!(got, expected(door, cred, two_fa, state), "{door:?} × {cred:?} × 2FA {} × token {state:?}", if two_fa { "on" } else { "off" });
                    cells += 1;
                }
            }
            app.clock.set(now);
        }
    }
    assert_eq!(cells, 5 * 3 * 2 * 3);
}
