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

/// A read promised but not yet queued (`Reader::hold`).
pub struct Held<'a>(&'a Reader);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
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

    /// Counts as one read to do until dropped: taken by the events endpoint before its
    /// commit, so whoever sees a recorded push and then waits for `settled` also waits for
    /// the reads that push queues after the commit.
    pub fn hold(&self) -> Held<'_> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Held(self)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settled_waits_for_a_held_read_and_for_what_it_queues() {
        let (reader, mut jobs) = Reader::new();
        let held = reader.hold();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), reader.settled()).await;
        assert!(waiting.is_err(), "a held read keeps settled waiting");
        reader.queue(vec![("alice/app".into(), "sha256:1".into())]);
        drop(held);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), reader.settled()).await.is_err(), "the queued read is still to do");
        assert_eq!(jobs.next().await, Some(("alice/app".into(), "sha256:1".into())));
        reader.done();
        tokio::time::timeout(std::time::Duration::from_secs(5), reader.settled()).await.expect("settled once every read is done");
    }
}
