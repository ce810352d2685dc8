//! The worker protocol (sync, study sources) and the worker and queue views.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use simforge_exec::remote::protocol::{StudySource, SyncReply, SyncRequest};

use super::J;
use crate::auth::{Action, Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// One worker exchange (worker scope): see [`crate::queue::sync`].
pub async fn sync(
    State(state): State<Shared>,
    caller: Caller,
    J(req): J<SyncRequest>,
) -> ApiResult<Json<SyncReply>> {
    caller.require_worker()?;
    let ttl = state.config.leases.ttl_s;
    let reply = state
        .db
        .run(move |c| crate::queue::sync(c, &req, ttl))
        .await?;
    Ok(Json(reply))
}

/// A study's source and files, for a worker that was granted one of its runs.
pub async fn study_source(
    State(state): State<Shared>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<Json<StudySource>> {
    caller.require_worker()?;
    let src = state
        .db
        .run(move |c| {
            let row = c
                .client()
                .query_opt(
                    "SELECT spec_hash, source_name, source, files FROM server_studies WHERE key = $1",
                    &[&key],
                )?
                .ok_or_else(|| ApiError::not_found(format!("no study `{key}`")))?;
            let files: Value = row.get(3);
            Ok(StudySource {
                key: key.clone(),
                spec_hash: row.get(0),
                source_name: row.get(1),
                source: row.get(2),
                files: serde_json::from_value(files).unwrap_or_default(),
            })
        })
        .await?;
    Ok(Json(src))
}

/// Workers with their health (`live`: synced within three heartbeats;
/// `stale`: within ten; `gone`), the runs they hold and what they finished.
pub async fn list(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "list workers")?;
    let ttl = state.config.leases.ttl_s;
    let rows = state
        .db
        .run(move |c| {
            Ok(c.client()
                .query(
                    "SELECT w.name, w.host, w.queues, w.slots, w.version, w.first_seen::text, w.last_seen::text,
                       extract(epoch FROM now() - w.last_seen)::float8, w.runs_succeeded, w.runs_failed, w.leaving,
                       (SELECT count(*) FROM leases l WHERE l.worker = w.name),
                       greatest(extract(epoch FROM w.last_seen - w.first_seen)::float8, 1e-9)
                     FROM workers w ORDER BY w.name",
                    &[],
                )?
                .iter()
                .map(|r| {
                    let age: f64 = r.get(7);
                    let health = if r.get::<_, bool>(10) {
                        "left"
                    } else if age <= ttl {
                        "live"
                    } else if age <= 10.0 * ttl {
                        "stale"
                    } else {
                        "gone"
                    };
                    let done = r.get::<_, i64>(8) + r.get::<_, i64>(9);
                    json!({"name": r.get::<_, String>(0), "host": r.get::<_, String>(1),
                           "queues": r.get::<_, Vec<String>>(2), "slots": r.get::<_, i32>(3),
                           "version": r.get::<_, String>(4), "first_seen": r.get::<_, String>(5),
                           "last_seen": r.get::<_, String>(6), "seconds_since_seen": age, "health": health,
                           "runs_succeeded": r.get::<_, i64>(8), "runs_failed": r.get::<_, i64>(9),
                           "holding": r.get::<_, i64>(11),
                           "runs_per_s": done as f64 / r.get::<_, f64>(12)})
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "workers": rows })))
}

/// Queues: pending and leased runs per queue, and the live workers serving each.
pub async fn queues(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "list queues")?;
    let ttl = state.config.leases.ttl_s;
    let rows = state
        .db
        .run(move |c| {
            Ok(c.client()
                .query(
                    "WITH q AS (
                       SELECT s.queue, count(*) FILTER (WHERE r.state = 'pending') AS pending,
                              count(*) FILTER (WHERE r.state = 'running') AS running
                       FROM server_studies s JOIN studies st ON st.name = s.key
                       JOIN runs r ON r.study = s.key AND r.plan_gen = st.plan_gen
                       WHERE s.state = 'active' GROUP BY s.queue)
                     SELECT q.queue, q.pending, q.running,
                       (SELECT count(*) FROM workers w WHERE q.queue = ANY(w.queues) AND NOT w.leaving
                          AND w.last_seen > now() - make_interval(secs => $1))
                     FROM q ORDER BY q.queue",
                    &[&ttl],
                )?
                .iter()
                .map(|r| json!({"queue": r.get::<_, String>(0), "pending": r.get::<_, i64>(1),
                                "running": r.get::<_, i64>(2), "live_workers": r.get::<_, i64>(3)}))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(Json(json!({ "queues": rows })))
}
