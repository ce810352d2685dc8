//! `simforge run`: plan, execute and record a study, then summarise.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use simforge_core::RunState;
use simforge_exec::pool::Machine;
use simforge_exec::progress::Mode;
use simforge_exec::{RunOptions, RunSummary, RunnableSimulator, run_study};
use simforge_store::Store;

use crate::cli::ProgressArg;
use crate::locate::{StoreArgs, runs_root, store_dir_for};
use crate::{EXIT_INTERRUPTED, EXIT_RUNS_FAILED};

/// Studies larger than this get no automatic report (it would be slow and huge);
/// `simforge report` still works.
const AUTO_REPORT_MAX_RUNS: u64 = 100_000;

/// Runs the study at `file`.
pub fn run(
    file: &Path,
    store: StoreArgs<'_>,
    jobs: Option<usize>,
    retry_failed: bool,
    progress: ProgressArg,
    no_report: bool,
    poll: f64,
) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    if study.spec.optimize.is_some() {
        println!(
            "study `{}` has an `optimize` section: running its adaptive loop (as `simforge optimize`)",
            study.spec.name
        );
        return super::optimize::optimize(file, store, jobs, no_report, poll);
    }
    let sim = RunnableSimulator::new(&study)?;
    match &study.backend {
        simforge_core::study::Backend::Slurm(slurm) => {
            let flags = ClusterFlags {
                retry_failed,
                poll,
                no_report,
            };
            return run_slurm(file, store, &study, slurm, &sim, &flags);
        }
        simforge_core::study::Backend::Kubernetes(kube) => {
            let flags = ClusterFlags {
                retry_failed,
                poll,
                no_report,
            };
            return run_kubernetes(file, store, &study, kube, &sim, &flags);
        }
        simforge_core::study::Backend::Local => {}
    }
    if jobs == Some(0) {
        return Err(crate::cmd::UsageError("--jobs must be at least 1".into()).into());
    }
    let (dir, db, mut store) = open_store(file, store)?;
    let cancel = stop_on_signals()?;
    let opts = RunOptions {
        jobs,
        retry_failed,
        runs_root: runs_root(&dir, &study.spec.name),
        lock_dir: dir.join("locks"),
        progress: match progress {
            ProgressArg::Auto => Mode::Auto,
            ProgressArg::Plain => Mode::Plain,
            ProgressArg::None => Mode::Quiet,
        },
        machine: Machine::detect(),
        guardian_exe: std::env::current_exe().ok(),
    };
    let summary = run_study(
        &mut *store,
        &study,
        sim,
        &file.display().to_string(),
        &opts,
        cancel.clone(),
    )?;
    print_summary(&study.spec.name, &summary);
    if !no_report && !summary.interrupted {
        write_outputs(
            &dir,
            &*store,
            &study.spec.name,
            summary.planned,
            summary.wall,
        )?;
    }
    println!("store:   {db}");
    Ok(if summary.interrupted {
        EXIT_INTERRUPTED
    } else if summary.failed + summary.timed_out > 0 || summary.stopped_early.is_some() {
        EXIT_RUNS_FAILED
    } else {
        0
    })
}

/// `simforge run` options that cluster backends use.
#[derive(Debug, Clone, Copy)]
struct ClusterFlags {
    retry_failed: bool,
    poll: f64,
    no_report: bool,
}

/// A cluster coordinator's store: its directory, where its records are (for
/// messages), the handle, and the stop flag.
pub(crate) type ClusterStore = (std::path::PathBuf, String, Box<dyn Store>, Arc<AtomicBool>);

/// What every cluster coordinator starts with: the store (its directory
/// absolute, since compute nodes and pods are handed paths in it) and a stop
/// flag set by Ctrl-C or SIGTERM.
pub(crate) fn cluster_setup(file: &Path, store: StoreArgs<'_>) -> Result<ClusterStore> {
    let (dir, db, handle) = open_store(file, store)?;
    let dir = std::path::absolute(&dir).context("resolving the store directory")?;
    Ok((dir, db, handle, stop_on_signals()?))
}

