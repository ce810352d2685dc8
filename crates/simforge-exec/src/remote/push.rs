//! `simforge push STUDY --server URL --project P`: uploads a local study's
//! finished runs to a simforge server, in bulk batches, surviving an
//! unreachable or restarting server without losing or repeating anything.
//!
//! The exchange (see `docs/server.md`, "Ingesting results from elsewhere"):
//!
//! 1. `PUT /api/v1/projects/{p}/studies/{name}/source` registers the study
//!    file (and the files it refers to) as an *external* study: the server
//!    plans it like a submission but queues nothing for workers.
//! 2. `POST /api/v1/projects/{p}/studies/{name}/ingest` with an
//!    `Idempotency-Key` header sends up to [`MAX_BATCH`] records. The server
//!    applies a batch in one transaction, answers `{accepted, duplicates,
//!    quarantined, batch}`, and answers a key it has seen with the stored
//!    answer (`replayed: true`), changing nothing.
//!
//! Reliability on the client: each batch is written to an on-disk spool
//! (write-then-rename) *before* it is sent and removed only once the server
//! acknowledged it; the fingerprints of acknowledged records are appended to
//! `acked.bin`, so the next `push` resends the spooled batches first (with
//! their original keys) and then only what the server has not acknowledged.
//! Requests are retried with exponential back-off and full jitter on
//! connection errors, 408, 429 (honouring `Retry-After`) and 5xx, until
//! `patience` runs out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use simforge_core::RunState;
use simforge_core::Study;
use simforge_core::results::RunRecord;
use simforge_core::study::short_hash;
use simforge_store::{RunFilter, Store, StoreError};

use super::worker::encode_key;

/// Most records the server takes in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Records per batch unless told otherwise.
pub const DEFAULT_BATCH: usize = 5_000;
/// The header naming a batch.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Quarantined records listed in a [`PushSummary`].
const REASONS_KEPT: usize = 10;
/// First and longest pause between retries.
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Path of a study's registration endpoint.
pub fn source_path(project: &str, study: &str) -> String {
    format!(
        "/api/v1/projects/{}/studies/{}/source",
        encode_key(project),
        encode_key(study)
    )
}

/// Path of a study's ingestion endpoint.
pub fn ingest_path(project: &str, study: &str) -> String {
    format!(
        "/api/v1/projects/{}/studies/{}/ingest",
        encode_key(project),
        encode_key(study)
    )
}

/// One finished run as sent to the server: what the local store knows about
/// it. The server maps it to its own run by design position and parameters
/// (run ids differ: they hash the study's name, which is `project/name`
/// there), so `run_id` is only for reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRecord {
    /// The run's id in the local store.
    pub run_id: String,
    /// Position of the point in the study's design.
    pub index: u64,
    /// Replicate number.
    pub replicate: u32,
    /// Seed the simulator was given.
    pub seed: u64,
    /// Parameter values by name.
    pub params: Map<String, Value>,
    /// `succeeded`, `failed` or `timed_out`.
    pub state: String,
    /// Metric values by name (finite numbers, strings or null).
    #[serde(default)]
    pub metrics: Map<String, Value>,
    /// Attempts made.
    pub attempts: u32,
    /// Start of the last attempt, RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    /// End of the last attempt, RFC 3339.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Wall-clock seconds of the last attempt.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Host that ran the last attempt.
    #[serde(default)]
    pub host: Option<String>,
    /// Why the run failed, if it did.
    #[serde(default)]
    pub reason: Option<String>,
    /// Exit code of the last attempt's command, if known.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Hash of the study spec the run ran under.
    pub spec_hash: String,
}

impl IngestRecord {
    /// The record of a finished local run (`exit_code` from its last attempt).
    pub fn from_run(r: &RunRecord, exit_code: Option<i32>) -> IngestRecord {
        IngestRecord {
            run_id: r.id.clone(),
            index: r.index,
            replicate: r.replicate,
            seed: r.seed,
            params: r.params.clone().into_iter().collect(),
            state: r.state.as_str().to_string(),
            metrics: r.metrics.clone().into_iter().collect(),
            attempts: r.attempts,
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            duration_s: r.duration_s,
            host: r.host.clone(),
            reason: r.reason.clone(),
            exit_code,
            spec_hash: r.spec_hash.clone(),
        }
    }

