//! Per-simulator queues and worker leases.
//!
//! A run is queued when it is `pending` in an active study; its queue is the
//! study's (by default the simulator's name). A worker's sync, in one
//! transaction: records the attempts it reports, renews the leases it holds,
//! hands back what it returns, and grants new runs, picked with
//! `FOR UPDATE SKIP LOCKED` so concurrent workers never get the same run and
//! never wait on each other. A lease not renewed within the TTL expires (the
//! sweeper) and its run goes back to `pending`.
//!
//! Late results: a worker whose lease expired may still finish its run. A
//! late *success* is accepted if the run has not succeeded meanwhile (a
//! result is never thrown away), and the run's current lease, if another
//! worker holds it, is revoked; a second copy of a success changes nothing.
//! A late failure is dropped: the run is already back in the queue.

use std::collections::HashSet;

use postgres::Transaction;
use simforge_core::RunState;
use simforge_exec::bundle::BundleRun;
use simforge_exec::remote::protocol::{Grant, LeaseEvent, SyncReply, SyncRequest};
use simforge_store::{Store, Update};

use crate::db::{Conn, bump};
use crate::error::{ApiError, ApiResult};

/// Counter names.
pub const LEASES_EXPIRED: &str = "leases_expired";
/// Late results accepted after their lease expired.
pub const LATE_RESULTS: &str = "late_results_accepted";
/// Runs failed because they lost `leases.max_losses` leases.
pub const RUNS_FAILED_LOST: &str = "runs_failed_lost_workers";

/// Migration: how many leases each run has lost (see [`sweep_expired`]).
pub const LEASE_LOSSES: &str = r#"
    CREATE TABLE lease_losses (
        run_id TEXT PRIMARY KEY,
        losses INTEGER NOT NULL,
        last_worker TEXT NOT NULL,
        last_granted_at TIMESTAMPTZ NOT NULL
    );
"#;

/// Largest grant per sync.
const MAX_GRANT: u32 = 1000;

/// One worker exchange (see the module docs).
pub fn sync(conn: &mut Conn, req: &SyncRequest, ttl_s: f64) -> ApiResult<SyncReply> {
    if req.worker.trim().is_empty() || req.worker.len() > 200 {
        return Err(
            ApiError::invalid("a worker needs a name of 1 to 200 characters").with_field("worker"),
        );
    }
    if req.queues.is_empty() {
        return Err(ApiError::invalid("a worker must serve at least one queue")
            .with_field("queues")
            .with_hint("pass --queue NAME (e.g. sysdesign, analytic, command:solver)"));
    }
    let worker = req.worker.as_str();
    let mut updates: Vec<Update> = Vec::new();
    let mut released: Vec<String> = Vec::new();
    let mut settled_runs: Vec<String> = Vec::new();
    let mut late_runs: Vec<String> = Vec::new();
    let mut succeeded = 0i64;
    let mut failed = 0i64;
    let mut late = 0i64;
    let mut tx = conn.client().transaction()?;
    tx.execute(
        "INSERT INTO workers (name, host, queues, slots, version, leaving) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO UPDATE SET host = excluded.host, queues = excluded.queues,
           slots = excluded.slots, version = excluded.version, last_seen = now(), leaving = excluded.leaving",
        &[&worker, &req.host, &req.queues, &(req.slots as i32), &req.version, &req.leaving],
    )?;
    for e in &req.events {
        match e {
            LeaseEvent::Started {
                lease,
                run_id,
                attempt,
                started_at,
                host,
            } => {
                if holds(&mut tx, worker, lease, run_id)? {
                    updates.push(Update::Started {
                        run_id: run_id.clone(),
                        attempt: *attempt,
                        started_at: started_at.clone(),
                        host: host.clone(),
                    });
                }
            }
            LeaseEvent::Finished {
                lease,
                result,
                logs,
            } => {
                let Some((record, run_state)) = result.clone().into_attempt() else {
                    continue;
                };
                let run_id = record.run_id.clone();
                let settled = matches!(
                    run_state,
                    RunState::Succeeded | RunState::Failed | RunState::TimedOut
                );
                let accepted = if holds(&mut tx, worker, lease, &run_id)? {
                    if already_succeeded(&mut tx, &run_id)? {
                        // A copy of the run succeeded elsewhere first (its lease had
                        // lapsed meanwhile): keep the first result only.
                        settled_runs.push(run_id.clone());
                        false
                    } else if settled {
                        settled_runs.push(run_id.clone());
                        updates.push(Update::Finished {
                            record: record.clone(),
                            run_state,
                        });
                        true
                    } else {
                        // Another attempt follows on the same worker: still leased.
                        updates.push(Update::Finished {
                            record: record.clone(),
                            run_state: RunState::Running,
                        });
                        true
                    }
                } else if run_state == RunState::Succeeded && !already_succeeded(&mut tx, &run_id)?
                {
                    // A late success: keep it, and take the run from whoever holds it now.
                    late_runs.push(run_id.clone());
                    updates.push(Update::Finished {
                        record: record.clone(),
                        run_state,
                    });
                    late += 1;
                    true
                } else {
                    false
                };
                if accepted {
                    match run_state {
                        RunState::Succeeded => succeeded += 1,
                        RunState::Failed | RunState::TimedOut => failed += 1,
                        _ => {}
                    }
                    if let Some(l) = logs {
                        for (stream, text) in [("stdout", &l.stdout), ("stderr", &l.stderr)] {
                            tx.execute(
                                "INSERT INTO run_logs (run_id, attempt, stream, content) VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (run_id, attempt, stream) DO UPDATE SET content = excluded.content",
                                &[&run_id, &(record.attempt as i32), &stream, &text.replace('\0', "")],
                            )?;
                        }
                    }
                }
            }
            LeaseEvent::Requeued { lease, run_id } => {
                if holds(&mut tx, worker, lease, run_id)? {
                    released.push(run_id.clone());
                }
            }
        }
    }
    // Renew what the worker holds; anything it holds that is not renewed is revoked.
    let renewed: HashSet<String> = tx
        .query(
            "UPDATE leases SET expires_at = now() + make_interval(secs => $3)
             WHERE worker = $1 AND lease_id = ANY($2) RETURNING lease_id",
            &[&worker, &req.held, &ttl_s],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let revoked: Vec<String> = req
        .held
        .iter()
        .filter(|l| !renewed.contains(*l))
        .cloned()
        .collect();
    if req.leaving {
        let back: Vec<String> = tx
            .query("SELECT run_id FROM leases WHERE worker = $1", &[&worker])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        released.extend(back);
    }
    tx.execute(
        "UPDATE workers SET runs_succeeded = runs_succeeded + $2, runs_failed = runs_failed + $3 WHERE name = $1",
        &[&worker, &succeeded, &failed],
    )?;
    bump(&mut tx, LATE_RESULTS, late)?;
    tx.commit()?;
    // Results first, then the leases go: a crash in between leaves a lease on a
    // settled run (it expires harmlessly), never a running run without a lease.
    conn.apply(&updates)?;
    conn.release_runs(&released)?;
    // Only this worker's leases: a released run may already be leased anew.
    settled_runs.extend(released);
    if !settled_runs.is_empty() {
        conn.client().execute(
            "DELETE FROM leases WHERE run_id = ANY($1) AND worker = $2",
            &[&settled_runs, &worker],
        )?;
    }
    if !late_runs.is_empty() {
        conn.client()
            .execute("DELETE FROM leases WHERE run_id = ANY($1)", &[&late_runs])?;
    }
    let grants = if req.leaving || req.want == 0 {
        vec![]
    } else {
        grant(conn, req, ttl_s)?
    };
    Ok(SyncReply {
        grants,
        revoked,
        heartbeat_s: ttl_s / 3.0,
    })
}

/// Whether `worker` holds `lease` on `run_id` (and it has not expired).
fn holds(tx: &mut Transaction<'_>, worker: &str, lease: &str, run_id: &str) -> ApiResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM leases WHERE lease_id = $1 AND worker = $2 AND run_id = $3",
            &[&lease, &worker, &run_id],
        )?
        .is_some())
}

