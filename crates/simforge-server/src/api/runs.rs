//! Runs and results: paged lists with filters, one run with its attempts,
//! its logs, and a study's results as JSON pages or one CSV, Parquet or
//! JSON download.

use std::io::{Seek, SeekFrom};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use simforge_exec::export::Format;
use simforge_store::Store;

use super::Q;
use super::studies::study_row;
use crate::auth::{Action, Caller, Role, authorize};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

const STATES: &[&str] = &[
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
];

/// Filters and paging of run lists. `after` is the cursor a previous page
/// returned as `next` (`<index>:<replicate>`).
#[derive(Debug, Deserialize)]
pub struct RunQuery {
    state: Option<String>,
    /// A results download's row filter (`explore::filter` syntax).
    #[serde(rename = "where")]
    filter: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
    format: Option<String>,
}

pub(crate) fn check_state(s: &Option<String>) -> ApiResult<()> {
    if let Some(s) = s
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::invalid(format!("unknown run state `{s}`"))
            .with_field("state")
            .with_hint(format!("states: {}", STATES.join(", "))));
    }
    Ok(())
}

fn cursor(after: &Option<String>) -> ApiResult<(i64, i64)> {
    match after {
        None => Ok((-1, -1)),
        Some(c) => c
            .split_once(':')
            .and_then(|(i, r)| Some((i.parse().ok()?, r.parse().ok()?)))
            .ok_or_else(|| {
                ApiError::invalid(format!("`{c}` is not a cursor"))
                    .with_field("after")
                    .with_hint("pass the `next` value of the previous page")
            }),
    }
}

const RUN_SELECT: &str =
    "SELECT id, idx, tag, replicate, seed, params, metrics, state, attempts, reason,
    started_at, finished_at, duration_s, host, spec_hash, study FROM runs";

/// [`RUN_SELECT`] with the table aliased `r`.
pub(crate) const RUN_SELECT_R: &str =
    "SELECT r.id, r.idx, r.tag, r.replicate, r.seed, r.params, r.metrics, r.state, r.attempts, r.reason,
    r.started_at, r.finished_at, r.duration_s, r.host, r.spec_hash, r.study FROM runs r";

pub(crate) fn run_json(r: &postgres::Row) -> Value {
    json!({
        "id": r.get::<_, String>(0), "index": r.get::<_, i64>(1), "tag": r.get::<_, Option<String>>(2),
        "replicate": r.get::<_, i64>(3), "seed": r.get::<_, i64>(4), "params": r.get::<_, Value>(5),
        "metrics": r.get::<_, Option<Value>>(6).unwrap_or(json!({})), "state": r.get::<_, String>(7),
        "attempts": r.get::<_, i64>(8), "reason": r.get::<_, Option<String>>(9),
        "started_at": r.get::<_, Option<String>>(10), "finished_at": r.get::<_, Option<String>>(11),
        "duration_s": r.get::<_, Option<f64>>(12), "host": r.get::<_, Option<String>>(13),
        "spec_hash": r.get::<_, String>(14), "study": r.get::<_, String>(15),
    })
}

fn page(
    conn: &mut Conn,
    key: &str,
    q: &RunQuery,
    max: i64,
) -> ApiResult<(Vec<postgres::Row>, Option<String>)> {
    check_state(&q.state)?;
    let (ai, ar) = cursor(&q.after)?;
    let limit = q.limit.unwrap_or(100).clamp(1, max);
    let rows = conn.client().query(
        &format!(
            "{RUN_SELECT} WHERE study = $1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
               AND ($2::text IS NULL OR state = $2) AND (idx, replicate) > ($3, $4)
             ORDER BY idx, replicate LIMIT $5"
        ),
        &[&key, &q.state, &ai, &ar, &limit],
    )?;
    let next = (rows.len() as i64 == limit)
        .then(|| {
            rows.last()
                .map(|r| format!("{}:{}", r.get::<_, i64>(1), r.get::<_, i64>(3)))
        })
        .flatten();
    Ok((rows, next))
}

