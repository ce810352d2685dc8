//! Bayesian optimisation and active learning over a mixed search space.
//!
//! [`suggest`] is one step of the adaptive loop that `simforge optimize`
//! drives: given every observation so far (and points still running), it
//! fits Gaussian-process surrogates of the objective and of each constrained
//! metric and proposes the next `q` points:
//!
//! - **optimise**: maximise log expected improvement (default) or the lower
//!   confidence bound, times the probability that every constraint holds;
//!   with no feasible point yet, maximise that probability alone;
//! - **learn**: maximise the posterior variance, or the integrated variance
//!   reduction over the space (active learning of an accurate surrogate).
//!
//! Batches use the kriging believer (Ginsbourger et al. 2010): after each
//! pick the models are conditioned on their own prediction there, so the next
//! pick goes elsewhere. Failed runs count as infeasible twice over: their
//! objective (and constraint values) are imputed with the worst observed, and
//! a model of where runs fail enters the acquisition like a constraint. With
//! the model alone the search hugs the edge of the failing region, where half
//! the runs fail; with imputation alone it keeps too wide a berth. The acquisition is maximised over
//! random candidates plus perturbations of the best points, the best few then
//! refined by Nelder–Mead over the numeric coordinates.

pub mod acquisition;
pub mod space;
pub mod warp;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::minimize::nelder_mead;
use crate::surrogate::gp::{FitOptions, Gp, MAX_FIT_POINTS};
use acquisition::{log_ei, log_prob_below, neg_lcb};
pub use space::Dim;

/// One evaluated (or failed) point.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Coordinates, one per dimension (see [`Dim`]).
    pub x: Vec<f64>,
    /// The objective, oriented for minimisation (negate a maximised metric);
    /// `None` when the run failed.
    pub value: Option<f64>,
    /// Each constrained metric, in the order of [`Problem::constraints`];
    /// `None` when missing or failed.
    pub constraints: Vec<Option<f64>>,
}

/// A constraint `metric ≤ limit` (or `≥` with `upper: false`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// `true`: the metric must be at most `limit`; `false`: at least.
    pub upper: bool,
    /// The limit.
    pub limit: f64,
}

impl Bound {
    /// Whether `v` satisfies the bound.
    pub fn holds(&self, v: f64) -> bool {
        if self.upper {
            v <= self.limit
        } else {
            v >= self.limit
        }
    }
}

impl Observation {
    /// Whether the run succeeded with a finite objective and every
    /// constraint holds.
    pub fn is_feasible(&self, constraints: &[Bound]) -> bool {
        self.value.is_some_and(f64::is_finite)
            && constraints.iter().enumerate().all(|(j, b)| {
                self.constraints
                    .get(j)
                    .copied()
                    .flatten()
                    .is_some_and(|v| b.holds(v))
            })
    }
}

/// What the next points should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Find the minimum.
    Optimize(Acquisition),
    /// Build an accurate surrogate with few runs.
    Learn(Criterion),
}

/// Acquisition functions for optimisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Acquisition {
    /// Log expected improvement.
    LogEi,
    /// Lower confidence bound `μ − κσ`.
    Ucb {
        /// Exploration weight κ.
        kappa: f64,
    },
}

/// Selection rules for active learning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// Largest posterior variance.
    Variance,
    /// Largest reduction of the posterior variance integrated over the space.
    IntegratedVariance,
}

/// The optimisation problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The searched dimensions.
    pub dims: Vec<Dim>,
    /// Constraints on other metrics.
    pub constraints: Vec<Bound>,
    /// What to do.
    pub strategy: Strategy,
}

/// Options of one step.
#[derive(Debug, Clone, Default)]
pub struct StepOptions {
    /// Points to propose (≥ 1).
    pub q: usize,
    /// Seed of every random choice in the step.
    pub seed: u64,
    /// Objective-model hyperparameters of the previous step (a warm start).
    pub warm_start: Option<Vec<f64>>,
    /// Reuse `warm_start` as it is instead of refitting: a step that adds a
    /// few points to many barely moves the hyperparameters, and the fit is
    /// most of a step's cost. See [`Refits`].
    pub keep_hyperparameters: bool,
}

/// When to refit the objective model's hyperparameters: after the first
/// step, again once the observations have grown by a tenth (at least one)
/// since the last fit; in between the previous ones are reused.
#[derive(Debug, Clone, Default)]
pub struct Refits {
    last: Option<(usize, Vec<f64>)>,
}

