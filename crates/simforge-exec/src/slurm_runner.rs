//! `simforge run` on a SLURM cluster: submit pending runs as job arrays of
//! bundles, poll the queue (one `squeue` call per interval, whatever the number
//! of jobs), ingest each task's `result.json` files, and account for tasks that
//! ended without results. Submitted job ids live in the store, so a restarted
//! coordinator re-attaches to its jobs instead of submitting them again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use simforge_core::study::SlurmBackend;
use simforge_core::{RunState, Study};
use simforge_store::Store;

use crate::bundle::{BundleManifest, BundleRun};
use crate::runner::{ExecError, recover_results, start_cluster_run};
use crate::simulator::RunnableSimulator;
use crate::slurm::{
    DEFAULT_MAX_ARRAY_SIZE, ScriptInput, bundle_size, memory_levels, plan_arrays, sbatch_script,
};

/// How to run a study on SLURM.
#[derive(Debug, Clone)]
pub struct SlurmRunOptions {
    /// The store directory (absolute; shared with the compute nodes).
    pub store_dir: PathBuf,
    /// Directory of run directories (absolute, shared).
    pub runs_root: PathBuf,
    /// The simforge executable the tasks run (visible on the compute nodes).
    pub exe: PathBuf,
    /// Time between queue polls.
    pub poll: Duration,
    /// Re-run failed runs of earlier invocations.
    pub retry_failed: bool,
}

/// What one coordinator invocation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmSummary {
    /// Runs in the plan.
    pub planned: u64,
    /// Runs new to the store.
    pub new: u64,
    /// Job arrays submitted.
    pub submitted_jobs: u64,
    /// Jobs found already submitted by an earlier coordinator.
    pub reattached_jobs: u64,
    /// Results ingested from task result files.
    pub harvested: u64,
    /// Runs whose task or pilot ended without a result.
    pub lost: u64,
    /// `sbatch` calls made.
    pub sbatch_calls: u64,
    /// `squeue` calls made.
    pub squeue_calls: u64,
    /// `scontrol` (and `sacct`) calls made: one per finished job array.
    pub scontrol_calls: u64,
    /// Pilot workers submitted (pilot mode).
    pub pilots_submitted: u64,
    /// Worker syncs answered (pilot mode).
    pub pilot_syncs: u64,
    /// Runs held by pilots of an earlier coordinator, adopted on start.
    pub adopted_leases: u64,
    /// Runs per state after the invocation.
    pub totals: Vec<(RunState, u64)>,
    /// Most common failure reasons.
    pub top_reasons: Vec<(String, u64)>,
    /// Stopped by the user (jobs keep running; run again to re-attach).
    pub interrupted: bool,
    /// Wall time.
    pub wall: Duration,
}

