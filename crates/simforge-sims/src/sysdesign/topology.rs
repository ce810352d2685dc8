//! The topology of a system design: what a user writes (a YAML mapping, here
//! already a JSON value) checked and compiled into the [`Model`] the engine
//! runs. Durations are in milliseconds, rates in events per second.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::reader::{Obj, bad, count_in, did_you_mean, join, kind_of, number_in};
use crate::SimError;
use crate::des::dist::Dist;

/// Default measured simulated time (ms).
pub const DEFAULT_HORIZON_MS: f64 = 60_000.0;
/// Default number of independent replications.
pub const DEFAULT_REPLICATIONS: u64 = 5;

/// The component types a topology may use.
pub const COMPONENT_TYPES: [&str; 8] = [
    "source",
    "load_balancer",
    "service",
    "cache",
    "database",
    "topic",
    "stream_processor",
    "sink",
];

/// What a call, a hand-off or a source may address.
const CALLEES: [&str; 6] = [
    "load_balancer",
    "service",
    "database",
    "cache",
    "topic",
    "sink",
];

/// A checked, compiled topology.
#[derive(Debug, Clone)]
pub struct Model {
    /// Simulated time measured, after the warm-up (ms).
    pub horizon: f64,
    /// Simulated time discarded at the start (ms).
    pub warmup: f64,
    /// Independent replications (confidence intervals across them).
    pub replications: u64,
    /// Components, in the order written.
    pub components: Vec<Component>,
    /// Request classes of the sources' mixes (`default` when no mix is given).
    pub classes: Vec<String>,
    /// One-way network latency between components, by (from, to).
    pub latency: HashMap<(usize, usize), Dist>,
    /// Latency of every edge not listed.
    pub default_latency: Option<Dist>,
}

impl Model {
    /// Cost of running the design for one hour.
    pub fn cost_per_hour(&self) -> f64 {
        self.components.iter().map(|c| c.cost_per_hour).sum()
    }

    /// Requests the sources generate over every replication (warm-up
    /// included), on average: what a simulation of the model costs, for
    /// callers that bound it (a bursty source counts at its higher rate).
    pub fn expected_arrivals(&self) -> f64 {
        let per_ms: f64 = self
            .components
            .iter()
            .map(|c| match &c.kind {
                Kind::Source(s) => match &s.arrivals {
                    Arrivals::Poisson { rate } | Arrivals::Constant { rate } => rate / 1000.0,
                    Arrivals::Mmpp { rates, .. } => rates[0].max(rates[1]) / 1000.0,
                    Arrivals::Trace { times, period } => times.len() as f64 / period.max(1e-9),
                },
                _ => 0.0,
            })
            .sum();
        per_ms * (self.horizon + self.warmup) * self.replications as f64
    }
}

/// One component of the design.
#[derive(Debug, Clone)]
pub struct Component {
    /// Its name in the topology.
    pub name: String,
    /// What it does.
    pub kind: Kind,
    /// How callers call it: timeout and retries (a balancer without its own
    /// passes on its target's).
    pub calls: CallPolicy,
    /// Cost of one replica (partition, consumer) for one hour.
    pub unit_cost: f64,
    /// Cost of all its replicas (partitions, consumers) for one hour.
    pub cost_per_hour: f64,
}

/// What a component does.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Generates requests.
    Source(Source),
    /// Spreads calls over the replicas of its targets.
    Balancer {
        /// How it picks a backend.
        policy: Policy,
        /// Target components (services, databases, caches).
        targets: Vec<usize>,
        /// Its own processing time per request, if any.
        time: Option<Dist>,
    },
    /// Replicas with a bounded number of concurrent requests each and a FIFO
    /// queue: a service, a database (pool = concurrency) or a stream processor.
    Server(Server),
    /// Answers a hit itself, sends a miss on.
    Cache {
        /// Probability that a request is a hit.
        hit_ratio: f64,
        /// Time to answer a hit.
        hit_time: Dist,
        /// Time spent before a miss is sent on.
        miss_time: Dist,
        /// Where misses go (none: a miss only costs `miss_time`).
        miss: Option<usize>,
    },
    /// A Kafka-like log: publishing is acknowledged at once, a consumer group
    /// reads each partition in order.
    Topic(Topic),
    /// Where asynchronous paths end; records their latency.
    Sink,
}

