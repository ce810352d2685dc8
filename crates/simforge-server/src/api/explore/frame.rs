//! A typed, in-memory copy of a study's runs for the explorer: one column
//! of numbers (or dictionary codes for text) per parameter and metric, plus
//! each run's design position and state. Loaded once per study version
//! (plan generation and run counts by state) with one streamed query, then
//! every filter, count, histogram, sample and sort is a pass over plain
//! arrays — milliseconds for a million runs, where the same query over the
//! JSONB rows takes a second or more. Only the rows a page shows are read
//! from PostgreSQL again. Frames are kept for the most recently used
//! studies, within [`BUDGET`] bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::borrow::Cow;

use serde_json::Value;

use super::filter::{Column, Cond, Op, Source, Value as Want};
use super::rowjson::{Scalar, number_text};
use crate::db::{Conn, Db};
use crate::error::{ApiError, ApiResult};

/// Bytes of frames kept in memory (the least recently used go first).
pub const BUDGET: usize = 512 << 20;

/// Run states, as stored per row.
pub const STATES: [&str; 6] = [
    "pending",
    "running",
    "succeeded",
    "failed",
    "timed_out",
    "cancelled",
];
/// The code of `succeeded`.
pub const SUCCEEDED: u8 = 2;

/// One column's values, one per run.
#[derive(Debug)]
pub enum Data {
    /// Numbers; NaN where a run has none.
    Number(Vec<f64>),
    /// Text, as codes into `dict`; `u32::MAX` where a run has none.
    Text {
        /// A code per run.
        codes: Vec<u32>,
        /// The distinct values.
        dict: Vec<String>,
    },
}

/// A study's runs, column by column.
#[derive(Debug)]
pub struct Frame {
    /// Design index of each run.
    pub idx: Vec<i64>,
    /// Replicate of each run.
    pub rep: Vec<i64>,
    /// State code of each run (index into [`STATES`]).
    pub state: Vec<u8>,
    /// Run time of each run (s); NaN where it has none.
    pub duration: Vec<f64>,
    /// Columns by name (`param.NAME`, `metric.NAME`), params first.
    pub cols: Vec<(String, Data)>,
    /// The study's version this copy holds (answers computed from it can be
    /// cached under it).
    pub version: Version,
}

/// What a frame was built from: the plan generation and the runs per state.
pub type Version = (i64, Vec<i64>);

struct Entry {
    key: String,
    version: Version,
    frame: Arc<Frame>,
    bytes: usize,
    used: u64,
    loaded: std::time::Instant,
}

/// A study page warms the explorer at most this often per study (a running
/// study changes version with every result; the explorer itself always
/// loads the current one).
const WARM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

static CACHE: Mutex<(Vec<Entry>, u64)> = Mutex::new((Vec::new(), 0));

/// Studies whose frame is being loaded now (one load per study at a time).
static LOADING: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Marks `key` as loading for as long as it lives.
struct Loading(String);

impl Drop for Loading {
    fn drop(&mut self) {
        if let Ok(mut l) = LOADING.lock() {
            l.retain(|k| *k != self.0);
        }
    }
}

/// Claims the load of `key`, or `None` while another thread loads it.
fn claim(key: &str) -> Option<Loading> {
    let mut l = LOADING.lock().ok()?;
    if l.iter().any(|k| k == key) {
        return None;
    }
    l.push(key.to_string());
    Some(Loading(key.to_string()))
}

fn cached(key: &str, version: &Version) -> ApiResult<Option<Arc<Frame>>> {
    let mut cache = CACHE
        .lock()
        .map_err(|_| ApiError::internal("explorer cache poisoned"))?;
    cache.1 += 1;
    let tick = cache.1;
    Ok(cache
        .0
        .iter_mut()
        .find(|e| e.key == key && e.version == *version)
        .map(|e| {
            e.used = tick;
            e.frame.clone()
        }))
}

/// Loads the frame of `key` if it is not current, without waiting for a
/// load in progress: what the study page calls, so that the explorer finds
/// the frame ready.
pub fn warm(conn: &mut Conn, db: Option<&Db>, schema: &str, key: &str) -> ApiResult<()> {
    let schema_key = format!("{schema}/{key}");
    let recent = CACHE.lock().is_ok_and(|c| {
        c.0.iter()
            .any(|e| e.key == schema_key && e.loaded.elapsed() < WARM_EVERY)
    });
    if recent {
        return Ok(());
    }
    let version = version(conn, key)?;
    if cached(&schema_key, &version)?.is_some() {
        return Ok(());
    }
    if let Some(_claim) = claim(&schema_key) {
        let frame = load(conn, db, key, &version)?;
        store(schema_key, version, frame)?;
    }
    Ok(())
}

