//! nib-lsp: the language server. The only crate that knows JSON-RPC and LSP types.
//!
//! Invariants and boundary:
//! - Stdout carries only JSON-RPC frames; logs go to stderr or a file ([`logging`]).
//! - Every frame gets an answer or a log line: malformed frames are answered by the validating
//!   [`transport`] and never reach (or stop) the protocol layer.
//! - Every request gets an answer: a panic in a handler becomes an internal-error response
//!   and a log line ([`blocking`]), never a dead server.
//! - Handlers live in `handlers/`, one file per request or notification family; conversions
//!   between LSP and nib types in `convert` and `actions`.
//! - The server wires concrete things together: the model (`nib-models`), the workspace index
//!   and the safety gate's environment (`nib-workspace`), all behind the `nib-ide` facade.
//! - Settings are one table ([`settings::KEYS`]): parser, README table and editor packages
//!   come from it.
//! - [`local`] runs the same completion path in process for the CLI, benchmarks and evaluation.

mod actions;
pub mod assist;
pub mod blocking;
mod convert;
mod debounce;
mod handlers;
pub mod local;
pub mod logging;
pub mod params;
pub mod remote;
mod server;
pub mod settings;
pub mod transport;

pub use nib_models::exit_process;
pub use server::serve;
pub use settings::Settings;
