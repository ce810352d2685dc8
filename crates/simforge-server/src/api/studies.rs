//! Studies: submit (the same YAML as the CLI), list, show progress, cancel,
//! delete.
//!
//! A study lives in a project; its key in the store is `project/name`, so run
//! ids (which hash the study name) never collide between projects, while
//! seeds (which do not) match a local run of the same file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use simforge_exec::RunnableSimulator;
use simforge_exec::remote::protocol::queue_for;
use simforge_store::Store;

use super::{ClientAddr, Page, Q, audit};
use crate::auth::{Action, Caller, authorize, project_role};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// `POST /projects/{p}/studies` body (JSON). A YAML body (`Content-Type:
/// application/yaml`) is the study file itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The study file's text (YAML or JSON).
    pub source: String,
    /// Its file name (default `study.yaml`).
    #[serde(default)]
    pub source_name: Option<String>,
    /// Files it refers to (input templates, topology files), by path relative
    /// to the study file.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Queue to use instead of the simulator's own.
    #[serde(default)]
    pub queue: Option<String>,
}

/// Run states, in the order lists show them.
const RUN_STATES: [&str; 6] = [
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
];

/// Store key of a study.
pub fn study_key(project: &str, name: &str) -> String {
    format!("{project}/{name}")
}

fn safe_relative(rel: &str) -> bool {
    let p = std::path::Path::new(rel);
    !rel.is_empty()
        && !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// A submission checked as the CLI's `simforge check` would: parsed where
/// its files are (so relative references resolve), its simulator built.
pub struct Parsed {
    /// The study.
    pub study: simforge_core::Study,
    /// Its simulator.
    pub sim: RunnableSimulator,
    /// The study file's name.
    pub source_name: String,
    /// The scratch directory the files were written to (deleted on drop).
    pub scratch: tempfile::TempDir,
}

/// Why a submission was refused.
pub enum Rejected {
    /// The study itself is wrong: the checker's diagnostics, with paths
    /// relative to the study's directory.
    Study(simforge_core::Diagnostics),
    /// The request is wrong (file names) or the server failed.
    Request(ApiError),
}

impl Rejected {
    /// The API error a submission answers with.
    pub fn into_api_error(self) -> ApiError {
        match self {
            Rejected::Study(d) => ApiError::invalid(d.render())
                .with_field("source")
                .with_hint("`simforge check STUDY` shows the same errors locally"),
            Rejected::Request(e) => e,
        }
    }
}

/// Writes the submission's files to a scratch directory under `storage` and
/// parses the study there.
pub fn parse_submission(storage: &std::path::Path, sub: &Submission) -> Result<Parsed, Rejected> {
    let source_name = sub
        .source_name
        .clone()
        .unwrap_or_else(|| "study.yaml".into());
    if !safe_relative(&source_name) || source_name.contains('/') {
        return Err(Rejected::Request(
            ApiError::invalid(format!("`{source_name}` is not a plain file name"))
                .with_field("source_name"),
        ));
    }
    for rel in sub.files.keys() {
        if !safe_relative(rel) {
            return Err(Rejected::Request(
                ApiError::invalid(format!(
                    "`{rel}` must be a relative path inside the study directory"
                ))
                .with_field(format!("files.{rel}")),
            ));
        }
    }
    let scratch_root = storage.join("tmp");
    ensure_dir(&scratch_root).map_err(Rejected::Request)?;
    let scratch = tempfile::Builder::new()
        .prefix("submit-")
        .tempdir_in(&scratch_root)
        .map_err(|e| Rejected::Request(ApiError::internal(format!("scratch directory: {e}"))))?;
    for (rel, text) in &sub.files {
        let path = scratch.path().join(rel);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written
            .map_err(|e| Rejected::Request(ApiError::internal(format!("writing {rel}: {e}"))))?;
    }
    // Diagnostics name files relative to the study's directory, as the
    // submitter wrote them, not the server's scratch path.
    let relative = |mut d: simforge_core::Diagnostics| {
        for x in &mut d.0 {
            if let Ok(rel) = x.file.strip_prefix(scratch.path()) {
                x.file = rel.to_path_buf();
            }
        }
        Rejected::Study(d)
    };
    let file = scratch.path().join(&source_name);
    let study = simforge_core::parse_study(&file, &sub.source).map_err(relative)?;
    let sim = RunnableSimulator::new(&study).map_err(relative)?;
    Ok(Parsed {
        study,
        sim,
        source_name,
        scratch,
    })
}

/// Checks, plans and records a submitted study; returns the response body.
pub fn submit_in(
    conn: &mut Conn,
    storage: &std::path::Path,
    caller: &Caller,
    project: &str,
    sub: Submission,
    addr: &str,
) -> ApiResult<Value> {
    submit_as(conn, storage, caller, project, sub, addr, "active")
}

/// [`submit_in`] with the study's state: `active` (its runs queue for
/// workers) or `external` (its results are pushed, see [`crate::ingest`]).
pub fn submit_as(
    conn: &mut Conn,
    storage: &std::path::Path,
    caller: &Caller,
    project: &str,
    sub: Submission,
    addr: &str,
    state: &str,
) -> ApiResult<Value> {
    let project_id = authorize(
        conn.client(),
        caller,
        project,
        Action::Submit,
        "submit studies",
    )?;
    // The scratch directory lives until the plan is made (a table design
    // reads its file then).
    let Parsed {
        mut study,
        sim,
        source_name,
        scratch: _scratch,
    } = parse_submission(storage, &sub).map_err(Rejected::into_api_error)?;
    let name = study.spec.name.clone();
    let key = study_key(project, &name);
    let queue = match sub.queue {
        Some(q) if !q.trim().is_empty() => q,
        _ => queue_for(&study.spec.simulator),
    };
    // Only the owner or a project admin may replace a study.
    if let Some(row) = conn.client().query_opt(
        "SELECT owner_id FROM server_studies WHERE key = $1",
        &[&key],
    )? {
        let owner: i64 = row.get(0);
        let role = project_role(conn.client(), caller, project)?.and_then(|(_, r)| r);
        caller.allow(
            role,
            Action::Cancel {
                own: owner == caller.user_id,
            },
            "replace this study",
        )?;
    }
    // An adaptive loop plans runs of its own spec: it must be gone before
    // another spec is planned, and keeps going on a resubmission of its own.
    let keep_loop = crate::adaptive::check_resubmission(conn, &key, &study.spec_hash)?;
    study.spec.name = key.clone();
    let (planned, new) =
        simforge_exec::runner::plan_into_store(&mut **conn, &study, &sim.identity(), &source_name)
            .map_err(|e| ApiError::invalid(e.to_string()).with_field("source"))?;
    let files = serde_json::to_value(&sub.files).unwrap_or_default();
    let timeout_s = study.resources.time.map(|t| t.as_secs_f64());
    let max_attempts = (study.resources.retries + 1) as i32;
    let mut tx = conn.client().transaction()?;
    tx.execute(
        "INSERT INTO server_studies (key, project_id, name, owner_id, queue, state, source, source_name, files,
                                     spec_hash, max_attempts, timeout_s)
         VALUES ($1, $2, $3, $4, $5, $12, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (key) DO UPDATE SET queue = excluded.queue, state = excluded.state, source = excluded.source,
           source_name = excluded.source_name, files = excluded.files, spec_hash = excluded.spec_hash,
           max_attempts = excluded.max_attempts, timeout_s = excluded.timeout_s, submitted_at = now()",
        &[&key, &project_id, &name, &caller.user_id, &queue, &sub.source, &source_name, &files,
          &study.spec_hash, &max_attempts, &timeout_s, &state],
    )?;
    // A study with an `optimize:` section runs its adaptive loop on the
    // server (as `simforge run` does locally); pushed results never do.
    let adaptive = study
        .adaptive
        .as_ref()
        .filter(|_| study.spec.optimize.is_some() && state == "active");
    if !keep_loop {
        crate::adaptive::record_submission(&mut tx, &key, adaptive)?;
    }
    // A resubmission is a fresh start for runs an earlier cancel stopped.
    tx.execute(
        "UPDATE runs SET state = 'pending', job = NULL WHERE study = $1 AND state = 'cancelled'",
        &[&key],
    )?;
    audit(
        &mut tx,
        Some(caller),
        "study_submit",
        &key,
        json!({"spec_hash": study.spec_hash, "planned": planned, "new": new, "queue": queue, "state": state}),
        addr,
    )?;
    tx.commit()?;
    Ok(
        json!({"key": key, "project": project, "name": name, "queue": queue, "state": state,
              "spec_hash": study.spec_hash, "planned": planned, "new": new, "adaptive": adaptive.is_some()}),
    )
}

/// Parsed studies by (key, spec hash): parsing writes the submission's
/// files to a scratch directory and builds its simulator, and the explorer
/// asks for the same study on every visit.
type ParsedStudies = HashMap<(String, String), Arc<simforge_core::Study>>;
static PARSED: std::sync::Mutex<Option<ParsedStudies>> = std::sync::Mutex::new(None);
const PARSED_ENTRIES: usize = 128;

/// The study `key` as submitted (parsed from its stored source and files,
/// named by its key as in the store).
pub fn stored_study(
    conn: &mut Conn,
    storage: &std::path::Path,
    key: &str,
) -> ApiResult<Arc<simforge_core::Study>> {
    let row = conn
        .client()
        .query_opt(
            "SELECT source, source_name, files, spec_hash FROM server_studies WHERE key = $1",
            &[&key],
        )?
        .ok_or_else(|| ApiError::not_found(format!("no study `{key}`")))?;
    let spec_hash: String = row.get(3);
    let cache_key = (key.to_string(), spec_hash);
    if let Some(hit) = PARSED
        .lock()
        .ok()
        .and_then(|c| c.as_ref()?.get(&cache_key).cloned())
    {
        return Ok(hit);
    }
    let files: Value = row.get(2);
    let sub = Submission {
        source: row.get(0),
        source_name: Some(row.get(1)),
        files: serde_json::from_value(files).unwrap_or_default(),
        queue: None,
    };
    let mut study = parse_submission(storage, &sub)
        .map_err(|r| match r {
            Rejected::Study(d) => {
                ApiError::internal(format!("the stored study no longer parses: {}", d.render()))
            }
            Rejected::Request(e) => e,
        })?
        .study;
    study.spec.name = key.to_string();
    let study = Arc::new(study);
    if let Ok(mut cache) = PARSED.lock() {
        let cache = cache.get_or_insert_with(HashMap::new);
        if cache.len() >= PARSED_ENTRIES {
            cache.clear();
        }
        cache.insert(cache_key, study.clone());
    }
    Ok(study)
}

fn ensure_dir(p: &std::path::Path) -> ApiResult<&std::path::Path> {
    std::fs::create_dir_all(p)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", p.display())))?;
    Ok(p)
}

/// Submits a study (member).
pub async fn submit(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path(project): Path<String>,
    Q(q): Q<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sub = if ctype.contains("yaml") {
        Submission {
            source: String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::invalid("the study file is not UTF-8").with_field("body"))?,
            source_name: q.get("source_name").cloned(),
            queue: q.get("queue").cloned(),
            ..Default::default()
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!("the body is not a submission: {e}"))
                .with_field("body")
                .with_hint("send {\"source\": \"<study YAML>\", \"files\": {...}} or the YAML itself with Content-Type: application/yaml")
        })?
    };
    let storage = state.config.storage.path.clone();
    let out = state
        .db
        .run(move |c| submit_in(c, &storage, &caller, &project, sub, &addr))
        .await?;
    if out["adaptive"] == true {
        state.loops.wake();
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /studies` filters.
#[derive(Debug, Deserialize)]
pub struct StudyQuery {
    project: Option<String>,
    state: Option<String>,
    queue: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn list_rows(conn: &mut Conn, caller: &Caller, q: &StudyQuery) -> ApiResult<Vec<Value>> {
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds();
    if let Some(s) = &q.state
        && !["active", "cancelled", "external"].contains(&s.as_str())
    {
        return Err(ApiError::invalid(format!("unknown study state `{s}`"))
            .with_field("state")
            .with_hint("states: active, cancelled, external"));
    }
    let rows = conn.client().query(
        "SELECT s.key, p.name, s.name, u.name, s.queue, s.state, s.spec_hash, s.submitted_at::text, st.planned_runs,
           coalesce(c.counts, '{}'::jsonb)
         FROM server_studies s JOIN projects p ON p.id = s.project_id JOIN users u ON u.id = s.owner_id
         JOIN studies st ON st.name = s.key
         LEFT JOIN LATERAL (
           SELECT jsonb_object_agg(g.state, g.n) AS counts FROM (
             SELECT r.state, count(*) AS n FROM runs r
             WHERE r.study = s.key AND r.plan_gen = st.plan_gen GROUP BY r.state) g) c ON true
         WHERE ($1 OR EXISTS (SELECT 1 FROM memberships m WHERE m.project_id = p.id AND m.user_id = $2))
           AND ($3::text IS NULL OR p.name = $3) AND ($4::text IS NULL OR s.state = $4)
           AND ($5::text IS NULL OR s.queue = $5)
         ORDER BY s.submitted_at DESC, s.key LIMIT $6 OFFSET $7",
        &[&caller.is_admin, &caller.user_id, &q.project, &q.state, &q.queue, &limit, &offset],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let found: Value = r.get(9);
            let n = |state: &str| found[state].as_i64().unwrap_or(0);
            let counts: serde_json::Map<String, Value> = RUN_STATES
                .iter()
                .map(|s| (s.to_string(), json!(n(s))))
                .collect();
            json!({"key": r.get::<_, String>(0), "project": r.get::<_, String>(1), "name": r.get::<_, String>(2),
                   "owner": r.get::<_, String>(3), "queue": r.get::<_, String>(4), "state": r.get::<_, String>(5),
                   "spec_hash": r.get::<_, String>(6), "submitted_at": r.get::<_, String>(7),
                   "planned": r.get::<_, i64>(8), "counts": counts,
                   "succeeded": n("succeeded"), "failed": n("failed") + n("timed_out")})
        })
        .collect())
}

/// Studies the caller can see, newest first, filtered by project, state and queue.
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<StudyQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(
        Some(crate::auth::Role::Viewer),
        Action::Read,
        "list studies",
    )?;
    let rows = state.db.run(move |c| list_rows(c, &caller, &q)).await?;
    Ok(Json(json!({ "studies": rows })))
}

/// Studies of one project (viewer).
pub async fn list_in_project(
    State(state): State<Shared>,
    caller: Caller,
    Path(project): Path<String>,
    Q(mut q): Q<StudyQuery>,
) -> ApiResult<Json<Value>> {
    let rows = state
        .db
        .run(move |c| {
            authorize(c.client(), &caller, &project, Action::Read, "list studies")?;
            q.project = Some(project);
            list_rows(c, &caller, &q)
        })
        .await?;
    Ok(Json(json!({ "studies": rows })))
}

/// The server row of a study: (key, owner id, state).
pub fn study_row(conn: &mut Conn, project: &str, name: &str) -> ApiResult<(String, i64, String)> {
    let key = study_key(project, name);
    conn.client()
        .query_opt(
            "SELECT owner_id, state FROM server_studies WHERE key = $1",
            &[&key],
        )?
        .map(|r| (key.clone(), r.get(0), r.get(1)))
        .ok_or_else(|| ApiError::not_found(format!("no study `{name}` in project `{project}`")))
}

/// A study with its progress (viewer).
pub async fn show(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let (warm_db, schema) = (state.clone(), state.config.database.schema.clone());
    let out = state
        .db
        .run(move |c| {
            authorize(c.client(), &caller, &project, Action::Read, "read studies")?;
            let (key, _, st) = study_row(c, &project, &name)?;
            let row = c.study(&key)?;
            let counts = c.state_counts(&key)?;
            let reasons = c.failure_reasons(&key, 5)?;
            let meta = c.client().query_one(
                "SELECT u.name, s.queue, s.submitted_at::text, s.source_name FROM server_studies s
                 JOIN users u ON u.id = s.owner_id WHERE s.key = $1",
                &[&key],
            )?;
            let done: u64 = counts
                .iter()
                .filter(|(s, _)| s.is_final())
                .map(|(_, n)| n)
                .sum();
            let adaptive = crate::adaptive::loop_json(c, &key)?;
            let looping = adaptive.as_ref().is_some_and(|a| a["state"] == "running");
            Ok(json!({
                "key": key, "project": project, "name": name, "state": st,
                "owner": meta.get::<_, String>(0), "queue": meta.get::<_, String>(1),
                "submitted_at": meta.get::<_, String>(2), "source_name": meta.get::<_, String>(3),
                "simulator": row.simulator, "spec_hash": row.spec_hash, "planned": row.planned_runs,
                "counts": counts.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "done": done,
                "finished": row.planned_runs as u64 == done && !looping,
                "adaptive": adaptive,
                "failure_reasons": reasons.iter().map(|(r, n)| json!({"reason": r, "runs": n})).collect::<Vec<_>>(),
            }))
        })
        .await?;
    // The explorer is usually next: load its copy of the study meanwhile.
    if let Some(key) = out["key"].as_str().map(str::to_string) {
        tokio::spawn(async move {
            let pool = warm_db.db.clone();
            let warmed = warm_db
                .db
                .run(move |c| super::explore::frame::warm(c, Some(&pool), &schema, &key))
                .await;
            if let Err(e) = warmed {
                tracing::warn!(error = %e.message, "warming the explorer failed");
            }
        });
    }
    Ok(Json(out))
}

/// `GET /projects/{p}/studies/{name}/source` (viewer): the study file as it
/// was submitted (or registered) and the files sent with it — what the
/// study page shows as the study's spec and the editor starts a copy from.
pub async fn source(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            authorize(c.client(), &caller, &project, Action::Read, "read studies")?;
            let (key, _, _) = study_row(c, &project, &name)?;
            let row = c.client().query_one(
                "SELECT source_name, source, files FROM server_studies WHERE key = $1",
                &[&key],
            )?;
            Ok(json!({"key": key, "source_name": row.get::<_, String>(0),
                      "source": row.get::<_, String>(1), "files": row.get::<_, Value>(2)}))
        })
        .await?;
    Ok(Json(out))
}

/// Cancels a study (its owner, or a project admin): unfinished runs become
/// `cancelled`, workers holding them are told to stop.
pub async fn cancel(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let (key, owner, _) = study_row(c, &project, &name)?;
            let mut tx = c.client().transaction()?;
            authorize(&mut tx, &caller, &project, Action::Cancel { own: owner == caller.user_id }, "cancel this study")?;
            let study_state: String = tx
                .query_one("SELECT state FROM server_studies WHERE key = $1 FOR UPDATE", &[&key])?
                .get(0);
            if study_state == "external" {
                return Err(ApiError::conflict(format!(
                    "study `{name}` is external: its runs execute elsewhere and are pushed here, so nothing runs on this server to cancel"
                ))
                .with_hint("stop the pushing side; a project admin can delete the study"));
            }
            tx.execute("UPDATE server_studies SET state = 'cancelled' WHERE key = $1", &[&key])?;
            crate::queue::revoke_study(&mut tx, &key)?;
            // Its adaptive loop stops too (the server driving it notices at
            // its next check and leaves this row as it is).
            tx.execute(
                "UPDATE study_loops SET state = 'stopped', stop_reason = 'the study was cancelled', updated_at = now()
                 WHERE study = $1 AND state = 'running'",
                &[&key],
            )?;
            let n = tx.execute(
                "UPDATE runs SET state = 'cancelled', job = NULL WHERE study = $1 AND state IN ('pending', 'running')",
                &[&key],
            )?;
            audit(&mut tx, Some(&caller), "study_cancel", &key, json!({"runs": n}), &addr)?;
            tx.commit()?;
            Ok(json!({"key": key, "cancelled_runs": n}))
        })
        .await?;
    Ok(Json(out))
}

/// Deletes a study and all its runs, attempts and logs (project admin).
pub async fn delete(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .db
        .run(move |c| {
            let (key, _, _) = study_row(c, &project, &name)?;
            let mut tx = c.client().transaction()?;
            authorize(
                &mut tx,
                &caller,
                &project,
                Action::Administer,
                "delete studies",
            )?;
            crate::queue::revoke_study(&mut tx, &key)?;
            tx.execute(
                "DELETE FROM run_artifacts WHERE run_id IN (SELECT id FROM runs WHERE study = $1)",
                &[&key],
            )?;
            tx.execute(
                "DELETE FROM run_logs WHERE run_id IN (SELECT id FROM runs WHERE study = $1)",
                &[&key],
            )?;
            tx.execute(
                "DELETE FROM attempts WHERE run_id IN (SELECT id FROM runs WHERE study = $1)",
                &[&key],
            )?;
            let runs = tx.execute("DELETE FROM runs WHERE study = $1", &[&key])?;
            tx.execute("DELETE FROM design_rows WHERE study = $1", &[&key])?;
            tx.execute("DELETE FROM submissions WHERE study = $1", &[&key])?;
            tx.execute("DELETE FROM studies WHERE name = $1", &[&key])?;
            tx.execute("DELETE FROM server_studies WHERE key = $1", &[&key])?;
            audit(
                &mut tx,
                Some(&caller),
                "study_delete",
                &key,
                json!({"runs": runs}),
                &addr,
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
