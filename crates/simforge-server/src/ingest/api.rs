//! The ingestion endpoints: register an external study, post a batch, and
//! read the quarantine and the applied batches.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use simforge_exec::remote::push::{IDEMPOTENCY_HEADER, IngestReply};

use super::batch::{BatchRequest, ingest as apply_batch};
use crate::api::studies::{Submission, study_key, submit_as};
use crate::api::{ClientAddr, J, Page, Q};
use crate::auth::{Action, Caller, authorize};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Only the study's name, read before the full check.
#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

/// `PUT /projects/{p}/studies/{name}/source` (member): registers a study for
/// ingestion. The body is a submission (`{source, source_name?, files?}`);
/// the study is checked and planned like one, but marked `external`, so its
/// runs are never queued for workers. Registering again with the same file
/// changes nothing; with a changed file, it re-plans (like a resubmission).
pub async fn register(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, name)): Path<(String, String)>,
    J(sub): J<Submission>,
) -> ApiResult<Json<Value>> {
    let declared = serde_saphyr::from_str::<NameOnly>(&sub.source)
        .map_err(|e| {
            ApiError::invalid(format!("cannot read the study's name: {e}"))
                .with_field("source")
                .with_hint("`simforge check STUDY` shows the errors locally")
        })?
        .name;
    if declared != name {
        return Err(ApiError::invalid(format!(
            "the study file names study `{declared}`, but it is registered as `{name}`"
        ))
        .with_field("name")
        .with_hint("register the study under the name its file declares"));
    }
    let storage = state.config.storage.path.clone();
    let out = state
        .db
        .run(move |c| {
            let key = study_key(&project, &name);
            let existing: Option<String> = c
                .client()
                .query_opt("SELECT state FROM server_studies WHERE key = $1", &[&key])?
                .map(|r| r.get(0));
            if let Some(st) = existing
                && st != "external"
            {
                // Authorise first, so a stranger learns nothing of the study.
                authorize(c.client(), &caller, &project, Action::Submit, "register studies")?;
                return Err(ApiError::conflict(format!(
                    "study `{key}` was submitted for the server's workers (state {st}); it cannot take pushed results"
                ))
                .with_hint("push under another study name, or delete this study first"));
            }
            let out = submit_as(c, &storage, &caller, &project, sub, &addr, "external")?;
            // Batches and quarantine of an earlier incarnation (a study deleted
            // and registered again) are answers about data that is gone.
            c.client().execute(
                "WITH cur AS (SELECT created_at FROM studies WHERE name = $1),
                      b AS (DELETE FROM ingest_batches WHERE study = $1 AND incarnation <> (SELECT created_at FROM cur))
                 DELETE FROM ingest_quarantine WHERE study = $1 AND incarnation <> (SELECT created_at FROM cur)",
                &[&key],
            )?;
            // Fresh statistics for the runs just planned, so that the batches
            // that follow are planned against the table as it now is.
            if out["new"].as_u64().unwrap_or(0) > 1000 {
                c.client().batch_execute("ANALYZE runs")?;
            }
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}

/// `POST /projects/{p}/studies/{name}/ingest` (member) with an
/// `Idempotency-Key` header and `{"records": [...]}`: applies one batch
/// (see [`super::batch`]).
pub async fn ingest(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
    Path((project, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<IngestReply>> {
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .ok_or_else(|| {
            ApiError::invalid("a batch needs an Idempotency-Key header")
                .with_field(IDEMPOTENCY_HEADER)
                .with_hint("name each batch with a key derived from its contents, and resend it with the same key")
        })?
        .to_str()
        .map_err(|_| ApiError::invalid("the Idempotency-Key is not text").with_field(IDEMPOTENCY_HEADER))?
        .to_string();
    let schema = state.config.database.schema.clone();
    let storage = state.config.storage.path.clone();
    let reply = state
        .db
        .run(move |c| {
            apply_batch(
                c,
                &BatchRequest {
                    project: &project,
                    study: &name,
                    key: &key,
                    body: &body,
                    caller: &caller,
                    addr: &addr,
                    schema: &schema,
                    storage: &storage,
                },
            )
        })
        .await?;
    Ok(Json(reply))
}

/// `GET .../quarantine` filters: paging and one batch.
#[derive(Debug, Deserialize)]
pub struct QuarantineQuery {
    /// Rows per page.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
    /// Only records of this batch.
    pub batch: Option<String>,
}

/// The external study's key and incarnation, after a read check.
fn readable_study(
    c: &mut crate::db::Conn,
    caller: &Caller,
    project: &str,
    name: &str,
) -> ApiResult<(String, String)> {
    authorize(c.client(), caller, project, Action::Read, "read studies")?;
    let key = study_key(project, name);
    let v = super::plan::version(c, &key)?
        .ok_or_else(|| ApiError::not_found(format!("no study `{name}` in project `{project}`")))?;
    Ok((key, v.incarnation))
}

/// `GET /projects/{p}/studies/{name}/quarantine?limit=&offset=&batch=`
/// (viewer): quarantined records, oldest first, each with its batch,
/// position, design position, reason, field and the record as sent.
pub async fn quarantine(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<QuarantineQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds();
    let out = state
        .db
        .run(move |c| {
            let (key, inc) = readable_study(c, &caller, &project, &name)?;
            let total: i64 = c
                .client()
                .query_one(
                    "SELECT count(*) FROM ingest_quarantine WHERE study = $1 AND incarnation = $2
                       AND ($3::text IS NULL OR batch_key = $3)",
                    &[&key, &inc, &q.batch],
                )?
                .get(0);
            let rows = c.client().query(
                "SELECT id, batch_key, position, design_index, replicate, record, reason, field, received_at::text
                 FROM ingest_quarantine WHERE study = $1 AND incarnation = $2 AND ($3::text IS NULL OR batch_key = $3)
                 ORDER BY id LIMIT $4 OFFSET $5",
                &[&key, &inc, &q.batch, &limit, &offset],
            )?;
            let items: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let text: String = r.get(5);
                    let record: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    json!({"id": r.get::<_, i64>(0), "batch": r.get::<_, String>(1), "position": r.get::<_, i32>(2),
                           "index": r.get::<_, Option<i64>>(3), "replicate": r.get::<_, Option<i64>>(4),
                           "reason": r.get::<_, String>(6), "field": r.get::<_, Option<String>>(7),
                           "received_at": r.get::<_, String>(8), "record": record})
                })
                .collect();
            Ok(json!({"study": key, "total": total, "quarantined": items}))
        })
        .await?;
    Ok(Json(out))
}

/// `GET /projects/{p}/studies/{name}/batches?limit=&offset=` (viewer):
/// applied batches, newest first, with their counts.
pub async fn batches(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(page): Q<Page>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = page.bounds();
    let out = state
        .db
        .run(move |c| {
            let (key, inc) = readable_study(c, &caller, &project, &name)?;
            let row = c.client().query_one(
                "SELECT count(*), coalesce(sum(records), 0)::int8, coalesce(sum(accepted), 0)::int8,
                        coalesce(sum(duplicates), 0)::int8, coalesce(sum(quarantined), 0)::int8
                 FROM ingest_batches WHERE study = $1 AND incarnation = $2",
                &[&key, &inc],
            )?;
            let rows = c.client().query(
                "SELECT b.key, b.records, b.accepted, b.duplicates, b.quarantined, b.received_at::text, u.name
                 FROM ingest_batches b LEFT JOIN users u ON u.id = b.user_id
                 WHERE b.study = $1 AND b.incarnation = $2
                 ORDER BY b.received_at DESC, b.key LIMIT $3 OFFSET $4",
                &[&key, &inc, &limit, &offset],
            )?;
            let items: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({"batch": r.get::<_, String>(0), "records": r.get::<_, i32>(1), "accepted": r.get::<_, i32>(2),
                           "duplicates": r.get::<_, i32>(3), "quarantined": r.get::<_, i32>(4),
                           "received_at": r.get::<_, String>(5), "user": r.get::<_, Option<String>>(6)})
                })
                .collect();
            Ok(json!({"study": key,
                      "totals": {"batches": row.get::<_, i64>(0), "records": row.get::<_, i64>(1),
                                 "accepted": row.get::<_, i64>(2), "duplicates": row.get::<_, i64>(3),
                                 "quarantined": row.get::<_, i64>(4)},
                      "batches": items}))
        })
        .await?;
    Ok(Json(out))
}
