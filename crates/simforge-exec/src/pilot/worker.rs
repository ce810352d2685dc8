//! `simforge worker`: a pilot that pulls runs from its coordinator and executes
//! them with the same attempt loop as the local pool, `slots` at a time. It
//! writes each run's `result.json` like any executor and reports every attempt
//! over HTTP; the coordinator stays the only writer of the store.
//!
//! A worker never loses a run: when it must stop (SIGTERM at the end of its
//! SLURM wall time, scancel, idle) it interrupts what it holds and hands it back
//! in its last sync; if it dies outright its leases lapse. It stops taking runs
//! that would not finish before its wall time, and it survives a coordinator
//! restart by re-reading the coordinator file and retrying for `patience`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simforge_store::Update;

use super::protocol::{Connection, PilotEvent, SYNC_PATH, SyncReply, SyncRequest};
use crate::attempts::{AttemptEvent, RunEnv, execute_run};
use crate::bundle::BundleRun;
use crate::rundir::ResultFile;
use crate::runner::{ExecError, hostname};
use crate::simulator::RunnableSimulator;

/// Longest pause between polls for work while idle.
const MAX_IDLE_POLL: Duration = Duration::from_secs(2);
/// Longest a finished attempt waits to be reported, so reports batch.
const REPORT_DELAY: Duration = Duration::from_millis(50);
/// Margin kept before the wall time when deciding whether a run still fits.
const WALL_MARGIN: Duration = Duration::from_secs(30);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The coordinator file (URL and token).
    pub connection: PathBuf,
    /// This worker's id (`<job>_<task>` under SLURM).
    pub id: String,
    /// Runs executed at once.
    pub slots: u32,
    /// Exit after this long with nothing to do.
    pub idle_exit: Duration,
    /// The pilot's wall time, if limited: runs that would not finish in it are
    /// left to other pilots.
    pub wall: Option<Duration>,
    /// How long to keep retrying a coordinator that does not answer.
    pub patience: Duration,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerSummary {
    /// Runs it took.
    pub runs: u64,
    /// Syncs with the coordinator.
    pub syncs: u64,
    /// Why it stopped.
    pub stopped: String,
}

/// Messages from slot threads to the worker's main loop.
enum SlotMsg {
    Event(PilotEvent),
    Done(String),
}

/// The worker's HTTP link to its coordinator.
struct Link {
    path: PathBuf,
    conn: Connection,
    agent: ureq::Agent,
    syncs: u64,
}

impl Link {
    fn open(path: PathBuf) -> Result<Self, ExecError> {
        let conn = Connection::read(&path)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Link {
            path,
            conn,
            agent,
            syncs: 0,
        })
    }

    fn try_sync(&mut self, req: &SyncRequest) -> Result<SyncReply, (bool, String)> {
        self.syncs += 1;
        let url = format!("{}{SYNC_PATH}", self.conn.url.trim_end_matches('/'));
        let mut resp = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.conn.token))
            .send_json(req)
            .map_err(|e| (false, format!("{url}: {e}")))?;
        let status = resp.status();
        if status == 401 {
            // Maybe a restarted coordinator with a new token: retryable once the
            // file changes.
            return Err((false, format!("{url}: the coordinator refused the token")));
        }
        if !status.is_success() {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err((status.is_client_error(), format!("{url}: {status}: {body}")));
        }
        resp.body_mut()
            .read_json::<SyncReply>()
            .map_err(|e| (true, format!("{url}: unreadable reply: {e}")))
    }

    /// One exchange, retried with back-off until `patience` runs out. Between
    /// tries the coordinator file is read again: a restarted coordinator
    /// rewrites it with its new address and token.
    fn sync(&mut self, req: &SyncRequest, patience: Duration) -> Result<SyncReply, ExecError> {
        crate::backoff::with_backoff(patience, "the coordinator", |retry| {
            if retry
                && let Ok(c) = Connection::read(&self.path)
                && c != self.conn
            {
                tracing::info!(url = %c.url, "the coordinator moved");
                self.conn = c;
            }
            self.try_sync(req)
        })
    }
}

