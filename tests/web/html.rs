//! Every page is well-formed HTML: each one goes through `tidy` (Debian's html-tidy), and
//! anything it reports other than its not knowing newer HTML5 attributes fails the test.

use std::process::Command;

use berth_test_support::*;

/// HTML5 attributes tidy 5.6 does not know yet; everything else it says is a failure.
const KNOWN_TO_TIDY_AS_PROPRIETARY: [&str; 4] = ["\"autocapitalize\"", "\"minlength\"", "\"inputmode\"", "\"aria-current\""];

pub(crate) fn assert_valid(name: &str, html: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page.html");
    std::fs::write(&file, html).unwrap();
    let out = Command::new("tidy")
        .args(["-q", "-e", "--gnu-emacs", "yes"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("tidy is needed for this test (Debian package tidy; scripts/test.sh installs it): {e}"));
    let report = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> =
        report.lines().filter(|l| !l.trim().is_empty()).filter(|l| !(l.contains("proprietary attribute") && KNOWN_TO_TIDY_AS_PROPRIETARY.iter().any(|a| l.contains(a)))).collect();
    assert!(problems.is_empty(), "{name} is not valid HTML:\n{}", problems.join("\n"));
    assert!(html.contains("<title>") && html.contains(" · Berth</title>"), "{name} has a page title");
}

#[actix_web::test]
async fn every_page_is_valid_html_with_a_title() {
    let app = spawn_app().await;
    let anon = app.browser();
    for page in ["/login", "/signup", "/no/such/page"] {
        assert_valid(page, &anon.get_text(page).await.1);
    }
    let res = anon.signup("x", "bad", "short").await;
    assert_valid("sign-up errors", &res.text().await.unwrap());
    let res = anon.login("nobody", "wrong password here").await;
    assert_valid("login error", &res.text().await.unwrap());

    let b = app.signed_up("alice").await;
    for page in [
        "/settings/account",
        "/settings/security",
        "/settings/security/2fa/enable",
        "/settings/tokens",
        "/settings/sessions",
        "/settings/sessions/end-others",
        "/settings/activity",
        "/repositories",
    ] {
        let (status, html) = b.get_text(page).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{page}");
        assert_valid(page, &html);
    }
    b.submit("/settings/security/2fa/enable", "/settings/security/2fa/enable", &[("password", PASSWORD)]).await;
    let (_, setup) = b.get_text("/settings/security/2fa/setup").await;
    assert_valid("2FA set-up", &setup);
    let secret = regex::Regex::new(r#"<code id="totp-secret">([A-Z2-7]+)</code>"#).unwrap().captures(&setup).unwrap()[1].to_string();
    let res = b.submit("/settings/security/2fa/setup", "/settings/security/2fa/setup", &[("code", &app.code_now(&secret))]).await;
    assert_valid("recovery codes", &res.text().await.unwrap());
    for page in ["/settings/security", "/settings/security/2fa/disable", "/settings/security/2fa/recovery-codes", "/settings/security/2fa/enable"] {
        assert_valid(page, &b.get_text(page).await.1);
    }
    let (_, security) = b.get_text("/settings/security").await;
    let remove = regex::Regex::new(r#"/settings/security/2fa/factors/\d+/remove"#).unwrap().find(&security).expect("a Remove link per factor").as_str().to_string();
    assert_valid("remove a factor", &b.get_text(&remove).await.1);
    let x = app.browser();
    x.login("alice", PASSWORD).await;
    assert_valid("second step", &x.get_text("/login/2fa").await.1);
    let (_, sessions) = b.get_text("/settings/sessions").await;
    let id = regex::Regex::new(r#"/settings/sessions/([A-Za-z0-9_-]+)/end"#).unwrap().captures(&sessions).unwrap()[1].to_string();
    assert_valid("end session", &b.get_text(&format!("/settings/sessions/{id}/end")).await.1);
}

#[actix_web::test]
async fn token_pages_are_valid_html() {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    berth::accounts::set_plan(&mut app.conn(), app.user("alice").id, berth::accounts::Plan::Pro).unwrap();
    assert_valid("empty overview", &b.get_text("/settings/tokens").await.1);
    assert_valid("new token form", &b.get_text("/settings/tokens/new").await.1);
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "ci"), ("scope", "repo:read"), ("expiration", "30")]).await;
    assert_valid("copy page", &res.text().await.unwrap());
    let res = b.submit("/settings/tokens/new", "/settings/tokens", &[("description", ""), ("scope", "repo:read"), ("expiration", "none")]).await;
    assert_valid("form errors", &res.text().await.unwrap());
    b.submit("/settings/tokens/new", "/settings/tokens", &[("description", "second"), ("scope", "repo:admin"), ("expiration", "none")]).await;
    let (_, overview) = b.get_text("/settings/tokens").await;
    assert_valid("overview", &overview);
    let uuids: Vec<String> = regex::Regex::new(r#"name="uuid" value="([0-9a-f-]{36})""#).unwrap().captures_iter(&overview).map(|c| c[1].to_string()).collect();
    assert_valid("edit", &b.get_text(&format!("/settings/tokens/{}/edit", uuids[0])).await.1);
    assert_valid("delete one", &b.get_text(&format!("/settings/tokens/{}/delete", uuids[0])).await.1);
    let res = b.submit("/settings/tokens", "/settings/tokens/delete", &[("uuid", &uuids[0]), ("uuid", &uuids[1])]).await;
    assert_valid("bulk confirmation", &res.text().await.unwrap());
    b.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    assert_valid("repositories", &b.get_text("/repositories").await.1);
    assert_valid("delete repository", &b.get_text("/repositories/delete?name=alice%2Fapp").await.1);
    let res = b.submit("/repositories", "/repositories", &[("path", "Bad Name"), ("visibility", "private")]).await;
    assert_valid("repository errors", &res.text().await.unwrap());
}
