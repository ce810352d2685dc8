//! `sysdesign`: throughput, latency percentiles, utilisation, the bottleneck
//! and the cost of a distributed-system architecture before it is built.
//!
//! A topology (components and how they call each other; see
//! [`topology`]) is simulated as discrete events ([`engine`]) over
//! independent replications run in parallel, and summarised with 95%
//! confidence intervals ([`summary`]). Any numeric property of the topology
//! is a parameter named by its path, e.g. `components.api.replicas`, so
//! studies sweep and optimise designs like any other simulator.

pub mod engine;
pub mod export;
mod reader;
pub mod summary;
pub mod topology;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{ParamDecl, ParamKind, Params, RunInput, RunOutput, SimError, Simulator};
use reader::{Obj, did_you_mean};
use summary::Summary;
use topology::Model;

/// Options whose value may be a file name: the caller loads the YAML file
/// (keeping its positions for error messages) and passes its content.
pub const FILE_OPTIONS: &[&str] = &["topology"];

/// The `sysdesign` builtin.
#[derive(Debug, Clone)]
pub struct SysDesign {
    topology: Value,
    base: PathBuf,
    model: Model,
    /// Replications run at once, when the options fix it; otherwise the
    /// run's own share of cores (`RunInput::threads`).
    threads: Option<usize>,
    fingerprint: u64,
}

impl SysDesign {
    /// Builds it from the study's `simulator.options`: `topology` (the design,
    /// already loaded) and optionally `threads` (replications run at once;
    /// default: the cores the run was given).
    /// `base` is the directory that trace and sample file names are relative to.
    pub fn from_options(options: &Map<String, Value>, base: &Path) -> Result<Self, SimError> {
        let opts = Value::Object(options.clone());
        let mut o = Obj::new(&opts, "")?;
        let topology = o
            .need(
                "topology",
                "the system's topology: a mapping, or a YAML file name",
            )?
            .clone();
        let threads = o.count("threads", 1, 1024)?.map(|t| t as usize);
        o.finish()?;
        let model = topology::parse(&topology, base).map_err(in_topology)?;
        let fingerprint = fnv1a(&canonical(&topology));
        Ok(SysDesign {
            topology,
            base: base.to_path_buf(),
            model,
            threads,
            fingerprint,
        })
    }

    /// The topology as written, before any parameter is applied.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model with `params` (property paths) applied.
    pub fn model_with(&self, params: &Params) -> Result<Model, SimError> {
        if params.is_empty() {
            return Ok(self.model.clone());
        }
        let mut t = self.topology.clone();
        for (name, value) in params {
            set_path(&mut t, name, value.clone())?;
        }
        topology::parse(&t, &self.base).map_err(|e| match e {
            SimError::BadOption { option, message } => {
                match params
                    .keys()
                    .find(|p| option == **p || option.starts_with(&format!("{p}.")))
                {
                    Some(p) => SimError::BadParam {
                        param: p.clone(),
                        message,
                    },
                    None => SimError::BadOption {
                        option: format!("topology.{option}"),
                        message,
                    },
                }
            }
            other => other,
        })
    }

    /// Simulates `model`'s replications, spread over `threads` threads (the
    /// `threads` option wins when given); replication `r` uses a seed derived
    /// from `seed` and `r`, so results do not depend on the number of threads.
    pub fn simulate(&self, model: &Model, seed: u64, threads: usize) -> Summary {
        let reps = model.replications as usize;
        let threads = self.threads.unwrap_or(threads).clamp(1, reps.max(1));
        let mut results: Vec<Option<engine::RepStats>> = vec![None; reps];
        std::thread::scope(|s| {
            for (t, chunk) in results.chunks_mut(reps.div_ceil(threads)).enumerate() {
                let first = t * reps.div_ceil(threads);
                s.spawn(move || {
                    for (k, slot) in chunk.iter_mut().enumerate() {
                        let r = (first + k) as u64;
                        *slot = Some(engine::replicate(model, mix_seed(seed, r)));
                    }
                });
            }
        });
        summary::summarise(model, results.into_iter().flatten().collect())
    }
}

/// Errors in the topology name it.
fn in_topology(e: SimError) -> SimError {
    match e {
        SimError::BadOption { option, message } => SimError::BadOption {
            option: if option.is_empty() {
                "topology".into()
            } else {
                format!("topology.{option}")
            },
            message,
        },
        other => other,
    }
}

