//! Scheduled ETL of raw results into reporting tables.
//!
//! Raw results (the store's `runs` and `attempts`) are written for the
//! engine, not for analytics. The ETL turns them into three reporting tables
//! — per study × metric summary statistics, per simulator queue × day
//! performance, per host × day performance — on a cron schedule
//! (`etl.schedule`), with `simforge etl run` ([`run_etl`]) or
//! `POST /api/v1/etl/run` on demand.
//!
//! Guarantees:
//! - **Incremental**: database triggers log which studies and attempts
//!   changed; a run reads only those and recomputes only the groups they
//!   touch ([`jobs`]).
//! - **Idempotent**: groups are recomputed from scratch and upserted only
//!   where the numbers differ; a rerun with nothing new changes nothing.
//! - **One at a time**: a PostgreSQL advisory lock (per schema) lets one
//!   server run it; scheduled runs elsewhere skip the tick.
//! - **Validated**: corrupt or incomplete records are counted, excluded and
//!   listed in `etl_rejects` with a reason; raw rows are never modified.
//! - **Observable**: every run is logged in `etl_runs`; each table has a
//!   `last_updated` the API returns with `lag_s`; counters `etl_runs`,
//!   `etl_failures`, `etl_rows_written`, `etl_rejects` and the gauges
//!   `etl_lag_seconds`, `etl_last_success_seconds` appear on `/metrics`.

mod api;
pub mod cache;
pub mod jobs;
mod schedule;
mod schema;

use axum::Router;
use axum::routing::{get, post};

pub use jobs::{EtlReport, TableReport, Trigger, run_etl, try_run_etl};
pub use schedule::{Background, DEFAULT_SCHEDULE, EtlConfig, Schedule};

use crate::state::Shared;

/// Tables of this feature (one migration).
pub const SCHEMA: &str = schema::SCHEMA;

/// A later migration of this feature: the runs trigger plans per call.
pub const REPLAN_RUNS_TRIGGER: &str = schema::REPLAN_RUNS_TRIGGER;

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/reports/studies/{project}/{name}", get(api::study_report))
        .route("/reports/simulators", get(api::simulators))
        .route("/reports/hosts", get(api::hosts))
        .route("/etl/runs", get(api::runs))
        .route("/etl/run", post(api::run))
        .route("/etl/rejects", get(api::rejects))
}
