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

use serde_json::Value;

use super::filter::{Column, Cond, Op, Source, Value as Want};
use crate::db::Conn;
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
}

/// What a frame was built from: the plan generation and the runs per state.
type Version = (i64, Vec<i64>);

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
pub fn warm(conn: &mut Conn, schema: &str, key: &str) -> ApiResult<()> {
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
        store(schema_key, version.clone(), load(conn, key, version.0)?)?;
    }
    Ok(())
}

impl Frame {
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
fn store(key: String, version: Version, frame: Frame) -> ApiResult<Arc<Frame>> {
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
pub fn frame(conn: &mut Conn, schema: &str, key: &str) -> ApiResult<Arc<Frame>> {
    let schema_key = format!("{schema}/{key}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let version = version(conn, key)?;
        if let Some(f) = cached(&schema_key, &version)? {
            return Ok(f);
        }
        match claim(&schema_key) {
            Some(_claim) => return store(schema_key, version.clone(), load(conn, key, version.0)?),
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

/// Streams the study's current runs into columns.
fn load(conn: &mut Conn, key: &str, plan_gen: i64) -> ApiResult<Frame> {
    let mut f = Frame {
        idx: Vec::new(),
        rep: Vec::new(),
        state: Vec::new(),
        duration: Vec::new(),
        cols: Vec::new(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut dicts: Vec<HashMap<String, u32>> = Vec::new();
    let client = conn.client();
    let mut tx = client.transaction()?;
    let stmt = tx.prepare(
        "SELECT idx, replicate, state, params, metrics, duration_s FROM runs
         WHERE study = $1 AND plan_gen = $2 ORDER BY idx, replicate",
    )?;
    let portal = tx.bind(&stmt, &[&key, &plan_gen])?;
    loop {
        let rows = tx.query_portal(&portal, 20_000)?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let n = f.idx.len();
            f.idx.push(r.get(0));
            f.rep.push(r.get(1));
            let state: String = r.get(2);
            f.state
                .push(STATES.iter().position(|s| *s == state).unwrap_or(0) as u8);
            f.duration
                .push(r.get::<_, Option<f64>>(5).unwrap_or(f64::NAN));
            let params: Value = r.get(3);
            let metrics: Option<Value> = r.get(4);
            for (kind, map) in [("param", Some(&params)), ("metric", metrics.as_ref())] {
                let Some(Value::Object(map)) = map else {
                    continue;
                };
                for (k, v) in map {
                    let name = format!("{kind}.{k}");
                    let c = *index.entry(name.clone()).or_insert_with(|| {
                        f.cols.push((name, Data::Number(Vec::new())));
                        dicts.push(HashMap::new());
                        f.cols.len() - 1
                    });
                    put(&mut f.cols[c].1, &mut dicts[c], n, v);
                }
            }
        }
    }
    tx.commit()?;
    let n = f.idx.len();
    for (_, d) in &mut f.cols {
        match d {
            Data::Number(v) => v.resize(n, f64::NAN),
            Data::Text { codes, .. } => codes.resize(n, u32::MAX),
        }
    }
    // Parameters first, then metrics, each by name.
    f.cols.sort_by(|a, b| {
        b.0.starts_with("param.")
            .cmp(&a.0.starts_with("param."))
            .then(a.0.cmp(&b.0))
    });
    Ok(f)
}

/// Stores `v` as row `n` of `d` (rows before it that lack the column stay
/// missing); a first text value turns a number column into text.
fn put(d: &mut Data, dict: &mut HashMap<String, u32>, n: usize, v: &Value) {
    if let (Data::Number(nums), Some(x)) = (&mut *d, v.as_f64()) {
        nums.resize(n, f64::NAN);
        nums.push(x);
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
                let s = Value::from(*x).to_string();
                *dict.entry(s.clone()).or_insert_with(|| {
                    names.push(s);
                    (names.len() - 1) as u32
                })
            })
            .collect();
        *d = Data::Text { codes, dict: names };
    }
    if let Data::Text { codes, dict: names } = d {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let code = *dict.entry(s.clone()).or_insert_with(|| {
            names.push(s);
            (names.len() - 1) as u32
        });
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
