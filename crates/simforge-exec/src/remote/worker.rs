//! `simforge worker --server URL --queue Q`: a long-lived worker that pulls
//! runs from a simforge server's per-simulator queues and executes them,
//! `slots` at a time, with the same attempt loop as the local pool.
//!
//! It never loses a run: every attempt is reported with its lease; on SIGTERM
//! it interrupts what it holds and hands it back; if it dies outright its
//! leases lapse and the server gives the runs to another worker. When the
//! server is unreachable (restarting) it keeps executing what it holds, keeps
//! the reports, and retries with back-off until `patience` runs out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use simforge_core::Study;
use simforge_store::Update;

use super::artifacts::ArtifactUploader;
use super::protocol::{
    AttemptLogs, Grant, LeaseEvent, STUDY_SOURCE_PATH, SYNC_PATH, StudySource, SyncReply,
    SyncRequest,
};
use crate::attempts::{AttemptEvent, RunEnv, execute_run};
use crate::rundir::{ResultFile, STDERR_FILE, STDOUT_FILE};
use crate::runner::{ExecError, hostname};
use crate::simulator::RunnableSimulator;

/// Longest pause between polls for work while idle.
const MAX_IDLE_POLL: Duration = Duration::from_secs(2);
/// Longest a finished attempt waits to be reported, so reports batch.
const REPORT_DELAY: Duration = Duration::from_millis(50);
/// Bytes of each output stream sent with a finished attempt.
const LOG_TAIL: u64 = 64 * 1024;

/// How a remote worker runs.
#[derive(Debug, Clone)]
pub struct RemoteWorkerOptions {
    /// Server base URL, e.g. `http://simforge.example:8080`.
    pub server: String,
    /// Token with the `worker` scope.
    pub token: String,
    /// Queues to serve.
    pub queues: Vec<String>,
    /// Worker name (unique per server).
    pub name: String,
    /// Runs executed at once.
    pub slots: u32,
    /// Directory for study sources and run directories.
    pub workdir: PathBuf,
    /// Exit after this long with nothing to do (None: never).
    pub idle_exit: Option<Duration>,
    /// How long to keep retrying a server that does not answer.
    pub patience: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteWorkerSummary {
    /// Runs it was granted.
    pub runs: u64,
    /// Exchanges with the server.
    pub syncs: u64,
    /// Why it stopped.
    pub stopped: String,
}

/// A study ready to execute.
struct Loaded {
    study: Study,
    sim: RunnableSimulator,
    runs_root: PathBuf,
}

enum SlotMsg {
    Event(LeaseEvent),
    Done(String),
}

struct Link {
    opts: RemoteWorkerOptions,
    agent: ureq::Agent,
    syncs: u64,
}

impl Link {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.opts.server.trim_end_matches('/'))
    }

    /// One exchange; `Err((fatal, message))`.
    fn try_sync(&mut self, req: &SyncRequest) -> Result<SyncReply, (bool, String)> {
        self.syncs += 1;
        let url = self.url(SYNC_PATH);
        let mut resp = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.opts.token))
            .send_json(req)
            .map_err(|e| (false, format!("{url}: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            // 401/403 will not fix themselves; 5xx and 429 may.
            let fatal = status.is_client_error() && status.as_u16() != 429;
            return Err((fatal, format!("{url}: {status}: {body}")));
        }
        resp.body_mut()
            .read_json::<SyncReply>()
            .map_err(|e| (true, format!("{url}: unreadable reply: {e}")))
    }

    fn sync(&mut self, req: &SyncRequest, patience: Duration) -> Result<SyncReply, ExecError> {
        crate::backoff::with_backoff(patience, "the server", |_| self.try_sync(req))
    }

    fn study_source(&mut self, key: &str) -> Result<StudySource, ExecError> {
        let url = self.url(&format!("{STUDY_SOURCE_PATH}/{}", encode_key(key)));
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.opts.token))
            .call()
            .map_err(|e| ExecError::Pilot(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(ExecError::Pilot(format!(
                "{url}: {}: {body}",
                resp.status()
            )));
        }
        resp.body_mut()
            .read_json::<StudySource>()
            .map_err(|e| ExecError::Pilot(format!("{url}: unreadable study: {e}")))
    }
}

/// A study key as one URL path segment.
pub fn encode_key(key: &str) -> String {
    key.replace('%', "%25").replace('/', "%2F")
}