/// Runs a SLURM client command and returns its standard output.
pub(crate) fn slurm_cmd(program: &str, args: &[&str]) -> Result<String, ExecError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| ExecError::Io {
            context: format!("running `{program}` (is SLURM installed and SLURM_CONF set?)"),
            source,
        })?;
    if !out.status.success() {
        return Err(ExecError::Bundle(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The study's jobs in SLURM: which are active (recorded in the store, not yet
/// seen leaving the queue), which of them are pilots, and where their scripts
/// and logs go.
pub(crate) struct Submissions {
    study: String,
    /// `.simforge/slurm/<study>`: manifests, scripts, the coordinator file.
    pub base: PathBuf,
    /// Task and pilot logs.
    pub log_dir: PathBuf,
    /// Active job ids (array parents).
    pub active: Vec<String>,
    /// Those that are pilot jobs.
    pub pilots: HashSet<String>,
    scripts: usize,
}

impl Submissions {
    fn load(store: &dyn Store, study: &str, base: PathBuf) -> Result<Self, ExecError> {
        let active = store.active_submissions(study)?;
        let pilots = active
            .iter()
            .filter(|j| {
                store
                    .submission(j)
                    .is_ok_and(|(m, _)| m == crate::pilot::coordinator::PILOT_MANIFEST)
            })
            .cloned()
            .collect();
        Ok(Submissions {
            study: study.to_string(),
            log_dir: base.join("logs"),
            base,
            active,
            pilots,
            scripts: 0,
        })
    }

    /// Whether `job` is a pilot job.
    pub fn is_pilot(&self, job: &str) -> bool {
        self.pilots.contains(job)
    }

    /// Tasks of this study's jobs in the queue, per job: one `squeue` call
    /// however many jobs and tasks there are.
    pub fn poll(&self, summary: &mut SlurmSummary) -> Result<HashMap<String, usize>, ExecError> {
        summary.squeue_calls += 1;
        let out = slurm_cmd(
            "squeue",
            &[
                "-h",
                "-r",
                "--name",
                &format!("simforge-{}", self.study),
                "-o",
                "%F",
            ],
        )?;
        let mut tasks = HashMap::new();
        for job in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
            *tasks.entry(job.to_string()).or_insert(0) += 1;
        }
        Ok(tasks)
    }

    /// Active jobs no longer in `queued`.
    pub fn gone(&self, queued: &HashMap<String, usize>) -> Vec<String> {
        self.active
            .iter()
            .filter(|j| !queued.contains_key(*j))
            .cloned()
            .collect()
    }

    /// Closes a job that left the queue (see `SqliteStore::close_submission`).
    pub fn close(
        &mut self,
        store: &mut dyn Store,
        job: &str,
        reason_for: &dyn Fn(&str) -> Option<String>,
        max_attempts: u32,
    ) -> Result<u64, ExecError> {
        self.active.retain(|j| j != job);
        Ok(store.close_submission(job, "done", reason_for, max_attempts)?)
    }

    /// Closes a job array that left the queue: ingests what its tasks wrote,
    /// then accounts for runs left without a result, with SLURM's reason.
    pub fn close_array(
        &mut self,
        store: &mut dyn Store,
        study: &Study,
        opts: &SlurmRunOptions,
        job: &str,
        max_attempts: u32,
        summary: &mut SlurmSummary,
    ) -> Result<(), ExecError> {
        summary.harvested += recover_results(store, study, &opts.runs_root)?;
        let reasons = lost_reasons(store, job, &self.log_dir, &mut summary.scontrol_calls);
        let reason_for = |id: &str| reasons.reason(id);
        summary.lost += self.close(store, job, &reason_for, max_attempts)?;
        Ok(())
    }

    /// Writes `script` beside the manifests and submits it; returns the job id.
    pub fn submit(
        &mut self,
        script: &str,
        tag: &str,
        comment: Option<&str>,
        summary: &mut SlurmSummary,
    ) -> Result<String, ExecError> {
        self.scripts += 1;
        let path = self.base.join(format!(
            "{tag}-{}-{}.sbatch",
            std::process::id(),
            self.scripts
        ));
        std::fs::write(&path, script).map_err(|source| ExecError::Io {
            context: format!("writing {}", path.display()),
            source,
        })?;
        summary.sbatch_calls += 1;
        let comment = comment.map(|c| format!("--comment={c}"));
        let mut args = vec!["--parsable"];
        args.extend(comment.as_deref());
        let script_path = path.display().to_string();
        args.push(&script_path);
        let out = slurm_cmd("sbatch", &args)?;
        let job = out.trim().split(';').next().unwrap_or("").to_string();
        if job.is_empty() {
            return Err(ExecError::Bundle(format!(
                "sbatch printed no job id for {}",
                path.display()
            )));
        }
        Ok(job)
    }
}

/// A token unique to one submission (process, time, counter), carried in the
/// job's comment.
fn submission_token() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Finds the jobs of submissions a killed coordinator made but never
/// recorded (their runs are still marked `submitting:`): a job in the queue
/// whose comment carries the submission's token is recorded and re-attached;
/// otherwise the runs go back to pending (results they left are harvested).
fn recover_unrecorded(
    store: &mut dyn Store,
    study: &str,
    subs: &mut Submissions,
    summary: &mut SlurmSummary,
) -> Result<(), ExecError> {
    let marked = store.submitting(study)?;
    if marked.is_empty() {
        return Ok(());
    }
    summary.squeue_calls += 1;
    let out = slurm_cmd(
        "squeue",
        &["-h", "--name", &format!("simforge-{study}"), "-o", "%F %k"],
    )?;
    let by_comment: HashMap<&str, &str> = out
        .lines()
        .filter_map(|l| {
            let (job, comment) = l.trim().split_once(' ')?;
            Some((comment.trim(), job))
        })
        .collect();
    for (marker, ids) in marked {
        let rest = marker.trim_start_matches("submitting:");
        let mut parts = rest.splitn(3, '|');
        let (token, first, manifest) = (parts.next(), parts.next(), parts.next());
        let job = token.and_then(|t| by_comment.get(format!("simforge:{t}").as_str()).copied());
        match (job, first.and_then(|f| f.parse::<usize>().ok()), manifest) {
            (Some(job), Some(first), Some(manifest)) => {
                tracing::info!(
                    job,
                    runs = ids.len(),
                    "found a job submitted but not recorded"
                );
                store.record_submission(study, job, manifest, first, &ids)?;
                subs.active.push(job.to_string());
                summary.reattached_jobs += 1;
            }
            _ => store.release_runs(&ids)?,
        }
    }
    Ok(())
}

/// Runs `study` on SLURM until every run is settled or the user stops.
pub fn run_on_slurm(
    store: &mut dyn Store,
    study: &Study,
    slurm: &SlurmBackend,
    sim: &RunnableSimulator,
    study_file: &std::path::Path,
    opts: &SlurmRunOptions,
    cancel: &AtomicBool,
) -> Result<SlurmSummary, ExecError> {
    let name = study.spec.name.clone();
    let started = Instant::now();
    let start = start_cluster_run(
        store,
        study,
        sim,
        study_file,
        &opts.store_dir,
        opts.retry_failed,
    )?;
    let abs_file = start.study_file.clone();
    let mut summary = SlurmSummary {
        planned: start.planned,
        new: start.new,
        ..Default::default()
    };
    let base = opts.store_dir.join("slurm").join(&name);
    let mut subs = Submissions::load(store, &name, base)?;
    for dir in [&subs.log_dir, &opts.runs_root] {
        std::fs::create_dir_all(dir).map_err(|source| ExecError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
    }
    summary.reattached_jobs = subs.active.len() as u64;
    recover_unrecorded(store, &name, &mut subs, &mut summary)?;
    summary.harvested += recover_results(store, study, &opts.runs_root)?;
    match &slurm.pilot {
        Some(pilot) => {
            let mut pool = crate::pilot::coordinator::SlurmPilots {
                study,
                slurm,
                pilot,
                opts,
                subs: &mut subs,
            };
            crate::pilot::coordinator::run_pilots(
                store,
                study,
                pilot,
                &abs_file,
                &opts.runs_root,
                opts.poll,
                &mut pool,
                cancel,
                &mut summary,
            )?
        }
        None => {
            // Pilots of an earlier pilot-mode invocation may hold runs; array
            // mode cannot adopt them, so they run again as arrays.
            store.release_pilot_held(&name)?;
            run_arrays(
                store,
                study,
                slurm,
                &abs_file,
                opts,
                &mut subs,
                cancel,
                &mut summary,
            )?
        }
    }
    summary.harvested += recover_results(store, study, &opts.runs_root)?;
    summary.wall = started.elapsed();
    summary.totals = store.state_counts(&name)?.into_iter().collect();
    summary.top_reasons = store.failure_reasons(&name, 3)?;
    Ok(summary)
}

/// Array mode: submit pending runs as job arrays of bundles, poll, ingest.
#[allow(clippy::too_many_arguments)]
fn run_arrays(
    store: &mut dyn Store,
    study: &Study,
    slurm: &SlurmBackend,
    abs_file: &std::path::Path,
    opts: &SlurmRunOptions,
    subs: &mut Submissions,
    cancel: &AtomicBool,
    summary: &mut SlurmSummary,
) -> Result<(), ExecError> {
    let name = study.spec.name.clone();
    let max_attempts = study.resources.retries + 1;
    let mut last_poll: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        // Ingest what tasks have written so far.
        summary.harvested += recover_results(store, study, &opts.runs_root)?;
        // Close submissions whose jobs have left the queue.
        if !subs.active.is_empty() {
            if let Some(t) = last_poll {
                let wait = opts.poll.saturating_sub(t.elapsed());
                sleep_unless(cancel, wait);
            }
            last_poll = Some(Instant::now());
            let queued = subs.poll(summary)?;
            for job in subs.gone(&queued) {
                if subs.is_pilot(&job) {
                    // A pilot job of an earlier pilot-mode invocation.
                    subs.close(store, &job, &|_| None, max_attempts)?;
                } else {
                    subs.close_array(store, study, opts, &job, max_attempts, summary)?;
                }
            }
        }
        // Submit what is pending.
        let runs = crate::bundle::pending_runs(store, &name)?;
        if !runs.is_empty() {
            // Runs lost to OUT_OF_MEMORY before go out with more memory, in
            // arrays of their own.
            let groups: Vec<(Option<u64>, Vec<BundleRun>)> = match (slurm.oom_retry, slurm.mem) {
                (Some((factor, max)), Some(mem)) => {
                    let ooms = store.oom_losses(&name, OOM_REASON)?;
                    memory_levels(runs, &ooms, mem, factor, max)
                        .into_iter()
                        .map(|(m, r)| (Some(m), r))
                        .collect()
                }
                _ => vec![(slurm.mem, runs)],
            };
            for (mem, runs) in groups {
                let level = SlurmBackend {
                    mem,
                    ..slurm.clone()
                };
                if mem != slurm.mem {
                    tracing::info!(
                        runs = runs.len(),
                        mem,
                        "retrying out-of-memory runs with more memory"
                    );
                }
                let bundle = bundle_size(&level, store.median_duration(&name)?);
                let max_array =
                    slurm.spec.max_array_size.unwrap_or(DEFAULT_MAX_ARRAY_SIZE) as usize;
                let (bundles, arrays) = plan_arrays(runs, bundle, max_array);
                let n = store.submission_count(&name)? as usize;
                let manifest_path = subs.base.join(format!(
                    "{}-{}-{}.json",
                    study.spec_hash,
                    std::process::id(),
                    n
                ));
                let manifest = BundleManifest {
                    study_file: abs_file.to_path_buf(),
                    spec_hash: study.spec_hash.clone(),
                    runs_root: opts.runs_root.clone(),
                    bundles,
                };
                manifest.write(&manifest_path)?;
                let log_dir = subs.log_dir.clone();
                let input = ScriptInput {
                    study: &name,
                    slurm: &level,
                    resources: &study.resources,
                    exe: &opts.exe,
                    manifest: &manifest_path,
                    log_dir: &log_dir,
                    bundle,
                };
                for tasks in &arrays {
                    let ids: Vec<String> = manifest.bundles[tasks.clone()]
                        .iter()
                        .flatten()
                        .map(|r| r.id.clone())
                        .collect();
                    let token = submission_token();
                    store.mark_submitting(
                        &ids,
                        &format!(
                            "submitting:{token}|{}|{}",
                            tasks.start,
                            manifest_path.display()
                        ),
                    )?;
                    let job = subs.submit(
                        &sbatch_script(&input, tasks),
                        "array",
                        Some(&format!("simforge:{token}")),
                        summary,
                    )?;
                    store.record_submission(
                        &name,
                        &job,
                        &manifest_path.display().to_string(),
                        tasks.start,
                        &ids,
                    )?;
                    tracing::info!(job = %job, runs = ids.len(), tasks = tasks.len(), "submitted a job array");
                    subs.active.push(job);
                    summary.submitted_jobs += 1;
                }
            }
            last_poll = Some(Instant::now());
        }
        if subs.active.is_empty() {
            break;
        }
    }
    Ok(())
}

/// How a run lost to OUT_OF_MEMORY is explained; `oom_retry` counts these.
const OOM_REASON: &str = "the SLURM task ran out of memory";

/// Why the runs of a finished job that left no result were lost, from the
/// states SLURM reports for its array tasks (`scontrol show job`).
struct LostReasons {
    job: String,
    log_dir: PathBuf,
    /// Array task (0-based within the job) of each run.
    task_of: HashMap<String, usize>,
    /// SLURM state of each array task, where known.
    states: HashMap<usize, String>,
}

impl LostReasons {
    /// `Some(reason)` for a failed attempt; `None` when the loss was not the
    /// run's fault (node failure, preemption), so no attempt counts.
    fn reason(&self, run_id: &str) -> Option<String> {
        let task = self.task_of.get(run_id).copied();
        let state = task.and_then(|t| self.states.get(&t)).map(String::as_str);
        let log = match task {
            Some(t) => format!("; log {}/{}_{t}.out", self.log_dir.display(), self.job),
            None => String::new(),
        };
        let what = match state {
            Some("NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" | "REQUEUED") => return None,
            Some("TIMEOUT") => "the SLURM task hit its time limit".to_string(),
            Some("OUT_OF_MEMORY") => OOM_REASON.to_string(),
            Some("CANCELLED") => "the SLURM task was cancelled".to_string(),
            Some("COMPLETED") => {
                "the SLURM task completed without a result for this run".to_string()
            }
            Some(other) => format!("the SLURM task ended in state {other}"),
            None => "the SLURM task ended without a result for this run".to_string(),
        };
        Some(format!("{what} (job {}{log})", self.job))
    }
}

fn lost_reasons(
    store: &dyn Store,
    job: &str,
    log_dir: &std::path::Path,
    calls: &mut u64,
) -> LostReasons {
    let task_of = crate::bundle::tasks_of_job(store, job);
    *calls += 1;
    let mut states = slurm_cmd("scontrol", &["show", "job", job, "-o"])
        .map(|out| crate::slurm::array_task_states(&out))
        .unwrap_or_default();
    if states.is_empty() {
        // scontrol forgets jobs after MinJobAge; accounting (where enabled)
        // remembers them. Without accounting sacct fails and states stay unknown.
        *calls += 1;
        states = slurm_cmd("sacct", &["-X", "-n", "-P", "-o", "JobID,State", "-j", job])
            .map(|out| crate::slurm::sacct_task_states(&out))
            .unwrap_or_default();
    }
    LostReasons {
        job: job.to_string(),
        log_dir: log_dir.to_path_buf(),
        task_of,
        states,
    }
}

fn sleep_unless(cancel: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
}

/// Cancels every job the store lists as active for `study` (`scancel`) and
/// closes them; their unfinished runs go back to pending. Returns the job ids.
pub fn cancel_jobs(store: &mut dyn Store, study: &str) -> Result<Vec<String>, ExecError> {
    // Jobs a killed coordinator submitted without recording them are found by
    // their comment and cancelled too.
    let mut subs = Submissions::load(store, study, PathBuf::new())?;
    recover_unrecorded(store, study, &mut subs, &mut SlurmSummary::default())?;
    let jobs = store.active_submissions(study)?;
    if !jobs.is_empty() {
        let args: Vec<&str> = jobs.iter().map(String::as_str).collect();
        slurm_cmd("scancel", &args)?;
    }
    for job in &jobs {
        // The user's decision, not the runs' fault: no attempt is counted.
        store.close_submission(job, "cancelled", &|_| None, u32::MAX)?;
    }
    store.release_pilot_held(study)?;
    Ok(jobs)
}
