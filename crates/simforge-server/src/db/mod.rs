//! The server's database: a pool of PostgreSQL stores. Each pooled connection
//! is a [`PgStore`], so a handler uses the `Store` trait for studies and runs
//! and the same connection's client for the server's own tables, inside one
//! transaction where it needs to. Database work is synchronous and runs on
//! tokio's blocking pool, off the request threads.

mod schema;

use simforge_store::{PgStore, StoreError};

use crate::error::{ApiError, ApiResult};

/// Opens [`PgStore`]s for the pool.
#[derive(Debug)]
pub struct StoreManager {
    url: String,
    schema: String,
}

impl r2d2::ManageConnection for StoreManager {
    type Connection = PgStore;
    type Error = StoreError;

    fn connect(&self) -> Result<PgStore, StoreError> {
        PgStore::connect_in_schema(&self.url, &self.schema)
    }

    fn is_valid(&self, conn: &mut PgStore) -> Result<(), StoreError> {
        conn.client().simple_query("")?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgStore) -> bool {
        conn.client().is_closed()
    }
}

/// A pooled connection.
pub type Conn = r2d2::PooledConnection<StoreManager>;

/// The pool.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<StoreManager>,
}

impl Db {
    /// Connects, brings the store's and the server's schemas up to date, and
    /// keeps up to `size` connections.
    pub fn open(url: &str, schema: &str, size: u32) -> Result<Db, StoreError> {
        // The first connection migrates the store's schema; then the server's.
        let mut first = PgStore::connect_in_schema(url, schema)?;
        migrate(first.client())?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(size.max(2))
            .min_idle(Some(1))
            .connection_timeout(std::time::Duration::from_secs(10))
            .build(StoreManager {
                url: url.to_string(),
                schema: schema.to_string(),
            })
            .map_err(|e| StoreError::Connect {
                location: simforge_store::redact_url(url),
                detail: e.to_string(),
            })?;
        Ok(Db { pool })
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "database task failed");
            ApiError::internal("database task failed")
        })?
    }

    /// A connection for synchronous callers (admin commands, tests).
    pub fn get(&self) -> ApiResult<Conn> {
        Ok(self.pool.get()?)
    }

    /// A connection if one is idle now (or can be opened within the pool's
    /// size), without waiting: for work that can do with fewer.
    pub fn try_get(&self) -> Option<Conn> {
        self.pool.try_get()
    }
}

/// Applies the server's migrations, serialised across processes by an
/// advisory lock.
fn migrate(client: &mut postgres::Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7313001)", &[])?;
    let found: Option<String> = tx
        .query_opt(
            "SELECT value FROM meta WHERE key = 'server_schema_version'",
            &[],
        )?
        .map(|r| r.get(0));
    let found: usize = found.and_then(|v| v.parse().ok()).unwrap_or(0);
    if found > schema::MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            path: "the server schema".into(),
            found: found as i64,
            supported: schema::MIGRATIONS.len() as i64,
        });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('server_schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(i + 1).to_string()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Adds `by` to a named counter (lease expiries, quarantined records, ...).
pub fn bump(client: &mut impl postgres::GenericClient, name: &str, by: i64) -> ApiResult<()> {
    if by != 0 {
        client.execute(
            "INSERT INTO counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
            &[&name, &by],
        )?;
    }
    Ok(())
}
