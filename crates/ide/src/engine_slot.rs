use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nib_engine::{CancelToken, CompletionEngine};

/// Where the engine is in its life.
#[derive(Clone)]
pub enum EngineState {
    /// No model configured (completions are empty).
    None(String),
    /// Being loaded in the background.
    Loading,
    Ready(Arc<dyn CompletionEngine>),
    /// Loading failed; the message says why and what to do.
    Failed(String),
}

impl std::fmt::Debug for EngineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineState::None(m) => write!(f, "None({m})"),
            EngineState::Loading => write!(f, "Loading"),
            EngineState::Ready(e) => write!(f, "Ready({})", e.info().name),
            EngineState::Failed(m) => write!(f, "Failed({m})"),
        }
    }
}

pub(crate) struct EngineSlot {
    state: Mutex<EngineState>,
    changed: Condvar,
}

impl Default for EngineSlot {
    fn default() -> Self {
        EngineSlot {
            state: Mutex::new(EngineState::None("no model configured".into())),
            changed: Condvar::new(),
        }
    }
}

impl EngineSlot {
    pub(crate) fn set(&self, state: EngineState) {
        *super::lock(&self.state) = state;
        self.changed.notify_all();
    }

    pub(crate) fn get(&self) -> EngineState {
        super::lock(&self.state).clone()
    }

    /// The engine, waiting up to `wait` while it is loading (or until `cancel`).
    pub(crate) fn wait_ready(
        &self,
        wait: Duration,
        cancel: &CancelToken,
    ) -> Result<Arc<dyn CompletionEngine>, super::IdeError> {
        let until = Instant::now() + wait;
        let mut state = super::lock(&self.state);
        loop {
            match &*state {
                EngineState::Ready(e) => return Ok(e.clone()),
                EngineState::None(m) | EngineState::Failed(m) => {
                    return Err(super::IdeError::NoModel(m.clone()))
                }
                EngineState::Loading => {}
            }
            if cancel.is_cancelled() {
                return Err(super::IdeError::Cancelled);
            }
            let now = Instant::now();
            if now >= until {
                return Err(super::IdeError::NoModel(
                    "the model is still loading".into(),
                ));
            }
            let step = (until - now).min(Duration::from_millis(50));
            state = self
                .changed
                .wait_timeout(state, step)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
