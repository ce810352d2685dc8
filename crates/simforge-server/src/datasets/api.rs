//! The datasets API: upload a version, list datasets and versions, read a
//! version's metadata, sign a download link, download through a link.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::signing::{self, now_s, url_encode};
use super::storage::{BlobStore, storage_for};
use super::upload::{self, too_large};
use crate::api::users::check_name;
use crate::api::{ClientAddr, Q, audit};
use crate::auth::{Action, Caller, authorize};
use crate::error::{ApiError, ApiResult};
use crate::etl::jobs::ts_sql;
use crate::state::Shared;

/// Longest description kept with a version.
const MAX_DESCRIPTION: usize = 4096;

/// `POST /projects/{p}/datasets/{name}` query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name (its extension helps recognise the format); default:
    /// the dataset's name.
    pub file_name: Option<String>,
    /// What this version is.
    pub description: Option<String>,
}

/// A file name: no path, no control characters, at most 255 bytes.
fn check_file_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control() || c == '"');
    if ok {
        Ok(())
    } else {
        Err(
            ApiError::invalid(format!("`{name}` is not a plain file name"))
                .with_field("file_name")
                .with_hint(
                    "give the file's own name, e.g. `mesh.vtu`, without directories or quotes",
                ),
        )
    }
}

/// The columns of a version, in the order [`version_json`] reads them.
fn version_columns() -> String {
    format!(
        "v.version, v.sha256, v.size_bytes, v.content_type, v.file_name, v.format, v.description, v.uploader, {}, v.metadata",
        ts_sql("v.created_at")
    )
}

fn version_json(project: &str, dataset: &str, r: &postgres::Row, with_metadata: bool) -> Value {
    let mut v = json!({
        "project": project,
        "dataset": dataset,
        "version": r.get::<_, i32>(0),
        "sha256": r.get::<_, String>(1),
        "size_bytes": r.get::<_, i64>(2),
        "content_type": r.get::<_, Option<String>>(3),
        "file_name": r.get::<_, String>(4),
        "format": r.get::<_, String>(5),
        "description": r.get::<_, Option<String>>(6),
        "uploader": r.get::<_, String>(7),
        "created_at": r.get::<_, String>(8),
    });
    if with_metadata {
        v["metadata"] = r.get::<_, Value>(9);
    }
    v
}

/// The latest version of a dataset if its content is `sha`.
fn latest_if_same(
    client: &mut impl postgres::GenericClient,
    project_id: i64,
    name: &str,
    sha: &str,
) -> ApiResult<Option<postgres::Row>> {
    let row = client.query_opt(
        &format!(
            "SELECT {} FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
             WHERE d.project_id = $1 AND d.name = $2 ORDER BY v.version DESC LIMIT 1",
            version_columns()
        ),
        &[&project_id, &name],
    )?;
    Ok(row.filter(|r| r.get::<_, String>(1) == sha))
}

