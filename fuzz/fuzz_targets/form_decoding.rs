#![no_main]
//! Form bodies, decoded the way `CsrfForm` decodes them (src/web/extract.rs):
//!
//!   bytes → `std::str::from_utf8` → `decodes_as_utf8` (percent-escapes must be UTF-8 too)
//!         → `serde_html_form::from_str::<T>` into the handler's form struct.
//!
//! (The CSRF check sits between the last two steps; it needs a session and is private, so it
//! is not called here. It reads the same `url::form_urlencoded::parse` pairs that are checked
//! against the reference model below.)
//!
//! Each body is decoded into Berth's real form types (`berth::web::{tokens,auth,security}`:
//! the structs are `pub` and `Deserialize`, so the real derive runs), and into local mirrors
//! with the same field names and shapes: the real types' fields are private, so only the
//! mirrors can be inspected. Invariants:
//!
//! 1. nothing panics;
//! 2. `decodes_as_utf8` accepts exactly the bodies an independent strict decoder accepts;
//! 3. the real type decodes iff its mirror does (if this fails, a form struct in src/ changed
//!    shape: update the mirror);
//! 4. on a strict body the mirror's outcome equals the reference model: a plain field needs
//!    exactly one value, an `Option` field takes zero or one (empty = `None`), a `Vec` field
//!    takes all of them in order, a repeated single field is an error, an unknown key is
//!    an error (the `csrf` field is taken out first, by `without_csrf`, as the server
//!    does after checking it), and every value is exactly the strict decode — no U+FFFD
//!    smuggled in by the lossy parser;
//! 5. what the handlers do next with the decoded values (description, scope, expiry,
//!    `next=`, username, email) keeps its promises.
use berth::http::decodes_as_utf8;
use berth::web::csrf::{FORM_LIMIT, without_csrf};
use berth::web::extract::safe_next;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// 2026-11-28T00:00:00Z: a fixed "now" for the expiry checks.
const NOW: i64 = 1_795_824_000;
/// `BULK_FORM_LIMIT` of src/web/tokens.rs (private): the bulk-delete route's body limit.
const BULK_FORM_LIMIT: usize = 64 * 1024;

// ---- mirrors of the handlers' form structs (same field names, types and serde attributes) ----

/// `berth::web::tokens::CreateForm` (POST /settings/tokens).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenCreate {
    description: String,
    scope: String,
    expiration: String,
    expires_on: Option<String>,
}

/// `berth::web::tokens::EditForm` (POST /settings/tokens/{uuid}/edit).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEdit {
    description: String,
    active: Option<String>,
}

/// `berth::web::tokens::BulkForm` (POST /settings/tokens/delete).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBulk {
    #[serde(default)]
    uuid: Vec<String>,
    confirm: Option<String>,
}

/// `berth::web::auth::LoginForm` (POST /login); `password` is a `SecretString` there, which
/// deserializes from the same string.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    login: String,
    password: String,
    next: Option<String>,
}

/// `berth::web::auth::SignupForm` (POST /signup).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signup {
    username: String,
    email: String,
    password: String,
}

/// `berth::web::security::CodesForm` (POST .../recovery-codes.txt).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Codes {
    #[serde(default)]
    code: Vec<String>,
}

/// `berth::web::security::DisableForm` (POST /settings/security/2fa/disable).
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    password: String,
    code: String,
}

// ---- the reference model: an independent strict application/x-www-form-urlencoded decoder ----

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `+` is a space, `%XX` a byte, anything else itself (a stray `%` too); the bytes must be UTF-8.
fn strict_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The (name, value) pairs of a body, or `None` if any name or value is not UTF-8 once decoded.
fn strict_pairs(text: &str) -> Option<Vec<(String, String)>> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((strict_decode(k)?, strict_decode(v)?))
        })
        .collect()
}

struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
    /// A plain field: exactly one value.
    fn one(&self, key: &str) -> Result<String, ()> {
        let mut v = self.all(key);
        if v.len() == 1 { Ok(v.remove(0)) } else { Err(()) }
    }
    /// An `Option` field: absent or empty is `None`, one value is `Some`, more is an error.
    fn opt(&self, key: &str) -> Result<Option<String>, ()> {
        let mut v = self.all(key);
        match v.len() {
            0 => Ok(None),
            1 => Ok(Some(v.remove(0)).filter(|s| !s.is_empty())),
            _ => Err(()),
        }
    }
}

/// Decodes `text` into the real type and its mirror; they must agree, and on a strict body the
/// mirror must equal `expected` (an error when a key is not one of `fields`). Returns the
/// mirror when it decoded.
fn check<Real, Mirror>(text: &str, pairs: Option<&Pairs>, fields: &[&str], expected: impl FnOnce(&Pairs) -> Result<Mirror, ()>) -> Option<Mirror>
where
    Real: serde::de::DeserializeOwned,
    Mirror: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let real = serde_html_form::from_str::<Real>(text);
    let mirror = serde_html_form::from_str::<Mirror>(text);
    assert_eq!(
        real.is_ok(),
        mirror.is_ok(),
        "{} and its mirror {} disagree on {text:?}: {:?}",
        std::any::type_name::<Real>(),
        std::any::type_name::<Mirror>(),
        mirror
    );
    if let Some(pairs) = pairs {
        let known = pairs.0.iter().all(|(k, _)| fields.contains(&k.as_str()));
        let want = if known { expected(pairs).ok() } else { None };
        let got = mirror.as_ref().ok();
        assert_eq!(got, want.as_ref(), "{} of {text:?}: serde_html_form vs the reference model", std::any::type_name::<Mirror>());
    }
    mirror.ok()
}

