//! The reporting API: study metric summaries, simulator-days and host-days,
//! each with its data freshness (`last_updated`, `lag_s`); the ETL log,
//! rejects and an on-demand run for server administrators.
//!
//! Visibility of the cross-project reports: a server administrator sees
//! every row; anyone else with the read scope sees a simulator-day or
//! host-day row when at least one attempt counted in it belongs to a study of
//! a project they are a member of. The numbers in a visible row are the
//! server-wide aggregate (the simulator's or host's performance), so queue
//! and host names a caller never dealt with do not leak, while shared
//! queues and hosts show their real load.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{Days, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::jobs::{self, EtlReport, TABLES, Trigger, kinds_of, ts_sql};
use crate::api::studies::study_key;
use crate::api::{ClientAddr, Page, Q, audit};
use crate::auth::{Action, Caller, Role, authorize};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Days a report covers when `from` is not given.
const DEFAULT_DAYS: u64 = 30;

/// `last_updated` (RFC 3339, None before the first run) and `lag_s` of a
/// reporting table: the age of the oldest raw change the table does not
/// reflect yet, 0 when it is up to date.
pub fn freshness(
    client: &mut impl postgres::GenericClient,
    table: &str,
) -> ApiResult<(Option<String>, f64)> {
    let kinds: Vec<String> = kinds_of(table).iter().map(|k| k.to_string()).collect();
    let row = client.query_opt(
        &format!(
            "SELECT {}, coalesce((SELECT extract(epoch FROM now() - min(at))::float8
                                  FROM etl_changes WHERE kind = ANY($2)), 0)
             FROM etl_state WHERE report = $1",
            ts_sql("last_updated")
        ),
        &[&table, &kinds],
    )?;
    Ok(row
        .map(|r| (r.get(0), r.get::<_, f64>(1).max(0.0)))
        .unwrap_or((None, 0.0)))
}

/// `GET /reports/studies/{project}/{name}` (viewer): the study's metric summaries.
pub async fn study_report(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let client = c.client();
            authorize(client, &caller, &project, Action::Read, "read reports")?;
            let key = study_key(&project, &name);
            if client
                .query_opt("SELECT 1 FROM server_studies WHERE key = $1", &[&key])?
                .is_none()
            {
                return Err(ApiError::not_found(format!(
                    "no study `{name}` in project `{project}`"
                )));
            }
            let rows = client.query(
                &format!(
                    "SELECT metric, n, mean, stddev, min, p5, p25, p50, p75, p95, max, {}
                     FROM report_study_metric WHERE study = $1 ORDER BY metric",
                    ts_sql("last_updated")
                ),
                &[&key],
            )?;
            let metrics: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "metric": r.get::<_, String>(0),
                        "n": r.get::<_, i64>(1),
                        "mean": r.get::<_, f64>(2),
                        "stddev": r.get::<_, Option<f64>>(3),
                        "min": r.get::<_, f64>(4),
                        "p5": r.get::<_, f64>(5),
                        "p25": r.get::<_, f64>(6),
                        "p50": r.get::<_, f64>(7),
                        "p75": r.get::<_, f64>(8),
                        "p95": r.get::<_, f64>(9),
                        "max": r.get::<_, f64>(10),
                        "last_updated": r.get::<_, String>(11),
                    })
                })
                .collect();
            let rejected: i64 = client
                .query_one(
                    "SELECT count(*) FROM etl_rejects WHERE source = 'runs' AND study = $1",
                    &[&key],
                )?
                .get(0);
            let (last_updated, lag_s) = freshness(client, "report_study_metric")?;
            Ok(json!({
                "project": project,
                "study": name,
                "metrics": metrics,
                "rejected_runs": rejected,
                "last_updated": last_updated,
                "lag_s": lag_s,
            }))
        })
        .await?;
    Ok(Json(out))
}