/// Runs a study with `backend: {slurm: ...}`: submits job arrays, polls, ingests.
fn run_slurm(
    file: &Path,
    store: StoreArgs<'_>,
    study: &simforge_core::Study,
    slurm: &simforge_core::study::SlurmBackend,
    sim: &RunnableSimulator,
    flags: &ClusterFlags,
) -> Result<u8> {
    let ClusterFlags {
        retry_failed,
        poll,
        no_report,
    } = *flags;
    let (dir, db, mut handle, cancel) = cluster_setup(file, store)?;
    let opts = simforge_exec::slurm_runner::SlurmRunOptions {
        runs_root: runs_root(&dir, &study.spec.name),
        store_dir: dir,
        exe: std::env::current_exe().context("finding the simforge executable")?,
        poll: std::time::Duration::from_secs_f64(poll.max(0.05)),
        retry_failed,
    };
    let s = simforge_exec::slurm_runner::run_on_slurm(
        &mut *handle,
        study,
        slurm,
        sim,
        file,
        &opts,
        &cancel,
    )?;
    let jobs = if slurm.is_pilot() {
        format!(
            "{} pilots submitted, {} worker syncs answered, {} leases adopted",
            s.pilots_submitted, s.pilot_syncs, s.adopted_leases
        )
    } else {
        format!("{} job arrays submitted", s.submitted_jobs)
    };
    println!(
        "study `{}` on SLURM: {} runs planned ({} new); {jobs} ({} sbatch, {} squeue calls), {} jobs re-attached; {} results ingested from run directories, {} runs lost by their tasks or pilots; {:.1}s",
        study.spec.name,
        s.planned,
        s.new,
        s.sbatch_calls,
        s.squeue_calls,
        s.reattached_jobs,
        s.harvested,
        s.lost,
        s.wall.as_secs_f64()
    );
    finish_cluster(ClusterEnd {
        dir: &opts.store_dir,
        db: &db,
        store: &*handle,
        name: &study.spec.name,
        planned: s.planned,
        wall: s.wall,
        totals: &s.totals,
        top_reasons: &s.top_reasons,
        interrupted: s.interrupted,
        no_report,
    })
}

/// Cancels a SLURM study's submitted jobs.
pub fn cancel(file: &Path, store: StoreArgs<'_>) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let (dir, _, mut handle) = open_store(file, store)?;
    let _lock = simforge_exec::runner::StudyLock::acquire(&dir.join("locks"), &study.spec.name)?;
    let jobs = match &study.backend {
        simforge_core::study::Backend::Kubernetes(kube) => {
            simforge_exec::kube_runner::cancel_kube_jobs(&mut *handle, &study.spec.name, kube)?
        }
        _ => simforge_exec::slurm_runner::cancel_jobs(&mut *handle, &study.spec.name)?,
    };
    if jobs.is_empty() {
        println!("study `{}` has no submitted jobs", study.spec.name);
    } else {
        println!(
            "cancelled jobs {} of study `{}`; their unfinished runs are pending again",
            jobs.join(", "),
            study.spec.name
        );
    }
    Ok(0)
}

/// Executes bundle `task` of the manifest at `path`; exit code 1 if any of its
/// runs failed, 130 if stopped (scancel sends SIGTERM).
pub fn exec_bundle(path: &Path, task: Option<usize>, offset: usize) -> Result<u8> {
    let index = match task {
        Some(t) => t,
        None => std::env::var("JOB_COMPLETION_INDEX")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| {
                crate::cmd::UsageError(
                    "no task index: pass --task, or run inside a SLURM array task or a Kubernetes Indexed Job".into(),
                )
            })?,
    };
    let task = index + offset;
    let manifest = simforge_exec::bundle::BundleManifest::read(path)?;
    let cancel = stop_on_signals()?;
    let o = simforge_exec::bundle::run_bundle(&manifest, task, &cancel)?;
    println!(
        "bundle {task}: {} succeeded, {} failed, {} timed out, {} unfinished",
        o.succeeded, o.failed, o.timed_out, o.unfinished
    );
    Ok(if o.unfinished > 0 {
        EXIT_INTERRUPTED
    } else if o.failed + o.timed_out > 0 {
        EXIT_RUNS_FAILED
    } else {
        0
    })
}

