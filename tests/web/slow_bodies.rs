//! Connections cannot be held forever: a body that never arrives ends at the body deadline
//! (408), so does a later head on a kept-alive connection, one peer cannot take more than
//! its share of connections, and the server keeps a total cap. Raw sockets, because a normal HTTP client cannot stall mid-body or pick its
//! source address per connection (the whole of 127/8 is loopback on Linux).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use berth_test_support::*;

const PEER: [u8; 4] = [127, 0, 0, 1];
const OTHER_PEER: [u8; 4] = [127, 0, 0, 2];
const PROXY: [u8; 4] = [127, 0, 0, 3];

/// The three doors that read a body: a page form, the JSON API and the registry's `/token`.
const DOORS: [(&str, &str); 3] = [("/login", "application/x-www-form-urlencoded"), ("/v2/users/login", "application/json"), ("/token", "application/x-www-form-urlencoded")];

fn server_addr(app: &TestApp) -> SocketAddr {
    app.url.trim_start_matches("http://").parse().expect("the test server's URL is http://ip:port")
}

async fn connect_from(local: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((local, 0))).unwrap();
    tokio::time::timeout(Duration::from_secs(2), socket.connect(server)).await.expect("connect in time").expect("connect")
}

/// Sends a complete head announcing 1000 bytes of body, and one byte of it.
async fn stall_body(stream: &mut TcpStream, path: &str, content_type: &str) {
    let head = format!("POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n{{");
    stream.write_all(head.as_bytes()).await.unwrap();
}