    /// A stable 64-bit fingerprint of the run's outcome (id, state, attempts,
    /// end time): the same run finished again (retried) is a new record.
    pub fn fingerprint(&self) -> u64 {
        let text = format!(
            "{}\0{}\0{}\0{}",
            self.run_id,
            self.state,
            self.attempts,
            self.finished_at.as_deref().unwrap_or("")
        );
        u64::from_str_radix(&short_hash(text.as_bytes(), 16), 16).unwrap_or(0)
    }
}

/// The body of an ingestion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestBatch {
    /// The records, at most [`MAX_BATCH`].
    pub records: Vec<IngestRecord>,
}

/// A record the server set aside, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Position of the record in its batch (from 0).
    pub position: u32,
    /// The record's design index, if it had a readable one.
    #[serde(default)]
    pub index: Option<u64>,
    /// The record's replicate, if it had a readable one.
    #[serde(default)]
    pub replicate: Option<u32>,
    /// What is wrong with it.
    pub reason: String,
    /// The record field at fault (`params.x`, `finished_at`, ...), if one is.
    #[serde(default)]
    pub field: Option<String>,
}

/// The server's answer to a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestReply {
    /// The batch's idempotency key.
    pub batch: String,
    /// Records in the batch.
    pub records: u64,
    /// Records that changed the server's store.
    pub accepted: u64,
    /// Valid records the server already had (a run that already succeeded,
    /// or the same outcome again).
    pub duplicates: u64,
    /// Records set aside, with reasons.
    pub quarantined: Vec<Quarantined>,
    /// Whether this is the stored answer to a batch already applied.
    #[serde(default)]
    pub replayed: bool,
}

