//! nib: a local-first AI coding assistant, as a language server and a CLI. This binary only
//! parses the command line and calls into the crates.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nib",
    version,
    about = "Local-first AI code completion as a language server"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the language server on stdio.
    Serve,
    /// Print the completion at FILE:LINE:COL (1-based line and column, column in characters),
    /// using the same code path as the server.
    Complete(cli::CompleteArgs),
    /// Ask the assistant at FILE:LINE[:COL][-LINE2[:COL2]]: explain, fix, tests, refactor,
    /// generate or chat, through the same path as the server's code actions.
    Ask(cli::AskArgs),
    /// Manage local models.
    #[command(subcommand)]
    Model(cli::ModelCommand),
    /// Measure latency.
    #[command(subcommand)]
    Bench(nib_bench::BenchCommand),
    /// Measure quality on benchmark data through the real completion path.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Check files or directories with the safety gate (exit 1 on high or critical findings).
    Scan(nib_scan::ScanArgs),
    /// Print the settings nib understands (`--json` for editor packages, `--markdown` for the README).
    Settings(cli::SettingsArgs),
    /// Acceptance of suggestions recorded by the server: by language, model, confidence and
    /// trigger.
    Stats(cli::StatsArgs),
    /// Recorded suggestions as training data (needs `telemetry` = `full`).
    Export(cli::ExportArgs),
    /// The same as `nib eval scan`.
    #[command(hide = true)]
    EvalScan(nib_eval::scan::EvalScanArgs),
}

#[derive(Subcommand)]
enum EvalCommand {
    #[command(flatten)]
    Completion(nib_eval::EvalCommand),
    /// Score the safety gate: labelled benchmark (vs bandit) and false positives on real code.
    Scan(nib_eval::scan::EvalScanArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Serve => {
            let log = nib_lsp::logging::init_server("info");
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    rt.block_on(nib_lsp::serve(log));
                    // A read of stdin may still be blocked in the pool: do not wait for it.
                    rt.shutdown_timeout(std::time::Duration::from_millis(200));
                    // Work on the blocking pool (a generation, a model load) may still be
                    // using llama.cpp: end without running its exit handlers.
                    nib_lsp::exit_process(0)
                }
                Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
            }
        }
        Command::Complete(a) => {
            nib_lsp::logging::init("warn");
            cli::complete(a)
        }
        Command::Ask(a) => {
            nib_lsp::logging::init("warn");
            cli::ask(a)
        }
        Command::Settings(a) => cli::settings(a),
        Command::Stats(a) => {
            nib_lsp::logging::init("warn");
            cli::stats(a)
        }
        Command::Export(a) => {
            nib_lsp::logging::init("warn");
            cli::export(a)
        }
        Command::Model(m) => {
            nib_lsp::logging::init("warn");
            cli::model(m)
        }
        Command::Bench(b) => {
            nib_lsp::logging::init("warn");
            nib_bench::run(b)
        }
        Command::Scan(a) => {
            nib_lsp::logging::init("warn");
            return nib_scan::run(a);
        }
        Command::EvalScan(a) | Command::Eval(EvalCommand::Scan(a)) => {
            nib_lsp::logging::init("warn");
            nib_eval::scan::run(a)
        }
        Command::Eval(EvalCommand::Completion(e)) => {
            nib_lsp::logging::init("warn");
            nib_eval::run(e, &|model, context_tokens, max_tokens| {
                nib_lsp::local::load_ide(&nib_lsp::local::settings_for(
                    Some(model),
                    context_tokens,
                    max_tokens,
                    None,
                ))
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nib: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
