//! `simforge`: the command-line front end. A thin layer: every command parses
//! its arguments, finds the study and store, and calls the library crates.

mod cli;
mod cmd;
#[cfg(test)]
mod deploy_tests;
mod locate;
mod logging;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for invalid input (bad study file, unknown run).
pub const EXIT_INVALID: u8 = 2;
/// Exit code when some runs failed.
pub const EXIT_RUNS_FAILED: u8 = 1;
/// Exit code when interrupted by the user (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == simforge_exec::guardian::GUARDIAN_ARG)
    {
        // Internal: the guardian of a runner's children (see simforge_exec::guardian).
        simforge_exec::guardian::serve(std::io::stdin().lock());
        return ExitCode::SUCCESS;
    }
    let mut args = cli::Cli::parse();
    args.log_format_given = std::env::args_os().any(|a| {
        a.to_str()
            .is_some_and(|a| a == "--log-format" || a.starts_with("--log-format="))
    });
    args.server_given = std::env::args_os().any(|a| {
        a.to_str()
            .is_some_and(|a| a == "--server" || a.starts_with("--server="))
    });
    if !matches!(args.command, cli::Command::Serve { .. }) {
        // `simforge serve` installs its own, once it has read its config.
        logging::init(args.verbose, args.log_format);
    }
    match cmd::dispatch(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(d) = e.downcast_ref::<simforge_core::Diagnostics>() {
                eprint!("{}", d.render());
                return ExitCode::from(EXIT_INVALID);
            }
            if let Some(u) = e.downcast_ref::<cmd::UsageError>() {
                eprintln!("error: {u}");
                return ExitCode::from(EXIT_INVALID);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
