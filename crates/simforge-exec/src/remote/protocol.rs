//! What a remote worker and the server say to each other: one JSON exchange,
//! `POST /api/v1/workers/sync`, that reports progress, renews the worker's
//! leases (its heartbeat) and asks for more runs, plus a fetch of a study's
//! source the first time a worker meets it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bundle::BundleRun;
use crate::rundir::ResultFile;

/// The exchange workers call.
pub const SYNC_PATH: &str = "/api/v1/workers/sync";

/// Path of a study's source for workers: `STUDY_SOURCE_PATH/<key>` (key URL-encoded).
pub const STUDY_SOURCE_PATH: &str = "/api/v1/workers/studies";

/// The queue a study's runs go to: the builtin simulator's name, or
/// `command:<program>` for an external command (its first word's file name).
pub fn queue_for(spec: &simforge_core::spec::SimulatorSpec) -> String {
    if let Some(b) = &spec.builtin {
        return b.clone();
    }
    let first = match &spec.command {
        Some(simforge_core::spec::CommandSpec::Argv(argv)) => argv.first().cloned(),
        Some(simforge_core::spec::CommandSpec::Line(line)) => {
            line.split_whitespace().next().map(str::to_string)
        }
        None => None,
    }
    .unwrap_or_default();
    let program = std::path::Path::new(&first)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or(first);
    format!("command:{program}")
}

/// Progress a worker reports about a lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeaseEvent {
    /// An attempt started.
    Started {
        /// The lease.
        lease: String,
        /// Run id.
        run_id: String,
        /// Attempt number.
        attempt: u32,
        /// Start time (RFC 3339).
        started_at: String,
        /// Host.
        host: String,
    },
    /// An attempt finished (what it also wrote to its `result.json`).
    Finished {
        /// The lease.
        lease: String,
        /// The attempt's result.
        result: Box<ResultFile>,
        /// The end of the attempt's stdout and stderr, for `simforge logs`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logs: Option<AttemptLogs>,
    },
    /// The run was handed back unstarted or interrupted (no attempt counts).
    Requeued {
        /// The lease.
        lease: String,
        /// Run id.
        run_id: String,
    },
}

/// The tail of an attempt's output streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptLogs {
    /// Last bytes of stdout.
    pub stdout: String,
    /// Last bytes of stderr.
    pub stderr: String,
}

/// One worker → server exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// Worker name, unique among the server's workers.
    pub worker: String,
    /// Host it runs on.
    pub host: String,
    /// Queues it serves.
    pub queues: Vec<String>,
    /// Runs it executes at once.
    pub slots: u32,
    /// simforge version of the worker.
    pub version: String,
    /// How many more runs it can take now.
    pub want: u32,
    /// Leases it holds (running or waiting locally): renews them.
    pub held: Vec<String>,
    /// Progress since the last exchange.
    pub events: Vec<LeaseEvent>,
    /// The worker is exiting: whatever it still holds goes back to pending.
    pub leaving: bool,
}

/// A run leased to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Lease id: every report about this run names it.
    pub lease: String,
    /// The study's key on the server (`project/name`).
    pub study: String,
    /// The study's spec hash; the worker fetches the source when it lacks it.
    pub spec_hash: String,
    /// The run.
    pub run: BundleRun,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReply {
    /// Runs now leased to the worker.
    pub grants: Vec<Grant>,
    /// Leases the worker reported holding that it lost (expired, study
    /// cancelled, run finished elsewhere): stop those runs.
    pub revoked: Vec<String>,
    /// Sync at least this often (seconds), or leases expire.
    pub heartbeat_s: f64,
}

/// A study as a worker needs it to build its simulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySource {
    /// Key (`project/name`); the worker runs the study under this name.
    pub key: String,
    /// Spec hash the source must parse to.
    pub spec_hash: String,
    /// File name the study was submitted as.
    pub source_name: String,
    /// The study file's text.
    pub source: String,
    /// Files the study refers to (templates, topology files), by relative path.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}
