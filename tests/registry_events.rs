//! The registry's notifications: the events endpoint on its own (its secret, replayed and
//! malformed batches, how pulls are counted, with the test's clock), and end to end with
//! Debian's `docker-registry` reporting to Berth as `berth registry-config` tells it to:
//! skopeo pushes, pulls and deletes show as tags, digests, sizes, platforms and pull
//! counts, and `berth registry sync` rebuilds what was lost while the events went nowhere.

use std::time::{Duration, Instant};

use berth::repositories::tags::{self, Platform, Stats, Tag};
use berth::tokens::Scope;
use berth_test_support::listener::Listener;
use berth_test_support::registry::*;
use berth_test_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The events secret of these tests (32 characters or more, as Berth requires).
const SECRET: &str = "events-secret-0123456789abcdef0123456789";

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
const BLOB: &str = "application/octet-stream";

/// A server taking events with `SECRET`, reading the registry at `registry_port` (a closed
/// port when None: the manifest reads fail and are left for a sync).
async fn app_taking_events(registry_port: Option<u16>) -> TestApp {
    audit::secret(SECRET);
    spawn_app_with(|s| {
        s.registry_events_secret = Some(SECRET.into());
        s.registry_url = format!("http://127.0.0.1:{}", registry_port.unwrap_or(9));
    })
    .await
}

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// An event of the registry's shape; `post` gives it the test clock's time unless it has
/// a `timestamp` of its own.
fn event(id: &str, action: &str, media_type: &str, digest: &str, tag: Option<&str>, method: &str, client: (&str, &str)) -> Value {
    let mut target =
        json!({"mediaType": media_type, "digest": digest, "size": 500, "length": 500, "repository": "alice/app", "url": "http://evil.example/v2/alice/app/manifests/x"});
    if let Some(tag) = tag {
        target["tag"] = json!(tag);
    }
    json!({
        "id": id,
        "action": action,
        "target": target,
        "request": {"id": "r", "addr": client.0, "host": "registry", "method": method, "useragent": client.1},
        "actor": {"name": "alice"},
        "source": {"addr": "registry:5000", "instanceID": "i"},
    })
}

const DOCKER: (&str, &str) = ("10.0.0.7:40001", "docker/28.0 go/go1.23 (linux)");

async fn post_raw(app: &TestApp, authorization: Option<&str>, content_type: &str, body: Vec<u8>) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().post(format!("{}/registry/events", app.url)).header("content-type", content_type).body(body);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// A time as the registry writes it (Go's RFC 3339 with nanoseconds).
fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 123_456_789).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

