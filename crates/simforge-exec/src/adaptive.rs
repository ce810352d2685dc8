//! The adaptive loop of `simforge optimize`: run the initial design, then
//! repeatedly fit surrogates to everything observed, propose a batch of new
//! points (Bayesian optimisation or active learning, from
//! `simforge_analysis::optimize`), add them to the study's plan and execute
//! them with whatever backend the study names.
//!
//! The store is the loop's memory: proposals are ordinary runs (content-
//! addressed, with design indices after the initial design), so stopping the
//! loop at any point and running the command again continues from what the
//! store holds without repeating a run, and every other command (status,
//! results, report) sees the proposals like design points.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use simforge_analysis::optimize::{
    self as opt, Acquisition, Bound, Criterion, Dim, Observation, Problem, StepOptions, Strategy,
};
use simforge_analysis::surrogate::gp::{CvScore, cv_errors};
use simforge_core::adaptive::{AcquisitionKind, Adaptive, Goal, LearnCriterion};
use simforge_core::space::Domain;
use simforge_core::study::canonical_json;
use simforge_core::{Plan, PlannedRun, RunState, Study};
use simforge_store::{RunFilter, Store};

use crate::runner::{ExecError, StudyLock};

/// How to run the loop.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Points per iteration when the study does not say (`optimize.batch`):
    /// the executor's slots, so that every slot stays busy.
    pub slots: usize,
    /// Directory for lock files (one loop per study).
    pub lock_dir: PathBuf,
    /// The study file, as recorded in the store.
    pub study_file: String,
}

/// Why the loop stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The run budget is spent.
    Budget,
    /// `max_time` passed.
    MaxTime,
    /// This many iterations brought no improvement.
    Patience(u32),
    /// A discrete space has no untried point left.
    Exhausted,
    /// Runs stayed pending after execution (e.g. `max_failures` stopped it).
    RunsLeftPending(u64),
    /// The user interrupted it.
    Interrupted,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Budget => write!(f, "the run budget is spent"),
            StopReason::MaxTime => write!(f, "max_time passed"),
            StopReason::Patience(k) => write!(f, "no improvement in {k} iterations"),
            StopReason::Exhausted => write!(f, "every point of the space has been run"),
            StopReason::RunsLeftPending(n) => write!(
                f,
                "{n} runs stayed pending after execution (max_failures reached?); fix the failures and run again"
            ),
            StopReason::Interrupted => write!(f, "interrupted"),
        }
    }
}

/// The best feasible run so far.
#[derive(Debug, Clone, PartialEq)]
pub struct BestRun {
    /// One run id of the point (the first replicate).
    pub run_id: String,
    /// The metric (mean over replicates), in the user's orientation.
    pub value: f64,
    /// Its parameters.
    pub params: BTreeMap<String, Value>,
}

/// What one iteration did.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// Iteration number in this invocation, from 1.
    pub number: u32,
    /// Points proposed.
    pub proposed: usize,
    /// Runs in the loop after adding them.
    pub runs: u64,
    /// Best feasible objective before this iteration's runs execute.
    pub best: Option<f64>,
    /// Predicted objective (mean, sd) at the first proposed point.
    pub predicted: Option<(f64, f64)>,
    /// Active learning: cross-validated accuracy of the surrogate so far.
    pub cv: Option<CvScore>,
    /// Why the points were random, if they were.
    pub random_because: Option<String>,
}

/// What the loop did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopSummary {
    /// Iterations of this invocation.
    pub iterations: Vec<Iteration>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Runs in the loop (initial design and proposals).
    pub runs: u64,
    /// Of those, found in the store when this invocation started.
    pub resumed: u64,
    /// Points whose runs all failed.
    pub failed_points: u64,
    /// Best feasible point (optimisation).
    pub best: Option<BestRun>,
    /// Final surrogate accuracy (active learning).
    pub cv: Option<CvScore>,
    /// Wall time of this invocation.
    pub wall: Duration,
}

/// Why the loop could not run.
#[derive(Debug, thiserror::Error)]
pub enum AdaptiveError {
    /// The study has no `objective` or `optimize` section.
    #[error(
        "study `{0}` has no `objective` or `optimize` section: nothing to optimise (add `objective: {{minimize: METRIC}}`)"
    )]
    NotAdaptive(String),
    /// The study's design cannot start the loop.
    #[error("{0}")]
    Design(String),
    /// Execution or store failure.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl From<simforge_store::StoreError> for AdaptiveError {
    fn from(e: simforge_store::StoreError) -> Self {
        AdaptiveError::Exec(e.into())
    }
}