impl Refits {
    /// The warm start and whether to keep it, for a step over `n` observations.
    pub fn plan(&self, n: usize) -> (Option<Vec<f64>>, bool) {
        match &self.last {
            Some((at, theta)) => (Some(theta.clone()), n < at + (at / 10).max(1)),
            None => (None, false),
        }
    }

    /// Records a step's outcome over `n` observations.
    pub fn record(&mut self, n: usize, step: &Step, kept: bool) {
        if let Some(theta) = &step.theta {
            let at = match (&self.last, kept) {
                (Some((at, _)), true) => *at,
                _ => n,
            };
            self.last = Some((at, theta.clone()));
        }
    }
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The proposed points (fewer than `q` only when a discrete space has no
    /// untried point left).
    pub points: Vec<Vec<f64>>,
    /// Predicted mean and standard deviation of the objective at each point,
    /// in the caller's orientation; `None` when no model could be fitted.
    pub predicted: Vec<Option<(f64, f64)>>,
    /// Objective-model hyperparameters, for the next step's warm start.
    pub theta: Option<Vec<f64>>,
    /// Why the points were chosen at random, if they were.
    pub random_because: Option<String>,
}

/// Random candidates scored per pick, and perturbations around each of the
/// best observed points.
const CANDIDATES: usize = 1000;
const PERTURBED_BEST: usize = 5;
const PERTURBATIONS: usize = 100;
/// Candidates refined by Nelder–Mead per pick.
const REFINED: usize = 3;
/// The failure model's limit: a point counts as feasible where the predicted
/// failure indicator is below this.
const FAILURE_LIMIT: f64 = 0.5;
/// Reference points over which integrated variance is measured.
const REFERENCE_POINTS: usize = 256;

/// Proposes the next `opts.q` points given the observations and the points
/// already proposed but not yet observed (`pending`).
pub fn suggest(
    problem: &Problem,
    observations: &[Observation],
    pending: &[Vec<f64>],
    opts: &StepOptions,
) -> Step {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let q = opts.q.max(1);
    let dims = &problem.dims;
    let taken: Vec<Vec<f64>> = observations
        .iter()
        .map(|o| o.x.clone())
        .chain(pending.iter().cloned())
        .collect();
    let models = match Models::fit(problem, observations, opts) {
        Ok(m) => m,
        Err(why) => {
            return Step {
                points: random_points(dims, &taken, q, &mut rng),
                predicted: vec![None; q],
                theta: None,
                random_because: Some(why),
            };
        }
    };
    let mut models = models;
    // Points in flight count as observed at their predicted values.
    if !pending.is_empty() {
        models.believe(dims, pending);
    }
    let mut taken = taken;
    let mut points = Vec::new();
    let mut predicted = Vec::new();
    for _ in 0..q {
        let Some(p) = maximise(problem, &models, &taken, &mut rng) else {
            break;
        };
        predicted.push(Some(models.predict(&space::features(dims, &p))));
        models.believe(dims, std::slice::from_ref(&p));
        taken.push(p.clone());
        points.push(p);
    }
    Step {
        points,
        predicted,
        theta: Some(models.objective.theta().to_vec()),
        random_because: None,
    }
}

/// Random untried points (the fallback before a model can be fitted).
fn random_points(
    dims: &[Dim],
    taken: &[Vec<f64>],
    q: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = Vec::new();
    for _ in 0..q {
        for _ in 0..1000 {
            let p = space::sample(dims, rng);
            if !taken.iter().chain(&out).any(|t| space::same_point(t, &p)) {
                out.push(p);
                break;
            }
        }
    }
    out
}

/// The surrogates one step works with.
struct Models {
    objective: Gp,
    /// The output warp of the objective model (optimisation only).
    warp: Option<warp::Warp>,
    /// Best feasible objective so far (standardised), if any point is feasible.
    best: Option<f64>,
    /// Per constraint: its model and the limit in the model's standardised
    /// units, oriented as `≤`; `None` for a metric the data cannot model
    /// (constant or too few values), which is then ignored.
    constraints: Vec<Option<(Gp, f64)>>,
    /// Reference points (features) and their whitened covariance vectors, for
    /// integrated variance.
    reference: Vec<(Vec<f64>, Vec<f64>)>,
}

impl Models {
    fn fit(problem: &Problem, obs: &[Observation], opts: &StepOptions) -> Result<Models, String> {
        let dims = &problem.dims;
        let kept;
        let obs = if obs.len() > MAX_FIT_POINTS {
            kept = fit_subset(obs, opts.seed);
            &kept[..]
        } else {
            obs
        };
        let ok: Vec<f64> = obs
            .iter()
            .filter_map(|o| o.value)
            .filter(|v| v.is_finite())
            .collect();
        if ok.len() < 2 {
            return Err(format!(
                "{} successful observation(s): too few for a surrogate",
                ok.len()
            ));
        }
        let x: Vec<Vec<f64>> = obs.iter().map(|o| space::features(dims, &o.x)).collect();
        let succeeded: Vec<bool> = obs
            .iter()
            .map(|o| o.value.is_some_and(f64::is_finite))
            .collect();
        let worst = ok.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let warp = matches!(problem.strategy, Strategy::Optimize(_)).then(|| warp::Warp::fit(&ok));
        let y: Vec<f64> = obs
            .iter()
            .map(|o| o.value.filter(|v| v.is_finite()).unwrap_or(worst))
            .map(|v| warp.as_ref().map_or(v, |w| w.apply(v)))
            .collect();
        let fit_opts = FitOptions {
            restarts: if opts.warm_start.is_some() { 0 } else { 3 },
            warm_start: opts.warm_start.clone(),
            seed: opts.seed,
            max_iters: if opts.warm_start.is_some() { 60 } else { 0 },
            fixed: opts.keep_hyperparameters,
        };
        let objective = Gp::fit_with(&x, &y, &fit_opts).map_err(|e| e.to_string())?;
        let (mean, scale) = objective.standardisation();
        let best = obs
            .iter()
            .filter(|o| o.is_feasible(&problem.constraints))
            .filter_map(|o| o.value)
            .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v))))
            .map(|b| (warp.as_ref().map_or(b, |w| w.apply(b)) - mean) / scale);
        let mut constraints = Vec::new();
        for (j, bound) in problem.constraints.iter().enumerate() {
            // Oriented so that feasible means "≤ limit".
            let sign = if bound.upper { 1.0 } else { -1.0 };
            let vals: Vec<Option<f64>> = obs
                .iter()
                .map(|o| {
                    o.constraints
                        .get(j)
                        .copied()
                        .flatten()
                        .filter(|v| v.is_finite())
                })
                .map(|v| v.map(|v| sign * v))
                .collect();
            let worst = vals
                .iter()
                .flatten()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            if !worst.is_finite() {
                constraints.push(None);
                continue;
            }
            let cy: Vec<f64> = vals.iter().map(|v| v.unwrap_or(worst)).collect();
            let model = Gp::fit_with(
                &x,
                &cy,
                &FitOptions {
                    restarts: 1,
                    seed: opts.seed + 1 + j as u64,
                    ..FitOptions::default()
                },
            )
            .ok()
            .map(|gp| {
                let (m, s) = gp.standardisation();
                let limit = (sign * bound.limit - m) / s;
                (gp, limit)
            });
            constraints.push(model);
        }
        // Where runs failed: a model of the failure indicator (1 failed, 0 not),
        // used like a constraint "indicator ≤ FAILURE_LIMIT", so that the search keeps
        // away from failures without the objective model being distorted by
        // invented values.
        if succeeded.iter().any(|s| !s) {
            let ind: Vec<f64> = succeeded
                .iter()
                .map(|s| if *s { 0.0 } else { 1.0 })
                .collect();
            let model = Gp::fit_with(
                &x,
                &ind,
                &FitOptions {
                    restarts: 1,
                    seed: opts.seed + 101,
                    ..FitOptions::default()
                },
            )
            .ok()
            .map(|gp| {
                let (m, s) = gp.standardisation();
                (gp, (FAILURE_LIMIT - m) / s)
            });
            constraints.push(model);
        }
        let mut models = Models {
            objective,
            warp,
            best,
            constraints,
            reference: Vec::new(),
        };
        if problem.strategy == Strategy::Learn(Criterion::IntegratedVariance) {
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5eed);
            let refs: Vec<Vec<f64>> = (0..REFERENCE_POINTS)
                .map(|_| space::features(dims, &space::sample(dims, &mut rng)))
                .collect();
            models.reference = refs.into_iter().map(|r| (r, Vec::new())).collect();
            models.whiten_reference();
        }
        Ok(models)
    }

    fn whiten_reference(&mut self) {
        for (r, w) in self.reference.iter_mut() {
            *w = self.objective.whitened(r);
        }
    }

    /// Conditions every model on its own prediction at `points`.
    fn believe(&mut self, dims: &[Dim], points: &[Vec<f64>]) {
        let feats: Vec<Vec<f64>> = points.iter().map(|p| space::features(dims, p)).collect();
        let believed = |gp: &Gp| -> Option<Gp> {
            let ys: Vec<f64> = feats.iter().map(|f| gp.predict(f).0).collect();
            gp.condition_on(&feats, &ys).ok()
        };
        // A believed value better than the incumbent is the new incumbent, or
        // the expected improvement next to it would not vanish.
        for f in &feats {
            let m = self.objective.predict_std(f).0;
            self.best = self.best.map(|b| b.min(m));
        }
        if let Some(gp) = believed(&self.objective) {
            self.objective = gp;
        }
        for c in self.constraints.iter_mut().flatten() {
            if let Some(gp) = believed(&c.0) {
                c.0 = gp;
            }
        }
        if !self.reference.is_empty() {
            self.whiten_reference();
        }
    }

    /// Predicted objective at `f` in the caller's units: the median (the
    /// warped mean mapped back) and a standard deviation from the warped
    /// ±1σ band mapped back.
    fn predict(&self, f: &[f64]) -> (f64, f64) {
        let (m, sd) = self.objective.predict(f);
        match &self.warp {
            None => (m, sd),
            Some(w) => {
                let (lo, mid, hi) = (w.invert(m - sd), w.invert(m), w.invert(m + sd));
                (mid, 0.5 * (hi - lo).abs())
            }
        }
    }

    /// Log probability that every modelled constraint holds at `f`.
    fn log_feasible(&self, f: &[f64]) -> f64 {
        self.constraints
            .iter()
            .flatten()
            .map(|(gp, limit)| {
                let (m, v) = gp.predict_std(f);
                log_prob_below(m, v, *limit)
            })
            .sum()
    }

    /// The acquisition at features `f` (larger is better).
    fn score(&self, strategy: &Strategy, f: &[f64]) -> f64 {
        match strategy {
            Strategy::Optimize(acq) => {
                let feasible = self.log_feasible(f);
                let Some(best) = self.best else {
                    return feasible;
                };
                let (m, v) = self.objective.predict_std(f);
                let a = match acq {
                    Acquisition::LogEi => log_ei(m, v, best),
                    Acquisition::Ucb { kappa } => neg_lcb(m, v, *kappa),
                };
                a + feasible
            }
            Strategy::Learn(Criterion::Variance) => self.objective.predict_std(f).1,
            Strategy::Learn(Criterion::IntegratedVariance) => {
                let w = self.objective.whitened(f);
                let var = (self.objective.prior_cov(f, f) - dot(&w, &w)).max(0.0);
                let denom = var + self.objective.noise_var();
                self.reference
                    .iter()
                    .map(|(r, wr)| {
                        let c = self.objective.prior_cov(r, f) - dot(wr, &w);
                        c * c
                    })
                    .sum::<f64>()
                    / (denom * self.reference.len() as f64)
            }
        }
    }
}

