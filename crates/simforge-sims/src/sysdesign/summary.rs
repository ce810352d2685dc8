//! From replications to results: per-replication measures (percentiles,
//! utilisation, queue lengths, shares of waiting), their means across
//! replications with 95% confidence half-widths, and the bottleneck named
//! with its reason.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::engine::RepStats;
use super::topology::{Kind, Model, Role};

/// Student t quantiles t(0.975, df) for df = 1..=30; beyond, 1.96.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

fn t_975(df: usize) -> f64 {
    T_975.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// A mean across replications and the half-width of its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Mean over replications.
    pub mean: f64,
    /// Half-width of the 95% interval (0 for one replication).
    pub half_width: f64,
}

impl Estimate {
    /// From one value per replication.
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        if n < 2 {
            return Estimate {
                mean,
                half_width: 0.0,
            };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Estimate {
            mean,
            half_width: t_975(n - 1) * (var / n as f64).sqrt(),
        }
    }

    /// Whether `v` lies inside the interval.
    pub fn covers(&self, v: f64) -> bool {
        (v - self.mean).abs() <= self.half_width
    }
}

/// Latency measures of a set of samples, added under `prefix`. Quantiles
/// are found by selection, each in the part above the last (linear time: a
/// full sort of millions of latencies would cost more than simulating them).
fn latency_measures(out: &mut BTreeMap<String, f64>, prefix: &str, samples: &mut [f64]) {
    if samples.is_empty() {
        return;
    }
    let n = samples.len();
    let mean = samples.iter().sum::<f64>() / n as f64;
    out.insert(format!("{prefix}latency_mean"), mean);
    let mut lo = 0;
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (_, v, _) = samples[lo..].select_nth_unstable_by(rank - lo, f64::total_cmp);
        out.insert(format!("{prefix}latency_{name}"), *v);
        lo = rank;
    }
}

/// The measures of one replication, by metric name.
pub fn replication_measures(model: &Model, rep: &mut RepStats) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let horizon = model.horizon;
    let seconds = horizon / 1000.0;
    let offered = rep.offered.max(1) as f64;
    out.insert("offered_rate".into(), rep.offered as f64 / seconds);
    out.insert("throughput".into(), rep.ok as f64 / seconds);
    out.insert("success_ratio".into(), rep.ok as f64 / offered);
    out.insert("drop_ratio".into(), rep.rejected as f64 / offered);
    out.insert("timeout_ratio".into(), rep.timed_out as f64 / offered);
    out.insert("error_ratio".into(), rep.errors as f64 / offered);
    out.insert("unfinished_ratio".into(), rep.unfinished as f64 / offered);
    out.insert("retries_per_request".into(), rep.retries as f64 / offered);
    out.insert("saturated".into(), f64::from(u8::from(rep.saturated)));
    let total_latency: f64 = rep.latencies.iter().flatten().sum();
    let mut all: Vec<f64> = rep.latencies.iter().flatten().copied().collect();
    latency_measures(&mut out, "", &mut all);
    if model.classes.len() > 1 {
        for (k, class) in model.classes.iter().enumerate() {
            let prefix = format!("class.{class}.");
            out.insert(
                format!("{prefix}throughput"),
                rep.latencies[k].len() as f64 / seconds,
            );
            latency_measures(&mut out, &prefix, &mut rep.latencies[k]);
        }
    }
    for (i, c) in model.components.iter().enumerate() {
        let cs = &mut rep.comps[i];
        let p = format!("{}.", c.name);
        match &c.kind {
            Kind::Server(_) => {
                let slots = cs.capacity.max(1.0) * horizon;
                out.insert(format!("{p}utilisation"), cs.work_area / slots);
                out.insert(format!("{p}occupancy"), cs.busy_area / slots);
                out.insert(format!("{p}queue_length"), cs.queue_area / horizon);
                out.insert(format!("{p}throughput"), cs.served as f64 / seconds);
                out.insert(
                    format!("{p}mean_wait"),
                    cs.wait_sum / cs.served.max(1) as f64,
                );
                out.insert(
                    format!("{p}wait_share"),
                    if total_latency > 0.0 {
                        cs.wait_sum / total_latency
                    } else {
                        0.0
                    },
                );
                out.insert(format!("{p}rejected"), cs.dropped as f64 / seconds);
            }
            Kind::Topic(_) => {
                out.insert(format!("{p}lag"), cs.queue_area / horizon);
                out.insert(format!("{p}throughput"), cs.served as f64 / seconds);
                out.insert(
                    format!("{p}mean_wait"),
                    cs.wait_sum / cs.served.max(1) as f64,
                );
                out.insert(format!("{p}dropped"), cs.dropped as f64 / seconds);
                latency_measures(&mut out, &p, &mut rep.async_latencies[i]);
            }
            Kind::Sink => {
                out.insert(
                    format!("{p}throughput"),
                    cs.latencies.len() as f64 / seconds,
                );
                latency_measures(&mut out, &p, &mut cs.latencies);
            }
            _ => {}
        }
    }
    out
}

