//! Berth opened under an address other than its public URL: a form posted from there is
//! refused (its Origin is not Berth's), and the page says which address Berth expects,
//! with an absolute link to it instead of a relative one that leads back to the wrong place.

use reqwest::StatusCode;

use berth_test_support::*;

#[actix_web::test]
async fn a_form_from_another_address_of_this_server_names_the_address_berth_expects() {
    let app = spawn_app_with(|s| s.public_url = Some("http://berth.example.test".into())).await;
    let b = app.browser();
    let csrf = b.csrf("/login").await;
    // the browser opened Berth at 127.0.0.1:PORT, so that is the Origin it sends
    let res = b
        .client
        .post(b.url("/login"))
        .header("origin", app.url.trim_end_matches('/'))
        .form(&[("csrf", csrf.as_str()), ("login", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("set up to be opened at http://berth.example.test"), "{html}");
    assert!(html.contains(r#"href="http://berth.example.test" id="home""#), "an absolute link to the right address: {html}");
    // a post from a really foreign site keeps the plain refusal
    let res =
        b.client.post(b.url("/login")).header("origin", "https://evil.example").form(&[("csrf", csrf.as_str()), ("login", "alice"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("sent from another site") && !html.contains("berth.example.test"));
}