/// A study key as one directory name.
fn dir_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes a study's source and files under `workdir` and builds its simulator.
fn load_study(workdir: &Path, src: &StudySource) -> Result<Loaded, ExecError> {
    let base = workdir
        .join("studies")
        .join(dir_name(&src.key))
        .join(&src.spec_hash);
    let io = |context: String| move |source| ExecError::Io { context, source };
    std::fs::create_dir_all(&base).map_err(io(format!("creating {}", base.display())))?;
    for (rel, text) in &src.files {
        let rel_path = Path::new(rel);
        if rel_path.is_absolute()
            || rel_path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ExecError::Pilot(format!(
                "study {}: file `{rel}` escapes the study directory",
                src.key
            )));
        }
        let path = base.join(rel_path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
    }
    let file = base.join(&src.source_name);
    std::fs::write(&file, &src.source).map_err(io(format!("writing {}", file.display())))?;
    let mut study = simforge_core::parse_study(&file, &src.source).map_err(|d| {
        ExecError::Pilot(format!(
            "study {} does not parse here:\n{}",
            src.key,
            d.render()
        ))
    })?;
    if study.spec_hash != src.spec_hash {
        return Err(ExecError::Pilot(format!(
            "study {} parses to spec {} here, not {} as on the server (different simforge versions?)",
            src.key, study.spec_hash, src.spec_hash
        )));
    }
    study.spec.name = src.key.clone();
    let sim = RunnableSimulator::new(&study).map_err(|d| {
        ExecError::Pilot(format!(
            "the simulator of {} cannot be built here:\n{}",
            src.key,
            d.render()
        ))
    })?;
    Ok(Loaded {
        runs_root: workdir.join("runs").join(dir_name(&src.key)),
        study,
        sim,
    })
}

fn lease_event(e: AttemptEvent, grant: &Grant, loaded: &Loaded) -> LeaseEvent {
    let lease = grant.lease.clone();
    match e {
        AttemptEvent::Started(Update::Started {
            run_id,
            attempt,
            started_at,
            host,
        }) => LeaseEvent::Started {
            lease,
            run_id,
            attempt,
            started_at,
            host,
        },
        AttemptEvent::Finished {
            update: Update::Finished { record, run_state },
            ..
        } => {
            let dir = crate::rundir::run_dir(&loaded.runs_root, &record.run_id);
            LeaseEvent::Finished {
                lease,
                logs: Some(AttemptLogs {
                    stdout: crate::rundir::log_tail(&dir.join(STDOUT_FILE), LOG_TAIL),
                    stderr: crate::rundir::log_tail(&dir.join(STDERR_FILE), LOG_TAIL),
                }),
                result: Box::new(ResultFile::from_attempt(
                    &record,
                    run_state,
                    &loaded.study.spec.name,
                    &grant.run.params,
                    grant.run.seed,
                )),
            }
        }
        _ => LeaseEvent::Requeued {
            lease,
            run_id: grant.run.id.clone(),
        },
    }
}

