//! The ETL's tables, triggers and helper function (one server migration).
//!
//! - `etl_changes` is the change log the ETL consumes. Triggers on the
//!   store's `runs` and `attempts` (statement-level, with transition tables:
//!   one insert per store batch, not per row) and on `studies` and
//!   `server_studies` record *which* groups changed — never the data itself.
//!   The ETL deletes the entries it processes in the same transaction that
//!   updates the reports, so a change committed while the ETL runs is never
//!   lost (a sequence watermark alone would skip a transaction that took its
//!   sequence number early and committed late).
//! - `etl_attempt_facts` is the cleaned, typed copy of every valid finished
//!   attempt (timestamps parsed, UTC day, queue and project resolved), indexed
//!   by the report groups, so recomputing one simulator-day or host-day reads
//!   that group only.
//! - `report_*` are the reporting tables; `etl_state` holds each table's
//!   `last_updated`; `etl_runs` logs every run; `etl_rejects` lists the raw
//!   records excluded as corrupt or incomplete, with the reason (the raw rows
//!   themselves are never touched).
//!
//! Existing rows are queued on migration, so the first run reports the
//! history too.

/// The migration.
pub const SCHEMA: &str = r#"
    CREATE TABLE etl_changes (
        seq BIGSERIAL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('study', 'attempt', 'queue')),
        study TEXT,
        run_id TEXT,
        attempt BIGINT,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX etl_changes_by_kind ON etl_changes (kind, at);

    -- A run of a study changed in a way the study's metric summary can see.
    CREATE FUNCTION etl_log_runs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO etl_changes (kind, study) SELECT DISTINCT 'study', study FROM etl_new;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO etl_changes (kind, study) SELECT DISTINCT 'study', study FROM etl_old;
        ELSE
            INSERT INTO etl_changes (kind, study)
            SELECT DISTINCT 'study', n.study FROM etl_new n JOIN etl_old o ON o.id = n.id
            WHERE (o.state = 'succeeded' OR n.state = 'succeeded' OR o.plan_gen <> n.plan_gen)
              AND (o.state, o.metrics, o.plan_gen, o.started_at, o.finished_at, o.duration_s)
                  IS DISTINCT FROM (n.state, n.metrics, n.plan_gen, n.started_at, n.finished_at, n.duration_s);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER etl_runs_insert AFTER INSERT ON runs
        REFERENCING NEW TABLE AS etl_new FOR EACH STATEMENT EXECUTE FUNCTION etl_log_runs();
    CREATE TRIGGER etl_runs_update AFTER UPDATE ON runs
        REFERENCING OLD TABLE AS etl_old NEW TABLE AS etl_new FOR EACH STATEMENT EXECUTE FUNCTION etl_log_runs();
    CREATE TRIGGER etl_runs_delete AFTER DELETE ON runs
        REFERENCING OLD TABLE AS etl_old FOR EACH STATEMENT EXECUTE FUNCTION etl_log_runs();

    -- An attempt was recorded, rewritten or removed.
    CREATE FUNCTION etl_log_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO etl_changes (kind, run_id, attempt) SELECT 'attempt', run_id, attempt FROM etl_old;
        ELSE
            INSERT INTO etl_changes (kind, run_id, attempt) SELECT 'attempt', run_id, attempt FROM etl_new;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER etl_attempts_insert AFTER INSERT ON attempts
        REFERENCING NEW TABLE AS etl_new FOR EACH STATEMENT EXECUTE FUNCTION etl_log_attempts();
    CREATE TRIGGER etl_attempts_update AFTER UPDATE ON attempts
        REFERENCING NEW TABLE AS etl_new FOR EACH STATEMENT EXECUTE FUNCTION etl_log_attempts();
    CREATE TRIGGER etl_attempts_delete AFTER DELETE ON attempts
        REFERENCING OLD TABLE AS etl_old FOR EACH STATEMENT EXECUTE FUNCTION etl_log_attempts();

    -- A study was re-planned (its current runs changed).
    CREATE FUNCTION etl_log_plan() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO etl_changes (kind, study) VALUES ('study', NEW.name);
        RETURN NULL;
    END $$;
    CREATE TRIGGER etl_studies_plan AFTER UPDATE ON studies FOR EACH ROW
        WHEN (OLD.plan_gen IS DISTINCT FROM NEW.plan_gen) EXECUTE FUNCTION etl_log_plan();

    -- A study got (or changed) its queue or project: its attempts move group.
    CREATE FUNCTION etl_log_queue() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO etl_changes (kind, study) VALUES ('queue', NEW.key);
        RETURN NULL;
    END $$;
    CREATE TRIGGER etl_server_studies_insert AFTER INSERT ON server_studies FOR EACH ROW
        EXECUTE FUNCTION etl_log_queue();
    CREATE TRIGGER etl_server_studies_update AFTER UPDATE ON server_studies FOR EACH ROW
        WHEN (OLD.queue IS DISTINCT FROM NEW.queue OR OLD.project_id IS DISTINCT FROM NEW.project_id)
        EXECUTE FUNCTION etl_log_queue();

    -- An RFC 3339 timestamp, or NULL when the text is not one (never an error,
    -- so one corrupt row cannot stop the ETL).
    CREATE FUNCTION etl_ts(t TEXT) RETURNS TIMESTAMPTZ LANGUAGE plpgsql STABLE AS $$
    BEGIN
        IF t IS NULL OR t !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$' THEN
            RETURN NULL;
        END IF;
        RETURN t::timestamptz;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END $$;

    CREATE TABLE etl_attempt_facts (
        run_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        study TEXT NOT NULL,
        project_id BIGINT,
        queue TEXT NOT NULL,
        host TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL,
        day DATE NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, attempt)
    );
    CREATE INDEX etl_attempt_facts_by_queue ON etl_attempt_facts (queue, day);
    CREATE INDEX etl_attempt_facts_by_host ON etl_attempt_facts (host, day);
    CREATE INDEX etl_attempt_facts_by_study ON etl_attempt_facts (study);

    CREATE TABLE report_study_metric (
        study TEXT NOT NULL,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        metric TEXT NOT NULL,
        n BIGINT NOT NULL,
        mean DOUBLE PRECISION NOT NULL,
        stddev DOUBLE PRECISION,
        min DOUBLE PRECISION NOT NULL,
        p5 DOUBLE PRECISION NOT NULL,
        p25 DOUBLE PRECISION NOT NULL,
        p50 DOUBLE PRECISION NOT NULL,
        p75 DOUBLE PRECISION NOT NULL,
        p95 DOUBLE PRECISION NOT NULL,
        max DOUBLE PRECISION NOT NULL,
        last_updated TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (study, metric)
    );
    CREATE TABLE report_simulator_day (
        queue TEXT NOT NULL,
        day DATE NOT NULL,
        runs BIGINT NOT NULL,
        succeeded BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        cancelled BIGINT NOT NULL,
        failure_rate DOUBLE PRECISION,
        duration_p50 DOUBLE PRECISION,
        duration_p90 DOUBLE PRECISION,
        duration_p99 DOUBLE PRECISION,
        busy_s DOUBLE PRECISION NOT NULL,
        runs_per_hour DOUBLE PRECISION NOT NULL,
        last_updated TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (queue, day)
    );
    CREATE INDEX report_simulator_day_by_day ON report_simulator_day (day);
    CREATE TABLE report_host_day (
        host TEXT NOT NULL,
        day DATE NOT NULL,
        runs BIGINT NOT NULL,
        succeeded BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        cancelled BIGINT NOT NULL,
        busy_s DOUBLE PRECISION NOT NULL,
        mean_duration_s DOUBLE PRECISION NOT NULL,
        last_updated TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (host, day)
    );
    CREATE INDEX report_host_day_by_day ON report_host_day (day);

    CREATE TABLE etl_state (
        report TEXT PRIMARY KEY,
        last_updated TIMESTAMPTZ,
        last_seq BIGINT NOT NULL DEFAULT 0,
        last_run BIGINT
    );
    INSERT INTO etl_state (report) VALUES
        ('report_study_metric'), ('report_simulator_day'), ('report_host_day');

    CREATE TABLE etl_runs (
        id BIGSERIAL PRIMARY KEY,
        trigger TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        finished_at TIMESTAMPTZ,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        tables JSONB NOT NULL DEFAULT '[]',
        error TEXT
    );
    CREATE INDEX etl_runs_by_start ON etl_runs (started_at);

    CREATE TABLE etl_rejects (
        source TEXT NOT NULL CHECK (source IN ('runs', 'attempts')),
        run_id TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        study TEXT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        etl_run BIGINT,
        PRIMARY KEY (source, run_id, attempt)
    );
    CREATE INDEX etl_rejects_by_study ON etl_rejects (study);

    -- What is already there is new to the ETL.
    INSERT INTO etl_changes (kind, study) SELECT 'study', name FROM studies;
    INSERT INTO etl_changes (kind, run_id, attempt) SELECT 'attempt', run_id, attempt FROM attempts;
