//! One ingestion batch, applied in one transaction.
//!
//! 1. The plan is looked up (cached, see [`super::plan`]) and the key checked
//!    against the batches already applied: a key seen for this study returns
//!    the stored answer (`replayed: true`) and changes nothing; the same key
//!    with another body is a conflict.
//! 2. Records are checked and matched to server runs in memory, before the
//!    transaction opens, so it stays short.
//! 3. In the transaction: the batch row is inserted first (a concurrent
//!    request with the same key waits on it and then replays), then one
//!    `UPDATE runs ... FROM unnest(...)` writes every valid record whose run
//!    has not succeeded (a success replaces a failure; a failure replaces an
//!    older failure; an identical outcome is a duplicate) and records the
//!    attempt, one `INSERT ... unnest` writes the quarantine, and the batch
//!    row gets its counts and answer. Counters and the audit log follow.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use simforge_exec::remote::push::{IngestReply, MAX_BATCH, Quarantined};

use super::plan::{Mismatch, StudyPlan};
use super::validate::{Checked, Rejected, check};
use super::{INGEST_BATCHES, INGESTED_RESULTS, QUARANTINED_RECORDS};
use crate::api::audit;
use crate::api::studies::study_key;
use crate::auth::{Action, Caller, authorize};
use crate::db::{Conn, bump};
use crate::error::{ApiError, ApiResult};

/// Where a batch goes and who sends it.
pub struct BatchRequest<'a> {
    /// Project name.
    pub project: &'a str,
    /// Study name.
    pub study: &'a str,
    /// The `Idempotency-Key`.
    pub key: &'a str,
    /// The raw JSON body.
    pub body: &'a [u8],
    /// The caller.
    pub caller: &'a Caller,
    /// The caller's address, for the audit log.
    pub addr: &'a str,
    /// The database schema (the plan cache is per schema).
    pub schema: &'a str,
    /// The server's storage directory (scratch for parsing studies).
    pub storage: &'a Path,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// Checks an idempotency key: 8 to 128 characters of `[A-Za-z0-9._:-]`.
pub fn check_key(key: &str) -> ApiResult<()> {
    let ok = (8..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid("the Idempotency-Key must be 8 to 128 characters of letters, digits, `.`, `_`, `:` and `-`")
            .with_field("Idempotency-Key")
            .with_hint("name each batch with a key derived from its contents (simforge push uses a hash)"))
    }
}

/// A stored answer, replayed.
fn replay(response: Value) -> ApiResult<IngestReply> {
    let mut reply: IngestReply = serde_json::from_value(response)
        .map_err(|e| ApiError::internal(format!("a stored batch answer is unreadable: {e}")))?;
    reply.replayed = true;
    Ok(reply)
}

/// The stored answer for `key`, if the batch was applied (409 if with another body).
fn stored(
    client: &mut impl postgres::GenericClient,
    plan_key: &str,
    incarnation: &str,
    key: &str,
    body_hash: &str,
) -> ApiResult<Option<IngestReply>> {
    let row = client.query_opt(
        "SELECT body_hash, response FROM ingest_batches WHERE study = $1 AND incarnation = $2 AND key = $3",
        &[&plan_key, &incarnation, &key],
    )?;
    let Some(row) = row else { return Ok(None) };
    let hash: String = row.get(0);
    if hash != body_hash {
        return Err(ApiError::conflict(format!(
            "batch key `{key}` was already used for a different batch of this study"
        ))
        .with_field("Idempotency-Key")
        .with_hint(
            "use a new key for new contents; resend a batch only with exactly its original body",
        ));
    }
    let response: Option<Value> = row.get(1);
    response
        .map(replay)
        .transpose()?
        .map(Some)
        .ok_or_else(|| ApiError::internal("a stored batch has no answer"))
}

/// A record matched to its server run.
struct Matched<'p> {
    run_id: &'p str,
    rec: Checked,
}

