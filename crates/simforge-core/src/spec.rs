//! The study file's schema, as written by users.
//!
//! These types mirror the YAML one-to-one (unknown keys are rejected) and derive a
//! JSON Schema for editors (`simforge schema`). They are *unchecked*: ranges may be
//! inverted, samplers may miss options. [`crate::study::Study`] is the checked form.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A study: one simulator, a parameter space, and a design that picks points in it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Study name; runs and results are filed under it. Letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free-text description shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What computes one run.
    pub simulator: SimulatorSpec,
    /// Parameters by name, in the order they form design dimensions. A bare scalar
    /// is a constant.
    pub parameters: IndexMap<String, ParameterSpec>,
    /// How points are chosen.
    pub design: DesignSpec,
    /// Metric names every successful run must report (others are kept too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// The metric to optimise (used by `simforge optimize` and reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<ObjectiveSpec>,
    /// The adaptive loop of `simforge optimize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimize: Option<OptimizeSpec>,
    /// Per-run resources, wall time and retry policy.
    #[serde(default)]
    pub resources: ResourcesSpec,
    /// Stop starting new runs once this many runs have failed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<u64>,
    /// Where runs execute: `local` (default) or `{slurm: {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<BackendSchema>")]
    pub backend: Option<serde_json::Value>,
}

/// A simulator: a builtin, or an external command.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSpec {
    /// Name of a builtin simulator, e.g. `analytic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// Options of the builtin, e.g. `{function: ishigami, a: 7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Command to run: an argv list (templated with minijinja), or one string when
    /// `shell: true`. Paths are relative to the study file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// Run `command` through `/bin/sh -c` (default false: no shell).
    #[serde(default)]
    pub shell: bool,
    /// Input files to render into each run directory: target file name → template
    /// path (relative to the study file).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, String>,
    /// Extra environment variables (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// How to read metrics from a finished command. Default: `metrics.json` in the
    /// run directory if the command wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<OutputsSpec>,
    /// A version label for the simulator; changing it re-runs every point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A command line: an argv list, or a shell string (with `shell: true`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CommandSpec {
    /// Program and arguments, each a template.
    Argv(Vec<String>),
    /// One shell command line (template), run by `/bin/sh -c`.
    Line(String),
}

/// Rules that turn a finished command's files and output into metrics. Several
/// rules may be combined; later ones win on equal names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputsSpec {
    /// A JSON file (relative to the run directory) holding an object of metrics;
    /// nested objects are flattened with `.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// A CSV file with a header; the last row gives the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
    /// `key=value` lines from a file, or from the command's output with `stdout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyvalue: Option<String>,
    /// Metric name → regular expression applied to stdout; the first capture group
    /// (or the whole match) of the last match is the value.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub regex: IndexMap<String, String>,
}

/// One parameter. Exactly one of `range`, `choice`, `value` or `values` says what
/// kind it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// `[low, high]` for a real or integer parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Vec<f64>>,
    /// `linear` (default) or `log` spacing within `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    /// `real` (default for `range`) or `integer`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<NumberKind>,
    /// The categories of a categorical parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Vec<serde_json::Value>>,
    /// The value of a constant parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Explicit numeric levels (a grid uses exactly these; other samplers pick among them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Grid: number of evenly spaced levels within `range` (on the parameter's scale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// Grid: spacing between levels, starting at the low end of `range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Physical unit, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the parameter means, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Spacing of a real parameter within its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Uniform in the value.
    Linear,
    /// Uniform in the logarithm of the value (range must be positive).
    Log,
}

/// Numeric kind of a ranged parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NumberKind {
    /// Real number.
    Real,
    /// Integer (both ends of the range included).
    Integer,
}

/// The design: which points of the space to run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DesignSpec {
    /// Sampling method.
    pub sampler: SamplerKind,
    /// Number of points (`random`, `lhs`, `sobol`, `halton`); base samples for
    /// `saltelli`; trajectories for `morris`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Seed for every random choice in the design (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `grid`: default number of levels for ranged real parameters; `morris`: grid levels p (even, default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// `lhs`: `true` (20 candidates) or a candidate count; keeps the design whose
    /// closest two points are farthest apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximin: Option<Maximin>,
    /// `sobol`, `halton`, `saltelli`: randomise the sequence (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scramble: Option<bool>,
    /// `saltelli`: also produce the rows needed for second-order indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_order: Option<bool>,
    /// `morris`: groups of parameters moved together (Campolongo, Cariboni &
    /// Saltelli 2007), e.g. `{geometry: [w, h], material: [e, nu]}`; every
    /// sampled parameter in exactly one group. Measures are then per group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<IndexMap<String, Vec<String>>>,
    /// `table`: CSV file of points (header = parameter names), relative to the study file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Runs per point, each with its own seed (for stochastic simulators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicates: Option<u32>,
}