async fn post(app: &TestApp, events: &[Value]) -> (StatusCode, Value) {
    let mut events = events.to_vec();
    for e in events.iter_mut().filter(|e| e.is_object() && e.get("timestamp").is_none()) {
        e["timestamp"] = json!(rfc3339(app.state.now()));
    }
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let (status, text) = post_raw(app, Some(&format!("Bearer {SECRET}")), "application/vnd.docker.distribution.events.v1+json", body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// alice and her repository `alice/app`, recorded as a push through Berth records it.
async fn alice_app(app: &TestApp) -> i32 {
    app.signed_up("alice").await;
    berth::repositories::create(&mut app.conn(), &app.owner("alice"), "app", false, app.state.now()).unwrap();
    tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap()
}

fn stats(app: &TestApp, repository: i32) -> Stats {
    tags::stats(&mut app.conn(), repository).unwrap()
}

fn tag(app: &TestApp, repository: i32, name: &str) -> Option<Tag> {
    tags::find(&mut app.conn(), repository, name).unwrap()
}

// ---------------------------------------------------------------------------------------
// The endpoint

#[actix_web::test]
async fn without_a_secret_the_endpoint_does_not_exist() {
    let app = spawn_app().await;
    let (status, _) = post_raw(&app, Some("Bearer anything-at-all"), "application/json", b"{\"events\":[]}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_missing_or_wrong_secret_is_refused_and_records_nothing() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let pull = serde_json::to_vec(&json!({"events": [event("e1", "pull", IMAGE, &digest(1), None, "GET", DOCKER)]})).unwrap();
    let wrong = format!("Bearer {}", SECRET.replace('0', "1"));
    let shorter = format!("Bearer {}", &SECRET[..SECRET.len() - 1]);
    let basic = format!("Basic {SECRET}");
    for authorization in [None, Some("Bearer "), Some(wrong.as_str()), Some(shorter.as_str()), Some(basic.as_str())] {
        let (status, _) = post_raw(&app, authorization, "application/vnd.docker.distribution.events.v1+json", pull.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
    }
    assert_eq!(stats(&app, repository).pull_count, 0, "a refused batch records nothing");
    let (status, _) = post_raw(&app, Some(&format!("Bearer {SECRET}")), "application/vnd.docker.distribution.events.v1+json", pull).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats(&app, repository).pull_count, 1, "the same batch with the secret is taken");
}

#[actix_web::test]
async fn a_batch_sent_again_is_taken_once_and_event_ids_are_kept_a_day() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let batch = [event("push-1", "push", IMAGE, &digest(1), Some("v1"), "PUT", DOCKER), event("pull-1", "pull", IMAGE, &digest(1), Some("v1"), "GET", DOCKER)];
    let (status, answer) = post(&app, &batch).await;
    assert_eq!((status, answer["taken"].as_u64(), answer["replayed"].as_u64()), (StatusCode::OK, Some(2), Some(0)), "{answer}");
    // the registry sends a batch again when it thinks it failed
    let (status, answer) = post(&app, &batch).await;
    assert_eq!((status, answer["taken"].as_u64(), answer["replayed"].as_u64()), (StatusCode::OK, Some(0), Some(2)), "{answer}");
    // and an event twice in one batch is one event
    let twice = event("pull-2", "pull", IMAGE, &digest(1), Some("v1"), "GET", ("10.0.0.8:1", "other"));
    post(&app, &[twice.clone(), twice]).await;
    assert_eq!(stats(&app, repository).pull_count, 2);
    let v1 = tag(&app, repository, "v1").expect("the pushed tag");
    assert_eq!((v1.digest.as_str(), v1.pull_count, v1.pushed_by.as_deref()), (digest(1).as_str(), 2, Some("alice")));

    // after a day the ids are forgotten
    let seen = || {
        use diesel::prelude::*;
        berth::db::schema::registry_events_seen::table.count().get_result::<i64>(&mut app.conn()).unwrap()
    };
    assert_eq!(seen(), 3);
    app.clock.advance(berth::registry_events::SEEN_FOR + 1);
    post(&app, &[event("pull-3", "pull", IMAGE, &digest(1), Some("v1"), "GET", DOCKER)]).await;
    assert_eq!(seen(), 1, "only the newest id is kept");
}

#[actix_web::test]
async fn a_malformed_batch_is_refused_whole_and_records_nothing() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let good = event("good", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    let mut no_digest = event("bad", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    no_digest["target"].as_object_mut().unwrap().remove("digest");
    let mut bad_repository = event("bad", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    bad_repository["target"]["repository"] = json!("../../etc");
    let mut bad_action = event("bad", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    bad_action["action"] = json!(["pull"]);
    let mut no_id = event("", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    no_id["id"] = json!(null);
    for bad in [no_digest, bad_repository, bad_action, no_id, json!("not an event")] {
        let (status, answer) = post(&app, &[good.clone(), bad.clone()]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {answer}");
        assert!(answer["details"].as_str().is_some_and(|d| !d.is_empty()), "{answer}");
    }
    let auth = format!("Bearer {SECRET}");
    let envelope = "application/vnd.docker.distribution.events.v1+json";
    for body in [&b"not json"[..], b"{\"events\": \"x\"}", b"{}", b"{\"events\": [], \"more\": 1}"] {
        assert_eq!(post_raw(&app, Some(&auth), envelope, body.to_vec()).await.0, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(post_raw(&app, Some(&auth), "text/plain", b"{\"events\":[]}".to_vec()).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = serde_json::to_vec(&json!({"events": vec![good.clone(); 4000]})).unwrap();
    assert!(huge.len() > berth::registry_events::MAX_BATCH_BYTES);
    assert_eq!(post_raw(&app, Some(&auth), envelope, huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stats(&app, repository).pull_count, 0, "nothing of a refused batch was recorded");
    // the good event of the refused batches was not taken either: alone it is
    let (status, answer) = post(&app, &[good]).await;
    assert_eq!((status, answer["taken"].as_u64()), (StatusCode::OK, Some(1)), "{answer}");
    assert_eq!(stats(&app, repository).pull_count, 1);
}

#[actix_web::test]
async fn an_event_berth_records_nothing_for_is_skipped_and_the_rest_of_its_batch_taken() {
    // the registry sends nothing more until a batch is taken: one event of a newer
    // registry's action, or of a digest algorithm Berth does not record, must not hold
    // back every event after it
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let mut new_action = event("e2", "pull", IMAGE, &digest(1), None, "GET", DOCKER);
    new_action["action"] = json!("replicate");
    let other_algorithm = event("e3", "pull", IMAGE, "blake3:0123abcd", None, "GET", DOCKER);
    let batch =
        [event("e1", "pull", IMAGE, &digest(1), None, "GET", DOCKER), new_action, other_algorithm, event("e4", "pull", IMAGE, &digest(2), None, "GET", ("10.0.0.9:1", "other"))];
    let (status, answer) = post(&app, &batch).await;
    assert_eq!((status, answer["taken"].as_u64(), answer["skipped"].as_u64()), (StatusCode::OK, Some(2), Some(2)), "{answer}");
    assert_eq!(stats(&app, repository).pull_count, 2);
    // a sha384 digest is a digest Berth records
    let sha384 = format!("sha384:{}", "c".repeat(96));
    post(&app, &[event("e5", "push", IMAGE, &sha384, Some("v384"), "PUT", DOCKER)]).await;
    assert_eq!(tag(&app, repository, "v384").map(|t| t.digest), Some(sha384));
}

#[actix_web::test]
async fn pulls_count_as_on_docker_hub() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let (index, amd64, arm64) = (digest(10), digest(11), digest(12));
    post(
        &app,
        &[
            event("p1", "push", IMAGE, &amd64, None, "PUT", DOCKER),
            event("p2", "push", IMAGE, &arm64, None, "PUT", DOCKER),
            event("p3", "push", INDEX, &index, Some("multi"), "PUT", DOCKER),
        ],
    )
    .await;
    let count = || (stats(&app, repository).pull_count, tag(&app, repository, "multi").unwrap().pull_count);
    assert_eq!(count(), (0, 0), "pushes are not pulls");

    // docker pull: the index by tag, then its platform's manifest by digest, on another connection
    post(&app, &[event("a1", "pull", INDEX, &index, Some("multi"), "GET", DOCKER)]).await;
    post(&app, &[event("a2", "pull", IMAGE, &amd64, None, "GET", ("10.0.0.7:40002", DOCKER.1))]).await;
    assert_eq!(count(), (1, 1), "an index and its platform manifest fetched together are one pull");

    // neither a HEAD, nor a blob, nor Berth's own read is a pull
    post(&app, &[event("h1", "pull", INDEX, &index, Some("multi"), "HEAD", ("10.0.0.9:1", "skopeo/1.9"))]).await;
    post(&app, &[event("b1", "pull", BLOB, &digest(99), None, "GET", ("10.0.0.9:1", "skopeo/1.9"))]).await;
    let mut own = event("s1", "pull", INDEX, &index, Some("multi"), "GET", ("127.0.0.1:1", "berth"));
    own["actor"]["name"] = json!(berth::registry::client::SELF_SUBJECT);
    post(&app, &[own]).await;
    assert_eq!(count(), (1, 1), "HEADs, blobs and Berth's own reads are not pulls");

    // the same platform manifest 11 seconds after the index is a pull of its own
    app.clock.advance(11);
    post(&app, &[event("a3", "pull", IMAGE, &amd64, None, "GET", DOCKER)]).await;
    assert_eq!(count(), (2, 1), "past the window a platform manifest counts (it names no tag)");

    // another client (its user agent differs) within the window of the first one's index
    post(&app, &[event("a4", "pull", INDEX, &index, Some("multi"), "GET", DOCKER)]).await;
    app.clock.advance(5);
    post(&app, &[event("c1", "pull", IMAGE, &arm64, None, "GET", ("10.0.0.7:40003", "containerd/2.0"))]).await;
    assert_eq!(count(), (4, 2), "the index counted, and the other client's manifest too");
    post(&app, &[event("a5", "pull", IMAGE, &arm64, None, "GET", DOCKER)]).await;
    assert_eq!(count(), (4, 2), "the first client's platform manifest 5 s after its index is the same pull");

    let multi = tag(&app, repository, "multi").unwrap();
    assert_eq!(multi.last_pulled_at, Some(app.state.now() - 5), "the tag was last pulled by name at the index pull");
    assert_eq!(stats(&app, repository).last_pulled_at, Some(app.state.now()));

    // an event about a repository Berth does not record is taken and changes nothing
    let mut elsewhere = event("x1", "pull", IMAGE, &amd64, None, "GET", DOCKER);
    elsewhere["target"]["repository"] = json!("nobody/else");
    assert_eq!(post(&app, &[elsewhere]).await.0, StatusCode::OK);
}

/// A webhook of alice/app, to a public address (nothing is sent in these tests).
fn with_a_webhook(app: &TestApp) {
    let alice = app.user("alice");
    let c = &mut app.conn();
    let hooked = berth::repositories::managed_by(c, alice.id, "alice/app").unwrap();
    let parsed = berth::webhooks::address::parse("https://ci.example.com/hooks/berth").unwrap();
    let url = berth::webhooks::address::check(parsed, vec!["93.184.216.34:443".parse().unwrap()], false).unwrap();
    berth::webhooks::add(c, &app.state.keys, alice.id, &hooked, "CI", &url, app.state.now()).unwrap();
}

/// `event` at the time `at` of the registry's clock.
fn event_at(at: Value, id: &str, action: &str, media_type: &str, digest: &str, tag: Option<&str>, client: (&str, &str)) -> Value {
    let method = if action == "push" { "PUT" } else { "GET" };
    let mut e = event(id, action, media_type, digest, tag, method, client);
    e["timestamp"] = at;
    e
}

#[actix_web::test]
async fn events_are_recorded_at_their_own_time_and_one_reported_late_moves_no_time_back() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    let now = app.state.now();
    let at = |t: i64| json!(rfc3339(t));

    // the registry retried these for an hour while Berth was down
    post(&app, &[event_at(at(now - 3600), "p1", "push", IMAGE, &digest(1), Some("v1"), DOCKER)]).await;
    let v1 = tag(&app, repository, "v1").unwrap();
    assert_eq!((v1.digest.as_str(), v1.pushed_at), (digest(1).as_str(), now - 3600), "pushed when the registry says, not when it told Berth");
    post(&app, &[event_at(at(now - 60), "p2", "push", IMAGE, &digest(2), Some("v1"), DOCKER)]).await;
    assert_eq!(tag(&app, repository, "v1").unwrap().pushed_at, now - 60);
    // a push older than the tag's own, reported after it, leaves the newer one standing
    post(&app, &[event_at(at(now - 1800), "p3", "push", IMAGE, &digest(3), Some("v1"), DOCKER)]).await;
    let v1 = tag(&app, repository, "v1").unwrap();
    assert_eq!((v1.digest.as_str(), v1.pushed_at), (digest(2).as_str(), now - 60), "v1 stays on the newest push");
    assert_eq!(stats(&app, repository).last_updated, Some(now - 60));

    // pulls count however late they come; the last pull is the newest
    post(&app, &[event_at(at(now - 100), "a1", "pull", IMAGE, &digest(2), Some("v1"), DOCKER)]).await;
    post(&app, &[event_at(at(now - 200), "a2", "pull", IMAGE, &digest(2), Some("v1"), ("10.0.0.8:1", "skopeo/1.9"))]).await;
    let v1 = tag(&app, repository, "v1").unwrap();
    assert_eq!((v1.pull_count, v1.last_pulled_at), (2, Some(now - 100)));
    assert_eq!((stats(&app, repository).pull_count, stats(&app, repository).last_pulled_at), (2, Some(now - 100)));
    assert_eq!(v1.digest_last_pulled_at, Some(now - 100));

    // a time from the registry's future, Go's zero time, or none at all: the arrival
    app.clock.advance(10);
    let arrival = app.state.now();
    post(&app, &[event_at(at(arrival + 86_400), "p4", "push", IMAGE, &digest(4), Some("future"), DOCKER)]).await;
    assert_eq!(tag(&app, repository, "future").unwrap().pushed_at, arrival, "never later than it arrived");
    post(&app, &[event_at(json!("0001-01-01T00:00:00Z"), "p5", "push", IMAGE, &digest(5), Some("zero"), DOCKER)]).await;
    assert_eq!(tag(&app, repository, "zero").unwrap().pushed_at, arrival);
    post(&app, &[event_at(json!(""), "p6", "push", IMAGE, &digest(6), Some("none"), DOCKER)]).await;
    assert_eq!(tag(&app, repository, "none").unwrap().pushed_at, arrival);

    // a time that is not one is a malformed batch: nothing of it is taken
    for bad in [json!("yesterday"), json!("2026-12-02 10:00:00"), json!(1_764_000_000)] {
        let batch = [event("p7", "push", IMAGE, &digest(7), Some("ok"), "PUT", DOCKER), event_at(bad.clone(), "p8", "push", IMAGE, &digest(8), Some("bad"), DOCKER)];
        assert_eq!(post(&app, &batch).await.0, StatusCode::BAD_REQUEST, "{bad}");
        assert!(tag(&app, repository, "ok").is_none() && tag(&app, repository, "bad").is_none(), "{bad}");
    }
}

#[actix_web::test]
async fn a_push_reported_late_queues_no_webhook_and_a_platform_pull_reported_late_still_joins_its_index() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    with_a_webhook(&app);
    let deliveries = || {
        use berth::db::schema::webhook_deliveries as d;
        use diesel::prelude::*;
        d::table.count().get_result::<i64>(&mut app.conn()).unwrap()
    };
    let now = app.state.now();
    let at = |t: i64| json!(rfc3339(t));
    post(&app, &[event_at(at(now - 10), "p1", "push", IMAGE, &digest(1), Some("v1"), DOCKER)]).await;
    assert_eq!(deliveries(), 1);
    post(&app, &[event_at(at(now - 20), "p2", "push", IMAGE, &digest(2), Some("v1"), DOCKER)]).await;
    assert_eq!(deliveries(), 1, "the tag is not on the late push's digest: nobody is told it is");

    // an index and its platform manifest pulled together an hour ago, reported one batch
    // at a time and minutes apart: one pull, as it was
    let (index, amd64) = (digest(10), digest(11));
    post(&app, &[event("p3", "push", IMAGE, &amd64, None, "PUT", DOCKER), event("p4", "push", INDEX, &index, Some("multi"), "PUT", DOCKER)]).await;
    post(&app, &[event_at(at(now - 3600), "a1", "pull", INDEX, &index, Some("multi"), DOCKER)]).await;
    app.clock.advance(300);
    post(&app, &[event_at(at(now - 3598), "a2", "pull", IMAGE, &amd64, None, DOCKER)]).await;
    assert_eq!(stats(&app, repository).pull_count, 1, "an index and its platform 2 s apart are one pull, whenever they arrive");
    // and the same platform manifest 11 s after that index is a pull of its own
    post(&app, &[event_at(at(now - 3589), "a3", "pull", IMAGE, &amd64, None, DOCKER)]).await;
    assert_eq!(stats(&app, repository).pull_count, 2);
}

#[actix_web::test]
async fn a_tags_push_queues_one_delivery_per_webhook_once_and_a_push_by_digest_none() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    with_a_webhook(&app);
    let payloads = || {
        use berth::db::schema::webhook_deliveries as d;
        use diesel::prelude::*;
        d::table.order(d::id.asc()).select(d::payload).load::<String>(&mut app.conn()).unwrap()
    };
    let batch = [event("p1", "push", IMAGE, &digest(1), None, "PUT", DOCKER), event("p2", "push", INDEX, &digest(2), Some("v1"), "PUT", DOCKER)];
    post(&app, &batch).await;
    post(&app, &batch).await;
    let sent = payloads();
    assert_eq!(sent.len(), 1, "one delivery: the tag's push, once: {sent:?}");
    let body: Value = serde_json::from_str(&sent[0]).unwrap();
    assert_eq!(
        (body["push_data"]["tag"].as_str(), body["push_data"]["digest"].as_str(), body["push_data"]["pusher"].as_str()),
        (Some("v1"), Some(digest(2).as_str()), Some("alice"))
    );
    assert_eq!(body["repository"]["repo_name"], json!("alice/app"));
    assert!(tag(&app, repository, "v1").is_some());
}

#[actix_web::test]
async fn a_delete_forgets_every_tag_on_the_digest_and_the_tag_list_pages_and_filters() {
    let app = app_taking_events(None).await;
    let repository = alice_app(&app).await;
    for (i, name) in ["v1", "v2", "latest", "beta-1"].iter().enumerate() {
        app.clock.advance(1);
        let on = if *name == "beta-1" { digest(2) } else { digest(1) };
        post(&app, &[event(&format!("p{i}"), "push", IMAGE, &on, Some(name), "PUT", DOCKER)]).await;
    }
    let names = |ordering, filter: Option<&str>, page, per| tags::page(&mut app.conn(), repository, ordering, filter, page, per).unwrap();
    let (newest, total) = names(tags::Ordering::NewestFirst, None, 1, 2);
    assert_eq!((newest.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), total), (vec!["beta-1", "latest"], 4));
    let (by_name, _) = names(tags::Ordering::NameAscending, None, 2, 2);
    assert_eq!(by_name.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["v1", "v2"]);
    let (filtered, total) = names(tags::Ordering::NameDescending, Some("v"), 1, 10);
    assert_eq!((filtered.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), total), (vec!["v2", "v1"], 2));
    assert_eq!(names(tags::Ordering::NameAscending, Some("%"), 1, 10).1, 0, "a filter's % is a character");
    assert_eq!(tags::others_on_digest(&mut app.conn(), repository, &digest(1), "v1").unwrap(), vec!["latest", "v2"]);

    // distribution deletes by digest: every tag on it goes
    let delete = json!({"id": "d1", "action": "delete", "target": {"digest": digest(1), "repository": "alice/app"}, "request": {"method": "DELETE"}, "actor": {"name": "alice"}});
    assert_eq!(post(&app, &[delete]).await.0, StatusCode::OK);
    let (left, total) = names(tags::Ordering::NameAscending, None, 1, 10);
    assert_eq!((left.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), total), (vec!["beta-1"], 1));
    assert_eq!(stats(&app, repository).tag_count, 1);
}

#[actix_web::test]
async fn a_pushed_manifest_is_read_from_the_registry_url_with_berths_own_pull_token_never_from_the_events_url() {
    let (decoy, registry_side) = (Listener::start(vec![404]), Listener::start(vec![404]));
    let registry_port = registry_side.port;
    let app = app_taking_events(Some(registry_port)).await;
    let repository = alice_app(&app).await;
    let mut push = event("p1", "push", IMAGE, &digest(7), Some("v1"), "PUT", DOCKER);
    push["target"]["url"] = json!(decoy.url(&format!("/v2/alice/app/manifests/{}", digest(7))));
    assert_eq!(post(&app, &[push]).await.0, StatusCode::OK);
    app.state.registry_reader.settled().await;

    assert!(decoy.received().is_empty(), "the event's URL is never fetched");
    let heads: Vec<String> = registry_side.received().into_iter().map(|r| r.head).collect();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with(&format!("GET /v2/alice/app/manifests/{} HTTP/1.1\r\n", digest(7))), "{}", heads[0]);
    let token = heads[0].lines().find_map(|l| l.strip_prefix("authorization: Bearer ")).unwrap_or_else(|| panic!("a bearer token in {}", heads[0]));
    use base64::Engine;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], json!(berth::registry::client::SELF_SUBJECT));
    assert_eq!(claims["access"], json!([{"type": "repository", "name": "alice/app", "actions": ["pull"]}]), "pull only, that one repository");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60, "{claims}");
    // the read failed (404): the tag is recorded, its size and platforms wait for a sync
    let v1 = tag(&app, repository, "v1").unwrap();
    assert_eq!((v1.digest, v1.size, v1.platforms.len()), (digest(7), None, 0));
}

