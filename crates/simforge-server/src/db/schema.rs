//! The server's own tables, beside the store's (studies, runs, attempts):
//! users, tokens, projects and roles, the studies' owners and queues, worker
//! leases, workers, the audit log and counters. Versioned like the store's
//! schema (`meta.server_schema_version`), one transaction per migration.

/// Migrations in order; `MIGRATIONS[i]` takes the server schema from `i` to `i + 1`.
/// Each feature keeps its tables in its own module's `SCHEMA`.
pub(crate) const MIGRATIONS: &[&str] = &[
    CORE,
    crate::ingest::SCHEMA,
    crate::etl::SCHEMA,
    crate::datasets::SCHEMA,
    crate::etl::REPLAN_RUNS_TRIGGER,
    crate::queue::LEASE_LOSSES,
    crate::artifacts::SCHEMA,
    crate::adaptive::SCHEMA,
];

/// Users, tokens, projects, studies' owners and queues, leases, workers, logs,
/// audit, counters.
const CORE: &str = r#"
    CREATE TABLE users (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password_hash TEXT,
        is_admin BOOLEAN NOT NULL DEFAULT false,
        disabled BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE tokens (
        id BIGSERIAL PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('api', 'session')),
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        scopes TEXT[] NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ,
        last_used_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
    );
    CREATE TABLE projects (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE memberships (
        project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
        PRIMARY KEY (project_id, user_id)
    );
    CREATE TABLE server_studies (
        key TEXT PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects (id),
        name TEXT NOT NULL,
        owner_id BIGINT NOT NULL REFERENCES users (id),
        queue TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('active', 'cancelled')),
        source TEXT NOT NULL,
        source_name TEXT NOT NULL,
        files JSONB NOT NULL DEFAULT '{}',
        spec_hash TEXT NOT NULL,
        max_attempts INTEGER NOT NULL,
        timeout_s DOUBLE PRECISION,
        submitted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (project_id, name)
    );
    CREATE INDEX server_studies_by_queue ON server_studies (queue) WHERE state = 'active';
    CREATE INDEX runs_pending ON runs (study, idx, replicate) WHERE state = 'pending';
    CREATE TABLE leases (
        run_id TEXT PRIMARY KEY,
        lease_id TEXT NOT NULL UNIQUE,
        study TEXT NOT NULL,
        queue TEXT NOT NULL,
        worker TEXT NOT NULL,
        granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX leases_by_expiry ON leases (expires_at);
    CREATE INDEX leases_by_worker ON leases (worker);
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        queues TEXT[] NOT NULL,
        slots INTEGER NOT NULL,
        version TEXT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
        runs_succeeded BIGINT NOT NULL DEFAULT 0,
        runs_failed BIGINT NOT NULL DEFAULT 0,
        leaving BOOLEAN NOT NULL DEFAULT false
    );
    CREATE TABLE run_logs (
        run_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        stream TEXT NOT NULL,
        content TEXT NOT NULL,
        PRIMARY KEY (run_id, attempt, stream)
    );
    CREATE TABLE audit (
        id BIGSERIAL PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL DEFAULT now(),
        user_id BIGINT,
        user_name TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail JSONB NOT NULL DEFAULT '{}',
        address TEXT,
        status INTEGER NOT NULL
    );
    CREATE INDEX audit_by_time ON audit (at);
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL DEFAULT 0
    );
"#;
