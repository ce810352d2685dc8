//! Schema migrations. A store records its version in `meta.schema_version`;
//! opening an older store applies the missing migrations in one transaction each.

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

/// Migrations in order; `MIGRATIONS[i]` takes a store from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // v1: studies, runs and attempts.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE studies (
        name TEXT PRIMARY KEY,
        spec_hash TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        study_file TEXT NOT NULL,
        simulator TEXT NOT NULL,
        plan_gen INTEGER NOT NULL,
        planned_runs INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        study TEXT NOT NULL,
        plan_gen INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        tag TEXT,
        replicate INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        params TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        metrics TEXT,
        started_at TEXT,
        finished_at TEXT,
        duration_s REAL,
        host TEXT,
        spec_hash TEXT NOT NULL
    );
    CREATE INDEX runs_by_plan ON runs (study, plan_gen, state);
    CREATE INDEX runs_by_order ON runs (study, idx, replicate);
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_s REAL NOT NULL,
        exit_code INTEGER,
        signal INTEGER,
        reason TEXT,
        host TEXT NOT NULL,
        PRIMARY KEY (run_id, attempt)
    );
    "#,
    // v2: peak memory per attempt, from the child's resource usage.
    r#"
    ALTER TABLE attempts ADD COLUMN max_rss_kb INTEGER;
    "#,
    // v3: cluster submissions, and the job a running run belongs to.
    r#"
    ALTER TABLE runs ADD COLUMN job TEXT;
    CREATE TABLE submissions (
        job_id TEXT PRIMARY KEY,
        study TEXT NOT NULL,
        manifest TEXT NOT NULL,
        first_task INTEGER NOT NULL,
        runs INTEGER NOT NULL,
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
        plan_gen INTEGER NOT NULL,
        tag TEXT NOT NULL,
        replicate INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (study, plan_gen, tag, replicate)
    ) WITHOUT ROWID;
    "#,
];
