//! The pilot-mode coordinator loop. One thread owns the store and the lease
//! table; it answers worker syncs as they arrive and, every poll interval,
//! expires silent leases, notices pilot jobs that left the queue (one `squeue`
//! call for the whole study) and submits more pilots while the backlog needs
//! them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use simforge_core::clock::now_rfc3339;
use simforge_core::study::{PilotSettings, SlurmBackend};
use simforge_core::{RunState, Study};
use simforge_store::{AttemptRecord, Store, Update};

use super::leases::{Leases, Lost, MAX_LOSSES};
use super::protocol::{Connection, PilotEvent, StudyRef, SyncReply, SyncRequest, new_token};
use super::server::PilotServer;
use crate::bundle::BundleRun;
use crate::runner::{ExecError, hostname};
use crate::slurm::{PilotScriptInput, pilot_script};
use crate::slurm_runner::{SlurmRunOptions, SlurmSummary, Submissions, slurm_cmd};

/// Manifest value that marks a submission as a pilot job in the store.
pub const PILOT_MANIFEST: &str = "pilot";
/// Runs fetched from the store at a time to feed workers.
const QUEUE_PAGE: u64 = 1000;

/// Everything the loop mutates, besides the store.
struct Coordinator<'a> {
    study: &'a Study,
    pilot: &'a PilotSettings,
    study_ref: StudyRef,
    leases: Leases,
    queue: VecDeque<BundleRun>,
    finishing: Option<Instant>,
    max_attempts: u32,
}

impl Coordinator<'_> {
    /// Answers one worker sync: records its progress, renews its leases and
    /// leases it more runs.
    fn sync(
        &mut self,
        store: &mut dyn Store,
        req: SyncRequest,
        stopping: bool,
        summary: &mut SlurmSummary,
    ) -> Result<SyncReply, ExecError> {
        let now = Instant::now();
        let w = req.worker.as_str();
        summary.pilot_syncs += 1;
        let mut updates = Vec::new();
        let mut handed_back = Vec::new();
        for event in req.events {
            match event {
                PilotEvent::Started {
                    run_id,
                    attempt,
                    started_at,
                    host,
                } if self.leases.holds(w, &run_id) => {
                    self.leases.started(&run_id, attempt);
                    updates.push(Update::Started {
                        run_id,
                        attempt,
                        started_at,
                        host,
                    });
                }
                PilotEvent::Finished { result } if self.leases.holds(w, &result.run_id) => {
                    let Some((record, run_state)) = result.into_attempt() else {
                        continue;
                    };
                    if matches!(
                        run_state,
                        RunState::Succeeded | RunState::Failed | RunState::TimedOut
                    ) {
                        self.leases.settle(&record.run_id);
                        updates.push(Update::Finished { record, run_state });
                    } else {
                        // Another attempt follows on the same worker (or it was
                        // interrupted and comes back in a later sync): the run
                        // stays leased, so it stays `running`.
                        self.leases.finished_attempt(&record.run_id);
                        updates.push(Update::Finished {
                            record,
                            run_state: RunState::Running,
                        });
                    }
                }
                PilotEvent::Requeued { run_id } if self.leases.holds(w, &run_id) => {
                    self.leases.settle_kept_losses(&run_id);
                    handed_back.push(run_id);
                }
                // Progress on a run the worker no longer holds: its lease lapsed
                // and the run was given to another worker. Ignored; the reply
                // revokes it.
                _ => {}
            }
        }
        store.apply(&updates)?;
        store.release_runs(&handed_back)?;
        let revoked = self.leases.renew(w, &req.held, now);
        if req.leaving {
            let back = self.leases.release_worker(w);
            store.release_runs(&back)?;
        }
        let mut runs: Vec<BundleRun> = Vec::new();
        if !req.leaving && !stopping && self.finishing.is_none() {
            let mut chosen = std::collections::HashSet::new();
            for _ in 0..req.want {
                if self.queue.is_empty() {
                    // Runs chosen above are still `pending` in the store until
                    // leased below: never hand one out twice.
                    let page = store.pending_page(&self.study.spec.name, None, QUEUE_PAGE)?;
                    self.queue.extend(
                        page.into_iter()
                            .filter(|r| !chosen.contains(&r.id))
                            .map(BundleRun::from),
                    );
                }
                match self.queue.pop_front() {
                    Some(r) => {
                        chosen.insert(r.id.clone());
                        runs.push(r);
                    }
                    None => break,
                }
            }
            let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
            store.lease_runs(&ids, &format!("pilot:{w}"))?;
            for r in &runs {
                self.leases.grant(w, &r.id, r.attempts, now);
            }
        }
        Ok(SyncReply {
            study: self.study_ref.clone(),
            runs,
            revoked,
            exit: self.finishing.is_some() || stopping,
            heartbeat_s: self.pilot.heartbeat.as_secs_f64(),
        })
    }

    /// Puts runs taken back from vanished workers back to pending; a run lost
    /// [`MAX_LOSSES`] times or more gets a failed attempt each further time.
    fn take_back(
        &mut self,
        store: &mut dyn Store,
        lost: Vec<Lost>,
        why: &str,
        summary: &mut SlurmSummary,
    ) -> Result<(), ExecError> {
        let mut back = Vec::new();
        let mut failed = Vec::new();
        for l in lost {
            summary.lost += 1;
            if l.losses < MAX_LOSSES {
                back.push(l.run_id);
                continue;
            }
            let attempt = if l.in_progress {
                l.attempts
            } else {
                l.attempts + 1
            }
            .max(1);
            let now = now_rfc3339();
            let reason = format!(
                "lost with its pilot {} times (last: worker {} {why}); the run may be what kills its pilot",
                l.losses, l.worker
            );
            failed.push(Update::Finished {
                record: AttemptRecord {
                    run_id: l.run_id,
                    attempt,
                    state: RunState::Failed,
                    started_at: now.clone(),
                    finished_at: now,
                    duration_s: 0.0,
                    exit_code: None,
                    signal: None,
                    reason: Some(reason),
                    host: l.worker,
                    max_rss_kb: None,
                    metrics: Default::default(),
                    spec_hash: self.study.spec_hash.clone(),
                },
                run_state: if attempt >= self.max_attempts {
                    RunState::Failed
                } else {
                    RunState::Pending
                },
            });
        }
        store.release_runs(&back)?;
        store.apply(&failed)?;
        Ok(())
    }
}