/// The search space of the study as the optimiser sees it.
struct Space<'a> {
    study: &'a Study,
    /// Indices of the searched (non-constant) parameters.
    searched: Vec<usize>,
    dims: Vec<Dim>,
}

impl<'a> Space<'a> {
    fn new(study: &'a Study) -> Self {
        let mut searched = Vec::new();
        let mut dims = Vec::new();
        for (i, p) in study.space.params.iter().enumerate() {
            let dim = match &p.domain {
                Domain::Constant(_) => continue,
                Domain::Choice(options) => Dim::Categorical(options.len()),
                Domain::Integer { .. } => p.search_levels().map_or(Dim::Continuous, Dim::Discrete),
                Domain::Real { .. } => Dim::Continuous,
            };
            searched.push(i);
            dims.push(dim);
        }
        Space {
            study,
            searched,
            dims,
        }
    }

    /// Coordinates of a run's parameters, or `None` when the run does not
    /// belong to this space (a value out of range, a constant that changed).
    fn encode(&self, params: &BTreeMap<String, Value>) -> Option<Vec<f64>> {
        for p in &self.study.space.params {
            let v = params.get(&p.name)?;
            let inside = match &p.domain {
                Domain::Constant(c) => v == c,
                Domain::Real { low, high, .. } => {
                    v.as_f64().is_some_and(|x| (*low..=*high).contains(&x))
                }
                Domain::Integer { low, high, .. } => {
                    v.as_i64().is_some_and(|x| (*low..=*high).contains(&x))
                }
                Domain::Choice(options) => options.contains(v),
            };
            if !inside {
                return None;
            }
        }
        if params.len() != self.study.space.params.len() {
            return None;
        }
        self.searched
            .iter()
            .map(|&i| {
                let p = &self.study.space.params[i];
                params.get(&p.name).and_then(|v| p.search_coord(v))
            })
            .collect()
    }

    /// Parameters at coordinates `c` (constants included).
    fn decode(&self, c: &[f64]) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let mut coords = c.iter();
        for (i, p) in self.study.space.params.iter().enumerate() {
            let v = if self.searched.contains(&i) {
                p.from_search_coord(coords.next().copied().unwrap_or(0.0))
            } else {
                p.from_unit(0.0)
            };
            out.insert(p.name.clone(), v);
        }
        out
    }
}

/// One point of the loop (its replicates grouped).
struct Point {
    coords: Vec<f64>,
    index: u64,
    first_run: String,
    params: BTreeMap<String, Value>,
    /// The optimised or learned metric, mean over succeeded replicates, in
    /// the user's orientation; `None` if every replicate failed.
    value: Option<f64>,
    constraints: Vec<Option<f64>>,
    pending: bool,
}

/// Everything the store holds for the loop.
struct Observed {
    points: Vec<Point>,
    /// Planned runs of the loop, to store as the plan.
    runs: Vec<PlannedRun>,
}