/// `GET /reports/simulators` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorQuery {
    /// First day, `YYYY-MM-DD` (UTC); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default: today (UTC).
    pub to: Option<String>,
    /// Only this queue (simulator).
    pub queue: Option<String>,
}

/// `GET /reports/hosts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostQuery {
    /// First day, `YYYY-MM-DD` (UTC); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default: today (UTC).
    pub to: Option<String>,
    /// Only this host.
    pub host: Option<String>,
}

fn parse_day(text: &str, field: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
        ApiError::invalid(format!("`{text}` is not a date ({e})"))
            .with_field(field)
            .with_hint("write days as YYYY-MM-DD (UTC)")
    })
}

/// The day range of a query: `from..=to` as `YYYY-MM-DD` strings.
fn day_range(from: Option<&str>, to: Option<&str>) -> ApiResult<(String, String)> {
    let to = match to {
        Some(t) => parse_day(t, "to")?,
        None => Utc::now().date_naive(),
    };
    let from = match from {
        Some(f) => parse_day(f, "from")?,
        None => to
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(to),
    };
    if from > to {
        return Err(
            ApiError::invalid(format!("`from` ({from}) is after `to` ({to})")).with_field("from"),
        );
    }
    Ok((from.to_string(), to.to_string()))
}

/// How one reporting table is served: its rows per key (simulator queue or
/// host) and day, visible to a caller when one of their projects has facts
/// for that key and day.
struct Report {
    /// The table.
    table: &'static str,
    /// Its key column (also the column of `etl_attempt_facts` it matches).
    key: &'static str,
    /// Its value columns, in the answer's order.
    columns: &'static [(&'static str, Kind)],
}

/// A value column's SQL type.
#[derive(Clone, Copy)]
enum Kind {
    /// BIGINT.
    Count,
    /// DOUBLE PRECISION, never null.
    Real,
    /// DOUBLE PRECISION, null when undefined (a rate of no runs).
    MaybeReal,
}

/// `report_simulator_day`.
const SIMULATOR_DAYS: Report = Report {
    table: "report_simulator_day",
    key: "queue",
    columns: &[
        ("runs", Kind::Count),
        ("succeeded", Kind::Count),
        ("failed", Kind::Count),
        ("cancelled", Kind::Count),
        ("failure_rate", Kind::MaybeReal),
        ("duration_p50", Kind::MaybeReal),
        ("duration_p90", Kind::MaybeReal),
        ("duration_p99", Kind::MaybeReal),
        ("busy_s", Kind::Real),
        ("runs_per_hour", Kind::Real),
    ],
};

/// `report_host_day`.
const HOST_DAYS: Report = Report {
    table: "report_host_day",
    key: "host",
    columns: &[
        ("runs", Kind::Count),
        ("succeeded", Kind::Count),
        ("failed", Kind::Count),
        ("cancelled", Kind::Count),
        ("busy_s", Kind::Real),
        ("mean_duration_s", Kind::Real),
    ],
};

