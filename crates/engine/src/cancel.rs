use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared flag: set once to ask long-running work (a decode loop) to stop at its next check.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Whether `other` is this token (a clone of it), not merely one in the same state.
    pub fn same(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A guard that cancels this token when dropped (e.g. when a request future is dropped).
    pub fn drop_guard(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }
}

/// Cancels its token when dropped, unless [`CancelOnDrop::disarm`]ed.
#[derive(Debug)]
pub struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_cancels_on_drop_unless_disarmed() {
        let t = CancelToken::new();
        drop(t.drop_guard());
        assert!(t.is_cancelled());
        let t = CancelToken::new();
        t.drop_guard().disarm();
        assert!(!t.is_cancelled());
    }
}