/// What the pilot loop needs of a pool: where pilots come from (SLURM jobs, a
/// Kubernetes Deployment) and how to tell that some are gone.
pub(crate) trait PilotPool {
    /// Where the coordinator file goes (the shared filesystem).
    fn connection_file(&self) -> PathBuf;
    /// Checks on the pilots, once per poll interval: how many are queued or
    /// running, and groups of workers known to be gone (worker-id prefix, why).
    fn poll(
        &mut self,
        store: &mut dyn Store,
        summary: &mut SlurmSummary,
    ) -> Result<PoolState, ExecError>;
    /// Makes `want` pilots available, given `current` queued or running.
    fn scale(
        &mut self,
        store: &mut dyn Store,
        want: u32,
        current: u64,
        summary: &mut SlurmSummary,
    ) -> Result<(), ExecError>;
    /// Other work of the study still running (job arrays of an earlier
    /// array-mode invocation): the study is not done until it ends.
    fn busy_elsewhere(&self) -> bool;
    /// Whether any pilot is still around.
    fn pilots_left(&self) -> bool;
    /// The study is done: remove pilots that are left (never started, idle).
    fn finish(&mut self, store: &mut dyn Store) -> Result<(), ExecError>;
}

/// One poll of a pilot pool.
#[derive(Debug, Default)]
pub(crate) struct PoolState {
    /// Pilots queued or running.
    pub pilots: u64,
    /// Workers known to be gone: (worker-id prefix, why).
    pub gone: Vec<(String, String)>,
}

/// Pilots as SLURM job arrays of `simforge worker` tasks.
pub(crate) struct SlurmPilots<'a> {
    /// The study.
    pub study: &'a Study,
    /// Its SLURM settings (pilot jobs use the same partition, account, ...).
    pub slurm: &'a SlurmBackend,
    /// Pilot settings.
    pub pilot: &'a PilotSettings,
    /// Where the store, run directories and simforge executable are.
    pub opts: &'a SlurmRunOptions,
    /// The study's jobs: pilots, and arrays of an earlier array-mode run.
    pub subs: &'a mut Submissions,
}

