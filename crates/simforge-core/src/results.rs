//! The results table: one row per run, as exported and analysed.

use std::collections::BTreeMap;

use crate::state::RunState;

/// One run as the store knows it: its point, its outcome and its provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// Content-addressed run id (hex).
    pub id: String,
    /// Position of the point in the study's design.
    pub index: u64,
    /// Role of the point in a structured design (Saltelli block, Morris step).
    pub tag: Option<String>,
    /// Replicate number, from 0.
    pub replicate: u32,
    /// Seed handed to the simulator.
    pub seed: u64,
    /// Parameter values by name.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Metric values by name (empty unless succeeded).
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// Current state.
    #[serde(with = "state_serde")]
    pub state: RunState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why the last attempt failed, if it did.
    pub reason: Option<String>,
    /// Start of the last attempt, RFC 3339 UTC.
    pub started_at: Option<String>,
    /// End of the last attempt, RFC 3339 UTC.
    pub finished_at: Option<String>,
    /// Wall-clock seconds of the last attempt.
    pub duration_s: Option<f64>,
    /// Host that ran the last attempt.
    pub host: Option<String>,
    /// Hash of the study spec the run was planned from.
    pub spec_hash: String,
}

mod state_serde {
    use super::RunState;

    pub fn serialize<S: serde::Serializer>(st: &RunState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(st.as_str())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RunState, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// All runs of one study, with the column order the study declares.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyResults {
    /// Study name.
    pub study: String,
    /// Hash of the current study spec.
    pub spec_hash: String,
    /// Parameter names in study order (sampled and constant).
    pub parameters: Vec<String>,
    /// Metric names: those the study declares, then any others seen, sorted.
    pub metrics: Vec<String>,
    /// The runs, in design order.
    pub runs: Vec<RunRecord>,
}

impl StudyResults {
    /// Count of runs per state.
    pub fn state_counts(&self) -> BTreeMap<RunState, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.runs {
            *counts.entry(r.state).or_insert(0) += 1;
        }
        counts
    }
}
