//! One module per subcommand.

pub(crate) mod analyze;
mod check;
mod export;
mod inspect;
mod kubernetes;
mod optimize;
mod predict;
mod push;
mod remote;
mod run;
mod server;
mod sim;
mod slurm;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// A mistake in how the command was called (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Runs the chosen subcommand; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<u8> {
    if remote::applies(&cli.command) {
        let args = remote::RemoteArgs {
            server: cli.server.clone(),
            token: cli.token.clone(),
            token_file: cli.token_file.clone(),
            project: cli.project.clone(),
            profile: cli.profile.clone(),
        };
        if let Some(r) = args.resolve()? {
            return remote::dispatch(&r, cli.command);
        }
    }
    let store = crate::locate::StoreArgs::new(cli.store.as_deref(), cli.database.as_deref());
    match cli.command {
        Command::Run {
            study,
            jobs,
            retry_failed,
            progress,
            no_report,
            poll,
            dry_run,
            output,
        } => {
            if dry_run {
                run::dry_run(&study, store, output.as_deref())
            } else {
                run::run(&study, store, jobs, retry_failed, progress, no_report, poll)
            }
        }
        Command::Cancel { study } => run::cancel(&study, store),
        Command::Plan { study } => run::plan(&study, store),
        Command::Check { study } => check::check(&study),
        Command::Status { study } => inspect::status(store, study.as_deref()),
        Command::Runs {
            study,
            state,
            limit,
            json,
        } => inspect::runs(store, study.as_deref(), state.as_deref(), limit, json),
        Command::Logs { run, study, tail } => inspect::logs(store, study.as_deref(), &run, tail),
        Command::Artifacts { run, study, output } => {
            inspect::artifacts(store, study.as_deref(), &run, output.as_deref())
        }
        Command::Results {
            study,
            format,
            output,
        } => export::results(store, study.as_deref(), format, output.as_deref()),
        Command::Analyze {
            command:
                crate::cli::AnalyzeCommand::Sensitivity {
                    study,
                    metric,
                    json,
                    bootstrap,
                    confidence,
                    no_surrogate,
                },
        } => analyze::sensitivity(
            store,
            &analyze::SensitivityArgs {
                study: study.as_deref(),
                metric: metric.as_deref(),
                json,
                bootstrap,
                confidence,
                surrogate: !no_surrogate,
            },
        ),
        Command::Optimize {
            study,
            jobs,
            no_report,
            poll,
        } => optimize::optimize(&study, store, jobs, no_report, poll),
        Command::Sim {
            name,
            params,
            options,
            out,
            seed,
            list,
            json,
        } => sim::sim(sim::SimArgs {
            name: name.as_deref(),
            params: &params,
            options: &options,
            out: out.as_deref(),
            seed,
            list,
            json,
        }),
        Command::Predict { study, at, metric } => {
            predict::predict(store, study.as_deref(), metric.as_deref(), &at)
        }
        Command::Report { study, output } => {
            export::report(store, study.as_deref(), output.as_deref())
        }
        Command::Slurm {
            command: crate::cli::SlurmCommand::Script { study },
        } => slurm::script(&study, store),
        Command::ExecBundle {
            manifest,
            task,
            task_offset,
        } => run::exec_bundle(&manifest, task, task_offset),
        Command::Worker {
            connection,
            queues,
            workdir,
            id,
            slots,
            idle_exit,
            wall,
            patience,
        } => match (
            // A SLURM pilot's job inherits the submitter's environment: a
            // SIMFORGE_SERVER there must not turn it into a server worker.
            cli.server
                .filter(|_| cli.server_given || connection.is_none()),
            connection,
        ) {
            (Some(_), Some(_)) | (None, None) => Err(UsageError(
                "worker: give exactly one of --connection FILE (SLURM pilot) and --server URL / SIMFORGE_SERVER (server queues)".into(),
            )
            .into()),
            (Some(url), None) => server::remote_worker(server::RemoteWorkerArgs {
                token: server::token(cli.token.as_deref(), cli.token_file.as_deref())?,
                server: url,
                queues,
                slots,
                name: id,
                workdir: Some(workdir),
                idle_exit,
                patience,
            }),
            (None, Some(connection)) => run::worker(simforge_exec::pilot::worker::WorkerOptions {
            connection,
            id: id.unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    simforge_exec::runner::hostname(),
                    std::process::id()
                )
            }),
            slots,
            idle_exit: seconds(idle_exit.unwrap_or(60.0), "--idle-exit")?,
            wall: wall.map(|w| seconds(w, "--wall")).transpose()?,
            patience: seconds(patience, "--patience")?,
        }),
        },
        Command::Serve { config } => server::serve(
            config.as_deref(),
            cli.profile.as_deref(),
            cli.verbose,
            cli.log_format_given.then_some(cli.log_format),
        ),
        Command::Admin { config, command } => {
            server::admin(config.as_deref(), cli.profile.as_deref(), command)
        }
        Command::Ui { port } => server::ui(store, port),
        Command::Etl { config, command } => {
            server::etl(config.as_deref(), cli.profile.as_deref(), command)
        }
        Command::Ping { url, timeout } => server::ping(&url, timeout),
        Command::Push { study, batch, parallel, patience, resend_all } => push::push(push::PushArgs {
            study: &study,
            store,
            remote: remote::RemoteArgs {
                server: cli.server,
                token: cli.token,
                token_file: cli.token_file,
                project: cli.project,
                profile: cli.profile,
            },
            batch,
            parallel,
            patience: seconds(patience, "--patience")?,
            resend_all,
        }),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&simforge_core::spec::json_schema())?
            );
            Ok(0)
        }
    }
}

/// A command-line number of seconds as a duration.
fn seconds(s: f64, flag: &str) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(s)
        .map_err(|_| UsageError(format!("{flag} {s}: expected a number of seconds ≥ 0")).into())
}