fn metric_value(metrics: &BTreeMap<String, Value>, name: &str) -> Option<f64> {
    metrics
        .get(name)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn observe(
    store: &dyn Store,
    space: &Space<'_>,
    adaptive: &Adaptive,
    initial: &[PlannedRun],
) -> Result<Observed, AdaptiveError> {
    let name = &space.study.spec.name;
    let records = store.runs(
        name,
        &RunFilter {
            all_plans: true,
            ..RunFilter::default()
        },
    )?;
    let initial_ids: std::collections::HashSet<&str> =
        initial.iter().map(|r| r.id.as_str()).collect();
    let mut runs: Vec<PlannedRun> = initial.to_vec();
    // Replicates of a point share its parameters: grouped by them, with the
    // point's coordinates.
    type Group<'r> = (Vec<f64>, Vec<&'r simforge_core::results::RunRecord>);
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in &records {
        let Some(coords) = space.encode(&r.params) else {
            continue;
        };
        let in_initial = initial_ids.contains(r.id.as_str());
        // Runs of an earlier design (another seed or sample count) are kept as
        // points: a point is a point.
        if !in_initial {
            runs.push(PlannedRun {
                id: r.id.clone(),
                index: r.index,
                tag: None,
                replicate: r.replicate,
                seed: r.seed,
                params: r.params.clone(),
            });
        }
        let key = canonical_json(&Value::Object(r.params.clone().into_iter().collect()));
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_insert((coords, Vec::new())).1.push(r);
    }
    // Initial-design runs not yet in the store still count as pending points.
    let stored: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut points = Vec::new();
    for key in &order {
        let (coords, rs) = &groups[key];
        let first = rs[0];
        let pending = rs.iter().any(|r| {
            matches!(
                r.state,
                RunState::Pending | RunState::Running | RunState::Cancelled
            )
        });
        let ok: Vec<&&simforge_core::results::RunRecord> = rs
            .iter()
            .filter(|r| r.state == RunState::Succeeded)
            .collect();
        let mean = |m: &str| -> Option<f64> {
            let vals: Vec<f64> = ok
                .iter()
                .filter_map(|r| metric_value(&r.metrics, m))
                .collect();
            (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
        };
        points.push(Point {
            coords: coords.clone(),
            index: first.index,
            first_run: first.id.clone(),
            params: first.params.clone(),
            value: mean(&adaptive.metric),
            constraints: adaptive
                .constraints
                .iter()
                .map(|c| mean(&c.metric))
                .collect(),
            pending,
        });
    }
    for r in initial.iter().filter(|r| !stored.contains(r.id.as_str())) {
        if let Some(coords) = space.encode(&r.params) {
            points.push(Point {
                coords,
                index: r.index,
                first_run: r.id.clone(),
                params: r.params.clone(),
                value: None,
                constraints: vec![None; adaptive.constraints.len()],
                pending: true,
            });
        }
    }
    points.sort_by_key(|p| p.index);
    runs.sort_by_key(|r| (r.index, r.replicate));
    runs.dedup_by(|a, b| a.id == b.id);
    Ok(Observed { points, runs })
}

fn feasible(adaptive: &Adaptive, p: &Point) -> bool {
    p.value.is_some()
        && adaptive
            .constraints
            .iter()
            .zip(&p.constraints)
            .all(|(c, v)| v.is_some_and(|v| c.holds(v)))
}

/// The best feasible point, in the user's orientation, and its position in
/// index order.
fn best_point<'p>(adaptive: &Adaptive, points: &'p [Point]) -> Option<(usize, &'p Point)> {
    let key = |p: &Point| {
        let v = p.value.unwrap_or(f64::INFINITY);
        if adaptive.maximize { -v } else { v }
    };
    points
        .iter()
        .enumerate()
        .filter(|(_, p)| feasible(adaptive, p))
        .min_by(|a, b| key(a.1).total_cmp(&key(b.1)))
}

/// One design point of a study with an objective, for a convergence plot.
#[derive(Debug, Clone, PartialEq)]
pub struct TracePoint {
    /// Its design index (initial design first, then proposals in order).
    pub index: u64,
    /// One run id of the point (the first replicate).
    pub run_id: String,
    /// Its parameters.
    pub params: BTreeMap<String, Value>,
    /// The objective (mean over succeeded replicates); `None` while its runs
    /// are unfinished or when they all failed.
    pub value: Option<f64>,
    /// Whether it has a value and meets every constraint.
    pub feasible: bool,
    /// The best feasible value up to and including this point.
    pub best: Option<f64>,
    /// Whether any of its runs is still pending or running.
    pub pending: bool,
}

/// The points of a study with an objective in design order, with the best
/// feasible value so far at each: what the dashboard's convergence plot and
/// the summary of `simforge optimize` show.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The points, in design-index order.
    pub points: Vec<TracePoint>,
    /// Position in `points` of the best feasible point.
    pub best: Option<usize>,
}

/// The [`Trace`] of `study` (which must have an `objective` or `optimize`
/// section) from every run the store holds for it.
pub fn trace(store: &dyn Store, study: &Study) -> Result<Trace, AdaptiveError> {
    let adaptive = study
        .adaptive
        .as_ref()
        .ok_or_else(|| AdaptiveError::NotAdaptive(study.spec.name.clone()))?;
    let space = Space::new(study);
    let observed = observe(store, &space, adaptive, &[])?;
    let best = best_point(adaptive, &observed.points).map(|(k, _)| k);
    let better = |a: f64, b: f64| if adaptive.maximize { a > b } else { a < b };
    let mut so_far: Option<f64> = None;
    let points = observed
        .points
        .into_iter()
        .map(|p| {
            let ok = feasible(adaptive, &p);
            if ok && let Some(v) = p.value {
                so_far = Some(so_far.map_or(v, |b| if better(v, b) { v } else { b }));
            }
            TracePoint {
                index: p.index,
                run_id: p.first_run,
                params: p.params,
                value: p.value,
                feasible: ok,
                best: so_far,
                pending: p.pending,
            }
        })
        .collect();
    Ok(Trace { points, best })
}

