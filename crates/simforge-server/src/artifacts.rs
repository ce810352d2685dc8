//! Run artifacts: the files a run leaves in its run directory on a remote
//! worker (outputs, rendered inputs, fields written by builtins), kept per
//! attempt so they can be read after the worker is gone.
//!
//! A worker uploads each file of a finished attempt with
//! `PUT /workers/leases/{lease}/artifacts?attempt=&path=` while it still holds
//! the run's lease, before it reports the attempt: the lease is the
//! permission, so a worker can only attach files to a run it is executing.
//! Content is stored once per SHA-256 in the same blob store as datasets (a
//! local directory or an S3-compatible bucket); `run_artifacts` maps
//! (run, attempt, path) to a blob. Uploads stream to disk while hashed and
//! are bounded by `limits.artifact_bytes` and an idle timeout rather than by
//! the request body limit and timeout. Readers (viewers of the run's
//! project) list them with `GET /runs/{id}/artifacts` and download one with
//! `GET /runs/{id}/artifacts/download?path=&attempt=`.

use std::path::Component;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Q;
use crate::api::runs::readable_run;
use crate::auth::Caller;
use crate::datasets::storage::{BlobStore, storage_for};
use crate::datasets::upload;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Migration: which blob holds each artifact of each attempt.
pub const SCHEMA: &str = r#"
    CREATE TABLE run_artifacts (
        run_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, attempt, path)
    );
"#;

/// The upload route, under `/api/v1`, served outside the request body limit
/// and timeout (see [`crate::datasets::upload_routes`] for why).
pub fn upload_routes() -> Router<Shared> {
    Router::new().route("/workers/leases/{lease}/artifacts", put(upload))
}

/// Read routes, under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/runs/{id}/artifacts", get(list))
        .route("/runs/{id}/artifacts/download", get(download))
}

/// Longest artifact path, bytes.
const MAX_PATH: usize = 512;

/// A path relative to the run directory: normal components only, no `..`,
/// no absolute path, no backslashes or control characters.
fn check_path(path: &str) -> ApiResult<()> {
    let bad = |why: &str| {
        Err(ApiError::invalid(format!("artifact path `{path}`: {why}"))
            .with_field("path")
            .with_hint("a path relative to the run directory, e.g. `out/field.npy`"))
    };
    if path.is_empty() || path.len() > MAX_PATH {
        return bad("empty or longer than 512 bytes");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("control characters or backslashes");
    }
    let p = std::path::Path::new(path);
    if !p.components().all(|c| matches!(c, Component::Normal(_))) || path.ends_with('/') {
        return bad("not a plain relative file path");
    }
    Ok(())
}

/// Query of the upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The attempt the file belongs to (1, 2, ...).
    pub attempt: i64,
    /// Path relative to the run directory.
    pub path: String,
}

/// `PUT /workers/leases/{lease}/artifacts?attempt=&path=` (worker scope,
/// holder of `lease`): stores one file of the attempt; 201 with its hash.
/// Uploading the same path of the same attempt again replaces it.
pub async fn upload(
    State(state): State<Shared>,
    caller: Result<Caller, ApiError>,
    Path(lease): Path<String>,
    Q(q): Q<UploadQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let run_id = match held_run(&state, caller, &lease, &q).await {
        Ok(r) => r,
        Err(e) => return Err(upload::refuse(body, e).await),
    };
    store(&state, run_id, &q, body).await
}

/// The run `lease` holds, once the caller and the query are checked.
async fn held_run(
    state: &Shared,
    caller: Result<Caller, ApiError>,
    lease: &str,
    q: &UploadQuery,
) -> ApiResult<String> {
    caller?.require_worker()?;
    check_path(&q.path)?;
    if q.attempt < 1 {
        return Err(ApiError::invalid("`attempt` counts from 1").with_field("attempt"));
    }
    let l = lease.to_string();
    state
        .db
        .run(move |c| {
            c.client()
                .query_opt("SELECT run_id FROM leases WHERE lease_id = $1", &[&l])?
                .map(|r| r.get(0))
                .ok_or_else(|| {
                    ApiError::not_found(format!("lease `{l}` is not held (expired, revoked or finished)"))
                        .with_hint("upload a run's artifacts before reporting its attempt, while its lease is held")
                })
        })
        .await
}