impl PilotPool for SlurmPilots<'_> {
    fn connection_file(&self) -> PathBuf {
        self.subs.base.join("pilot.json")
    }

    fn poll(
        &mut self,
        store: &mut dyn Store,
        summary: &mut SlurmSummary,
    ) -> Result<PoolState, ExecError> {
        let max_attempts = self.study.resources.retries + 1;
        let queued = self.subs.poll(summary)?;
        let mut state = PoolState::default();
        for job in self.subs.gone(&queued) {
            if self.subs.is_pilot(&job) {
                state
                    .gone
                    .push((format!("{job}_"), format!("ended (SLURM job {job})")));
                self.subs.close(store, &job, &|_| None, max_attempts)?;
            } else {
                self.subs
                    .close_array(store, self.study, self.opts, &job, max_attempts, summary)?;
            }
        }
        state.pilots = queued
            .iter()
            .filter(|(job, _)| self.subs.is_pilot(job))
            .map(|(_, n)| *n as u64)
            .sum();
        Ok(state)
    }

    fn scale(
        &mut self,
        store: &mut dyn Store,
        want: u32,
        current: u64,
        summary: &mut SlurmSummary,
    ) -> Result<(), ExecError> {
        if current >= u64::from(want) {
            return Ok(());
        }
        let count = (u64::from(want) - current) as u32;
        let connection = self.connection_file();
        let input = PilotScriptInput {
            study: &self.study.spec.name,
            slurm: self.slurm,
            pilot: self.pilot,
            exe: &self.opts.exe,
            connection: &connection,
            log_dir: &self.subs.log_dir.clone(),
        };
        let job = self
            .subs
            .submit(&pilot_script(&input, count), PILOT_MANIFEST, None, summary)?;
        store.record_submission(&self.study.spec.name, &job, PILOT_MANIFEST, 0, &[])?;
        self.subs.active.push(job.clone());
        self.subs.pilots.insert(job.clone());
        summary.pilots_submitted += u64::from(count);
        tracing::info!(job = %job, count, "submitted pilots");
        Ok(())
    }

    fn busy_elsewhere(&self) -> bool {
        self.subs.active.iter().any(|j| !self.subs.is_pilot(j))
    }

    fn pilots_left(&self) -> bool {
        self.subs.active.iter().any(|j| self.subs.is_pilot(j))
    }

    fn finish(&mut self, store: &mut dyn Store) -> Result<(), ExecError> {
        let pilots: Vec<String> = self
            .subs
            .active
            .iter()
            .filter(|j| self.subs.is_pilot(j))
            .cloned()
            .collect();
        if !pilots.is_empty() {
            let args: Vec<&str> = pilots.iter().map(String::as_str).collect();
            let _ = slurm_cmd("scancel", &args);
            for job in &pilots {
                self.subs.close(store, job, &|_| None, u32::MAX)?;
            }
        }
        Ok(())
    }
}

