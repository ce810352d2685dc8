//! Adaptive studies on the server: a study submitted with an `optimize:`
//! section (Bayesian optimisation or active learning) gets its loop run here,
//! as `simforge optimize` runs it on one machine. The loop is
//! `simforge_exec::adaptive::run_adaptive` itself; only its executor differs:
//! it waits until the server's workers have finished every queued run of the
//! study, then proposes the next batch as new runs of the study's plan.
//!
//! The store is the loop's memory (proposals are ordinary runs), so a server
//! restart, a crash or a second replica loses nothing: every running loop
//! (`study_loops.state = 'running'`) is picked up again by whichever server
//! takes its advisory lock first, and continues from the runs the store
//! holds. Cancelling the study stops its loop; submitting it again restarts
//! it from where it was.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use simforge_core::adaptive::{Adaptive, Goal};
use simforge_exec::adaptive::{Iteration, LoopOptions, LoopSummary, StopReason, run_adaptive};
use simforge_store::PgStore;

use crate::api::studies::{Submission, parse_submission};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// The loops' table: one row per adaptive study, what the study page shows.
pub(crate) const SCHEMA: &str = r#"
    CREATE TABLE study_loops (
        study TEXT PRIMARY KEY REFERENCES server_studies (key) ON DELETE CASCADE,
        settings JSONB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'failed')),
        iterations JSONB NOT NULL DEFAULT '[]',
        stop_reason TEXT,
        error TEXT,
        best JSONB,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
"#;

/// How often a loop checks whether the workers have finished its batch.
const POLL: Duration = Duration::from_millis(400);
/// How often the server looks for loops nobody drives (after a restart, or
/// when another replica stopped).
const SCAN: Duration = Duration::from_secs(5);
/// Points per iteration when the study does not say and no worker serves
/// its queue yet.
const DEFAULT_BATCH: usize = 4;
/// Loops one server drives at once: each holds a database connection of its
/// own while it waits on its workers. Others wait for a free place (or for
/// another replica).
pub const MAX_LOOPS: usize = 16;

/// The loops this server process drives.
#[derive(Default)]
pub struct Loops {
    driving: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
    stopping: AtomicBool,
}

impl Loops {
    /// Asks the background task to look for loops to drive now (after a
    /// submission) rather than at its next scan.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Claims `key` for this process, if it is not driven here already and
    /// fewer than [`MAX_LOOPS`] are.
    fn claim(&self, key: &str) -> bool {
        self.driving
            .lock()
            .map(|mut d| d.len() < MAX_LOOPS && d.insert(key.to_string()))
            .unwrap_or(false)
    }

    fn release(&self, key: &str) {
        if let Ok(mut d) = self.driving.lock() {
            d.remove(key);
        }
    }
}

/// The settings a study page shows for its loop.
pub fn settings_json(a: &Adaptive) -> Value {
    json!({
        "goal": match a.goal { Goal::Optimize(_) => "optimize", Goal::Learn(_) => "learn" },
        "metric": a.metric,
        "maximize": a.maximize,
        "constraints": a.constraints.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "budget": a.budget,
    })
}

/// Records that `key` (just submitted, with an `optimize:` section when
/// `adaptive` is set) needs its loop run; clears an old loop otherwise.
pub fn record_submission(
    tx: &mut impl postgres::GenericClient,
    key: &str,
    adaptive: Option<&Adaptive>,
) -> ApiResult<()> {
    match adaptive {
        Some(a) => {
            tx.execute(
                "INSERT INTO study_loops (study, settings, state) VALUES ($1, $2, 'running')
                 ON CONFLICT (study) DO UPDATE SET settings = excluded.settings, state = 'running',
                   iterations = '[]', stop_reason = NULL, error = NULL, best = NULL,
                   started_at = now(), updated_at = now()",
                &[&key, &settings_json(a)],
            )?;
        }
        None => {
            tx.execute("DELETE FROM study_loops WHERE study = $1", &[&key])?;
        }
    }
    Ok(())
}