/// Applies one batch; see the module docs.
pub fn ingest(conn: &mut Conn, req: &BatchRequest<'_>) -> ApiResult<IngestReply> {
    authorize(
        conn.client(),
        req.caller,
        req.project,
        Action::Submit,
        "ingest results",
    )?;
    check_key(req.key)?;
    let key = study_key(req.project, req.study);
    let version = super::plan::version(conn, &key)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no study `{}` in project `{}`",
            req.study, req.project
        ))
        .with_hint("register it first: PUT .../studies/{name}/source (simforge push does)")
    })?;
    if version.state != "external" {
        return Err(ApiError::conflict(format!(
            "study `{key}` was submitted for the server's workers; only a study registered for ingestion takes pushed results"
        ))
        .with_hint("push under another study name, or delete this study first"));
    }
    let body_hash = simforge_core::study::short_hash(req.body, 64);
    if let Some(r) = stored(
        conn.client(),
        &key,
        &version.incarnation,
        req.key,
        &body_hash,
    )? {
        return Ok(r);
    }
    let body: Body<'_> = serde_json::from_slice(req.body).map_err(|e| {
        ApiError::invalid(format!("the body is not a batch: {e}"))
            .with_field("body")
            .with_hint("send {\"records\": [...]}, each record as in docs/server.md; NaN and infinity are not JSON")
    })?;
    if body.records.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "a batch holds at most {MAX_BATCH} records, not {}",
            body.records.len()
        ))
        .with_field("records")
        .with_hint("split it (simforge push --batch N)"));
    }
    let plan = super::plan::plan(conn, req.schema, req.storage, &version)?;
    let (matched, rejected) = sort_records(&plan, &body.records);

    let records = body.records.len() as i32;
    let mut tx = conn.client().transaction()?;
    let fresh = tx.execute(
        "INSERT INTO ingest_batches (study, incarnation, key, body_hash, user_id, records)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        &[
            &key,
            &plan.incarnation,
            &req.key,
            &body_hash,
            &req.caller.user_id,
            &records,
        ],
    )?;
    if fresh == 0 {
        // A concurrent request with this key committed first.
        drop(tx);
        return stored(
            conn.client(),
            &key,
            &version.incarnation,
            req.key,
            &body_hash,
        )?
        .ok_or_else(|| ApiError::unavailable("a concurrent batch with this key is in flight"));
    }
    let accepted = upsert(&mut tx, &key, &matched)?;

    quarantine(
        &mut tx,
        &key,
        &plan.incarnation,
        req.key,
        &body.records,
        &rejected,
    )?;
    let duplicates = matched.len() as u64 - accepted;
    let reply = IngestReply {
        batch: req.key.to_string(),
        records: body.records.len() as u64,
        accepted,
        duplicates,
        quarantined: rejected
            .iter()
            .map(|r| Quarantined {
                position: r.position,
                index: r.index,
                replicate: r.replicate,
                reason: r.reason.clone(),
                field: r.field.clone(),
            })
            .collect(),
        replayed: false,
    };
    let response = serde_json::to_value(&reply)
        .map_err(|e| ApiError::internal(format!("encoding the answer: {e}")))?;
    tx.execute(
        "UPDATE ingest_batches SET accepted = $4, duplicates = $5, quarantined = $6, response = $7
         WHERE study = $1 AND incarnation = $2 AND key = $3",
        &[
            &key,
            &plan.incarnation,
            &req.key,
            &(accepted as i32),
            &(duplicates as i32),
            &(rejected.len() as i32),
            &response,
        ],
    )?;
    bump(&mut tx, INGESTED_RESULTS, accepted as i64)?;
    bump(&mut tx, QUARANTINED_RECORDS, rejected.len() as i64)?;
    bump(&mut tx, INGEST_BATCHES, 1)?;
    audit(
        &mut tx,
        Some(req.caller),
        "ingest_batch",
        &key,
        json!({"batch": req.key, "records": records, "accepted": accepted, "duplicates": duplicates,
               "quarantined": rejected.len()}),
        req.addr,
    )?;
    tx.commit()?;
    Ok(reply)
}

/// Checks every record and matches the valid ones to server runs; a second
/// record for the same run in one batch is quarantined.
fn sort_records<'p>(plan: &'p StudyPlan, raws: &[&RawValue]) -> (Vec<Matched<'p>>, Vec<Rejected>) {
    let mut matched: Vec<Matched<'p>> = Vec::with_capacity(raws.len());
    let mut rejected = Vec::new();
    let mut seen: HashMap<&'p str, u32> = HashMap::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let position = i as u32;
        let rec = match check(raw, position, &plan.rules) {
            Ok(r) => r,
            Err(r) => {
                rejected.push(r);
                continue;
            }
        };
        let at = |reason: String, field: Option<&str>| {
            Rejected::new(
                position,
                Some(rec.index),
                Some(rec.replicate),
                reason,
                field.map(str::to_string),
            )
        };
        match plan.run_for(rec.index, rec.replicate, &rec.coords, rec.seed) {
            Ok(run_id) => {
                if let Some(first) = seen.insert(run_id, position) {
                    rejected.push(at(
                        format!("the same run as record {first} of this batch (design index {}, replicate {})", rec.index, rec.replicate),
                        Some("index"),
                    ));
                    continue;
                }
                matched.push(Matched { run_id, rec });
            }
            Err(Mismatch::NoRun) => rejected.push(at(
                format!(
                    "no run of the server's plan (spec {}) is at design index {}, replicate {}",
                    plan.spec_hash, rec.index, rec.replicate
                ),
                Some("index"),
            )),
            Err(Mismatch::Params) => rejected.push(at(
                format!(
                    "the parameters differ from those of the planned run at design index {}, replicate {} (spec {}): was the study changed after this run?",
                    rec.index, rec.replicate, plan.spec_hash
                ),
                Some("params"),
            )),
            Err(Mismatch::Seed { planned }) => rejected.push(at(
                format!(
                    "seed {} differs from the planned run's seed {planned} at design index {}, replicate {}",
                    rec.seed, rec.index, rec.replicate
                ),
                Some("seed"),
            )),
        }
    }
    rejected.sort_by_key(|r| r.position);
    (matched, rejected)
}