/// The results of all replications.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Each measure's estimate, by metric name.
    pub estimates: BTreeMap<String, Estimate>,
    /// Name of the bottleneck component.
    pub bottleneck: String,
    /// Why it is the bottleneck, in a sentence.
    pub reason: String,
    /// Events over all replications.
    pub events: u64,
    /// Replications that stopped saturated.
    pub saturated: usize,
    /// Per-replication measures, for the detailed report.
    pub replications: Vec<BTreeMap<String, f64>>,
    /// Calls and messages per second along each edge of the design
    /// (`super::export::edges`), by (from, to) component index. Kept apart
    /// from `estimates` so that runs' metrics do not grow a column per edge.
    pub edges: Vec<(usize, usize, Estimate)>,
}

/// Combines the replications of `model`.
pub fn summarise(model: &Model, mut reps: Vec<RepStats>) -> Summary {
    let events = reps.iter().map(|r| r.events).sum();
    let saturated = reps.iter().filter(|r| r.saturated).count();
    let n = model.components.len();
    let seconds = model.horizon / 1000.0;
    let edges = super::export::edges(model)
        .into_iter()
        .map(|(a, b)| {
            let rates: Vec<f64> = reps
                .iter()
                .map(|r| r.edges.get(a * n + b).copied().unwrap_or(0) as f64 / seconds)
                .collect();
            (a, b, Estimate::of(&rates))
        })
        .collect();
    let per: Vec<BTreeMap<String, f64>> = reps
        .iter_mut()
        .map(|r| replication_measures(model, r))
        .collect();
    let mut keys: Vec<&String> = per.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let estimates: BTreeMap<String, Estimate> = keys
        .into_iter()
        .map(|k| {
            let values: Vec<f64> = per.iter().filter_map(|m| m.get(k).copied()).collect();
            (k.clone(), Estimate::of(&values))
        })
        .collect();
    let (bottleneck, reason) = bottleneck(model, &estimates, saturated > 0);
    Summary {
        estimates,
        bottleneck,
        reason,
        events,
        saturated,
        replications: per,
        edges,
    }
}