/// At most [`MAX_FIT_POINTS`] observations for the models: the best quarter
/// of them by value (the region the search is about) and a random sample of
/// the rest (the shape of the space), so a long loop does not drop its
/// incumbent from the model.
fn fit_subset(obs: &[Observation], seed: u64) -> Vec<Observation> {
    let mut order: Vec<usize> = (0..obs.len()).collect();
    order.sort_by(|&a, &b| {
        let v = |i: usize| {
            obs[i]
                .value
                .filter(|v| v.is_finite())
                .unwrap_or(f64::INFINITY)
        };
        v(a).total_cmp(&v(b))
    });
    let best = MAX_FIT_POINTS / 4;
    let mut rest: Vec<usize> = order.split_off(best.min(order.len()));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ab5e7);
    for i in 0..(MAX_FIT_POINTS - order.len()).min(rest.len()) {
        let j = rng.random_range(i..rest.len());
        rest.swap(i, j);
    }
    rest.truncate(MAX_FIT_POINTS - order.len());
    order.extend(rest);
    order.into_iter().map(|i| obs[i].clone()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The untried point with the best acquisition, or `None` when every
/// allowed point of a discrete space is taken.
fn maximise(
    problem: &Problem,
    models: &Models,
    taken: &[Vec<f64>],
    rng: &mut ChaCha8Rng,
) -> Option<Vec<f64>> {
    let dims = &problem.dims;
    let score = |p: &[f64]| -> f64 {
        let s = models.score(&problem.strategy, &space::features(dims, p));
        if s.is_nan() { f64::NEG_INFINITY } else { s }
    };
    let fresh = |p: &[f64]| !taken.iter().any(|t| space::same_point(t, p));
    let mut cands: Vec<Vec<f64>> = (0..CANDIDATES).map(|_| space::sample(dims, rng)).collect();
    // Perturbations of the best observed points (by the model's mean).
    let mut ranked: Vec<(f64, &Vec<f64>)> = taken
        .iter()
        .map(|t| (models.objective.predict_std(&space::features(dims, t)).0, t))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, t) in ranked.iter().take(PERTURBED_BEST) {
        for k in 0..PERTURBATIONS {
            let sigma = [0.01, 0.05, 0.15][k % 3];
            let mut p: Vec<f64> = (*t).clone();
            for (d, v) in dims.iter().zip(p.iter_mut()) {
                match d {
                    Dim::Categorical(_) => {
                        if rng.random::<f64>() < 0.1 {
                            *v = d.sample(rng);
                        }
                    }
                    _ => *v += sigma * gaussian(rng),
                }
            }
            space::snap(dims, &mut p);
            cands.push(p);
        }
    }
    let mut scored: Vec<(f64, Vec<f64>)> = cands
        .into_iter()
        .filter(|p| fresh(p))
        .map(|p| (score(&p), p))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.dedup_by(|a, b| space::same_point(&a.1, &b.1));
    let starts: Vec<&Vec<f64>> = scored.iter().take(REFINED).map(|c| &c.1).collect();
    let numeric: Vec<usize> = (0..dims.len()).filter(|&i| dims[i].is_numeric()).collect();
    let mut best: Option<(f64, Vec<f64>)> = scored.first().map(|c| (c.0, c.1.clone()));
    if !numeric.is_empty() {
        for start in starts {
            let embed = |z: &[f64]| -> Vec<f64> {
                let mut p = (*start).clone();
                for (k, &i) in numeric.iter().enumerate() {
                    p[i] = z[k];
                }
                space::snap(dims, &mut p);
                p
            };
            let z0: Vec<f64> = numeric.iter().map(|&i| start[i]).collect();
            let iters = 30 * numeric.len() + 30;
            let (z, _) = nelder_mead(
                &mut |z| {
                    let p = embed(z);
                    if fresh(&p) { -score(&p) } else { f64::INFINITY }
                },
                z0,
                0.05,
                iters,
            );
            let p = embed(&z);
            let s = score(&p);
            if fresh(&p) && best.as_ref().is_none_or(|b| s > b.0) {
                best = Some((s, p));
            }
        }
    }
    best.map(|b| b.1).filter(|p| fresh(p))
}

