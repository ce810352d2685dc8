//! Bundles: lists of runs that one cluster task executes, described by a
//! manifest file. A task runs its bundle with the same attempt loop as the local
//! pool and writes each run's `result.json`; it never touches the store. The
//! coordinator later ingests those files (see `runner::recover_results`), so it
//! stays the only writer of the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};
use simforge_core::RunState;
use simforge_store::{PendingRun, Store, StoreError};

use crate::attempts::{AttemptEvent, RunEnv, execute_run};
use crate::runner::{ExecError, hostname};
use crate::simulator::RunnableSimulator;

/// One run in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleRun {
    /// Run id.
    pub id: String,
    /// Design index.
    pub index: u64,
    /// Replicate.
    pub replicate: u32,
    /// Seed.
    pub seed: u64,
    /// Parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Attempts made before this submission.
    pub attempts: u32,
}

impl From<PendingRun> for BundleRun {
    fn from(p: PendingRun) -> Self {
        BundleRun {
            id: p.id,
            index: p.index,
            replicate: p.replicate,
            seed: p.seed,
            params: p.params,
            attempts: p.attempts,
        }
    }
}

impl From<BundleRun> for PendingRun {
    fn from(b: BundleRun) -> Self {
        PendingRun {
            id: b.id,
            index: b.index,
            replicate: b.replicate,
            seed: b.seed,
            params: b.params,
            attempts: b.attempts,
        }
    }
}

/// What the tasks of one submission execute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// The study file (absolute).
    pub study_file: PathBuf,
    /// Spec hash at submission; a task refuses to run a study that changed since.
    pub spec_hash: String,
    /// Directory holding the run directories (absolute, shared with the coordinator).
    pub runs_root: PathBuf,
    /// Bundles by task index.
    pub bundles: Vec<Vec<BundleRun>>,
}

impl BundleManifest {
    /// Reads a manifest.
    pub fn read(path: &Path) -> Result<Self, ExecError> {
        let text = std::fs::read(path).map_err(|source| ExecError::Io {
            context: format!("reading bundle manifest {}", path.display()),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| {
            ExecError::Bundle(format!("{} is not a bundle manifest: {e}", path.display()))
        })
    }

    /// Writes the manifest atomically (write, then rename).
    pub fn write(&self, path: &Path) -> Result<(), ExecError> {
        let io = |source| ExecError::Io {
            context: format!("writing bundle manifest {}", path.display()),
            source,
        };
        let tmp = path.with_extension("partial");
        let text = serde_json::to_vec(self).map_err(|e| ExecError::Bundle(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Every pending run of the study's current plan, in design order.
pub fn pending_runs(store: &dyn Store, study: &str) -> Result<Vec<BundleRun>, StoreError> {
    let mut runs = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.pending_page(study, cursor, 10_000)?;
        let Some(last) = page.last() else { break };
        cursor = Some((last.index, last.replicate));
        runs.extend(page.into_iter().map(BundleRun::from));
    }
    Ok(runs)
}

/// The task (array task or completion index, from 0 within the job) that
/// runs each run of submission `job`, from its recorded manifest; empty when
/// the manifest is gone.
pub fn tasks_of_job(store: &dyn Store, job: &str) -> HashMap<String, usize> {
    let mut task_of = HashMap::new();
    if let Ok((manifest, first)) = store.submission(job)
        && let Ok(m) = BundleManifest::read(Path::new(&manifest))
    {
        for (t, bundle) in m.bundles.iter().enumerate().skip(first) {
            for r in bundle {
                task_of.insert(r.id.clone(), t - first);
            }
        }
    }
    task_of
}

/// Counts of how the runs of one bundle settled in this task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BundleOutcome {
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed for good.
    pub failed: u64,
    /// Runs whose last attempt timed out.
    pub timed_out: u64,
    /// Runs not finished (cancelled, or handed back unstarted).
    pub unfinished: u64,
}

/// Executes bundle `task` of `manifest`, one run after another.
pub fn run_bundle(
    manifest: &BundleManifest,
    task: usize,
    cancel: &AtomicBool,
) -> Result<BundleOutcome, ExecError> {
    let bundle = manifest.bundles.get(task).ok_or_else(|| {
        ExecError::Bundle(format!(
            "task {task} is out of range: the manifest has {} bundles",
            manifest.bundles.len()
        ))
    })?;
    let study = simforge_core::load_study(&manifest.study_file)
        .map_err(|d| ExecError::Bundle(format!("the study no longer loads:\n{}", d.render())))?;
    if study.spec_hash != manifest.spec_hash {
        return Err(ExecError::Bundle(format!(
            "{} changed since these runs were submitted (spec {} ≠ {}); resubmit from the coordinator",
            manifest.study_file.display(),
            study.spec_hash,
            manifest.spec_hash
        )));
    }
    let sim = RunnableSimulator::new(&study).map_err(|d| {
        ExecError::Bundle(format!(
            "the simulator cannot be built here:\n{}",
            d.render()
        ))
    })?;
    let host = hostname();
    let env = RunEnv {
        study: &study,
        sim: &sim,
        runs_root: &manifest.runs_root,
        host: &host,
        gpus: &[],
        cancel,
        guardian: None,
    };
    let mut outcome = BundleOutcome::default();
    for run in bundle {
        let mut settled = None;
        execute_run(&env, run.clone().into(), &mut |e| {
            if let AttemptEvent::Finished {
                state, done: true, ..
            } = e
            {
                settled = Some(state);
            }
        });
        match settled {
            Some(RunState::Succeeded) => outcome.succeeded += 1,
            Some(RunState::Failed) => outcome.failed += 1,
            Some(RunState::TimedOut) => outcome.timed_out += 1,
            _ => outcome.unfinished += 1,
        }
    }
    Ok(outcome)
}
