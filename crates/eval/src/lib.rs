//! nib-eval: evaluation harnesses behind `nib eval`. They drive the real completion path
//! (`nib_ide::Ide` with the real engine, handed in by the binary) and never a copy of it.

use std::sync::Arc;

use nib_ide::Ide;

/// Builds an `Ide` with a loaded model: `(model name or path, context tokens, max tokens)`.
pub type MakeIde<'a> = &'a dyn Fn(&str, Option<usize>, Option<usize>) -> anyhow::Result<Arc<Ide>>;

#[derive(clap::Subcommand)]
pub enum EvalCommand {}

pub fn run(cmd: EvalCommand, _make_ide: MakeIde) -> anyhow::Result<()> {
    match cmd {}
}
