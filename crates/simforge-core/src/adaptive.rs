//! The checked settings of the adaptive loop (`simforge optimize`): what to
//! optimise or learn, constraints on other metrics, the run budget and the
//! stopping rules. Parsed from the study's `objective` and `optimize` fields.

use std::time::Duration;

/// What each iteration's new points are for.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    /// Find the optimum of the objective.
    Optimize(AcquisitionKind),
    /// Build an accurate surrogate of the metric with few runs.
    Learn(LearnCriterion),
}

/// Acquisition function of optimisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AcquisitionKind {
    /// Log expected improvement (the default).
    LogEi,
    /// Confidence bound `μ ∓ κσ`.
    Ucb {
        /// Exploration weight.
        kappa: f64,
    },
}

/// How active learning picks points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LearnCriterion {
    /// Where the surrogate is most uncertain.
    Variance,
    /// Where a run would most reduce the uncertainty integrated over the space.
    IntegratedVariance,
}

/// A constraint `metric <= limit` (or `<`, `>=`, `>`) on a run's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// The constrained metric.
    pub metric: String,
    /// `true` for `<=`/`<`, `false` for `>=`/`>`.
    pub upper: bool,
    /// The limit.
    pub limit: f64,
}

impl Constraint {
    /// Whether `value` satisfies the constraint (strict and non-strict alike:
    /// a continuous metric does not tell them apart).
    pub fn holds(&self, value: f64) -> bool {
        if self.upper {
            value <= self.limit
        } else {
            value >= self.limit
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.upper { "<=" } else { ">=" };
        write!(f, "{} {op} {}", self.metric, self.limit)
    }
}

/// Parses `METRIC OP NUMBER` with OP one of `<=`, `<`, `>=`, `>`.
pub fn parse_constraint(text: &str) -> Result<Constraint, String> {
    let ops = ["<=", ">=", "<", ">"];
    let Some((pos, op)) = ops
        .iter()
        .filter_map(|op| text.find(op).map(|p| (p, *op)))
        .min_by_key(|(p, op)| (*p, std::cmp::Reverse(op.len())))
    else {
        return Err(format!("`{text}` has no comparison"));
    };
    let metric = text[..pos].trim();
    let number = text[pos + op.len()..].trim();
    if metric.is_empty() {
        return Err(format!("`{text}` names no metric"));
    }
    let limit: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("`{number}` in `{text}` is not a number"))?;
    Ok(Constraint {
        metric: metric.to_string(),
        upper: op.starts_with('<'),
        limit,
    })
}

/// The checked adaptive-loop settings of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptive {
    /// Optimise or learn, and how.
    pub goal: Goal,
    /// The metric optimised or learned.
    pub metric: String,
    /// Whether the objective is maximised.
    pub maximize: bool,
    /// Constraints on other metrics.
    pub constraints: Vec<Constraint>,
    /// Runs in all, the initial design included.
    pub budget: u64,
    /// Points per iteration; `None`: the executor's slots.
    pub batch: Option<u32>,
    /// Stop after this much wall time.
    pub max_time: Option<Duration>,
    /// Stop after this many iterations without improvement.
    pub patience: Option<u32>,
}

/// Default run budget.
pub const DEFAULT_BUDGET: u64 = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_with_each_operator() {
        let c = parse_constraint("p99_latency <= 200").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.upper, c.limit),
            ("p99_latency", true, 200.0)
        );
        let c = parse_constraint("throughput>1e3").unwrap();
        assert_eq!(
            (c.metric.as_str(), c.upper, c.limit),
            ("throughput", false, 1000.0)
        );
        assert!(c.holds(1000.0) && !c.holds(999.0));
        assert!(parse_constraint("cost < 5").unwrap().upper);
        assert!(
            parse_constraint("x == 3")
                .unwrap_err()
                .contains("no comparison")
        );
        assert!(parse_constraint("<= 3").unwrap_err().contains("no metric"));
        assert!(
            parse_constraint("x <= many")
                .unwrap_err()
                .contains("not a number")
        );
    }
}
