//! What `simforge worker` and the coordinator say to each other: one JSON
//! exchange, `POST /v1/pilot/sync`, that reports progress, renews leases
//! (a heartbeat) and asks for more runs in a single round trip.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::BundleRun;
use crate::rundir::ResultFile;
use crate::runner::ExecError;

/// The one endpoint workers call.
pub const SYNC_PATH: &str = "/v1/pilot/sync";
/// Liveness probe (no token needed).
pub const HEALTH_PATH: &str = "/v1/pilot/health";

/// Where a worker finds its coordinator: written by the coordinator (mode 0600,
/// on the shared filesystem) and re-read by workers when the coordinator stops
/// answering, so a restarted coordinator on a new port picks its pilots up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Base URL, e.g. `http://login1:40123`.
    pub url: String,
    /// Bearer token every request carries.
    pub token: String,
}

impl Connection {
    /// Reads a connection file.
    pub fn read(path: &Path) -> Result<Self, ExecError> {
        let text = std::fs::read(path).map_err(|source| ExecError::Io {
            context: format!("reading the coordinator file {}", path.display()),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|e| {
            ExecError::Pilot(format!("{} is not a coordinator file: {e}", path.display()))
        })
    }

    /// Writes it atomically, readable by its owner only (it holds the token).
    pub fn write(&self, path: &Path) -> Result<(), ExecError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| ExecError::Io {
            context: format!("writing the coordinator file {}", path.display()),
            source,
        };
        let tmp = path.with_extension("partial");
        let text = serde_json::to_vec(self).map_err(|e| ExecError::Pilot(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// A fresh random bearer token (256 bits from the kernel, hex).
pub fn new_token() -> Result<String, ExecError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| ExecError::Io {
            context: "reading /dev/urandom for the pilot token".into(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Progress a worker reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PilotEvent {
    /// An attempt started.
    Started {
        /// Run id.
        run_id: String,
        /// Attempt number.
        attempt: u32,
        /// Start time (RFC 3339).
        started_at: String,
        /// Host.
        host: String,
    },
    /// An attempt finished (what it also wrote to `result.json`).
    Finished {
        /// The attempt's result.
        result: Box<ResultFile>,
    },
    /// The run was handed back unstarted or interrupted (no attempt counts).
    Requeued {
        /// Run id.
        run_id: String,
    },
}

/// One worker → coordinator exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Worker id, `<job>_<task>` under SLURM.
    pub worker: String,
    /// How many more runs it can take now.
    pub want: u32,
    /// Runs it holds (running or queued locally): renews their leases.
    pub held: Vec<String>,
    /// Progress since the last exchange.
    pub events: Vec<PilotEvent>,
    /// The worker is exiting: whatever it still holds goes back to pending.
    pub leaving: bool,
}

/// What the worker executes: the study file and where run directories live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyRef {
    /// The study file (absolute, shared).
    pub study_file: PathBuf,
    /// Spec hash; a worker refuses a study file that changed since.
    pub spec_hash: String,
    /// Directory of run directories (absolute, shared).
    pub runs_root: PathBuf,
}

/// The coordinator's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReply {
    /// The study.
    pub study: StudyRef,
    /// Runs now leased to the worker.
    pub runs: Vec<BundleRun>,
    /// Runs the worker reported holding whose lease it lost: stop them.
    pub revoked: Vec<String>,
    /// Nothing more will come: finish what you hold and exit.
    pub exit: bool,
    /// Sync at least this often (seconds), or leases expire.
    pub heartbeat_s: f64,
}
