//! Builtin simulators.
//!
//! Every builtin implements [`Simulator`]: it declares its parameters, checks a point,
//! and turns one point plus a seed into metrics. The executor treats a builtin exactly
//! like an external command: same run directory, same `result.json`, same retries.

pub mod analytic;
pub mod des;
pub(crate) mod fft2;
pub mod npy;
pub(crate) mod params;
pub mod pde;
pub mod phasefield;
mod registry;
pub mod sysdesign;

pub use registry::{builtin, builtin_names, file_options};

use std::collections::BTreeMap;
use std::path::Path;

/// Parameter values of one run, by parameter name (numbers, strings or booleans).
pub type Params = BTreeMap<String, serde_json::Value>;

/// Metrics produced by one run, by metric name (numbers or strings).
pub type Metrics = BTreeMap<String, serde_json::Value>;

/// The kind of value a simulator parameter takes.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    /// A real number.
    Real,
    /// An integer.
    Integer,
    /// One of a fixed set of strings.
    Choice(Vec<String>),
}

/// A parameter a simulator accepts, so a study can be checked before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    /// Parameter name as it appears in the study file.
    pub name: String,
    /// What the parameter means.
    pub description: String,
    /// Physical unit, if any.
    pub unit: Option<String>,
    /// Inclusive domain `[low, high]` on which the simulator is defined, if bounded.
    pub bounds: Option<(f64, f64)>,
    /// Value kind.
    pub kind: ParamKind,
    /// Whether a study must provide this parameter (as sampled or constant).
    pub required: bool,
}

/// Everything one execution of a builtin needs.
#[derive(Debug)]
pub struct RunInput<'a> {
    /// Parameter values of the point.
    pub params: &'a Params,
    /// Seed for this run (distinct per replicate); deterministic simulators ignore it.
    pub seed: u64,
    /// The run's own directory, for artifacts.
    pub workdir: &'a Path,
    /// Cores this run may use (the study's `resources.cpus`, at least 1): a
    /// builtin that works in parallel uses at most this many threads, so runs
    /// side by side in the pool do not oversubscribe the machine.
    pub threads: usize,
}

/// What one execution of a builtin produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunOutput {
    /// Scalar results by name.
    pub metrics: Metrics,
    /// Files written into the run directory worth keeping, relative to it.
    pub artifacts: Vec<String>,
}

/// Why a builtin could not be built or could not run a point.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimError {
    /// No builtin of that name exists.
    #[error("unknown builtin simulator `{name}` (known: {known})")]
    UnknownBuiltin {
        /// Requested name.
        name: String,
        /// Comma-separated known names.
        known: String,
    },
    /// A builtin option is missing or invalid.
    #[error("option `{option}`: {message}")]
    BadOption {
        /// Option name (dotted path below `simulator`).
        option: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// A parameter value is missing, of the wrong type, or outside the domain.
    #[error("parameter `{param}`: {message}")]
    BadParam {
        /// Parameter name.
        param: String,
        /// What was wrong and what was expected.
        message: String,
    },
    /// The simulation itself failed.
    #[error("{0}")]
    Failed(String),
}

/// A simulator compiled into simforge.
pub trait Simulator: Send + Sync {
    /// Stable identity used in run ids, e.g. `analytic/ishigami(a=7,b=0.1)`.
    /// Changing it re-runs every point, so it must include every option that
    /// changes results.
    fn identity(&self) -> String;

    /// Version of the implementation; part of each result's provenance.
    fn version(&self) -> &'static str;

    /// Parameters this simulator reads.
    fn parameters(&self) -> Vec<ParamDecl>;

    /// Names of the metrics every successful run returns.
    fn metrics(&self) -> Vec<String>;

    /// Runs one point.
    fn run(&self, input: &RunInput<'_>) -> Result<RunOutput, SimError>;
}
