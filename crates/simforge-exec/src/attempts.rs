//! Every attempt of one run: prepare the run directory, run the simulator,
//! write `result.json`, retry with back-off. Shared by the local slot pool and
//! by bundle execution (a cluster task running a list of runs).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use simforge_core::clock::now_rfc3339;
use simforge_core::{RunState, Study};
use simforge_store::{AttemptRecord, PendingRun, Update};

use crate::rundir::{self, ResultFile};
use crate::simulator::{AttemptContext, RunSpec, RunnableSimulator};

/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What attempts of a run need from their surroundings.
pub struct RunEnv<'a> {
    /// The study.
    pub study: &'a Study,
    /// Its simulator.
    pub sim: &'a RunnableSimulator,
    /// Directory holding run directories.
    pub runs_root: &'a Path,
    /// This host's name, for provenance.
    pub host: &'a str,
    /// GPUs of the slot.
    pub gpus: &'a [u32],
    /// Set when the user asked to stop.
    pub cancel: &'a AtomicBool,
    /// Kills orphaned process groups if the runner dies.
    pub guardian: Option<&'a crate::guardian::Guardian>,
}

/// Progress of a run, for whoever records it.
#[derive(Debug)]
pub enum AttemptEvent {
    /// An attempt started.
    Started(Update),
    /// An attempt finished; `state` is the run's next state, `done` whether no
    /// attempt follows, `retried` whether one does.
    Finished {
        /// The store update.
        update: Update,
        /// The run's next state.
        state: RunState,
        /// A retry follows.
        retried: bool,
        /// The run is settled for this invocation.
        done: bool,
    },
    /// The run was handed back unstarted (cancellation).
    Requeued(Update),
}

/// Runs every attempt of `job` (up to the study's retries), reporting through
/// `emit`. Returns whether the run failed for good.
pub fn execute_run(env: &RunEnv<'_>, job: PendingRun, emit: &mut dyn FnMut(AttemptEvent)) -> bool {
    let res = &env.study.resources;
    let dir = rundir::run_dir(env.runs_root, &job.id);
    let spec = RunSpec {
        id: job.id.clone(),
        index: job.index,
        replicate: job.replicate,
        seed: job.seed,
        params: job.params,
    };
    let mut backoff = res.backoff;
    for k in 0..=res.retries {
        if env.cancel.load(Ordering::Relaxed) {
            emit(AttemptEvent::Requeued(Update::Requeued {
                run_id: spec.id.clone(),
            }));
            return false;
        }
        let attempt = job.attempts + k + 1;
        let started_at = now_rfc3339();
        let t0 = Instant::now();
        emit(AttemptEvent::Started(Update::Started {
            run_id: spec.id.clone(),
            attempt,
            started_at: started_at.clone(),
            host: env.host.to_string(),
        }));
        let outcome = match rundir::prepare(&dir, attempt) {
            Ok(()) => {
                let ctx = AttemptContext {
                    study: env.study,
                    dir: &dir,
                    attempt,
                    gpus: env.gpus,
                    cancel: env.cancel,
                    guardian: env.guardian,
                };
                env.sim.attempt(&spec, &ctx)
            }
            Err(e) => crate::simulator::AttemptOutcome {
                state: RunState::Failed,
                reason: Some(format!(
                    "cannot prepare run directory {}: {e}",
                    dir.display()
                )),
                metrics: Default::default(),
                exit_code: None,
                signal: None,
                max_rss_kb: None,
            },
        };
        tracing::debug!(run = %spec.id, attempt, state = %outcome.state, reason = ?outcome.reason, "attempt finished");
        let finished_at = now_rfc3339();
        let duration_s = t0.elapsed().as_secs_f64();
        let last = k == res.retries;
        let mut next = match outcome.state {
            RunState::Succeeded => RunState::Succeeded,
            RunState::Cancelled => RunState::Pending,
            s if last => s,
            _ => RunState::Pending,
        };
        let mut record = AttemptRecord {
            run_id: spec.id.clone(),
            attempt,
            state: outcome.state,
            started_at,
            finished_at,
            duration_s,
            exit_code: outcome.exit_code,
            signal: outcome.signal,
            reason: outcome.reason.clone(),
            host: env.host.to_string(),
            max_rss_kb: outcome.max_rss_kb,
            metrics: outcome.metrics.clone(),
            spec_hash: env.study.spec_hash.clone(),
        };
        let file =
            ResultFile::from_attempt(&record, next, &env.study.spec.name, &spec.params, spec.seed);
        if dir.is_dir()
            && let Err(e) = rundir::write_result(&dir, &file)
        {
            record.state = RunState::Failed;
            record.reason = Some(format!("cannot write result.json: {e}"));
            next = if last {
                RunState::Failed
            } else {
                RunState::Pending
            };
        }
        let cancelled = outcome.state == RunState::Cancelled;
        let done = next != RunState::Pending || cancelled;
        emit(AttemptEvent::Finished {
            update: Update::Finished {
                record,
                run_state: next,
            },
            state: next,
            retried: !done,
            done,
        });
        if done {
            return matches!(next, RunState::Failed | RunState::TimedOut);
        }
        // Back off before the next attempt, waking early on cancellation.
        let until = Instant::now() + backoff;
        while Instant::now() < until && !env.cancel.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(backoff));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    false
}
