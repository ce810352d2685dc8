//! Bulk ingestion of results produced elsewhere (`simforge push`).
//!
//! A client first registers a study (`PUT .../studies/{name}/source`): the
//! server checks and plans it exactly like a submission, but marks it
//! `external`, so no worker is ever given its runs. The client then posts
//! batches of finished runs (`POST .../studies/{name}/ingest`), each named
//! by an `Idempotency-Key`. One batch is one transaction:
//!
//! - a key already seen for the study returns the stored answer and changes
//!   nothing ([`batch`]);
//! - every record is checked ([`validate`]): its fields and their types,
//!   parameters exactly the study's and inside their domains, a settled
//!   state, metrics that are finite numbers, strings or null (the declared
//!   ones present on success), RFC 3339 timestamps, a duration ≥ 0;
//! - a valid record is matched to the server's run at the same design
//!   position with the same parameters and seed ([`plan`], cached per plan
//!   generation) and upserted with set-based SQL, never overwriting a run
//!   that already succeeded;
//! - anything else goes to the quarantine table with the reason and the
//!   field at fault, visible through the API ([`api`]). Nothing is dropped
//!   silently: every record of a batch is accepted, a duplicate, or
//!   quarantined, and the answer says which.

pub mod api;
pub mod batch;
pub mod plan;
pub mod validate;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

use crate::state::Shared;

/// Counter of records that changed the store.
pub const INGESTED_RESULTS: &str = "ingested_results";
/// Counter of records set aside.
pub const QUARANTINED_RECORDS: &str = "quarantined_records";
/// Counter of batches applied (replays not counted).
pub const INGEST_BATCHES: &str = "ingest_batches";

/// Tables of this feature (one migration): applied batches with their
/// stored answers, quarantined records, and the `external` study state.
///
/// Both tables carry the study's *incarnation* (the store's
/// `studies.created_at`): a study deleted and registered again starts with
/// no batches, so its old keys are not answered from a record of data that
/// is gone.
pub const SCHEMA: &str = r#"
    ALTER TABLE server_studies DROP CONSTRAINT IF EXISTS server_studies_state_check;
    ALTER TABLE server_studies ADD CONSTRAINT server_studies_state_check
        CHECK (state IN ('active', 'cancelled', 'external'));
    CREATE TABLE ingest_batches (
        study TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        key TEXT NOT NULL,
        body_hash TEXT NOT NULL,
        user_id BIGINT,
        records INTEGER NOT NULL,
        accepted INTEGER NOT NULL DEFAULT 0,
        duplicates INTEGER NOT NULL DEFAULT 0,
        quarantined INTEGER NOT NULL DEFAULT 0,
        response JSONB,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (study, incarnation, key)
    );
    CREATE INDEX ingest_batches_by_time ON ingest_batches (study, received_at);
    CREATE TABLE ingest_quarantine (
        id BIGSERIAL PRIMARY KEY,
        study TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        batch_key TEXT NOT NULL,
        position INTEGER NOT NULL,
        design_index BIGINT,
        replicate BIGINT,
        record TEXT NOT NULL,
        reason TEXT NOT NULL,
        field TEXT,
        received_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX ingest_quarantine_by_study ON ingest_quarantine (study, incarnation, id);
"#;

/// Routes under `/api/v1`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/projects/{project}/studies/{name}/source",
            put(api::register).get(crate::api::studies::source),
        )
        .route(
            "/projects/{project}/studies/{name}/ingest",
            post(api::ingest),
        )
        .route(
            "/projects/{project}/studies/{name}/quarantine",
            get(api::quarantine),
        )
        .route(
            "/projects/{project}/studies/{name}/batches",
            get(api::batches),
        )
        // A batch of 5,000 records is a few MB, above axum's default 2 MB
        // for a buffered body; `limits.body_bytes` (64 MiB) still bounds it.
        .layer(DefaultBodyLimit::disable())
}