/// Whether a submission of `key` with spec `spec_hash` may go ahead, given
/// its adaptive loop: refused (409) while a loop of another spec runs or is
/// still stopping (its driver could plan runs of the old spec after the new
/// plan); `Ok(true)` when the same spec is submitted while its loop runs (the
/// loop goes on untouched); `Ok(false)` otherwise.
pub fn check_resubmission(conn: &mut Conn, key: &str, spec_hash: &str) -> ApiResult<bool> {
    let Some(row) = conn.client().query_opt(
        "SELECT l.state, s.spec_hash FROM study_loops l JOIN server_studies s ON s.key = l.study
         WHERE l.study = $1",
        &[&key],
    )?
    else {
        return Ok(false);
    };
    let (state, current): (String, String) = (row.get(0), row.get(1));
    if state == "running" {
        if current == spec_hash {
            return Ok(true);
        }
        return Err(ApiError::conflict(format!(
            "study `{key}` is running its adaptive loop on another version of the file"
        ))
        .with_field("source")
        .with_hint(
            "cancel the study first (its page, or `simforge cancel`), then submit the changed file",
        ));
    }
    // Stopped, but is its driver gone? It holds the lock until it is.
    let lock = format!("simforge-loop:{key}");
    let free: bool = conn
        .client()
        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])?
        .get(0);
    if free {
        conn.client()
            .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock])?;
        Ok(false)
    } else {
        Err(
            ApiError::conflict(format!("study `{key}`'s adaptive loop is still stopping"))
                .with_hint("submit again in a moment"),
        )
    }
}

/// The loop of study `key` as the study page shows it, or `None` for a
/// study without one.
pub fn loop_json(conn: &mut Conn, key: &str) -> ApiResult<Option<Value>> {
    let row = conn.client().query_opt(
        "SELECT settings, state, iterations, stop_reason, error, best FROM study_loops WHERE study = $1",
        &[&key],
    )?;
    Ok(row.map(|r| {
        let mut v: Value = r.get(0);
        v["state"] = json!(r.get::<_, String>(1));
        v["iterations"] = r.get(2);
        v["stop_reason"] = json!(r.get::<_, Option<String>>(3));
        v["error"] = json!(r.get::<_, Option<String>>(4));
        v["best"] = r.get::<_, Option<Value>>(5).unwrap_or(Value::Null);
        v
    }))
}

/// One iteration as the study page lists it.
pub fn iteration_json(it: &Iteration) -> Value {
    json!({
        "number": it.number,
        "proposed": it.proposed,
        "runs": it.runs,
        "best": it.best,
        "predicted": it.predicted.map(|(m, s)| [m, s]),
        "random_because": it.random_because,
        "at": simforge_core::clock::now_rfc3339(),
    })
}

/// The best point of a finished loop as the study page shows it.
pub fn best_json(summary: &LoopSummary) -> Value {
    summary.best.as_ref().map_or(Value::Null, |b| {
        point_json(&b.run_id, Some(b.value), &b.params)
    })
}

/// The best point of `trace`, as [`best_json`] shows a loop's.
pub fn trace_best_json(trace: &simforge_exec::adaptive::Trace) -> Value {
    trace.best.map_or(Value::Null, |k| {
        let p = &trace.points[k];
        point_json(&p.run_id, p.value, &p.params)
    })
}

fn point_json(
    run_id: &str,
    value: Option<f64>,
    params: &std::collections::BTreeMap<String, Value>,
) -> Value {
    json!({"run_id": run_id, "value": value, "params": params})
}

/// A loop the study page shows without a `study_loops` row (`simforge ui`):
/// its settings, `state`, no iterations yet, and `best`.
pub fn fresh_loop_json(a: &Adaptive, state: &str, best: Value) -> Value {
    let mut v = settings_json(a);
    v["state"] = json!(state);
    v["iterations"] = json!([]);
    v["stop_reason"] = Value::Null;
    v["error"] = Value::Null;
    v["best"] = best;
    v
}

/// Handle of the background task that drives loops.
pub struct Background {
    handle: tokio::task::JoinHandle<()>,
    state: Shared,
}

