//! One file per request or notification family; each adds its methods to [`Backend`].
//!
//! [`Backend`]: crate::server::Backend

mod code_actions;
mod completion;
mod configuration;
mod custom;
mod documents;
pub(crate) mod events;
mod lifecycle;
mod workspace;
