//! A debouncer for idle tasks: work scheduled under a key runs after a quiet period, and
//! scheduling the same key again before then replaces the pending work (only the last edit of
//! a burst is diagnosed or prefilled). Work that has started is not interrupted.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

/// Pending work by key: the id of the call that scheduled it, and its task.
type Pending = Arc<Mutex<HashMap<String, (u64, JoinHandle<()>)>>>;

#[derive(Clone)]
pub struct Debouncer {
    delay: Duration,
    pending: Pending,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl Debouncer {
    pub fn new(delay: Duration) -> Debouncer {
        Debouncer {
            delay,
            pending: Arc::default(),
            next: Arc::default(),
        }
    }

    /// Run `work` once `delay` has passed without another call for `key`.
    pub fn schedule<F>(&self, key: &str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delay = self.delay;
        let pending = Arc::clone(&self.pending);
        let owned_key = key.to_string();
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let handle = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // From here on the work runs to its end: leave the table so that a later call
            // does not abort it.
            {
                let mut map = pending.lock().unwrap_or_else(|e| e.into_inner());
                if map.get(&owned_key).is_some_and(|(i, _)| *i == id) {
                    map.remove(&owned_key);
                }
            }
            work.await;
        });
        if let Some((_, old)) = map.insert(key.to_string(), (id, handle)) {
            old.abort();
        }
    }

    /// Forget pending work for `key` (a closed document).
    pub fn cancel(&self, key: &str) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, h)) = map.remove(key) {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn only_the_last_call_of_a_burst_runs() {
        let d = Debouncer::new(Duration::from_millis(100));
        let runs = Arc::new(Mutex::new(Vec::new()));
        for i in 0..5 {
            let runs = Arc::clone(&runs);
            d.schedule("a", async move { runs.lock().unwrap().push(i) });
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let other = Arc::clone(&runs);
        d.schedule("b", async move { other.lock().unwrap().push(100) });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut got = runs.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, vec![4, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_drops_pending_work() {
        let d = Debouncer::new(Duration::from_millis(100));
        let n = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&n);
        d.schedule("a", async move {
            m.fetch_add(1, Ordering::SeqCst);
        });
        d.cancel("a");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(n.load(Ordering::SeqCst), 0);
    }
}