/// A request generator.
#[derive(Debug, Clone)]
pub struct Source {
    /// When requests arrive.
    pub arrivals: Arrivals,
    /// Request classes: (class index, cumulative weight, entry component).
    pub mix: Vec<(usize, f64, usize)>,
}

/// An arrival process.
#[derive(Debug, Clone)]
pub enum Arrivals {
    /// Poisson with this rate (per second).
    Poisson {
        /// Mean arrivals per second.
        rate: f64,
    },
    /// Evenly spaced at this rate (per second).
    Constant {
        /// Arrivals per second.
        rate: f64,
    },
    /// Two-state Markov-modulated Poisson process: bursts.
    Mmpp {
        /// Rate in each state (per second).
        rates: [f64; 2],
        /// Mean time spent in each state (ms).
        durations: [f64; 2],
    },
    /// Replayed arrival times (ms, sorted), repeated with period `period`.
    Trace {
        /// Arrival times within one period.
        times: Arc<[f64]>,
        /// Length of one period (ms): the trace repeats to cover the horizon.
        period: f64,
    },
}

/// How a balancer picks among backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// In turn.
    RoundRobin,
    /// The backend with the fewest calls in flight (ties: the first).
    LeastOutstanding,
    /// Uniformly at random.
    Random,
}

/// The role a server plays; it only changes names in messages and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `service`.
    Service,
    /// `database`: concurrency is the connection pool.
    Database,
    /// `stream_processor`: one consumer of a topic's group per replica.
    Processor,
}

/// A pool of replicas with a FIFO queue each.
#[derive(Debug, Clone)]
pub struct Server {
    /// Which kind of component this is.
    pub role: Role,
    /// Replicas (for a stream processor: consumers in the group).
    pub replicas: usize,
    /// Requests one replica serves at once (threads, pool connections).
    pub concurrency: usize,
    /// Own work per request.
    pub service: Dist,
    /// Most requests waiting per replica; more are rejected (none: unbounded).
    pub queue_capacity: Option<usize>,
    /// Downstream calls after the own work, per class; the last entry is the
    /// default for classes without their own list. Each step is one target,
    /// or several called in parallel; steps run in sequence.
    pub steps: Vec<Vec<Vec<usize>>>,
    /// Where the request goes afterwards: (cumulative probability, target);
    /// the remaining probability leaves the system.
    pub next: Vec<(f64, usize)>,
    /// The topic feeding it, for a stream processor.
    pub fed_by: Option<usize>,
}