/// Writes matched records into `runs` and `attempts`; returns how many runs
/// changed.
fn upsert(
    tx: &mut postgres::Transaction<'_>,
    study: &str,
    matched: &[Matched<'_>],
) -> ApiResult<u64> {
    if matched.is_empty() {
        return Ok(0);
    }
    let n = matched.len();
    let mut id = Vec::with_capacity(n);
    let mut state = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut reason = Vec::with_capacity(n);
    let mut metrics: Vec<Option<postgres::types::Json<&Map<String, Value>>>> =
        Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut finished = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut host = Vec::with_capacity(n);
    let mut spec = Vec::with_capacity(n);
    let mut exit = Vec::with_capacity(n);
    for m in matched {
        let r = &m.rec;
        id.push(m.run_id);
        state.push(r.state);
        attempts.push(r.attempts);
        reason.push(r.reason.as_deref());
        metrics.push((!r.metrics.is_empty()).then_some(postgres::types::Json(&r.metrics)));
        started.push(r.started_at.as_str());
        finished.push(r.finished_at.as_str());
        duration.push(r.duration_s);
        host.push(r.host.as_str());
        spec.push(r.spec_hash.as_str());
        exit.push(r.exit_code);
    }
    // One statement. `r.id = ANY($2)` lets the planner reach the runs by
    // their primary key whatever it estimates for unnest; the attempts come
    // from RETURNING, so no second join over the batch is needed.
    let changed = tx.execute(
        "WITH upd AS (
             UPDATE runs AS r SET state = u.state, attempts = u.attempts, reason = u.reason, metrics = u.metrics,
                 started_at = u.started_at, finished_at = u.finished_at, duration_s = u.duration_s,
                 host = u.host, spec_hash = u.spec_hash, job = NULL
             FROM unnest($2::text[], $3::text[], $4::int8[], $5::text[], $6::jsonb[], $7::text[],
                         $8::text[], $9::float8[], $10::text[], $11::text[], $12::int8[])
               AS u(id, state, attempts, reason, metrics, started_at, finished_at, duration_s, host, spec_hash, exit_code)
             WHERE r.id = ANY($2::text[]) AND r.id = u.id AND r.study = $1 AND r.state <> 'succeeded'
               AND (r.state NOT IN ('failed', 'timed_out', 'cancelled') OR u.state = 'succeeded'
                    OR r.finished_at IS DISTINCT FROM u.finished_at)
             RETURNING r.id, u.attempts, u.state, u.started_at, u.finished_at, u.duration_s, u.exit_code, u.reason, u.host
         )
         INSERT INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, exit_code, reason, host)
         SELECT * FROM upd
         ON CONFLICT (run_id, attempt) DO UPDATE SET state = excluded.state, started_at = excluded.started_at,
           finished_at = excluded.finished_at, duration_s = excluded.duration_s, exit_code = excluded.exit_code,
           signal = NULL, reason = excluded.reason, host = excluded.host, max_rss_kb = NULL",
        &[&study, &id, &state, &attempts, &reason, &metrics, &started, &finished, &duration, &host, &spec, &exit],
    )?;
    Ok(changed)
}

/// Writes rejected records, each with its raw JSON, reason and field.
fn quarantine(
    tx: &mut postgres::Transaction<'_>,
    study: &str,
    incarnation: &str,
    key: &str,
    raws: &[&RawValue],
    rejected: &[Rejected],
) -> ApiResult<()> {
    if rejected.is_empty() {
        return Ok(());
    }
    let position: Vec<i32> = rejected.iter().map(|r| r.position as i32).collect();
    let index: Vec<Option<i64>> = rejected
        .iter()
        .map(|r| r.index.and_then(|i| i64::try_from(i).ok()))
        .collect();
    let replicate: Vec<Option<i64>> = rejected
        .iter()
        .map(|r| r.replicate.map(i64::from))
        .collect();
    let record: Vec<&str> = rejected
        .iter()
        .map(|r| {
            raws.get(r.position as usize)
                .map(|raw| raw.get())
                .unwrap_or("null")
        })
        .collect();
    let reason: Vec<&str> = rejected.iter().map(|r| r.reason.as_str()).collect();
    let field: Vec<Option<&str>> = rejected.iter().map(|r| r.field.as_deref()).collect();
    tx.execute(
        "INSERT INTO ingest_quarantine (study, incarnation, batch_key, position, design_index, replicate, record, reason, field)
         SELECT $1, $2, $3, q.* FROM unnest($4::int4[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[])
           AS q(position, design_index, replicate, record, reason, field)",
        &[&study, &incarnation, &key, &position, &index, &replicate, &record, &reason, &field],
    )?;
    Ok(())
}
