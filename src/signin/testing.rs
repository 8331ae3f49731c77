//! A sign-in service over a fresh database, for the unit tests of the steps: users, 2FA,
//! tokens and challenges arranged through the domain functions, the events read back.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use secrecy::SecretString;

use crate::accounts::password::HashPool;
use crate::accounts::{self, NewAccount, Plan, User};
use crate::activity::Client;
use crate::clock::{Clock, ManualClock};
use crate::config::ThrottleConfig;
use crate::db::{Database, DbConn};
use crate::keys::Keys;
use crate::signin::Service;
use crate::signin::cache::PasswordCache;
use crate::signin::challenges::{self, Challenge};
use crate::signin::single_flight::SingleFlight;
use crate::throttle::Throttle;
use crate::tokens::{self, NewToken, Scope};
use crate::twofactor;

pub const PASSWORD: &str = "correct horse battery staple";
pub const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

pub fn client() -> Client {
    Client { ip: IP.to_string(), user_agent: "unit test".into() }
}

pub struct Harness {
    pub svc: Service,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("berth.db").to_str().unwrap().to_string();
        let database = Database::open(&url, 1).unwrap();
        let clock = ManualClock::new(1_700_000_000);
        let keys = Keys::derive(&[7u8; 32]);
        let svc = Service {
            db: database,
            clock: clock.clone(),
            password_cache: PasswordCache::new(keys.password_cache, clock.clone()),
            keys: Arc::new(keys),
            throttle: Throttle::new(ThrottleConfig::default(), clock.clone()),
            hasher: HashPool::new(1),
            password_flights: SingleFlight::default(),
        };
        Harness { svc, clock, _dir: dir }
    }

    pub fn conn(&self) -> DbConn {
        self.svc.db.pool.get().unwrap()
    }

    /// A user with `PASSWORD`, without 2FA.
    pub fn user(&self, name: &str) -> User {
        let password_hash = accounts::password::hash(&SecretString::from(PASSWORD.to_string()));
        let email = format!("{name}@example.com");
        let new = NewAccount { username: name.into(), email: email.clone(), email_normalized: email, password_hash, plan: Plan::Personal, operator: false };
        match accounts::create(&mut self.conn(), new, self.clock.now()) {
            Ok(user) => user,
            Err(_) => panic!("creating {name}"),
        }
    }

    pub fn reload(&self, user: &User) -> User {
        accounts::find_by_id(&mut self.conn(), user.id).unwrap().unwrap()
    }

    /// Turns 2FA on for `user`: (base32 secret, recovery codes). The clock then moves to a
    /// fresh step, so the next code is accepted.
    pub fn enable_2fa(&self, user: &User) -> (String, Vec<String>) {
        let keys = &self.svc.keys;
        twofactor::begin_enrolment(&mut self.conn(), keys, user, twofactor::DEFAULT_LABEL, self.clock.now()).unwrap();
        let pending = self.reload(user);
        let secret = twofactor::pending_enrolment(&mut self.conn(), keys, &pending).unwrap().unwrap().secret_base32;
        let confirmed = twofactor::confirm_enrolment(&mut self.conn(), keys, &pending, &self.code_now(&secret), self.clock.now()).unwrap().unwrap();
        let codes = confirmed.recovery_codes.expect("the first factor brings recovery codes");
        self.clock.advance(30);
        (secret, codes)
    }

    pub fn code_now(&self, secret: &str) -> String {
        twofactor::code_at(secret, self.clock.now())
    }

    /// A JSON API challenge for `user`, as its plaintext.
    pub fn open_challenge(&self, user: &User) -> String {
        challenges::open(&mut self.conn(), user, self.clock.now()).unwrap()
    }

    pub fn challenge(&self, user: &User) -> Challenge {
        let token = self.open_challenge(user);
        challenges::find(&mut self.conn(), &token, self.clock.now()).unwrap().unwrap()
    }

    /// A token of `user` (Read, Write, Delete), as its plaintext.
    pub fn token(&self, user: &User) -> String {
        let new = NewToken { description: "ci".into(), scope: Scope::Admin, expires_at: None };
        tokens::create(&mut self.conn(), user.id, new, &client(), self.clock.now()).unwrap().1.expose().to_string()
    }

    /// The user's events, oldest first, as (kind, detail); token housekeeping left out.
    pub fn events(&self, user_id: i32) -> Vec<(String, String)> {
        let (mut list, _) = crate::activity::list(&mut self.conn(), user_id, 1, 1000).unwrap();
        list.reverse();
        list.into_iter().filter(|e| e.kind != "token_created" && e.kind != "token_deactivated").map(|e| (e.kind, e.detail)).collect()
    }
}