impl Server {
    /// The call steps for requests of `class`.
    pub fn steps_for(&self, class: usize) -> &[Vec<usize>] {
        let i = class.min(self.steps.len().saturating_sub(1));
        self.steps.get(i).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A partitioned log with one consumer group.
#[derive(Debug, Clone)]
pub struct Topic {
    /// Partitions (ordering is kept within each).
    pub partitions: usize,
    /// Consumers in the group (the stream processor's instances); partition
    /// `p` is read by consumer `p mod group_size`.
    pub group_size: usize,
    /// Most unconsumed messages a partition keeps; older ones are dropped.
    pub retention: Option<usize>,
    /// The stream processor of the consumer group.
    pub consumer: usize,
    /// Time until a publish is acknowledged.
    pub publish_time: Option<Dist>,
}

/// How callers call a component.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallPolicy {
    /// Give up on a call after this long (ms).
    pub timeout: Option<f64>,
    /// Extra attempts after a failure or timeout.
    pub retries: u32,
    /// Wait before the first retry (ms).
    pub backoff: f64,
    /// Factor on the wait for each later retry.
    pub multiplier: f64,
}

/// Reads and checks a topology. `base` resolves trace and sample files.
pub fn parse(value: &Value, base: &std::path::Path) -> Result<Model, SimError> {
    let mut top = Obj::new(value, "")?;
    let horizon = top
        .number("horizon", 1e-9, f64::INFINITY)?
        .unwrap_or(DEFAULT_HORIZON_MS);
    let warmup = top
        .number("warmup", 0.0, f64::INFINITY)?
        .unwrap_or(horizon / 10.0);
    let replications = top
        .count("replications", 1, 1000)?
        .unwrap_or(DEFAULT_REPLICATIONS);
    top.string("name")?;
    top.string("description")?;
    let comps = match top.need("components", "a mapping of component name to component")? {
        Value::Object(m) if !m.is_empty() => m,
        Value::Object(_) => return Err(bad("components", "the topology has no components")),
        other => {
            return Err(bad(
                "components",
                format!(
                    "expected a mapping of name to component, found {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let names: Vec<String> = comps.keys().cloned().collect();
    let mut classes: Vec<String> = Vec::new();
    // Types first, so references can be checked against them.
    let mut types = Vec::new();
    for (name, c) in comps {
        let path = join("components", name);
        let t = match c.get("type") {
            Some(Value::String(t)) if COMPONENT_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(Value::String(t)) => {
                return Err(bad(
                    &join(&path, "type"),
                    format!(
                        "unknown component type `{t}` (known: {}){}",
                        COMPONENT_TYPES.join(", "),
                        did_you_mean(t, COMPONENT_TYPES)
                    ),
                ));
            }
            _ => {
                return Err(bad(
                    &path,
                    format!(
                        "missing field `type` (expected one of {})",
                        COMPONENT_TYPES.join(", ")
                    ),
                ));
            }
        };
        types.push(t);
    }
    let ctx = Ctx {
        names: &names,
        types: &types,
        base,
    };
    let mut components = Vec::with_capacity(names.len());
    for (i, (name, c)) in comps.iter().enumerate() {
        components.push(ctx.component(i, name, c, &mut classes)?);
    }
    if classes.is_empty() {
        classes.push("default".into());
    }
    // Class-specific call lists were read against the classes known so far;
    // now that every source is read, expand them to one list per class.
    for (i, (name, c)) in comps.iter().enumerate() {
        if let Kind::Server(s) = &mut components[i].kind {
            s.steps = ctx.steps_by_class(&join("components", name), c, &classes)?;
        }
    }
    link_topics(&mut components, &names)?;
    inherit_call_policies(&mut components);
    if !components.iter().any(|c| matches!(c.kind, Kind::Source(_))) {
        return Err(bad(
            "components",
            "the topology has no `source`: nothing would ever arrive",
        ));
    }
    let (latency, default_latency) = match top.get("network") {
        None => (HashMap::new(), None),
        Some(v) => ctx.network(v)?,
    };
    top.finish()?;
    check_cycles(&components)?;
    check_exits(&components)?;
    Ok(Model {
        horizon,
        warmup,
        replications,
        components,
        classes,
        latency,
        default_latency,
    })
}

struct Ctx<'a> {
    names: &'a [String],
    types: &'a [&'a str],
    base: &'a std::path::Path,
}

impl Ctx<'_> {
    /// A reference to another component of one of `allowed` types.
    fn target(&self, v: &Value, path: &str, allowed: &[&str]) -> Result<usize, SimError> {
        let Value::String(name) = v else {
            return Err(bad(
                path,
                format!("expected a component name, found {}", kind_of(v)),
            ));
        };
        let Some(i) = self.names.iter().position(|n| n == name) else {
            return Err(bad(
                path,
                format!(
                    "no component named `{name}`{}",
                    did_you_mean(name, self.names.iter().map(String::as_str))
                ),
            ));
        };
        if !allowed.contains(&self.types[i]) {
            return Err(bad(
                path,
                format!(
                    "`{name}` is a {}, which cannot be used here (expected a {})",
                    self.types[i],
                    allowed.join(" or ")
                ),
            ));
        }
        Ok(i)
    }

    fn component(
        &self,
        index: usize,
        name: &str,
        v: &Value,
        classes: &mut Vec<String>,
    ) -> Result<Component, SimError> {
        let path = join("components", name);
        let mut o = Obj::new(v, &path)?;
        o.get("type");
        o.string("description")?;
        let cost = o
            .number("cost_per_hour", 0.0, f64::INFINITY)?
            .unwrap_or(0.0);
        let mut calls = CallPolicy {
            multiplier: 2.0,
            ..CallPolicy::default()
        };
        let callable = !matches!(self.types[index], "source" | "sink");
        if callable {
            calls.timeout = o.number("timeout", 1e-9, f64::INFINITY)?;
            if let Some(r) = o.get("retries") {
                calls = self.retries(r, &o.at("retries"), calls)?;
            }
        }
        let (kind, units) = match self.types[index] {
            "source" => (Kind::Source(self.source(&mut o, classes)?), 1.0),
            "load_balancer" => {
                let policy = match o.one_of(
                    "policy",
                    "policy",
                    &["round_robin", "least_outstanding", "random"],
                    "round_robin",
                )? {
                    "least_outstanding" => Policy::LeastOutstanding,
                    "random" => Policy::Random,
                    _ => Policy::RoundRobin,
                };
                let tpath = o.at("targets");
                let targets = self.list(
                    o.need("targets", "a list of services, databases or caches")?,
                    &tpath,
                    &["service", "database", "cache"],
                )?;
                if targets.is_empty() {
                    return Err(bad(&tpath, "a load balancer needs at least one target"));
                }
                let time = self.opt_dist(&mut o, "time")?;
                (
                    Kind::Balancer {
                        policy,
                        targets,
                        time,
                    },
                    1.0,
                )
            }
            "service" | "database" | "stream_processor" => {
                let s = self.server(&mut o, self.types[index])?;
                let units = s.replicas as f64;
                (Kind::Server(s), units)
            }
            "cache" => {
                let hit_ratio = o.need_number("hit_ratio", 0.0, 1.0, "a probability")?;
                let hit_time = self
                    .opt_dist(&mut o, "hit_time")?
                    .unwrap_or(Dist::Deterministic { value: 0.5 });
                let miss_time = self
                    .opt_dist(&mut o, "miss_time")?
                    .unwrap_or_else(|| hit_time.clone());
                let miss = match o.get("miss") {
                    None => None,
                    Some(m) => Some(self.target(
                        m,
                        &o.at("miss"),
                        &["service", "database", "load_balancer"],
                    )?),
                };
                let replicas = o.count("replicas", 1, 100_000)?.unwrap_or(1) as f64;
                (
                    Kind::Cache {
                        hit_ratio,
                        hit_time,
                        miss_time,
                        miss,
                    },
                    replicas,
                )
            }
            "topic" => {
                let partitions = o.count("partitions", 1, 100_000)?.unwrap_or(1) as usize;
                let group_size = o.count("group_size", 1, 100_000)?.unwrap_or(1) as usize;
                let retention = o.count("retention", 1, u64::MAX)?.map(|r| r as usize);
                let consumer = self.target(
                    o.need("consumer", "the stream_processor that consumes it")?,
                    &o.at("consumer"),
                    &["stream_processor"],
                )?;
                let publish_time = self.opt_dist(&mut o, "publish_time")?;
                (
                    Kind::Topic(Topic {
                        partitions,
                        group_size,
                        retention,
                        consumer,
                        publish_time,
                    }),
                    partitions as f64,
                )
            }
            "sink" => (Kind::Sink, 1.0),
            _ => unreachable!("types were checked above"),
        };
        o.finish()?;
        Ok(Component {
            name: name.to_string(),
            kind,
            calls,
            unit_cost: cost,
            cost_per_hour: cost * units,
        })
    }

    fn retries(&self, v: &Value, path: &str, mut p: CallPolicy) -> Result<CallPolicy, SimError> {
        if v.is_number() {
            p.retries = count_in(v, path, 0, 100)? as u32;
            return Ok(p);
        }
        let mut o = Obj::new(v, path)?;
        p.retries = o.count("max", 0, 100)?.unwrap_or(0) as u32;
        p.backoff = o.number("backoff", 0.0, f64::INFINITY)?.unwrap_or(0.0);
        p.multiplier = o.number("multiplier", 1.0, 100.0)?.unwrap_or(2.0);
        o.finish()?;
        Ok(p)
    }

    fn source(&self, o: &mut Obj<'_>, classes: &mut Vec<String>) -> Result<Source, SimError> {
        let apath = o.at("arrivals");
        let arrivals = self.arrivals(
            o.need(
                "arrivals",
                "an arrival process, e.g. {process: poisson, rate: 100}",
            )?,
            &apath,
        )?;
        let entry = CALLEES;
        let mut mix = Vec::new();
        match (o.get("to"), o.get("mix")) {
            (Some(to), None) => {
                let t = self.target(to, &o.at("to"), &entry)?;
                mix.push((class_index(classes, "default"), 1.0, t));
            }
            (None, Some(Value::Array(items))) if !items.is_empty() => {
                let mut total = 0.0;
                for (k, item) in items.iter().enumerate() {
                    let ipath = format!("{}[{k}]", o.at("mix"));
                    let mut io = Obj::new(item, &ipath)?;
                    let class = io.string("class")?.ok_or_else(|| {
                        bad(&ipath, "missing field `class` (expected a class name)")
                    })?;
                    let weight = io.number("weight", 0.0, f64::INFINITY)?.unwrap_or(1.0);
                    let t = self.target(
                        io.need("to", "the component the class enters")?,
                        &io.at("to"),
                        &entry,
                    )?;
                    io.finish()?;
                    total += weight;
                    mix.push((class_index(classes, class), total, t));
                }
                if total <= 0.0 {
                    return Err(bad(&o.at("mix"), "the mix's weights sum to zero"));
                }
                for m in &mut mix {
                    m.1 /= total;
                }
            }
            (None, Some(other)) => {
                return Err(bad(
                    &o.at("mix"),
                    format!(
                        "expected a non-empty list of {{class, weight, to}}, found {}",
                        kind_of(other)
                    ),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(bad(
                    o.path(),
                    "give either `to` (one entry) or `mix` (classes), not both",
                ));
            }
            (None, None) => {
                return Err(bad(
                    o.path(),
                    "missing field `to` (the component requests enter) or `mix`",
                ));
            }
        }
        Ok(Source { arrivals, mix })
    }

    fn arrivals(&self, v: &Value, path: &str) -> Result<Arrivals, SimError> {
        let mut o = Obj::new(v, path)?;
        let process = o.one_of(
            "process",
            "arrival process",
            &["poisson", "constant", "mmpp", "trace"],
            "poisson",
        )?;
        let per_second = "arrivals per second";
        let a = match process {
            "poisson" => Arrivals::Poisson {
                rate: o.need_number("rate", 1e-12, f64::INFINITY, per_second)?,
            },
            "constant" => Arrivals::Constant {
                rate: o.need_number("rate", 1e-12, f64::INFINITY, per_second)?,
            },
            "mmpp" => {
                let pair = |o: &mut Obj<'_>, key: &'static str| -> Result<[f64; 2], SimError> {
                    let p = o.at(key);
                    match o.get(key) {
                        Some(Value::Array(a)) if a.len() == 2 => Ok([
                            number_in(&a[0], &format!("{p}[0]"), 0.0, f64::INFINITY)?,
                            number_in(&a[1], &format!("{p}[1]"), 0.0, f64::INFINITY)?,
                        ]),
                        _ => Err(bad(
                            &p,
                            format!("expected two numbers, one per state (`{key}: [a, b]`)"),
                        )),
                    }
                };
                let rates = pair(&mut o, "rates")?;
                let durations = pair(&mut o, "durations")?;
                if durations.iter().any(|d| *d <= 0.0) {
                    return Err(bad(&o.at("durations"), "state durations must be positive"));
                }
                if rates.iter().all(|r| *r <= 0.0) {
                    return Err(bad(
                        &o.at("rates"),
                        "at least one state needs a positive rate",
                    ));
                }
                Arrivals::Mmpp { rates, durations }
            }
            _ => {
                let mut times = o.numbers("times", "file", self.base, "arrival times in ms")?;
                times.sort_by(f64::total_cmp);
                let last = times[times.len() - 1];
                let period = o
                    .number("period", 1e-9, f64::INFINITY)?
                    .unwrap_or(last + last / times.len() as f64);
                if period <= last {
                    return Err(bad(
                        &o.at("period"),
                        format!("the period must exceed the last arrival time ({last} ms)"),
                    ));
                }
                Arrivals::Trace {
                    times: times.into(),
                    period: period.max(1e-9),
                }
            }
        };
        o.finish()?;
        Ok(a)
    }

    fn server(&self, o: &mut Obj<'_>, ty: &str) -> Result<Server, SimError> {
        let (role, time_key, conc_key) = match ty {
            "database" => (Role::Database, "query_time", "pool"),
            "stream_processor" => (Role::Processor, "process_time", "concurrency"),
            _ => (Role::Service, "service_time", "concurrency"),
        };
        // A processor has one instance per consumer of its topic's group.
        let replicas = if role == Role::Processor {
            1
        } else {
            o.count("replicas", 1, 100_000)?.unwrap_or(1) as usize
        };
        let concurrency = if role == Role::Processor {
            1
        } else {
            o.count(conc_key, 1, 1_000_000)?.unwrap_or(1) as usize
        };
        let tpath = o.at(time_key);
        let service = self.dist(
            o.need(
                time_key,
                "a duration distribution, e.g. {dist: exponential, mean: 5}",
            )?,
            &tpath,
        )?;
        let queue_capacity = o.count("queue_capacity", 0, u64::MAX)?.map(|q| q as usize);
        // Calls are read again per class once all classes are known.
        o.get("calls");
        o.get("calls_by_class");
        let mut next = Vec::new();
        if let Some(v) = o.get("next") {
            let npath = o.at("next");
            let allowed = CALLEES;
            let mut total = 0.0;
            match v {
                Value::String(_) => {
                    next.push((1.0, self.target(v, &npath, &allowed)?));
                    total = 1.0;
                }
                Value::Array(items) => {
                    for (k, item) in items.iter().enumerate() {
                        let ipath = format!("{npath}[{k}]");
                        let mut io = Obj::new(item, &ipath)?;
                        let t =
                            self.target(io.need("to", "a component")?, &io.at("to"), &allowed)?;
                        total += io.number("p", 0.0, 1.0)?.unwrap_or(1.0);
                        io.finish()?;
                        next.push((total, t));
                    }
                }
                other => {
                    return Err(bad(
                        &npath,
                        format!(
                            "expected a component name or a list of {{to, p}}, found {}",
                            kind_of(other)
                        ),
                    ));
                }
            }
            if total > 1.0 + 1e-9 {
                return Err(bad(
                    &npath,
                    format!(
                        "the routing probabilities sum to {}, more than 1",
                        (total * 1e9).round() / 1e9
                    ),
                ));
            }
        }
        Ok(Server {
            role,
            replicas,
            concurrency,
            service,
            queue_capacity,
            steps: Vec::new(),
            next,
            fed_by: None,
        })
    }

    fn steps_by_class(
        &self,
        path: &str,
        v: &Value,
        classes: &[String],
    ) -> Result<Vec<Vec<Vec<usize>>>, SimError> {
        let default = match v.get("calls") {
            None => Vec::new(),
            Some(c) => self.steps(c, &join(path, "calls"))?,
        };
        let mut by_class: Vec<Vec<Vec<usize>>> = vec![default.clone(); classes.len()];
        if let Some(m) = v.get("calls_by_class") {
            let bpath = join(path, "calls_by_class");
            let Value::Object(m) = m else {
                return Err(bad(
                    &bpath,
                    format!("expected a mapping of class to calls, found {}", kind_of(m)),
                ));
            };
            for (class, c) in m {
                let Some(k) = classes.iter().position(|x| x == class) else {
                    return Err(bad(
                        &join(&bpath, class),
                        format!(
                            "no source sends class `{class}` (classes: {}){}",
                            classes.join(", "),
                            did_you_mean(class, classes.iter().map(String::as_str))
                        ),
                    ));
                };
                by_class[k] = self.steps(c, &join(&bpath, class))?;
            }
        }
        by_class.push(default);
        Ok(by_class)
    }

    fn steps(&self, v: &Value, path: &str) -> Result<Vec<Vec<usize>>, SimError> {
        let allowed = CALLEES;
        let Value::Array(items) = v else {
            return Err(bad(
                path,
                format!(
                    "expected a list of steps (a component name, or {{parallel: [names]}}), found {}",
                    kind_of(v)
                ),
            ));
        };
        let mut steps = Vec::new();
        for (k, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{k}]");
            match item {
                Value::String(_) => steps.push(vec![self.target(item, &ipath, &allowed)?]),
                Value::Object(_) => {
                    let mut o = Obj::new(item, &ipath)?;
                    let p = o.at("parallel");
                    let list = self.list(
                        o.need("parallel", "a list of components called at once")?,
                        &p,
                        &allowed,
                    )?;
                    if list.is_empty() {
                        return Err(bad(&p, "an empty parallel step"));
                    }
                    o.finish()?;
                    steps.push(list);
                }
                other => {
                    return Err(bad(
                        &ipath,
                        format!(
                            "expected a component name or {{parallel: [names]}}, found {}",
                            kind_of(other)
                        ),
                    ));
                }
            }
        }
        Ok(steps)
    }

    fn list(&self, v: &Value, path: &str, allowed: &[&str]) -> Result<Vec<usize>, SimError> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(k, x)| self.target(x, &format!("{path}[{k}]"), allowed))
                .collect(),
            Value::String(_) => Ok(vec![self.target(v, path, allowed)?]),
            other => Err(bad(
                path,
                format!(
                    "expected a list of component names, found {}",
                    kind_of(other)
                ),
            )),
        }
    }

    fn opt_dist(&self, o: &mut Obj<'_>, key: &'static str) -> Result<Option<Dist>, SimError> {
        let path = o.at(key);
        o.get(key).map(|v| self.dist(v, &path)).transpose()
    }

    /// A duration distribution: a number (fixed), or `{dist: exponential,
    /// mean}`, `{dist: deterministic, value}`, `{dist: lognormal, mean, cv}`,
    /// `{dist: empirical, samples: [..] | file}`.
    fn dist(&self, v: &Value, path: &str) -> Result<Dist, SimError> {
        if v.is_number() {
            return Ok(Dist::Deterministic {
                value: number_in(v, path, 0.0, f64::INFINITY)?,
            });
        }
        let mut o = Obj::new(v, path)?;
        let kind = o.one_of(
            "dist",
            "distribution",
            &["exponential", "deterministic", "lognormal", "empirical"],
            "exponential",
        )?;
        let ms = "a duration in ms";
        let d = match kind {
            "exponential" => Dist::Exponential {
                mean: o.need_number("mean", 1e-12, f64::INFINITY, ms)?,
            },
            "deterministic" => Dist::Deterministic {
                value: o.need_number("value", 0.0, f64::INFINITY, ms)?,
            },
            "lognormal" => Dist::LogNormal {
                mean: o.need_number("mean", 1e-12, f64::INFINITY, ms)?,
                cv: o.number("cv", 0.0, 100.0)?.unwrap_or(1.0),
            },
            _ => Dist::Empirical {
                samples: o
                    .numbers("samples", "file", self.base, "measured durations in ms")?
                    .into(),
            },
        };
        o.finish()?;
        Ok(d)
    }

    #[allow(clippy::type_complexity)]
    fn network(
        &self,
        v: &Value,
    ) -> Result<(HashMap<(usize, usize), Dist>, Option<Dist>), SimError> {
        let mut o = Obj::new(v, "network")?;
        let default = self.opt_dist(&mut o, "default")?;
        let mut edges = HashMap::new();
        if let Some(e) = o.get("edges") {
            let epath = o.at("edges");
            let Value::Object(m) = e else {
                return Err(bad(
                    &epath,
                    format!(
                        "expected a mapping like `\"api->db\": 0.5`, found {}",
                        kind_of(e)
                    ),
                ));
            };
            for (key, d) in m {
                let kpath = join(&epath, key);
                let Some((a, b)) = key.split_once("->") else {
                    return Err(bad(&kpath, "an edge is written `from->to`, e.g. `api->db`"));
                };
                let any: Vec<&str> = COMPONENT_TYPES.to_vec();
                let from = self.target(&Value::String(a.trim().into()), &kpath, &any)?;
                let to = self.target(&Value::String(b.trim().into()), &kpath, &any)?;
                edges.insert((from, to), self.dist(d, &kpath)?);
            }
        }
        o.finish()?;
        Ok((edges, default))
    }
}

fn class_index(classes: &mut Vec<String>, name: &str) -> usize {
    match classes.iter().position(|c| c == name) {
        Some(i) => i,
        None => {
            classes.push(name.to_string());
            classes.len() - 1
        }
    }
}

/// Callers address a service through its balancer, so a balancer without
/// its own timeout and retries calls on those of its (first) target.
fn inherit_call_policies(components: &mut [Component]) {
    for i in 0..components.len() {
        if let Kind::Balancer { targets, .. } = &components[i].kind
            && components[i].calls.timeout.is_none()
            && components[i].calls.retries == 0
        {
            components[i].calls = components[targets[0]].calls;
        }
    }
}

/// Each topic's consumer knows its topic; one topic per processor.
fn link_topics(components: &mut [Component], names: &[String]) -> Result<(), SimError> {
    let links: Vec<(usize, usize, usize)> = components
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match &c.kind {
            Kind::Topic(t) => Some((i, t.consumer, t.group_size)),
            _ => None,
        })
        .collect();
    for (topic, consumer, group_size) in links {
        if let Kind::Server(s) = &mut components[consumer].kind {
            if let Some(other) = s.fed_by {
                return Err(bad(
                    &join(&join("components", &names[topic]), "consumer"),
                    format!(
                        "`{}` already consumes topic `{}`; give each topic its own stream_processor",
                        names[consumer], names[other]
                    ),
                ));
            }
            s.fed_by = Some(topic);
            // A consumer handles one message at a time, in partition order.
            s.concurrency = 1;
            s.replicas = group_size;
            let c = &mut components[consumer];
            c.cost_per_hour = c.unit_cost * group_size as f64;
        }
    }
    for (i, c) in components.iter().enumerate() {
        if let Kind::Server(s) = &c.kind
            && s.role == Role::Processor
            && s.fed_by.is_none()
        {
            return Err(bad(
                &join("components", &names[i]),
                "no topic names this stream_processor as its `consumer`",
            ));
        }
    }
    Ok(())
}