// ---------------------------------------------------------------------------------------
// End to end, with the registry reporting to Berth

/// Until `done` holds, for at most 30 s: the registry sends its events on its own time.
async fn eventually(what: &str, registry: &Registry, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s\nregistry log:\n{}", registry.log());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn platform(os: &str, architecture: &str, variant: Option<&str>, image: &BuiltImage) -> Platform {
    Platform { os: os.into(), architecture: architecture.into(), variant: variant.map(str::to_string), digest: image.digest.clone(), size: image.size as i64 }
}

/// A server taking events, a registry reporting to it (or to `endpoint`), clients, and
/// alice with a "Read, Write, Delete" token (`alice:token`).
async fn reporting_to_berth(endpoint: Option<&str>) -> (TestApp, Registry, Clients, String) {
    require_programs();
    let port = free_port();
    let app = app_taking_events(Some(port)).await;
    let registry = Registry::reporting(&app, port, SECRET, endpoint).await;
    app.signed_up("alice").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    (app, registry, Clients::new(), alice)
}

#[actix_web::test]
async fn a_push_a_pull_and_a_delete_through_the_registry_show_as_tags_and_pulls() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;

    // a one-platform image
    let layout = clients.dir.path().join("image");
    let image = build_image(&layout, "hello, events\n");
    clients.push(&layout, &registry, "alice/app:v1", &alice).await.assert_ok("skopeo push");
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().expect("the push recorded the repository");
    eventually("the pushed tag", &registry, || tag(&app, repository, "v1").is_some()).await;
    app.state.registry_reader.settled().await;
    let v1 = tag(&app, repository, "v1").unwrap();
    assert_eq!((v1.digest.as_str(), v1.media_type.as_str(), v1.pushed_by.as_deref()), (image.as_str(), IMAGE, Some("alice")));
    let manifest = std::fs::read(layout.join("blobs/sha256").join(image.trim_start_matches("sha256:"))).unwrap();
    assert_eq!(v1.manifest_size, manifest.len() as i64);
    let doc: Value = serde_json::from_slice(&manifest).unwrap();
    let size = doc["config"]["size"].as_i64().unwrap() + doc["layers"][0]["size"].as_i64().unwrap();
    assert_eq!(v1.size, Some(size), "the config and layer's bytes");
    assert_eq!(v1.platforms, vec![Platform { os: "linux".into(), architecture: "amd64".into(), variant: None, digest: image.clone(), size }]);
    assert_eq!(stats(&app, repository).pull_count, 0, "Berth's own reads of the manifest and config are no pulls");

    // a pull is counted once it is reported
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_ok("skopeo pull");
    eventually("the pull", &registry, || stats(&app, repository).pull_count == 1).await;
    assert_eq!(tag(&app, repository, "v1").unwrap().pull_count, 1);

    // an index of two platforms (skopeo --all pushes every platform's image first)
    let multi = clients.dir.path().join("multi");
    let (index, images) = build_index(&multi, &[("linux", "amd64", None), ("linux", "arm64", Some("v8"))]);
    clients.push_with(&multi, &registry, "alice/app:multi", &alice, &["--all"]).await.assert_ok("skopeo push --all of an index");
    eventually("the pushed index", &registry, || tag(&app, repository, "multi").is_some()).await;
    app.state.registry_reader.settled().await;
    let pushed = tag(&app, repository, "multi").unwrap();
    assert_eq!((pushed.digest.as_str(), pushed.media_type.as_str()), (index.as_str(), INDEX));
    assert_eq!(pushed.platforms, vec![platform("linux", "amd64", None, &images[0]), platform("linux", "arm64", Some("v8"), &images[1])]);
    assert_eq!(pushed.size, Some((images[0].size + images[1].size) as i64));

    // skopeo pulls the index and then the one platform it wants: one pull
    let before = stats(&app, repository).pull_count;
    clients.pull_fresh(&registry, "alice/app:multi", Some(&alice)).await.assert_ok("skopeo pull of an index");
    eventually("the index pull", &registry, || tag(&app, repository, "multi").unwrap().pull_count == 1).await;
    let platform_pulled = || tags::manifest_last_pulled(&mut app.conn(), repository, &images[0].digest).unwrap().is_some();
    eventually("the platform manifest's pull", &registry, platform_pulled).await;
    assert_eq!(stats(&app, repository).pull_count, before + 1, "the index and its platform manifest are one pull");

    // skopeo delete deletes the digest: the tag is forgotten, the other stays
    clients.delete(&registry, "alice/app:v1", &alice).await.assert_ok("skopeo delete");
    eventually("the deleted tag forgotten", &registry, || tag(&app, repository, "v1").is_none()).await;
    assert!(tag(&app, repository, "multi").is_some());
}