/// `maximin: true` or `maximin: 50`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Maximin {
    /// On (20 candidates) or off.
    Enabled(bool),
    /// Number of candidate designs.
    Candidates(u32),
}

/// Sampling methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Full factorial over each parameter's levels.
    Grid,
    /// Independent uniform points.
    Random,
    /// Latin hypercube.
    Lhs,
    /// Scrambled Sobol' sequence (Joe–Kuo direction numbers).
    Sobol,
    /// Halton sequence.
    Halton,
    /// Saltelli's scheme for Sobol' sensitivity indices.
    Saltelli,
    /// Morris elementary-effects trajectories.
    Morris,
    /// Explicit points from a CSV file.
    Table,
}

impl SamplerKind {
    /// The name used in study files.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerKind::Grid => "grid",
            SamplerKind::Random => "random",
            SamplerKind::Lhs => "lhs",
            SamplerKind::Sobol => "sobol",
            SamplerKind::Halton => "halton",
            SamplerKind::Saltelli => "saltelli",
            SamplerKind::Morris => "morris",
            SamplerKind::Table => "table",
        }
    }
}

/// The metric to optimise: exactly one of `minimize` or `maximize`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    /// Metric to minimise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimize: Option<String>,
    /// Metric to maximise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximize: Option<String>,
    /// Constraints on other metrics, each `METRIC <= NUMBER` (or `<`, `>=`,
    /// `>`), e.g. `p99_latency <= 200`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
}

/// How `simforge optimize` runs the adaptive loop. The study's `design` is
/// the initial space-filling design.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizeSpec {
    /// `optimize` (default: find the objective's optimum) or
    /// `active_learning` (build an accurate surrogate of `metric` with few runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Runs in all, the initial design included (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
    /// Points proposed per iteration (default: the executor's slots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
    /// `log_ei` (default) or `ucb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<String>,
    /// Exploration weight κ of `ucb` (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kappa: Option<f64>,
    /// Active learning: `variance` (default) or `integrated_variance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion: Option<String>,
    /// Active learning: the metric to model (default: the objective's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Stop after this much wall time (e.g. `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_time: Option<Quantity>,
    /// Stop after this many iterations without improvement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<u32>,
}

/// Per-run resources and failure policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    /// CPU cores one run uses (default 1); the local pool never over-commits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory one run needs, e.g. `2GiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// GPUs one run uses (default 0); each run sees only its own via `CUDA_VISIBLE_DEVICES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// Wall-time limit of one attempt, e.g. `10m`; the whole process group is killed past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Quantity>,
    /// Extra attempts after a failed or timed-out one (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Delay before the first retry, doubled for each further one (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Quantity>,
    /// Largest stdout/stderr log kept per attempt (default `256MiB`); a run writing
    /// more is stopped and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_size: Option<Quantity>,
}

/// A number, or a string with a unit (`10m`, `2GiB`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Quantity {
    /// Plain number (seconds or bytes).
    Number(f64),
    /// Number with a unit.
    Text(String),
}

/// The shapes `backend:` accepts (for the JSON Schema; checked in `study`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum BackendSchema {
    /// `local`.
    Name(String),
    /// `{slurm: {...}}`.
    Slurm {
        /// SLURM settings.
        slurm: Box<SlurmSpec>,
    },
    /// `{kubernetes: {...}}`.
    Kubernetes {
        /// Kubernetes settings.
        kubernetes: Box<KubernetesSpec>,
    },
}