/// Runs a worker until `cancel` is set (SIGTERM/SIGINT), it idles for
/// `idle_exit`, or the server stays unreachable for `patience`.
pub fn run_remote_worker(
    opts: &RemoteWorkerOptions,
    cancel: &AtomicBool,
) -> Result<RemoteWorkerSummary, ExecError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut link = Link {
        opts: opts.clone(),
        agent,
        syncs: 0,
    };
    let host = hostname();
    let slots = opts.slots.max(1) as usize;
    let mut studies: HashMap<String, Arc<Loaded>> = HashMap::new();
    let (work_tx, work_rx) = mpsc::channel::<(Grant, Arc<Loaded>, Arc<AtomicBool>)>();
    let work_rx = Mutex::new(work_rx);
    let (msg_tx, msg_rx) = mpsc::channel::<SlotMsg>();
    let mut summary = RemoteWorkerSummary::default();
    let base = SyncRequest {
        worker: opts.name.clone(),
        host: host.clone(),
        queues: opts.queues.clone(),
        slots: opts.slots.max(1),
        version: env!("CARGO_PKG_VERSION").to_string(),
        want: 0,
        held: vec![],
        events: vec![],
        leaving: false,
    };

    std::thread::scope(|scope| -> Result<(), ExecError> {
        let uploader = ArtifactUploader::new(&opts.server, &opts.token);
        for _ in 0..slots {
            let msg_tx = msg_tx.clone();
            let (work_rx, host, uploader) = (&work_rx, &host, uploader.clone());
            scope.spawn(move || {
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((grant, loaded, stop)) = next else {
                        return;
                    };
                    let env = RunEnv {
                        study: &loaded.study,
                        sim: &loaded.sim,
                        runs_root: &loaded.runs_root,
                        host,
                        gpus: &[],
                        cancel: &stop,
                        guardian: None,
                    };
                    let pending = simforge_store::PendingRun {
                        id: grant.run.id.clone(),
                        index: grant.run.index,
                        replicate: grant.run.replicate,
                        seed: grant.run.seed,
                        params: grant.run.params.clone(),
                        attempts: grant.run.attempts,
                    };
                    execute_run(&env, pending, &mut |e| {
                        // The attempt's files go up while its lease is held,
                        // before the attempt is reported.
                        if let AttemptEvent::Finished {
                            update: Update::Finished { record, .. },
                            ..
                        } = &e
                        {
                            let dir = crate::rundir::run_dir(&loaded.runs_root, &record.run_id);
                            uploader.upload_dir(&grant.lease, record.attempt, &dir);
                        }
                        let _ = msg_tx.send(SlotMsg::Event(lease_event(e, &grant, &loaded)));
                    });
                    let _ = msg_tx.send(SlotMsg::Done(grant.lease.clone()));
                }
            });
        }
        drop(msg_tx);

        let heartbeat_default = Duration::from_secs(5);
        let mut heartbeat = heartbeat_default;
        let mut held: HashMap<String, Arc<AtomicBool>> = HashMap::new();
        let mut events: Vec<LeaseEvent> = Vec::new();
        let mut events_since: Option<Instant> = None;
        let mut last_sync = Instant::now() - heartbeat;
        let mut next_poll = Instant::now();
        let mut idle_poll = Duration::from_millis(20);
        let mut idle_since = Instant::now();
        let mut leaving = false;
        let mut finished = 0u64;
        let mut busy = Duration::ZERO;
        loop {
            let now = Instant::now();
            let due = (last_sync + heartbeat / 2).min(next_poll);
            let wait = due
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            let mut absorb = |m: SlotMsg, held: &mut HashMap<String, Arc<AtomicBool>>| match m {
                SlotMsg::Event(e) => {
                    if let LeaseEvent::Finished { result, .. } = &e {
                        finished += 1;
                        busy += Duration::from_secs_f64(result.duration_s.max(0.0));
                    }
                    events_since.get_or_insert_with(Instant::now);
                    events.push(e);
                }
                SlotMsg::Done(lease) => {
                    held.remove(&lease);
                }
            };
            if let Ok(m) = msg_rx.recv_timeout(wait) {
                absorb(m, &mut held);
            }
            while let Ok(m) = msg_rx.try_recv() {
                absorb(m, &mut held);
            }
            let now = Instant::now();
            if cancel.load(Ordering::Relaxed) && !leaving {
                summary.stopped = "stopped by a signal".into();
                leaving = true;
            }
            if !held.is_empty() {
                idle_since = now;
            } else if let Some(limit) = opts.idle_exit
                && !leaving
                && now.duration_since(idle_since) >= limit
            {
                summary.stopped = format!("idle for {limit:?}");
                leaving = true;
            }
            if leaving {
                for stop in held.values() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            let done = leaving && held.is_empty();
            // Keep `slots` runs executing and `depth` more waiting, so a slot
            // never idles on the network; short runs get a deeper queue so
            // exchanges stay rarer than runs.
            let depth = if finished > 0 && busy.as_secs_f64() / (finished as f64) < 0.05 {
                16 * slots
            } else {
                slots
            };
            let want = if leaving {
                0
            } else {
                (slots + depth).saturating_sub(held.len()) as u32
            };
            let hungry = want > 0 && held.len() <= slots && now >= next_poll;
            let report = events_since.is_some_and(|t| now.duration_since(t) >= REPORT_DELAY);
            if !(done || hungry || report || now.duration_since(last_sync) >= heartbeat / 2) {
                continue;
            }
            let req = SyncRequest {
                want,
                held: held.keys().cloned().collect(),
                events: std::mem::take(&mut events),
                leaving: done,
                ..base.clone()
            };
            events_since = None;
            let patience = if done {
                Duration::from_secs(10).min(opts.patience)
            } else {
                opts.patience
            };
            let reply = match link.sync(&req, patience) {
                Ok(r) => r,
                Err(e) => {
                    // Nobody to report to: stop what we hold (its result.json
                    // files stay in the work directory) and exit.
                    for stop in held.values() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    drop(work_tx);
                    summary.stopped = e.to_string();
                    summary.syncs = link.syncs;
                    return Err(e);
                }
            };
            last_sync = Instant::now();
            heartbeat = Duration::from_secs_f64(reply.heartbeat_s.clamp(0.2, 600.0));
            if done {
                break;
            }
            for lease in &reply.revoked {
                if let Some(stop) = held.get(lease) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            if reply.grants.is_empty() && want > 0 {
                next_poll = last_sync + idle_poll;
                idle_poll = (idle_poll * 2).min(MAX_IDLE_POLL);
            } else {
                idle_poll = Duration::from_millis(20);
                next_poll = last_sync;
            }
            for grant in reply.grants {
                if held.contains_key(&grant.lease) {
                    continue;
                }
                let loaded = match studies.get(&grant.study) {
                    Some(l) if l.study.spec_hash == grant.spec_hash => l.clone(),
                    _ => match link
                        .study_source(&grant.study)
                        .and_then(|src| load_study(&opts.workdir, &src))
                    {
                        Ok(l) => {
                            let l = Arc::new(l);
                            studies.insert(grant.study.clone(), l.clone());
                            l
                        }
                        Err(e) => {
                            tracing::error!(study = %grant.study, "{e}");
                            events.push(LeaseEvent::Requeued {
                                lease: grant.lease.clone(),
                                run_id: grant.run.id.clone(),
                            });
                            events_since.get_or_insert_with(Instant::now);
                            continue;
                        }
                    },
                };
                let stop = Arc::new(AtomicBool::new(false));
                held.insert(grant.lease.clone(), stop.clone());
                summary.runs += 1;
                if work_tx.send((grant, loaded, stop)).is_err() {
                    return Err(ExecError::Pilot("the worker's slots stopped".into()));
                }
            }
        }
        drop(work_tx);
        Ok(())
    })?;
    summary.syncs = link.syncs;
    Ok(summary)
}
