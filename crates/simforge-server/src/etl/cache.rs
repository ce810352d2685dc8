//! Report rows kept in memory until the ETL next writes their table: a
//! reporting dashboard asks for the same ranges again and again, and the
//! rows can only change when a job updates the table (its `last_updated` in
//! `etl_state` is the version). Entries are per caller visibility (server
//! administrators see every row; others only their projects'), bounded to
//! [`MAX_ENTRIES`], least recently used out first. Freshness (`lag_s`) is
//! never cached.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Entries kept.
pub const MAX_ENTRIES: usize = 256;

struct Entry {
    key: String,
    version: String,
    rows: Arc<Value>,
    used: u64,
}

static CACHE: Mutex<(Vec<Entry>, u64)> = Mutex::new((Vec::new(), 0));

/// The version of report table `table`: when the ETL last wrote it.
pub fn version(client: &mut impl postgres::GenericClient, table: &str) -> ApiResult<String> {
    Ok(client
        .query_opt(
            "SELECT last_updated::text FROM etl_state WHERE report = $1",
            &[&table],
        )?
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .unwrap_or_default())
}

/// The rows cached under `key` at `version`, or `compute`d and cached now;
/// with whether they came from the cache.
pub fn rows(
    key: String,
    version: String,
    compute: impl FnOnce() -> ApiResult<Value>,
) -> ApiResult<(Arc<Value>, bool)> {
    {
        let mut c = CACHE
            .lock()
            .map_err(|_| ApiError::internal("report cache poisoned"))?;
        c.1 += 1;
        let tick = c.1;
        if let Some(e) =
            c.0.iter_mut()
                .find(|e| e.key == key && e.version == version)
        {
            e.used = tick;
            return Ok((e.rows.clone(), true));
        }
    }
    let rows = Arc::new(compute()?);
    let mut c = CACHE
        .lock()
        .map_err(|_| ApiError::internal("report cache poisoned"))?;
    c.1 += 1;
    let tick = c.1;
    c.0.retain(|e| e.key != key);
    if c.0.len() >= MAX_ENTRIES
        && let Some(oldest) =
            c.0.iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
    {
        c.0.remove(oldest);
    }
    c.0.push(Entry {
        key,
        version,
        rows: rows.clone(),
        used: tick,
    });
    Ok((rows, false))
}