impl Frame {
    /// The frame of `runs` (in their order): what `simforge ui` builds from
    /// its local store, so that both explorers filter, sample and sort alike.
    pub fn from_records(runs: &[simforge_core::results::RunRecord]) -> Frame {
        let mut p = Part::with_capacity(runs.len());
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for r in runs {
            let n = p.push_run(
                r.index as i64,
                i64::from(r.replicate),
                r.state.as_str(),
                r.duration_s,
            );
            for (prefix, map) in [("param", &r.params), ("metric", &r.metrics)] {
                for (k, v) in map {
                    let name = format!("{prefix}.{k}");
                    let c = *by_name
                        .entry(name.clone())
                        .or_insert_with(|| p.add_column(name));
                    let scalar = match v {
                        Value::Number(x) => {
                            x.as_f64().map_or(Scalar::Json(v.clone()), Scalar::Number)
                        }
                        Value::String(t) => Scalar::Text(Cow::Borrowed(t)),
                        other => Scalar::Json(other.clone()),
                    };
                    p.put(c, n, &scalar);
                }
            }
        }
        p.finish()
    }

    fn bytes(&self) -> usize {
        let cols: usize = self
            .cols
            .iter()
            .map(|(n, d)| {
                n.len()
                    + match d {
                        Data::Number(v) => v.len() * 8,
                        Data::Text { codes, dict } => {
                            codes.len() * 4 + dict.iter().map(|s| s.len() + 24).sum::<usize>()
                        }
                    }
            })
            .sum();
        self.idx.len() * 25 + cols
    }

    /// The column named `col`.
    pub fn column(&self, col: &Column) -> Option<&Data> {
        let kind = match col.source {
            Source::Param => "param",
            Source::Metric => "metric",
        };
        let name = format!("{kind}.{}", col.name);
        self.cols.iter().find(|(n, _)| *n == name).map(|(_, d)| d)
    }

    /// The number of run `i` in `col`, if it has one.
    pub fn number(data: &Data, i: usize) -> Option<f64> {
        match data {
            Data::Number(v) => v.get(i).copied().filter(|x| !x.is_nan()),
            Data::Text { .. } => None,
        }
    }

    /// At most `n` of `rows`, spread evenly over them (those with the lowest
    /// [`sample_rank`]: the same on every call), in row order.
    pub fn spread(&self, mut rows: Vec<u32>, n: usize) -> Vec<u32> {
        if n == 0 {
            return Vec::new();
        }
        if rows.len() > n {
            let rank = |&i: &u32| sample_rank(self.idx[i as usize], self.rep[i as usize]);
            rows.select_nth_unstable_by_key(n - 1, rank);
            rows.truncate(n);
            rows.sort_unstable();
        }
        rows
    }

    /// Rows (indices) in `state` (any when `None`) meeting every condition.
    pub fn select(&self, conds: &[Cond], state: Option<u8>) -> Vec<u32> {
        let cols: Vec<Option<&Data>> = conds.iter().map(|c| self.column(&c.column)).collect();
        (0..self.idx.len() as u32)
            .filter(|&i| {
                let i = i as usize;
                state.is_none_or(|s| self.state[i] == s)
                    && conds
                        .iter()
                        .zip(&cols)
                        .all(|(c, d)| d.is_some_and(|d| holds(c, d, i)))
            })
            .collect()
    }
}

fn holds(c: &Cond, data: &Data, i: usize) -> bool {
    match (&c.value, data) {
        (Want::Number(x), Data::Number(v)) => {
            let y = v[i];
            !y.is_nan()
                && match c.op {
                    Op::Gt => y > *x,
                    Op::Gte => y >= *x,
                    Op::Lt => y < *x,
                    Op::Lte => y <= *x,
                    Op::Eq => y == *x,
                    Op::Ne => y != *x,
                }
        }
        (Want::Text(t), Data::Text { codes, dict }) => {
            let code = codes[i];
            code != u32::MAX && {
                let same = dict[code as usize] == *t;
                if c.op == Op::Ne { !same } else { same }
            }
        }
        // A value that did not read as a number (`eq`/`ne` only) against a
        // number column: equal when it names the same number.
        (Want::Text(t), Data::Number(v)) => {
            let y = v[i];
            !y.is_nan() && {
                let same = t.parse::<f64>().is_ok_and(|x| x == y);
                if c.op == Op::Ne { !same } else { same }
            }
        }
        (Want::Number(_), Data::Text { .. }) => false,
    }
}