/// `POST /projects/{p}/datasets/{name}?file_name=&description=` (member):
/// the raw body becomes the next version of the dataset, unless it equals
/// the latest version (then that version is returned, `deduplicated: true`).
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    State(state): State<Shared>,
    caller: Result<Caller, ApiError>,
    ClientAddr(addr): ClientAddr,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = match caller {
        Ok(c) => c,
        Err(e) => return Err(upload::refuse(body, e).await),
    };
    let checked = async {
        check_name(&name, "name")?;
        let file_name = q.file_name.clone().unwrap_or_else(|| name.clone());
        check_file_name(&file_name)?;
        if q.description
            .as_ref()
            .is_some_and(|d| d.len() > MAX_DESCRIPTION)
        {
            return Err(ApiError::invalid(format!(
                "a description has at most {MAX_DESCRIPTION} bytes"
            ))
            .with_field("description"));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 255)
            .unwrap_or("application/octet-stream")
            .to_string();
        let max = state.config.datasets.max_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(too_large(max));
        }
        // Who may upload is settled before a byte is read.
        let (c, p) = (caller.clone(), project.clone());
        let project_id = state
            .db
            .run(move |conn| authorize(conn.client(), &c, &p, Action::Submit, "upload datasets"))
            .await?;
        Ok::<_, ApiError>((file_name, content_type, max, project_id))
    }
    .await;
    let (file_name, content_type, max, project_id) = match checked {
        Ok(v) => v,
        Err(e) => return Err(upload::refuse(body, e).await),
    };
    let storage = storage_for(&state.config)?;
    let idle = Duration::from_secs_f64(state.config.limits.request_timeout_s.max(1.0));
    let received = upload::receive(body, storage.scratch_dir(), max, idle).await?;
    let (sha, size) = (received.sha256.clone(), received.size);

    // The same content as the latest version: that version, nothing stored.
    let (n, s, c, a, pr) = (
        name.clone(),
        sha.clone(),
        caller.clone(),
        addr.clone(),
        project.clone(),
    );
    let same = state
        .db
        .run(move |conn| {
            let row = latest_if_same(conn.client(), project_id, &n, &s)?;
            match row {
                Some(r) => {
                    let v = version_json(&pr, &n, &r, true);
                    audit_upload(conn.client(), &c, &pr, &n, &v, true, &a)?;
                    Ok(Some(v))
                }
                None => Ok(None),
            }
        })
        .await?;
    if let Some(mut v) = same {
        v["deduplicated"] = json!(true);
        return Ok((StatusCode::OK, Json(v)));
    }

    // Metadata, on a blocking thread (it reads the whole file for text formats).
    let fname = file_name.clone();
    let (file, meta) = tokio::task::spawn_blocking(move || {
        let meta = simforge_formats::extract(received.file.path(), &fname);
        (received.file, meta)
    })
    .await
    .map_err(|e| ApiError::internal(format!("metadata task failed: {e}")))?;
    let meta = match meta {
        Ok(m) => m,
        Err(simforge_formats::FormatError::Io { source, .. }) => {
            tracing::error!(error = %source, "reading an upload back failed");
            return Err(ApiError::internal("could not read the upload back"));
        }
        Err(e) => {
            return Err(ApiError::invalid(format!("`{file_name}`: {e}"))
                .with_field("body")
                .with_hint(
                    "the file claims a format (by its name or first bytes) but does not follow it",
                ));
        }
    };
    let format = serde_json::to_value(meta.format())
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let metadata =
        serde_json::to_value(&meta).map_err(|e| ApiError::internal(format!("metadata: {e}")))?;

    // The blob first, then the row that refers to it: a failure in between
    // leaves an unreferenced blob, never a version without content.
    storage.put_file(&sha, file, size).await?;

    let description = q.description.clone();
    let (status, v) = state
        .db
        .run(move |conn| {
            let mut tx = conn.client().transaction()?;
            tx.execute(
                "INSERT INTO datasets (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) DO NOTHING",
                &[&project_id, &name],
            )?;
            let id: i64 = tx
                .query_one(
                    "SELECT id FROM datasets WHERE project_id = $1 AND name = $2 FOR UPDATE",
                    &[&project_id, &name],
                )?
                .get(0);
            // Another upload of the same content may have won the race.
            if let Some(r) = latest_if_same(&mut tx, project_id, &name, &sha)? {
                let mut v = version_json(&project, &name, &r, true);
                audit_upload(&mut tx, &caller, &project, &name, &v, true, &addr)?;
                tx.commit()?;
                v["deduplicated"] = json!(true);
                return Ok((StatusCode::OK, v));
            }
            tx.execute(
                "INSERT INTO dataset_blobs (sha256, size_bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                &[&sha, &(size as i64)],
            )?;
            let row = tx.query_one(
                &format!(
                    "WITH v AS (
                         INSERT INTO dataset_versions (dataset_id, version, sha256, size_bytes, content_type,
                             file_name, format, metadata, description, uploader_id, uploader)
                         SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10
                         FROM dataset_versions WHERE dataset_id = $1
                         RETURNING *)
                     SELECT {} FROM v",
                    version_columns()
                ),
                &[
                    &id,
                    &sha,
                    &(size as i64),
                    &content_type,
                    &file_name,
                    &format,
                    &metadata,
                    &description,
                    &caller.user_id,
                    &caller.name,
                ],
            )?;
            let mut v = version_json(&project, &name, &row, true);
            audit_upload(&mut tx, &caller, &project, &name, &v, false, &addr)?;
            tx.commit()?;
            v["deduplicated"] = json!(false);
            Ok((StatusCode::CREATED, v))
        })
        .await?;
    Ok((status, Json(v)))
}

