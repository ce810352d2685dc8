//! Loading and checking a study file: text → [`Study`], or located diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::source::{Document, SourceMap, join_index, join_key, parse_document};
use crate::space::{Domain, Parameter, ParameterSpace, tidy};
use crate::spec::{
    CommandSpec, DesignSpec, Maximin, NumberKind, ParameterSpec, Quantity, SamplerKind, Scale,
    SlurmSpec, StudySpec,
};
use crate::units::{parse_bytes, parse_duration};

/// Largest design simforge plans in one study.
pub const MAX_RUNS: u64 = 50_000_000;

/// Default number of grid levels for a ranged real parameter.
pub const DEFAULT_GRID_LEVELS: u32 = 5;

/// Integer ranges with at most this many values are gridded over every integer.
const MAX_IMPLICIT_INTEGER_LEVELS: i64 = 1000;

/// A checked study, ready to plan.
#[derive(Debug, Clone)]
pub struct Study {
    /// The spec as written.
    pub spec: StudySpec,
    /// The study file.
    pub file: PathBuf,
    /// Directory of the study file; relative paths in the study resolve against it.
    pub dir: PathBuf,
    /// Positions of fields in the study file, for later diagnostics.
    pub source: SourceMap,
    /// Checked parameters.
    pub space: ParameterSpace,
    /// Checked design.
    pub design: Design,
    /// Checked resources and failure policy.
    pub resources: Resources,
    /// Where runs execute.
    pub backend: Backend,
    /// Settings of the adaptive loop, when the study has an `objective` or an
    /// `optimize` section.
    pub adaptive: Option<crate::adaptive::Adaptive>,
    /// Hash of the spec (and any table file) — part of every result's provenance.
    pub spec_hash: String,
}

/// A checked design.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// How points are chosen.
    pub method: DesignMethod,
    /// Seed for all random choices (default 0).
    pub seed: u64,
    /// Runs per point (≥ 1).
    pub replicates: u32,
}

/// A checked sampling method with its options.
#[derive(Debug, Clone, PartialEq)]
pub enum DesignMethod {
    /// Full factorial over each parameter's grid levels.
    Grid,
    /// Uniform random points.
    Random {
        /// Point count.
        samples: u64,
    },
    /// Latin hypercube.
    Lhs {
        /// Point count.
        samples: u64,
        /// Maximin candidate designs (1 = plain LHS).
        candidates: u32,
    },
    /// Sobol' sequence.
    Sobol {
        /// Point count.
        samples: u64,
        /// Scrambled.
        scramble: bool,
    },
    /// Halton sequence.
    Halton {
        /// Point count.
        samples: u64,
        /// Scrambled.
        scramble: bool,
    },
    /// Saltelli scheme.
    Saltelli {
        /// Base samples N.
        samples: u64,
        /// Include second-order rows.
        second_order: bool,
        /// Scrambled base sequence.
        scramble: bool,
    },
    /// Morris trajectories.
    Morris {
        /// Trajectory count.
        trajectories: u64,
        /// Grid levels p.
        levels: u32,
        /// Groups moved together: name and sampled-dimension indices; `None`
        /// moves one parameter per step.
        groups: Option<Vec<(String, Vec<usize>)>>,
    },
    /// Explicit points (values by parameter name; constants filled in).
    Table {
        /// The rows.
        rows: Vec<BTreeMap<String, Value>>,
    },
}

/// Where a study's runs execute.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// The local slot pool.
    Local,
    /// A SLURM cluster.
    Slurm(Box<SlurmBackend>),
    /// A Kubernetes cluster.
    Kubernetes(Box<KubernetesBackend>),
}

/// Checked Kubernetes settings, with defaults taken from the study's resources.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesBackend {
    /// The settings as written.
    pub spec: crate::spec::KubernetesSpec,
    /// The image.
    pub image: String,
    /// Namespace.
    pub namespace: String,
    /// CPU cores per pod.
    pub cpus: f64,
    /// Memory per pod in bytes, if known.
    pub memory: Option<u64>,
    /// GPUs per pod.
    pub gpus: u32,
    /// Pilot settings, in pilot mode.
    pub pilot: Option<PilotSettings>,
}

/// Checked SLURM settings, with defaults taken from the study's resources.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmBackend {
    /// The settings as written.
    pub spec: SlurmSpec,
    /// Wall time of one array task, if given.
    pub time: Option<Duration>,
    /// Memory per task in bytes, if known.
    pub mem: Option<u64>,
    /// `--cpus-per-task`.
    pub cpus_per_task: u32,
    /// GPUs per task.
    pub gpus: u32,
    /// Pilot settings, in pilot mode.
    pub pilot: Option<PilotSettings>,
    /// Memory growth for runs lost to OUT_OF_MEMORY: (factor, cap in bytes).
    pub oom_retry: Option<(f64, Option<u64>)>,
}

/// Checked pilot-mode settings (see [`crate::spec::PilotSpec`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PilotSettings {
    /// Most pilot jobs at once.
    pub max: u32,
    /// Runs one pilot executes at once.
    pub slots: u32,
    /// Wall time of a pilot job.
    pub time: Duration,
    /// Idle time after which a pilot exits.
    pub idle_exit: Duration,
    /// How often a pilot checks in; six missed heartbeats end its leases.
    pub heartbeat: Duration,
    /// Where the coordinator listens.
    pub listen: std::net::SocketAddr,
    /// Base URL pilots use, if not derived from the host name.
    pub advertise: Option<String>,
}

impl SlurmBackend {
    /// Whether runs go to pilot workers instead of job arrays.
    pub fn is_pilot(&self) -> bool {
        self.pilot.is_some()
    }
}

/// Checked per-run resources and failure policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// CPU cores per run.
    pub cpus: f64,
    /// Memory per run in bytes, if declared.
    pub memory: Option<u64>,
    /// GPUs per run.
    pub gpus: u32,
    /// Wall-time limit per attempt.
    pub time: Option<Duration>,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// Delay before the first retry (doubled each time).
    pub backoff: Duration,
    /// Largest stdout/stderr log per attempt, in bytes.
    pub max_log_size: u64,
    /// Stop starting runs after this many have failed for good.
    pub max_failures: Option<u64>,
}

/// Reads, parses and checks the study file at `path`.
pub fn load_study(path: &Path) -> Result<Study, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(path, "", format!("cannot read the study file: {e}"))
            .hint("check the path; `simforge run` takes the path of a .yaml or .json study file")
    })?;
    parse_study(path, &text)
}

/// Parses and checks study text as if it came from `path`.
pub fn parse_study(path: &Path, text: &str) -> Result<Study, Diagnostics> {
    let mut doc = parse_document(path, text)?;
    normalise_constants(&mut doc.value);
    let spec: StudySpec = serde_path_to_error::deserialize(doc.value.clone())
        .map_err(|e| serde_diagnostic(&doc.source, "", &e))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    Checker {
        doc: &doc,
        dir: &dir,
        diags: Vec::new(),
    }
    .check(spec, path)
}