/// Streams the body into the blob store and records it as `q.path` of the
/// attempt.
async fn store(
    state: &Shared,
    run_id: String,
    q: &UploadQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let max = state.config.limits.artifact_bytes;
    let storage = storage_for(&state.config)?;
    let idle = Duration::from_secs_f64(state.config.limits.request_timeout_s.max(1.0));
    let received = upload::receive(body, storage.scratch_dir(), max, idle)
        .await
        .map_err(|e| {
            if e.code == "too_large" {
                e.with_hint("raise limits.artifact_bytes on the server")
            } else {
                e
            }
        })?;
    let (sha, size) = (received.sha256.clone(), received.size);
    // The blob first, then the row: a failure between leaves an unreferenced
    // blob, never a row without content.
    storage.put_file(&sha, received.file, size).await?;
    let (r, s, path, attempt) = (run_id.clone(), sha.clone(), q.path.clone(), q.attempt);
    state
        .db
        .run(move |c| {
            c.client().execute(
                "INSERT INTO run_artifacts (run_id, attempt, path, sha256, size_bytes) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (run_id, attempt, path) DO UPDATE SET sha256 = excluded.sha256,
                   size_bytes = excluded.size_bytes, created_at = now()",
                &[&r, &attempt, &path, &s, &(size as i64)],
            )?;
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"run_id": run_id, "attempt": q.attempt, "path": q.path, "sha256": sha, "size_bytes": size}),
        ),
    ))
}

/// `GET /runs/{id}/artifacts` (viewer): every artifact of every attempt.
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let (id, _) = readable_run(c, &caller, &id)?;
            let rows = c.client().query(
                "SELECT attempt, path, sha256, size_bytes, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM run_artifacts WHERE run_id = $1 ORDER BY attempt, path",
                &[&id],
            )?;
            let artifacts: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({"attempt": r.get::<_, i64>(0), "path": r.get::<_, String>(1),
                           "sha256": r.get::<_, String>(2), "size_bytes": r.get::<_, i64>(3),
                           "created_at": r.get::<_, String>(4)})
                })
                .collect();
            Ok(json!({"run_id": id, "artifacts": artifacts}))
        })
        .await?;
    Ok(Json(out))
}

/// Query of a download.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadQuery {
    /// Path relative to the run directory.
    pub path: String,
    /// Attempt (default: the latest that has this path).
    pub attempt: Option<i64>,
}

/// `GET /runs/{id}/artifacts/download?path=&attempt=` (viewer): the file,
/// streamed.
pub async fn download(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<DownloadQuery>,
) -> ApiResult<Response> {
    check_path(&q.path)?;
    let path = q.path.clone();
    let (sha, size) = state
        .db
        .run(move |c| {
            let (id, _) = readable_run(c, &caller, &id)?;
            let row = c.client().query_opt(
                "SELECT sha256, size_bytes FROM run_artifacts
                 WHERE run_id = $1 AND path = $2 AND ($3::bigint IS NULL OR attempt = $3)
                 ORDER BY attempt DESC LIMIT 1",
                &[&id, &q.path, &q.attempt],
            )?;
            row.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "run {id} has no artifact `{}`{}",
                        q.path,
                        q.attempt
                            .map(|a| format!(" in attempt {a}"))
                            .unwrap_or_default()
                    ))
                    .with_hint("GET /api/v1/runs/{id}/artifacts lists them")
                })
        })
        .await?;
    let storage = storage_for(&state.config)?;
    let Some((_, stream)) = storage.get(&sha).await? else {
        return Err(ApiError::not_found(
            "the artifact's content is gone from storage",
        ));
    };
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(size.max(0) as u64),
    );
    if let Some(v) = crate::api::attachment(path.rsplit('/').next().unwrap_or(&path)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn artifact_paths_stay_inside_the_run_directory() {
        for ok in ["out.txt", "fields/u_000.npy", "a b/c.vtk"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "./x",
            "a//",
            "dir/",
            "a\\b",
            "x\u{1}",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_path(&"a".repeat(513)).is_err());
    }
}
