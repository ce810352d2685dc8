//! simforge's server mode: `simforge serve` turns the engine into a shared
//! service on PostgreSQL — an HTTP API under `/api/v1` with users, API tokens
//! and per-project roles, per-simulator queues that remote `simforge worker`
//! processes pull with leases, an audit log of every mutation, and
//! Prometheus metrics.
//!
//! Layers, outermost first: [`api`] (routes, auth extractors, limits) →
//! [`queue`] and the store (`simforge_store::PgStore`) → PostgreSQL. Handlers
//! never hold a connection across an await: database work runs on the
//! blocking pool ([`db::Db::run`]).

pub mod adaptive;
pub mod admin;
pub mod api;
pub mod artifacts;
pub mod auth;
pub mod config;
pub mod datasets;
pub mod db;
pub mod error;
pub mod etl;
pub mod ingest;
pub mod local;
pub mod queue;
pub mod state;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

pub use config::ServerConfig;
pub use error::{ApiError, ApiResult};

use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Database {
        /// URL without password.
        url: String,
        /// Cause.
        source: simforge_store::StoreError,
    },
    /// The listen address could not be bound.
    #[error(
        "listening on {addr}: {source}\n  hint: pick a free port with `listen:` in the config or SIMFORGE_SERVER__LISTEN"
    )]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A setting the profile requires is missing.
    #[error("server configuration: {0}")]
    Config(String),
    /// The storage directory could not be created.
    #[error("storage directory {path}: {source}")]
    Storage {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Opens the database and builds the shared state.
pub fn prepare(config: ServerConfig) -> Result<state::Shared, ServeError> {
    required_in_prod(&config)?;
    std::fs::create_dir_all(&config.storage.path).map_err(|source| ServeError::Storage {
        path: config.storage.path.display().to_string(),
        source,
    })?;
    let db = db::Db::open(
        &config.database.url,
        &config.database.schema,
        config.database.pool_size,
    )
    .map_err(|source| ServeError::Database {
        url: simforge_store::redact_url(&config.database.url),
        source,
    })?;
    Ok(Arc::new(AppState {
        db,
        config,
        tokens: Default::default(),
        started: Instant::now(),
        requests: AtomicU64::new(0),
        server_errors: AtomicU64::new(0),
        rate: Default::default(),
        loops: Default::default(),
    }))
}

/// Settings the prod profile cannot serve without. Without a signing key,
/// dataset download links would be signed with a per-process key, which
/// breaks every link on restart and between replicas: refuse to start
/// rather than hand out links that fail later.
fn required_in_prod(config: &ServerConfig) -> Result<(), ServeError> {
    if config.profile == "prod" && config.datasets.signing_key.is_none() {
        return Err(ServeError::Config(
            "the prod profile requires `datasets.signing_key` (at least 32 bytes; it signs \
             dataset download links)\n  hint: set it in the file or in \
             SIMFORGE_SERVER__DATASETS__SIGNING_KEY, e.g. from `head -c 32 /dev/urandom | base64`"
                .into(),
        ));
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then stops taking requests and lets the
/// ones in flight finish (graceful shutdown). Calls `on_bound` with the
/// address actually bound (useful with port 0).
pub async fn serve(
    state: state::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let addr = state.config.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    on_bound(bound);
    tracing::info!(%bound, profile = %state.config.profile, "simforge server listening");
    let sweeper = tokio::spawn(sweep_leases(state.clone()));
    let _etl = crate::etl::Background::spawn(&state);
    let _loops = crate::adaptive::Background::spawn(&state);
    let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServeError::Bind {
            addr: bound.to_string(),
            source,
        });
    sweeper.abort();
    tracing::info!("simforge server stopped");
    result
}

/// Expires lapsed leases every `leases.sweep_s`.
async fn sweep_leases(state: state::Shared) {
    let every = Duration::from_secs_f64(state.config.leases.sweep_s.max(0.05));
    let max_losses = state.config.leases.max_losses;
    loop {
        tokio::time::sleep(every).await;
        let swept = state
            .db
            .run(move |c| crate::queue::sweep_expired(c, max_losses))
            .await;
        if let Err(e) = swept {
            tracing::warn!(error = %e, "lease sweep failed");
        }
    }
}
