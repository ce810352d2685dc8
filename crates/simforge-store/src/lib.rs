//! The result store: every study, planned run, attempt and result.
//!
//! The coordinator (the `simforge run` process, later the server) is the only
//! writer. Every state transition is one transaction; writes from the execution
//! loop are grouped into batches so that orchestration stays cheap. The embedded
//! default is SQLite in WAL mode under `.simforge/`; PostgreSQL ([`PgStore`])
//! holds the same tables for a server or a cluster. Callers hold a
//! `Box<dyn Store>` from [`open`] and never know which one is underneath.

mod error;
mod postgres;
mod schema;
mod schema_pg;
mod sqlite;
mod store;

pub use error::StoreError;
pub use postgres::{PgStore, is_postgres_url, redact_url};
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
pub use store::Store;

use std::path::Path;

/// Opens the store at `location`, creating it if needed and migrating an
/// older schema: a `postgres://` or `postgresql://` URL opens a [`PgStore`]
/// (a `schema=NAME` query parameter keeps it in that schema, see
/// [`PgStore::connect`]); anything else is the path of an SQLite file.
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if is_postgres_url(location) {
        Ok(Box::new(PgStore::connect(location)?))
    } else {
        Ok(Box::new(SqliteStore::open(Path::new(location))?))
    }
}

/// Opens an existing store at `location` (as [`open`] reads it); a missing
/// SQLite file, or a database or schema without simforge's tables, is
/// [`StoreError::NoStore`] rather than a new store. For read-only commands.
pub fn open_existing(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if is_postgres_url(location) {
        Ok(Box::new(PgStore::connect_existing(location)?))
    } else {
        Ok(Box::new(SqliteStore::open_existing(Path::new(location))?))
    }
}

use simforge_core::RunState;

/// What the store records about a study.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRow {
    /// Study name (unique in a store).
    pub name: String,
    /// Hash of the current spec.
    pub spec_hash: String,
    /// The current spec, as canonical JSON.
    pub spec_json: String,
    /// Path of the study file, as given.
    pub study_file: String,
    /// Simulator identity.
    pub simulator: String,
    /// Generation of the current plan: runs with this generation form the study now.
    pub plan_gen: i64,
    /// Runs in the current plan.
    pub planned_runs: i64,
    /// When the study was first stored.
    pub created_at: String,
    /// When the plan last changed.
    pub updated_at: String,
}

/// Result of storing a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanStats {
    /// Runs in the plan.
    pub planned: u64,
    /// Runs the store did not know before.
    pub new: u64,
}

/// A run to execute, as loaded from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRun {
    /// Run id.
    pub id: String,
    /// Design index.
    pub index: u64,
    /// Replicate number.
    pub replicate: u32,
    /// Seed.
    pub seed: u64,
    /// Parameters as a JSON object.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Attempts made in earlier invocations.
    pub attempts: u32,
}

/// One finished attempt, as the executor reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// Run id.
    pub run_id: String,
    /// Attempt number (1-based over the run's life).
    pub attempt: u32,
    /// Outcome of this attempt: succeeded, failed, timed_out or cancelled.
    pub state: RunState,
    /// Start time, RFC 3339.
    pub started_at: String,
    /// End time, RFC 3339.
    pub finished_at: String,
    /// Wall-clock seconds.
    pub duration_s: f64,
    /// Exit code of the command, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended the command, if any.
    pub signal: Option<i32>,
    /// Why it failed.
    pub reason: Option<String>,
    /// Host that ran it.
    pub host: String,
    /// Peak resident memory of the command in KiB, if measured.
    pub max_rss_kb: Option<i64>,
    /// Metrics (empty unless succeeded).
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// Hash of the spec it ran under.
    pub spec_hash: String,
}

/// A change to apply to the store, queued by the execution loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// An attempt started.
    Started {
        /// Run id.
        run_id: String,
        /// Attempt number.
        attempt: u32,
        /// Start time.
        started_at: String,
        /// Host.
        host: String,
    },
    /// An attempt finished; `run_state` is where the run goes next
    /// (`pending` again when a retry follows).
    Finished {
        /// The attempt.
        record: AttemptRecord,
        /// The run's next state.
        run_state: RunState,
    },
    /// A run goes back to pending without a finished attempt (interrupted).
    Requeued {
        /// Run id.
        run_id: String,
    },
}

/// Filter for listing runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Include runs that left the plan (a re-planned study keeps them).
    pub all_plans: bool,
}