/// Runs a study with `backend: {kubernetes: ...}`: creates Indexed Jobs, polls, ingests.
fn run_kubernetes(
    file: &Path,
    store: StoreArgs<'_>,
    study: &simforge_core::Study,
    kube: &simforge_core::study::KubernetesBackend,
    sim: &RunnableSimulator,
    flags: &ClusterFlags,
) -> Result<u8> {
    let ClusterFlags {
        retry_failed,
        poll,
        no_report,
    } = *flags;
    let (dir, db, mut handle, cancel) = cluster_setup(file, store)?;
    let opts = simforge_exec::kube_runner::KubeRunOptions {
        runs_root: runs_root(&dir, &study.spec.name),
        store_dir: dir,
        poll: std::time::Duration::from_secs_f64(poll.max(0.05)),
        retry_failed,
    };
    let s = simforge_exec::kube_runner::run_on_kubernetes(
        &mut *handle,
        study,
        kube,
        sim,
        file,
        &opts,
        &cancel,
    )?;
    let work = if kube.pilot.is_some() {
        format!(
            "{} worker pods asked for, {} worker syncs answered, {} leases adopted",
            s.pilots, s.pilot_syncs, s.adopted_leases
        )
    } else {
        format!("{} Indexed Jobs created", s.submitted_jobs)
    };
    println!(
        "study `{}` on Kubernetes (namespace {}): {} runs planned ({} new); {work} ({} API calls), {} jobs re-attached; {} results ingested from run directories, {} runs lost by their pods; {:.1}s",
        study.spec.name,
        kube.namespace,
        s.planned,
        s.new,
        s.api_calls,
        s.reattached_jobs,
        s.harvested,
        s.lost,
        s.wall.as_secs_f64()
    );
    finish_cluster(ClusterEnd {
        dir: &opts.store_dir,
        db: &db,
        store: &*handle,
        name: &study.spec.name,
        planned: s.planned,
        wall: s.wall,
        totals: &s.totals,
        top_reasons: &s.top_reasons,
        interrupted: s.interrupted,
        no_report,
    })
}

/// Writes `results/<study>.csv` and `reports/<study>.html` in the store
/// directory, unless the study is too large for an automatic report.
pub(crate) fn write_outputs(
    dir: &Path,
    store: &dyn Store,
    name: &str,
    planned: u64,
    wall: std::time::Duration,
) -> Result<()> {
    if planned > AUTO_REPORT_MAX_RUNS {
        println!(
            "(no automatic report for more than {AUTO_REPORT_MAX_RUNS} runs; use `simforge report` / `simforge results`)"
        );
        return Ok(());
    }
    let csv = dir.join("results").join(format!("{name}.csv"));
    let html = dir.join("reports").join(format!("{name}.html"));
    super::export::write_results_file(store, name, crate::cli::FormatArg::Csv, &csv)?;
    super::export::write_report_file(store, name, &html, Some(wall.as_secs_f64()))?;
    println!("results: {}", csv.display());
    println!("report:  {}", html.display());
    Ok(())
}

/// What a cluster run's summary ends with.
struct ClusterEnd<'a> {
    dir: &'a Path,
    db: &'a str,
    store: &'a dyn Store,
    name: &'a str,
    planned: u64,
    wall: std::time::Duration,
    totals: &'a [(RunState, u64)],
    top_reasons: &'a [(String, u64)],
    interrupted: bool,
    no_report: bool,
}

/// The end of a cluster run's report: totals, reasons, results and report
/// files, exit code.
fn finish_cluster(end: ClusterEnd<'_>) -> Result<u8> {
    let ClusterEnd {
        db,
        totals,
        top_reasons,
        interrupted,
        ..
    } = end;
    let line: Vec<String> = totals
        .iter()
        .map(|(st, n)| format!("{n} {}", st.as_str()))
        .collect();
    println!("study now: {}", line.join(", "));
    if !top_reasons.is_empty() {
        println!("most common failure reasons:");
        for (reason, n) in top_reasons {
            println!("  {n:>6} × {reason}");
        }
    }
    if !interrupted && !end.no_report {
        write_outputs(end.dir, end.store, end.name, end.planned, end.wall)?;
    }
    println!("store:   {db}");
    if interrupted {
        println!(
            "interrupted: submitted jobs keep running; run the same command again to re-attach, or `simforge cancel`"
        );
        return Ok(EXIT_INTERRUPTED);
    }
    let failed = totals
        .iter()
        .any(|(st, n)| matches!(st, RunState::Failed | RunState::TimedOut) && *n > 0);
    Ok(if failed { EXIT_RUNS_FAILED } else { 0 })
}

