//! How many connections Berth holds, from whom, and for how long: the open-file limit
//! raised as far as the system allows, a total cap under it, a cap per peer address so one
//! peer cannot take every slot, and a watch on each connection between its requests.
//!
//! The counts are per process on purpose: what they protect is this process's file
//! descriptors, so several instances must not share them.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::{Error, HttpResponse, ResponseError};
use ipnet::IpNet;

/// The share of the open-file limit that connections may use by default; the rest is left
/// for the database, its journal, the listener and the blocking pool.
const CONNECTION_SHARE_PERCENT: u64 = 80;

/// Open-file limits of this process: (soft, hard).
pub fn open_file_limits() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    Ok((limit.rlim_cur as u64, limit.rlim_max as u64))
}

/// Raises the soft open-file limit to the hard one (any process may; only root can raise
/// the hard one) and returns the soft limit now in force. Every connection is a
/// descriptor, so this is what bounds how many Berth can hold. On failure the limit stays
/// as it was, with a warning.
pub fn raise_open_file_limit() -> u64 {
    let (soft, hard) = match open_file_limits() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit; assuming 1024");
            return 1024;
        }
    };
    if soft < hard {
        let limit = libc::rlimit { rlim_cur: hard as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), soft, hard, "cannot raise the open-file limit");
            return soft;
        }
    }
    let now = open_file_limits().map(|(soft, _)| soft).unwrap_or(soft);
    tracing::info!(open_files = now, was = soft, "open-file limit");
    now
}

/// `BERTH_MAX_CONNECTIONS` when unset: 80 % of the open-file limit.
pub fn default_max_connections(open_files: u64) -> usize {
    usize::try_from(open_files.saturating_mul(CONNECTION_SHARE_PERCENT) / 100).unwrap_or(usize::MAX).max(1)
}

/// actix caps connections per worker; the total is split evenly, rounded down so the sum
/// never exceeds it (at least one each).
pub fn per_worker(total: usize, workers: usize) -> usize {
    (total / workers.max(1)).max(1)
}

/// The per-connection rules, for `HttpServer::on_connect` and the `track` middleware.
pub struct ConnectionRules {
    /// Connections one peer address may hold; trusted proxies (behind a proxy every
    /// connection comes from the proxy) are exempt. The peer is the TCP peer, never
    /// `X-Forwarded-For`, which the peer writes itself.
    per_peer: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
    /// Longest a connection may go without a request in progress. actix times the first
    /// head and idle keep-alive, but once a byte of a later head has arrived it times
    /// nothing: such a connection would be held forever.
    idle_limit: Duration,
}

/// One open connection, in its connection data (dropped with the connection).
struct Connection {
    fd: RawFd,
    local: SocketAddr,
    peer: SocketAddr,
    in_flight: Cell<u32>,
    idle_since: Cell<Instant>,
    _slot: Option<PeerSlot>,
}

/// A counted connection of a peer; gives the slot back when dropped.
struct PeerSlot {
    rules: Arc<ConnectionRules>,
    ip: IpAddr,
}

/// A connection over its peer's cap: shut down at once; a request read from it anyway is
/// refused, so nothing is done on its behalf.
struct Refused;

impl ConnectionRules {
    pub fn new(per_peer: usize, exempt: Vec<IpNet>, idle_limit: Duration) -> Arc<Self> {
        Arc::new(ConnectionRules { per_peer: per_peer.max(1), exempt, open: Mutex::new(HashMap::new()), idle_limit })
    }

