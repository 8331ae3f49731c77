//! The queue of pushed manifests to read from the registry: filled by the events endpoint
//! after its commit, emptied by the server's reading task (`reader::run`), and waited on
//! by whoever needs every queued read done (`settled`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

/// The queue of manifests to read, and how many are still to do.
pub struct Reader {
    queue: mpsc::UnboundedSender<(String, String)>,
    pending: Arc<AtomicUsize>,
    idle: Arc<Notify>,
}

/// The receiving end of the queue, for `run`.
pub struct Jobs(mpsc::UnboundedReceiver<(String, String)>);

impl Jobs {
    /// The next (repository, digest) to read; None once the queue is gone.
    pub async fn next(&mut self) -> Option<(String, String)> {
        self.0.recv().await
    }
}

impl Reader {
    pub fn new() -> (Reader, Jobs) {
        let (queue, jobs) = mpsc::unbounded_channel();
        (Reader { queue, pending: Arc::default(), idle: Arc::default() }, Jobs(jobs))
    }

    /// Queues (repository, digest) reads.
    pub fn queue(&self, reads: Vec<(String, String)>) {
        for read in reads {
            self.pending.fetch_add(1, Ordering::SeqCst);
            if self.queue.send(read).is_err() {
                self.done();
            }
        }
    }

    /// One queued read is done.
    pub fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Returns once every read queued so far is done (for tests and an orderly stop).
    pub async fn settled(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.pending.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}