/// The study's version: its plan generation and runs per state (an
/// index-only scan of `runs_by_plan`, not a read of every row).
fn version(conn: &mut Conn, key: &str) -> ApiResult<Version> {
    let Some(plan_gen) = conn
        .client()
        .query_opt("SELECT plan_gen FROM studies WHERE name = $1", &[&key])?
        .map(|r| r.get::<_, i64>(0))
    else {
        return Err(ApiError::not_found(format!("no study `{key}`")));
    };
    let mut counts = vec![0i64; STATES.len()];
    for r in conn.client().query(
        "SELECT state, count(*) FROM runs WHERE study = $1 AND plan_gen = $2 GROUP BY state",
        &[&key, &plan_gen],
    )? {
        let state: String = r.get(0);
        if let Some(i) = STATES.iter().position(|s| *s == state) {
            counts[i] = r.get(1);
        }
    }
    Ok((plan_gen, counts))
}

/// Keeps `frame` for `key`, dropping the least recently used frames beyond
/// [`BUDGET`].
fn store(key: String, version: Version, mut frame: Frame) -> ApiResult<Arc<Frame>> {
    frame.version = version.clone();
    let frame = Arc::new(frame);
    let bytes = frame.bytes();
    let mut cache = CACHE
        .lock()
        .map_err(|_| ApiError::internal("explorer cache poisoned"))?;
    cache.1 += 1;
    let tick = cache.1;
    cache.0.retain(|e| e.key != key);
    while !cache.0.is_empty() && cache.0.iter().map(|e| e.bytes).sum::<usize>() + bytes > BUDGET {
        let oldest = cache
            .0
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.used)
            .map(|(i, _)| i)
            .unwrap_or(0);
        cache.0.remove(oldest);
    }
    cache.0.push(Entry {
        key,
        version,
        frame: frame.clone(),
        bytes,
        used: tick,
        loaded: std::time::Instant::now(),
    });
    Ok(frame)
}

/// The frame of `key` (the study) in the database `schema`, loaded or
/// reused; while another request loads it, waits for that load.
pub fn frame(conn: &mut Conn, db: Option<&Db>, schema: &str, key: &str) -> ApiResult<Arc<Frame>> {
    let schema_key = format!("{schema}/{key}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let version = version(conn, key)?;
        if let Some(f) = cached(&schema_key, &version)? {
            return Ok(f);
        }
        // A large running study changes with every result: answer from its
        // copy of moments ago while the current one loads in the background,
        // rather than make every interaction wait for a reload.
        if let Some(db) = db
            && let Some(old) = behind(&schema_key, &version)
        {
            if let Some(claim) = claim(&schema_key) {
                let (db, key) = (db.clone(), key.to_string());
                std::thread::spawn(move || {
                    let reloaded = db.get().and_then(|mut c| {
                        let version = self::version(&mut c, &key)?;
                        let frame = load(&mut c, Some(&db), &key, &version)?;
                        store(claim.0.clone(), version, frame)
                    });
                    if let Err(e) = reloaded {
                        tracing::warn!(study = key, error = %e.message, "reloading the explorer's copy failed");
                    }
                    drop(claim);
                });
            }
            return Ok(old);
        }
        match claim(&schema_key) {
            Some(_claim) => {
                let frame = load(conn, db, key, &version)?;
                return store(schema_key, version, frame);
            }
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            None => {
                return Err(
                    ApiError::unavailable("the study's results are still loading")
                        .with_hint("try again in a moment"),
                );
            }
        }
    }
}

/// The copy of a large study (at least [`ROWS_PER_PART`] runs) of the same
/// plan as `version`, only behind it by results, loaded less than
/// [`STALE_FOR`] ago.
fn behind(key: &str, version: &Version) -> Option<Arc<Frame>> {
    let cache = CACHE.lock().ok()?;
    cache
        .0
        .iter()
        .find(|e| {
            e.key == key
                && e.version.0 == version.0
                && e.version.1.iter().sum::<i64>() >= ROWS_PER_PART
                && e.loaded.elapsed() < STALE_FOR
        })
        .map(|e| e.frame.clone())
}

