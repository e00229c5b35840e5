//! Logs go to stderr (or a file), never stdout: stdout carries only JSON-RPC frames.

use tracing_subscriber::{prelude::*, reload, EnvFilter, Registry};

#[derive(Clone)]
pub struct LogHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LogHandle {
    /// Change the level at run time (`logLevel` setting); `NIB_LOG` wins if set.
    pub fn set_level(&self, level: &str) {
        if std::env::var_os("NIB_LOG").is_some() {
            return;
        }
        if let Some(h) = &self.0 {
            let _ = h.modify(|f| *f = filter(level));
        }
    }
}

fn filter(level: &str) -> EnvFilter {
    // llama.cpp is chatty at info; keep it at warn unless asked for.
    EnvFilter::try_new(format!("{level},llama_cpp_2=error"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init(default_level: &str) -> LogHandle {
    let f = match std::env::var("NIB_LOG") {
        Ok(spec) => EnvFilter::try_new(spec).unwrap_or_else(|_| filter(default_level)),
        Err(_) => filter(default_level),
    };
    let (layer, handle) = reload::Layer::new(f);
    let writer = match std::env::var_os("NIB_LOG_FILE") {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => {
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::sync::Mutex::new(file))
            }
            Err(_) => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
        },
        None => tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false);
    if tracing_subscriber::registry()
        .with(layer)
        .with(fmt)
        .try_init()
        .is_err()
    {
        return LogHandle(None);
    }
    LogHandle(Some(handle))
}