    /// Counts a new connection against its peer, or shuts it down when the peer is at its
    /// cap: closing before any byte is read gives the descriptor back now rather than
    /// after the head deadline. Then watches it until it closes.
    pub fn on_connect(self: &Arc<Self>, conn: &dyn Any, data: &mut Extensions) {
        let Some(stream) = conn.downcast_ref::<TcpStream>() else {
            return;
        };
        let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) else {
            return;
        };
        let ip = peer.ip().to_canonical();
        let slot = if self.exempt.iter().any(|net| net.contains(&ip)) {
            None
        } else {
            match self.admit(ip) {
                Some(slot) => Some(slot),
                None => {
                    // the dispatcher reads end-of-stream next and drops the connection
                    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
                    data.insert(Refused);
                    return;
                }
            }
        };
        let connection = Rc::new(Connection { fd: stream.as_raw_fd(), local, peer, in_flight: Cell::new(0), idle_since: Cell::new(Instant::now()), _slot: slot });
        actix_web::rt::spawn(watch(Rc::downgrade(&connection), self.idle_limit));
        data.insert(connection);
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.per_peer {
            // debug, not warn: under a flood of connections every refusal would be a line
            tracing::debug!(%ip, cap = self.per_peer, "refused a connection over the per-peer cap");
            return None;
        }
        *count += 1;
        Some(PeerSlot { rules: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.rules.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Shuts a connection down once it has gone `limit` without a request in progress. Runs
/// on the connection's own worker thread, so between the checks and the shutdown nothing
/// of this connection can run; the descriptor is also checked to still be this socket.
async fn watch(connection: Weak<Connection>, limit: Duration) {
    loop {
        let wake = match connection.upgrade() {
            Some(c) if c.in_flight.get() == 0 && c.idle_since.get().elapsed() >= limit => {
                c.shut_down();
                return;
            }
            Some(c) if c.in_flight.get() == 0 => c.idle_since.get() + limit,
            Some(_) => Instant::now() + limit,
            None => return,
        };
        actix_web::rt::time::sleep_until(wake.into()).await;
    }
}

impl Connection {
    fn shut_down(&self) {
        // SAFETY: the socket is open while this `Connection` lives: the dispatcher owns
        // both, and a request holding the connection data lets go of it when it is done.
        // Were the number ever closed and reused, the addresses would differ: nothing done.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let socket = socket2::SockRef::from(&fd);
        let same = |a: std::io::Result<socket2::SockAddr>, b: SocketAddr| a.ok().and_then(|a| a.as_socket()) == Some(b);
        if same(socket.local_addr(), self.local) && same(socket.peer_addr(), self.peer) {
            tracing::debug!(peer = %self.peer, "closed a connection that sent no whole request in time");
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Marks the connection busy while a request is handled (the watch leaves it alone) and
/// refuses requests from a connection that was over its peer's cap.
pub async fn track(req: ServiceRequest, next: Next<impl MessageBody + 'static>) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.conn_data::<Refused>().is_some() {
        return Err(TooManyConnections.into());
    }
    let _busy = req.conn_data::<Rc<Connection>>().cloned().map(Busy::new);
    next.call(req).await
}

/// A request in progress on a connection; idle again from when it is done (or dropped).
struct Busy(Rc<Connection>);

impl Busy {
    fn new(connection: Rc<Connection>) -> Self {
        connection.in_flight.set(connection.in_flight.get() + 1);
        Busy(connection)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
        self.0.idle_since.set(Instant::now());
    }
}

#[derive(Debug, thiserror::Error)]
#[error("Too many connections from your address at once. Try again shortly.")]
struct TooManyConnections;

impl ResponseError for TooManyConnections {
    fn status_code(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::ServiceUnavailable().force_close().content_type("text/plain; charset=utf-8").body(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = open_file_limits().unwrap();
        // start below the hard limit, as a shell's default soft limit usually is
        let lowered = (hard / 2).max(256).min(hard);
        let limit = libc::rlimit { rlim_cur: lowered as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        // SAFETY: setrlimit only reads the struct we pass.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        assert_eq!(open_file_limits().unwrap().0, lowered);
        assert_eq!(raise_open_file_limit(), hard);
        assert_eq!(open_file_limits().unwrap(), (hard, hard));
    }

    #[test]
    fn the_default_total_is_80_percent_of_the_open_files_split_across_workers() {
        assert_eq!(default_max_connections(256), 204);
        assert_eq!(default_max_connections(1_048_576), 838_860);
        assert_eq!(default_max_connections(0), 1);
        assert_eq!(per_worker(204, 2), 102);
        assert_eq!(per_worker(5, 2), 2);
        assert_eq!(per_worker(1, 4), 1);
        assert_eq!(per_worker(10, 0), 10);
    }

    #[test]
    fn a_peer_gets_its_cap_and_a_closed_slot_back() {
        let rules = ConnectionRules::new(2, Vec::new(), Duration::from_secs(1));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let first = rules.admit(a).expect("first");
        let _second = rules.admit(a).expect("second");
        assert!(rules.admit(a).is_none(), "third over a cap of 2");
        assert!(rules.admit(b).is_some(), "another peer is not affected");
        drop(first);
        assert_eq!(rules.open.lock().unwrap().get(&a), Some(&1));
        assert!(rules.admit(a).is_some(), "a closed connection gives its slot back");
    }
}
