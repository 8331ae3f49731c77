//! Berth as a real child process: `berth serve` on a data folder and a database, read from
//! its log until it says where it listens. Signals go to the child's own pid only.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct BerthProcess {
    child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl BerthProcess {
    /// `berth serve` (the binary at `binary`, a test's `env!("CARGO_BIN_EXE_berth")`) over
    /// `data` and the database `database`, on `bind` (`127.0.0.1:0` for any port), with
    /// `envs` added; waits for its "listening" line.
    pub fn start(binary: &str, data: &Path, database: &str, bind: &str, envs: &[(&str, &str)]) -> BerthProcess {
        let mut command = Command::new(binary);
        // the server dies with the test's thread, however the test ends
        // SAFETY: prctl is async-signal-safe and touches only the child being started
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        command
            .env("BERTH_DATA", data)
            .env("BERTH_BIND", bind)
            .env("BERTH_WORKERS", "2")
            .env("RUST_LOG", "info")
            .env("BERTH_DATABASE_URL", database)
            .env_remove("BERTH_PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("berth starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        let listening = regex::Regex::new(r"Berth is listening.* addr=(\S+)").unwrap();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Some(c) = listening.captures(&line) {
                    let _ = tx.send(c[1].to_string());
                }
                crate::audit::log_line(&line);
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            // never leave the server running behind a failed test
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth did not report its address:\n{}", stderr.lock().unwrap());
        };
        // The address is logged before the server task first runs, and that first run is
        // also when it starts listening for SIGTERM: a `terminate` sent in between would kill
        // the process outright. It answers /healthz from that run on.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !answers_healthz(&addr) {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berth never answered /healthz on {addr}:\n{}", stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        BerthProcess { child, url: format!("http://{addr}"), stderr }
    }

    /// SIGKILL to this child's own pid: no shutdown, no flush.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "killed, not exited: {status}");
    }

    /// SIGTERM to this child's own pid, as a service manager stops it, and waits up to
    /// `within` for it to finish its requests and exit; returns whether it exited cleanly.
    pub fn terminate(&mut self, within: Duration) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success(); // exited and reaped: its pid may be another's by now
        }
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for BerthProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether the server at `addr` answers `GET /healthz` with a 200.
fn answers_healthz(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