/// A study's runs in design order (viewer), paged, optionally by state.
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<RunQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            authorize(c.client(), &caller, &project, Action::Read, "read runs")?;
            let (key, _, _) = study_row(c, &project, &name)?;
            let (rows, next) = page(c, &key, &q, 10_000)?;
            Ok(json!({"runs": rows.iter().map(run_json).collect::<Vec<_>>(), "next": next}))
        })
        .await?;
    Ok(Json(out))
}

/// Filters of the cross-study run search.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    project: Option<String>,
    queue: Option<String>,
    state: Option<String>,
    /// Runs finished at or after this time (RFC 3339).
    since: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Runs across the studies the caller can see, filtered by project, queue
/// (simulator type), state and finish time; most recently finished first.
pub async fn search(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<SearchQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "read runs")?;
    check_state(&q.state)?;
    let out = state
        .db
        .run(move |c| {
            let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
            let offset = q.offset.unwrap_or(0).max(0);
            let rows = c.client().query(
                &format!(
                    "{RUN_SELECT} r WHERE r.study IN (
                         SELECT s.key FROM server_studies s JOIN projects p ON p.id = s.project_id
                         WHERE ($1 OR EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = p.id AND m.user_id = $2))
                           AND ($3::text IS NULL OR p.name = $3) AND ($4::text IS NULL OR s.queue = $4))
                       AND r.plan_gen = (SELECT plan_gen FROM studies WHERE name = r.study)
                       AND ($5::text IS NULL OR r.state = $5)
                       AND ($6::text IS NULL OR r.finished_at >= $6)
                     ORDER BY r.finished_at DESC NULLS LAST, r.id LIMIT $7 OFFSET $8"
                ),
                &[&caller.is_admin, &caller.user_id, &q.project, &q.queue, &q.state, &q.since, &limit, &offset],
            )?;
            Ok(json!({"runs": rows.iter().map(run_json).collect::<Vec<_>>()}))
        })
        .await?;
    Ok(Json(out))
}

/// Finds the project of a run's study and checks the caller may read it.
pub(crate) fn readable_run(
    conn: &mut Conn,
    caller: &Caller,
    id: &str,
) -> ApiResult<(String, String)> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) || id.len() > 40 {
        return Err(ApiError::invalid(format!("`{id}` is not a run id")).with_field("id"));
    }
    let rows = conn.client().query(
        "SELECT r.id, p.name FROM runs r JOIN server_studies s ON s.key = r.study
         JOIN projects p ON p.id = s.project_id WHERE r.id LIKE $1 || '%' LIMIT 2",
        &[&id.to_ascii_lowercase()],
    )?;
    match rows.as_slice() {
        [one] => {
            let project: String = one.get(1);
            authorize(conn.client(), caller, &project, Action::Read, "read runs")?;
            Ok((one.get(0), project))
        }
        [] => Err(ApiError::not_found(format!("no run id starts with `{id}`"))),
        _ => Err(ApiError::invalid(format!(
            "more than one run id starts with `{id}`; give more digits"
        ))),
    }
}

/// One run with every attempt (viewer of its project).
pub async fn show(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let (id, _) = readable_run(c, &caller, &id)?;
            let row = c
                .client()
                .query_one(&format!("{RUN_SELECT} WHERE id = $1"), &[&id])?;
            let attempts = c.attempts(&id)?;
            let mut run = run_json(&row);
            run["attempt_history"] = attempts
                .iter()
                .map(|a| {
                    json!({"attempt": a.attempt, "state": a.state.as_str(), "started_at": a.started_at,
                           "finished_at": a.finished_at, "duration_s": a.duration_s, "exit_code": a.exit_code,
                           "signal": a.signal, "reason": a.reason, "host": a.host, "max_rss_kb": a.max_rss_kb})
                })
                .collect();
            Ok(run)
        })
        .await?;
    Ok(Json(out))
}

/// Query of `GET /runs/{id}/logs`.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    attempt: Option<i32>,
}