/// Runs the study's pending runs on pilot workers from `pool` until every run
/// is settled or `cancel` is set. `summary` collects the counts (SLURM's
/// summary type serves every pool; Kubernetes copies what it reports).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_pilots(
    store: &mut dyn Store,
    study: &Study,
    pilot: &PilotSettings,
    study_file: &Path,
    runs_root: &Path,
    poll: Duration,
    pool: &mut dyn PilotPool,
    cancel: &AtomicBool,
    summary: &mut SlurmSummary,
) -> Result<(), ExecError> {
    let name = study.spec.name.clone();
    let token = new_token()?;
    let (server, calls) = PilotServer::start(pilot.listen, token.clone())?;
    let url = pilot
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", hostname(), server.addr().port()));
    Connection {
        url: url.clone(),
        token,
    }
    .write(&pool.connection_file())?;
    tracing::info!(%url, "pilot endpoint listening");
    let ttl = pilot.heartbeat * 6;
    let mut c = Coordinator {
        study,
        pilot,
        study_ref: StudyRef {
            study_file: study_file.to_path_buf(),
            spec_hash: study.spec_hash.clone(),
            runs_root: runs_root.to_path_buf(),
        },
        leases: Leases::new(ttl),
        queue: VecDeque::new(),
        finishing: None,
        max_attempts: study.resources.retries + 1,
    };
    // Runs that pilots of an earlier coordinator still hold: give those pilots
    // time to find us (they re-read the coordinator file) before taking back.
    let grace = Instant::now() + ttl * 2;
    for (id, worker, attempts) in store.pilot_held(&name)? {
        c.leases.adopt(&worker, &id, attempts, grace);
    }
    summary.adopted_leases = c.leases.len() as u64;
    let mut next_tick = Instant::now();
    let mut drained_since: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        let wait = next_tick
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        match calls.recv_timeout(wait) {
            Ok(call) => {
                let reply = c.sync(store, call.request, false, summary)?;
                let _ = call.reply.send(reply);
                if Instant::now() < next_tick {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ExecError::Pilot("the pilot endpoint stopped".into()));
            }
        }
        if Instant::now() < next_tick {
            continue;
        }
        next_tick = Instant::now() + poll;

        // Silent workers lose their leases.
        let expired = c.leases.expire(Instant::now());
        if !expired.is_empty() {
            tracing::warn!(runs = expired.len(), "pilot leases expired");
            c.take_back(store, expired, "stopped checking in", summary)?;
        }
        // Pilots that are gone lose theirs at once.
        let state = pool.poll(store, summary)?;
        for (prefix, why) in &state.gone {
            let lost = c.leases.lose_workers(prefix);
            c.take_back(store, lost, why, summary)?;
        }
        // Scale the pilots with the backlog.
        let counts = store.state_counts(&name)?;
        let pending = counts.get(&RunState::Pending).copied().unwrap_or(0);
        let outstanding = pending + c.leases.len() as u64;
        if outstanding == 0 && !pool.busy_elsewhere() {
            // Done: tell the pilots (their next sync says exit), give them a
            // moment to leave, then remove what is left.
            let since = *drained_since.get_or_insert_with(Instant::now);
            c.finishing = Some(since);
            if !pool.pilots_left() || since.elapsed() > pilot.heartbeat * 2 + Duration::from_secs(2)
            {
                break;
            }
            continue;
        }
        drained_since = None;
        c.finishing = None;
        if pending > 0 {
            let per_pilot = u64::from(pilot.slots.max(1));
            let want = outstanding.div_ceil(per_pilot).min(u64::from(pilot.max)) as u32;
            pool.scale(store, want, state.pilots, summary)?;
        }
    }
    // Leaving: answer syncs that are waiting, then stop listening. When the
    // study is done, pilots that are left are removed; on interruption they
    // keep running and find the next coordinator.
    while let Ok(call) = calls.try_recv() {
        let reply = c.sync(store, call.request, true, summary)?;
        let _ = call.reply.send(reply);
    }
    if !summary.interrupted {
        pool.finish(store)?;
        store.release_pilot_held(&name)?;
    }
    drop(server);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::plan_into_store;

    fn setup(dir: &Path, runs: u32) -> (simforge_store::SqliteStore, Study, PilotSettings) {
        let text = format!(
            "name: pc\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\n\
             parameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\n\
             design: {{sampler: random, samples: {runs}}}\n\
             backend: {{slurm: {{mode: pilot}}}}\n"
        );
        let study = simforge_core::parse_study(&dir.join("study.yaml"), &text).unwrap();
        let mut store = simforge_store::SqliteStore::open(&dir.join("s.db")).unwrap();
        plan_into_store(&mut store, &study, "analytic", "study.yaml").unwrap();
        let Some(pilot) = (match &study.backend {
            simforge_core::study::Backend::Slurm(s) => s.pilot.clone(),
            _ => None,
        }) else {
            panic!("pilot mode expected")
        };
        (store, study, pilot)
    }

    fn request(worker: &str, want: u32, held: Vec<String>) -> SyncRequest {
        SyncRequest {
            worker: worker.into(),
            want,
            held,
            events: vec![],
            leaving: false,
        }
    }

    #[test]
    fn no_run_is_leased_twice_even_when_the_queue_refills_mid_request() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut store, study, pilot) = setup(tmp.path(), 12);
        let mut c = Coordinator {
            study: &study,
            pilot: &pilot,
            study_ref: StudyRef {
                study_file: "study.yaml".into(),
                spec_hash: study.spec_hash.clone(),
                runs_root: tmp.path().into(),
            },
            leases: Leases::new(Duration::from_secs(30)),
            queue: VecDeque::new(),
            finishing: None,
            max_attempts: 1,
        };
        let mut summary = SlurmSummary::default();
        let mut seen = std::collections::HashSet::new();
        // 5 + 5 leaves 2 queued; asking for 5 more refills mid-request.
        for (w, want) in [("a", 5), ("b", 5), ("a", 5)] {
            let reply = c
                .sync(&mut store, request(w, want, vec![]), false, &mut summary)
                .unwrap();
            for r in reply.runs {
                assert!(seen.insert(r.id.clone()), "run {} leased twice", r.id);
            }
        }
        assert_eq!(seen.len(), 12);
        assert_eq!(c.leases.len(), 12);
        let counts = store.state_counts("pc").unwrap();
        assert_eq!(counts.get(&RunState::Running), Some(&12));
        // Worker b leaves: its runs go back to pending and are leased again, once.
        let mut bye = request("b", 0, vec![]);
        bye.leaving = true;
        c.sync(&mut store, bye, false, &mut summary).unwrap();
        assert_eq!(
            store.state_counts("pc").unwrap().get(&RunState::Pending),
            Some(&5)
        );
        let reply = c
            .sync(&mut store, request("c", 20, vec![]), false, &mut summary)
            .unwrap();
        assert_eq!(reply.runs.len(), 5);
        // Worker a's heartbeat names a run it does not hold: it is revoked.
        let stolen = reply.runs[0].id.clone();
        let reply = c
            .sync(
                &mut store,
                request("a", 0, vec![stolen.clone()]),
                false,
                &mut summary,
            )
            .unwrap();
        assert_eq!(reply.revoked, vec![stolen]);
    }
}