"#;

/// Second migration: `etl_log_runs` runs its old/new join as dynamic SQL.
///
/// A static statement in PL/pgSQL keeps one generic plan per connection, made
/// at its first call for whatever transition tables that call saw: after a
/// 1-row update it is a nested loop, quadratic on the next 5,000-row batch
/// (5.5 s instead of 45 ms measured on 10,000 rows). `EXECUTE` plans each call
/// for the rows it has (transition tables are visible to dynamic SQL).
pub const REPLAN_RUNS_TRIGGER: &str = r#"
    CREATE OR REPLACE FUNCTION etl_log_runs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO etl_changes (kind, study) SELECT DISTINCT 'study', study FROM etl_new;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO etl_changes (kind, study) SELECT DISTINCT 'study', study FROM etl_old;
        ELSE
            EXECUTE $q$
                INSERT INTO etl_changes (kind, study)
                SELECT DISTINCT 'study', n.study FROM etl_new n JOIN etl_old o ON o.id = n.id
                WHERE (o.state = 'succeeded' OR n.state = 'succeeded' OR o.plan_gen <> n.plan_gen)
                  AND (o.state, o.metrics, o.plan_gen, o.started_at, o.finished_at, o.duration_s)
                      IS DISTINCT FROM (n.state, n.metrics, n.plan_gen, n.started_at, n.finished_at, n.duration_s)
            $q$;
        END IF;
        RETURN NULL;
    END $$;
"#;
