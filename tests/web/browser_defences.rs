//! CSRF (HMAC tokens bound to the session or the pre-session cookie, plus Origin), security
//! headers, cookie attributes, framing.

use reqwest::StatusCode;

use berth_test_support::*;

const STATE_CHANGING: [&str; 23] = [
    "/signup",
    "/login",
    "/login/2fa",
    "/logout",
    "/settings/account/email",
    "/settings/account/password",
    "/settings/security/2fa/enable",
    "/settings/security/2fa/setup",
    "/settings/security/2fa/recovery-codes",
    "/settings/security/2fa/recovery-codes.txt",
    "/settings/security/2fa/disable",
    "/settings/sessions/end-others",
    "/settings/sessions/abc/end",
    "/settings/tokens",
    "/settings/tokens/delete",
    "/settings/tokens/00000000-0000-0000-0000-000000000000/edit",
    "/settings/tokens/00000000-0000-0000-0000-000000000000/activate",
    "/settings/tokens/00000000-0000-0000-0000-000000000000/deactivate",
    "/settings/tokens/00000000-0000-0000-0000-000000000000/delete",
    "/repositories",
    "/repositories/visibility",
    "/repositories/delete",
    "/repositories/tags/delete",
];

#[actix_web::test]
async fn every_form_post_without_this_sessions_token_is_refused() {
    let app = spawn_app().await;
    let me = app.signed_up("alice").await;
    let other = app.signed_up("bobby").await;
    let foreign = other.csrf("/settings/account").await;
    for path in STATE_CHANGING {
        let res = me.post_raw(path, &[("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "missing token on {path}");
        let res = me.post_raw(path, &[("csrf", &foreign), ("password", PASSWORD)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "foreign token on {path}");
    }
    // a repeated token is not accepted either
    let mine = me.csrf("/settings/account").await;
    let res = me.post_raw("/logout", &[("csrf", &mine), ("csrf", &mine)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(me.signed_in().await, "nothing happened");
}

#[actix_web::test]
async fn login_without_a_token_is_refused() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let b = app.browser();
    let res = b.post_raw("/login", &[("login", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!b.signed_in().await);
}

#[actix_web::test]
async fn a_foreign_origin_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let me = app.signed_up("alice").await;
    let token = me.csrf("/settings/account").await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let res = me.client.post(me.url("/logout")).header("origin", origin).form(&[("csrf", token.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    assert!(me.signed_in().await);
    let res = me.client.post(me.url("/logout")).header("origin", app.url.as_str()).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "Berth's own origin passes");
    assert!(!me.signed_in().await);
}

#[actix_web::test]
async fn a_get_on_a_state_changing_route_is_405_and_changes_nothing() {
    let app = spawn_app().await;
    let me = app.signed_up("alice").await;
    for path in [
        "/logout",
        "/settings/account/password",
        "/settings/account/email",
        "/settings/security/2fa/recovery-codes.txt",
        "/settings/tokens/delete",
        "/settings/tokens/x/activate",
        "/settings/tokens/x/deactivate",
    ] {
        let res = me.get(path).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    assert!(me.signed_in().await);
}

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    assert_eq!(h["content-security-policy"], "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
}

#[actix_web::test]
async fn security_headers_are_on_every_answer_errors_included() {
    let app = spawn_app().await;
    let me = app.signed_up("alice").await;
    let res = me.get("/settings/account").await;
    assert_security_headers(&res, "signed-in page");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get("strict-transport-security").is_none(), "no HSTS over plain http");
    assert_security_headers(&me.get("/no/such/page").await, "404");
    assert_security_headers(&me.get("/logout").await, "405");
    assert_security_headers(&me.post_raw("/logout", &[]).await, "403");
    assert_security_headers(&me.get("/static/berth.css").await, "static");
    assert_security_headers(&app.browser().get("/login").await, "anonymous page");
    let big = "x".repeat(20_000);
    assert_security_headers(&me.post_raw("/login", &[("login", big.as_str())]).await, "413");
}

#[actix_web::test]
async fn the_session_cookie_is_httponly_and_lax() {
    let app = spawn_app().await;
    // an anonymous page gets the pre-session cookie only
    let b = app.browser();
    let res = b.get("/login").await;
    assert!(set_cookie(&res, SESSION_COOKIE).is_none(), "{:?}", set_cookies(&res));
    let pre = set_cookie(&res, PRE_SESSION_COOKIE).expect("a pre-session cookie");
    // signing up (signing in) sets the session cookie
    let res = b.signup("alice", "alice@example.com", PASSWORD).await;
    let session = set_cookie(&res, SESSION_COOKIE).expect("a session cookie at sign-in");
    for cookie in [pre, session] {
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.contains("Secure") && !cookie.contains("Domain="), "{cookie}");
    }
}

#[actix_web::test]
async fn with_secure_cookies_the_cookie_is_host_prefixed_and_secure_and_hsts_is_sent() {
    let app = spawn_app_with(|s| s.public_url = Some("https://berth.example.com".into())).await;
    // plain HTTP here, so the client carries the Secure pre-session cookie by hand
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(format!("{}/signup", app.url)).send().await.unwrap();
    assert!(res.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    let pre = set_cookie(&res, &format!("__Host-{PRE_SESSION_COOKIE}")).expect("a pre-session cookie");
    let csrf = csrf_in(&res.text().await.unwrap()).unwrap();
    let res = client
        .post(format!("{}/signup", app.url))
        .header("cookie", pre.split(';').next().unwrap())
        .form(&[("csrf", csrf.as_str()), ("username", "alice"), ("email", "alice@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&res, &format!("__Host-{SESSION_COOKIE}")).expect("a session cookie at sign-in");
    let flash = set_cookie(&res, "__Host-berth_flash").expect("the welcome message");
    for cookie in [pre, session, flash] {
        audit::secret(cookie.split(';').next().unwrap().split_once('=').unwrap().1);
        assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.contains("Domain="), "{cookie}");
    }
}

#[actix_web::test]
async fn user_typed_text_and_headers_render_as_text() {
    let app = spawn_app().await;
    let xss = "<img src=x onerror=alert(1)>";
    let b = app.browser_with_agent(xss);
    b.signup("alice", "alice@example.com", PASSWORD).await;
    // a failed sign-in from the same hostile client lands in the activity log too
    app.browser_with_agent(xss).login("alice", "wrong password here").await;
    for page in ["/settings/sessions", "/settings/activity"] {
        let (_, html) = b.get_text(page).await;
        assert!(!html.contains(xss), "{page} echoes the user agent raw");
        assert!(html.contains("&#60;img src=x onerror=alert(1)&#62;") || html.contains("&lt;img"), "{page}: {html}");
    }
    let (_, html) = app.browser().get_text(&format!("/login?next={}", "%22%3E%3Cscript%3Ealert(1)%3C/script%3E")).await;
    assert!(!html.contains("<script>alert(1)"));
}

/// An anonymous form: where it posts, valid fields, and where the right token lands.
struct AnonymousForm {
    path: &'static str,
    fields: &'static [(&'static str, &'static str)],
    lands_on: &'static str,
}

const ANONYMOUS_FORMS: [AnonymousForm; 3] = [
    AnonymousForm { path: "/login", fields: &[("login", "alice"), ("password", PASSWORD)], lands_on: "/" },
    AnonymousForm { path: "/signup", fields: &[("username", "carol"), ("email", "carol@example.com"), ("password", PASSWORD)], lands_on: "/settings/security" },
    AnonymousForm { path: "/login/2fa", fields: &[("code", "123456")], lands_on: "/login" },
];

/// `fields` with a `csrf` field first (none when `token` is `None`).
fn with_token<'a>(token: Option<&'a str>, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    token.map(|t| ("csrf", t)).into_iter().chain(fields.iter().copied()).collect()
}

/// `text` with its last character changed.
fn altered(text: &str) -> String {
    let mut s = text.to_string();
    let last = s.pop().unwrap();
    s.push(if last == 'A' { 'B' } else { 'A' });
    s
}

#[actix_web::test]
async fn anonymous_forms_refuse_a_missing_forged_or_foreign_csrf_value() {
    let app = spawn_app().await;
    app.signed_up("alice").await;
    let me = app.browser();
    let mine = me.csrf("/login").await;
    let foreign = app.browser().csrf("/login").await;
    assert_ne!(mine, foreign, "each browser has its own token");
    let forged = altered(&mine);
    let no_cookie = app.browser();
    // the pre-session cookie with one character of its signature changed
    let tampered = app.browser();
    tampered.jar.add_cookie_str(&format!("{}; Path=/", altered(&me.cookie_named(PRE_SESSION_COOKIE))), &app.url.parse().unwrap());
    for form in &ANONYMOUS_FORMS {
        for (what, b, token) in [
            ("missing", &me, None),
            ("empty", &me, Some("")),
            ("forged", &me, Some(forged.as_str())),
            ("another browser's", &me, Some(foreign.as_str())),
            ("without the pre-session cookie", &no_cookie, Some(mine.as_str())),
            ("with a tampered pre-session cookie", &tampered, Some(mine.as_str())),
        ] {
            let res = b.post_raw(form.path, &with_token(token, form.fields)).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what} token on {}", form.path);
        }
    }
    assert_eq!(app.session_rows(), 1, "only alice's session: nothing signed in");
    // positive control: the right token passes each form
    for form in &ANONYMOUS_FORMS {
        let res = me.post_raw(form.path, &with_token(Some(&mine), form.fields)).await;
        assert_eq!(location(&res), form.lands_on, "{}: {}", form.path, res.status());
        if form.path != "/login/2fa" {
            // signed in now: the anonymous token is worthless, the session's own token counts
            assert_eq!(me.post_raw("/logout", &[("csrf", &mine)]).await.status(), StatusCode::FORBIDDEN);
            assert!(me.signed_in().await);
            assert_eq!(location(&me.logout().await), "/login");
        }
    }
    // a pre-session cookie past its lifetime (2 hours) is not believed either
    let fresh = me.csrf("/login").await;
    app.clock.advance(2 * 3600 + 1);
    assert_eq!(me.post_raw("/login", &with_token(Some(&fresh), ANONYMOUS_FORMS[0].fields)).await.status(), StatusCode::FORBIDDEN, "expired");
}
