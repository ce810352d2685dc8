//! Schema migrations for PostgreSQL: the same tables, columns and versions as
//! [`crate::schema::MIGRATIONS`] in PostgreSQL's dialect, so that both stores
//! map rows identically and one version number describes both.
//!
//! Types: TEXT for ids, names and RFC 3339 timestamps (as in SQLite), BIGINT
//! for integers, DOUBLE PRECISION for reals, and JSONB for `runs.params` and
//! `runs.metrics` so that the server can filter on them (`params->>'x'`).

/// Migrations in order; `PG_MIGRATIONS[i]` takes a store from version `i` to
/// `i + 1`. Its length is [`crate::SCHEMA_VERSION`], like the SQLite list.
pub(crate) const PG_MIGRATIONS: &[&str] = &[
    // v1: studies, runs and attempts.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE studies (
        name TEXT PRIMARY KEY,
        spec_hash TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        study_file TEXT NOT NULL,
        simulator TEXT NOT NULL,
        plan_gen BIGINT NOT NULL,
        planned_runs BIGINT NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        study TEXT NOT NULL,
        plan_gen BIGINT NOT NULL,
        idx BIGINT NOT NULL,
        tag TEXT,
        replicate BIGINT NOT NULL,
        seed BIGINT NOT NULL,
        params JSONB NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        reason TEXT,
        metrics JSONB,
        started_at TEXT,
        finished_at TEXT,
        duration_s DOUBLE PRECISION,
        host TEXT,
        spec_hash TEXT NOT NULL
    );
    CREATE INDEX runs_by_plan ON runs (study, plan_gen, state);
    CREATE INDEX runs_by_order ON runs (study, idx, replicate);
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        exit_code BIGINT,
        signal BIGINT,
        reason TEXT,
        host TEXT NOT NULL,
        PRIMARY KEY (run_id, attempt)
    );
    "#,
    // v2: peak memory per attempt, from the child's resource usage.
    r#"
    ALTER TABLE attempts ADD COLUMN max_rss_kb BIGINT;
    "#,
    // v3: cluster submissions, and the job a running run belongs to.
    r#"
    ALTER TABLE runs ADD COLUMN job TEXT;
    CREATE TABLE submissions (
        job_id TEXT PRIMARY KEY,
        study TEXT NOT NULL,
        manifest TEXT NOT NULL,
        first_task BIGINT NOT NULL,
        runs BIGINT NOT NULL,
        submitted_at TEXT NOT NULL,
        state TEXT NOT NULL
    );
    CREATE INDEX runs_by_job ON runs (job) WHERE job IS NOT NULL;
    "#,
    // v4: every tagged design row of the current plan and the run it maps to.
    // Identical points share one run; this keeps each Saltelli block and Morris
    // step even when its point coincides with another.
    r#"
    CREATE TABLE design_rows (
        study TEXT NOT NULL,
        plan_gen BIGINT NOT NULL,
        tag TEXT NOT NULL,
        replicate BIGINT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (study, plan_gen, tag, replicate)
    );
    "#,
];

#[cfg(test)]
mod tests {
    #[test]
    fn one_migration_per_version_on_both_backends() {
        assert_eq!(super::PG_MIGRATIONS.len(), crate::schema::MIGRATIONS.len());
        assert_eq!(super::PG_MIGRATIONS.len() as i64, crate::SCHEMA_VERSION);
    }
}