impl Report {
    /// The rows of days `from..=to` (one key when `only` is set) that
    /// `caller` may see, from the row cache while the table is unchanged,
    /// with the table's freshness.
    async fn serve(
        &'static self,
        state: &Shared,
        caller: Caller,
        (from, to): (String, String),
        only: Option<String>,
    ) -> ApiResult<Value> {
        let schema = state.config.database.schema.clone();
        state
            .db
            .run(move |c| {
                let client = c.client();
                let version = super::cache::version(client, self.table)?;
                let who = if caller.is_admin { "*".to_string() } else { caller.user_id.to_string() };
                let key = format!("{schema}|{}|{from}|{to}|{only:?}|{who}", self.table);
                let (rows, cached) = super::cache::rows(key, version, || {
                    let values: Vec<String> = self.columns.iter().map(|(c, _)| format!("r.{c}")).collect();
                    // Names are this module's constants, never input.
                    let sql = format!(
                        "SELECT r.{key}, r.day::text, {values}, {updated}
                         FROM {table} r
                         WHERE r.day BETWEEN $1::text::date AND $2::text::date AND ($3::text IS NULL OR r.{key} = $3)
                           AND ($4 OR EXISTS (
                               SELECT 1 FROM etl_attempt_facts f
                               JOIN memberships m ON m.project_id = f.project_id AND m.user_id = $5
                               WHERE f.{key} = r.{key} AND f.day = r.day))
                         ORDER BY r.day, r.{key}",
                        key = self.key,
                        table = self.table,
                        values = values.join(", "),
                        updated = ts_sql("r.last_updated"),
                    );
                    let rows = client.query(&sql, &[&from, &to, &only, &caller.is_admin, &caller.user_id])?;
                    let rows: Vec<Value> = rows
                        .iter()
                        .map(|r| {
                            let mut row = serde_json::Map::new();
                            row.insert(self.key.into(), json!(r.get::<_, String>(0)));
                            row.insert("day".into(), json!(r.get::<_, String>(1)));
                            for (k, (name, kind)) in self.columns.iter().enumerate() {
                                let v = match kind {
                                    Kind::Count => json!(r.get::<_, i64>(k + 2)),
                                    Kind::Real => json!(r.get::<_, f64>(k + 2)),
                                    Kind::MaybeReal => json!(r.get::<_, Option<f64>>(k + 2)),
                                };
                                row.insert((*name).into(), v);
                            }
                            row.insert(
                                "last_updated".into(),
                                json!(r.get::<_, String>(self.columns.len() + 2)),
                            );
                            Value::Object(row)
                        })
                        .collect();
                    Ok(Value::Array(rows))
                })?;
                let (last_updated, lag_s) = freshness(client, self.table)?;
                Ok(json!({"from": from, "to": to, "rows": *rows, "last_updated": last_updated,
                          "lag_s": lag_s, "cached": cached}))
            })
            .await
    }
}

/// `GET /reports/simulators?from=&to=&queue=` (any reader): runs, failure
/// rate, run-time percentiles and throughput per simulator queue and day.
pub async fn simulators(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<SimulatorQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "read reports")?;
    let range = day_range(q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(
        SIMULATOR_DAYS.serve(&state, caller, range, q.queue).await?,
    ))
}

/// `GET /reports/hosts?from=&to=&host=` (any reader): attempts, failures,
/// busy seconds and mean duration per host and day.
pub async fn hosts(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<HostQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(Some(Role::Viewer), Action::Read, "read reports")?;
    let range = day_range(q.from.as_deref(), q.to.as_deref())?;
    Ok(Json(HOST_DAYS.serve(&state, caller, range, q.host).await?))
}

/// `GET /etl/runs?limit=&offset=` (server admin): each table's freshness and
/// the ETL log, newest first.
pub async fn runs(
    State(state): State<Shared>,
    caller: Caller,
    Q(page): Q<Page>,
) -> ApiResult<Json<Value>> {
    caller.require_server_admin("read the ETL log")?;
    let (limit, offset) = page.bounds();
    let out = state
        .db
        .run(move |c| {
            let client = c.client();
            let mut tables = Vec::new();
            for table in TABLES {
                let (last_updated, lag_s) = freshness(client, table)?;
                let kinds: Vec<String> = kinds_of(table).iter().map(|k| k.to_string()).collect();
                let pending: i64 = client
                    .query_one(
                        "SELECT count(*) FROM etl_changes WHERE kind = ANY($1)",
                        &[&kinds],
                    )?
                    .get(0);
                tables.push(json!({
                    "table": table,
                    "last_updated": last_updated,
                    "lag_s": lag_s,
                    "pending_changes": pending,
                }));
            }
            let rows = client.query(
                &format!(
                    "SELECT id, trigger, {}, {}, status, tables, error FROM etl_runs
                     ORDER BY id DESC LIMIT $1 OFFSET $2",
                    ts_sql("started_at"),
                    ts_sql("finished_at")
                ),
                &[&limit, &offset],
            )?;
            let runs: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.get::<_, i64>(0),
                        "trigger": r.get::<_, String>(1),
                        "started_at": r.get::<_, Option<String>>(2),
                        "finished_at": r.get::<_, Option<String>>(3),
                        "status": r.get::<_, String>(4),
                        "tables": r.get::<_, Value>(5),
                        "error": r.get::<_, Option<String>>(6),
                    })
                })
                .collect();
            Ok(json!({"tables": tables, "runs": runs}))
        })
        .await?;
    Ok(Json(out))
}