impl Background {
    /// Starts looking for loops to drive.
    pub fn spawn(state: &Shared) -> Background {
        state.loops.stopping.store(false, Ordering::Relaxed);
        Background {
            handle: tokio::spawn(follow(state.clone())),
            state: state.clone(),
        }
    }
}

impl Drop for Background {
    /// Stops the task and tells running loops to stop at their next check;
    /// their rows stay `running`, so the next server continues them.
    fn drop(&mut self) {
        self.state.loops.stopping.store(true, Ordering::Relaxed);
        self.handle.abort();
    }
}

async fn follow(state: Shared) {
    loop {
        let found = state
            .db
            .run(|c| {
                let rows = c.client().query(
                    "SELECT l.study FROM study_loops l JOIN server_studies s ON s.key = l.study
                     WHERE l.state = 'running' AND s.state = 'active' ORDER BY l.started_at",
                    &[],
                )?;
                Ok(rows
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect::<Vec<_>>())
            })
            .await;
        match found {
            Ok(keys) => {
                for key in keys {
                    if state.loops.claim(&key) {
                        let state = state.clone();
                        tokio::task::spawn_blocking(move || {
                            drive(&state, &key);
                            state.loops.release(&key);
                            // A place is free: a waiting loop may start.
                            state.loops.wake();
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e.message, "looking for adaptive loops failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(SCAN) => {}
            () = state.loops.wake.notified() => {}
        }
    }
}

/// Why a loop stopped early.
enum Halt {
    /// The study was cancelled or deleted.
    Cancelled,
    /// The server is shutting down.
    Shutdown,
}

/// Runs the loop of study `key` to its end (or until the study is cancelled
/// or the server stops). Holds a session advisory lock on its own connection
/// so that one server drives each loop.
fn drive(state: &Shared, key: &str) {
    let cfg = &state.config.database;
    let mut store = match PgStore::connect_in_schema(&cfg.url, &cfg.schema) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(study = key, error = %e, "adaptive loop: no database connection");
            return;
        }
    };
    let lock = format!("simforge-loop:{key}");
    let locked = store
        .client()
        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])
        .map(|r| r.get::<_, bool>(0));
    match locked {
        Ok(true) => {}
        Ok(false) => return, // another server drives it
        Err(e) => {
            tracing::warn!(study = key, error = %e, "adaptive loop: lock");
            return;
        }
    }
    tracing::info!(study = key, "adaptive loop started");
    let outcome = run_loop(state, &mut store, key);
    let finished = match outcome {
        Ok((_, Some(Halt::Shutdown))) => None,
        Ok((summary, Some(Halt::Cancelled))) => Some((
            "stopped",
            Some("the study was cancelled".to_string()),
            None,
            best_json(&summary),
        )),
        Ok((summary, None)) => {
            let stop = summary.stop.to_string();
            let state = if matches!(summary.stop, StopReason::RunsLeftPending(_)) {
                "failed"
            } else {
                "stopped"
            };
            Some((state, Some(stop), None, best_json(&summary)))
        }
        Err(e) => Some(("failed", None, Some(e), Value::Null)),
    };
    if let Some((st, reason, error, best)) = finished {
        tracing::info!(study = key, state = st, reason = ?reason, error = ?error, "adaptive loop ended");
        let written = store.client().execute(
            "UPDATE study_loops SET state = $2, stop_reason = $3, error = $4, best = $5, updated_at = now()
             WHERE study = $1 AND state = 'running'",
            &[&key, &st, &reason, &error, &best],
        );
        if let Err(e) = written {
            tracing::warn!(study = key, error = %e, "adaptive loop: recording its end");
        }
    }
    // Dropping the connection releases the advisory lock.
}

/// The study's loop; the summary and why it was halted, if it was.
fn run_loop(
    state: &Shared,
    store: &mut PgStore,
    key: &str,
) -> Result<(LoopSummary, Option<Halt>), String> {
    let row = store
        .client()
        .query_opt(
            "SELECT source, source_name, files, queue FROM server_studies WHERE key = $1",
            &[&key],
        )
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("study `{key}` is gone"))?;
    let files: Value = row.get(2);
    let sub = Submission {
        source: row.get(0),
        source_name: Some(row.get(1)),
        files: serde_json::from_value(files).unwrap_or_default(),
        queue: None,
    };
    let queue: String = row.get(3);
    let parsed = parse_submission(&state.config.storage.path, &sub).map_err(|r| match r {
        crate::api::studies::Rejected::Study(d) => d.render(),
        crate::api::studies::Rejected::Request(e) => e.message,
    })?;
    let mut study = parsed.study;
    study.spec.name = key.to_string();
    let identity = parsed.sim.identity();
    let slots = worker_slots(state, &queue).unwrap_or(0);
    let opts = LoopOptions {
        slots: if slots == 0 { DEFAULT_BATCH } else { slots },
        lock_dir: state.config.storage.path.join("locks"),
        study_file: parsed.source_name.clone(),
    };
    std::fs::create_dir_all(&opts.lock_dir).map_err(|e| e.to_string())?;
    let cancel = AtomicBool::new(false);
    let halt: Mutex<Option<Halt>> = Mutex::new(None);
    let mut execute = |_: &mut dyn simforge_store::Store| -> Result<(), simforge_exec::ExecError> {
        loop {
            if state.loops.stopping.load(Ordering::Relaxed) {
                *halt.lock().unwrap_or_else(|p| p.into_inner()) = Some(Halt::Shutdown);
                cancel.store(true, Ordering::Relaxed);
                return Ok(());
            }
            match batch_state(state, key) {
                Ok(BatchState::Done) => return Ok(()),
                Ok(BatchState::Busy) => {}
                Ok(BatchState::Cancelled) => {
                    *halt.lock().unwrap_or_else(|p| p.into_inner()) = Some(Halt::Cancelled);
                    cancel.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => tracing::warn!(study = key, error = %e.message, "adaptive loop: polling"),
            }
            std::thread::sleep(POLL);
        }
    };
    let mut report = |it: &Iteration| {
        let written = state.db.get().and_then(|mut c| {
            c.client().execute(
                "UPDATE study_loops SET iterations = iterations || jsonb_build_array($2::jsonb), updated_at = now()
                 WHERE study = $1",
                &[&key, &iteration_json(it)],
            )?;
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(study = key, error = %e.message, "adaptive loop: recording an iteration");
        }
    };
    let summary = run_adaptive(
        store,
        &study,
        &identity,
        &opts,
        &mut execute,
        &cancel,
        &mut report,
    )
    .map_err(|e| e.to_string())?;
    let halted = halt.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((summary, halted))
}

/// Where the workers are with the study's current batch.
enum BatchState {
    /// No run of the current plan is pending or running.
    Done,
    /// Some are.
    Busy,
    /// The study is no longer active (cancelled or deleted).
    Cancelled,
}

fn batch_state(state: &Shared, key: &str) -> ApiResult<BatchState> {
    let mut c = state.db.get()?;
    let row = c.client().query_opt(
        "SELECT s.state, (SELECT count(*) FROM runs r JOIN studies st ON st.name = r.study
                           WHERE r.study = s.key AND r.plan_gen = st.plan_gen
                             AND r.state IN ('pending', 'running'))
         FROM server_studies s WHERE s.key = $1",
        &[&key],
    )?;
    Ok(match row {
        None => BatchState::Cancelled,
        Some(r) if r.get::<_, String>(0) != "active" => BatchState::Cancelled,
        Some(r) if r.get::<_, i64>(1) == 0 => BatchState::Done,
        Some(_) => BatchState::Busy,
    })
}

/// Slots of the workers that served `queue` in the last minute: the batch
/// that keeps them all busy.
fn worker_slots(state: &Shared, queue: &str) -> ApiResult<usize> {
    let mut c = state.db.get()?;
    let n: i64 = c
        .client()
        .query_one(
            "SELECT coalesce(sum(slots), 0)::int8 FROM workers
             WHERE $1 = ANY(queues) AND NOT leaving AND last_seen > now() - interval '1 minute'",
            &[&queue],
        )?
        .get(0);
    Ok(n.max(0) as usize)
}