fn already_succeeded(tx: &mut Transaction<'_>, run_id: &str) -> ApiResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM runs WHERE id = $1 AND state = 'succeeded'",
            &[&run_id],
        )?
        .is_some())
}

/// Leases up to `want` pending runs of the worker's queues: the oldest
/// submission first, each study's runs in design order. Each study is one
/// index range scan of its pending runs (`runs_pending`), locked with
/// `SKIP LOCKED` so concurrent workers take disjoint runs without waiting.
fn grant(conn: &mut Conn, req: &SyncRequest, ttl_s: f64) -> ApiResult<Vec<Grant>> {
    let mut remaining = req.want.min(MAX_GRANT) as i64;
    let mut tx = conn.client().transaction()?;
    let studies = tx.query(
        "SELECT s.key, s.spec_hash, st.plan_gen, s.queue FROM server_studies s JOIN studies st ON st.name = s.key
         WHERE s.queue = ANY($1) AND s.state = 'active'
           AND EXISTS (SELECT 1 FROM runs r WHERE r.study = s.key AND r.state = 'pending')
         ORDER BY s.submitted_at, s.key",
        &[&req.queues],
    )?;
    let job = format!("worker:{}", req.worker);
    let mut grants = Vec::new();
    for study in studies {
        if remaining <= 0 {
            break;
        }
        let key: String = study.get(0);
        let spec_hash: String = study.get(1);
        let plan_gen: i64 = study.get(2);
        let queue: String = study.get(3);
        let rows = tx.query(
            "UPDATE runs SET state = 'running', job = $4
             WHERE id IN (SELECT id FROM runs WHERE study = $1 AND state = 'pending' AND plan_gen = $2
                          ORDER BY idx, replicate LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, idx, replicate, seed, params, attempts",
            &[&key, &plan_gen, &remaining, &job],
        )?;
        if rows.is_empty() {
            continue;
        }
        remaining -= rows.len() as i64;
        let mut ids = Vec::with_capacity(rows.len());
        let mut leases = Vec::with_capacity(rows.len());
        for row in rows {
            let lease = crate::auth::tokens::new_id(16)?;
            let run_id: String = row.get(0);
            let params: serde_json::Value = row.get(4);
            let serde_json::Value::Object(params) = params else {
                return Err(ApiError::internal(format!(
                    "run {run_id}: parameters are not an object"
                )));
            };
            ids.push(run_id.clone());
            leases.push(lease.clone());
            grants.push(Grant {
                lease,
                study: key.clone(),
                spec_hash: spec_hash.clone(),
                run: BundleRun {
                    id: run_id,
                    index: row.get::<_, i64>(1) as u64,
                    replicate: row.get::<_, i64>(2) as u32,
                    seed: row.get::<_, i64>(3) as u64,
                    params,
                    attempts: row.get::<_, i64>(5) as u32,
                },
            });
        }
        tx.execute(
            "INSERT INTO leases (run_id, lease_id, study, queue, worker, expires_at)
             SELECT r, l, $3, $4, $5, now() + make_interval(secs => $6)
             FROM unnest($1::text[], $2::text[]) AS u(r, l)
             ON CONFLICT (run_id) DO UPDATE SET lease_id = excluded.lease_id, worker = excluded.worker,
               granted_at = now(), expires_at = excluded.expires_at",
            &[&ids, &leases, &key, &queue, &req.worker, &ttl_s],
        )?;
    }
    tx.commit()?;
    Ok(grants)
}

/// Expires leases not renewed in time: their runs go back to `pending`.
/// A lost lease is not the run's fault, so it counts no attempt — unless
/// the same run has now lost `max_losses` leases (0: no limit): a run that
/// kills every worker it lands on (out of memory, say) would otherwise be
/// retried forever, so it fails with a reason that says so, as one attempt
/// on the last worker. Returns how many leases expired.
pub fn sweep_expired(conn: &mut Conn, max_losses: u32) -> ApiResult<u64> {
    let mut tx = conn.client().transaction()?;
    let lost = tx.query(
        "WITH gone AS (DELETE FROM leases WHERE expires_at < now() RETURNING run_id, worker, granted_at)
         INSERT INTO lease_losses (run_id, losses, last_worker, last_granted_at)
         SELECT g.run_id, 1, g.worker, g.granted_at FROM gone g
         JOIN runs r ON r.id = g.run_id AND r.state = 'running'
         ON CONFLICT (run_id) DO UPDATE SET losses = lease_losses.losses + 1,
           last_worker = excluded.last_worker, last_granted_at = excluded.last_granted_at
         RETURNING run_id, losses",
        &[],
    )?;
    let n = lost.len() as u64;
    let (failing, back): (Vec<_>, Vec<_>) = lost.iter().partition(|r| {
        let losses: i32 = r.get(1);
        max_losses > 0 && losses >= max_losses as i32
    });
    let back: Vec<String> = back.iter().map(|r| r.get(0)).collect();
    let failing: Vec<String> = failing.iter().map(|r| r.get(0)).collect();
    tx.execute(
        "UPDATE runs SET state = 'pending', job = NULL WHERE id = ANY($1) AND state = 'running'",
        &[&back],
    )?;
    if !failing.is_empty() {
        let reason = format!(
            "lost its worker {max_losses} times: each worker holding it stopped heartbeating \
             (the run may be killing its worker, e.g. out of memory); resubmit it after a fix, \
             or raise leases.max_losses"
        );
        const TS: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;
        tx.execute(
            &format!(
                "WITH f AS (
                   UPDATE runs r SET state = 'failed', job = NULL, attempts = r.attempts + 1, reason = $2,
                     started_at = to_char(l.last_granted_at AT TIME ZONE 'UTC', {TS}),
                     finished_at = to_char(now() AT TIME ZONE 'UTC', {TS}),
                     duration_s = extract(epoch FROM now() - l.last_granted_at), host = l.last_worker
                   FROM lease_losses l WHERE l.run_id = r.id AND r.id = ANY($1) AND r.state = 'running'
                   RETURNING r.id, r.attempts, r.started_at, r.finished_at, r.duration_s, r.host)
                 INSERT INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, reason, host)
                 SELECT id, attempts, 'failed', started_at, finished_at, duration_s, $2, host FROM f
                 ON CONFLICT (run_id, attempt) DO NOTHING"
            ),
            &[&failing, &reason],
        )?;
        tracing::error!(
            runs = failing.len(),
            max_losses,
            "runs failed: they lost every worker they ran on"
        );
    }
    bump(&mut tx, LEASES_EXPIRED, n as i64)?;
    bump(&mut tx, RUNS_FAILED_LOST, failing.len() as i64)?;
    tx.commit()?;
    if n > 0 {
        tracing::warn!(runs = n, "leases expired; runs back to pending");
    }
    Ok(n)
}

/// Revokes every lease of a study (cancelled or deleted).
pub fn revoke_study(tx: &mut Transaction<'_>, key: &str) -> ApiResult<u64> {
    Ok(tx.execute("DELETE FROM leases WHERE study = $1", &[&key])?)
}
