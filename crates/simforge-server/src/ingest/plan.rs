//! The server's plan of an external study, as ingestion needs it: the
//! checking [`Rules`] (from the parsed study) and, for every design position
//! (index, replicate) of the current plan generation, the server run's id,
//! seed and encoded parameters.
//!
//! Built once per (study, incarnation, spec hash, plan generation) and kept
//! in memory, so a batch costs one small query to confirm the plan is still
//! current. A million-run plan takes about 60 MB: positions, 20-byte ids,
//! seeds and one `u64` per sampled parameter, in flat vectors.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use serde_json::Value;
use simforge_core::plan::RUN_ID_LEN;

use super::validate::{Rules, encode_params, same_coords};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};

/// Plans kept in memory at once.
const CACHED_PLANS: usize = 8;

/// One external study's current plan, indexed by design position.
pub struct StudyPlan {
    /// Store key (`project/name`).
    pub key: String,
    /// The study's incarnation (`studies.created_at`).
    pub incarnation: String,
    /// Spec hash of the plan.
    pub spec_hash: String,
    /// Plan generation.
    pub plan_gen: i64,
    /// What records must satisfy.
    pub rules: Rules,
    /// Sampled parameters per position.
    dims: usize,
    /// (index, replicate), sorted.
    positions: Vec<(u64, u32)>,
    /// Run ids (ASCII), one per position.
    ids: Vec<[u8; RUN_ID_LEN]>,
    /// Seeds, one per position.
    seeds: Vec<u64>,
    /// Encoded parameters, `dims` per position.
    coords: Vec<u64>,
}

/// Why a record matches no run of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// No run at that position.
    NoRun,
    /// The run there has other parameters.
    Params,
    /// The run there has another seed.
    Seed {
        /// The planned seed.
        planned: u64,
    },
}

impl StudyPlan {
    /// Runs in the plan.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether the plan has no runs.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The server run id for a record at `(index, replicate)` with these
    /// encoded parameters and seed.
    pub fn run_for(
        &self,
        index: u64,
        replicate: u32,
        coords: &[u64],
        seed: u64,
    ) -> Result<&str, Mismatch> {
        let at = self
            .positions
            .binary_search(&(index, replicate))
            .map_err(|_| Mismatch::NoRun)?;
        let planned = &self.coords[at * self.dims..(at + 1) * self.dims];
        if !same_coords(&self.rules.space, planned, coords) {
            return Err(Mismatch::Params);
        }
        if self.seeds[at] != seed {
            return Err(Mismatch::Seed {
                planned: self.seeds[at],
            });
        }
        // Ids are ASCII hex, checked when loaded.
        std::str::from_utf8(&self.ids[at]).map_err(|_| Mismatch::NoRun)
    }
}

/// What identifies a plan in the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanVersion {
    /// Store key.
    pub key: String,
    /// `server_studies.state`.
    pub state: String,
    /// `studies.created_at`.
    pub incarnation: String,
    /// Spec hash.
    pub spec_hash: String,
    /// Plan generation.
    pub plan_gen: i64,
}

/// The current version of a study's plan (one small query).
pub fn version(conn: &mut Conn, key: &str) -> ApiResult<Option<PlanVersion>> {
    let row = conn.client().query_opt(
        "SELECT s.state, st.created_at, st.spec_hash, st.plan_gen
         FROM server_studies s JOIN studies st ON st.name = s.key WHERE s.key = $1",
        &[&key],
    )?;
    Ok(row.map(|r| PlanVersion {
        key: key.to_string(),
        state: r.get(0),
        incarnation: r.get(1),
        spec_hash: r.get(2),
        plan_gen: r.get(3),
    }))
}

type Cache = HashMap<String, (Arc<StudyPlan>, Instant)>;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Default::default);
/// One load at a time: a cold cache hit by many uploaders loads once.
static LOADING: Mutex<()> = Mutex::new(());