/// How old a large running study's copy may be when the explorer answers
/// from it while reloading.
const STALE_FOR: std::time::Duration = std::time::Duration::from_secs(20);

/// Studies with more runs than this load in several parts at once, each on
/// its own connection (PostgreSQL's JSON output and the parsing here both
/// take a core).
const ROWS_PER_PART: i64 = 100_000;
/// Most parts one load uses.
const MAX_PARTS: usize = 4;

/// Loads the study's current runs into columns: in design order, in up to
/// [`MAX_PARTS`] design-index ranges at once when it is large.
fn load(conn: &mut Conn, db: Option<&Db>, key: &str, version: &Version) -> ApiResult<Frame> {
    let (plan_gen, counts) = version;
    let rows: i64 = counts.iter().sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let want = ((rows / ROWS_PER_PART) as usize).clamp(1, cores.clamp(1, MAX_PARTS));
    let extra: Vec<Conn> = match db {
        Some(db) if want > 1 => (1..want).filter_map(|_| db.try_get()).collect(),
        _ => Vec::new(),
    };
    if extra.is_empty() {
        return Ok(load_part(conn, key, *plan_gen, None)?.finish());
    }
    let bounds = conn.client().query_one(
        "SELECT min(idx), max(idx) FROM runs WHERE study = $1 AND plan_gen = $2",
        &[&key, plan_gen],
    )?;
    let (Some(lo), Some(hi)) = (
        bounds.get::<_, Option<i64>>(0),
        bounds.get::<_, Option<i64>>(1),
    ) else {
        return Ok(load_part(conn, key, *plan_gen, None)?.finish());
    };
    // Equal index ranges: designs number their points densely.
    let parts = extra.len() + 1;
    let span = (hi - lo) / parts as i64 + 1;
    let range = |k: usize| {
        let a = lo + span * k as i64;
        (a, if k + 1 == parts { hi + 1 } else { a + span })
    };
    let loaded: Vec<ApiResult<Part>> = std::thread::scope(|scope| {
        let handles: Vec<_> = extra
            .into_iter()
            .enumerate()
            .map(|(k, mut c)| {
                let r = range(k + 1);
                scope.spawn(move || load_part(&mut c, key, *plan_gen, Some(r)))
            })
            .collect();
        let mut out = vec![load_part(conn, key, *plan_gen, Some(range(0)))];
        out.extend(handles.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(ApiError::internal("loading the explorer's copy failed")))
        }));
        out
    });
    let parts: Vec<Part> = loaded.into_iter().collect::<ApiResult<_>>()?;
    Ok(Part::merge(parts))
}

/// Runs of one index range, with the dictionaries of its text columns.
struct Part {
    frame: Frame,
    /// Per column: text value → code.
    dicts: Vec<HashMap<String, u32>>,
}

