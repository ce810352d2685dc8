//! One ETL run: take the lock, consume the change log, recompute the groups
//! it names, record the run.
//!
//! Two jobs, each one transaction (a failure rolls its job back and leaves
//! its changes queued for the next run; the other job still runs):
//!
//! - **studies** → `report_study_metric`: for every study named in the
//!   change log, the succeeded runs of its current plan are validated and
//!   every numeric metric summarised (n, mean, sample standard deviation,
//!   min, p5/p25/p50/p75/p95 by `percentile_cont`, max).
//! - **attempts** → `etl_attempt_facts`, `report_simulator_day`,
//!   `report_host_day`: every attempt named in the change log is reloaded
//!   from `attempts`, validated and written to the facts table (or to
//!   `etl_rejects`); the simulator-days and host-days it left or entered are
//!   recomputed from the facts.
//!
//! Report rows are upserted with `ON CONFLICT DO UPDATE ... WHERE` the
//! numbers differ, so a rerun with nothing new changes nothing, and a row's
//! `last_updated` moves only when its numbers do. A group with no data left
//! loses its row.

use postgres::{GenericClient, Transaction};
use serde::Serialize;
use serde_json::json;

use crate::db::{Conn, Db};
use crate::error::{ApiError, ApiResult};

/// How long a run started on demand waits for one already in progress.
const LOCK_WAIT: &str = "60s";
/// First key of the ETL's advisory lock; the second is the schema's hash, so
/// servers of different schemas in one database do not exclude each other.
const LOCK_KEY: i32 = 7_313_002;

/// The reporting tables, in the order runs report them.
pub const TABLES: [&str; 3] = [
    "report_study_metric",
    "report_simulator_day",
    "report_host_day",
];

/// The change-log kinds each reporting table consumes.
pub fn kinds_of(table: &str) -> &'static [&'static str] {
    if table == "report_study_metric" {
        &["study"]
    } else {
        &["attempt", "queue"]
    }
}

/// What started an ETL run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The cron schedule (`etl.schedule`).
    Schedule,
    /// `POST /api/v1/etl/run`.
    Api,
    /// `simforge etl run`.
    Cli,
}

impl Trigger {
    /// The name stored in `etl_runs.trigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
            Trigger::Cli => "cli",
        }
    }
}

/// One reporting table's share of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableReport {
    /// The reporting table.
    pub table: String,
    /// Change-log entries consumed.
    pub changes: i64,
    /// Groups (studies, simulator-days, host-days) recomputed.
    pub groups: i64,
    /// Raw rows read (runs or attempts).
    pub read: i64,
    /// Report rows inserted or changed.
    pub written: i64,
    /// Report rows removed because their group has no data left.
    pub deleted: i64,
    /// Raw rows read but excluded as corrupt or incomplete (see `etl_rejects`).
    pub rejected: i64,
    /// Of those, how many no earlier run had rejected.
    pub new_rejects: i64,
}

/// The outcome of one ETL run, as logged in `etl_runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EtlReport {
    /// Its id in `etl_runs`.
    pub id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Per reporting table.
    pub tables: Vec<TableReport>,
    /// Why a job failed (its changes stay queued for the next run).
    pub error: Option<String>,
}

impl EtlReport {
    /// Whether every job succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }

    /// A one-line summary for logs and the CLI.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                format!(
                    "{}: {} changes, {} rows read, {} written, {} deleted, {} rejected",
                    t.table, t.changes, t.read, t.written, t.deleted, t.rejected
                )
            })
            .collect();
        format!("ETL run {} {}: {}", self.id, self.status, parts.join("; "))
    }
}

/// Runs the ETL now (for `simforge etl run`): waits up to a minute for a run
/// in progress elsewhere, then brings every reporting table up to date.
/// A failed job is an error naming the run; its details are in `etl_runs`.
pub fn run_etl(db: &Db) -> ApiResult<EtlReport> {
    let mut conn = db.get()?;
    failed_as_error(run_now_logged(&mut conn, Trigger::Cli)?)
}

