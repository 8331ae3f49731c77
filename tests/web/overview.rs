//! The token overview finds tokens: search by description, filters by status and
//! permission, orders by creation, last use or expiry, all on the server, kept in the URL
//! and combined with paging; and it deletes every expired token behind one confirmation.

use berth::accounts::Plan;
use berth::activity::Client;
use berth::tokens::{self, NewToken, Scope};
use reqwest::StatusCode;

use berth_test_support::*;

/// Descriptions in the order the overview shows them by default (newest first).
fn descriptions(html: &str) -> Vec<String> {
    regex::Regex::new(r#"<td class="description primary"><bdi>([^<]*)</bdi></td>"#).unwrap().captures_iter(html).map(|c| c[1].to_string()).collect()
}

/// alice (Team) with 30 tokens: "ci NN" read-only, every third "laptop NN" read-write,
/// token 0 expires in a minute, token 1 is inactive, token 2 was used at +10 s.
async fn alice_with_tokens() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let b = app.signed_up("alice").await;
    let uid = app.user("alice").id;
    berth::accounts::set_plan(&mut app.conn(), uid, Plan::Team).unwrap();
    let now = app.state.now();
    for i in 0..30 {
        let (description, scope) = if i % 3 == 0 { (format!("laptop {i:02}"), Scope::Write) } else { (format!("ci {i:02}"), Scope::Read) };
        let expires_at = [Some(now + 60), None, Some(now + 86_400 * 30), Some(now + 86_400 * 2)][i.min(3)];
        let (t, plain) = tokens::create(&mut app.conn(), uid, NewToken { description, scope, expires_at }, &Client::default(), now + i as i64).unwrap();
        audit::secret(plain.expose());
        if i == 1 {
            tokens::update(&mut app.conn(), uid, &t.uuid, None, Some(false), &Client::default(), now).unwrap();
        }
        if i == 2 {
            tokens::authenticate(&mut app.conn(), now + 10, "alice", plain.expose(), "10.0.0.1", "docker/27").unwrap().unwrap();
        }
    }
    app.clock.advance(120); // token 0 has expired
    (app, b)
}

#[actix_web::test]
async fn the_overview_searches_filters_and_orders_on_the_server() {
    let (_app, b) = alice_with_tokens().await;
    let page = |query: &'static str| {
        let b = &b;
        async move {
            let (status, html) = b.get_text(&format!("/settings/tokens?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}");
            html
        }
    };
    // search, any case
    let html = page("q=LAPTOP").await;
    let found = descriptions(&html);
    assert_eq!(found.len(), 10, "{found:?}");
    assert!(found.iter().all(|d| d.starts_with("laptop")));
    assert!(html.contains(r#"value="LAPTOP""#), "the search stays in the form");
    assert!(html.contains("10 of 30 tokens match."));
    // wildcards are text
    assert!(descriptions(&page("q=%25").await).is_empty());
    assert!(descriptions(&page("q=_").await).is_empty());
    // status
    assert_eq!(descriptions(&page("status=expired").await), vec!["laptop 00"]);
    assert_eq!(descriptions(&page("status=inactive").await), vec!["ci 01"]);
    assert_eq!(descriptions(&page("status=active").await).len(), 25, "a page of the 28 active ones");
    // permission, combined with search
    let read_write = descriptions(&page("scope=repo:write&status=active").await);
    assert_eq!(read_write.len(), 9, "{read_write:?}");
    assert!(descriptions(&page("scope=repo:write&q=ci").await).is_empty());
    // orders
    assert_eq!(descriptions(&page("sort=last_used").await)[0], "ci 02", "the one used comes first");
    let by_expiry = descriptions(&page("sort=expires").await);
    assert_eq!(&by_expiry[..2], ["laptop 00", "ci 29"], "the expired one, then those ending in two days, newest first: {by_expiry:?}");
    let last = descriptions(&page("page=2&sort=expires").await);
    assert_eq!(&last[last.len() - 2..], ["ci 02", "ci 01"], "then the one ending in 30 days; never expiring last");
    // paging keeps the filters
    let html = page("q=ci").await;
    assert_eq!(descriptions(&html).len(), 20);
    let html = page("status=active&sort=expires").await;
    assert!(html.contains("href=\"/settings/tokens?page=2&#38;status=active&#38;sort=expires\""), "{}", html.lines().filter(|l| l.contains("page=2")).collect::<String>());
    let second = descriptions(&page("page=2&status=active&sort=expires").await);
    assert_eq!(second.len(), 3, "28 active: 25 + 3");
    // nothing found says so
    assert!(page("q=nothing-like-this").await.contains("No token matches."));
    // bad values are a clear 400 that changes nothing
    for bad in ["status=gone", "scope=repo:root", "sort=random", "page=0", "colour=red"] {
        assert_eq!(b.get(&format!("/settings/tokens?{bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[actix_web::test]
async fn delete_expired_tokens_asks_first_and_deletes_only_the_expired() {
    let (app, _) = alice_with_tokens().await;
    let uid = app.user("alice").id;
    app.clock.advance(3 * 86_400); // tokens 3.. (two days) have expired too
    let b = app.browser(); // the first session ended long ago
    assert_eq!(location(&b.login("alice", PASSWORD).await), "/");
    let (_, overview) = b.get_text("/settings/tokens").await;
    let expired = tokens::counts(&mut app.conn(), uid, app.state.now()).unwrap().expired;
    assert!(expired > 1);
    assert!(overview.contains(&format!("Delete the {expired} expired tokens")));
    let (status, confirm) = b.get_text("/settings/tokens/delete-expired").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(confirm.matches("<li><strong>").count() as i64, expired, "the confirmation names each one");
    assert!(tokens::counts(&mut app.conn(), uid, app.state.now()).unwrap().expired == expired, "asking deleted nothing");
    let res = b.submit("/settings/tokens/delete-expired", "/settings/tokens/delete-expired", &[]).await;
    assert_eq!(location(&res), "/settings/tokens");
    let counts = tokens::counts(&mut app.conn(), uid, app.state.now()).unwrap();
    assert_eq!((counts.expired, counts.total()), (0, 30 - expired));
    let (_, html) = b.get_text("/settings/tokens").await;
    assert!(html.contains(&format!("{expired} expired tokens were deleted.")));
    let events = berth::activity::list(&mut app.conn(), uid, 1, 200).unwrap().0.into_iter().filter(|e| e.kind == "token_deleted").count() as i64;
    assert_eq!(events, expired, "one event per token");
    // with none left the link is gone and the page sends back
    assert!(!html.contains("delete-expired"));
    assert_eq!(location(&b.get("/settings/tokens/delete-expired").await), "/settings/tokens");
}