/// The tail of a run's stdout and stderr, per attempt (viewer).
pub async fn logs(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<LogQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let (id, _) = readable_run(c, &caller, &id)?;
            let rows = c.client().query(
                "SELECT attempt, stream, content FROM run_logs WHERE run_id = $1
                   AND ($2::int IS NULL OR attempt = $2) ORDER BY attempt, stream",
                &[&id, &q.attempt],
            )?;
            let mut attempts: std::collections::BTreeMap<i32, serde_json::Map<String, Value>> =
                Default::default();
            for r in rows {
                attempts
                    .entry(r.get(0))
                    .or_default()
                    .insert(r.get::<_, String>(1), Value::String(r.get(2)));
            }
            Ok(
                json!({"run": id, "attempts": attempts.into_iter().map(|(a, m)| {
                let mut o = m; o.insert("attempt".into(), json!(a)); Value::Object(o)
            }).collect::<Vec<_>>()}),
            )
        })
        .await?;
    Ok(Json(out))
}

/// A study's results. `format=json` (default): pages of runs, like the run
/// list. `csv`, `parquet` and `json-array`: every run of the current plan
/// in one download, with the columns of `simforge results` on a local store
/// (parameters and metrics typed, declared order first). Downloads are
/// written to a temporary file on the blocking pool and streamed from there,
/// so a million-run study costs disk, not memory.
pub async fn results(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<RunQuery>,
) -> ApiResult<Response> {
    let format = q.format.clone().unwrap_or_else(|| "json".into());
    let download = match format.as_str() {
        "json" => None,
        "csv" => Some((Format::Csv, "text/csv; charset=utf-8", "csv")),
        "parquet" => Some((Format::Parquet, "application/vnd.apache.parquet", "parquet")),
        "json-array" => Some((Format::Json, "application/json", "json")),
        _ => {
            return Err(ApiError::invalid(format!("unknown format `{format}`"))
                .with_field("format")
                .with_hint("formats: json (pages), csv, parquet, json-array (whole study)"));
        }
    };
    let conds = super::explore::filter::parse(q.filter.as_deref())?;
    if download.is_none() && !conds.is_empty() {
        return Err(
            ApiError::invalid("`where` filters downloads (csv, parquet, json-array)")
                .with_field("where")
                .with_hint("for filtered pages use GET .../explore/runs?where="),
        );
    }
    if download.is_some() {
        let paging = [
            ("state", q.state.is_some()),
            ("limit", q.limit.is_some()),
            ("after", q.after.is_some()),
        ];
        if let Some((field, _)) = paging.iter().find(|(_, given)| *given) {
            return Err(ApiError::invalid(format!(
                "`{field}` pages `format=json`; a `{format}` download is the whole study"
            ))
            .with_field(*field)
            .with_hint("drop it, or filter the downloaded table"));
        }
    }
    let scratch = state.config.storage.path.join("tmp");
    let out = state
        .db
        .run(move |c| {
            authorize(c.client(), &caller, &project, Action::Read, "read results")?;
            let (key, _, _) = study_row(c, &project, &name)?;
            let Some((format, mime, ext)) = download else {
                let (rows, next) = page(c, &key, &q, 10_000)?;
                let body = json!({"study": key, "results": rows.iter().map(run_json).collect::<Vec<_>>(), "next": next});
                return Ok(Json(body).into_response());
            };
            let io = |e: std::io::Error| ApiError::internal(format!("spooling the results: {e}"));
            std::fs::create_dir_all(&scratch).map_err(io)?;
            // Unlinked at once: the open handle is all that keeps it.
            let mut file = tempfile::tempfile_in(&scratch).map_err(io)?;
            let writer = std::io::BufWriter::new(file.try_clone().map_err(io)?);
            let store: &dyn Store = &**c;
            let keep = |r: &simforge_core::results::RunRecord| {
                conds.iter().all(|c| c.matches(&r.params, &r.metrics))
            };
            let keep: Option<simforge_exec::export::Keep<'_>> =
                (!conds.is_empty()).then_some(&keep as _);
            simforge_exec::export::write_results_where(store, &key, format, Box::new(writer), keep)
                .map_err(|e| ApiError::internal(format!("exporting the results: {e}")))?;
            let size = file.seek(SeekFrom::End(0)).map_err(io)?;
            file.rewind().map_err(io)?;
            let mut resp = Body::from_stream(crate::datasets::storage::file_stream(file)).into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            if let Some(v) = super::attachment(&format!("{name}.{ext}")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            Ok(resp)
        })
        .await?;
    Ok(out)
}
