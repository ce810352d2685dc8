//! Versioned datasets with metadata extraction.
//!
//! A dataset is a name in a project; each upload of that name is a new
//! version (1, 2, ...), unless its content equals the latest version, which
//! is then returned again (`deduplicated: true`). Content is stored once per
//! SHA-256 ([`storage`]: a local directory or an S3-compatible object
//! store), however many versions and datasets share it. On upload the body
//! is streamed to disk while hashed ([`upload`]) and described by
//! `simforge_formats` (CSV, JSON, NumPy, HDF5, NetCDF, VTK) on a blocking
//! thread; the description is kept as the version's `metadata`. Downloads
//! go through links signed with a server secret that expire ([`signing`]).
//! Uploads and link creation are audited.

mod api;
pub mod signing;
pub mod storage;
pub mod upload;

use std::path::PathBuf;

use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;

pub use signing::Secret;
pub use storage::{Backend, BlobStore, LocalStore, S3Config, Storage};

use crate::state::Shared;

/// Tables of this feature (one migration): datasets, their versions, and
/// the blobs the versions refer to.
pub const SCHEMA: &str = r#"
    CREATE TABLE datasets (
        id BIGSERIAL PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (project_id, name)
    );
    CREATE TABLE dataset_blobs (
        sha256 TEXT PRIMARY KEY,
        size_bytes BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE dataset_versions (
        dataset_id BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL REFERENCES dataset_blobs (sha256),
        size_bytes BIGINT NOT NULL,
        content_type TEXT,
        file_name TEXT NOT NULL,
        format TEXT NOT NULL,
        metadata JSONB NOT NULL,
        description TEXT,
        uploader_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
        uploader TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (dataset_id, version)
    );
    CREATE INDEX dataset_versions_by_blob ON dataset_versions (sha256);
"#;

/// The `datasets` configuration section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetsConfig {
    /// Largest upload, bytes (uploads are not bound by `limits.body_bytes`).
    pub max_bytes: u64,
    /// Secret that signs download links (at least 32 bytes). Required in
    /// the prod profile; elsewhere a random per-process key is used.
    pub signing_key: Option<Secret>,
    /// Longest lifetime a download link may ask for, seconds.
    pub link_max_s: u64,
    /// `local` or `s3`.
    pub backend: Backend,
    /// Directory of the local backend; default `<storage.path>/datasets`.
    pub path: Option<PathBuf>,
    /// The S3-compatible store of the `s3` backend.
    pub s3: S3Config,
}

impl Default for DatasetsConfig {
    fn default() -> Self {
        DatasetsConfig {
            max_bytes: 64 << 30,
            signing_key: None,
            link_max_s: 7 * 24 * 3600,
            backend: Backend::Local,
            path: None,
            s3: S3Config::default(),
        }
    }
}

/// Routes under `/api/v1`, but for the upload ([`upload_routes`]).
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/projects/{project}/datasets", get(api::list))
        .route("/projects/{project}/datasets/{name}", get(api::versions))
        .route(
            "/projects/{project}/datasets/{name}/versions/{version}",
            get(api::version),
        )
        .route(
            "/projects/{project}/datasets/{name}/versions/{version}/link",
            post(api::link),
        )
        .route("/blobs/{sha}", get(api::blob))
}

/// The upload route, under `/api/v1`: served outside `limits.body_bytes`
/// and `limits.request_timeout_s`, which bound every other request, because
/// a dataset is as large as `datasets.max_bytes` allows and takes as long as
/// the link needs; a stalled upload still ends after a pause of
/// `limits.request_timeout_s`.
pub fn upload_routes() -> Router<Shared> {
    Router::new().route("/projects/{project}/datasets/{name}", post(api::upload))
}