/// A bare scalar under `parameters` is shorthand for `{value: scalar}`.
fn normalise_constants(value: &mut Value) {
    if let Some(Value::Object(params)) = value.get_mut("parameters") {
        for v in params.values_mut() {
            if !v.is_object() {
                *v = serde_json::json!({ "value": v.take() });
            }
        }
    }
}

/// Turns a serde error with its field path into a located diagnostic with a hint.
fn serde_diagnostic(
    source: &SourceMap,
    prefix: &str,
    err: &serde_path_to_error::Error<serde_json::Error>,
) -> Diagnostics {
    let mut path = prefix.to_string();
    for seg in err.path().iter() {
        use serde_path_to_error::Segment;
        match seg {
            Segment::Map { key } => path = join_key(&path, key),
            Segment::Seq { index } => path = join_index(&path, *index),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let msg = err.inner().to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    if let Some((word, expected)) = parse_unknown(&msg, "unknown field `") {
        let field_path = if path.ends_with(&word) {
            path.clone()
        } else {
            join_key(&path, &word)
        };
        let mut d = source
            .error_at_key(&field_path, format!("unknown key `{word}`"))
            .expected(expected.clone());
        if let Some(s) = did_you_mean(&word, names_in(&expected).iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{s}`?"));
        } else {
            d = d.hint("run `simforge schema` for every key a study file accepts");
        }
        return d.into();
    }
    if let Some((word, expected)) = parse_unknown(&msg, "unknown variant `") {
        let mut d = source
            .error_at(&path, format!("unknown value `{word}`"))
            .expected(expected.clone());
        if let Some(s) = did_you_mean(&word, names_in(&expected).iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        return d.into();
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        return source
            .error_at(&path, format!("missing required key `{field}`"))
            .hint(format!(
                "add `{field}:` here; see examples/quickstart/study.yaml"
            ))
            .into();
    }
    if msg.contains("untagged enum Quantity") {
        return source
            .error_at(&path, "invalid value")
            .expected("a number, or a string with a unit such as `10m` or `2GiB`")
            .into();
    }
    if msg.contains("untagged enum CommandSpec") {
        return source
            .error_at(&path, "invalid command")
            .expected("a list of strings such as [\"./solver\", \"--n\", \"{{ n }}\"], or one string with `shell: true`")
            .into();
    }
    if msg.contains("untagged enum Maximin") {
        return source
            .error_at(&path, "invalid value")
            .expected("true, false or a candidate count")
            .into();
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        return source
            .error_at(&path, format!("wrong type: found {found}"))
            .expected(friendly_expected(expected))
            .into();
    }
    source.error_at(&path, msg).into()
}

fn friendly_expected(serde_expected: &str) -> String {
    match serde_expected {
        "f64" => "a number".into(),
        "u64" | "u32" => "a non-negative whole number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "a list, e.g. [1, 2]".into(),
        other => other.into(),
    }
}

/// For `unknown field `x`, expected one of `a`, `b`` returns (`x`, "one of `a`, `b`").
fn parse_unknown(msg: &str, prefix: &str) -> Option<(String, String)> {
    let rest = msg.strip_prefix(prefix)?;
    let (word, after) = rest.split_once('`')?;
    let expected = after
        .trim_start_matches(',')
        .trim()
        .trim_start_matches("expected ")
        .to_string();
    Some((word.to_string(), expected))
}

fn names_in(expected: &str) -> Vec<String> {
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

struct Checker<'a> {
    doc: &'a Document,
    dir: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, path: &str, message: impl Into<String>, expected: &str, hint: &str) {
        let mut d = self.doc.source.error_at(path, message);
        if !expected.is_empty() {
            d = d.expected(expected);
        }
        if !hint.is_empty() {
            d = d.hint(hint);
        }
        self.diags.push(d);
    }

    fn check(mut self, spec: StudySpec, file: &Path) -> Result<Study, Diagnostics> {
        self.check_name(&spec.name);
        let space = self.check_parameters(&spec);
        self.check_simulator(&spec);
        let resources = self.check_resources(&spec);
        self.check_metrics(&spec);
        let backend = self.check_backend(&spec, &resources);
        let adaptive = self.check_adaptive(&spec);
        let (design, table_text) = self.check_design(&spec.design, &space);
        if !self.diags.is_empty() {
            return Err(Diagnostics(self.diags));
        }
        let design = design.ok_or_else(|| Diagnostics(vec![]))?;
        let spec_hash = {
            let mut canon = canonical_json(&self.doc.value);
            if let Some(t) = table_text {
                canon.push('\0');
                canon.push_str(&t);
            }
            short_hash(canon.as_bytes(), 16)
        };
        Ok(Study {
            spec,
            file: file.to_path_buf(),
            dir: self.dir.to_path_buf(),
            source: self.doc.source.clone(),
            space,
            design,
            resources,
            backend,
            adaptive,
            spec_hash,
        })
    }

    /// Checks Morris `groups`: known, sampled parameters, each in exactly one
    /// non-empty group. Returns groups as sampled-dimension indices.
    fn check_groups(
        &mut self,
        groups: &indexmap::IndexMap<String, Vec<String>>,
        space: &ParameterSpace,
    ) -> Option<Vec<(String, Vec<usize>)>> {
        let sampled: Vec<&str> = space.sampled().map(|p| p.name.as_str()).collect();
        let mut seen = vec![false; sampled.len()];
        let mut out = Vec::new();
        let before = self.diags.len();
        for (g, members) in groups {
            let path = join_key("design.groups", g);
            if members.is_empty() {
                self.err(
                    &path,
                    format!("group `{g}` is empty"),
                    "a list of parameter names",
                    "",
                );
            }
            let mut idx = Vec::new();
            for m in members {
                match sampled.iter().position(|s| s == m) {
                    Some(i) if seen[i] => self.err(
                        &path,
                        format!("`{m}` is in more than one group"),
                        "each parameter in exactly one group",
                        "",
                    ),
                    Some(i) => {
                        seen[i] = true;
                        idx.push(i);
                    }
                    None => {
                        let hint = did_you_mean(m, sampled.iter().copied())
                            .map(|s| format!("did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.err(
                            &path,
                            format!("`{m}` is not a sampled parameter"),
                            &format!("one of {}", sampled.join(", ")),
                            &hint,
                        );
                    }
                }
            }
            out.push((g.clone(), idx));
        }
        let missing: Vec<&str> = sampled
            .iter()
            .zip(&seen)
            .filter(|(_, s)| !**s)
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            self.err(
                "design.groups",
                format!("no group holds {}", missing.join(", ")),
                "every sampled parameter in exactly one group",
                "add them to a group, or a group of their own",
            );
        }
        (self.diags.len() == before).then_some(out)
    }

    /// Checks `objective` and `optimize` into the adaptive loop's settings.
    fn check_adaptive(&mut self, spec: &StudySpec) -> Option<crate::adaptive::Adaptive> {
        use crate::adaptive::{
            AcquisitionKind, Adaptive, DEFAULT_BUDGET, Goal, LearnCriterion, parse_constraint,
        };
        let opt = spec.optimize.clone().unwrap_or_default();
        if spec.objective.is_none() && spec.optimize.is_none() {
            return None;
        }
        let known = |m: &str| spec.metrics.is_empty() || spec.metrics.iter().any(|k| k == m);
        let (objective, maximize) = match &spec.objective {
            Some(o) => match (&o.minimize, &o.maximize) {
                (Some(m), None) => (Some(m.clone()), false),
                (None, Some(m)) => (Some(m.clone()), true),
                _ => (None, false), // reported by check_metrics
            },
            None => (None, false),
        };
        let mut constraints = Vec::new();
        for (i, text) in spec
            .objective
            .iter()
            .flat_map(|o| o.constraints.iter())
            .enumerate()
        {
            let path = join_index("objective.constraints", i);
            match parse_constraint(text) {
                Ok(c) if !known(&c.metric) => self.err(
                    &path,
                    format!(
                        "the constraint names `{}`, which is not in `metrics`",
                        c.metric
                    ),
                    &format!("one of {}", spec.metrics.join(", ")),
                    "",
                ),
                Ok(c) => constraints.push(c),
                Err(m) => self.err(
                    &path,
                    m,
                    "`METRIC <= NUMBER` (or <, >=, >)",
                    "e.g. `p99_latency <= 200`",
                ),
            }
        }
        let kappa = match opt.kappa {
            Some(k) if !(k.is_finite() && k >= 0.0) => {
                self.err(
                    "optimize.kappa",
                    format!("{k} is not a weight"),
                    "a number ≥ 0",
                    "",
                );
                2.0
            }
            Some(k) => k,
            None => 2.0,
        };
        let mode = opt.mode.as_deref().unwrap_or("optimize");
        let goal = match mode {
            "optimize" => {
                let acq = match opt.acquisition.as_deref() {
                    None | Some("log_ei") | Some("ei") => AcquisitionKind::LogEi,
                    Some("ucb") => AcquisitionKind::Ucb { kappa },
                    Some(other) => {
                        self.err(
                            "optimize.acquisition",
                            format!("unknown acquisition function `{other}`"),
                            "`log_ei` or `ucb`",
                            "",
                        );
                        AcquisitionKind::LogEi
                    }
                };
                if objective.is_none() && spec.objective.is_none() {
                    self.err(
                        "optimize",
                        "optimisation needs an objective",
                        "`objective: {minimize: METRIC}` or `{maximize: METRIC}`",
                        "or set `optimize.mode: active_learning` with `optimize.metric`",
                    );
                }
                Goal::Optimize(acq)
            }
            "active_learning" => Goal::Learn(match opt.criterion.as_deref() {
                None | Some("variance") => LearnCriterion::Variance,
                Some("integrated_variance") | Some("ivr") => LearnCriterion::IntegratedVariance,
                Some(other) => {
                    self.err(
                        "optimize.criterion",
                        format!("unknown active-learning criterion `{other}`"),
                        "`variance` or `integrated_variance`",
                        "",
                    );
                    LearnCriterion::Variance
                }
            }),
            other => {
                self.err(
                    "optimize.mode",
                    format!("unknown mode `{other}`"),
                    "`optimize` or `active_learning`",
                    "",
                );
                Goal::Optimize(AcquisitionKind::LogEi)
            }
        };
        let metric = match (&goal, &opt.metric, &objective) {
            (Goal::Learn(_), Some(m), _) => {
                if !known(m) {
                    self.err(
                        "optimize.metric",
                        format!("`{m}` is not in `metrics`"),
                        &format!("one of {}", spec.metrics.join(", ")),
                        "",
                    );
                }
                m.clone()
            }
            (_, _, Some(m)) => m.clone(),
            (Goal::Learn(_), None, None) => {
                self.err(
                    "optimize.metric",
                    "active learning needs a metric to model",
                    "`optimize.metric: METRIC` (or an `objective`)",
                    "",
                );
                String::new()
            }
            _ => String::new(),
        };
        let budget = opt.budget.unwrap_or(DEFAULT_BUDGET);
        if budget == 0 {
            self.err(
                "optimize.budget",
                "the budget is 0 runs",
                "a positive number of runs",
                "",
            );
        }
        if opt.batch == Some(0) {
            self.err(
                "optimize.batch",
                "a batch of 0 points",
                "a positive number",
                "",
            );
        }
        let max_time = opt
            .max_time
            .as_ref()
            .and_then(|q| self.duration("optimize.max_time", q));
        if opt.patience == Some(0) {
            self.err(
                "optimize.patience",
                "patience of 0 iterations",
                "a positive number of iterations",
                "leave it out to never stop for lack of progress",
            );
        }
        Some(Adaptive {
            goal,
            metric,
            maximize,
            constraints,
            budget,
            batch: opt.batch,
            max_time,
            patience: opt.patience,
        })
    }

    fn check_name(&mut self, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && !name.starts_with('.');
        if !ok {
            self.err(
                "name",
                format!("invalid study name `{name}`"),
                "1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.`",
                "the name is used in directory names, e.g. `cavity-sweep`",
            );
        }
    }

    fn check_parameters(&mut self, spec: &StudySpec) -> ParameterSpace {
        let mut space = ParameterSpace::default();
        if spec.parameters.is_empty() {
            self.err(
                "parameters",
                "the study has no parameters",
                "at least one parameter",
                "e.g. `x: {range: [0, 1]}`",
            );
        }
        for (name, p) in &spec.parameters {
            let path = join_key("parameters", name);
            if !is_parameter_name(name) {
                self.err(
                    &path,
                    format!("invalid parameter name `{name}`"),
                    "a name of letters, digits and `_`, not starting with a digit (a builtin's property path joins such names with `.`, e.g. `components.api.replicas`)",
                    "names become template variables and SIMFORGE_PARAM_<NAME> environment variables",
                );
                continue;
            }
            // `a` and `a.b` cannot both be parameters: `a.b` is a path inside `a`.
            if let Some(outer) = spec
                .parameters
                .keys()
                .find(|other| name.starts_with(&format!("{other}.")))
            {
                self.err(
                    &path,
                    format!("parameter `{name}` lies inside parameter `{outer}`"),
                    "parameter names that are not paths into one another",
                    &format!("rename one of them, or set `{name}` through `{outer}`'s value"),
                );
                continue;
            }
            if let Some(domain) = self.check_parameter(&path, p, spec.design.levels) {
                space.params.push(Parameter {
                    name: name.clone(),
                    domain,
                    unit: p.unit.clone(),
                    description: p.description.clone(),
                });
            }
        }
        space
    }

    fn check_parameter(
        &mut self,
        path: &str,
        p: &ParameterSpec,
        default_levels: Option<u32>,
    ) -> Option<Domain> {
        let kinds = [
            p.range.is_some(),
            p.choice.is_some(),
            p.value.is_some(),
            p.values.is_some(),
        ];
        let count = kinds.iter().filter(|k| **k).count();
        if count != 1 {
            self.err(
                path,
                if count == 0 { "the parameter has no values" } else { "the parameter mixes `range`, `choice`, `value` and `values`" },
                "exactly one of `range: [low, high]`, `choice: [...]`, `values: [...]` or `value: x`",
                "e.g. `mobility: {range: [0.1, 10], scale: log}` or `model: {choice: [a, b]}`",
            );
            return None;
        }
        let log = p.scale == Some(Scale::Log);
        if p.range.is_none()
            && (p.scale.is_some() || p.kind.is_some() || p.levels.is_some() || p.step.is_some())
        {
            self.err(
                path,
                "`scale`, `type`, `levels` and `step` only apply to a `range` parameter",
                "",
                "remove them, or give the parameter a `range`",
            );
            return None;
        }
        if let Some(v) = &p.value {
            if !(v.is_number() || v.is_string() || v.is_boolean()) {
                self.err(
                    &join_key(path, "value"),
                    "a constant must be a scalar",
                    "a number, string or boolean",
                    "",
                );
                return None;
            }
            return Some(Domain::Constant(v.clone()));
        }
        if let Some(options) = &p.choice {
            let cpath = join_key(path, "choice");
            if options.is_empty() {
                self.err(&cpath, "empty `choice` list", "at least one option", "");
                return None;
            }
            for (i, o) in options.iter().enumerate() {
                if !(o.is_number() || o.is_string() || o.is_boolean()) {
                    self.err(
                        &join_index(&cpath, i),
                        "each choice must be a scalar",
                        "a number, string or boolean",
                        "",
                    );
                    return None;
                }
            }
            return Some(Domain::Choice(options.clone()));
        }
        if let Some(values) = &p.values {
            if values.is_empty() {
                self.err(
                    &join_key(path, "values"),
                    "empty `values` list",
                    "at least one value",
                    "",
                );
                return None;
            }
            return Some(Domain::Choice(
                values.iter().map(|v| crate::space::number(*v)).collect(),
            ));
        }
        let rpath = join_key(path, "range");
        let range = p.range.as_deref().unwrap_or_default();
        let [low, high] = range else {
            self.err(
                &rpath,
                format!("a range needs two numbers, found {}", range.len()),
                "[low, high]",
                "",
            );
            return None;
        };
        let (low, high) = (*low, *high);
        if low > high {
            self.err(
                &rpath,
                format!("the range is inverted: {low} > {high}"),
                "low ≤ high",
                &format!("write [{high}, {low}]"),
            );
            return None;
        }
        if low == high {
            self.err(
                &rpath,
                format!("the range is empty: both ends are {low}"),
                "low < high",
                &format!("use `value: {low}` for a constant"),
            );
            return None;
        }
        if log && low <= 0.0 {
            self.err(
                &rpath,
                format!("a log-scaled range must be positive, found low = {low}"),
                "0 < low < high",
                "use `scale: linear` or a positive lower bound",
            );
            return None;
        }
        if p.levels == Some(0) || (p.levels.is_some() && p.step.is_some()) {
            self.err(
                path,
                "invalid grid spacing",
                "either `levels: n` (n ≥ 1) or `step: s`, not both",
                "",
            );
            return None;
        }
        if let Some(step) = p.step
            && (step <= 0.0 || !step.is_finite() || log)
        {
            self.err(
                &join_key(path, "step"),
                format!("invalid step {step}"),
                "a positive step on a linear scale",
                "use `levels:` for log-scaled parameters",
            );
            return None;
        }
        let levels = p.levels.or(default_levels).unwrap_or(DEFAULT_GRID_LEVELS);
        match p.kind.unwrap_or(NumberKind::Real) {
            NumberKind::Real => {
                let grid = match p.step {
                    Some(step) => {
                        let n = ((high - low) / step + 1e-9).floor() as u64 + 1;
                        if n > MAX_RUNS {
                            self.err(
                                &join_key(path, "step"),
                                format!("step {step} gives {n} levels"),
                                "a larger step",
                                "",
                            );
                            return None;
                        }
                        (0..n).map(|i| tidy(low + i as f64 * step)).collect()
                    }
                    None => spaced(low, high, levels, log),
                };
                Some(Domain::Real {
                    low,
                    high,
                    log,
                    grid,
                })
            }
            NumberKind::Integer => {
                if low.fract() != 0.0
                    || high.fract() != 0.0
                    || low.abs() > 9e15
                    || high.abs() > 9e15
                {
                    self.err(
                        &rpath,
                        "an integer range needs whole-number bounds",
                        "[low, high] with integers",
                        "",
                    );
                    return None;
                }
                let (lo, hi) = (low as i64, high as i64);
                let grid: Vec<i64> = match (p.step, p.levels) {
                    (Some(step), _) => {
                        let s = step.round().max(1.0) as i64;
                        (lo..=hi).step_by(s as usize).collect()
                    }
                    (None, Some(n)) => {
                        let mut g: Vec<i64> = spaced(low, high, n, log)
                            .into_iter()
                            .map(|v| v.round() as i64)
                            .collect();
                        g.dedup();
                        g
                    }
                    (None, None) if hi - lo < MAX_IMPLICIT_INTEGER_LEVELS => (lo..=hi).collect(),
                    (None, None) => {
                        let mut g: Vec<i64> = spaced(low, high, levels, log)
                            .into_iter()
                            .map(|v| v.round() as i64)
                            .collect();
                        g.dedup();
                        g
                    }
                };
                Some(Domain::Integer {
                    low: lo,
                    high: hi,
                    log,
                    grid,
                })
            }
        }
    }

    fn check_simulator(&mut self, spec: &StudySpec) {
        let sim = &spec.simulator;
        match (&sim.builtin, &sim.command) {
            (Some(_), Some(_)) => self.err(
                "simulator",
                "both `builtin` and `command` are set",
                "exactly one of them",
                "remove one",
            ),
            (None, None) => self.err(
                "simulator",
                "no simulator given",
                "`builtin: analytic` or `command: [program, args...]`",
                "e.g. `simulator: {command: [\"./solver\", \"{{ x }}\"]}`",
            ),
            (Some(_), None) => {
                for (key, set) in [
                    ("inputs", !sim.inputs.is_empty()),
                    ("env", !sim.env.is_empty()),
                    ("outputs", sim.outputs.is_some()),
                    ("shell", sim.shell),
                ] {
                    if set {
                        self.err(
                            &join_key("simulator", key),
                            format!("`{key}` applies only to a `command` simulator"),
                            "",
                            "builtins take their settings under `options`",
                        );
                    }
                }
            }
            (None, Some(cmd)) => {
                if sim.options.is_some() {
                    self.err(
                        "simulator.options",
                        "`options` applies only to a builtin simulator",
                        "",
                        "pass settings to a command as arguments, env or input files",
                    );
                }
                match cmd {
                    CommandSpec::Argv(argv) if argv.is_empty() || argv[0].trim().is_empty() => {
                        self.err("simulator.command", "the command is empty", "a program name and its arguments", "")
                    }
                    CommandSpec::Line(_) if !sim.shell => self.err(
                        "simulator.command",
                        "a command given as one string needs `shell: true`",
                        "a list such as [\"./solver\", \"--x\", \"{{ x }}\"]",
                        "write the command as a list, or add `shell: true` to run it through /bin/sh",
                    ),
                    CommandSpec::Argv(argv) if sim.shell && argv.len() > 1 => self.err(
                        "simulator.command",
                        "with `shell: true` the command must be one string",
                        "command: \"./solver --x {{ x }} > out.txt\"",
                        "",
                    ),
                    _ => {}
                }
                if let Some(out) = &sim.outputs {
                    for (metric, pattern) in &out.regex {
                        let p = join_key("simulator.outputs.regex", metric);
                        if pattern.is_empty() {
                            self.err(
                                &p,
                                "empty regular expression",
                                "a pattern such as `energy = ([-0-9.eE+]+)`",
                                "",
                            );
                        }
                    }
                }
                for (name, template) in &sim.inputs {
                    let p = join_key("simulator.inputs", name);
                    if name.contains('/')
                        && (name.starts_with('/') || name.split('/').any(|s| s == ".."))
                    {
                        self.err(
                            &p,
                            format!(
                                "input file `{name}` would be written outside the run directory"
                            ),
                            "a relative path inside the run directory",
                            "",
                        );
                    }
                    if !self.dir.join(template).is_file() {
                        self.err(
                            &p,
                            format!(
                                "template file `{template}` not found (looked in {})",
                                self.dir.display()
                            ),
                            "the path of a template file, relative to the study file",
                            "",
                        );
                    }
                }
            }
        }
    }

    fn check_resources(&mut self, spec: &StudySpec) -> Resources {
        let r = &spec.resources;
        let mut out = Resources {
            cpus: r.cpus.unwrap_or(1.0),
            memory: None,
            gpus: r.gpus.unwrap_or(0),
            time: None,
            retries: r.retries.unwrap_or(0),
            backoff: Duration::from_secs(1),
            max_log_size: 256 * 1024 * 1024,
            max_failures: spec.max_failures,
        };
        if !(out.cpus > 0.0 && out.cpus.is_finite()) {
            self.err(
                "resources.cpus",
                format!("invalid cpu count {}", out.cpus),
                "a positive number such as 1 or 0.5",
                "",
            );
        }
        if out.retries > 100 {
            self.err(
                "resources.retries",
                format!("{} retries is too many", out.retries),
                "at most 100",
                "",
            );
        }
        if let Some(q) = &r.memory {
            out.memory = self.bytes("resources.memory", q);
        }
        if let Some(q) = &r.max_log_size
            && let Some(b) = self.bytes("resources.max_log_size", q)
        {
            out.max_log_size = b;
        }
        if let Some(q) = &r.time {
            out.time = self.duration("resources.time", q);
            if out.time == Some(Duration::ZERO) {
                self.err(
                    "resources.time",
                    "a wall time of zero",
                    "a positive duration such as `10m`",
                    "",
                );
            }
        }
        if let Some(q) = &r.backoff
            && let Some(d) = self.duration("resources.backoff", q)
        {
            out.backoff = d;
        }
        out
    }

    fn bytes(&mut self, path: &str, q: &Quantity) -> Option<u64> {
        let parsed = match q {
            Quantity::Number(n) if *n >= 0.0 && n.is_finite() => Ok(n.round() as u64),
            Quantity::Number(n) => Err(format!("{n} is not a size")),
            Quantity::Text(t) => parse_bytes(t),
        };
        parsed
            .map_err(|m| self.err(path, m, "a size such as `2GiB` or `512MB`", ""))
            .ok()
    }

    fn duration(&mut self, path: &str, q: &Quantity) -> Option<Duration> {
        let parsed = match q {
            Quantity::Number(n) if *n >= 0.0 && n.is_finite() => Ok(Duration::from_secs_f64(*n)),
            Quantity::Number(n) => Err(format!("{n} is not a duration")),
            Quantity::Text(t) => parse_duration(t),
        };
        parsed
            .map_err(|m| {
                self.err(
                    path,
                    m,
                    "a duration such as `90s`, `10m`, `1h30m` or `01:30:00`",
                    "",
                )
            })
            .ok()
    }

    fn check_metrics(&mut self, spec: &StudySpec) {
        for (i, m) in spec.metrics.iter().enumerate() {
            if m.is_empty() || spec.metrics[..i].contains(m) {
                self.err(
                    &join_index("metrics", i),
                    format!("empty or repeated metric name `{m}`"),
                    "distinct metric names",
                    "",
                );
            }
        }
        if let Some(obj) = &spec.objective {
            match (&obj.minimize, &obj.maximize) {
                (Some(m), None) | (None, Some(m)) => {
                    if !spec.metrics.is_empty() && !spec.metrics.contains(m) {
                        let mut d = self.doc.source.error_at(
                            "objective",
                            format!("the objective names `{m}`, which is not in `metrics`"),
                        );
                        d = d.expected(format!("one of {}", spec.metrics.join(", ")));
                        if let Some(s) = did_you_mean(m, spec.metrics.iter().map(String::as_str)) {
                            d = d.hint(format!("did you mean `{s}`?"));
                        }
                        self.diags.push(d);
                    }
                }
                _ => self.err(
                    "objective",
                    "the objective needs exactly one of `minimize` or `maximize`",
                    "`{minimize: metric}` or `{maximize: metric}`",
                    "",
                ),
            }
        }
    }

    fn check_backend(&mut self, spec: &StudySpec, resources: &Resources) -> Backend {
        let (name, body) = match &spec.backend {
            None => return Backend::Local,
            Some(Value::String(s)) => (s.clone(), None),
            Some(Value::Object(m)) if m.len() == 1 => {
                let (k, v) = m
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default();
                (k, Some(v))
            }
            Some(_) => (String::from("?"), None),
        };
        match (name.as_str(), body) {
            ("local", None) => Backend::Local,
            ("local", Some(Value::Object(m))) if m.is_empty() => Backend::Local,
            ("slurm", body) => {
                let body = match body {
                    None | Some(Value::Null) => Value::Object(Default::default()),
                    Some(v) => v,
                };
                match serde_path_to_error::deserialize::<_, SlurmSpec>(body) {
                    Ok(spec) => self.check_slurm(spec, resources),
                    Err(e) => {
                        self.diags
                            .extend(serde_diagnostic(&self.doc.source, "backend.slurm", &e).0);
                        Backend::Local
                    }
                }
            }
            ("kubernetes", body) => {
                let body = match body {
                    None | Some(Value::Null) => Value::Object(Default::default()),
                    Some(v) => v,
                };
                match serde_path_to_error::deserialize::<_, crate::spec::KubernetesSpec>(body) {
                    Ok(spec) => self.check_kubernetes(spec, resources),
                    Err(e) => {
                        self.diags
                            .extend(serde_diagnostic(&self.doc.source, "backend.kubernetes", &e).0);
                        Backend::Local
                    }
                }
            }
            _ => {
                let mut d = self
                    .doc
                    .source
                    .error_at("backend", format!("unknown backend `{name}`"))
                    .expected(
                        "`local`, `{slurm: {partition: ..., ...}}` or `{kubernetes: {image: ..., ...}}`",
                    );
                if let Some(s) = did_you_mean(&name, ["local", "slurm", "kubernetes"]) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                Backend::Local
            }
        }
    }

    fn check_slurm(&mut self, spec: SlurmSpec, resources: &Resources) -> Backend {
        let time = match &spec.time {
            Some(q) => self.duration("backend.slurm.time", q),
            None => None,
        };
        let mem = match &spec.mem {
            Some(q) => self.bytes("backend.slurm.mem", q),
            None => resources.memory,
        };
        if spec.bundle == Some(0) {
            self.err(
                "backend.slurm.bundle",
                "a bundle of zero runs",
                "a count ≥ 1",
                "",
            );
        }
        if spec.array_throttle == Some(0) {
            self.err(
                "backend.slurm.array_throttle",
                "a throttle of zero tasks",
                "a count ≥ 1",
                "",
            );
        }
        if spec.max_array_size.is_some_and(|m| m < 2) {
            self.err(
                "backend.slurm.max_array_size",
                "MaxArraySize below 2",
                "the cluster's MaxArraySize (`scontrol show config`)",
                "",
            );
        }
        if spec
            .task_minutes
            .is_some_and(|m| !(m > 0.0 && m.is_finite()))
        {
            self.err(
                "backend.slurm.task_minutes",
                "a non-positive task length",
                "minutes > 0, e.g. 5",
                "",
            );
        }
        for (i, line) in spec.extra.iter().enumerate() {
            if !line.starts_with('-') || line.contains('\n') {
                self.err(
                    &join_index("backend.slurm.extra", i),
                    format!("`{line}` is not an sbatch option"),
                    "an option such as `--exclusive` or `--mail-type=END` (without `#SBATCH`)",
                    "",
                );
            }
        }
        for (key, value) in [
            ("partition", &spec.partition),
            ("account", &spec.account),
            ("qos", &spec.qos),
            ("constraint", &spec.constraint),
            ("gres", &spec.gres),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.contains(char::is_whitespace))
            {
                self.err(
                    &format!("backend.slurm.{key}"),
                    format!("invalid {key}"),
                    "a non-empty value without spaces",
                    "",
                );
            }
        }
        let pilot = self.check_pilot(
            "backend.slurm",
            spec.mode == Some(crate::spec::SlurmMode::Pilot),
            spec.pilot.as_ref(),
        );
        // A pilot job hosts `slots` runs at once: it asks for that many times
        // the per-run resources unless the user set them.
        let per = pilot.as_ref().map_or(1, |p| p.slots);
        let oom_retry = spec.oom_retry.as_ref().and_then(|o| {
            let factor = o.factor.unwrap_or(2.0);
            if !(factor > 1.0 && factor.is_finite()) {
                self.err(
                    "backend.slurm.oom_retry.factor",
                    format!("a growth factor of {factor}"),
                    "a number > 1, e.g. 2 (double the memory per out-of-memory loss)",
                    "",
                );
                return None;
            }
            if mem.is_none() {
                self.err(
                    "backend.slurm.oom_retry",
                    "more memory than what? no memory is set",
                    "`mem` here or `resources.memory`",
                    "oom_retry multiplies the memory a task asks for",
                );
                return None;
            }
            let max = match &o.max {
                Some(q) => Some(self.bytes("backend.slurm.oom_retry.max", q)?),
                None => None,
            };
            Some((factor, max))
        });
        Backend::Slurm(Box::new(SlurmBackend {
            oom_retry,
            cpus_per_task: spec
                .cpus_per_task
                .unwrap_or(resources.cpus.ceil().max(1.0) as u32 * per),
            gpus: spec.gpus.unwrap_or(resources.gpus * per),
            time,
            mem: if spec.mem.is_some() {
                mem
            } else {
                mem.map(|m| m * u64::from(per))
            },
            pilot,
            spec,
        }))
    }

    fn check_pilot(
        &mut self,
        at: &str,
        is_pilot: bool,
        pilot: Option<&crate::spec::PilotSpec>,
    ) -> Option<PilotSettings> {
        let Some(p) = pilot.filter(|_| is_pilot) else {
            if pilot.is_some() {
                self.err(
                    &format!("{at}.pilot"),
                    "pilot settings without pilot mode",
                    "`mode: pilot` beside `pilot:`",
                    "add `mode: pilot`, or remove `pilot:` to run job arrays",
                );
            }
            return is_pilot.then(|| PilotSettings {
                max: 4,
                slots: 1,
                time: Duration::from_secs(3600),
                idle_exit: Duration::from_secs(60),
                heartbeat: Duration::from_secs(5),
                listen: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                advertise: None,
            });
        };
        for (key, v) in [("max", p.max), ("slots", p.slots)] {
            if v == Some(0) {
                self.err(
                    &format!("{at}.pilot.{key}"),
                    format!("zero {key}"),
                    "a count ≥ 1",
                    "",
                );
            }
        }
        let time = match &p.time {
            Some(q) => self.duration(&format!("{at}.pilot.time"), q),
            None => Some(Duration::from_secs(3600)),
        };
        let idle_exit = match &p.idle_exit {
            Some(q) => self.duration(&format!("{at}.pilot.idle_exit"), q),
            None => Some(Duration::from_secs(60)),
        };
        let heartbeat = match &p.heartbeat {
            Some(q) => self
                .duration(&format!("{at}.pilot.heartbeat"), q)
                .filter(|d| {
                    let ok = *d >= Duration::from_millis(100);
                    if !ok {
                        self.err(
                            &format!("{at}.pilot.heartbeat"),
                            "a heartbeat under 100ms",
                            "a duration such as `5s`",
                            "pilots sync at least this often; too short floods the coordinator",
                        );
                    }
                    ok
                }),
            None => Some(Duration::from_secs(5)),
        };
        let listen = match p.listen.as_deref().unwrap_or("0.0.0.0:0").parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    &format!("{at}.pilot.listen"),
                    format!(
                        "`{}` is not an address to listen on",
                        p.listen.as_deref().unwrap_or("")
                    ),
                    "IP:PORT, e.g. `0.0.0.0:7878` (port 0 picks a free one)",
                    "",
                );
                None
            }
        };
        if let Some(a) = &p.advertise
            && !(a.starts_with("http://") || a.starts_with("https://"))
        {
            self.err(
                &format!("{at}.pilot.advertise"),
                format!("`{a}` is not a URL"),
                "a base URL such as `http://login1:7878`",
                "pilots on compute nodes connect to it",
            );
        }
        Some(PilotSettings {
            max: p.max.unwrap_or(4).max(1),
            slots: p.slots.unwrap_or(1).max(1),
            time: time?,
            idle_exit: idle_exit?,
            heartbeat: heartbeat?,
            listen: listen?,
            advertise: p.advertise.clone(),
        })
    }

    fn check_kubernetes(
        &mut self,
        spec: crate::spec::KubernetesSpec,
        resources: &Resources,
    ) -> Backend {
        let at = "backend.kubernetes";
        let image = match spec.image.as_deref() {
            Some(i) if !i.is_empty() && !i.contains(char::is_whitespace) => i.to_string(),
            Some(i) => {
                self.err(
                    &format!("{at}.image"),
                    format!("`{i}` is not a container image"),
                    "an image reference such as `ghcr.io/lab/solver:1.4`",
                    "",
                );
                String::new()
            }
            None => {
                self.err(
                    at,
                    "no container image",
                    "`image: <an image with simforge and the simulator>`",
                    "pods run `simforge exec-bundle` or `simforge worker` from this image",
                );
                String::new()
            }
        };
        let dns_label = |v: &str| {
            !v.is_empty()
                && v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !v.starts_with('-')
                && !v.ends_with('-')
        };
        if let Some(ns) = &spec.namespace
            && !dns_label(ns)
        {
            self.err(
                &format!("{at}.namespace"),
                format!("`{ns}` is not a namespace name"),
                "lower-case letters, digits and `-`, at most 63 characters",
                "",
            );
        }
        for (key, v) in [
            ("parallelism", spec.parallelism),
            ("bundle", spec.bundle),
            ("max_completions", spec.max_completions),
        ] {
            if v == Some(0) {
                self.err(
                    &format!("{at}.{key}"),
                    format!("zero {key}"),
                    "a count ≥ 1",
                    "",
                );
            }
        }
        if spec
            .task_minutes
            .is_some_and(|m| !(m > 0.0 && m.is_finite()))
        {
            self.err(
                &format!("{at}.task_minutes"),
                "a non-positive task length",
                "minutes > 0, e.g. 5",
                "",
            );
        }
        if let Some(p) = &spec.image_pull_policy
            && !["Always", "IfNotPresent", "Never"].contains(&p.as_str())
        {
            let mut d = self
                .doc
                .source
                .error_at(
                    &format!("{at}.image_pull_policy"),
                    format!("unknown pull policy `{p}`"),
                )
                .expected("`Always`, `IfNotPresent` or `Never`");
            if let Some(s) = did_you_mean(p, ["Always", "IfNotPresent", "Never"]) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.diags.push(d);
        }
        if let Some(v) = &spec.volume
            && !v.mount.starts_with('/')
        {
            self.err(
                &format!("{at}.volume.mount"),
                format!("`{}` is not an absolute path", v.mount),
                "an absolute mount path such as `/data`",
                "",
            );
        }
        for (i, t) in spec.tolerations.iter().enumerate() {
            let path = join_index(&format!("{at}.tolerations"), i);
            if let Some(op) = &t.operator
                && op != "Equal"
                && op != "Exists"
            {
                self.err(
                    &path,
                    format!("unknown operator `{op}`"),
                    "`Equal` or `Exists`",
                    "",
                );
            }
            if let Some(e) = &t.effect
                && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&e.as_str())
            {
                self.err(
                    &path,
                    format!("unknown effect `{e}`"),
                    "`NoSchedule`, `PreferNoSchedule` or `NoExecute`",
                    "",
                );
            }
        }
        let pilot = self.check_pilot(
            at,
            spec.mode == Some(crate::spec::KubernetesMode::Pilot),
            spec.pilot.as_ref(),
        );
        let per = pilot.as_ref().map_or(1, |p| p.slots);
        Backend::Kubernetes(Box::new(KubernetesBackend {
            image,
            namespace: spec.namespace.clone().unwrap_or_else(|| "default".into()),
            cpus: resources.cpus * f64::from(per),
            memory: resources.memory.map(|m| m * u64::from(per)),
            gpus: resources.gpus * per,
            pilot,
            spec,
        }))
    }

    fn check_design(
        &mut self,
        d: &DesignSpec,
        space: &ParameterSpace,
    ) -> (Option<Design>, Option<String>) {
        let seed = d.seed.unwrap_or(0);
        let replicates = d.replicates.unwrap_or(1);
        if replicates == 0 {
            self.err("design.replicates", "zero replicates", "a count ≥ 1", "");
        }
        let kind = d.sampler;
        let name = kind.as_str();
        let allowed: &[&str] = match kind {
            SamplerKind::Grid => &["levels"],
            SamplerKind::Random => &["samples"],
            SamplerKind::Lhs => &["samples", "maximin"],
            SamplerKind::Sobol | SamplerKind::Halton => &["samples", "scramble"],
            SamplerKind::Saltelli => &["samples", "scramble", "second_order"],
            SamplerKind::Morris => &["samples", "levels", "groups"],
            SamplerKind::Table => &["file"],
        };
        for (key, set) in [
            ("samples", d.samples.is_some()),
            ("levels", d.levels.is_some()),
            ("maximin", d.maximin.is_some()),
            ("scramble", d.scramble.is_some()),
            ("second_order", d.second_order.is_some()),
            ("groups", d.groups.is_some()),
            ("file", d.file.is_some()),
        ] {
            if set && !allowed.contains(&key) {
                self.err(
                    &join_key("design", key),
                    format!("`{key}` does not apply to the {name} sampler"),
                    &format!("options of {name}: {}", allowed.join(", ")),
                    "",
                );
            }
        }
        let needs_samples = matches!(
            kind,
            SamplerKind::Random
                | SamplerKind::Lhs
                | SamplerKind::Sobol
                | SamplerKind::Halton
                | SamplerKind::Saltelli
                | SamplerKind::Morris
        );
        let samples = d.samples.unwrap_or(0);
        if needs_samples && samples == 0 {
            self.err(
                "design",
                format!("the {name} sampler needs `samples`"),
                if kind == SamplerKind::Morris {
                    "`samples: r` (number of trajectories, ≥ 1)"
                } else {
                    "`samples: n` with n ≥ 1"
                },
                "",
            );
        }
        let dims = space.dims() as u64;
        if needs_samples && dims == 0 && !space.params.is_empty() {
            self.err(
                "parameters",
                format!("the {name} sampler needs at least one non-constant parameter"),
                "a parameter with `range`, `choice` or `values`",
                "",
            );
        }
        let scramble = d.scramble.unwrap_or(true);
        let mut table_text = None;
        let method = match kind {
            SamplerKind::Grid => DesignMethod::Grid,
            SamplerKind::Random => DesignMethod::Random { samples },
            SamplerKind::Lhs => {
                let candidates = match d.maximin {
                    None | Some(Maximin::Enabled(false)) => 1,
                    Some(Maximin::Enabled(true)) => 20,
                    Some(Maximin::Candidates(n)) => n.max(1),
                };
                DesignMethod::Lhs {
                    samples,
                    candidates,
                }
            }
            SamplerKind::Sobol => DesignMethod::Sobol { samples, scramble },
            SamplerKind::Halton => DesignMethod::Halton { samples, scramble },
            SamplerKind::Saltelli => DesignMethod::Saltelli {
                samples,
                second_order: d.second_order.unwrap_or(false),
                scramble,
            },
            SamplerKind::Morris => {
                let levels = d.levels.unwrap_or(4);
                if levels < 2 || !levels.is_multiple_of(2) {
                    self.err(
                        "design.levels",
                        format!("Morris needs an even number of levels, found {levels}"),
                        "an even number ≥ 2 (4 is usual)",
                        "",
                    );
                }
                let groups = d.groups.as_ref().and_then(|g| self.check_groups(g, space));
                DesignMethod::Morris {
                    trajectories: samples,
                    levels,
                    groups,
                }
            }
            SamplerKind::Table => match &d.file {
                None => {
                    self.err(
                        "design",
                        "the table sampler needs `file`",
                        "`file: points.csv` (a CSV whose header names parameters)",
                        "",
                    );
                    return (None, None);
                }
                Some(f) => match self.read_table(f, space) {
                    Some((rows, text)) => {
                        table_text = Some(text);
                        DesignMethod::Table { rows }
                    }
                    None => return (None, None),
                },
            },
        };
        let design = Design {
            method,
            seed,
            replicates,
        };
        if self.diags.is_empty() {
            match design_size(&design, space) {
                Some(n) if n <= MAX_RUNS => {}
                n => self.err(
                    "design",
                    match n {
                        Some(n) => format!("the design has {n} runs"),
                        None => "the design has more runs than can be counted".into(),
                    },
                    &format!("at most {MAX_RUNS} runs per study"),
                    "use fewer levels or samples, or split the study",
                ),
            }
        }
        (Some(design), table_text)
    }

    fn read_table(
        &mut self,
        file: &str,
        space: &ParameterSpace,
    ) -> Option<(Vec<BTreeMap<String, Value>>, String)> {
        let path = self.dir.join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.err(
                    "design.file",
                    format!("cannot read table `{}`: {e}", path.display()),
                    "a CSV file relative to the study file",
                    "",
                );
                return None;
            }
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(str::to_string).collect(),
            Err(e) => {
                self.err(
                    "design.file",
                    format!("{}: bad CSV header: {e}", path.display()),
                    "a header row of parameter names",
                    "",
                );
                return None;
            }
        };
        let table_diag = |line: u64, message: String, expected: &str| {
            let mut d = Diagnostic::new(&path, "", message).expected(expected.to_string());
            d.location = Some(crate::diagnostic::Location {
                line: line as usize,
                column: 1,
            });
            d
        };
        for col in &header {
            if space.get(col).is_none() {
                let mut d = table_diag(
                    1,
                    format!("column `{col}` is not a parameter of the study"),
                    "a header of parameter names",
                );
                if let Some(s) = did_you_mean(col, space.params.iter().map(|p| p.name.as_str())) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
            }
        }
        for p in space.sampled() {
            if !header.contains(&p.name) {
                self.diags.push(table_diag(
                    1,
                    format!("no column for parameter `{}`", p.name),
                    "one column per non-constant parameter",
                ));
            }
        }
        if !self.diags.is_empty() {
            return None;
        }
        let mut rows = Vec::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    self.diags.push(table_diag(
                        line,
                        format!("bad CSV row: {e}"),
                        "as many fields as the header",
                    ));
                    return None;
                }
            };
            let mut row = BTreeMap::new();
            for (col, cell) in header.iter().zip(rec.iter()) {
                let Some(p) = space.get(col) else { continue };
                match table_value(p, cell) {
                    Ok(v) => {
                        row.insert(col.clone(), v);
                    }
                    Err(expected) => {
                        self.diags.push(table_diag(
                            line,
                            format!("`{col}` = `{cell}` is not allowed"),
                            &expected,
                        ));
                    }
                }
            }
            for p in &space.params {
                if let Domain::Constant(v) = &p.domain {
                    row.entry(p.name.clone()).or_insert_with(|| v.clone());
                }
            }
            rows.push(row);
        }
        if rows.is_empty() {
            self.diags.push(table_diag(
                1,
                "the table has no rows".into(),
                "at least one row of values under the header",
            ));
        }
        if self.diags.is_empty() {
            Some((rows, text))
        } else {
            None
        }
    }
}