/// `parse_expiry` of src/web/tokens.rs (private): the same three branches.
fn parse_expiry(f: &TokenCreate) -> Result<berth::tokens::Expiry, &'static str> {
    use berth::tokens::Expiry;
    match f.expiration.as_str() {
        "none" => Ok(Expiry::Never),
        "custom" => {
            let date = f.expires_on.as_deref().unwrap_or("").trim();
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map(Expiry::Until).map_err(|_| "date")
        }
        days => days.parse::<i64>().map(Expiry::Days).map_err(|_| "days"),
    }
}

fuzz_target!(|data: &[u8]| {
    // read_limited: 16 KiB for every form but bulk delete (64 KiB)
    if data.len() > BULK_FORM_LIMIT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };

    // the lossy parser the server uses (serde_html_form and check_csrf both read these pairs)
    let lossy: Vec<(String, String)> = url::form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let strict = strict_pairs(text);
    assert_eq!(decodes_as_utf8(text), strict.is_some(), "decodes_as_utf8 vs the strict decoder on {text:?}");
    if let Some(strict) = &strict {
        assert_eq!(&lossy, strict, "a body that passed decodes_as_utf8 decoded differently on {text:?}");
    }
    // the server stops here on a body that is not strict UTF-8; the decoders still must not
    // panic on it, and the real types must still agree with their mirrors
    // the server checks the CSRF token, then decodes the rest (src/web/extract.rs)
    let whole = text;
    let form = without_csrf(whole);
    let text = form.as_str();
    let pairs = strict_pairs(text).map(Pairs);
    let pairs = pairs.as_ref();
    if let (Some(all), Some(rest)) = (&strict, pairs) {
        assert!(rest.0.iter().all(|(k, _)| k != "csrf"), "without_csrf left a csrf field in {whole:?}");
        assert_eq!(all.iter().filter(|(k, _)| k != "csrf").count(), rest.0.len(), "without_csrf took more than csrf from {whole:?}");
    }

    if data.len() <= FORM_LIMIT {
        if let Some(f) = check::<berth::web::tokens::CreateForm, TokenCreate>(text, pairs, &["description", "scope", "expiration", "expires_on"], |p| {
            Ok(TokenCreate { description: p.one("description")?, scope: p.one("scope")?, expiration: p.one("expiration")?, expires_on: p.opt("expires_on")? })
        }) {
            if let Ok(d) = berth::tokens::check_description(&f.description) {
                assert!(!d.is_empty() && d == d.trim() && d == f.description.trim());
                assert!(d.chars().count() <= berth::tokens::DESCRIPTION_MAX && !d.chars().any(char::is_control));
            }
            if let Some(s) = berth::tokens::Scope::parse(&f.scope) {
                assert_eq!(s.as_str(), f.scope);
            }
            if let Ok(e) = parse_expiry(&f) {
                match e.at(NOW) {
                    Ok(None) => assert_eq!(f.expiration, "none"),
                    Ok(Some(t)) => assert!(t > NOW && t <= NOW + 367 * 86_400, "expiry {t} from {f:?}"),
                    Err(_) => {}
                }
            }
        }

        if let Some(f) = check::<berth::web::tokens::EditForm, TokenEdit>(text, pairs, &["description", "active"], |p| Ok(TokenEdit { description: p.one("description")?, active: p.opt("active")? })) {
            let _ = berth::tokens::check_description(&f.description);
        }

        if let Some(f) = check::<berth::web::auth::LoginForm, Login>(text, pairs, &["login", "password", "next"], |p| Ok(Login { login: p.one("login")?, password: p.one("password")?, next: p.opt("next")? })) {
            let next = safe_next(f.next.as_deref());
            assert!(next.starts_with('/') && !next.starts_with("//") && !next.contains('\\'), "{next:?}");
            let login = f.login.trim().chars().take(254).collect::<String>();
            assert!(login.chars().count() <= 254);
        }

        if let Some(f) = check::<berth::web::auth::SignupForm, Signup>(text, pairs, &["username", "email", "password"], |p| Ok(Signup { username: p.one("username")?, email: p.one("email")?, password: p.one("password")? })) {
            if let Ok(name) = berth::accounts::normalize_username(&f.username) {
                assert!((4..=30).contains(&name.len()) && name.starts_with(|c: char| c.is_ascii_lowercase()));
                assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
            }
            if let Ok((typed, lower)) = berth::accounts::normalize_email(&f.email) {
                assert!(typed.len() <= 254 && typed.contains('@') && lower == typed.to_lowercase());
            }
        }

        check::<berth::web::security::CodesForm, Codes>(text, pairs, &["code"], |p| Ok(Codes { code: p.all("code") }));
        check::<berth::web::security::DisableForm, Disable>(text, pairs, &["password", "code"], |p| Ok(Disable { password: p.one("password")?, code: p.one("code")? }));

        // a form without fields takes only a body without fields (once csrf is out)
        if let Some(p) = pairs {
            assert_eq!(serde_html_form::from_str::<berth::web::tokens::EmptyForm>(text).is_ok(), p.0.is_empty(), "{whole:?}");
            assert_eq!(serde_html_form::from_str::<berth::web::auth::EmptyForm>(text).is_ok(), p.0.is_empty(), "{whole:?}");
        }
    }

    check::<berth::web::tokens::BulkForm, TokenBulk>(text, pairs, &["uuid", "confirm"], |p| Ok(TokenBulk { uuid: p.all("uuid"), confirm: p.opt("confirm")? }));
});
