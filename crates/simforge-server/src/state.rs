//! What every handler shares: the database pool, the configuration, the token
//! cache and the request counters behind `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::auth::TokenCache;
use crate::config::ServerConfig;
use crate::db::Db;

/// The shared state.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration it started with.
    pub config: ServerConfig,
    /// Recently checked tokens.
    pub tokens: TokenCache,
    /// When the server started.
    pub started: Instant,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Requests answered with a 5xx status.
    pub server_errors: AtomicU64,
    /// Per-token (or per-address) request counts for rate limiting.
    pub rate: crate::api::limits::RateLimiter,
    /// The adaptive loops (`optimize:` studies) this process drives.
    pub loops: crate::adaptive::Loops,
}

/// The state as handlers receive it.
pub type Shared = Arc<AppState>;
