//! `simforge run` on one machine: plan, recover, execute on the slot pool, record.
//!
//! One coordinator thread owns the store and is its only writer; one worker thread
//! per slot executes runs and reports events over a channel. Store writes are
//! grouped into short transactions. Resume is the normal path: runs already
//! succeeded are skipped, runs whose `result.json` says they succeeded (the
//! coordinator died before recording it) are ingested without executing again,
//! and runs left `running` by a dead runner go back to `pending`.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simforge_core::{Plan, RunState, Study};
use simforge_store::{PendingRun, Store, StoreError, StudyRow, Update};

use crate::attempts::{AttemptEvent, RunEnv, execute_run};
use crate::pool::{Machine, Slot, slots};
use crate::progress::Progress;
use crate::rundir::{self, ResultFile};
use crate::simulator::RunnableSimulator;

/// Longest a batch of store updates waits before it is committed.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Updates per transaction at most.
const FLUSH_BATCH: usize = 2000;
/// Pending runs loaded from the store at a time.
const PAGE: u64 = 2000;

/// How to run a study.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Concurrent runs (`--jobs`); default from cores and per-run resources.
    pub jobs: Option<usize>,
    /// Re-run failed, timed-out and cancelled runs from earlier invocations.
    pub retry_failed: bool,
    /// Directory holding run directories (`<root>/<run id>/`).
    pub runs_root: PathBuf,
    /// Directory for lock files.
    pub lock_dir: PathBuf,
    /// How to show progress.
    pub progress: crate::progress::Mode,
    /// The machine's capacity.
    pub machine: Machine,
    /// Executable to start as the guardian (`exe __guardian`), normally the
    /// simforge binary itself; `None` runs without one.
    pub guardian_exe: Option<PathBuf>,
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    /// Runs in the plan.
    pub planned: u64,
    /// Runs new to the store in this plan.
    pub new: u64,
    /// Runs already succeeded before this invocation (skipped).
    pub already_done: u64,
    /// Runs recovered from `result.json` without executing.
    pub recovered: u64,
    /// Runs executed in this invocation.
    pub executed: u64,
    /// Of those: succeeded.
    pub succeeded: u64,
    /// Of those: failed for good.
    pub failed: u64,
    /// Of those: timed out on their last attempt.
    pub timed_out: u64,
    /// Attempts retried.
    pub retried: u64,
    /// Runs left pending (interrupted or stopped early).
    pub remaining: u64,
    /// Concurrent slots used.
    pub slots: usize,
    /// Wall-clock time of the execution phase.
    pub wall: Duration,
    /// The most common failure reasons in the study, with counts.
    pub top_reasons: Vec<(String, u64)>,
    /// Set when the run stopped early on purpose (max_failures).
    pub stopped_early: Option<String>,
    /// Set when the user interrupted the run.
    pub interrupted: bool,
    /// Runs per state in the whole study after this invocation.
    pub totals: Vec<(RunState, u64)>,
}

/// Why a study could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The design could not be generated.
    #[error("cannot generate the design: {0}")]
    Design(#[from] simforge_core::design::DesignError),
    /// The pool cannot be sized for these resources.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
    /// Another runner holds the study.
    #[error(
        "another `simforge run` is already running study `{study}` (lock {lock}); wait for it or stop it first"
    )]
    Locked {
        /// Study name.
        study: String,
        /// Lock file.
        lock: String,
    },
    /// A bundle manifest or task is unusable.
    #[error("{0}")]
    Bundle(String),
    /// The pilot coordinator or a worker's link to it failed.
    #[error("{0}")]
    Pilot(String),
    /// Filesystem error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// An exclusive per-study lock held for the life of a runner (released by the
/// kernel if the runner dies, so a crash never leaves a stale lock).
pub struct StudyLock {
    _file: File,
}