/// Reads until the server closes the connection (end of stream or reset) or `limit`
/// passes: what arrived, and whether it was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + limit;
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0) | Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /healthz` on a kept-alive connection.
async fn healthz_on(stream: &mut TcpStream) -> Option<u16> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\n\r\n").await.ok()?;
    read_answer(stream).await
}

/// One whole answer (head and `Content-Length` body): its status, or None when none came
/// within a second.
async fn read_answer(stream: &mut TcpStream) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
            if got.len() >= end + 4 + length {
                return status_of(&got);
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

/// `GET /healthz` on a fresh connection from `local`.
async fn healthz_from(local: [u8; 4], server: SocketAddr) -> Option<u16> {
    let mut stream = connect_from(local, server).await;
    healthz_on(&mut stream).await
}

fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn header_of(response: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(response).to_string();
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[actix_web::test]
async fn three_hundred_stalled_bodies_are_closed_at_the_deadline_while_healthz_answers() {
    let deadline = Duration::from_secs(2);
    let app = spawn_app_with(|s| s.body_timeout = deadline).await;
    let server = server_addr(&app);

    let mut stalled = Vec::new();
    for i in 0..300 {
        let (path, content_type) = DOORS[i % DOORS.len()];
        let mut stream = connect_from(PEER, server).await;
        stall_body(&mut stream, path, content_type).await;
        let sent = Instant::now();
        stalled.push(actix_web::rt::spawn(async move {
            let (got, closed) = read_until_closed(&mut stream, deadline * 3).await;
            (path, sent.elapsed(), got, closed)
        }));
    }

    // /healthz answers throughout, to the stalling peer and to another one
    let mut checks = 0;
    while stalled.iter().any(|h| !h.is_finished()) {
        for local in [PEER, OTHER_PEER] {
            assert_eq!(healthz_from(local, server).await, Some(200), "/healthz from {local:?} while 300 bodies stall");
            checks += 1;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(checks >= 4, "/healthz was asked only {checks} times during the stall");

    for handle in stalled {
        let (path, elapsed, got, closed) = handle.await.unwrap();
        assert!(closed, "a stalled body on {path} was still open after {elapsed:?}");
        // the deadline runs from when the server had the head, which is after we sent it
        assert!(elapsed >= deadline - Duration::from_millis(50), "{path} was closed after {elapsed:?}, before the {deadline:?} deadline");
        assert!(got.is_empty() || status_of(&got) == Some(408), "{path} answered {:?}", String::from_utf8_lossy(&got));
    }
}

#[actix_web::test]
async fn a_stalled_body_gets_a_408_in_the_format_of_its_door() {
    let deadline = Duration::from_secs(2);
    let app = spawn_app_with(|s| s.body_timeout = deadline).await;
    let server = server_addr(&app);
    let mut waits = Vec::new();
    for (path, content_type) in DOORS {
        let mut stream = connect_from(PEER, server).await;
        stall_body(&mut stream, path, content_type).await;
        waits.push(actix_web::rt::spawn(async move { (path, read_until_closed(&mut stream, deadline * 3).await) }));
    }
    for wait in waits {
        let (path, (got, closed)) = wait.await.unwrap();
        assert!(closed, "{path}: the connection was left open after the answer");
        assert_eq!(status_of(&got), Some(408), "{path} answered {:?}", String::from_utf8_lossy(&got));
        let content_type = header_of(&got, "content-type").unwrap_or_default();
        let body = String::from_utf8_lossy(&got).split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        if path == "/login" {
            assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
        } else {
            // the JSON doors answer every error in JSON
            assert!(content_type.starts_with("application/json"), "{path}: {content_type}");
            let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
            assert!(value.get("detail").or(value.get("details")).is_some(), "{path}: {body}");
        }
    }
}

#[actix_web::test]
async fn a_kept_alive_connection_that_stalls_its_next_head_is_closed() {
    let deadline = Duration::from_secs(2);
    let app = spawn_app_with(|s| s.body_timeout = deadline).await;
    let server = server_addr(&app);
    let mut stream = connect_from(PEER, server).await;
    assert_eq!(healthz_on(&mut stream).await, Some(200));
    // a few bytes of a second request, then nothing: no timer of actix's covers this
    stream.write_all(b"GET /hea").await.unwrap();
    let sent = Instant::now();
    // allowed: the keep-alive (5 s) and then the head deadline
    let allowed = Duration::from_secs(5) + deadline;
    let (_, closed) = read_until_closed(&mut stream, allowed * 2).await;
    assert!(closed, "a stalled second head was still open after {:?}", sent.elapsed());
    assert!(sent.elapsed() >= allowed - Duration::from_millis(50), "closed after {:?}, before {allowed:?}", sent.elapsed());
}

#[actix_web::test]
async fn past_the_per_peer_cap_a_connection_is_closed_but_other_peers_and_trusted_proxies_are_served() {
    let app = spawn_app_with(|s| {
        s.max_connections_per_ip = 20;
        s.trusted_proxies = vec!["127.0.0.3/32".parse().unwrap()];
    })
    .await;
    let server = server_addr(&app);

    // 20 kept-alive connections from one peer, each answered, so each is counted
    let mut held = Vec::new();
    for i in 0..20 {
        let mut stream = connect_from(PEER, server).await;
        assert_eq!(healthz_on(&mut stream).await, Some(200), "connection {} of 20", i + 1);
        held.push(stream);
    }

    // the 21st is closed at once (a 503 may come first), never left hanging
    let mut extra = connect_from(PEER, server).await;
    // what the peer writes in X-Forwarded-For changes nothing: the count is of TCP peers
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: berth\r\nX-Forwarded-For: 192.0.2.7\r\n\r\n").await;
    let (got, closed) = read_until_closed(&mut extra, Duration::from_secs(2)).await;
    assert!(closed, "the 21st connection from 127.0.0.1 was left open: {:?}", String::from_utf8_lossy(&got));
    assert!(matches!(status_of(&got), None | Some(503)), "the 21st connection was served: {:?}", String::from_utf8_lossy(&got));

    // another peer is served meanwhile
    assert_eq!(healthz_from(OTHER_PEER, server).await, Some(200), "127.0.0.2 while 127.0.0.1 is at its cap");

    // a trusted proxy carries many clients' connections: no per-peer cap for it
    let mut proxied = Vec::new();
    for i in 0..30 {
        let mut stream = connect_from(PROXY, server).await;
        assert_eq!(healthz_on(&mut stream).await, Some(200), "proxied connection {} of 30", i + 1);
        proxied.push(stream);
    }

    // a closed connection gives its slot back
    drop(held.pop());
    let started = Instant::now();
    while healthz_from(PEER, server).await != Some(200) {
        assert!(started.elapsed() < Duration::from_secs(3), "127.0.0.1 got no slot back after closing a connection");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn past_the_total_cap_a_new_connection_waits_until_one_closes() {
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.max_connections = Some(4);
    })
    .await;
    let server = server_addr(&app);
    let mut held = Vec::new();
    for from in [PEER, OTHER_PEER, PEER, OTHER_PEER] {
        let mut stream = connect_from(from, server).await;
        assert_eq!(healthz_on(&mut stream).await, Some(200));
        held.push(stream);
    }
    // the fifth waits in the listen backlog (no descriptor of ours) instead of being served
    let mut fifth = connect_from([127, 0, 0, 4], server).await;
    assert_eq!(healthz_on(&mut fifth).await, None, "a fifth connection was served past a total cap of 4");
    drop(held.pop());
    assert_eq!(read_answer(&mut fifth).await, Some(200), "the waiting connection was not served when a slot was freed");
}