/// The component that limits the design: the busiest server, with what
/// makes it so.
fn bottleneck(
    model: &Model,
    est: &BTreeMap<String, Estimate>,
    saturated: bool,
) -> (String, String) {
    let get = |k: String| est.get(&k).map_or(0.0, |e| e.mean);
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in model.components.iter().enumerate() {
        if let Kind::Server(_) = c.kind {
            let u = get(format!("{}.utilisation", c.name));
            if best.is_none_or(|(_, b)| u > b) {
                best = Some((i, u));
            }
        }
    }
    let Some((i, u)) = best else {
        return (
            "none".into(),
            "the design has no service, database or stream processor".into(),
        );
    };
    let c = &model.components[i];
    let Kind::Server(s) = &c.kind else {
        return ("none".into(), String::new());
    };
    let (role, slot) = match s.role {
        Role::Service => ("service", "concurrent requests"),
        Role::Database => ("database", "pooled connections"),
        Role::Processor => ("stream processor", "consumer"),
    };
    let name = &c.name;
    let mut reason = match s.role {
        Role::Processor => format!(
            "`{name}` ({role}) is the busiest component: its {} consumers are busy {:.0}% of the time",
            s.replicas,
            100.0 * u
        ),
        _ => format!(
            "`{name}` ({role}) is the busiest component: utilisation {u:.2} of {} slots ({} replicas × {} {slot})",
            s.replicas * s.concurrency,
            s.replicas,
            s.concurrency
        ),
    };
    let wait = get(format!("{name}.mean_wait"));
    let share = get(format!("{name}.wait_share"));
    if let Some(topic) = s.fed_by {
        let t = &model.components[topic].name;
        reason.push_str(&format!(
            "; messages wait {:.1} ms in topic `{t}` (lag {:.1} messages)",
            get(format!("{t}.mean_wait")),
            get(format!("{t}.lag"))
        ));
    } else if wait > 0.0 {
        reason.push_str(&format!(
            "; calls wait {wait:.1} ms for a slot on average, {:.0}% of end-to-end latency",
            100.0 * share
        ));
    }
    // Slots held while waiting on downstream calls starve a caller too.
    let starved: Vec<&str> = model
        .components
        .iter()
        .filter(|c| c.name != *name && get(format!("{}.occupancy", c.name)) > 0.95)
        .map(|c| c.name.as_str())
        .collect();
    if !starved.is_empty() {
        let verb = if starved.len() == 1 {
            "holds all its"
        } else {
            "hold all their"
        };
        reason.push_str(&format!(
            "; `{}` {verb} slots waiting on downstream calls",
            starved.join("`, `")
        ));
    }
    if saturated || u > 0.98 {
        reason.push_str(
            "; it is saturated: its queue grows without bound at this load (add replicas or concurrency, or shed load)",
        );
    } else if u < 0.5 {
        reason = format!(
            "no component is heavily loaded (the busiest, `{name}`, is at {u:.2}); latency is mostly service time and network"
        );
    }
    (name.clone(), reason)
}

impl Summary {
    /// Metrics for the store: each estimate, its `_ci` half-width when there
    /// are several replications, and the bottleneck.
    pub fn metrics(&self, model: &Model) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let several = model.replications > 1;
        for (k, e) in &self.estimates {
            out.insert(k.clone(), finite(e.mean));
            if several && k != "saturated" {
                out.insert(format!("{k}_ci"), finite(e.half_width));
            }
        }
        out.insert("cost_per_hour".into(), json!(model.cost_per_hour()));
        out.insert("bottleneck".into(), json!(self.bottleneck));
        out.insert("bottleneck_reason".into(), json!(self.reason));
        out.insert("events".into(), json!(self.events));
        out
    }
}

/// A number for the store; null where there is none (JSON has no NaN).
fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference the selection must agree with: the `q`-quantile of
    /// sorted values (nearest rank).
    fn quantile(sorted: &[f64], q: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn selected_quantiles_equal_sorted_ones() {
        let mut rng = 12345u64;
        let mut v: Vec<f64> = (0..10_001)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (rng >> 11) as f64
            })
            .collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        let mut out = BTreeMap::new();
        latency_measures(&mut out, "", &mut v);
        for (k, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
            assert_eq!(out[&format!("latency_{k}")], quantile(&sorted, q), "{k}");
        }
    }

    #[test]
    fn interval_uses_student_t() {
        // Values 1..5: mean 3, s = 1.5811, t(0.975, 4) = 2.776.
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        assert!((e.half_width - 2.776 * 1.5811 / 5f64.sqrt()).abs() < 1e-3);
        assert_eq!(Estimate::of(&[2.0]).half_width, 0.0);
    }
}