/// `POST /etl/run` (server admin): runs the ETL now and returns its report
/// (waits up to a minute for a run in progress; 409 after that).
pub async fn run(
    State(state): State<Shared>,
    caller: Caller,
    ClientAddr(addr): ClientAddr,
) -> ApiResult<Json<EtlReport>> {
    caller.require_server_admin("run the ETL")?;
    let report = state
        .db
        .run(move |c| {
            let report = jobs::run_now_logged(c, Trigger::Api)?;
            audit(
                c.client(),
                Some(&caller),
                "etl_run",
                "etl",
                json!({"run": report.id, "status": report.status}),
                &addr,
            )?;
            Ok(report)
        })
        .await?;
    jobs::failed_as_error(report).map(Json)
}

/// `GET /etl/rejects` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectQuery {
    /// `runs` or `attempts`.
    pub source: Option<String>,
    /// Only this reason (`bad_duration`, `missing_metrics`, ...).
    pub reason: Option<String>,
    /// Only this study (`project/name`).
    pub study: Option<String>,
    /// Rows per page (default 100, at most 10 000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// `GET /etl/rejects?source=&reason=&study=` (server admin): raw records the
/// reports exclude, with the reason, newest first.
pub async fn rejects(
    State(state): State<Shared>,
    caller: Caller,
    Q(q): Q<RejectQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_server_admin("read the ETL rejects")?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds();
    let out = state
        .db
        .run(move |c| {
            let rows = c.client().query(
                &format!(
                    "SELECT source, run_id, attempt, study, reason, detail, {}, {}, etl_run FROM etl_rejects
                     WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR reason = $2)
                       AND ($3::text IS NULL OR study = $3)
                     ORDER BY last_seen DESC, source, run_id, attempt LIMIT $4 OFFSET $5",
                    ts_sql("first_seen"),
                    ts_sql("last_seen")
                ),
                &[&q.source, &q.reason, &q.study, &limit, &offset],
            )?;
            let rejects: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let source: String = r.get(0);
                    let attempt: i64 = r.get(2);
                    json!({
                        "source": source,
                        "run_id": r.get::<_, String>(1),
                        "attempt": if source == "attempts" { Some(attempt) } else { None },
                        "study": r.get::<_, Option<String>>(3),
                        "reason": r.get::<_, String>(4),
                        "detail": r.get::<_, String>(5),
                        "first_seen": r.get::<_, String>(6),
                        "last_seen": r.get::<_, String>(7),
                        "etl_run": r.get::<_, Option<i64>>(8),
                    })
                })
                .collect();
            Ok(json!({"rejects": rejects}))
        })
        .await?;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ranges_default_and_validate() {
        let (f, t) = day_range(Some("2024-01-01"), Some("2024-01-31")).unwrap();
        assert_eq!((f.as_str(), t.as_str()), ("2024-01-01", "2024-01-31"));
        let (f, _) = day_range(None, Some("2024-03-30")).unwrap();
        assert_eq!(f, "2024-03-01");
        let e = day_range(Some("2024-02-30"), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("from"));
        let e = day_range(Some("2024-02-02"), Some("2024-02-01")).unwrap_err();
        assert!(e.message.contains("after"), "{}", e.message);
    }
}