fn problem(space: &Space<'_>, adaptive: &Adaptive) -> Problem {
    let strategy = match adaptive.goal {
        Goal::Optimize(AcquisitionKind::LogEi) => Strategy::Optimize(Acquisition::LogEi),
        Goal::Optimize(AcquisitionKind::Ucb { kappa }) => {
            Strategy::Optimize(Acquisition::Ucb { kappa })
        }
        Goal::Learn(LearnCriterion::Variance) => Strategy::Learn(Criterion::Variance),
        Goal::Learn(LearnCriterion::IntegratedVariance) => {
            Strategy::Learn(Criterion::IntegratedVariance)
        }
    };
    Problem {
        dims: space.dims.clone(),
        constraints: adaptive
            .constraints
            .iter()
            .map(|c| Bound {
                upper: c.upper,
                limit: c.limit,
            })
            .collect(),
        strategy,
    }
}

fn observations(adaptive: &Adaptive, points: &[Point]) -> (Vec<Observation>, Vec<Vec<f64>>) {
    let sign = if adaptive.maximize { -1.0 } else { 1.0 };
    let mut obs = Vec::new();
    let mut pending = Vec::new();
    for p in points {
        if p.pending {
            pending.push(p.coords.clone());
        } else {
            obs.push(Observation {
                x: p.coords.clone(),
                value: p.value.map(|v| sign * v),
                constraints: p.constraints.clone(),
            });
        }
    }
    (obs, pending)
}

/// Cross-validated accuracy of a surrogate of the metric over `points`.
fn surrogate_accuracy(space: &Space<'_>, points: &[Point], seed: u64) -> Option<CvScore> {
    let (x, y): (Vec<Vec<f64>>, Vec<f64>) = points
        .iter()
        .filter_map(|p| {
            p.value
                .map(|v| (opt::space::features(&space.dims, &p.coords), v))
        })
        .unzip();
    if x.len() < 6 {
        return None;
    }
    cv_errors(&x, &y, 5, seed, None).ok()
}

fn store_plan(
    store: &mut dyn Store,
    study: &Study,
    identity: &str,
    study_file: &str,
    runs: &[PlannedRun],
) -> Result<(), AdaptiveError> {
    let row = crate::runner::study_row(study, identity, study_file);
    store.store_plan(&row, &mut runs.iter().cloned())?;
    Ok(())
}