/// Every request handed on by `next` must be able to leave: a set of
/// components that pass requests around with probability 1 would keep them
/// forever (and, with zero service times, stop the clock).
fn check_exits(components: &[Component]) -> Result<(), SimError> {
    // Where a request can go after each component by hand-off; `None` when it
    // can leave there.
    let onward = |i: usize| -> Option<Vec<usize>> {
        match &components[i].kind {
            Kind::Server(s) if !s.next.is_empty() => {
                let total = s.next.last().map_or(0.0, |n| n.0);
                (total >= 1.0 - 1e-12)
                    .then(|| s.next.iter().filter(|n| n.0 > 0.0).map(|n| n.1).collect())
            }
            Kind::Balancer { targets, .. } => Some(targets.clone()),
            _ => None,
        }
    };
    let n = components.len();
    // Fixed point: a component can leave if it can directly or via any
    // onward component that can.
    let mut leaves: Vec<bool> = (0..n).map(|i| onward(i).is_none()).collect();
    loop {
        let mut changed = false;
        for i in 0..n {
            if !leaves[i] && onward(i).is_some_and(|o| o.iter().any(|&j| leaves[j])) {
                leaves[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    match (0..n).find(|&i| !leaves[i]) {
        None => Ok(()),
        Some(i) => Err(bad(
            &join(&join("components", &components[i].name), "next"),
            format!(
                "requests handed on from `{}` can never leave the system: every `next` route from it leads back with probability 1; give some route p < 1 or end a path at a sink",
                components[i].name
            ),
        )),
    }
}

/// Synchronous calls must not loop back: a cycle would hold a slot at every
/// hop while waiting on itself. (`next` routing may loop: that is a feedback
/// path of an open network.)
fn check_cycles(components: &[Component]) -> Result<(), SimError> {
    let edges = |i: usize| -> Vec<usize> {
        match &components[i].kind {
            Kind::Server(s) => s.steps.iter().flatten().flatten().copied().collect(),
            Kind::Balancer { targets, .. } => targets.clone(),
            Kind::Cache { miss, .. } => miss.iter().copied().collect(),
            _ => Vec::new(),
        }
    };
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; components.len()];
    fn visit(
        i: usize,
        state: &mut [u8],
        edges: &dyn Fn(usize) -> Vec<usize>,
        trail: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        trail.push(i);
        for j in edges(i) {
            if state[j] == 1 {
                let start = trail.iter().position(|&t| t == j).unwrap_or(0);
                let mut cycle = trail[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, state, edges, trail)
            {
                return Some(c);
            }
        }
        trail.pop();
        state[i] = 2;
        None
    }
    for i in 0..components.len() {
        if state[i] == 0
            && let Some(cycle) = visit(i, &mut state, &edges, &mut Vec::new())
        {
            let names: Vec<&str> = cycle.iter().map(|&k| components[k].name.as_str()).collect();
            return Err(bad(
                &join("components", names[0]),
                format!(
                    "synchronous calls form a cycle: {}; use `next` (hand-off) or a topic to loop",
                    names.join(" -> ")
                ),
            ));
        }
    }
    Ok(())
}