/// Runs the ETL unless another server is running it at this moment (what
/// the schedule does): `None` when the lock is taken.
pub fn try_run_etl(db: &Db) -> ApiResult<Option<EtlReport>> {
    let mut conn = db.get()?;
    run_scheduled(&mut conn)
}

/// A report whose run failed as the API's error (500, naming the run).
pub(crate) fn failed_as_error(report: EtlReport) -> ApiResult<EtlReport> {
    if report.succeeded() {
        Ok(report)
    } else {
        Err(ApiError::internal(format!(
            "ETL run {} failed: {}",
            report.id,
            report.error.as_deref().unwrap_or("unknown error")
        ))
        .with_hint("the failed job's changes stay queued for the next run; GET /api/v1/etl/runs shows the run"))
    }
}

/// Runs the ETL on `conn` on demand, waiting for a run in progress; the
/// report is returned (and logged) whether or not the run succeeded.
pub(crate) fn run_now_logged(conn: &mut Conn, trigger: Trigger) -> ApiResult<EtlReport> {
    let client = conn.client();
    let locked = {
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))?;
        let got = tx.execute(
            "SELECT pg_advisory_lock($1, hashtext(current_schema()))",
            &[&LOCK_KEY],
        );
        match got {
            Ok(_) => {
                tx.commit()?;
                true
            }
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => false,
            Err(e) => return Err(e.into()),
        }
    };
    if !locked {
        return Err(ApiError::conflict(format!(
            "another ETL run has held the lock for over {LOCK_WAIT}"
        ))
        .with_hint(
            "GET /api/v1/etl/runs shows the run in progress; try again when it has finished",
        ));
    }
    let out = run_locked(client, trigger);
    unlock(client);
    out
}

/// Runs the ETL on `conn` unless another server is running it (the schedule):
/// `None` when the lock is taken.
pub(crate) fn run_scheduled(conn: &mut Conn) -> ApiResult<Option<EtlReport>> {
    let client = conn.client();
    let got: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
            &[&LOCK_KEY],
        )?
        .get(0);
    if !got {
        return Ok(None);
    }
    let out = run_locked(client, Trigger::Schedule);
    unlock(client);
    out.map(Some)
}

fn unlock(client: &mut postgres::Client) {
    if let Err(e) = client.execute(
        "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
        &[&LOCK_KEY],
    ) {
        // The session ends with the connection, and the lock with it.
        tracing::warn!(error = %e, "releasing the ETL lock failed");
    }
}