impl StudyLock {
    /// Takes the lock for `study` under `dir`, or says who holds it. A
    /// server's study names (`project/name`) lock in a folder per project.
    pub fn acquire(dir: &Path, study: &str) -> Result<StudyLock, ExecError> {
        let path = dir.join(format!("{study}.lock"));
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|source| ExecError::Io {
            context: format!("creating {}", parent.display()),
            source,
        })?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ExecError::Io {
                context: format!("opening {}", path.display()),
                source,
            })?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            return Err(ExecError::Locked {
                study: study.into(),
                lock: path.display().to_string(),
            });
        }
        Ok(StudyLock { _file: file })
    }
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buffer and length are valid.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The store's row for `study` as planned now (generation and counts are
/// the store's to fill in).
pub(crate) fn study_row(study: &Study, sim_identity: &str, study_file: &str) -> StudyRow {
    StudyRow {
        name: study.spec.name.clone(),
        spec_hash: study.spec_hash.clone(),
        spec_json: serde_json::to_string(&study.spec).unwrap_or_default(),
        study_file: study_file.to_string(),
        simulator: sim_identity.to_string(),
        plan_gen: 0,
        planned_runs: 0,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// Plans `study` into `store` unless the stored plan is already current.
/// Returns (planned, new).
pub fn plan_into_store(
    store: &mut dyn Store,
    study: &Study,
    sim_identity: &str,
    study_file: &str,
) -> Result<(u64, u64), ExecError> {
    if let Ok(row) = store.study(&study.spec.name)
        && row.spec_hash == study.spec_hash
        && row.simulator == sim_identity
    {
        return Ok((row.planned_runs as u64, 0));
    }
    let plan = Plan::new(study, sim_identity)?;
    let row = study_row(study, sim_identity, study_file);
    let (_, stats) = store.store_plan(&row, &mut plan.runs())?;
    Ok((stats.planned, stats.new))
}

/// The store update for a result file whose run is settled: succeeded, or
/// failed / timed out with no attempt left. `None` for anything else (an
/// attempt that was to be retried, a cancelled one): that run executes again.
fn settled_update(r: ResultFile) -> Option<Update> {
    let (record, run_state) = r.into_attempt()?;
    matches!(
        run_state,
        RunState::Succeeded | RunState::Failed | RunState::TimedOut
    )
    .then_some(Update::Finished { record, run_state })
}

/// What a cluster coordinator starts from (see [`start_cluster_run`]).
pub(crate) struct ClusterStart {
    /// Held for the coordinator's life: one coordinator per study.
    pub _lock: StudyLock,
    /// The study file, absolute (tasks and pods are handed this path).
    pub study_file: PathBuf,
    /// Runs in the plan.
    pub planned: u64,
    /// Runs new to the store.
    pub new: u64,
}

/// The start every cluster coordinator shares: lock the study, store its
/// plan, and put back to pending the runs a dead local runner left running,
/// the interrupted ones and (with `retry_failed`) the failed ones. Runs held
/// by cluster jobs or pilots keep their owner; the coordinator re-attaches.
pub(crate) fn start_cluster_run(
    store: &mut dyn Store,
    study: &Study,
    sim: &RunnableSimulator,
    study_file: &Path,
    store_dir: &Path,
    retry_failed: bool,
) -> Result<ClusterStart, ExecError> {
    let name = &study.spec.name;
    let lock = StudyLock::acquire(&store_dir.join("locks"), name)?;
    let abs = std::path::absolute(study_file).map_err(|source| ExecError::Io {
        context: "resolving the study file".into(),
        source,
    })?;
    let (planned, new) =
        plan_into_store(store, study, &sim.identity(), &abs.display().to_string())?;
    store.requeue_running(name)?;
    store.requeue_cancelled(name)?;
    if retry_failed {
        store.requeue_failed(name)?;
    }
    Ok(ClusterStart {
        _lock: lock,
        study_file: abs,
        planned,
        new,
    })
}

/// Ingests the `result.json` files of settled runs (succeeded, or failed for
/// good) that the store does not know as settled — written by a runner that died
/// before recording them, or by a cluster task. Returns how many were recovered.
pub fn recover_results(
    store: &mut dyn Store,
    study: &Study,
    runs_root: &Path,
) -> Result<u64, ExecError> {
    let entries = match std::fs::read_dir(runs_root) {
        Ok(e) => e,
        Err(_) => return Ok(0),
    };
    let unfinished: HashSet<String> = store
        .unfinished_ids(&study.spec.name)?
        .into_iter()
        .collect();
    let mut updates = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !unfinished.contains(&name) {
            continue;
        }
        match rundir::read_result(&entry.path(), &name) {
            // A result whose attempt the store already recorded is old news: the
            // run was put back to pending on purpose (`--retry-failed`).
            Ok(r)
                if store
                    .last_recorded_attempt(&r.run_id)?
                    .is_some_and(|a| a >= r.attempt) => {}
            Ok(r) => {
                if let Some(update) = settled_update(r) {
                    updates.push(update);
                }
            }
            Err(rundir::ResultFileError::Missing) => {}
            Err(e) => tracing::warn!("ignoring {e}; the run will execute again"),
        }
    }
    let n = updates.len() as u64;
    store.apply(&updates)?;
    Ok(n)
}

/// Runs every unfinished run of `study`. Stops cleanly when `cancel` is set.
/// `sim` may be shared (an `Arc`) by a caller that runs the study repeatedly.
pub fn run_study(
    store: &mut dyn Store,
    study: &Study,
    sim: impl Into<Arc<RunnableSimulator>>,
    study_file: &str,
    opts: &RunOptions,
    cancel: Arc<AtomicBool>,
) -> Result<RunSummary, ExecError> {
    let name = study.spec.name.clone();
    let _lock = StudyLock::acquire(&opts.lock_dir, &name)?;
    let slots = slots(&opts.machine, &study.resources, opts.jobs)?;
    let sim: Arc<RunnableSimulator> = sim.into();
    let identity = sim.identity();
    let (planned, new) = plan_into_store(store, study, &identity, study_file)?;
    tracing::info!(study = %name, planned, new, slots = slots.len(), "plan stored");
    let orphans = store.requeue_running(&name)?;
    let interrupted = store.requeue_cancelled(&name)?;
    let retried = if opts.retry_failed {
        store.requeue_failed(&name)?
    } else {
        0
    };
    tracing::info!(orphans, interrupted, retried, "runs put back to pending");
    std::fs::create_dir_all(&opts.runs_root).map_err(|source| ExecError::Io {
        context: format!("creating {}", opts.runs_root.display()),
        source,
    })?;
    let recovered = recover_results(store, study, &opts.runs_root)?;
    tracing::info!(recovered, "results recovered from run directories");
    let counts = store.state_counts(&name)?;
    let todo = counts.get(&RunState::Pending).copied().unwrap_or(0);
    let mut summary = RunSummary {
        planned,
        new,
        already_done: counts
            .get(&RunState::Succeeded)
            .copied()
            .unwrap_or(0)
            .saturating_sub(recovered),
        recovered,
        slots: slots.len(),
        ..RunSummary::default()
    };
    let started = Instant::now();
    if todo > 0 {
        execute(store, study, sim, opts, &slots, todo, &cancel, &mut summary)?;
    }
    summary.wall = started.elapsed();
    summary.interrupted = cancel.load(Ordering::Relaxed);
    let counts = store.state_counts(&name)?;
    summary.remaining = counts.get(&RunState::Pending).copied().unwrap_or(0);
    summary.totals = counts.into_iter().collect();
    summary.top_reasons = store.failure_reasons(&name, 3)?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn execute(
    store: &mut dyn Store,
    study: &Study,
    sim: Arc<RunnableSimulator>,
    opts: &RunOptions,
    slots: &[Slot],
    todo: u64,
    cancel: &Arc<AtomicBool>,
    summary: &mut RunSummary,
) -> Result<(), ExecError> {
    let name = &study.spec.name;
    let host = hostname();
    let guardian = match &opts.guardian_exe {
        Some(exe) => {
            Some(
                crate::guardian::Guardian::start(exe).map_err(|source| ExecError::Io {
                    context: format!("starting the guardian process {}", exe.display()),
                    source,
                })?,
            )
        }
        None => None,
    };
    let guardian = guardian.as_ref();
    let (job_tx, job_rx) = mpsc::sync_channel::<PendingRun>(slots.len());
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (ev_tx, ev_rx) = mpsc::channel::<AttemptEvent>();
    let mut progress = Progress::new(opts.progress, todo);
    // Set when no new run may start (max_failures reached): queued jobs are handed back.
    let draining = AtomicBool::new(false);
    // Runs that failed for good in this invocation, counted by workers so that no
    // worker starts a run once `max_failures` is reached.
    let failures = std::sync::atomic::AtomicU64::new(0);
    let max_failures = study.resources.max_failures;
    std::thread::scope(|scope| -> Result<(), ExecError> {
        for slot in slots {
            let (job_rx, ev_tx, sim, cancel, host) = (
                job_rx.clone(),
                ev_tx.clone(),
                sim.clone(),
                cancel.clone(),
                host.clone(),
            );
            let gpus = slot.gpus.clone();
            let (runs_root, draining, failures) = (&opts.runs_root, &draining, &failures);
            scope.spawn(move || {
                let env = RunEnv {
                    study,
                    sim: &sim,
                    runs_root,
                    host: &host,
                    gpus: &gpus,
                    cancel: &cancel,
                    guardian,
                };
                let mut emit = |e: AttemptEvent| {
                    let _ = ev_tx.send(e);
                };
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job)
                            if draining.load(Ordering::Relaxed)
                                || max_failures
                                    .is_some_and(|m| failures.load(Ordering::SeqCst) >= m) =>
                        {
                            let _ = ev_tx
                                .send(AttemptEvent::Requeued(Update::Requeued { run_id: job.id }));
                        }
                        Ok(job) => {
                            if execute_run(&env, job, &mut emit) {
                                failures.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
        }
        drop(ev_tx);
        let mut job_tx = Some(job_tx);
        let mut page: VecDeque<PendingRun> = VecDeque::new();
        let mut cursor: Option<(u64, u32)> = None;
        let mut exhausted = false;
        let mut in_flight = 0u64;
        let mut updates: Vec<Update> = Vec::new();
        let mut last_flush = Instant::now();
        let mut final_failures = 0u64;
        loop {
            let stop = cancel.load(Ordering::Relaxed) || summary.stopped_early.is_some();
            if stop {
                job_tx = None;
            }
            if let Some(tx) = &job_tx {
                loop {
                    if page.is_empty() && !exhausted {
                        page = store.pending_page(name, cursor, PAGE)?.into();
                        exhausted = page.is_empty();
                    }
                    let Some(job) = page.pop_front() else { break };
                    let pos = (job.index, job.replicate);
                    match tx.try_send(job) {
                        Ok(()) => {
                            cursor = Some(pos);
                            in_flight += 1;
                        }
                        Err(TrySendError::Full(job)) => {
                            page.push_front(job);
                            break;
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                if exhausted && page.is_empty() {
                    job_tx = None;
                }
            }
            if job_tx.is_none() && in_flight == 0 {
                break;
            }
            let first = match ev_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            for ev in first.into_iter().chain(ev_rx.try_iter()) {
                match ev {
                    AttemptEvent::Started(u) => updates.push(u),
                    AttemptEvent::Requeued(u) => {
                        updates.push(u);
                        in_flight -= 1;
                    }
                    AttemptEvent::Finished {
                        update,
                        state,
                        retried,
                        done,
                    } => {
                        updates.push(update);
                        if retried {
                            summary.retried += 1;
                        }
                        if done {
                            in_flight -= 1;
                            match state {
                                RunState::Succeeded => summary.succeeded += 1,
                                RunState::Failed => summary.failed += 1,
                                RunState::TimedOut => summary.timed_out += 1,
                                _ => {}
                            }
                            if matches!(state, RunState::Failed | RunState::TimedOut) {
                                final_failures += 1;
                            }
                            if state != RunState::Pending {
                                summary.executed += 1;
                                progress.done(state);
                            }
                        }
                    }
                }
            }
            if let Some(max) = study.resources.max_failures
                && final_failures >= max
                && summary.stopped_early.is_none()
            {
                summary.stopped_early = Some(format!(
                    "max_failures ({max}) reached; no new runs were started"
                ));
                draining.store(true, Ordering::Relaxed);
            }
            if updates.len() >= FLUSH_BATCH || last_flush.elapsed() >= FLUSH_EVERY {
                tracing::trace!(updates = updates.len(), "committing a batch");
                store.apply(&coalesce(std::mem::take(&mut updates)))?;
                last_flush = Instant::now();
            }
            progress.tick();
        }
        drop(job_tx);
        store.apply(&coalesce(updates))?;
        Ok(())
    })?;
    progress.finish();
    Ok(())
}

/// Drops `Started` updates of runs whose attempt also finished in the same
/// batch: the finish overwrites every field the start sets, and skipping the
/// statement halves the store work for short runs.
fn coalesce(updates: Vec<Update>) -> Vec<Update> {
    let finished: HashSet<(String, u32)> = updates
        .iter()
        .filter_map(|u| match u {
            Update::Finished { record, .. } => Some((record.run_id.clone(), record.attempt)),
            _ => None,
        })
        .collect();
    if finished.is_empty() {
        return updates;
    }
    updates
        .into_iter()
        .filter(|u| match u {
            Update::Started {
                run_id, attempt, ..
            } => !finished.contains(&(run_id.clone(), *attempt)),
            _ => true,
        })
        .collect()
}