/// The plan of `v` (a study in database schema `schema`), from the cache or
/// loaded: the study parsed from its stored source (files written under
/// `storage`), the runs of its current generation read from the store.
pub fn plan(
    conn: &mut Conn,
    schema: &str,
    storage: &Path,
    v: &PlanVersion,
) -> ApiResult<Arc<StudyPlan>> {
    let cache_key = format!("{schema}\0{}", v.key);
    let cached = |cache_key: &str| -> Option<Arc<StudyPlan>> {
        let mut cache = CACHE.lock().ok()?;
        let (p, used) = cache.get_mut(cache_key)?;
        if p.incarnation == v.incarnation && p.spec_hash == v.spec_hash && p.plan_gen == v.plan_gen
        {
            *used = Instant::now();
            Some(p.clone())
        } else {
            None
        }
    };
    if let Some(p) = cached(&cache_key) {
        return Ok(p);
    }
    let _loading = LOADING
        .lock()
        .map_err(|_| ApiError::internal("plan cache lock poisoned"))?;
    if let Some(p) = cached(&cache_key) {
        return Ok(p);
    }
    let started = Instant::now();
    let p = Arc::new(load(conn, storage, v)?);
    tracing::info!(study = %v.key, runs = p.len(), seconds = started.elapsed().as_secs_f64(), "plan index loaded for ingestion");
    let mut cache = CACHE
        .lock()
        .map_err(|_| ApiError::internal("plan cache lock poisoned"))?;
    cache.remove(&cache_key);
    while cache.len() >= CACHED_PLANS {
        let Some(oldest) = cache
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        cache.remove(&oldest);
    }
    cache.insert(cache_key, (p.clone(), Instant::now()));
    Ok(p)
}

/// Parses the stored study and reads the plan's runs.
fn load(conn: &mut Conn, storage: &Path, v: &PlanVersion) -> ApiResult<StudyPlan> {
    let row = conn.client().query_one(
        "SELECT source, source_name, files FROM server_studies WHERE key = $1",
        &[&v.key],
    )?;
    let source: String = row.get(0);
    let source_name: String = row.get(1);
    let files: Value = row.get(2);
    let rules = parse_rules(storage, &source, &source_name, &files)?;
    let dims = rules.space.dims();
    let mut plan = StudyPlan {
        key: v.key.clone(),
        incarnation: v.incarnation.clone(),
        spec_hash: v.spec_hash.clone(),
        plan_gen: v.plan_gen,
        rules,
        dims,
        positions: Vec::new(),
        ids: Vec::new(),
        seeds: Vec::new(),
        coords: Vec::new(),
    };
    let params: [&(dyn ToSql + Sync); 2] = [&v.key, &v.plan_gen];
    let mut rows = conn.client().query_raw(
        "SELECT id, idx, replicate, seed, params FROM runs WHERE study = $1 AND plan_gen = $2
         ORDER BY idx, replicate",
        params,
    )?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0);
        let idx: i64 = r.get(1);
        let rep: i64 = r.get(2);
        let seed: i64 = r.get(3);
        let params: Value = r.get(4);
        let Ok(id_bytes) = <[u8; RUN_ID_LEN]>::try_from(id.as_bytes()) else {
            return Err(ApiError::internal(format!(
                "run id `{id}` of {} is not {RUN_ID_LEN} characters",
                v.key
            )));
        };
        let Value::Object(map) = params else {
            return Err(ApiError::internal(format!(
                "run {id}: parameters are not an object"
            )));
        };
        // A stored run that no longer fits the space cannot be matched; skip it.
        let Ok(coords) = encode_params(&map, &plan.rules.space) else {
            tracing::warn!(run = %id, study = %v.key, "a planned run's parameters do not fit the study; records for it will be quarantined");
            continue;
        };
        let (Ok(idx), Ok(rep)) = (u64::try_from(idx), u32::try_from(rep)) else {
            continue;
        };
        plan.positions.push((idx, rep));
        plan.ids.push(id_bytes);
        plan.seeds.push(seed as u64);
        plan.coords.extend_from_slice(&coords);
    }
    Ok(plan)
}

/// Parses a stored study (its files written to a scratch directory, so
/// relative references resolve) into the rules records must satisfy.
pub fn parse_rules(
    storage: &Path,
    source: &str,
    source_name: &str,
    files: &Value,
) -> ApiResult<Rules> {
    let tmp_root = storage.join("tmp");
    std::fs::create_dir_all(&tmp_root)
        .map_err(|e| ApiError::internal(format!("creating {}: {e}", tmp_root.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("ingest-")
        .tempdir_in(&tmp_root)
        .map_err(|e| ApiError::internal(format!("scratch directory: {e}")))?;
    if let Value::Object(files) = files {
        for (rel, text) in files {
            let (Some(text), true) = (text.as_str(), safe_relative(rel)) else {
                continue;
            };
            let path = scratch.path().join(rel);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| ApiError::internal(format!("writing {rel}: {e}")))?;
            }
            std::fs::write(&path, text)
                .map_err(|e| ApiError::internal(format!("writing {rel}: {e}")))?;
        }
    }
    let study =
        simforge_core::parse_study(&scratch.path().join(source_name), source).map_err(|d| {
            ApiError::internal(format!(
                "the stored study no longer parses: {}",
                d.render()
                    .replace(&scratch.path().display().to_string(), ".")
            ))
        })?;
    Ok(Rules {
        space: study.space,
        metrics: study.spec.metrics,
    })
}

fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}