/// The body of a registration (the same shape as a study submission).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The study file's text.
    pub source: String,
    /// Its file name.
    pub source_name: Option<String>,
    /// Files it refers to, by path relative to the study file.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// The server's answer to a registration (the fields `push` uses).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RegistrationReply {
    /// The study's key on the server (`project/name`).
    pub key: String,
    /// Spec hash the server computed.
    pub spec_hash: String,
    /// Runs in the server's plan.
    pub planned: u64,
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The server refused a request for a reason retrying will not fix.
    #[error("{what}: the server refused it ({status}): {message}{spooled}")]
    Refused {
        /// What was being done.
        what: String,
        /// HTTP status.
        status: u16,
        /// The server's message, field and hint.
        message: String,
        /// Where unsent batches wait, if any do.
        spooled: String,
    },
    /// The server did not answer within the patience.
    #[error(
        "{what}: gave up after {patience:?} without an answer ({last}); {}",
        spool_note(*batches, dir)
    )]
    GaveUp {
        /// What was being done.
        what: String,
        /// The patience.
        patience: Duration,
        /// The last failure.
        last: String,
        /// Batches in the spool.
        batches: usize,
        /// The spool directory.
        dir: String,
    },
    /// The study or its files cannot be sent.
    #[error("{0}")]
    Study(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another batch failed first; this one was not sent and stays
    /// unspooled (it is sent by the next push).
    #[error("stopped after another batch failed")]
    Stopped,
    /// The spool could not be written or read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

fn spool_note(batches: usize, dir: &str) -> String {
    if batches == 0 {
        "nothing was lost: run `simforge push` again once the server answers".into()
    } else {
        format!("{batches} batch(es) wait in the spool {dir}: run `simforge push` again to resume")
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PushError {
    let context = context.into();
    move |source| PushError::Io { context, source }
}

/// How to reach the server and how hard to try.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Server base URL, e.g. `http://simforge:8080`.
    pub server: String,
    /// API token (the `submit` scope).
    pub token: String,
    /// The project on the server.
    pub project: String,
    /// Records per batch (1 to [`MAX_BATCH`]).
    pub batch: usize,
    /// Batches in flight at once.
    pub parallel: usize,
    /// How long to keep retrying a server that does not answer.
    pub patience: Duration,
    /// Send every finished run again, ignoring what the server acknowledged
    /// before (the server still changes nothing it already has).
    pub resend_all: bool,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushSummary {
    /// The study's key on the server.
    pub key: String,
    /// Runs in the server's plan.
    pub planned: u64,
    /// Batches sent (including spooled ones sent again).
    pub batches: u64,
    /// Batches found in the spool from an earlier push and sent first.
    pub resent_spooled: u64,
    /// Batches the server had already applied (answered from its record).
    pub replayed: u64,
    /// Records in those batches.
    pub replayed_records: u64,
    /// Records sent.
    pub records: u64,
    /// Records that changed the server's store.
    pub accepted: u64,
    /// Records the server already had.
    pub duplicates: u64,
    /// Records set aside by the server.
    pub quarantined: u64,
    /// The first few quarantined records.
    pub reasons: Vec<Quarantined>,
    /// Finished runs not sent because the server acknowledged them earlier.
    pub skipped: u64,
    /// The spool directory.
    pub spool: PathBuf,
}

impl PushSummary {
    /// Counts one answer. A replayed answer describes a batch the server
    /// applied before (its answer was lost on the way): its records count
    /// as `replayed_records`, not again as accepted or quarantined.
    fn add(&mut self, reply: &IngestReply) {
        self.batches += 1;
        self.records += reply.records;
        if reply.replayed {
            self.replayed += 1;
            self.replayed_records += reply.records;
            return;
        }
        self.accepted += reply.accepted;
        self.duplicates += reply.duplicates;
        self.quarantined += reply.quarantined.len() as u64;
        for q in &reply.quarantined {
            if self.reasons.len() < REASONS_KEPT {
                self.reasons.push(q.clone());
            }
        }
    }
}

/// A small PRNG for back-off jitter (SplitMix64).
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let tid = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::thread::current().id().hash(&mut h);
            h.finish()
        };
        Jitter(nanos ^ tid ^ u64::from(std::process::id()).rotate_left(32))
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The outcome of one HTTP attempt.
enum Attempt {
    Done(String),
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Fatal {
        status: u16,
        message: String,
    },
}

/// An HTTP link to the server that retries what may succeed later.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    server: String,
    token: String,
    patience: Duration,
}

impl Client {
    /// A client for `server` authenticating with `token`.
    pub fn new(server: &str, token: &str, patience: Duration) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
            server: server.trim_end_matches('/').to_string(),
            token: token.to_string(),
            patience,
        }
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn once(&self, method: &str, path: &str, key: Option<&str>, body: &[u8]) -> Attempt {
        let url = format!("{}{path}", self.server);
        let auth = format!("Bearer {}", self.token);
        let mut req = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        }
        .header("Authorization", &auth)
        .header("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.header(IDEMPOTENCY_HEADER, k);
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    why: format!("{url}: {e}"),
                    after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
        let text = match resp.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry {
                    why: format!("{url}: reading the answer: {e}"),
                    after: None,
                };
            }
        };
        match status {
            200..=299 => Attempt::Done(text),
            408 | 429 | 500..=599 => Attempt::Retry {
                why: format!("{url}: {status}: {}", api_message(&text)),
                after: retry_after,
            },
            _ => Attempt::Fatal {
                status,
                message: api_message(&text),
            },
        }
    }

    /// Sends until the server answers, retrying with exponential back-off
    /// and full jitter; `Err((status, message))` for a refusal, `Err((0,
    /// last failure))` when patience runs out.
    fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: &[u8],
        stop: &AtomicBool,
    ) -> Result<String, (u16, String)> {
        let deadline = Instant::now() + self.patience;
        let mut ceiling = BACKOFF_START;
        let mut jitter = Jitter::new();
        loop {
            match self.once(method, path, key, body) {
                Attempt::Done(text) => return Ok(text),
                Attempt::Fatal { status, message } => return Err((status, message)),
                Attempt::Retry { why, after } => {
                    let now = Instant::now();
                    if now >= deadline || stop.load(Ordering::Relaxed) {
                        return Err((0, why));
                    }
                    let mut pause = ceiling.mul_f64(jitter.unit());
                    if let Some(a) = after {
                        pause = pause.max(a);
                    }
                    pause = pause.min(deadline - now);
                    tracing::warn!("{why}; retrying in {:.1} s", pause.as_secs_f64());
                    std::thread::sleep(pause);
                    ceiling = (ceiling * 2).min(BACKOFF_CAP);
                }
            }
        }
    }
}

/// The readable part of an API error body: message, field and hint.
fn api_message(text: &str) -> String {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return text.chars().take(500).collect(),
    };
    let e = &v["error"];
    let Some(message) = e["message"].as_str() else {
        return text.chars().take(500).collect();
    };
    let mut out = message.to_string();
    if let Some(f) = e["field"].as_str() {
        out.push_str(&format!(" (field `{f}`)"));
    }
    if let Some(h) = e["hint"].as_str() {
        out.push_str(&format!("\n  hint: {h}"));
    }
    out
}