fn audit_upload(
    client: &mut impl postgres::GenericClient,
    caller: &Caller,
    project: &str,
    name: &str,
    v: &Value,
    deduplicated: bool,
    addr: &str,
) -> ApiResult<()> {
    audit(
        client,
        Some(caller),
        "dataset_upload",
        &format!("{project}/{name}@{}", v["version"]),
        json!({"sha256": v["sha256"], "size_bytes": v["size_bytes"], "format": v["format"], "deduplicated": deduplicated}),
        addr,
    )
}

/// `GET /projects/{p}/datasets` (viewer): every dataset with its latest version.
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let id = authorize(c.client(), &caller, &project, Action::Read, "read datasets")?;
            let rows = c.client().query(
                &format!(
                    "SELECT {}, d.name, (SELECT count(*) FROM dataset_versions x WHERE x.dataset_id = d.id)
                     FROM datasets d
                     JOIN LATERAL (SELECT * FROM dataset_versions y WHERE y.dataset_id = d.id
                                   ORDER BY y.version DESC LIMIT 1) v ON true
                     WHERE d.project_id = $1 ORDER BY d.name",
                    version_columns()
                ),
                &[&id],
            )?;
            let datasets: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let name: String = r.get(10);
                    json!({
                        "name": name,
                        "versions": r.get::<_, i64>(11),
                        "latest": version_json(&project, &name, r, false),
                    })
                })
                .collect();
            Ok(json!({"project": project, "datasets": datasets}))
        })
        .await?;
    Ok(Json(out))
}

/// `GET /projects/{p}/datasets/{name}` (viewer): the dataset's versions, oldest first.
pub async fn versions(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let id = authorize(c.client(), &caller, &project, Action::Read, "read datasets")?;
            let rows = c.client().query(
                &format!(
                    "SELECT {} FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
                     WHERE d.project_id = $1 AND d.name = $2 ORDER BY v.version",
                    version_columns()
                ),
                &[&id, &name],
            )?;
            if rows.is_empty() {
                return Err(no_dataset(&project, &name));
            }
            let versions: Vec<Value> = rows
                .iter()
                .map(|r| version_json(&project, &name, r, false))
                .collect();
            Ok(json!({"project": project, "dataset": name, "versions": versions}))
        })
        .await?;
    Ok(Json(out))
}

fn no_dataset(project: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("no dataset `{name}` in project `{project}`"))
}

/// A version number or `latest`.
fn parse_version(v: &str) -> ApiResult<Option<i32>> {
    if v == "latest" {
        return Ok(None);
    }
    v.parse::<i32>()
        .ok()
        .filter(|n| *n >= 1)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(format!("`{v}` is not a version"))
                .with_field("version")
                .with_hint("versions are 1, 2, ... or `latest`")
        })
}

fn find_version(
    client: &mut postgres::Client,
    project_id: i64,
    project: &str,
    name: &str,
    version: Option<i32>,
) -> ApiResult<postgres::Row> {
    client
        .query_opt(
            &format!(
                "SELECT {} FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
                 WHERE d.project_id = $1 AND d.name = $2 AND ($3::int4 IS NULL OR v.version = $3)
                 ORDER BY v.version DESC LIMIT 1",
                version_columns()
            ),
            &[&project_id, &name, &version],
        )?
        .ok_or_else(|| match version {
            Some(v) => ApiError::not_found(format!(
                "dataset `{name}` in project `{project}` has no version {v}"
            )),
            None => no_dataset(project, name),
        })
}

/// `GET /projects/{p}/datasets/{name}/versions/{v}` (viewer): one version
/// with its metadata (`v` may be `latest`).
pub async fn version(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name, v)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let version = parse_version(&v)?;
    let out = state
        .db
        .run(move |c| {
            let id = authorize(c.client(), &caller, &project, Action::Read, "read datasets")?;
            let row = find_version(c.client(), id, &project, &name, version)?;
            Ok(version_json(&project, &name, &row, true))
        })
        .await?;
    Ok(Json(out))
}