#[actix_web::test]
async fn registry_sync_rebuilds_the_tags_pushed_and_deleted_while_the_events_went_nowhere() {
    // the registry's notifications point at a closed port, as while Berth is down
    let (app, registry, clients, alice) = reporting_to_berth(Some("http://127.0.0.1:9/registry/events")).await;
    let layout = clients.dir.path().join("image");
    let image = build_image(&layout, "pushed during an outage\n");
    for reference in ["alice/app:v1", "alice/app:v2", "alice/other:latest"] {
        clients.push(&layout, &registry, reference, &alice).await.assert_ok("skopeo push");
    }
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();
    assert_eq!(stats(&app, repository).tag_count, 0, "no event reached Berth");

    let registry_url = format!("http://{}", registry.host());
    let sync = |args: &'static [&'static str]| {
        let app = &app;
        let registry_url = registry_url.clone();
        async move {
            let mut all = vec!["registry", "sync"];
            all.extend_from_slice(args);
            berth_on_with(app, &all, &[("BERTH_REGISTRY_URL", &registry_url)]).await
        }
    };
    let out = sync(&[]).await;
    out.assert_ok("berth registry sync");
    for line in [format!("added   alice/app:v1 {image}"), format!("added   alice/app:v2 {image}"), format!("added   alice/other:latest {image}")] {
        assert!(out.stdout.lines().any(|l| l == line), "`{line}` in\n{}", out.describe());
    }
    assert!(out.stdout.contains("synced 2 repositories") && out.stdout.contains("3 tags, 3 added, 0 updated, 0 removed; 2 manifests read"), "{}", out.describe());
    let v1 = tag(&app, repository, "v1").expect("synced");
    assert_eq!((v1.digest.as_str(), v1.media_type.as_str(), v1.platforms.len()), (image.as_str(), IMAGE, 1));
    assert_eq!(v1.platforms[0].architecture, "amd64");

    // a sync with nothing new changes nothing
    let out = sync(&[]).await;
    assert!(out.assert_ok("a second sync").stdout.contains("3 tags, 0 added, 0 updated, 0 removed; 0 manifests read"), "{}", out.describe());

    // v1 moves to another image and v2 is deleted (with its digest, v1 was on it too)
    clients.delete(&registry, "alice/app:v2", &alice).await.assert_ok("skopeo delete");
    let other = clients.dir.path().join("other");
    let moved = build_image(&other, "a new v1\n");
    clients.push(&other, &registry, "alice/app:v1", &alice).await.assert_ok("skopeo push");
    let out = sync(&["--repository", "alice/app"]).await;
    out.assert_ok("berth registry sync --repository");
    assert!(out.stdout.lines().any(|l| l == format!("updated alice/app:v1 {image} -> {moved}")), "{}", out.describe());
    assert!(out.stdout.lines().any(|l| l == format!("removed alice/app:v2 (was {image})")), "{}", out.describe());
    assert!(out.stdout.contains("synced 1 repositories"), "{}", out.describe());
    assert_eq!(tag(&app, repository, "v1").unwrap().digest, moved);
    assert!(tag(&app, repository, "v2").is_none());

    // clear errors
    let out = sync(&["--repository", "nobody/nothing"]).await;
    out.assert_failed("a repository Berth does not have");
    assert!(out.stderr.contains("Berth has no repository \"nobody/nothing\""), "{}", out.describe());
    let out = berth_on_with(&app, &["registry", "sync"], &[("BERTH_REGISTRY_URL", "http://127.0.0.1:9")]).await;
    out.assert_failed("an unreachable registry");
    assert!(out.stderr.contains("the registry at http://127.0.0.1:9 cannot be reached"), "{}", out.describe());
}