/// `simforge run --dry-run`: what a cluster backend would submit.
pub fn dry_run(file: &Path, store: StoreArgs<'_>, output: Option<&Path>) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    match &study.backend {
        simforge_core::study::Backend::Slurm(_) => {
            if output.is_some() {
                return Err(crate::cmd::UsageError(
                    "--output is for Kubernetes manifests; SLURM scripts go to standard output".into(),
                )
                .into());
            }
            crate::cmd::slurm::script(file, store)
        }
        simforge_core::study::Backend::Kubernetes(_) => {
            crate::cmd::kubernetes::manifests(file, store, output)
        }
        simforge_core::study::Backend::Local => Err(crate::cmd::UsageError(format!(
            "{} runs locally: --dry-run shows what a cluster backend would submit; `simforge plan` stores the plan without running it",
            file.display()
        ))
        .into()),
    }
}

/// `simforge worker`: a pilot pulling runs from its coordinator.
pub fn worker(opts: simforge_exec::pilot::worker::WorkerOptions) -> Result<u8> {
    let cancel = stop_on_signals()?;
    let s = simforge_exec::pilot::worker::run_worker(&opts, &cancel)?;
    println!(
        "worker {}: {} runs taken, {} syncs; stopped: {}",
        opts.id, s.runs, s.syncs, s.stopped
    );
    Ok(0)
}

/// A flag that SIGINT (Ctrl-C) and SIGTERM (scancel, pod deletion) set: long
/// commands stop cleanly at their next check.
pub(crate) fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, cancel.clone())
            .context("installing the signal handler")?;
    }
    Ok(cancel)
}

/// Opens (creating if needed) the store for the study file `file`; returns its
/// directory, where its records are (for messages: the SQLite file, or the
/// database URL without its password) and the handle.
pub(crate) fn open_store(
    file: &Path,
    store: StoreArgs<'_>,
) -> Result<(std::path::PathBuf, String, Box<dyn Store>)> {
    let dir = store_dir_for(file, store.dir);
    let handle = store.open(&dir)?;
    Ok((dir, handle.location(), handle))
}

/// Plans the study at `file` into its store without executing anything.
pub fn plan(file: &Path, store: StoreArgs<'_>) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let sim = RunnableSimulator::new(&study)?;
    let (dir, db, mut store) = open_store(file, store)?;
    let _lock = simforge_exec::runner::StudyLock::acquire(&dir.join("locks"), &study.spec.name)?;
    let t = std::time::Instant::now();
    let (planned, new) = simforge_exec::runner::plan_into_store(
        &mut *store,
        &study,
        &sim.identity(),
        &file.display().to_string(),
    )?;
    println!(
        "study `{}`: {planned} runs planned ({new} new) in {:.2}s; store: {db}",
        study.spec.name,
        t.elapsed().as_secs_f64(),
    );
    Ok(0)
}

fn print_summary(name: &str, s: &RunSummary) {
    let secs = s.wall.as_secs_f64();
    let rate = if secs > 0.0 {
        s.executed as f64 / secs
    } else {
        0.0
    };
    println!(
        "study `{name}`: {} runs planned ({} new), {} already done, {} recovered from result files",
        s.planned, s.new, s.already_done, s.recovered
    );
    println!(
        "executed {} runs on {} slots in {:.2}s ({:.1} runs/s): {} succeeded, {} failed, {} timed out; {} retries",
        s.executed, s.slots, secs, rate, s.succeeded, s.failed, s.timed_out, s.retried
    );
    let totals: Vec<String> = s
        .totals
        .iter()
        .map(|(st, n)| format!("{n} {}", st.as_str()))
        .collect();
    println!("study now: {}", totals.join(", "));
    if !s.top_reasons.is_empty() {
        println!("most common failure reasons:");
        for (reason, n) in &s.top_reasons {
            println!("  {n:>6} × {reason}");
        }
    }
    if let Some(why) = &s.stopped_early {
        println!("stopped early: {why}");
    }
    if s.interrupted {
        println!(
            "interrupted: {} runs left pending; run the same command again to finish them",
            s.remaining
        );
    } else if s
        .totals
        .iter()
        .any(|(st, n)| matches!(st, RunState::Failed | RunState::TimedOut) && *n > 0)
    {
        println!(
            "hint: `simforge runs --state failed` lists failures; `--retry-failed` runs them again"
        );
    }
}