/// `POST .../versions/{v}/link` query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkQuery {
    /// Seconds the link works (default 600, at most `datasets.link_max_s`).
    pub expires_in: Option<u64>,
}

/// `POST /projects/{p}/datasets/{name}/versions/{v}/link?expires_in=600`
/// (viewer): a signed link that downloads the version without a token
/// until it expires.
pub async fn link(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, name, v)): Path<(String, String, String)>,
    Q(q): Q<LinkQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let version = parse_version(&v)?;
    let max = state.config.datasets.link_max_s;
    let expires_in = q.expires_in.unwrap_or(600);
    if expires_in == 0 || expires_in > max {
        return Err(
            ApiError::invalid(format!("expires_in must be between 1 and {max} seconds"))
                .with_field("expires_in")
                .with_hint("the longest a link may live is datasets.link_max_s"),
        );
    }
    let key = signing::signing_key(&state)?;
    let exp = now_s().saturating_add(expires_in);
    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| {
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|p| p.to_str().ok())
                .filter(|p| *p == "https" || *p == "http")
                .unwrap_or("http");
            format!("{scheme}://{host}")
        });
    let out = state
        .db
        .run(move |c| {
            let id = authorize(
                c.client(),
                &caller,
                &project,
                Action::Read,
                "download datasets",
            )?;
            let row = find_version(c.client(), id, &project, &name, version)?;
            let (number, sha, file_name): (i32, String, String) =
                (row.get(0), row.get(1), row.get(4));
            let sig = signing::sign(&key, &sha, exp, &file_name)?;
            let path = format!(
                "/api/v1/blobs/{sha}?exp={exp}&name={}&sig={sig}",
                url_encode(&file_name)
            );
            let expires_at: String = c
                .client()
                .query_one(
                    &format!("SELECT {}", ts_sql("to_timestamp($1::float8)")),
                    &[&(exp as f64)],
                )?
                .get(0);
            audit(
                c.client(),
                Some(&caller),
                "dataset_link",
                &format!("{project}/{name}@{number}"),
                json!({"sha256": sha, "expires_at": expires_at}),
                &addr,
            )?;
            Ok(json!({
                "project": project,
                "dataset": name,
                "version": number,
                "sha256": sha,
                "url": base.map(|b| format!("{b}{path}")).unwrap_or_else(|| path.clone()),
                "path": path,
                "exp": exp,
                "expires_at": expires_at,
            }))
        })
        .await?;
    Ok(Json(out))
}

/// `GET /blobs/{sha}` query: what a signed link carries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobQuery {
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// File name to download as.
    pub name: String,
    /// HMAC-SHA256 signature, hex.
    pub sig: String,
}

/// `GET /blobs/{sha}?exp=&name=&sig=` (no token: the signature is the
/// permission): the blob's bytes, streamed.
pub async fn blob(
    State(state): State<Shared>,
    Path(sha): Path<String>,
    Q(q): Q<BlobQuery>,
) -> ApiResult<Response> {
    if sha.len() != 64
        || !sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(
            ApiError::forbidden("this download link is not valid").with_hint("ask for a new link")
        );
    }
    let key = signing::signing_key(&state)?;
    signing::verify(&key, &sha, q.exp, &q.name, &q.sig, now_s())?;
    let storage = storage_for(&state.config)?;
    let Some((size, stream)) = storage.get(&sha).await? else {
        return Err(ApiError::not_found(
            "the dataset content is gone from storage",
        ));
    };
    let ascii: String = q
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        url_encode(&q.name)
    );
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha}\"")) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_versions() {
        assert!(check_file_name("mesh.vtu").is_ok());
        assert!(check_file_name("données 1.csv").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\nb",
            "a\"b",
            &"x".repeat(256),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_version("latest").unwrap(), None);
        assert_eq!(parse_version("3").unwrap(), Some(3));
        for bad in ["0", "-1", "v2", ""] {
            assert_eq!(
                parse_version(bad).unwrap_err().field.as_deref(),
                Some("version")
            );
        }
    }
}
