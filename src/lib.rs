//! The `keepnet-export` runner: parses the command line, connects, and composes an API fetch
//! with an output. It holds no API or format logic of its own; those live in the crates under
//! `crates/`.

pub mod cli;
pub mod columns;
mod commands;
pub mod exit;
mod logging;
mod output;
pub mod pipeline;
mod secret;
pub mod session;
pub mod sinks;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::exit::Failure;
use crate::session::{SecretSource, Session};

/// Runs the command line of this process and returns its exit code.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let secret_source = match matches.value_source("client_secret") {
        Some(clap::parser::ValueSource::CommandLine) => SecretSource::CommandLine,
        _ => SecretSource::Other,
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    logging::init(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(run(cli, secret_source)) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

/// Runs one parsed command.
async fn run(cli: Cli, secret_source: SecretSource) -> Result<(), Failure> {
    if let Command::Sandbox(args) = &cli.command {
        return commands::sandbox::run(args).await;
    }
    let session = Session::connect(&cli.global, secret_source).await?;
    let result = match &cli.command {
        Command::Companies(args) => commands::companies::run(&session.client, args).await,
        Command::Count(args) => commands::count::run(&session.client, args).await,
        Command::Users(args) => commands::users::run(&session.client, args).await,
        Command::Export(args) => commands::export::run(&session.client, args).await,
        Command::Sandbox(_) => unreachable!("handled above"),
    };
    session.close().await;
    result
}