/// How a study runs on Kubernetes: Indexed Jobs whose pods each run a bundle
/// of runs (`simforge exec-bundle`), or a Deployment of `simforge worker` pods
/// (`mode: pilot`). Run directories live on a shared volume mounted at the
/// same path in the pods as on the coordinator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSpec {
    /// Container image holding `simforge` (on PATH) and the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Namespace (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `indexed` (default): Indexed Jobs; `pilot`: a Deployment of workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<KubernetesMode>,
    /// Pods of one Job running at once (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// Runs per pod (default: enough to fill `task_minutes` from past run
    /// times; 1 without history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<u32>,
    /// Target length of one pod when choosing `bundle` (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_minutes: Option<f64>,
    /// Most completions (pods) per Job (default 10000); more bundles make
    /// several Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completions: Option<u32>,
    /// Pod retries per index for failures outside the run (evicted pod, lost
    /// node) (default 2); failed runs retry inside the pod per `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<u32>,
    /// The shared volume holding the store directory and run directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<KubernetesVolume>,
    /// `nodeSelector` labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub node_selector: IndexMap<String, String>,
    /// Tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<KubernetesToleration>,
    /// Extra labels on Jobs and pods.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Extra environment variables of the container.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Service account of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Pilot settings (with `mode: pilot`): `max` worker pods, `slots` each,
    /// `heartbeat`, `listen`, `advertise` as for SLURM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pilot: Option<PilotSpec>,
}

/// Kubernetes execution modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesMode {
    /// Indexed Jobs; each pod runs a bundle of runs.
    Indexed,
    /// A Deployment of `simforge worker` pods fed over HTTP.
    Pilot,
}

/// A PersistentVolumeClaim mounted in every pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesVolume {
    /// Claim name (ReadWriteMany, e.g. NFS or CephFS).
    pub claim: String,
    /// Mount path; the study's store directory must lie under it.
    pub mount: String,
}

/// A pod toleration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesToleration {
    /// Taint key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (default) or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// Seconds a `NoExecute` toleration lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// How a study runs on a SLURM cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// `array` (default): job arrays whose tasks run bundles of runs; `pilot`:
    /// worker jobs that pull runs from the coordinator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SlurmMode>,
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// `--constraint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Wall time of one array task (default: the bundle's runs at `resources.time`
    /// each, plus 5 minutes; 1 hour without `resources.time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Quantity>,
    /// `--cpus-per-task` (default: `resources.cpus`, rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<u32>,
    /// `--mem` (default: `resources.memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Quantity>,
    /// `--gpus-per-task` (default: `resources.gpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// `--gres`, e.g. `gpu:a100:1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    /// Runs per array task (default: chosen so a task lasts about `task_minutes`,
    /// from the median duration of runs already done; 1 without history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<u32>,
    /// Target length of an array task when choosing `bundle` (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_minutes: Option<f64>,
    /// At most this many tasks of an array run at once (`%N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_throttle: Option<u32>,
    /// The cluster's MaxArraySize (default 1001, SLURM's default); larger
    /// submissions are split into several arrays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_array_size: Option<u32>,
    /// Extra `#SBATCH` options, e.g. `--exclusive`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Shell lines run before simforge in each task (module loads, environments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
    /// Retry runs whose task ran out of memory (OUT_OF_MEMORY) with more
    /// memory; without it such runs retry with the same `mem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_retry: Option<OomRetrySpec>,
    /// Pilot-mode settings (only with `mode: pilot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pilot: Option<PilotSpec>,
}

/// How runs lost to OUT_OF_MEMORY are retried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OomRetrySpec {
    /// Memory grows by this factor per out-of-memory loss (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Never ask for more than this (e.g. the nodes' memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Quantity>,
}

/// Pilot mode: SLURM jobs that each run `simforge worker`, which pulls runs from
/// the coordinator over HTTP with leases and heartbeats. Suits many short runs:
/// one job serves hundreds of runs, and a pilot that dies loses none of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PilotSpec {
    /// Most pilot jobs queued or running at once (default 4). The coordinator
    /// submits pilots while the backlog needs them, up to this number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    /// Runs one pilot executes at once (default 1). A pilot job asks for this
    /// many times the per-run CPUs, memory and GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Wall time of one pilot job (default 1h). A pilot stops taking runs that
    /// would not finish before it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Quantity>,
    /// A pilot with nothing to do for this long exits (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_exit: Option<Quantity>,
    /// How often a pilot checks in (default 5s). A pilot silent for six
    /// heartbeats is taken for dead and its runs go back to pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Quantity>,
    /// Address the coordinator listens on (default `0.0.0.0:0`: any interface,
    /// a free port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Base URL the pilots use to reach the coordinator (default
    /// `http://<this host's name>:<port>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
}

/// SLURM execution modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlurmMode {
    /// Job arrays; each task runs a bundle of runs.
    Array,
    /// Pilot jobs running `simforge worker`, fed over HTTP.
    Pilot,
}

/// The JSON Schema of study files, for editors and `simforge schema`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(StudySpec);
    serde_json::to_value(schema).unwrap_or(serde_json::Value::Null)
}