#[actix_web::test]
async fn a_tag_a_live_event_changes_while_a_sync_reads_the_registry_is_left_as_the_event_made_it() {
    let (app, registry, clients, alice) = reporting_to_berth(Some("http://127.0.0.1:9/registry/events")).await;
    let (one, two) = (clients.dir.path().join("one"), clients.dir.path().join("two"));
    let (first, second) = (build_image(&one, "first\n"), build_image(&two, "second\n"));
    for reference in ["alice/app:v1", "alice/app:v2", "alice/app:v3"] {
        clients.push(&one, &registry, reference, &alice).await.assert_ok("skopeo push");
    }
    // Berth heard of v3 before its events went nowhere
    post(&app, &[event("v3-pushed", "push", IMAGE, &first, Some("v3"), "PUT", DOCKER)]).await;
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();

    let key = app.state.registry_key.signing(&app.state.database, app.state.now()).await;
    let read = berth::registry_events::sync::read(&mut app.conn(), &app.state.registry, &key, "alice/app", &*app.state.clock).await.unwrap().expect("Berth has alice/app");
    // while the sync holds what it read, v1 is pushed onto another image and v3 untagged,
    // and their events arrive
    clients.push(&two, &registry, "alice/app:v1", &alice).await.assert_ok("skopeo push");
    let mut untag = event("v3-deleted", "delete", "", &first, Some("v3"), "DELETE", DOCKER);
    untag["target"].as_object_mut().unwrap().remove("digest");
    let (status, answer) = post(&app, &[event("v1-pushed", "push", IMAGE, &second, Some("v1"), "PUT", DOCKER), untag]).await;
    assert_eq!((status, answer["taken"].as_u64()), (StatusCode::OK, Some(2)), "{answer}");

    let changes = berth::registry_events::sync::record(&mut app.conn(), &read, app.state.now()).unwrap();
    assert_eq!(
        changes,
        vec![berth::registry_events::sync::Change::Added { repository: "alice/app".into(), tag: "v2".into(), digest: first.clone() }],
        "only the tag no event touched is the sync's to change"
    );
    assert_eq!(tag(&app, repository, "v1").map(|t| t.digest), Some(second), "the live push is newer than the sync's read");
    assert!(tag(&app, repository, "v3").is_none(), "the live delete is too");
    assert_eq!(tag(&app, repository, "v2").map(|t| t.digest), Some(first));
}

// ---------------------------------------------------------------------------------------
// The settings