/// RFC 3339 (UTC, microseconds) of a `timestamptz` expression, in SQL.
pub(crate) fn ts_sql(expr: &str) -> String {
    format!("to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// The ETL proper, under the lock.
fn run_locked(client: &mut postgres::Client, trigger: Trigger) -> ApiResult<EtlReport> {
    // Holding the lock proves any run still marked running is dead.
    client.execute(
        "UPDATE etl_runs SET status = 'failed', finished_at = now(),
             error = 'interrupted: the process running it stopped'
         WHERE status = 'running'",
        &[],
    )?;
    let id: i64 = client
        .query_one(
            "INSERT INTO etl_runs (trigger, status) VALUES ($1, 'running') RETURNING id",
            &[&trigger.as_str()],
        )?
        .get(0);
    let mut tables = Vec::new();
    let mut errors = Vec::new();
    let mut lag_s: f64 = 0.0;
    let study = run_job(client, |tx| study_job(tx, id));
    match study {
        Ok((t, lag)) => {
            lag_s = lag_s.max(lag);
            tables.push(t);
        }
        Err(e) => errors.push(format!("report_study_metric: {e}")),
    }
    match run_job(client, |tx| attempt_job(tx, id)) {
        Ok(((sim, host), lag)) => {
            lag_s = lag_s.max(lag);
            tables.push(sim);
            tables.push(host);
        }
        Err(e) => errors.push(format!("report_simulator_day, report_host_day: {e}")),
    }
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    let status = if error.is_none() {
        "succeeded"
    } else {
        "failed"
    };
    let tables_json = serde_json::to_value(&tables).unwrap_or_else(|_| json!([]));
    let row = client.query_one(
        &format!(
            "UPDATE etl_runs SET finished_at = clock_timestamp(), status = $2, tables = $3, error = $4
             WHERE id = $1 RETURNING {}, {}",
            ts_sql("started_at"),
            ts_sql("finished_at")
        ),
        &[&id, &status, &tables_json, &error],
    )?;
    let mut tx = client.transaction()?;
    add_counter(&mut tx, "etl_runs", 1)?;
    if error.is_some() {
        add_counter(&mut tx, "etl_failures", 1)?;
    } else {
        // A gauge kept as a counter row: how stale the reports were just
        // before this run brought them up to date (whole seconds).
        set_counter(&mut tx, "etl_lag_seconds", lag_s.ceil() as i64)?;
        tx.execute(
            "INSERT INTO counters (name, value) VALUES ('etl_last_success_seconds', extract(epoch FROM now())::bigint)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[],
        )?;
    }
    tx.commit()?;
    let report = EtlReport {
        id,
        trigger,
        started_at: row.get(0),
        finished_at: row.get(1),
        status: status.into(),
        tables,
        error,
    };
    if report.succeeded() {
        tracing::info!(summary = %report.summary(), "ETL run finished");
    } else {
        tracing::error!(summary = %report.summary(), error = ?report.error, "ETL run failed");
    }
    Ok(report)
}

/// Runs `job` in one transaction; on error rolls back and returns the
/// database's message (kept in `etl_runs.error`).
fn run_job<T>(
    client: &mut postgres::Client,
    job: impl FnOnce(&mut Transaction<'_>) -> Result<T, postgres::Error>,
) -> Result<T, String> {
    let mut tx = client.transaction().map_err(|e| e.to_string())?;
    match job(&mut tx) {
        Ok(v) => {
            tx.commit().map_err(|e| e.to_string())?;
            Ok(v)
        }
        Err(e) => {
            let msg = match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            };
            tracing::error!(error = %e, "ETL job failed");
            Err(msg)
        }
    }
}

fn add_counter(tx: &mut impl GenericClient, name: &str, by: i64) -> Result<(), postgres::Error> {
    if by != 0 {
        tx.execute(
            "INSERT INTO counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
            &[&name, &by],
        )?;
    }
    Ok(())
}

fn set_counter(tx: &mut impl GenericClient, name: &str, value: i64) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO counters (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[&name, &value],
    )?;
    Ok(())
}

/// Marks `tables` up to date as of this transaction.
fn mark_fresh(
    tx: &mut Transaction<'_>,
    tables: &[&str],
    seq: i64,
    run: i64,
) -> Result<(), postgres::Error> {
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    tx.execute(
        "UPDATE etl_state SET last_updated = now(), last_seq = greatest(last_seq, $2), last_run = $3
         WHERE report = ANY($1)",
        &[&tables, &seq, &run],
    )?;
    Ok(())
}

/// Counts newly seen rejects from `... RETURNING (xmax = 0)` rows.
fn count_new(rows: &[postgres::Row]) -> i64 {
    rows.iter().filter(|r| r.get::<_, bool>(0)).count() as i64
}

/// Studies → `report_study_metric`; also returns the age of the oldest change consumed.
fn study_job(tx: &mut Transaction<'_>, run: i64) -> Result<(TableReport, f64), postgres::Error> {
    tx.batch_execute("CREATE TEMP TABLE etl_studies (study TEXT PRIMARY KEY) ON COMMIT DROP")?;
    let consumed = tx.query_one(
        "WITH d AS (DELETE FROM etl_changes WHERE kind = 'study' RETURNING study, seq, at),
              ins AS (INSERT INTO etl_studies SELECT DISTINCT study FROM d WHERE study IS NOT NULL RETURNING 1)
         SELECT count(*), coalesce(max(seq), 0), coalesce(extract(epoch FROM now() - min(at))::float8, 0),
                (SELECT count(*) FROM ins)
         FROM d",
        &[],
    )?;
    let mut t = TableReport {
        table: "report_study_metric".into(),
        changes: consumed.get(0),
        groups: consumed.get(3),
        ..Default::default()
    };
    let (max_seq, lag): (i64, f64) = (consumed.get(1), consumed.get(2));
    // The succeeded runs of each study's current plan, with the first
    // reason (if any) to exclude each.
    t.read = tx.execute(
        r#"CREATE TEMP TABLE etl_rloaded ON COMMIT DROP AS
        SELECT x.id, x.study, x.metrics, CASE
            WHEN x.metrics IS NULL OR jsonb_typeof(x.metrics) = 'null' THEN
                ARRAY['missing_metrics', 'a succeeded run has no metrics']
            WHEN jsonb_typeof(x.metrics) <> 'object' THEN
                ARRAY['metrics_not_object', format('metrics is a JSON %s, not an object', jsonb_typeof(x.metrics))]
            WHEN x.started_raw IS NULL OR x.finished_raw IS NULL THEN
                ARRAY['missing_timestamp', 'started_at or finished_at is missing']
            WHEN x.started IS NULL THEN
                ARRAY['bad_timestamp', format('started_at %s is not an RFC 3339 time', quote_literal(left(x.started_raw, 80)))]
            WHEN x.finished IS NULL THEN
                ARRAY['bad_timestamp', format('finished_at %s is not an RFC 3339 time', quote_literal(left(x.finished_raw, 80)))]
            WHEN x.finished < x.started THEN
                ARRAY['finished_before_started', format('finished_at %s is before started_at %s', x.finished_raw, x.started_raw)]
            WHEN x.duration_s IS NULL OR x.duration_s IN ('NaN', 'Infinity', '-Infinity') OR x.duration_s < 0 THEN
                ARRAY['bad_duration', format('duration_s is %s', coalesce(x.duration_s::text, 'missing'))]
            WHEN x.bad_metric IS NOT NULL THEN
                ARRAY['metric_out_of_range', format('metric %s = %s does not fit a double', quote_literal(x.bad_metric), x.metrics -> x.bad_metric)]
            END AS rej
        FROM (
            SELECT r.id, r.study, r.metrics, r.duration_s,
                   r.started_at AS started_raw, r.finished_at AS finished_raw,
                   etl_ts(r.started_at) AS started, etl_ts(r.finished_at) AS finished,
                   CASE WHEN jsonb_typeof(r.metrics) = 'object' THEN (
                       SELECT e.key FROM jsonb_each(r.metrics) e
                       WHERE jsonb_typeof(e.value) = 'number'
                         AND (abs(e.value::numeric) > 1.7976931348623157e308
                              OR (e.value::numeric <> 0 AND abs(e.value::numeric) < 1e-320))
                       LIMIT 1)
                   END AS bad_metric
            FROM etl_studies c
            JOIN studies st ON st.name = c.study
            JOIN runs r ON r.study = st.name AND r.plan_gen = st.plan_gen AND r.state = 'succeeded'
        ) x"#,
        &[],
    )? as i64;
    t.rejected = tx
        .query_one(
            "SELECT count(*) FROM etl_rloaded WHERE rej IS NOT NULL",
            &[],
        )?
        .get(0);
    // Rejects now reflect exactly the runs still excluded.
    tx.execute(
        "DELETE FROM etl_rejects r USING etl_studies c
         WHERE r.source = 'runs' AND r.study = c.study
           AND NOT EXISTS (SELECT 1 FROM etl_rloaded l WHERE l.id = r.run_id AND l.rej IS NOT NULL)",
        &[],
    )?;
    let new = tx.query(
        "INSERT INTO etl_rejects (source, run_id, attempt, study, reason, detail, etl_run)
         SELECT 'runs', id, 0, study, rej[1], rej[2], $1 FROM etl_rloaded WHERE rej IS NOT NULL
         ON CONFLICT (source, run_id, attempt) DO UPDATE SET study = excluded.study, reason = excluded.reason,
             detail = excluded.detail, last_seen = now(), etl_run = excluded.etl_run
         RETURNING (xmax = 0)",
        &[&run],
    )?;
    t.new_rejects = count_new(&new);
    tx.batch_execute(
        "CREATE TEMP TABLE etl_sm ON COMMIT DROP AS
         SELECT l.study, e.key AS metric, count(*) AS n, avg(x.v) AS mean, stddev_samp(x.v) AS stddev,
                min(x.v) AS min, max(x.v) AS max,
                percentile_cont(ARRAY[0.05, 0.25, 0.5, 0.75, 0.95]::float8[]) WITHIN GROUP (ORDER BY x.v) AS p
         FROM etl_rloaded l
         CROSS JOIN LATERAL jsonb_each(CASE WHEN l.rej IS NULL THEN l.metrics ELSE '{}'::jsonb END) e
         CROSS JOIN LATERAL (
             SELECT CASE WHEN jsonb_typeof(e.value) = 'number' THEN (e.value::numeric)::float8 END AS v
         ) x
         WHERE x.v IS NOT NULL
         GROUP BY l.study, e.key",
    )?;
    t.deleted = tx.execute(
        "DELETE FROM report_study_metric r USING etl_studies c
         WHERE r.study = c.study
           AND NOT EXISTS (SELECT 1 FROM etl_sm s WHERE s.study = r.study AND s.metric = r.metric)",
        &[],
    )? as i64;
    t.written = tx.execute(
        "INSERT INTO report_study_metric AS r
             (study, project, name, metric, n, mean, stddev, min, p5, p25, p50, p75, p95, max, last_updated)
         SELECT s.study, coalesce(p.name, split_part(s.study, '/', 1)),
                coalesce(ss.name, substr(s.study, strpos(s.study, '/') + 1)),
                s.metric, s.n, s.mean, s.stddev, s.min, s.p[1], s.p[2], s.p[3], s.p[4], s.p[5], s.max, now()
         FROM etl_sm s
         LEFT JOIN server_studies ss ON ss.key = s.study
         LEFT JOIN projects p ON p.id = ss.project_id
         ON CONFLICT (study, metric) DO UPDATE SET project = excluded.project, name = excluded.name,
             n = excluded.n, mean = excluded.mean, stddev = excluded.stddev, min = excluded.min,
             p5 = excluded.p5, p25 = excluded.p25, p50 = excluded.p50, p75 = excluded.p75, p95 = excluded.p95,
             max = excluded.max, last_updated = excluded.last_updated
         WHERE (r.project, r.name, r.n, r.mean, r.stddev, r.min, r.p5, r.p25, r.p50, r.p75, r.p95, r.max)
               IS DISTINCT FROM (excluded.project, excluded.name, excluded.n, excluded.mean, excluded.stddev,
                   excluded.min, excluded.p5, excluded.p25, excluded.p50, excluded.p75, excluded.p95, excluded.max)",
        &[],
    )? as i64;
    mark_fresh(tx, &["report_study_metric"], max_seq, run)?;
    add_counter(tx, "etl_rows_written", t.written + t.deleted)?;
    add_counter(tx, "etl_rejects", t.new_rejects)?;
    Ok((t, lag))
}

/// Attempts → facts → simulator-days and host-days; also returns the age of
/// the oldest change consumed.
fn attempt_job(
    tx: &mut Transaction<'_>,
    run: i64,
) -> Result<((TableReport, TableReport), f64), postgres::Error> {
    tx.batch_execute(
        "CREATE TEMP TABLE etl_keys (run_id TEXT NOT NULL, attempt BIGINT NOT NULL, PRIMARY KEY (run_id, attempt)) ON COMMIT DROP;
         CREATE TEMP TABLE etl_qday (queue TEXT NOT NULL, day DATE NOT NULL, PRIMARY KEY (queue, day)) ON COMMIT DROP;
         CREATE TEMP TABLE etl_hday (host TEXT NOT NULL, day DATE NOT NULL, PRIMARY KEY (host, day)) ON COMMIT DROP;",
    )?;
    // Changed attempts, plus every attempt of a study whose queue or project changed.
    let consumed = tx.query_one(
        "WITH d AS (DELETE FROM etl_changes WHERE kind IN ('attempt', 'queue') RETURNING kind, study, run_id, attempt, seq, at),
              q AS (SELECT DISTINCT study FROM d WHERE kind = 'queue'),
              ins AS (
                  INSERT INTO etl_keys (run_id, attempt)
                  SELECT run_id, attempt FROM d WHERE kind = 'attempt' AND run_id IS NOT NULL AND attempt IS NOT NULL
                  UNION
                  SELECT f.run_id, f.attempt FROM etl_attempt_facts f WHERE f.study IN (SELECT study FROM q)
                  UNION
                  SELECT a.run_id, a.attempt FROM runs r JOIN attempts a ON a.run_id = r.id
                  WHERE r.study IN (SELECT study FROM q)
                  RETURNING 1)
         SELECT count(*), coalesce(max(seq), 0), coalesce(extract(epoch FROM now() - min(at))::float8, 0),
                (SELECT count(*) FROM ins)
         FROM d",
        &[],
    )?;
    let changes: i64 = consumed.get(0);
    let (max_seq, lag): (i64, f64) = (consumed.get(1), consumed.get(2));
    // The groups the changed attempts leave...
    tx.batch_execute(
        "INSERT INTO etl_qday SELECT DISTINCT f.queue, f.day FROM etl_attempt_facts f
             JOIN etl_keys k ON k.run_id = f.run_id AND k.attempt = f.attempt ON CONFLICT DO NOTHING;
         INSERT INTO etl_hday SELECT DISTINCT f.host, f.day FROM etl_attempt_facts f
             JOIN etl_keys k ON k.run_id = f.run_id AND k.attempt = f.attempt ON CONFLICT DO NOTHING;
         DELETE FROM etl_attempt_facts f USING etl_keys k WHERE f.run_id = k.run_id AND f.attempt = k.attempt;",
    )?;
    let read = tx.execute(
        r#"CREATE TEMP TABLE etl_aloaded ON COMMIT DROP AS
        SELECT x.*, CASE
            WHEN x.study IS NULL THEN
                ARRAY['orphan_attempt', 'the attempt''s run does not exist']
            WHEN x.queue IS NULL THEN
                ARRAY['unknown_queue', format('study %s has no queue or simulator', quote_literal(x.study))]
            WHEN x.started IS NULL THEN
                ARRAY['bad_timestamp', format('started_at %s is not an RFC 3339 time', quote_literal(left(x.started_raw, 80)))]
            WHEN x.finished IS NULL THEN
                ARRAY['bad_timestamp', format('finished_at %s is not an RFC 3339 time', quote_literal(left(x.finished_raw, 80)))]
            WHEN x.finished < x.started THEN
                ARRAY['finished_before_started', format('finished_at %s is before started_at %s', x.finished_raw, x.started_raw)]
            WHEN x.duration_s IS NULL OR x.duration_s IN ('NaN', 'Infinity', '-Infinity') OR x.duration_s < 0 THEN
                ARRAY['bad_duration', format('duration_s is %s', coalesce(x.duration_s::text, 'missing'))]
            WHEN x.state NOT IN ('succeeded', 'failed', 'timed_out', 'cancelled') THEN
                ARRAY['bad_state', format('state %s is not a finished state', quote_literal(x.state))]
            END AS rej
        FROM (
            SELECT a.run_id, a.attempt, a.state, coalesce(nullif(btrim(a.host), ''), '(unknown)') AS host,
                   a.duration_s, a.started_at AS started_raw, a.finished_at AS finished_raw,
                   etl_ts(a.started_at) AS started, etl_ts(a.finished_at) AS finished,
                   r.study, coalesce(ss.queue, st.simulator) AS queue, ss.project_id
            FROM etl_keys k
            JOIN attempts a ON a.run_id = k.run_id AND a.attempt = k.attempt
            LEFT JOIN runs r ON r.id = a.run_id
            LEFT JOIN server_studies ss ON ss.key = r.study
            LEFT JOIN studies st ON st.name = r.study
        ) x"#,
        &[],
    )? as i64;
    let rejected: i64 = tx
        .query_one(
            "SELECT count(*) FROM etl_aloaded WHERE rej IS NOT NULL",
            &[],
        )?
        .get(0);
    // ... and the groups they enter.
    tx.batch_execute(
        "INSERT INTO etl_attempt_facts
             (run_id, attempt, study, project_id, queue, host, state, started_at, finished_at, day, duration_s)
         SELECT run_id, attempt, study, project_id, queue, host, state, started, finished,
                (finished AT TIME ZONE 'UTC')::date, duration_s
         FROM etl_aloaded WHERE rej IS NULL;
         INSERT INTO etl_qday SELECT DISTINCT queue, (finished AT TIME ZONE 'UTC')::date
             FROM etl_aloaded WHERE rej IS NULL ON CONFLICT DO NOTHING;
         INSERT INTO etl_hday SELECT DISTINCT host, (finished AT TIME ZONE 'UTC')::date
             FROM etl_aloaded WHERE rej IS NULL ON CONFLICT DO NOTHING;
         DELETE FROM etl_rejects r USING etl_keys k
         WHERE r.source = 'attempts' AND r.run_id = k.run_id AND r.attempt = k.attempt
           AND NOT EXISTS (SELECT 1 FROM etl_aloaded l
                           WHERE l.run_id = k.run_id AND l.attempt = k.attempt AND l.rej IS NOT NULL);",
    )?;
    let new = tx.query(
        "INSERT INTO etl_rejects (source, run_id, attempt, study, reason, detail, etl_run)
         SELECT 'attempts', run_id, attempt, study, rej[1], rej[2], $1 FROM etl_aloaded WHERE rej IS NOT NULL
         ON CONFLICT (source, run_id, attempt) DO UPDATE SET study = excluded.study, reason = excluded.reason,
             detail = excluded.detail, last_seen = now(), etl_run = excluded.etl_run
         RETURNING (xmax = 0)",
        &[&run],
    )?;
    let new_rejects = count_new(&new);

    let mut sim = TableReport {
        table: "report_simulator_day".into(),
        changes,
        read,
        rejected,
        new_rejects,
        ..Default::default()
    };
    let mut host = TableReport {
        table: "report_host_day".into(),
        changes,
        read,
        rejected,
        new_rejects,
        ..Default::default()
    };
    sim.groups = tx.query_one("SELECT count(*) FROM etl_qday", &[])?.get(0);
    host.groups = tx.query_one("SELECT count(*) FROM etl_hday", &[])?.get(0);
    sim.deleted = tx.execute(
        "DELETE FROM report_simulator_day r USING etl_qday g
         WHERE r.queue = g.queue AND r.day = g.day
           AND NOT EXISTS (SELECT 1 FROM etl_attempt_facts f WHERE f.queue = g.queue AND f.day = g.day)",
        &[],
    )? as i64;
    sim.written = tx.execute(
        "INSERT INTO report_simulator_day AS r
             (queue, day, runs, succeeded, failed, cancelled, failure_rate,
              duration_p50, duration_p90, duration_p99, busy_s, runs_per_hour, last_updated)
         SELECT queue, day, runs, succeeded, failed, cancelled,
                failed::float8 / nullif(succeeded + failed, 0), p[1], p[2], p[3], busy_s,
                runs::float8 / hours, now()
         FROM (
             SELECT f.queue, f.day, count(*) AS runs,
                    count(*) FILTER (WHERE f.state = 'succeeded') AS succeeded,
                    count(*) FILTER (WHERE f.state IN ('failed', 'timed_out')) AS failed,
                    count(*) FILTER (WHERE f.state = 'cancelled') AS cancelled,
                    percentile_cont(ARRAY[0.5, 0.9, 0.99]::float8[]) WITHIN GROUP (ORDER BY f.duration_s)
                        FILTER (WHERE f.state = 'succeeded') AS p,
                    sum(f.duration_s) AS busy_s,
                    count(DISTINCT date_trunc('hour', f.finished_at AT TIME ZONE 'UTC')) AS hours
             FROM etl_attempt_facts f JOIN etl_qday g ON g.queue = f.queue AND g.day = f.day
             GROUP BY f.queue, f.day
         ) agg
         ON CONFLICT (queue, day) DO UPDATE SET runs = excluded.runs, succeeded = excluded.succeeded,
             failed = excluded.failed, cancelled = excluded.cancelled, failure_rate = excluded.failure_rate,
             duration_p50 = excluded.duration_p50, duration_p90 = excluded.duration_p90,
             duration_p99 = excluded.duration_p99, busy_s = excluded.busy_s,
             runs_per_hour = excluded.runs_per_hour, last_updated = excluded.last_updated
         WHERE (r.runs, r.succeeded, r.failed, r.cancelled, r.failure_rate, r.duration_p50, r.duration_p90,
                r.duration_p99, r.busy_s, r.runs_per_hour)
               IS DISTINCT FROM (excluded.runs, excluded.succeeded, excluded.failed, excluded.cancelled,
                   excluded.failure_rate, excluded.duration_p50, excluded.duration_p90, excluded.duration_p99,
                   excluded.busy_s, excluded.runs_per_hour)",
        &[],
    )? as i64;
    host.deleted = tx.execute(
        "DELETE FROM report_host_day r USING etl_hday g
         WHERE r.host = g.host AND r.day = g.day
           AND NOT EXISTS (SELECT 1 FROM etl_attempt_facts f WHERE f.host = g.host AND f.day = g.day)",
        &[],
    )? as i64;
    host.written = tx.execute(
        "INSERT INTO report_host_day AS r
             (host, day, runs, succeeded, failed, cancelled, busy_s, mean_duration_s, last_updated)
         SELECT f.host, f.day, count(*),
                count(*) FILTER (WHERE f.state = 'succeeded'),
                count(*) FILTER (WHERE f.state IN ('failed', 'timed_out')),
                count(*) FILTER (WHERE f.state = 'cancelled'),
                sum(f.duration_s), avg(f.duration_s), now()
         FROM etl_attempt_facts f JOIN etl_hday g ON g.host = f.host AND g.day = f.day
         GROUP BY f.host, f.day
         ON CONFLICT (host, day) DO UPDATE SET runs = excluded.runs, succeeded = excluded.succeeded,
             failed = excluded.failed, cancelled = excluded.cancelled, busy_s = excluded.busy_s,
             mean_duration_s = excluded.mean_duration_s, last_updated = excluded.last_updated
         WHERE (r.runs, r.succeeded, r.failed, r.cancelled, r.busy_s, r.mean_duration_s)
               IS DISTINCT FROM (excluded.runs, excluded.succeeded, excluded.failed, excluded.cancelled,
                   excluded.busy_s, excluded.mean_duration_s)",
        &[],
    )? as i64;
    mark_fresh(
        tx,
        &["report_simulator_day", "report_host_day"],
        max_seq,
        run,
    )?;
    add_counter(
        tx,
        "etl_rows_written",
        sim.written + sim.deleted + host.written + host.deleted,
    )?;
    add_counter(tx, "etl_rejects", new_rejects)?;
    Ok(((sim, host), lag))
}