fn gaussian(rng: &mut impl Rng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The best-so-far history of an in-process optimisation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Every observation, in evaluation order.
    pub observations: Vec<Observation>,
    /// Seconds each step (model fit plus proposal) took.
    pub step_seconds: Vec<f64>,
}

impl History {
    /// Lowest feasible objective so far after each evaluation.
    pub fn best_so_far(&self, constraints: &[Bound]) -> Vec<Option<f64>> {
        let mut best: Option<f64> = None;
        self.observations
            .iter()
            .map(|o| {
                if o.is_feasible(constraints) {
                    let v = o.value.unwrap_or(f64::INFINITY);
                    best = Some(best.map_or(v, |b: f64| b.min(v)));
                }
                best
            })
            .collect()
    }
}

/// The whole loop for a function evaluated in-process, `q` points a step:
/// a Latin hypercube of `initial` points, then [`suggest`] until `budget`
/// evaluations. `simforge optimize` runs the same steps with simulator runs
/// in place of `f`; benchmarks and tests use this.
pub fn run_in_process(
    problem: &Problem,
    f: &mut dyn FnMut(&[f64]) -> Observation,
    initial: usize,
    budget: usize,
    q: usize,
    seed: u64,
) -> History {
    let mut history = History::default();
    let n0 = initial.min(budget);
    if n0 > 0 {
        let design = simforge_core::design::lhs::points(n0, problem.dims.len(), seed, 1);
        for i in 0..n0 {
            let u = design.row(i).unwrap_or(&[]).to_vec();
            let p = space::from_unit(&problem.dims, &u);
            history.observations.push(f(&p));
        }
    }
    let mut refits = Refits::default();
    let mut step = 0u64;
    while history.observations.len() < budget {
        let q = q.min(budget - history.observations.len());
        let started = std::time::Instant::now();
        let n = history.observations.len();
        let (warm_start, keep) = refits.plan(n);
        let s = suggest(
            problem,
            &history.observations,
            &[],
            &StepOptions {
                q,
                seed: seed.wrapping_mul(1_000_003).wrapping_add(step),
                warm_start,
                keep_hyperparameters: keep,
            },
        );
        history.step_seconds.push(started.elapsed().as_secs_f64());
        refits.record(n, &s, keep);
        if s.points.is_empty() {
            break;
        }
        for p in &s.points {
            history.observations.push(f(p));
        }
        step += 1;
    }
    history
}

#[cfg(test)]
mod tests;