#[actix_web::test]
async fn the_events_secret_never_shows_in_help_or_errors_and_a_weak_one_or_a_registry_url_with_a_path_is_refused() {
    let berth = berth_binary().display().to_string();
    let with = |envs: &[(&str, &str)], args: &[&str]| {
        let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        run_blocking(berth.clone(), strings(args), envs, None)
    };
    let help = with(&[("BERTH_REGISTRY_EVENTS_SECRET", SECRET)], &["--help"]);
    help.assert_ok("berth --help");
    assert!(help.stdout.contains("[env: BERTH_REGISTRY_EVENTS_SECRET]") && help.stdout.contains("[env: BERTH_REGISTRY_URL="), "{}", help.describe());
    assert!(!help.stdout.contains(SECRET), "--help shows the secret:\n{}", help.stdout);

    let dir = audit::tempdir();
    let data = dir.path().display().to_string();
    let weak = "weak-secret-of-27-characters";
    audit::secret(weak);
    let out = with(&[("BERTH_DATA", &data), ("BERTH_REGISTRY_EVENTS_SECRET", weak)], &["user", "list"]);
    out.assert_failed("a short events secret");
    assert!(out.stderr.contains("BERTH_REGISTRY_EVENTS_SECRET: use at least 32") && !out.stderr.contains(weak), "{}", out.describe());
    for url in ["ftp://registry.example", "http://registry.example/v2", "http://user:pw@registry.example"] {
        let out = with(&[("BERTH_DATA", &data), ("BERTH_REGISTRY_URL", url)], &["user", "list"]);
        out.assert_failed("a registry URL that is no http(s) origin");
        assert!(out.stderr.contains("give the registry's http:// or https:// address"), "{}", out.describe());
    }
}

#[actix_web::test]
async fn registry_config_prints_no_notifications_without_the_secret() {
    let app = spawn_app().await;
    let blocks = config_from_berth(&app, &[]).await;
    assert!(!blocks.contains("notifications:") && !blocks.contains("registry/events"), "{blocks}");
}

/// alice/app's v1 and latest on one image and v2 on another, pushed through the registry and
/// recorded from its events (and, `with_other`, alice/other:v1 on the second); returns the
/// repository's id and the two digests.
async fn three_tags_on_two_digests(app: &TestApp, registry: &Registry, clients: &Clients, alice: &str, with_other: bool) -> (i32, String, String) {
    let (one, two) = (clients.dir.path().join("one"), clients.dir.path().join("two"));
    let (first, second) = (build_image(&one, "first\n"), build_image(&two, "second\n"));
    let mut pushes = vec![(&one, "alice/app:v1"), (&one, "alice/app:latest"), (&two, "alice/app:v2")];
    if with_other {
        pushes.push((&two, "alice/other:v1"));
    }
    for (layout, reference) in pushes {
        clients.push(layout, registry, reference, alice).await.assert_ok("skopeo push");
    }
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();
    eventually("three tags", registry, || stats(app, repository).tag_count == 3).await;
    (repository, first, second)
}

#[actix_web::test]
async fn deleting_a_digest_through_the_registry_takes_every_tag_on_it_and_leaves_the_others_pulling() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    let (repository, first, second) = three_tags_on_two_digests(&app, &registry, &clients, &alice, false).await;
    assert_eq!(tags::others_on_digest(&mut app.conn(), repository, &first, "v1").unwrap(), vec!["latest"]);

    let gone = berth::registry_events::delete::delete_digest(&app.state, "alice/app", &first).await.unwrap();
    assert_eq!(gone, vec!["latest", "v1"], "every tag on the digest");
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_failed("a deleted tag no longer pulls");
    clients.pull_fresh(&registry, "alice/app:latest", Some(&alice)).await.assert_failed("nor its digest's other tag");
    let out = clients.inspect_digest(&registry, "alice/app:v2", Some(&alice)).await;
    assert_eq!(out.assert_ok("the tag on another digest still pulls").stdout.trim(), second);
    let left: Vec<String> = tags::all(&mut app.conn(), repository).unwrap().into_iter().map(|(name, _)| name).collect();
    assert_eq!(left, vec!["v2"]);
}

#[actix_web::test]
async fn a_push_through_the_registry_reaches_the_repositorys_webhook_signed() {
    require_programs();
    let port = free_port();
    audit::secret(SECRET);
    let app = spawn_app_with(|s| {
        s.registry_events_secret = Some(SECRET.into());
        s.registry_url = format!("http://127.0.0.1:{port}");
        s.webhook_allow_private = true;
    })
    .await;
    let registry = Registry::reporting(&app, port, SECRET, None).await;
    let browser = app.signed_up("alice").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    let clients = Clients::new();
    // the repository and its webhook, on its page
    browser.submit("/repositories", "/repositories", &[("path", "app"), ("visibility", "private")]).await;
    let ci = Listener::start(vec![200]);
    let res = browser.submit("/repository/alice/app", "/repositories/webhooks", &[("repository", "alice/app"), ("name", "CI"), ("url", &ci.url("/built"))]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let secret = regex::Regex::new(r#"<code id="secret">([A-Za-z0-9_-]{40,})</code>"#).unwrap().captures(&html).unwrap()[1].to_string();
    audit::secret(&secret);

    let layout = clients.dir.path().join("image");
    let image = build_image(&layout, "hello, webhook\n");
    clients.push(&layout, &registry, "alice/app:v1", &alice).await.assert_ok("skopeo push");
    eventually("the webhook's delivery", &registry, || !ci.received().is_empty()).await;
    let got = &ci.received()[0];
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!((body["repository"]["repo_name"].as_str(), body["push_data"]["tag"].as_str()), (Some("alice/app"), Some("v1")), "{body}");
    assert_eq!(body["push_data"]["digest"].as_str(), Some(image.as_str()));
    assert_eq!(body["push_data"]["pusher"].as_str(), Some("alice"));
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&got.body);
    assert_eq!(got.header("x-berth-signature-256"), Some(format!("sha256={}", hex::encode(mac.finalize().into_bytes()))));
    // one push, one delivery, shown on the page as delivered
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ci.received().len(), 1, "one delivery per push");
    let (_, page) = browser.get_text("/repository/alice/app").await;
    assert!(page.contains(r#"badge-green">Delivered"#), "{page}");
}

#[actix_web::test]
async fn the_hub_apis_tag_delete_refuses_a_shared_digest_and_deletes_a_lone_one_in_the_registry() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    let (one, two) = (clients.dir.path().join("one"), clients.dir.path().join("two"));
    let first = build_image(&one, "first\n");
    build_image(&two, "second\n");
    for (layout, reference) in [(&one, "alice/app:v1"), (&one, "alice/app:latest"), (&two, "alice/app:v2")] {
        clients.push(layout, &registry, reference, &alice).await.assert_ok("skopeo push");
    }
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();
    eventually("three tags", &registry, || stats(&app, repository).tag_count == 3).await;
    let http = reqwest::Client::new();
    let login: Value = http.post(format!("{}/v2/users/login", app.url)).json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap().json().await.unwrap();
    let jwt = login["token"].as_str().unwrap().to_string();
    let delete = |tag: &str| http.delete(format!("{}/v2/repositories/alice/app/tags/{tag}/", app.url)).bearer_auth(&jwt).send();

    // v1 shares its digest with latest: 409, naming it, and both still pull
    let res = delete("v1").await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("latest") && detail.contains(&first), "{detail}");
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_ok("nothing was deleted");

    // v2 is alone on its digest: deleted in the registry, and forgotten
    let res = delete("v2").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    clients.pull_fresh(&registry, "alice/app:v2", Some(&alice)).await.assert_failed("the deleted tag no longer pulls");
    let out = clients.inspect_digest(&registry, "alice/app:latest", Some(&alice)).await;
    assert_eq!(out.assert_ok("a tag on another digest still pulls").stdout.trim(), first);
    assert!(tags::find(&mut app.conn(), repository, "v2").unwrap().is_none());
    let listed: Value = http.get(format!("{}/v2/namespaces/alice/repositories/app/tags", app.url)).bearer_auth(&jwt).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["count"], 2, "{listed}");
}

