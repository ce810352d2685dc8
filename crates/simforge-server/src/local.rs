//! `simforge ui`: the dashboard on a local store, for one person on one
//! machine — no PostgreSQL, no login, bound to 127.0.0.1.
//!
//! It serves the same app and the same JSON shapes as `simforge serve` for
//! what makes sense locally: one project, `local`, holding every study of the
//! store; studies with their progress, runs, logs and artifacts (read from
//! the run directories), results downloads, the results explorer (computed
//! here over the store's rows, with the same `where` filter), the study
//! editor (checks, and submissions that run on this machine's process pool)
//! and the system designer. Everything else (users, tokens, workers,
//! datasets, reports) answers 404 with a hint that it belongs to server
//! mode; `GET /api/v1/me` says `local: true`, so the app hides it.

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use simforge_core::RunState;
use simforge_core::results::RunRecord;
use simforge_exec::export::Format;
use simforge_exec::rundir;
use simforge_store::{RunFilter, Store};

use crate::api::explore::filter::{self, Column};
use crate::api::explore::{self, frame::Frame};
use crate::api::studies::Submission;
use crate::api::{J, Q};
use crate::error::{ApiError, ApiResult};

/// The end of a log shown for a run, bytes (as a remote worker sends).
const LOG_TAIL: u64 = 64 << 10;

/// The one project of a local store.
pub const PROJECT: &str = "local";

/// What the local API works on.
#[derive(Debug, Clone)]
pub struct Local {
    /// The store directory (`.simforge`): the SQLite store, run directories
    /// under `runs/<study>/`, locks.
    pub dir: PathBuf,
    /// Adaptive loops of studies submitted from the editor, by study name:
    /// what the study page shows (as the server's `study_loops` rows).
    loops: Arc<Mutex<HashMap<String, Value>>>,
}

type Shared = Arc<Local>;

impl Local {
    /// The local API over the store directory `dir`.
    pub fn new(dir: PathBuf) -> Local {
        Local {
            dir,
            loops: Default::default(),
        }
    }

    /// The study `name` as its file now says, as long as the file still
    /// describes the stored plan.
    fn study(&self, store: &dyn Store, name: &str) -> ApiResult<simforge_core::Study> {
        let row = study_of(store, name)?;
        let study = simforge_core::load_study(Path::new(&row.study_file)).map_err(|d| {
            ApiError::conflict(format!(
                "{} no longer loads: {}",
                row.study_file,
                d.render()
            ))
        })?;
        if study.spec_hash != row.spec_hash {
            return Err(ApiError::conflict(format!(
                "{} changed since its runs were planned",
                row.study_file
            ))
            .with_hint("run it again (`simforge run`) before analysing"));
        }
        Ok(study)
    }

    /// The loop of study `name` as the study page shows it: the one this
    /// process runs, else (for a study with `optimize:` run by the CLI) its
    /// settings and best point from the store.
    fn loop_json(&self, store: &dyn Store, name: &str) -> Option<Value> {
        if let Some(v) = self.loops.lock().ok().and_then(|l| l.get(name).cloned()) {
            return Some(v);
        }
        let study = self.study(store, name).ok()?;
        let a = study
            .adaptive
            .as_ref()
            .filter(|_| study.spec.optimize.is_some())?;
        let trace = simforge_exec::adaptive::trace(store, &study).ok()?;
        let pending = trace.points.iter().any(|p| p.pending);
        Some(crate::adaptive::fresh_loop_json(
            a,
            if pending { "running" } else { "stopped" },
            crate::adaptive::trace_best_json(&trace),
        ))
    }

    fn open(&self) -> ApiResult<Box<dyn Store>> {
        simforge_store::open(&self.dir.join("simforge.db").display().to_string()).map_err(|e| {
            ApiError::internal(format!("opening the store in {}: {e}", self.dir.display()))
        })
    }