/// Parses one table cell for parameter `p`, or says what was expected.
fn table_value(p: &Parameter, cell: &str) -> Result<Value, String> {
    match &p.domain {
        Domain::Real { low, high, .. } => match cell.parse::<f64>() {
            Ok(v) if v >= *low && v <= *high => Ok(crate::space::number(v)),
            _ => Err(format!("a number in [{low}, {high}]")),
        },
        Domain::Integer { low, high, .. } => match cell.parse::<i64>() {
            Ok(v) if v >= *low && v <= *high => Ok(Value::from(v)),
            _ => Err(format!("an integer in [{low}, {high}]")),
        },
        Domain::Choice(options) => options
            .iter()
            .find(|o| match o {
                Value::String(s) => s == cell,
                Value::Number(n) => cell.parse::<f64>().ok() == n.as_f64(),
                Value::Bool(b) => cell.parse::<bool>().ok() == Some(*b),
                _ => false,
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "one of {}",
                    options
                        .iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        Domain::Constant(v) => Ok(v.clone()),
    }
}

/// `n` levels spaced evenly on a linear or log scale (midpoint when `n = 1`).
fn spaced(low: f64, high: f64, n: u32, log: bool) -> Vec<f64> {
    let (a, b) = if log {
        (low.ln(), high.ln())
    } else {
        (low, high)
    };
    let at = |t: f64| {
        let v = a + t * (b - a);
        tidy(if log { v.exp() } else { v })
    };
    match n {
        0 => vec![],
        1 => vec![at(0.5)],
        n => (0..n).map(|i| at(i as f64 / (n - 1) as f64)).collect(),
    }
}

/// Number of runs a design produces (points × replicates), `None` on overflow.
pub fn design_size(design: &Design, space: &ParameterSpace) -> Option<u64> {
    let dims = space.dims() as u64;
    let points = match &design.method {
        DesignMethod::Grid => space
            .params
            .iter()
            .try_fold(1u64, |acc, p| acc.checked_mul(p.grid_levels().len() as u64))?,
        DesignMethod::Random { samples }
        | DesignMethod::Lhs { samples, .. }
        | DesignMethod::Sobol { samples, .. }
        | DesignMethod::Halton { samples, .. } => *samples,
        DesignMethod::Saltelli {
            samples,
            second_order,
            ..
        } => samples.checked_mul(if *second_order {
            2 * dims + 2
        } else {
            dims + 2
        })?,
        DesignMethod::Morris {
            trajectories,
            groups,
            ..
        } => trajectories.checked_mul(groups.as_ref().map_or(dims, |g| g.len() as u64) + 1)?,
        DesignMethod::Table { rows } => rows.len() as u64,
    };
    points.checked_mul(design.replicates as u64)
}

/// A parameter name: identifiers joined by dots. A dotted name is a property
/// path into a builtin's model, e.g. `components.api.replicas` for `sysdesign`.
fn is_parameter_name(name: &str) -> bool {
    let identifier = |seg: &str| {
        let mut chars = seg.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    // Later segments may be list indices, e.g. `components.web.mix.0.weight`.
    let index = |seg: &str| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit());
    name.split('.')
        .enumerate()
        .all(|(i, seg)| identifier(seg) || (i > 0 && index(seg)))
}

/// JSON with object keys sorted at every level: a stable text for hashing.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).unwrap_or_default()
}

/// The first `hex_len` hex digits of the SHA-256 of `bytes`.
pub fn short_hash(bytes: &[u8], hex_len: usize) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(hex_len);
    s
}