#[actix_web::test]
async fn the_hub_apis_repository_delete_deletes_every_manifest_in_the_registry_then_forgets_it() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    three_tags_on_two_digests(&app, &registry, &clients, &alice, true).await;
    let http = reqwest::Client::new();
    let login: Value = http.post(format!("{}/v2/users/login", app.url)).json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap().json().await.unwrap();
    let res = http.delete(format!("{}/v2/repositories/alice/app/", app.url)).bearer_auth(login["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.text().await.unwrap().contains("2 manifest(s)"));
    for tag in ["v1", "latest", "v2"] {
        clients.pull_fresh(&registry, &format!("alice/app:{tag}"), Some(&alice)).await.assert_failed("a deleted repository's tag no longer pulls");
    }
    clients.pull_fresh(&registry, "alice/other:v1", Some(&alice)).await.assert_ok("another repository keeps its images");
    assert_eq!(tags::repository_id(&mut app.conn(), "alice/app").unwrap(), None, "forgotten");
}

/// The `<li>` tags of a confirmation's list of what goes.
fn going(page: &str) -> Vec<String> {
    let list = regex::Regex::new(r#"(?s)<ul class="tag-list" id="going">(.*?)</ul>"#).unwrap().captures(page).map(|c| c[1].to_string()).unwrap_or_default();
    regex::Regex::new(r"<li><code>([^<]+)</code></li>").unwrap().captures_iter(&list).map(|c| c[1].to_string()).collect()
}

#[actix_web::test]
async fn a_tag_deleted_from_the_repository_page_takes_every_tag_on_its_digest_and_the_others_still_pull() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let bob = app.signed_up("bobby").await;
    let (repository, first, second) = three_tags_on_two_digests(&app, &registry, &clients, &alice, false).await;
    let fields = [("repository", "alice/app"), ("tag", "v1"), ("digest", first.as_str())];

    // someone without the right, or a post without the CSRF token: refused, nothing deleted
    assert_eq!(bob.get("/repositories/tags/delete?repository=alice%2Fapp&tag=v1").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(bob.submit("/repositories", "/repositories/tags/delete", &fields).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(browser.post_raw("/repositories/tags/delete", &fields).await.status(), StatusCode::FORBIDDEN);
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_ok("nothing was deleted");

    // the confirmation names both tags on the digest, then the delete takes both
    let confirmation = "/repositories/tags/delete?repository=alice%2Fapp&tag=v1";
    let (status, confirm) = browser.get_text(confirmation).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(going(&confirm), ["latest", "v1"], "{confirm}");
    let res = browser.submit(confirmation, "/repositories/tags/delete", &fields).await;
    assert_eq!(location(&res), "/repository/alice/app#tags");
    let (_, page) = browser.get_text("/repository/alice/app").await;
    assert!(page.contains(&format!("Deleted alice/app@{first} in the registry; with it went latest, v1.")), "{page}");
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_failed("a deleted tag no longer pulls");
    clients.pull_fresh(&registry, "alice/app:latest", Some(&alice)).await.assert_failed("nor the other tag on its digest");
    let out = clients.inspect_digest(&registry, "alice/app:v2", Some(&alice)).await;
    assert_eq!(out.assert_ok("a tag on another digest still pulls").stdout.trim(), second);
    let left: Vec<String> = tags::all(&mut app.conn(), repository).unwrap().into_iter().map(|(name, _)| name).collect();
    assert_eq!(left, ["v2"]);
}

#[actix_web::test]
async fn a_repository_deleted_from_its_page_loses_every_tag_in_the_registry_even_those_berth_never_recorded() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    let browser = app.browser();
    browser.login("alice", PASSWORD).await;
    let bob = app.signed_up("bobby").await;
    let (repository, _, _) = three_tags_on_two_digests(&app, &registry, &clients, &alice, true).await;
    // v2's event lost: Berth does not know it, the registry's tag list does
    tags::forget_tag(&mut app.conn(), repository, "v2").unwrap();

    // someone else: nothing found, nothing deleted
    assert_eq!(bob.get("/repositories/delete?name=alice%2Fapp").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(bob.submit("/repositories", "/repositories/delete", &[("name", "alice/app")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(browser.post_raw("/repositories/delete", &[("name", "alice/app")]).await.status(), StatusCode::FORBIDDEN, "no CSRF token");
    // only forgetting is for a registry that cannot be read: this one can
    let res = browser.submit("/repositories/delete?name=alice%2Fapp", "/repositories/delete", &[("name", "alice/app"), ("forget_only", "yes")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("The registry can be read now"));
    assert!(tags::repository_id(&mut app.conn(), "alice/app").unwrap().is_some(), "not forgotten");
    clients.pull_fresh(&registry, "alice/app:v2", Some(&alice)).await.assert_ok("nothing was deleted");

    let (status, confirm) = browser.get_text("/repositories/delete?name=alice%2Fapp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(going(&confirm), ["latest", "v1", "v2"], "{confirm}");
    assert!(confirm.contains("3 tags go") && confirm.contains("registry garbage-collect"), "{confirm}");
    let res = browser.submit("/repositories/delete?name=alice%2Fapp", "/repositories/delete", &[("name", "alice/app")]).await;
    assert_eq!(location(&res), "/repositories");
    let (_, list) = browser.get_text("/repositories").await;
    assert!(list.contains("alice/app was deleted. Deleted in the registry: latest, v1, v2."), "{list}");
    for tag in ["v1", "latest", "v2"] {
        clients.pull_fresh(&registry, &format!("alice/app:{tag}"), Some(&alice)).await.assert_failed("a deleted repository's tag no longer pulls");
    }
    clients.pull_fresh(&registry, "alice/other:v1", Some(&alice)).await.assert_ok("another repository keeps its images");
    assert_eq!(tags::repository_id(&mut app.conn(), "alice/app").unwrap(), None, "forgotten");
}

#[actix_web::test]
async fn a_registry_refusing_deletes_gets_a_clear_message_and_berth_forgets_nothing() {
    require_programs();
    let port = free_port();
    let app = app_taking_events(Some(port)).await;
    let registry = Registry::reporting_with(&app, port, SECRET, None, false).await;
    let browser = app.signed_up("alice").await;
    let alice = format!("alice:{}", pat(&app, "alice", Scope::Admin, "ci"));
    let clients = Clients::new();
    let layout = clients.dir.path().join("one");
    let image = build_image(&layout, "kept\n");
    clients.push(&layout, &registry, "alice/app:v1", &alice).await.assert_ok("skopeo push");
    let repository = tags::repository_id(&mut app.conn(), "alice/app").unwrap().unwrap();
    eventually("the tag", &registry, || stats(&app, repository).tag_count == 1).await;

    // a tag: the registry's 405 in words, the tag kept
    let confirmation = "/repositories/tags/delete?repository=alice%2Fapp&tag=v1";
    let res = browser.submit(confirmation, "/repositories/tags/delete", &[("repository", "alice/app"), ("tag", "v1"), ("digest", image.as_str())]).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let page = res.text().await.unwrap();
    assert!(page.contains("The registry does not allow deletes") && page.contains("delete: enabled: true"), "{page}");
    // the repository: the same, shown on its confirmation with what stays
    let res = browser.submit("/repositories/delete?name=alice%2Fapp", "/repositories/delete", &[("name", "alice/app")]).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let page = res.text().await.unwrap();
    assert!(page.contains("The registry does not allow deletes") && page.contains("Nothing was deleted"), "{page}");
    assert_eq!(going(&page), ["v1"], "what stays: {page}");
    // and the API's delete alike
    let http = reqwest::Client::new();
    let login: Value = http.post(format!("{}/v2/users/login", app.url)).json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap().json().await.unwrap();
    let res = http.delete(format!("{}/v2/repositories/alice/app/", app.url)).bearer_auth(login["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.text().await.unwrap().contains("does not allow deletes"));
    clients.pull_fresh(&registry, "alice/app:v1", Some(&alice)).await.assert_ok("nothing was deleted");
    assert!(tags::find(&mut app.conn(), repository, "v1").unwrap().is_some(), "nothing forgotten");
}

#[actix_web::test]
async fn registry_config_prints_the_storage_delete_setting_deletes_need() {
    let app = spawn_app().await;
    let out = berth_on(&app, &["--public-url", &app.url, "registry-config"]).await;
    out.assert_ok("berth registry-config");
    assert!(out.stdout.contains("storage:\n  delete:\n    enabled: true\n"), "{}", out.stdout);
    let storage = out.stdout.find("storage:").unwrap();
    assert!(storage < out.stdout.find("\nauth:").unwrap(), "before `auth:`, to merge into the registry's own `storage:` block");
}

#[actix_web::test]
async fn the_hub_apis_delete_of_an_organizations_repository_deletes_its_images_and_writes_repo_delete_to_the_audit_log() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    let org = berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), berth::accounts::Plan::Team, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    let layout = clients.dir.path().join("one");
    build_image(&layout, "org image\n");
    clients.push(&layout, &registry, "acme/app:v1", &alice).await.assert_ok("skopeo push by an owner");
    let repository = tags::repository_id(&mut app.conn(), "acme/app").unwrap().unwrap();
    eventually("the tag", &registry, || stats(&app, repository).tag_count == 1).await;
    let http = reqwest::Client::new();
    let login: Value = http.post(format!("{}/v2/users/login", app.url)).json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap().json().await.unwrap();
    let res = http.delete(format!("{}/v2/repositories/acme/app/", app.url)).bearer_auth(login["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    clients.pull_fresh(&registry, "acme/app:v1", Some(&alice)).await.assert_failed("a deleted repository's tag no longer pulls");
    let filter = berth::orgs::events::Filter { action: Some(berth::orgs::events::Action::RepoDeleted), ..Default::default() };
    let (logged, _) = berth::orgs::events::list(&mut app.conn(), org.id, &filter, 1, 10).unwrap();
    assert_eq!(logged.iter().map(|e| (e.name.as_str(), e.actor.as_str())).collect::<Vec<_>>(), [("acme/app", "alice")]);
    assert!(logged[0].data.contains("\"registry_tags_deleted\":\"1\""), "{}", logged[0].data);
}

#[actix_web::test]
async fn an_organization_token_deletes_a_tag_through_the_hub_api_only_with_scope_image_delete() {
    let (app, registry, clients, alice) = reporting_to_berth(None).await;
    berth::orgs::create(&mut app.conn(), "acme", &app.user("alice"), berth::accounts::Plan::Team, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
    let (one, two) = (clients.dir.path().join("one"), clients.dir.path().join("two"));
    build_image(&one, "first\n");
    let second = build_image(&two, "second\n");
    for (layout, reference) in [(&one, "acme/app:v1"), (&two, "acme/app:v2")] {
        clients.push(layout, &registry, reference, &alice).await.assert_ok("skopeo push by an owner");
    }
    let repository = tags::repository_id(&mut app.conn(), "acme/app").unwrap().unwrap();
    eventually("two tags", &registry, || stats(&app, repository).tag_count == 2).await;

    // an organization access token of acme on acme/app with `scope`, signed in to the API
    let http = reqwest::Client::new();
    let token_jwt = |scope: &'static str| {
        let (app, http) = (&app, &http);
        async move {
            let requested = vec![berth::org_tokens::Requested { kind: "TYPE_REPO".into(), path: "acme/app".into(), scopes: vec![scope.into()] }];
            let new = berth::org_tokens::NewOrgToken {
                label: scope.into(),
                description: String::new(),
                resources: berth::org_tokens::Resources::parse("acme", &requested).unwrap(),
                expires_at: None,
            };
            let (_, plain) = berth::org_tokens::create(&mut app.conn(), app.owner("acme").id, &app.user("alice"), new, &berth::orgs::Actor::cli(), app.state.now()).unwrap();
            audit::secret(plain.expose());
            let res = http.post(format!("{}/v2/auth/token", app.url)).json(&json!({"identifier": "acme", "secret": plain.expose()})).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "the token signs in as acme");
            res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string()
        }
    };
    let delete_v1 = |jwt: String| http.delete(format!("{}/v2/repositories/acme/app/tags/v1/", app.url)).bearer_auth(jwt).send();

    let push_only = token_jwt("scope-image-push").await;
    let res = delete_v1(push_only).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "push does not reach delete");
    assert!(res.text().await.unwrap().contains("scope-image-delete"));
    assert_eq!(stats(&app, repository).tag_count, 2, "nothing is forgotten");
    clients.pull_fresh(&registry, "acme/app:v1", Some(&alice)).await.assert_ok("nor deleted in the registry");

    let with_delete = token_jwt("scope-image-delete").await;
    assert_eq!(delete_v1(with_delete).await.unwrap().status(), StatusCode::NO_CONTENT);
    clients.pull_fresh(&registry, "acme/app:v1", Some(&alice)).await.assert_failed("the deleted tag no longer pulls");
    let out = clients.inspect_digest(&registry, "acme/app:v2", Some(&alice)).await;
    assert_eq!(out.assert_ok("the tag on another digest still pulls").stdout.trim(), second);
    assert_eq!(tags::all(&mut app.conn(), repository).unwrap().into_iter().map(|(name, _)| name).collect::<Vec<_>>(), ["v2"]);
}