/// A batch waiting in the spool.
#[derive(Debug, Deserialize)]
struct SpooledBatch {
    key: String,
    fingerprints: Vec<u64>,
    body: Box<RawValue>,
}

/// The on-disk spool of one study's pushes to one server and project:
/// `<store>/push/<study>/<target>/`, holding `batch-<seq>.json` files (one
/// per unacknowledged batch), `acked.bin` (fingerprints of acknowledged
/// records, 8 bytes each, append-only) and `state.json` (progress, for
/// people).
pub struct Spool {
    dir: PathBuf,
    acked: Mutex<(std::fs::File, HashSet<u64>)>,
    next_seq: AtomicU64,
    state: Mutex<SpoolState>,
}

/// Progress kept in `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SpoolState {
    server: String,
    project: String,
    study: String,
    batches_acknowledged: u64,
    records_acknowledged: u64,
    /// Design position (index, replicate) of the last record of the last
    /// acknowledged batch: the cursor of the push.
    last_acknowledged: Option<(u64, u32)>,
    updated_at: String,
}

const ACKED_FILE: &str = "acked.bin";
const STATE_FILE: &str = "state.json";

impl Spool {
    /// Opens (creating) the spool for `study` pushed to `server`'s `project`,
    /// under the store directory `store_dir`.
    pub fn open(
        store_dir: &Path,
        study: &str,
        server: &str,
        project: &str,
    ) -> Result<Spool, PushError> {
        let server = server.trim_end_matches('/');
        let target = short_hash(format!("{server}\0{project}").as_bytes(), 12);
        let dir = store_dir.join("push").join(safe_name(study)).join(target);
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        // Fingerprints: a crash mid-append leaves a partial last entry; drop it
        // (its batch is still spooled and will be acknowledged again).
        let path = dir.join(ACKED_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        let whole = bytes.len() / 8 * 8;
        let set: HashSet<u64> = bytes[..whole]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        if whole != bytes.len() {
            file.set_len(whole as u64)
                .map_err(io_err(format!("repairing {}", path.display())))?;
        }
        let mut state: SpoolState = std::fs::read(dir.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        state.server = server.to_string();
        state.project = project.to_string();
        state.study = study.to_string();
        let spool = Spool {
            dir,
            acked: Mutex::new((file, set)),
            next_seq: AtomicU64::new(0),
            state: Mutex::new(state),
        };
        let last = spool.pending()?.last().map(|(seq, _)| seq + 1).unwrap_or(0);
        spool.next_seq.store(last, Ordering::Relaxed);
        Ok(spool)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a record with this fingerprint was acknowledged.
    pub fn is_acked(&self, fingerprint: u64) -> bool {
        self.acked
            .lock()
            .map(|g| g.1.contains(&fingerprint))
            .unwrap_or(false)
    }

    /// Forgets every acknowledgement (`--resend-all`).
    pub fn forget_acknowledged(&self) -> Result<(), PushError> {
        let mut g = self
            .acked
            .lock()
            .map_err(|_| PushError::Study("spool lock poisoned".into()))?;
        g.0.set_len(0).map_err(io_err("truncating acked.bin"))?;
        g.1.clear();
        Ok(())
    }

    /// Spooled batches, oldest first: (sequence number, path).
    fn pending(&self) -> Result<Vec<(u64, PathBuf)>, PushError> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.dir)
            .map_err(io_err(format!("listing {}", self.dir.display())))?;
        for entry in rd {
            let entry = entry.map_err(io_err(format!("listing {}", self.dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(seq) = name
                .strip_prefix("batch-")
                .and_then(|s| s.strip_suffix(".json"))
                .and_then(|s| s.parse::<u64>().ok())
            {
                out.push((seq, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// How many batches wait in the spool.
    pub fn pending_count(&self) -> usize {
        self.pending().map(|p| p.len()).unwrap_or(0)
    }

    /// Writes a batch durably (write, fsync, rename, fsync the directory);
    /// returns its path.
    fn write(&self, key: &str, fingerprints: &[u64], body: &str) -> Result<PathBuf, PushError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("batch-{seq:012}.json"));
        let tmp = self.dir.join(format!(".batch-{seq:012}.json.tmp"));
        let mut text = String::with_capacity(body.len() + fingerprints.len() * 21 + 100);
        text.push_str("{\"key\":");
        text.push_str(&serde_json::to_string(key).unwrap_or_default());
        text.push_str(",\"fingerprints\":");
        text.push_str(&serde_json::to_string(fingerprints).unwrap_or_default());
        text.push_str(",\"body\":");
        text.push_str(body);
        text.push('}');
        let ctx = format!("spooling {}", path.display());
        let mut f = std::fs::File::create(&tmp).map_err(io_err(ctx.clone()))?;
        f.write_all(text.as_bytes()).map_err(io_err(ctx.clone()))?;
        f.sync_all().map_err(io_err(ctx.clone()))?;
        std::fs::rename(&tmp, &path).map_err(io_err(ctx.clone()))?;
        sync_dir(&self.dir).map_err(io_err(ctx))?;
        Ok(path)
    }

    /// Records an acknowledged batch: its fingerprints first (fsync'd), then
    /// the spool file goes. A crash in between resends the batch, which the
    /// server answers from its record.
    fn acknowledge(
        &self,
        path: &Path,
        fingerprints: &[u64],
        last: Option<(u64, u32)>,
    ) -> Result<(), PushError> {
        {
            let mut g = self
                .acked
                .lock()
                .map_err(|_| PushError::Study("spool lock poisoned".into()))?;
            let mut bytes = Vec::with_capacity(fingerprints.len() * 8);
            for fp in fingerprints {
                bytes.extend_from_slice(&fp.to_le_bytes());
            }
            g.0.write_all(&bytes)
                .map_err(io_err("appending to acked.bin"))?;
            g.0.sync_data().map_err(io_err("syncing acked.bin"))?;
            g.1.extend(fingerprints.iter().copied());
        }
        std::fs::remove_file(path).map_err(io_err(format!("removing {}", path.display())))?;
        if let Ok(mut st) = self.state.lock() {
            st.batches_acknowledged += 1;
            st.records_acknowledged += fingerprints.len() as u64;
            if last.is_some() {
                st.last_acknowledged = last;
            }
            st.updated_at = simforge_core::clock::now_rfc3339();
            if let Ok(text) = serde_json::to_vec_pretty(&*st) {
                let tmp = self.dir.join(".state.json.tmp");
                // Informational: a failure here loses nothing.
                if std::fs::write(&tmp, text).is_ok() {
                    let _ = std::fs::rename(&tmp, self.dir.join(STATE_FILE));
                }
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A study name as one directory name.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sends batches of one study: spool, send (retrying), acknowledge. Cheap to
/// share between threads (`&self`), which is how `push` keeps several
/// batches in flight.
pub struct Uploader {
    client: Client,
    spool: Spool,
    project: String,
    study: String,
    stop: AtomicBool,
}

impl Uploader {
    /// An uploader for `study` in `project` through `client`, spooling in `spool`.
    pub fn new(client: Client, spool: Spool, project: &str, study: &str) -> Uploader {
        Uploader {
            client,
            spool,
            project: project.to_string(),
            study: study.to_string(),
            stop: AtomicBool::new(false),
        }
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Registers the study (its file's text and referenced files) as an
    /// external study on the server.
    pub fn register(&self, reg: &Registration) -> Result<RegistrationReply, PushError> {
        let body = serde_json::to_vec(reg)
            .map_err(|e| PushError::Study(format!("encoding the study: {e}")))?;
        let what = format!(
            "registering study `{}` in project `{}`",
            self.study, self.project
        );
        let text = self
            .client
            .call(
                "PUT",
                &source_path(&self.project, &self.study),
                None,
                &body,
                &self.stop,
            )
            .map_err(|e| self.failure(&what, e))?;
        serde_json::from_str(&text)
            .map_err(|e| PushError::Study(format!("{what}: unreadable answer: {e}")))
    }

    fn failure(&self, what: &str, (status, message): (u16, String)) -> PushError {
        let batches = self.spool.pending_count();
        if status == 0 {
            PushError::GaveUp {
                what: what.to_string(),
                patience: self.client.patience,
                last: message,
                batches,
                dir: self.spool.dir.display().to_string(),
            }
        } else {
            PushError::Refused {
                what: what.to_string(),
                status,
                message,
                spooled: if batches > 0 {
                    format!(
                        "\n  {batches} batch(es) wait in {}; remove that directory to discard them",
                        self.spool.dir.display()
                    )
                } else {
                    String::new()
                },
            }
        }
    }

    /// The idempotency key of a batch body: a hash of the server, project,
    /// study and the body itself, so the same batch always has the same key.
    pub fn key_of(&self, body: &str) -> String {
        let mut text = Vec::with_capacity(body.len() + 200);
        for part in [self.client.server(), &self.project, &self.study] {
            text.extend_from_slice(part.as_bytes());
            text.push(0);
        }
        text.extend_from_slice(body.as_bytes());
        short_hash(&text, 40)
    }

    /// Uploads one batch: spooled first, then sent until acknowledged.
    pub fn upload(&self, records: &[IngestRecord]) -> Result<IngestReply, PushError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(PushError::Stopped);
        }
        let body = serde_json::to_string(&BatchRef { records })
            .map_err(|e| PushError::Study(format!("encoding a batch: {e}")))?;
        let key = self.key_of(&body);
        let fingerprints: Vec<u64> = records.iter().map(IngestRecord::fingerprint).collect();
        let path = self.spool.write(&key, &fingerprints, &body)?;
        let last = records.last().map(|r| (r.index, r.replicate));
        self.send(&path, &key, &fingerprints, body.as_bytes(), last)
    }

    fn send(
        &self,
        path: &Path,
        key: &str,
        fingerprints: &[u64],
        body: &[u8],
        last: Option<(u64, u32)>,
    ) -> Result<IngestReply, PushError> {
        let what = format!("sending batch {key} of study `{}`", self.study);
        let text = match self.client.call(
            "POST",
            &ingest_path(&self.project, &self.study),
            Some(key),
            body,
            &self.stop,
        ) {
            Ok(t) => t,
            Err(e) => {
                self.stop.store(true, Ordering::Relaxed);
                return Err(self.failure(&what, e));
            }
        };
        let reply: IngestReply = serde_json::from_str(&text)
            .map_err(|e| PushError::Study(format!("{what}: unreadable answer: {e}")))?;
        self.spool.acknowledge(path, fingerprints, last)?;
        Ok(reply)
    }

    /// Sends every batch left in the spool by an earlier push, oldest first,
    /// each with its original key.
    pub fn resend_spooled(&self, summary: &mut PushSummary) -> Result<(), PushError> {
        for (_, path) in self.spool.pending()? {
            let text = std::fs::read_to_string(&path)
                .map_err(io_err(format!("reading {}", path.display())))?;
            let batch: SpooledBatch = match serde_json::from_str(&text) {
                Ok(b) => b,
                Err(e) => {
                    // Spool files are renamed into place whole, so this is damage
                    // from outside; keep the file for inspection, skip it.
                    let bad = path.with_extension("damaged");
                    let _ = std::fs::rename(&path, &bad);
                    tracing::warn!(
                        "{} is unreadable ({e}); moved aside to {}",
                        path.display(),
                        bad.display()
                    );
                    continue;
                }
            };
            let reply = self.send(
                &path,
                &batch.key,
                &batch.fingerprints,
                batch.body.get().as_bytes(),
                None,
            )?;
            summary.resent_spooled += 1;
            summary.add(&reply);
        }
        Ok(())
    }
}

/// Hands a batch to the senders, waiting while they are busy; false once
/// they stopped (a batch failed), so the scan never waits on nobody.
fn hand_over(
    tx: &mpsc::SyncSender<Vec<IngestRecord>>,
    batch: Vec<IngestRecord>,
    stop: &AtomicBool,
) -> bool {
    let mut batch = batch;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        match tx.try_send(batch) {
            Ok(()) => return true,
            Err(mpsc::TrySendError::Full(b)) => {
                batch = b;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return false,
        }
    }
}

#[derive(Serialize)]
struct BatchRef<'a> {
    records: &'a [IngestRecord],
}

/// The files a study refers to that the server needs to parse it: those a
/// remote submission sends ([`super::client::study_files`]: input templates,
/// file-valued builtin options) and a `table` design's CSV file.
pub fn study_files(study: &Study, source: &str) -> Result<BTreeMap<String, String>, PushError> {
    let mut out = super::client::study_files(&study.file, source)
        .map_err(|e| PushError::Study(e.to_string()))?;
    if let Some(rel) = &study.spec.design.file {
        let p = Path::new(rel);
        if p.is_absolute()
            || !p
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return Err(PushError::Study(format!(
                "the design table `{rel}` lies outside the study's directory; the server receives only files beside the study file (move it there)"
            )));
        }
        let path = study.dir.join(p);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            PushError::Study(format!("reading the design table {}: {e}", path.display()))
        })?;
        out.insert(rel.clone(), text);
    }
    Ok(out)
}

/// Pushes the finished runs of `study` (parsed from `study_file`) in `store`
/// (whose directory is `store_dir`) to the server: registers the study,
/// resends spooled batches, then sends every settled run (succeeded, failed,
/// timed out) the server has not acknowledged, in design order, `batch` at a
/// time with up to `parallel` batches in flight.
pub fn push_study(
    opts: &PushOptions,
    store: &dyn Store,
    study: &Study,
    store_dir: &Path,
) -> Result<PushSummary, PushError> {
    if opts.batch == 0 || opts.batch > MAX_BATCH {
        return Err(PushError::Study(format!(
            "a batch holds 1 to {MAX_BATCH} records, not {}",
            opts.batch
        )));
    }
    let name = study.spec.name.clone();
    let row = store.study(&name)?;
    if row.spec_hash != study.spec_hash {
        return Err(PushError::Study(format!(
            "{} changed since the store planned study `{name}` (spec {} there, {} now): run `simforge run {}` (or `simforge plan`) first, so that the store and the file agree",
            study.file.display(),
            row.spec_hash,
            study.spec_hash,
            study.file.display()
        )));
    }
    let source = std::fs::read_to_string(&study.file)
        .map_err(|e| PushError::Study(format!("reading {}: {e}", study.file.display())))?;
    let source_name = study
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study.yaml".into());
    let registration = Registration {
        files: study_files(study, &source)?,
        source,
        source_name: Some(source_name),
    };
    // One push of a study to a target at a time: they share the spool.
    let _lock = crate::runner::StudyLock::acquire(&store_dir.join("locks"), &format!("push-{}", safe_name(&name)))
        .map_err(|e| match e {
            crate::ExecError::Locked { lock, .. } => PushError::Study(format!(
                "another `simforge push` of study `{name}` is running (lock {lock}); wait for it to finish"
            )),
            other => PushError::Study(other.to_string()),
        })?;
    let client = Client::new(&opts.server, &opts.token, opts.patience);
    let spool = Spool::open(store_dir, &name, &opts.server, &opts.project)?;
    if opts.resend_all {
        spool.forget_acknowledged()?;
    }
    let up = Uploader::new(client, spool, &opts.project, &name);
    let mut summary = PushSummary {
        spool: up.spool.dir.clone(),
        ..Default::default()
    };
    let reg = up.register(&registration)?;
    if reg.spec_hash != study.spec_hash {
        tracing::warn!(
            "the server parsed the study to spec {} (here {}): different simforge versions? records may be quarantined",
            reg.spec_hash,
            study.spec_hash
        );
    }
    summary.key = reg.key;
    summary.planned = reg.planned;
    up.resend_spooled(&mut summary)?;

    // Exit codes live in attempts; only failures need them.
    let mut exit_codes: HashMap<String, i32> = HashMap::new();
    for st in [RunState::Failed, RunState::TimedOut] {
        let filter = RunFilter {
            state: Some(st),
            ..Default::default()
        };
        for r in store.runs(&name, &filter)? {
            if let Some(code) = store.attempts(&r.id)?.last().and_then(|a| a.exit_code) {
                exit_codes.insert(r.id, code);
            }
        }
    }

    let parallel = opts.parallel.max(1);
    let (tx, rx) = mpsc::sync_channel::<Vec<IngestRecord>>(parallel);
    let rx = Mutex::new(rx);
    let results: Mutex<Vec<Result<IngestReply, PushError>>> = Mutex::new(Vec::new());
    let mut skipped = 0u64;
    let scan: Result<(), PushError> = std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                loop {
                    let next = rx.lock().ok().and_then(|r| r.recv().ok());
                    let Some(records) = next else { break };
                    let out = up.upload(&records);
                    let failed = out.is_err();
                    if let Ok(mut g) = results.lock() {
                        g.push(out);
                    }
                    if failed {
                        up.stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
        let mut batch: Vec<IngestRecord> = Vec::with_capacity(opts.batch);
        let mut send_error = false;
        let scanned = store.for_each_run(&name, &RunFilter::default(), &mut |r| {
            if !matches!(
                r.state,
                RunState::Succeeded | RunState::Failed | RunState::TimedOut
            ) {
                return Ok(());
            }
            let rec = IngestRecord::from_run(&r, exit_codes.get(&r.id).copied());
            if up.spool.is_acked(rec.fingerprint()) {
                skipped += 1;
                return Ok(());
            }
            batch.push(rec);
            if batch.len() >= opts.batch {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(opts.batch));
                if !hand_over(&tx, full, &up.stop) {
                    send_error = true;
                    return Err(StoreError::Busy("push stopped".into()));
                }
            }
            Ok(())
        });
        if !batch.is_empty() && !send_error && scanned.is_ok() {
            hand_over(&tx, std::mem::take(&mut batch), &up.stop);
        }
        drop(tx);
        match scanned {
            Err(_) if send_error => Ok(()),
            Err(e) => {
                up.stop.store(true, Ordering::Relaxed);
                Err(PushError::Store(e))
            }
            Ok(()) => Ok(()),
        }
    });
    summary.skipped = skipped;
    let mut first_error = None;
    for r in results.into_inner().unwrap_or_default() {
        match r {
            Ok(reply) => summary.add(&reply),
            Err(e) => {
                if first_error.is_none() || matches!(first_error, Some(PushError::Stopped)) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(match e {
            // The spool count may have changed since the error was built.
            PushError::GaveUp {
                what,
                patience,
                last,
                dir,
                ..
            } => PushError::GaveUp {
                what,
                patience,
                last,
                batches: up.spool.pending_count(),
                dir,
            },
            other => other,
        });
    }
    scan?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> IngestRecord {
        IngestRecord {
            run_id: format!("r{i}"),
            index: i,
            replicate: 0,
            seed: 7,
            params: Map::new(),
            state: "succeeded".into(),
            metrics: Map::new(),
            attempts: 1,
            started_at: Some("2026-01-01T00:00:00.000Z".into()),
            finished_at: Some("2026-01-01T00:00:01.000Z".into()),
            duration_s: Some(1.0),
            host: Some("h".into()),
            reason: None,
            exit_code: Some(0),
            spec_hash: "abc".into(),
        }
    }

    #[test]
    fn fingerprints_change_with_the_outcome() {
        let a = record(1);
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.attempts = 2;
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(record(1).fingerprint(), record(2).fingerprint());
    }

    #[test]
    fn the_spool_keeps_batches_until_acknowledged_and_survives_a_torn_append() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), "s", "http://x/", "p").unwrap();
        let body = serde_json::to_string(&IngestBatch {
            records: vec![record(1)],
        })
        .unwrap();
        let path = spool.write("k1", &[11, 12], &body).unwrap();
        let p2 = spool.write("k2", &[13], &body).unwrap();
        assert_eq!(spool.pending_count(), 2);
        spool.acknowledge(&path, &[11, 12], Some((1, 0))).unwrap();
        assert!(spool.is_acked(11) && spool.is_acked(12) && !spool.is_acked(13));
        drop(spool);
        // A torn append: three stray bytes at the end.
        let sp_dir = p2.parent().unwrap().to_path_buf();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(sp_dir.join(ACKED_FILE))
            .unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        drop(f);
        let spool = Spool::open(dir.path(), "s", "http://x", "p").unwrap();
        assert_eq!(spool.dir(), sp_dir);
        assert!(spool.is_acked(11) && spool.is_acked(12));
        assert_eq!(
            std::fs::metadata(sp_dir.join(ACKED_FILE)).unwrap().len(),
            16
        );
        let pending = spool.pending().unwrap();
        assert_eq!(pending.len(), 1);
        let b: SpooledBatch =
            serde_json::from_str(&std::fs::read_to_string(&pending[0].1).unwrap()).unwrap();
        assert_eq!(b.key, "k2");
        assert_eq!(b.fingerprints, vec![13]);
        assert_eq!(b.body.get(), body);
        // New batches never reuse a waiting batch's number.
        let p3 = spool.write("k3", &[14], &body).unwrap();
        assert_ne!(p3, p2);
        spool.forget_acknowledged().unwrap();
        assert!(!spool.is_acked(11));
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        let mut j = Jitter::new();
        for _ in 0..1000 {
            let x = j.unit();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn api_errors_read_as_sentences() {
        let m = api_message(
            r#"{"error":{"code":"invalid","message":"bad","field":"records","hint":"fewer"}}"#,
        );
        assert_eq!(m, "bad (field `records`)\n  hint: fewer");
        assert_eq!(api_message("plain"), "plain");
    }
}
