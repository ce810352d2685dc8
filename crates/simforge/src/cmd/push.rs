//! `simforge push STUDY --server URL --project P`: uploads the finished runs
//! of a local study to a simforge server (see
//! `simforge_exec::remote::push` for the protocol, the spool and resume).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use simforge_exec::remote::client;
use simforge_exec::remote::push::{MAX_BATCH, PushError, PushOptions, PushSummary, push_study};

use super::UsageError;
use super::remote::RemoteArgs;
use crate::locate::{StoreArgs, store_dir_for};

/// What `simforge push` was given.
pub struct PushArgs<'a> {
    /// The study file.
    pub study: &'a Path,
    /// Where the local store is.
    pub store: StoreArgs<'a>,
    /// Server, token, project and client profile (global options).
    pub remote: RemoteArgs,
    /// Records per batch.
    pub batch: usize,
    /// Batches in flight.
    pub parallel: usize,
    /// How long to retry an unreachable server.
    pub patience: Duration,
    /// Send everything again.
    pub resend_all: bool,
}

/// Server, token and project from the options, else the client profile.
fn target(remote: &RemoteArgs) -> Result<(String, String, String)> {
    let named = remote.profile.clone().or_else(|| {
        std::env::var("SIMFORGE_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
    });
    let profile = match client::profile_path() {
        Some(path) => client::load_profile(&path, named.as_deref())?,
        None => client::Profile::default(),
    };
    let server = remote.server.clone().or(profile.server).ok_or_else(|| {
        UsageError("push: no server; pass --server URL (or SIMFORGE_SERVER, or `server:` in the client profile)".into())
    })?;
    let token = super::server::token(remote.token.as_deref(), remote.token_file.as_deref())?
        .or(profile.token)
        .ok_or_else(|| {
            UsageError("push: no API token; pass --token (or SIMFORGE_TOKEN, --token-file, or `token:` in the client profile)".into())
        })?;
    let project = remote.project.clone().or(profile.project).ok_or_else(|| {
        UsageError("push: no project; pass --project P (or SIMFORGE_PROJECT, or `project:` in the client profile)".into())
    })?;
    Ok((server, token, project))
}

/// Pushes the study's finished runs; exit code 1 when the server
/// quarantined records of this push.
pub fn push(args: PushArgs<'_>) -> Result<u8> {
    if args.batch == 0 || args.batch > MAX_BATCH {
        return Err(UsageError(format!(
            "--batch {}: expected 1 to {MAX_BATCH} records",
            args.batch
        ))
        .into());
    }
    if args.parallel == 0 {
        return Err(UsageError("--parallel must be at least 1".into()).into());
    }
    let (server, token, project) = target(&args.remote)?;
    let study = simforge_core::load_study(args.study)?;
    let dir = store_dir_for(args.study, args.store.dir);
    let store = args.store.open_existing(&dir).with_context(|| {
        format!(
            "study `{}` has no local store to push from; run it first",
            study.spec.name
        )
    })?;
    let opts = PushOptions {
        server: server.clone(),
        token,
        project,
        batch: args.batch,
        parallel: args.parallel,
        patience: args.patience,
        resend_all: args.resend_all,
    };
    let summary = match push_study(&opts, &*store, &study, &dir) {
        Ok(s) => s,
        Err(e @ PushError::Study(_)) => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    print_summary(&study.spec.name, &server, &summary);
    Ok(if summary.quarantined > 0 {
        crate::EXIT_RUNS_FAILED
    } else {
        0
    })
}

fn print_summary(name: &str, server: &str, s: &PushSummary) {
    println!(
        "pushed study `{name}` to {server} as `{}` ({} runs planned there)",
        s.key, s.planned
    );
    let spooled = if s.resent_spooled > 0 {
        format!(
            ", {} resent from the spool of an earlier push",
            s.resent_spooled
        )
    } else {
        String::new()
    };
    println!(
        "  sent         {:>9} records in {} batches{spooled}",
        s.records, s.batches
    );
    println!("  accepted     {:>9}", s.accepted);
    println!(
        "  duplicates   {:>9}  (the server had them already)",
        s.duplicates
    );
    if s.replayed > 0 {
        println!(
            "  replayed     {:>9}  records in {} batches applied before (their answer had been lost)",
            s.replayed_records, s.replayed
        );
    }
    println!("  quarantined  {:>9}", s.quarantined);
    println!(
        "  skipped      {:>9}  (acknowledged by an earlier push)",
        s.skipped
    );
    if s.quarantined > 0 {
        println!("quarantined records (first {}):", s.reasons.len());
        for q in &s.reasons {
            let at = match (q.index, q.replicate) {
                (Some(i), Some(r)) => format!("design index {i}, replicate {r}"),
                _ => format!("record {} of its batch", q.position),
            };
            let field = q
                .field
                .as_deref()
                .map(|f| format!(" [{f}]"))
                .unwrap_or_default();
            println!("  {at}{field}: {}", q.reason);
        }
        let (project, study) = s.key.split_once('/').unwrap_or(("?", name));
        println!(
            "  all of them: GET {server}/api/v1/projects/{project}/studies/{study}/quarantine"
        );
    }
}