/// Runs the adaptive loop of `study` until a stopping rule fires.
/// `execute` runs every pending run of the study's current plan (the local
/// pool, SLURM or Kubernetes); `on_iteration` hears of each iteration.
pub fn run_adaptive(
    store: &mut dyn Store,
    study: &Study,
    sim_identity: &str,
    opts: &LoopOptions,
    execute: &mut dyn FnMut(&mut dyn Store) -> Result<(), ExecError>,
    cancel: &AtomicBool,
    on_iteration: &mut dyn FnMut(&Iteration),
) -> Result<LoopSummary, AdaptiveError> {
    let name = &study.spec.name;
    let adaptive = study
        .adaptive
        .as_ref()
        .ok_or_else(|| AdaptiveError::NotAdaptive(name.clone()))?;
    let _lock = StudyLock::acquire(&opts.lock_dir, &format!("{name}.optimize"))?;
    let started = Instant::now();
    let space = Space::new(study);
    if space.dims.is_empty() {
        return Err(AdaptiveError::Design(format!(
            "study `{name}` has no parameter to search (every parameter is a constant)"
        )));
    }
    let plan = Plan::new(study, sim_identity).map_err(ExecError::from)?;
    let initial: Vec<PlannedRun> = plan.runs().collect();
    let replicates = u64::from(study.design.replicates.max(1));
    let batch = adaptive
        .batch
        .map_or(opts.slots.max(1), |b| b as usize)
        .max(1);
    let problem = problem(&space, adaptive);
    let observed = observe(store, &space, adaptive, &initial)?;
    let initial_ids: std::collections::HashSet<&str> =
        initial.iter().map(|r| r.id.as_str()).collect();
    let resumed = observed
        .runs
        .iter()
        .filter(|r| !initial_ids.contains(r.id.as_str()))
        .count() as u64;
    store_plan(store, study, sim_identity, &opts.study_file, &observed.runs)?;
    let mut iterations = Vec::new();
    let mut refits = opt::Refits::default();
    let mut number = 0u32;
    let stop = loop {
        if cancel.load(Ordering::Relaxed) {
            break StopReason::Interrupted;
        }
        execute(store)?;
        if cancel.load(Ordering::Relaxed) {
            break StopReason::Interrupted;
        }
        let observed = observe(store, &space, adaptive, &initial)?;
        let still_pending = observed.points.iter().filter(|p| p.pending).count() as u64;
        if still_pending > 0 {
            break StopReason::RunsLeftPending(still_pending);
        }
        let runs_now = observed.runs.len() as u64;
        if runs_now >= adaptive.budget {
            break StopReason::Budget;
        }
        if adaptive.max_time.is_some_and(|t| started.elapsed() >= t) {
            break StopReason::MaxTime;
        }
        let best = best_point(adaptive, &observed.points);
        if let (Some(k), Goal::Optimize(_), Some((pos, _))) =
            (adaptive.patience, &adaptive.goal, best)
        {
            // Proposals after the best point, in iterations of `batch` points.
            let initial_points = initial.len() / replicates as usize;
            let since = observed
                .points
                .len()
                .saturating_sub((pos + 1).max(initial_points));
            if since >= k as usize * batch {
                break StopReason::Patience(k);
            }
        }
        let q = (((adaptive.budget - runs_now) / replicates).max(1) as usize).min(batch);
        let (obs, pending) = observations(adaptive, &observed.points);
        let (warm_start, keep) = refits.plan(obs.len());
        let step = opt::suggest(
            &problem,
            &obs,
            &pending,
            &StepOptions {
                q,
                seed: study.design.seed.wrapping_add(observed.points.len() as u64),
                warm_start,
                keep_hyperparameters: keep,
            },
        );
        refits.record(obs.len(), &step, keep);
        if step.points.is_empty() {
            break StopReason::Exhausted;
        }
        let next = observed.runs.iter().map(|r| r.index + 1).max().unwrap_or(0);
        let mut runs = observed.runs;
        // Proposals are untried points (`suggest` skips every observed or
        // pending one), so their runs are new.
        for (index, p) in (next..).zip(&step.points) {
            runs.extend(plan.runs_at(index, space.decode(p)));
        }
        store_plan(store, study, sim_identity, &opts.study_file, &runs)?;
        number += 1;
        let cv = matches!(adaptive.goal, Goal::Learn(_))
            .then(|| surrogate_accuracy(&space, &observed.points, study.design.seed))
            .flatten();
        let sign = if adaptive.maximize { -1.0 } else { 1.0 };
        let it = Iteration {
            number,
            proposed: step.points.len(),
            runs: runs.len() as u64,
            best: best.and_then(|(_, p)| p.value),
            predicted: step
                .predicted
                .first()
                .copied()
                .flatten()
                .map(|(m, s)| (sign * m, s)),
            cv,
            random_because: step.random_because,
        };
        on_iteration(&it);
        iterations.push(it);
    };
    let observed = observe(store, &space, adaptive, &initial)?;
    let best = match adaptive.goal {
        Goal::Optimize(_) => best_point(adaptive, &observed.points).map(|(_, p)| BestRun {
            run_id: p.first_run.clone(),
            value: p.value.unwrap_or(f64::NAN),
            params: p.params.clone(),
        }),
        Goal::Learn(_) => None,
    };
    let cv = matches!(adaptive.goal, Goal::Learn(_))
        .then(|| surrogate_accuracy(&space, &observed.points, study.design.seed))
        .flatten();
    Ok(LoopSummary {
        iterations,
        stop,
        runs: observed.runs.len() as u64,
        resumed,
        failed_points: observed
            .points
            .iter()
            .filter(|p| !p.pending && p.value.is_none())
            .count() as u64,
        best,
        cv,
        wall: started.elapsed(),
    })
}