    fn runs_root(&self, study: &str) -> PathBuf {
        self.dir.join("runs").join(study)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

fn not_here(what: &str) -> ApiError {
    ApiError::not_found(format!("{what} belong to server mode"))
        .with_hint("`simforge serve` on PostgreSQL has users, workers, datasets and reports")
}

fn project_only(project: &str) -> ApiResult<()> {
    if project == PROJECT {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no project `{project}`"))
            .with_hint("a local store has one project, `local`"))
    }
}

fn study_of(store: &dyn Store, name: &str) -> ApiResult<simforge_store::StudyRow> {
    store
        .study(name)
        .map_err(|_| ApiError::not_found(format!("no study `{name}` in this store")))
}

/// Short simulator name, as the server names queues.
fn simulator_name(row: &simforge_store::StudyRow) -> String {
    let spec: Value = serde_json::from_str(&row.spec_json).unwrap_or_default();
    let sim = &spec["simulator"];
    if let Some(b) = sim["builtin"].as_str() {
        return b.to_string();
    }
    match sim["command"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
    {
        Some(p) => format!(
            "command:{}",
            Path::new(p)
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or(p)
        ),
        None => "command".into(),
    }
}

fn counts_json(counts: &BTreeMap<RunState, u64>) -> serde_json::Map<String, Value> {
    [
        RunState::Pending,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Cancelled,
    ]
    .iter()
    .map(|s| {
        (
            s.as_str().to_string(),
            json!(counts.get(s).copied().unwrap_or(0)),
        )
    })
    .collect()
}

fn record_json(r: &RunRecord, study: &str) -> Value {
    json!({
        "id": r.id, "index": r.index, "tag": r.tag, "replicate": r.replicate, "seed": r.seed,
        "params": r.params, "metrics": r.metrics, "state": r.state.as_str(), "attempts": r.attempts,
        "reason": r.reason, "started_at": r.started_at, "finished_at": r.finished_at,
        "duration_s": r.duration_s, "host": r.host, "spec_hash": r.spec_hash,
        "study": format!("{PROJECT}/{study}"),
    })
}

async fn me() -> Json<Value> {
    Json(
        json!({"name": "local", "is_admin": false, "local": true, "scopes": ["read", "submit"], "projects": [{"project": PROJECT, "role": "member"}]}),
    )
}

async fn projects(State(l): State<Shared>) -> ApiResult<Json<Value>> {
    let n = blocking(move || Ok(l.open()?.studies().map(|s| s.len()).unwrap_or(0))).await?;
    Ok(Json(
        json!({"projects": [{"name": PROJECT, "role": "member", "studies": n}]}),
    ))
}

fn study_summary(store: &dyn Store, row: &simforge_store::StudyRow) -> ApiResult<Value> {
    let counts = store.state_counts(&row.name).map_err(ApiError::from)?;
    let c = counts_json(&counts);
    let n = |s: &str| c.get(s).and_then(Value::as_i64).unwrap_or(0);
    Ok(json!({
        "key": format!("{PROJECT}/{}", row.name), "project": PROJECT, "name": row.name, "owner": "local",
        "queue": simulator_name(row), "state": "active", "spec_hash": row.spec_hash,
        "submitted_at": row.created_at, "planned": row.planned_runs, "counts": c,
        "succeeded": n("succeeded"), "failed": n("failed") + n("timed_out"),
    }))
}

#[derive(Debug, Deserialize)]
struct StudiesQuery {
    project: Option<String>,
}

async fn studies(State(l): State<Shared>, Q(q): Q<StudiesQuery>) -> ApiResult<Json<Value>> {
    if let Some(p) = &q.project {
        project_only(p)?;
    }
    let rows = blocking(move || {
        let store = l.open()?;
        let mut all = store.studies().map_err(ApiError::from)?;
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        all.iter()
            .map(|r| study_summary(&*store, r))
            .collect::<ApiResult<Vec<_>>>()
    })
    .await?;
    Ok(Json(json!({"studies": rows})))
}

async fn study(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let out = blocking(move || {
        let store = l.open()?;
        let row = study_of(&*store, &name)?;
        let mut v = study_summary(&*store, &row)?;
        let done: i64 = ["succeeded", "failed", "timed_out", "cancelled"]
            .iter()
            .map(|s| v["counts"][s].as_i64().unwrap_or(0))
            .sum();
        let reasons = store.failure_reasons(&name, 20).map_err(ApiError::from)?;
        let adaptive = l.loop_json(&*store, &name);
        let looping = adaptive.as_ref().is_some_and(|a| a["state"] == "running");
        v["done"] = json!(done);
        v["finished"] = json!(done == row.planned_runs && !looping);
        v["adaptive"] = json!(adaptive);
        v["simulator"] = json!(row.simulator);
        v["failure_reasons"] = json!(
            reasons
                .iter()
                .map(|(r, n)| json!({"reason": r, "runs": n}))
                .collect::<Vec<_>>()
        );
        Ok(v)
    })
    .await?;
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
struct RunsQuery {
    state: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

fn state_filter(s: &Option<String>) -> ApiResult<Option<RunState>> {
    match s {
        None => Ok(None),
        Some(s) => s.parse::<RunState>().map(Some).map_err(|_| {
            ApiError::invalid(format!("unknown run state `{s}`"))
                .with_field("state")
                .with_hint("states: pending, running, succeeded, failed, timed_out, cancelled")
        }),
    }
}

async fn runs(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<RunsQuery>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let state = state_filter(&q.state)?;
    let after: Option<(u64, u32)> = match &q.after {
        None => None,
        Some(c) => Some(
            c.split_once(':')
                .and_then(|(i, r)| Some((i.parse().ok()?, r.parse().ok()?)))
                .ok_or_else(|| {
                    ApiError::invalid(format!("`{c}` is not a cursor")).with_field("after")
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let out = blocking(move || {
        let store = l.open()?;
        study_of(&*store, &name)?;
        let mut page = Vec::new();
        let mut more = false;
        let filter = RunFilter { state, ..Default::default() };
        store
            .for_each_run(&name, &filter, &mut |r| {
                if after.is_some_and(|a| (r.index, r.replicate) <= a) {
                    return Ok(());
                }
                if page.len() == limit {
                    more = true;
                } else {
                    page.push(r);
                }
                Ok(())
            })
            .map_err(ApiError::from)?;
        let next = more.then(|| page.last().map(|r| format!("{}:{}", r.index, r.replicate))).flatten();
        Ok(json!({"runs": page.iter().map(|r| record_json(r, &name)).collect::<Vec<_>>(), "next": next}))
    })
    .await?;
    Ok(Json(out))
}

/// The run with id (or unique prefix) `id` and its study.
fn find(store: &dyn Store, id: &str) -> ApiResult<(RunRecord, String)> {
    if id.is_empty() || id.len() > 40 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(format!("`{id}` is not a run id")).with_field("id"));
    }
    let r = store
        .find_run(None, &id.to_ascii_lowercase())
        .map_err(|e| ApiError::not_found(e.to_string()))?;
    let study = store.run_study(&r.id).map_err(ApiError::from)?;
    Ok((r, study))
}

async fn run(State(l): State<Shared>, UrlPath(id): UrlPath<String>) -> ApiResult<Json<Value>> {
    let out = blocking(move || {
        let store = l.open()?;
        let (r, study) = find(&*store, &id)?;
        let mut v = record_json(&r, &study);
        v["attempt_history"] = store
            .attempts(&r.id)
            .map_err(ApiError::from)?
            .iter()
            .map(|a| json!({"attempt": a.attempt, "state": a.state.as_str(), "started_at": a.started_at,
                            "finished_at": a.finished_at, "duration_s": a.duration_s, "exit_code": a.exit_code,
                            "signal": a.signal, "reason": a.reason, "host": a.host, "max_rss_kb": a.max_rss_kb}))
            .collect();
        Ok(v)
    })
    .await?;
    Ok(Json(out))
}

/// Logs of the run's latest attempt (a local run directory keeps only it).
async fn logs(State(l): State<Shared>, UrlPath(id): UrlPath<String>) -> ApiResult<Json<Value>> {
    let out = blocking(move || {
        let store = l.open()?;
        let (r, study) = find(&*store, &id)?;
        let dir = rundir::run_dir(&l.runs_root(&study), &r.id);
        Ok(json!({"run": r.id, "attempts": [{
            "attempt": r.attempts.max(1),
            "stdout": rundir::log_tail(&dir.join(rundir::STDOUT_FILE), LOG_TAIL),
            "stderr": rundir::log_tail(&dir.join(rundir::STDERR_FILE), LOG_TAIL),
        }]}))
    })
    .await?;
    Ok(Json(out))
}

async fn artifacts(
    State(l): State<Shared>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let out = blocking(move || {
        let store = l.open()?;
        let (r, study) = find(&*store, &id)?;
        let dir = rundir::run_dir(&l.runs_root(&study), &r.id);
        let files: Vec<Value> = rundir::artifact_files(&dir)
            .into_iter()
            .map(|(rel, p)| {
                json!({"attempt": r.attempts.max(1), "path": rel,
                       "size_bytes": std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
                       "sha256": null, "created_at": null})
            })
            .collect();
        Ok(json!({"run_id": r.id, "artifacts": files}))
    })
    .await?;
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
struct ArtifactQuery {
    path: String,
    #[allow(dead_code)]
    attempt: Option<i64>,
}

async fn artifact(
    State(l): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Q(q): Q<ArtifactQuery>,
) -> ApiResult<Response> {
    let path = q.path.clone();
    let bytes = blocking(move || {
        let store = l.open()?;
        let (r, study) = find(&*store, &id)?;
        let dir = rundir::run_dir(&l.runs_root(&study), &r.id);
        let listed = rundir::artifact_files(&dir)
            .into_iter()
            .find(|(rel, _)| *rel == q.path)
            .ok_or_else(|| {
                ApiError::not_found(format!("run {} has no artifact `{}`", r.id, q.path))
            })?;
        std::fs::read(&listed.1)
            .map_err(|e| ApiError::internal(format!("reading {}: {e}", listed.1.display())))
    })
    .await?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(v) = crate::api::attachment(path.rsplit('/').next().unwrap_or(&path)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct ResultsQuery {
    format: Option<String>,
    #[serde(rename = "where")]
    filter: Option<String>,
}

async fn results(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<ResultsQuery>,
) -> ApiResult<Response> {
    project_only(&project)?;
    let (format, mime, ext) = match q.format.as_deref().unwrap_or("csv") {
        "csv" => (Format::Csv, "text/csv; charset=utf-8", "csv"),
        "parquet" => (Format::Parquet, "application/vnd.apache.parquet", "parquet"),
        "json-array" => (Format::Json, "application/json", "json"),
        other => {
            return Err(ApiError::invalid(format!("unknown format `{other}`"))
                .with_field("format")
                .with_hint(
                    "formats here: csv, parquet, json-array (the explorer pages the rows)",
                ));
        }
    };
    let conds = filter::parse(q.filter.as_deref())?;
    let n = name.clone();
    let (file, size) = blocking(move || {
        let store = l.open()?;
        study_of(&*store, &n)?;
        let io = |e: std::io::Error| ApiError::internal(format!("spooling the results: {e}"));
        let mut file = tempfile::tempfile().map_err(io)?;
        let writer = std::io::BufWriter::new(file.try_clone().map_err(io)?);
        let keep = |r: &RunRecord| conds.iter().all(|c| c.matches(&r.params, &r.metrics));
        let keep: Option<simforge_exec::export::Keep<'_>> =
            (!conds.is_empty()).then_some(&keep as _);
        simforge_exec::export::write_results_where(&*store, &n, format, Box::new(writer), keep)
            .map_err(|e| ApiError::internal(format!("exporting the results: {e}")))?;
        let size = file.seek(SeekFrom::End(0)).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok((file, size))
    })
    .await?;
    // Streamed from the spooled file, as the server does.
    let mut resp =
        axum::body::Body::from_stream(crate::datasets::storage::file_stream(file)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Some(v) = crate::api::attachment(&format!("{name}.{ext}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Every run of the study's current plan.
fn all_runs(store: &dyn Store, name: &str) -> ApiResult<Vec<RunRecord>> {
    study_of(store, name)?;
    store
        .runs(name, &RunFilter::default())
        .map_err(ApiError::from)
}

/// The explorer's copy of a local study: its runs (design order) and their
/// frame, the same structure the server's explorer answers from.
fn explorer_frame(store: &dyn Store, name: &str) -> ApiResult<(Vec<RunRecord>, Frame)> {
    let runs = all_runs(store, name)?;
    let frame = Frame::from_records(&runs);
    Ok((runs, frame))
}

async fn explore_columns(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let out = blocking(move || {
        let store = l.open()?;
        let (_, f) = explorer_frame(&*store, &name)?;
        let mut out = explore::columns_json(&format!("{PROJECT}/{name}"), &f);
        if let Ok(study) = l.study(&*store, &name) {
            explore::analysis::add_analyses(&mut out, &study);
        }
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}

async fn explore_sample(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<explore::SampleQuery>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let conds = filter::parse(q.filter.as_deref())?;
    let n = q.size();
    let out = blocking(move || {
        let store = l.open()?;
        let (runs, f) = explorer_frame(&*store, &name)?;
        let rows = f.select(&conds, Some(explore::frame::SUCCEEDED));
        let matching = rows.len();
        let rows = f.spread(rows, n);
        Ok(json!({"study": format!("{PROJECT}/{name}"), "matching": matching, "sampled": rows.len(),
                  "rows": rows.iter().map(|&i| record_json(&runs[i as usize], &name)).collect::<Vec<_>>()}))
    })
    .await?;
    Ok(Json(out))
}

async fn explore_histogram(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<explore::HistogramQuery>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let col = Column::parse(&q.col, "col")?;
    let conds = filter::parse(q.filter.as_deref())?;
    let bins = q.bin_count();
    let out = blocking(move || {
        let store = l.open()?;
        let (_, f) = explorer_frame(&*store, &name)?;
        Ok(explore::histogram_of(
            &format!("{PROJECT}/{name}"),
            &f,
            &conds,
            &q.col,
            &col,
            bins,
        ))
    })
    .await?;
    Ok(Json(out))
}

async fn explore_runs(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<explore::RunsQuery>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let conds = filter::parse(q.filter.as_deref())?;
    let order = explore::Sort::parse(q.sort.as_deref(), q.order.as_deref())?;
    let state = state_filter(&q.state)?;
    let (offset, limit) = q.window();
    let out = blocking(move || {
        let store = l.open()?;
        let (runs, f) = explorer_frame(&*store, &name)?;
        let code = state.and_then(|s| explore::frame::STATES.iter().position(|x| *x == s.as_str()));
        let rows = f.select(&conds, code.map(|c| c as u8));
        let total = rows.len();
        let page: Vec<Value> = order
            .page(&f, rows, offset, limit)
            .iter()
            .map(|&i| record_json(&runs[i as usize], &name))
            .collect();
        Ok(json!({"study": format!("{PROJECT}/{name}"), "total": total, "offset": offset, "runs": page}))
    })
    .await?;
    Ok(Json(out))
}

async fn check(State(l): State<Shared>, J(sub): J<Submission>) -> ApiResult<Json<Value>> {
    let scratch = l.dir.join("ui");
    Ok(Json(
        blocking(move || crate::api::check::check_submission(&scratch, &sub)).await?,
    ))
}

/// Submits a study from the editor: its files are kept under
/// `<store>/ui/studies/<name>/` and it runs on this machine's process pool in
/// the background, as `simforge run` would.
async fn submit(
    State(l): State<Shared>,
    UrlPath(project): UrlPath<String>,
    J(sub): J<Submission>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    project_only(&project)?;
    let out = blocking(move || {
        let scratch = l.dir.join("ui");
        let parsed = crate::api::studies::parse_submission(&scratch, &sub)
            .map_err(crate::api::studies::Rejected::into_api_error)?;
        let name = parsed.study.spec.name.clone();
        let home = l.dir.join("ui").join("studies").join(&name);
        std::fs::create_dir_all(&home)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", home.display())))?;
        let source_name = parsed.source_name.clone();
        std::fs::write(home.join(&source_name), &sub.source)
            .map_err(|e| ApiError::internal(format!("writing the study: {e}")))?;
        for (rel, text) in &sub.files {
            let p = home.join(rel);
            if let Some(d) = p.parent() {
                let _ = std::fs::create_dir_all(d);
            }
            std::fs::write(&p, text)
                .map_err(|e| ApiError::internal(format!("writing {rel}: {e}")))?;
        }
        let file = home.join(&source_name);
        let study = simforge_core::load_study(&file)
            .map_err(|d| ApiError::invalid(d.render()).with_field("source"))?;
        let sim = simforge_exec::RunnableSimulator::new(&study)
            .map_err(|d| ApiError::invalid(d.render()).with_field("source"))?;
        let mut store = l.open()?;
        let (planned, new) = simforge_exec::runner::plan_into_store(
            &mut *store,
            &study,
            &sim.identity(),
            &file.display().to_string(),
        )
        .map_err(|e| ApiError::invalid(e.to_string()).with_field("source"))?;
        let opts = simforge_exec::RunOptions {
            jobs: None,
            retry_failed: false,
            runs_root: l.runs_root(&name),
            lock_dir: l.dir.join("locks"),
            progress: simforge_exec::progress::Mode::Quiet,
            machine: simforge_exec::pool::Machine::detect(),
            guardian_exe: std::env::current_exe().ok(),
        };
        let dir = l.dir.clone();
        let file_text = file.display().to_string();
        let adaptive = study
            .adaptive
            .clone()
            .filter(|_| study.spec.optimize.is_some());
        if let Some(a) = &adaptive {
            let v = crate::adaptive::fresh_loop_json(a, "running", Value::Null);
            if let Ok(mut loops) = l.loops.lock() {
                loops.insert(name.clone(), v);
            }
        }
        let loops = l.loops.clone();
        let is_adaptive = adaptive.is_some();
        std::thread::spawn(move || {
            let run = simforge_store::open(&dir.join("simforge.db").display().to_string())
                .map_err(|e| e.to_string())
                .and_then(|mut store| {
                    if is_adaptive {
                        run_loop_locally(&mut *store, &study, sim, &file_text, &opts, &loops)
                    } else {
                        simforge_exec::run_study(
                            &mut *store,
                            &study,
                            Arc::new(sim),
                            &file_text,
                            &opts,
                            Arc::new(AtomicBool::new(false)),
                        )
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                    }
                });
            if let Err(e) = run {
                tracing::error!(study = %study.spec.name, "the submitted study stopped: {e}");
                if let Some(v) = loops
                    .lock()
                    .ok()
                    .as_mut()
                    .and_then(|l| l.get_mut(&study.spec.name))
                {
                    v["state"] = json!("failed");
                    v["error"] = json!(e);
                }
            }
        });
        Ok(
            json!({"key": format!("{PROJECT}/{name}"), "name": name, "planned": planned, "new": new,
                  "queue": "local", "state": "active", "adaptive": is_adaptive}),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Runs the adaptive loop of an editor-submitted study on this machine's
/// pool, recording its iterations where the study page reads them.
fn run_loop_locally(
    store: &mut dyn Store,
    study: &simforge_core::Study,
    sim: simforge_exec::RunnableSimulator,
    file_text: &str,
    opts: &simforge_exec::RunOptions,
    loops: &Mutex<HashMap<String, Value>>,
) -> Result<(), String> {
    let sim = Arc::new(sim);
    let identity = sim.identity();
    let cancel = Arc::new(AtomicBool::new(false));
    let name = study.spec.name.clone();
    let slots = simforge_exec::pool::slots(&opts.machine, &study.resources, opts.jobs)
        .map(|s| s.len())
        .unwrap_or(1);
    let mut execute = |store: &mut dyn Store| -> Result<(), simforge_exec::ExecError> {
        simforge_exec::run_study(store, study, sim.clone(), file_text, opts, cancel.clone())?;
        Ok(())
    };
    let mut report = |it: &simforge_exec::adaptive::Iteration| {
        if let Some(v) = loops.lock().ok().as_mut().and_then(|l| l.get_mut(&name))
            && let Some(list) = v["iterations"].as_array_mut()
        {
            list.push(crate::adaptive::iteration_json(it));
        }
    };
    let summary = simforge_exec::adaptive::run_adaptive(
        store,
        study,
        &identity,
        &simforge_exec::adaptive::LoopOptions {
            slots,
            lock_dir: opts.lock_dir.clone(),
            study_file: file_text.to_string(),
        },
        &mut execute,
        &cancel,
        &mut report,
    )
    .map_err(|e| e.to_string())?;
    if let Some(v) = loops.lock().ok().as_mut().and_then(|l| l.get_mut(&name)) {
        v["state"] = json!("stopped");
        v["stop_reason"] = json!(summary.stop.to_string());
        v["best"] = crate::adaptive::best_json(&summary);
    }
    Ok(())
}

/// `GET .../studies/{name}/source` on the local store: the study file the
/// runs were planned from, and the files it refers to beside it.
async fn source(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let out = blocking(move || {
        let store = l.open()?;
        let row = study_of(&*store, &name)?;
        let file = PathBuf::from(&row.study_file);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            ApiError::not_found(format!(
                "the study file {} cannot be read: {e}",
                file.display()
            ))
        })?;
        let files = simforge_exec::remote::client::study_files(&file, &text).unwrap_or_default();
        let source_name = file
            .file_name()
            .map_or_else(|| "study.yaml".into(), |n| n.to_string_lossy().into_owned());
        Ok(
            json!({"key": format!("{PROJECT}/{name}"), "source_name": source_name,
                  "source": text, "files": files}),
        )
    })
    .await?;
    Ok(Json(out))
}

/// `GET .../explore/convergence` on the local store.
async fn explore_convergence(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let out = blocking(move || {
        let store = l.open()?;
        let study = l.study(&*store, &name)?;
        crate::api::explore::analysis::convergence_of(&*store, &format!("{PROJECT}/{name}"), &study)
    })
    .await?;
    Ok(Json(out))
}

/// `GET .../explore/sensitivity` on the local store.
async fn explore_sensitivity(
    State(l): State<Shared>,
    UrlPath((project, name)): UrlPath<(String, String)>,
    Q(q): Q<crate::api::explore::analysis::SensitivityQuery>,
) -> ApiResult<Json<Value>> {
    project_only(&project)?;
    let out = blocking(move || {
        use crate::api::explore::analysis::{sensitivity_json, sensitivity_of};
        let store = l.open()?;
        let study = l.study(&*store, &name)?;
        let (metric, analysis) = sensitivity_of(&*store, &study, q.metric.as_deref(), q.surrogate)?;
        Ok(sensitivity_json(
            &format!("{PROJECT}/{name}"),
            &metric,
            &analysis,
        ))
    })
    .await?;
    Ok(Json(out))
}

async fn simulate(J(body): J<crate::api::design::DesignBody>) -> ApiResult<Json<Value>> {
    Ok(Json(crate::api::design::simulate_design(&body).await?))
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    format: String,
}

async fn export(
    Q(q): Q<ExportQuery>,
    J(body): J<crate::api::design::DesignBody>,
) -> ApiResult<Response> {
    crate::api::design::export_response(&q.format, &body)
}

/// The local API and the app.
pub fn router(local: Local) -> Router {
    let api = Router::new()
        .route("/me", get(me))
        .route("/projects", get(projects))
        .route("/studies", get(studies))
        .route("/projects/{project}/studies", get(studies).post(submit))
        .route("/projects/{project}/studies/{name}", get(study))
        .route("/projects/{project}/studies/{name}/runs", get(runs))
        .route("/projects/{project}/studies/{name}/source", get(source))
        .route("/projects/{project}/studies/{name}/results", get(results))
        .route(
            "/projects/{project}/studies/{name}/explore/columns",
            get(explore_columns),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/sample",
            get(explore_sample),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/histogram",
            get(explore_histogram),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/runs",
            get(explore_runs),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/convergence",
            get(explore_convergence),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/sensitivity",
            get(explore_sensitivity),
        )
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/logs", get(logs))
        .route("/runs/{id}/artifacts", get(artifacts))
        .route("/runs/{id}/artifacts/download", get(artifact))
        .route("/check", post(check))
        .route("/sysdesign/simulate", post(simulate))
        .route("/sysdesign/export", post(export))
        .route("/workers", get(|| async { Json(json!({"workers": []})) }))
        .route("/queues", get(|| async { Json(json!({"queues": []})) }))
        .fallback(|| async { not_here("users, tokens, datasets, reports and workers") });
    Router::new()
        .nest("/api/v1", api)
        .merge(crate::ui::routes())
        .fallback(|| async {
            ApiError::not_found("no such endpoint").with_hint("the API lives under /api/v1")
        })
        .with_state(Arc::new(local))
}

/// Serves the local dashboard on `addr` (a loopback address) until
/// `shutdown` resolves; calls `on_bound` with the address bound.
pub async fn serve_local(
    local: Local,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{addr}: `simforge ui` has no login and listens on loopback addresses only"),
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, router(local))
        .with_graceful_shutdown(shutdown)
        .await
}