/// Streams the study's current runs (those with `lo <= idx < hi` when a
/// range is given) into columns.
fn load_part(
    conn: &mut Conn,
    key: &str,
    plan_gen: i64,
    range: Option<(i64, i64)>,
) -> ApiResult<Part> {
    use super::rowjson::{RawJson, for_each_entry};
    let mut p = Part::with_capacity(0);
    // Column of each key, per kind (looked up without allocating).
    let mut by_key: [HashMap<String, usize>; 2] = [HashMap::new(), HashMap::new()];
    let mut tx = conn.client().transaction()?;
    // A plan compiled for a one-off scan costs more than it saves.
    tx.batch_execute("SET LOCAL jit = off")?;
    let (lo, hi) = range.unwrap_or((i64::MIN, i64::MAX));
    let stmt = tx.prepare(
        "SELECT idx, replicate, state, params, metrics, duration_s FROM runs
         WHERE study = $1 AND plan_gen = $2 AND idx >= $3 AND idx < $4 ORDER BY idx, replicate",
    )?;
    let params: [&(dyn postgres::types::ToSql + Sync); 4] = [&key, &plan_gen, &lo, &hi];
    let mut rows = tx.query_raw(&stmt, params)?;
    use postgres::fallible_iterator::FallibleIterator;
    while let Some(r) = rows.next()? {
        let n = p.push_run(r.get(0), r.get(1), r.get(2), r.get(5));
        for (kind, json) in [
            (0usize, Some(r.get::<_, RawJson<'_>>(3))),
            (1, r.get::<_, Option<RawJson<'_>>>(4)),
        ] {
            let Some(json) = json else { continue };
            let parsed = for_each_entry(json.0, &mut |k, v| {
                let c = match by_key[kind].get(k) {
                    Some(&c) => c,
                    None => {
                        let prefix = if kind == 0 { "param" } else { "metric" };
                        let c = p.add_column(format!("{prefix}.{k}"));
                        by_key[kind].insert(k.to_string(), c);
                        c
                    }
                };
                p.put(c, n, &v);
            });
            parsed.map_err(|e| {
                ApiError::internal(format!("a run's stored JSON does not parse: {e}"))
            })?;
        }
    }
    drop(rows);
    tx.commit()?;
    Ok(p)
}

impl Part {
    /// An empty part with room for `runs` runs.
    fn with_capacity(runs: usize) -> Part {
        Part {
            frame: Frame {
                idx: Vec::with_capacity(runs),
                rep: Vec::with_capacity(runs),
                state: Vec::with_capacity(runs),
                duration: Vec::with_capacity(runs),
                cols: Vec::new(),
                version: (0, Vec::new()),
            },
            dicts: Vec::new(),
        }
    }

    /// Appends a run (its columns missing until [`Part::put`]); its row.
    fn push_run(&mut self, idx: i64, rep: i64, state: &str, duration: Option<f64>) -> usize {
        let f = &mut self.frame;
        f.idx.push(idx);
        f.rep.push(rep);
        f.state
            .push(STATES.iter().position(|s| *s == state).unwrap_or(0) as u8);
        f.duration.push(duration.unwrap_or(f64::NAN));
        f.idx.len() - 1
    }

    /// Adds an empty column called `name`; its position.
    fn add_column(&mut self, name: String) -> usize {
        self.frame.cols.push((name, Data::Number(Vec::new())));
        self.dicts.push(HashMap::new());
        self.frame.cols.len() - 1
    }

    /// Stores `v` as row `n` of column `c`.
    fn put(&mut self, c: usize, n: usize, v: &Scalar<'_>) {
        put(&mut self.frame.cols[c].1, &mut self.dicts[c], n, v);
    }

    /// The frame: every column as long as the runs (missing at the end where
    /// runs lack it), parameters first, then metrics, each by name.
    fn finish(self) -> Frame {
        let mut f = self.frame;
        let n = f.idx.len();
        for (_, d) in &mut f.cols {
            match d {
                Data::Number(v) => v.resize(n, f64::NAN),
                Data::Text { codes, .. } => codes.resize(n, u32::MAX),
            }
        }
        f.cols.sort_by(|a, b| {
            b.0.starts_with("param.")
                .cmp(&a.0.starts_with("param."))
                .then(a.0.cmp(&b.0))
        });
        f
    }

    /// Parts of consecutive index ranges, in order, as one frame: every
    /// column of any part, text wherever any part has text. A part's columns
    /// may stop short of its runs (missing values at the end).
    fn merge(parts: Vec<Part>) -> Frame {
        let total: usize = parts.iter().map(|p| p.frame.idx.len()).sum();
        let mut out = Part::with_capacity(total);
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for part in parts {
            let start = out.frame.idx.len();
            let f = part.frame;
            out.frame.idx.extend(f.idx);
            out.frame.rep.extend(f.rep);
            out.frame.state.extend(f.state);
            out.frame.duration.extend(f.duration);
            for (name, data) in f.cols {
                let c = *by_name
                    .entry(name.clone())
                    .or_insert_with(|| out.add_column(name));
                let (col, dict) = (&mut out.frame.cols[c].1, &mut out.dicts[c]);
                match data {
                    Data::Number(v) if matches!(col, Data::Number(_)) => {
                        if let Data::Number(dst) = col {
                            dst.resize(start, f64::NAN);
                            dst.extend(v);
                        }
                    }
                    Data::Number(v) => {
                        for (k, x) in v.into_iter().enumerate() {
                            if !x.is_nan() {
                                put(col, dict, start + k, &Scalar::Number(x));
                            }
                        }
                    }
                    Data::Text { codes, dict: names } => {
                        for (k, code) in codes.into_iter().enumerate() {
                            if let Some(text) = names.get(code as usize) {
                                put(col, dict, start + k, &Scalar::Text(Cow::Borrowed(text)));
                            }
                        }
                    }
                }
            }
        }
        out.finish()
    }
}

/// Stores `v` as row `n` of `d` (rows before it that lack the column stay
/// missing); a first text value turns a number column into text.
fn put(d: &mut Data, dict: &mut HashMap<String, u32>, n: usize, v: &Scalar<'_>) {
    if let (Data::Number(nums), Scalar::Number(x)) = (&mut *d, v) {
        nums.resize(n, f64::NAN);
        nums.push(*x);
        return;
    }
    if let Data::Number(nums) = d {
        let mut names: Vec<String> = Vec::new();
        let codes: Vec<u32> = nums
            .iter()
            .map(|x| {
                if x.is_nan() {
                    return u32::MAX;
                }
                let s = number_text(*x);
                *dict.entry(s.clone()).or_insert_with(|| {
                    names.push(s);
                    (names.len() - 1) as u32
                })
            })
            .collect();
        *d = Data::Text { codes, dict: names };
    }
    if let Data::Text { codes, dict: names } = d {
        let s = v.text();
        let code = match dict.get(s.as_ref()) {
            Some(&c) => c,
            None => {
                names.push(s.to_string());
                let c = (names.len() - 1) as u32;
                dict.insert(s.into_owned(), c);
                c
            }
        };
        codes.resize(n, u32::MAX);
        codes.push(code);
    }
}

/// A run's position in the sample order: a hash of its design position, so
/// the sample of a filter is the same on every call and spread evenly.
pub fn sample_rank(idx: i64, rep: i64) -> u64 {
    let mut x = (idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (rep as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part from rows of (column, value) entries, as `load_part` builds it.
    fn part(first_idx: i64, rows: &[&[(&str, Scalar<'static>)]]) -> Part {
        let mut p = Part::with_capacity(rows.len());
        for (k, row) in rows.iter().enumerate() {
            let n = p.push_run(first_idx + k as i64, 0, "succeeded", Some(1.0));
            for (name, v) in row.iter() {
                let c = match p.frame.cols.iter().position(|(c, _)| c == name) {
                    Some(c) => c,
                    None => p.add_column(name.to_string()),
                };
                p.put(c, n, v);
            }
        }
        p
    }

    /// Each column's values as text, for comparing frames.
    fn shown(f: &Frame) -> Vec<(String, Vec<String>)> {
        f.cols
            .iter()
            .map(|(name, d)| {
                let vals = (0..f.idx.len())
                    .map(|i| match d {
                        Data::Number(v) if v[i].is_nan() => "-".to_string(),
                        Data::Number(v) => format!("n{}", v[i]),
                        Data::Text { codes, dict } => dict
                            .get(codes[i] as usize)
                            .map_or("-".to_string(), |s| format!("t{s}")),
                    })
                    .collect();
                (name.clone(), vals)
            })
            .collect()
    }

    #[test]
    fn parts_merge_into_the_frame_one_load_would_build() {
        use Scalar::{Number as N, Text as T};
        let rows: Vec<Vec<(&str, Scalar<'static>)>> = vec![
            vec![("param.a", N(1.0)), ("metric.y", N(0.5))],
            vec![("param.a", N(2.0)), ("metric.y", N(1.5))],
            // Second part: `y` turns to text, `z` appears, `a` missing once.
            vec![
                ("param.a", N(3.0)),
                ("metric.y", T("bad".into())),
                ("metric.z", N(7.0)),
            ],
            vec![("metric.y", N(4.0))],
            // Third part: only numbers again, and a repeated text.
            vec![("param.a", N(5.0)), ("metric.y", T("bad".into()))],
        ];
        let refs: Vec<&[(&str, Scalar<'static>)]> = rows.iter().map(Vec::as_slice).collect();
        let whole = part(0, &refs).finish();
        let merged = Part::merge(vec![
            part(0, &refs[..2]),
            part(2, &refs[2..4]),
            part(4, &refs[4..]),
        ]);
        assert_eq!(merged.idx, whole.idx);
        assert_eq!(shown(&merged), shown(&whole));
        assert_eq!(
            shown(&merged),
            vec![
                (
                    "param.a".to_string(),
                    ["n1", "n2", "n3", "-", "n5"].map(String::from).to_vec()
                ),
                (
                    "metric.y".to_string(),
                    ["t0.5", "t1.5", "tbad", "t4", "tbad"]
                        .map(String::from)
                        .to_vec()
                ),
                (
                    "metric.z".to_string(),
                    ["-", "-", "n7", "-", "-"].map(String::from).to_vec()
                ),
            ]
        );
    }
}
