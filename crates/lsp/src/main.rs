//! nib: a local-first AI coding assistant, as a language server and a CLI.

mod actions;
mod bench;
mod cli;
mod convert;
mod engine_loader;
mod logging;
mod lsp_client;
mod models;
mod repo;
mod scan;
mod server;
mod settings;
mod trace;

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
    /// Manage local models.
    #[command(subcommand)]
    Model(cli::ModelCommand),
    /// Measure latency.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Measure quality on benchmark data through the real completion path.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Check files or directories with the safety gate (exit 1 on high or critical findings).
    Scan(scan::ScanArgs),
    /// The same as `nib eval scan`.
    #[command(hide = true)]
    EvalScan(scan::eval::EvalScanArgs),
}

#[derive(Subcommand)]
enum EvalCommand {
    #[command(flatten)]
    Completion(nib_eval::EvalCommand),
    /// Score the safety gate: labelled benchmark (vs bandit) and false positives on real code.
    Scan(scan::eval::EvalScanArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Serve => {
            let log = logging::init("info");
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    rt.block_on(server::serve(log));
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
            }
        }
        Command::Complete(a) => {
            logging::init("warn");
            cli::complete(a)
        }
        Command::Model(m) => {
            logging::init("warn");
            cli::model(m)
        }
        Command::Bench(b) => {
            logging::init("warn");
            bench::run(b)
        }
        Command::Scan(a) => {
            logging::init("warn");
            return scan::run(a);
        }
        Command::EvalScan(a) | Command::Eval(EvalCommand::Scan(a)) => {
            logging::init("warn");
            scan::eval::run(a)
        }
        Command::Eval(EvalCommand::Completion(e)) => {
            logging::init("warn");
            nib_eval::run(e, &|model, context_tokens, max_tokens| {
                cli::load_ide(&cli::settings_for(
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