/// Sets `value` at the dotted `path` of `root`, creating mappings on the way;
/// a numeric segment indexes a list.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), SimError> {
    let segs: Vec<&str> = path.split('.').collect();
    let bad = |message: String| SimError::BadParam {
        param: path.to_string(),
        message,
    };
    if segs.first() == Some(&"components")
        && let Some(name) = segs.get(1)
        && root.get("components").and_then(|c| c.get(name)).is_none()
    {
        let known: Vec<&str> = root
            .get("components")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(bad(format!(
            "the topology has no component `{name}` (components: {}){}",
            known.join(", "),
            did_you_mean(name, known.iter().copied())
        )));
    }
    let mut cur = root;
    for (k, seg) in segs.iter().enumerate() {
        let last = k + 1 == segs.len();
        cur = match cur {
            Value::Object(m) => {
                if last {
                    m.insert(seg.to_string(), value);
                    return Ok(());
                }
                m.entry(seg.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Value::Array(a) => {
                let i: usize = seg
                    .parse()
                    .map_err(|_| bad(format!("`{seg}` should index a list (0, 1, …)")))?;
                let len = a.len();
                let slot = a
                    .get_mut(i)
                    .ok_or_else(|| bad(format!("index {i} is past the list's {len} entries")))?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(bad(format!(
                    "`{}` is not a mapping, so `{seg}` cannot be set inside it",
                    segs[..k].join(".")
                )));
            }
        };
    }
    Ok(())
}

fn mix_seed(seed: u64, r: u64) -> u64 {
    // SplitMix64 of the pair: independent streams per replication.
    let mut z = seed ^ r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// JSON with sorted keys, so equal topologies have equal identities.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Settable numeric properties per component type: (field, integer, low, high, unit, meaning).
type Field = (&'static str, bool, f64, f64, &'static str, &'static str);

const CALL_FIELDS: [Field; 4] = [
    (
        "timeout",
        false,
        0.0,
        f64::INFINITY,
        "ms",
        "callers give up after this long",
    ),
    (
        "retries.max",
        true,
        0.0,
        100.0,
        "",
        "extra attempts after a failure or timeout",
    ),
    (
        "retries.backoff",
        false,
        0.0,
        f64::INFINITY,
        "ms",
        "wait before the first retry",
    ),
    (
        "retries.multiplier",
        false,
        1.0,
        100.0,
        "",
        "backoff growth per retry",
    ),
];

fn fields(ty: &str) -> Vec<Field> {
    let cost = (
        "cost_per_hour",
        false,
        0.0,
        f64::INFINITY,
        "$/h",
        "cost of one replica per hour",
    );
    let mut f: Vec<Field> = match ty {
        "service" => vec![
            ("replicas", true, 1.0, 1e5, "", "replicas"),
            (
                "concurrency",
                true,
                1.0,
                1e6,
                "",
                "requests one replica serves at once",
            ),
            (
                "queue_capacity",
                true,
                0.0,
                f64::INFINITY,
                "",
                "most waiting requests per replica",
            ),
        ],
        "database" => vec![
            ("replicas", true, 1.0, 1e5, "", "replicas"),
            ("pool", true, 1.0, 1e6, "", "connections per replica"),
            (
                "queue_capacity",
                true,
                0.0,
                f64::INFINITY,
                "",
                "most waiting queries per replica",
            ),
        ],
        "cache" => vec![
            ("hit_ratio", false, 0.0, 1.0, "", "probability of a hit"),
            ("replicas", true, 1.0, 1e5, "", "replicas (for cost)"),
        ],
        "topic" => vec![
            ("partitions", true, 1.0, 1e5, "", "partitions"),
            ("group_size", true, 1.0, 1e5, "", "consumers in the group"),
            (
                "retention",
                true,
                1.0,
                f64::INFINITY,
                "messages",
                "unconsumed messages kept per partition",
            ),
        ],
        "source" => vec![(
            "arrivals.rate",
            false,
            0.0,
            f64::INFINITY,
            "1/s",
            "arrival rate",
        )],
        _ => vec![],
    };
    if !matches!(ty, "source" | "sink") {
        f.push(cost);
        f.extend(CALL_FIELDS);
    }
    f
}

/// The duration fields per component type.
fn dist_fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "service" => &["service_time"],
        "database" => &["query_time"],
        "stream_processor" => &["process_time"],
        "cache" => &["hit_time", "miss_time"],
        "load_balancer" => &["time"],
        "topic" => &["publish_time"],
        _ => &[],
    }
}

fn decl(name: String, integer: bool, low: f64, high: f64, unit: &str, what: &str) -> ParamDecl {
    ParamDecl {
        name,
        description: what.to_string(),
        unit: (!unit.is_empty()).then(|| unit.to_string()),
        bounds: (low.is_finite() && high.is_finite()).then_some((low, high)),
        kind: if integer {
            ParamKind::Integer
        } else {
            ParamKind::Real
        },
        required: false,
    }
}

impl Simulator for SysDesign {
    fn identity(&self) -> String {
        format!("sysdesign/{:016x}", self.fingerprint)
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn parameters(&self) -> Vec<ParamDecl> {
        let mut out = vec![
            decl(
                "horizon".into(),
                false,
                0.0,
                f64::INFINITY,
                "ms",
                "simulated time measured",
            ),
            decl(
                "warmup".into(),
                false,
                0.0,
                f64::INFINITY,
                "ms",
                "simulated time discarded first",
            ),
            decl(
                "replications".into(),
                true,
                1.0,
                1000.0,
                "",
                "independent replications",
            ),
        ];
        let comps = self.topology.get("components").and_then(Value::as_object);
        for (name, c) in comps.into_iter().flatten() {
            let ty = c.get("type").and_then(Value::as_str).unwrap_or("");
            let p = format!("components.{name}");
            for (f, int, lo, hi, unit, what) in fields(ty) {
                out.push(decl(format!("{p}.{f}"), int, lo, hi, unit, what));
            }
            if ty == "source"
                && c.pointer("/arrivals/process").and_then(Value::as_str) == Some("mmpp")
            {
                for k in 0..2 {
                    out.push(decl(
                        format!("{p}.arrivals.rates.{k}"),
                        false,
                        0.0,
                        f64::INFINITY,
                        "1/s",
                        "arrival rate in one state",
                    ));
                    out.push(decl(
                        format!("{p}.arrivals.durations.{k}"),
                        false,
                        0.0,
                        f64::INFINITY,
                        "ms",
                        "mean time in one state",
                    ));
                }
            }
            if let Some(Value::Array(mix)) = c.get("mix") {
                for k in 0..mix.len() {
                    out.push(decl(
                        format!("{p}.mix.{k}.weight"),
                        false,
                        0.0,
                        f64::INFINITY,
                        "",
                        "share of this class",
                    ));
                }
            }
            for d in dist_fields(ty) {
                let what = format!("{d} of `{name}`");
                match c.get(*d) {
                    // A fixed duration is written (and set) as a plain number.
                    Some(Value::Number(_)) | None => {
                        out.push(decl(
                            format!("{p}.{d}"),
                            false,
                            0.0,
                            f64::INFINITY,
                            "ms",
                            &what,
                        ));
                    }
                    Some(v) => match v
                        .get("dist")
                        .and_then(Value::as_str)
                        .unwrap_or("exponential")
                    {
                        "deterministic" => out.push(decl(
                            format!("{p}.{d}.value"),
                            false,
                            0.0,
                            f64::INFINITY,
                            "ms",
                            &what,
                        )),
                        "lognormal" => {
                            out.push(decl(
                                format!("{p}.{d}.mean"),
                                false,
                                0.0,
                                f64::INFINITY,
                                "ms",
                                &what,
                            ));
                            out.push(decl(
                                format!("{p}.{d}.cv"),
                                false,
                                0.0,
                                100.0,
                                "",
                                "coefficient of variation",
                            ));
                        }
                        "exponential" => out.push(decl(
                            format!("{p}.{d}.mean"),
                            false,
                            0.0,
                            f64::INFINITY,
                            "ms",
                            &what,
                        )),
                        _ => {}
                    },
                }
            }
        }
        out
    }

    fn metrics(&self) -> Vec<String> {
        let mut m: Vec<String> = [
            "throughput",
            "offered_rate",
            "latency_mean",
            "latency_p50",
            "latency_p90",
            "latency_p99",
            "latency_p999",
            "success_ratio",
            "drop_ratio",
            "timeout_ratio",
            "error_ratio",
            "retries_per_request",
            "cost_per_hour",
            "bottleneck",
            "bottleneck_reason",
            "saturated",
        ]
        .map(String::from)
        .to_vec();
        for c in &self.model.components {
            let names: &[&str] = match c.kind {
                topology::Kind::Server(_) => &[
                    "utilisation",
                    "occupancy",
                    "queue_length",
                    "mean_wait",
                    "wait_share",
                ],
                topology::Kind::Topic(_) => &["lag", "mean_wait", "dropped"],
                _ => &[],
            };
            m.extend(names.iter().map(|n| format!("{}.{n}", c.name)));
        }
        m
    }

    fn run(&self, input: &RunInput<'_>) -> Result<RunOutput, SimError> {
        let model = self.model_with(input.params)?;
        let summary = self.simulate(&model, input.seed, input.threads);
        let mut metrics = summary.metrics(&model);
        // A design under which no request succeeds is a result, not a
        // failure: its latencies are absent (null), which constraints on
        // them treat as unmet, and success_ratio says 0.
        for m in self.metrics() {
            metrics.entry(m).or_insert(Value::Null);
        }
        let detail = serde_json::json!({
            "metrics": metrics,
            "replications": summary.replications,
            "events": summary.events,
            "saturated_replications": summary.saturated,
        });
        let file = "sysdesign.json";
        let text = serde_json::to_string_pretty(&detail)
            .map_err(|e| SimError::Failed(format!("cannot encode {file}: {e}")))?;
        std::fs::write(input.workdir.join(file), text).map_err(|e| {
            SimError::Failed(format!(
                "cannot write {}: {e}",
                input.workdir.join(file).display()
            ))
        })?;
        Ok(RunOutput {
            metrics: metrics.into_iter().collect(),
            artifacts: vec![file.to_string()],
        })
    }
}

#[cfg(test)]
mod tests;
