//! The new-token form in Chromium: the date field belongs to "Custom date" (shown only with
//! it, cleared by another choice), and the copy buttons still help where the browser offers
//! no clipboard (plain HTTP on a LAN address): the text is selected and the button says to
//! press Ctrl+C. The `docker login` command has its own copy button.

use super::*;

/// Whether the element `css` is drawn (not `display: none` anywhere up its tree).
async fn shown(b: &Client, css: &str) -> bool {
    let script = format!("const e = document.querySelector({css:?}); return !!e && e.offsetParent !== null;");
    b.execute(&script, vec![]).await.expect("reading visibility") == json!(true)
}

async fn form_flow(b: &Client, base: &str) {
    sign_up(b, base, "formuser", "formuser@example.com", None).await;
    goto(b, &format!("{base}/settings/tokens/new")).await;
    wait_for(b, "select#expiration").await;
    assert!(!shown(b, "input#expires-on").await, "with None the date field is hidden");
    choose(b, "select#expiration", "Custom date", "custom").await;
    assert!(shown(b, "input#expires-on").await, "Custom date shows the date field");
    b.execute("document.querySelector('#expires-on').value = '2099-01-01';", vec![]).await.unwrap();
    choose(b, "select#expiration", "30 days", "30").await;
    assert!(!shown(b, "input#expires-on").await, "another choice hides it again");
    let value = b.execute("return document.querySelector('#expires-on').value;", vec![]).await.unwrap();
    assert_eq!(value, json!(""), "and clears the date, which the server would refuse beside 30 days");

    // a token, then its copy page without a clipboard
    fill(b, "input#description", "copy test").await;
    wait_for(b, "form[action='/settings/tokens'] button[type=submit]").await.click().await.unwrap();
    let token = text_of(b, "code#token").await.trim().to_string();
    berth_test_support::audit::secret(&token);
    b.execute("Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true });", vec![]).await.unwrap();
    click_on(b, "button[data-copy='#token']").await;
    let label = text_of(b, "button[data-copy='#token']").await;
    assert!(label.contains("Ctrl+C"), "the button says how to copy: {label:?}");
    let selected = b.execute("return window.getSelection().toString().trim();", vec![]).await.unwrap();
    assert_eq!(selected, json!(token), "the token is selected, ready for Ctrl+C");
    click_on(b, "button[data-copy='#usage']").await;
    let selected = b.execute("return window.getSelection().toString().trim();", vec![]).await.unwrap();
    assert!(selected.as_str().unwrap().starts_with("docker login -u formuser"), "{selected}");
    screenshot(b, "copy-without-clipboard.png").await;
}

#[actix_web::test]
async fn browser_new_token_form_keeps_the_date_with_custom_and_copies_without_a_clipboard() {
    run_in_browser("chromedriver-forms.log", "forms-failure.png", |b, base, _| async move { form_flow(&b, &base).await }).await;
}