fn pilot_event(e: AttemptEvent, run: &BundleRun, study: &str) -> PilotEvent {
    match e {
        AttemptEvent::Started(Update::Started {
            run_id,
            attempt,
            started_at,
            host,
        }) => PilotEvent::Started {
            run_id,
            attempt,
            started_at,
            host,
        },
        AttemptEvent::Finished {
            update: Update::Finished { record, run_state },
            ..
        } => PilotEvent::Finished {
            result: Box::new(ResultFile::from_attempt(
                &record,
                run_state,
                study,
                &run.params,
                run.seed,
            )),
        },
        AttemptEvent::Started(u)
        | AttemptEvent::Finished { update: u, .. }
        | AttemptEvent::Requeued(u) => {
            let run_id = match u {
                Update::Started { run_id, .. } | Update::Requeued { run_id } => run_id,
                Update::Finished { record, .. } => record.run_id,
            };
            PilotEvent::Requeued { run_id }
        }
    }
}

/// Runs a worker until its coordinator says there is nothing left, it idles
/// for `idle_exit`, or `cancel` is set (SIGTERM).
pub fn run_worker(opts: &WorkerOptions, cancel: &AtomicBool) -> Result<WorkerSummary, ExecError> {
    let started = Instant::now();
    let mut link = Link::open(opts.connection.clone())?;
    let hello = SyncRequest {
        worker: opts.id.clone(),
        want: 0,
        held: vec![],
        events: vec![],
        leaving: false,
    };
    let first = link.sync(&hello, opts.patience)?;
    let leave_now = |link: &mut Link, why: String| -> Result<WorkerSummary, ExecError> {
        let mut bye = hello.clone();
        bye.leaving = true;
        let _ = link.sync(&bye, Duration::from_secs(10));
        Err(ExecError::Pilot(why))
    };
    let study = match simforge_core::load_study(&first.study.study_file) {
        Ok(s) => s,
        Err(d) => {
            return leave_now(
                &mut link,
                format!("the study no longer loads:\n{}", d.render()),
            );
        }
    };
    if study.spec_hash != first.study.spec_hash {
        return leave_now(
            &mut link,
            format!(
                "{} changed since the coordinator started (spec {} ≠ {}); restart the coordinator",
                first.study.study_file.display(),
                study.spec_hash,
                first.study.spec_hash
            ),
        );
    }
    let sim = match RunnableSimulator::new(&study) {
        Ok(s) => s,
        Err(d) => {
            return leave_now(
                &mut link,
                format!("the simulator cannot be built here:\n{}", d.render()),
            );
        }
    };
    let host = hostname();
    let runs_root = first.study.runs_root.clone();
    let heartbeat = Duration::from_secs_f64(first.heartbeat_s.max(0.1));
    let slots = opts.slots.max(1) as usize;
    let per_run = study.resources.time.unwrap_or_default() * (study.resources.retries + 1);
    let fits = |now: Instant| {
        opts.wall
            .is_none_or(|w| now.duration_since(started) + per_run + WALL_MARGIN <= w)
    };

    let (work_tx, work_rx) = mpsc::channel::<(BundleRun, Arc<AtomicBool>)>();
    let work_rx = Mutex::new(work_rx);
    let (msg_tx, msg_rx) = mpsc::channel::<SlotMsg>();
    let mut summary = WorkerSummary::default();

    std::thread::scope(|scope| -> Result<(), ExecError> {
        for _ in 0..slots {
            let msg_tx = msg_tx.clone();
            let (work_rx, study, sim, host, runs_root) =
                (&work_rx, &study, &sim, &host, &runs_root);
            scope.spawn(move || {
                loop {
                    let next = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((run, stop)) = next else { return };
                    let env = RunEnv {
                        study,
                        sim,
                        runs_root,
                        host,
                        gpus: &[],
                        cancel: &stop,
                        guardian: None,
                    };
                    execute_run(&env, run.clone().into(), &mut |e| {
                        let _ = msg_tx.send(SlotMsg::Event(pilot_event(e, &run, &study.spec.name)));
                    });
                    let _ = msg_tx.send(SlotMsg::Done(run.id.clone()));
                }
            });
        }
        drop(msg_tx);

        let mut held: HashMap<String, Arc<AtomicBool>> = HashMap::new();
        let mut events: Vec<PilotEvent> = Vec::new();
        let mut events_since: Option<Instant> = None;
        let mut finished = 0u64;
        let mut busy = Duration::ZERO;
        let mut last_sync = Instant::now();
        let mut next_poll = Instant::now();
        let mut idle_poll = Duration::from_millis(20);
        let mut idle_since: Option<Instant> = Some(Instant::now());
        let mut exit_asked = first.exit;
        let mut leaving = false;
        let mut link_down = false;
        loop {
            // Wait for slot news, at most until the next sync is due.
            let now = Instant::now();
            let due = (last_sync + heartbeat / 2).min(next_poll);
            let wait = due
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            let mut absorb = |m: SlotMsg, held: &mut HashMap<String, Arc<AtomicBool>>| match m {
                SlotMsg::Event(e) => {
                    if let PilotEvent::Finished { result } = &e {
                        finished += 1;
                        busy += Duration::from_secs_f64(result.duration_s.max(0.0));
                    }
                    events_since.get_or_insert_with(Instant::now);
                    events.push(e);
                }
                SlotMsg::Done(id) => {
                    held.remove(&id);
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
            if held.is_empty() && !leaving {
                let since = *idle_since.get_or_insert(now);
                if exit_asked {
                    summary.stopped = "the coordinator has no more runs".into();
                    leaving = true;
                } else if now.duration_since(since) >= opts.idle_exit {
                    summary.stopped = format!("idle for {:?}", opts.idle_exit);
                    leaving = true;
                } else if !fits(now) {
                    summary.stopped = "no time left for another run".into();
                    leaving = true;
                }
            } else {
                idle_since = None;
            }
            if leaving {
                for stop in held.values() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            let done = leaving && held.is_empty();
            if link_down {
                if held.is_empty() {
                    break;
                }
                continue;
            }
            // Keep `slots` runs executing and up to `depth` more waiting, so a
            // slot never idles on the network; ask again once the waiting
            // runs are used up. Short runs get a deeper queue so syncs stay
            // rarer than runs.
            let depth = if finished > 0 && busy.as_secs_f64() / (finished as f64) < 0.05 {
                8 * slots
            } else {
                slots
            };
            let want = if leaving || exit_asked || !fits(now) {
                0
            } else {
                (slots + depth).saturating_sub(held.len()) as u32
            };
            let hungry = want > 0 && held.len() <= slots && now >= next_poll;
            let report = events_since.is_some_and(|t| now.duration_since(t) >= REPORT_DELAY);
            let sync_due =
                done || hungry || report || now.duration_since(last_sync) >= heartbeat / 2;
            if !sync_due {
                continue;
            }
            let req = SyncRequest {
                worker: opts.id.clone(),
                want,
                held: held.keys().cloned().collect(),
                events: std::mem::take(&mut events),
                leaving: done,
            };
            events_since = None;
            let patience = if cancel.load(Ordering::Relaxed) {
                Duration::from_secs(10)
            } else {
                opts.patience
            };
            let reply = match link.sync(&req, patience) {
                Ok(r) => r,
                Err(e) => {
                    // Nobody to report to: finish what we hold (its result.json
                    // files are harvested later) and stop.
                    tracing::error!("{e}");
                    summary.stopped = e.to_string();
                    link_down = true;
                    continue;
                }
            };
            last_sync = Instant::now();
            if done {
                break;
            }
            for id in &reply.revoked {
                if let Some(stop) = held.get(id) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            exit_asked |= reply.exit;
            if reply.runs.is_empty() && want > 0 {
                next_poll = last_sync + idle_poll;
                idle_poll = (idle_poll * 2).min(MAX_IDLE_POLL);
            } else {
                idle_poll = Duration::from_millis(20);
                next_poll = last_sync;
            }
            for run in reply.runs {
                if held.contains_key(&run.id) {
                    // Already executing here (a retried sync granted it again).
                    continue;
                }
                let stop = Arc::new(AtomicBool::new(false));
                held.insert(run.id.clone(), stop.clone());
                summary.runs += 1;
                if work_tx.send((run, stop)).is_err() {
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
