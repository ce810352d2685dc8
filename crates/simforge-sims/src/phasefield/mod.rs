//! `phasefield`: the Allen–Cahn and Cahn–Hilliard equations on a 2-D square,
//! periodic or with no-flux walls, by a semi-implicit Fourier-spectral method.
//!
//! Free energy `F[c] = ∫ ρ (c − cα)² (cβ − c)² + κ/2 |∇c|² dA`, the form of PFHub
//! benchmark 1 (Jokisaari et al., Comput. Mater. Sci. 126 (2017) 139–151). The
//! same double well serves both models; for Allen–Cahn the usual
//! `W φ² (1 − φ)²` is `cα = 0`, `cβ = 1`, `ρ = W`.
//!
//! * Cahn–Hilliard (conserved): `∂c/∂t = ∇·(M ∇μ)`, `μ = f'(c) − κ∇²c`.
//! * Allen–Cahn (non-conserved): `∂c/∂t = −M μ`.
//!
//! Time stepping is linearly stabilised semi-implicit Euler (the `solver`
//! submodule), with a fixed step or an adaptive one (see [`simulate`]). Every parameter
//! is optional; the defaults are PFHub benchmark 1 (`M = 5`, `κ = 2`, `ρ = 5`,
//! `cα = 0.3`, `cβ = 0.7`, `c0 = 0.5`, `ε = 0.01` on a 200 × 200 square).
//! The documentation for users is `docs/phasefield.md`.

mod dct;
mod output;
mod solver;
#[cfg(test)]
mod tests;

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::params::{self, Slack, Spec, bad_param, did_you_mean};
use crate::{Metrics, ParamDecl, Params, RunInput, RunOutput, SimError, Simulator};

pub use output::Sample;
use solver::Solver;
pub use solver::{Boundary, Model, Physics, Summary};

/// The `phasefield` builtin: which equation on which boundary. Everything else
/// (material constants, grid, times, initial condition) is a run parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseField {
    /// Evolution equation (option `model`: `cahn_hilliard`, the default, or `allen_cahn`).
    pub model: Model,
    /// Boundary condition (option `boundary`: `periodic`, the default, or `noflux`).
    pub boundary: Boundary,
}

const OPTIONS: &str = "model, boundary";
const MODELS: &str = "cahn_hilliard, allen_cahn";
const BOUNDARIES: &str = "periodic, noflux";

fn bad_option(option: &str, message: impl Into<String>) -> SimError {
    SimError::BadOption {
        option: option.to_string(),
        message: message.into(),
    }
}

fn option_str<'a>(
    options: &'a Map<String, Value>,
    key: &str,
    default: &'a str,
    expected: &str,
) -> Result<&'a str, SimError> {
    match options.get(key) {
        None => Ok(default),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(bad_option(
            key,
            format!("expected one of {expected}, found {other}"),
        )),
    }
}

impl PhaseField {
    /// Builds the simulator from `simulator.options`: `model` (`cahn_hilliard`
    /// or `allen_cahn`, default `cahn_hilliard`) and `boundary` (`periodic` or
    /// `noflux`, default `periodic`). Unknown options are errors.
    pub fn from_options(options: &Map<String, Value>) -> Result<Self, SimError> {
        for key in options.keys() {
            if key != "model" && key != "boundary" {
                return Err(bad_option(
                    key,
                    format!(
                        "unknown option for phasefield; valid options: {OPTIONS}{}",
                        did_you_mean(key, ["model", "boundary"])
                    ),
                ));
            }
        }
        let model = match option_str(options, "model", "cahn_hilliard", MODELS)? {
            "cahn_hilliard" => Model::CahnHilliard,
            "allen_cahn" => Model::AllenCahn,
            other => {
                return Err(bad_option(
                    "model",
                    format!(
                        "unknown model `{other}`; expected one of {MODELS}{}",
                        did_you_mean(other, ["cahn_hilliard", "allen_cahn"])
                    ),
                ));
            }
        };
        let boundary = match option_str(options, "boundary", "periodic", BOUNDARIES)? {
            "periodic" => Boundary::Periodic,
            "noflux" => Boundary::NoFlux,
            other => {
                return Err(bad_option(
                    "boundary",
                    format!(
                        "unknown boundary `{other}`; expected one of {BOUNDARIES}{}",
                        did_you_mean(other, ["periodic", "noflux"])
                    ),
                ));
            }
        };
        Ok(PhaseField { model, boundary })
    }

    fn model_name(&self) -> &'static str {
        match self.model {
            Model::CahnHilliard => "cahn_hilliard",
            Model::AllenCahn => "allen_cahn",
        }
    }

    fn boundary_name(&self) -> &'static str {
        match self.boundary {
            Boundary::Periodic => "periodic",
            Boundary::NoFlux => "noflux",
        }
    }
}

/// Initial conditions, in the order of the `initial` choice.
const INITIALS: &[&str] = &["pfhub1", "noise", "circle"];

/// Bounds of positive material constants.
const POSITIVE: (f64, f64) = (1e-9, 1e9);

/// Every parameter, all optional, with its default. Units are the model's own
/// length, time and energy units; the mobility's depends on the `model`.
fn specs(model: Model) -> Vec<Spec> {
    let mobility = match model {
        Model::CahnHilliard => "length^4/(energy*time)",
        Model::AllenCahn => "length^2/(energy*time)",
    };
    let (length, time) = (Some("length"), Some("time"));
    let energy_density = Some("energy/length^2");
    vec![
        Spec::real("M", 5.0, Some(mobility), POSITIVE, "mobility M"),
        Spec::real(
            "kappa",
            2.0,
            Some("energy"),
            POSITIVE,
            "gradient energy coefficient κ in κ/2 |∇c|²",
        ),
        Spec::real(
            "rho",
            5.0,
            energy_density,
            POSITIVE,
            "height ρ of the double well ρ (c − cα)² (cβ − c)²",
        ),
        Spec::real(
            "c_alpha",
            0.3,
            None,
            (-1e3, 1e3),
            "left minimum cα of the double well",
        ),
        Spec::real(
            "c_beta",
            0.7,
            None,
            (-1e3, 1e3),
            "right minimum cβ of the double well, above cα",
        ),
        Spec::integer("n", 200.0, None, (8.0, 2048.0), "grid points per side"),
        Spec::real(
            "L",
            200.0,
            length,
            (1e-6, 1e9),
            "side length of the square domain",
        ),
        Spec::real("t_end", 1000.0, time, (0.0, 1e9), "simulated time"),
        Spec::real(
            "dt",
            0.1,
            time,
            (1e-9, 1e9),
            "time step; the first step when adaptive",
        ),
        Spec::integer(
            "adaptive",
            1.0,
            None,
            (0.0, 1.0),
            "1: adapt the time step to the free energy and the field change; 0: fixed dt",
        ),
        Spec::real("dt_max", 0.0, time, (1e-9, 1e9), "largest adaptive time step").derived(
            "4/(M·S') for Cahn–Hilliard and 0.02/(M·(S + ρ(cβ − cα)²)) for Allen–Cahn, with S the stabilization and S' = max(S, ρ(cβ − cα)²); 1 and 0.0025 at the defaults",
        ),
        Spec::choice(
            "initial",
            "pfhub1",
            INITIALS,
            "initial condition: pfhub1 (benchmark 1 cosines of amplitude `noise` about c0), noise (c0 plus seeded uniform noise in ±noise), circle (disc of cβ of radius `radius` in cα)",
        ),
        Spec::real(
            "c0",
            0.5,
            None,
            (-1e3, 1e3),
            "mean initial composition for pfhub1 and noise",
        ),
        Spec::real(
            "noise",
            0.01,
            None,
            (0.0, 1e3),
            "perturbation amplitude: ε of pfhub1, or the half-width of the uniform noise",
        ),
        Spec::real(
            "radius",
            0.0,
            length,
            (0.0, 1e9),
            "radius of the circle initial condition",
        )
        .derived("L/4"),
        Spec::real(
            "energy_drop",
            0.5,
            None,
            (0.0, 1.0),
            "relative drop of the free energy whose time is reported as time_to_energy_drop",
        ),
        Spec::real(
            "output_every",
            0.0,
            time,
            (0.0, 1e9),
            "time between rows of series.csv; 0: every step",
        )
        .derived("t_end/100"),
        Spec::real(
            "stabilization",
            0.0,
            energy_density,
            (0.0, 1e12),
            "stabilisation constant S of the scheme; 0: plain semi-implicit",
        )
        .derived("ρ (cβ − cα)², i.e. max |f''|/2 on [cα, cβ]"),
    ]
}

/// Most time steps a fixed-step run may ask for.
const MAX_FIXED_STEPS: f64 = 1e8;
/// Most rows `series.csv` may get from `output_every`.
const MAX_SAMPLES: f64 = 1e7;

/// Adaptive stepping: a step is rejected (and retried at half the size) if it
/// raises the free energy by more than this fraction of `|F| + F_b` (round-off),
/// with `F_b = ρ (cβ − cα)⁴/16 · L²` the barrier energy of the whole square (a
/// floor for fields with almost no free energy) ...
const ENERGY_RISE_TOL: f64 = 1e-10;
/// ... or if its relative change `max|Δc| / max|c − c̄|` exceeds this.
const CHANGE_MAX: f64 = 0.05;
/// Floor of `max|c − c̄|` in the relative change, as a fraction of `cβ − cα`
/// (so that a nearly uniform field does not stall the step size).
const AMPLITUDE_FLOOR: f64 = 1e-3;
/// An accepted step whose relative change is below `CHANGE_MAX / 2` grows the
/// next one by this factor.
const GROWTH: f64 = 1.2;
/// Default largest Cahn–Hilliard step, times `M·max(S, ρ(cβ − cα)²)`: the
/// stabilised scheme slows a composition wave of wavenumber `k` by the factor
/// `1/(1 + Δt M S k²)`, which this keeps below about 10 % for wavelengths above
/// 40 (the PFHub benchmark 1 microstructure after t ≈ 100) at the defaults.
const CH_DT_MAX: f64 = 4.0;
/// Default largest Allen–Cahn step, times `M·(S + ρ(cβ − cα)²)`: the scheme's
/// O(Δt) error slows interfaces by a fraction of order `Δt M (S + ρ(cβ − cα)²)`,
/// which this keeps near 1 % (measured on the shrinking circle).
const AC_DT_MAX: f64 = 0.02;
/// The step may shrink to this fraction of the initial `dt` before the run fails.
const MIN_DT_FRACTION: f64 = 1e-9;

/// Initial condition of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Initial {
    /// PFHub benchmark 1: `c0 + ε[cos(0.105x)cos(0.11y) + (cos(0.13x)cos(0.087y))²
    /// + cos(0.025x − 0.15y)cos(0.07x − 0.02y)]`.
    Pfhub1 {
        /// Mean composition `c0`.
        c0: f64,
        /// Amplitude `ε`.
        epsilon: f64,
    },
    /// `c0` plus independent uniform noise in `[−amplitude, amplitude]`, seeded.
    Noise {
        /// Mean composition.
        c0: f64,
        /// Half-width of the noise.
        amplitude: f64,
        /// Seed of the ChaCha8 generator.
        seed: u64,
    },
    /// A disc of `cβ` in `cα`, centred, with the equilibrium tanh interface.
    Circle {
        /// Radius of the `c = (cα + cβ)/2` contour.
        radius: f64,
    },
}

/// Everything one simulation needs, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Equation and material constants.
    pub physics: Physics,
    /// Boundary condition.
    pub boundary: Boundary,
    /// Grid points per side.
    pub n: usize,
    /// Side length of the square.
    pub length: f64,
    /// Simulated time.
    pub t_end: f64,
    /// Fixed step, or first step when adaptive.
    pub dt: f64,
    /// Adapt the step.
    pub adaptive: bool,
    /// Largest adaptive step.
    pub dt_max: f64,
    /// Initial field.
    pub initial: Initial,
    /// Relative free-energy drop to time.
    pub energy_drop: f64,
    /// Time between samples (0: every step).
    pub output_every: f64,
}

/// What one simulation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Samples at `t = 0, output_every, 2·output_every, …` and `t_end`.
    pub samples: Vec<Sample>,
    /// Summary of the initial field.
    pub initial: Summary,
    /// Summary of the final field.
    pub last: Summary,
    /// Accepted steps.
    pub steps: u64,
    /// Rejected (retried) adaptive steps.
    pub rejected: u64,
    /// Final time.
    pub t: f64,
    /// Time at which `F ≤ (1 − energy_drop) F(0)` was first reached, interpolated
    /// linearly within the step.
    pub time_to_drop: Option<f64>,
    /// Largest rise of the free energy over one accepted step, relative to `|F(0)|`
    /// (≤ 0 when the energy never rose).
    pub max_energy_rise: f64,
    /// Final field, `n × n`, row-major (`[y][x]`).
    pub field: Vec<f64>,
}

impl PhaseField {
    /// Validates the parameters of one run (all optional; defaults are PFHub
    /// benchmark 1) into a [`Config`].
    pub fn config(&self, params: &Params, seed: u64) -> Result<Config, SimError> {
        // Real bounds are held exactly: the 1e-9 lower bounds stand for "positive".
        let p = params::parse("phasefield", &specs(self.model), params, Slack::Exact)?;
        let mobility = p.num("M")?;
        let kappa = p.num("kappa")?;
        let rho = p.num("rho")?;
        let c_alpha = p.num("c_alpha")?;
        let c_beta = p.num("c_beta")?;
        if c_beta <= c_alpha {
            return Err(bad_param(
                "c_beta",
                format!("must exceed c_alpha ({c_beta} ≤ {c_alpha})"),
            ));
        }
        let n = p.count("n")?;
        let boundary = self.boundary;
        let length = p.num("L")?;
        let t_end = p.num("t_end")?;
        let dt = p.num("dt")?;
        let adaptive = p.flag("adaptive")?;
        if !adaptive && t_end / dt > MAX_FIXED_STEPS {
            return Err(bad_param(
                "dt",
                format!(
                    "t_end/dt = {:.3e} steps exceeds the limit of {MAX_FIXED_STEPS:e}; use a larger dt or adaptive = 1",
                    t_end / dt
                ),
            ));
        }
        let c0 = p.num("c0")?;
        let noise = p.num("noise")?;
        let initial = match p.text("initial")? {
            "noise" => Initial::Noise {
                c0,
                amplitude: noise,
                seed,
            },
            "circle" => Initial::Circle {
                radius: p.auto("radius")?.unwrap_or(length / 4.0),
            },
            _ => Initial::Pfhub1 { c0, epsilon: noise },
        };
        let energy_drop = p.num("energy_drop")?;
        let output_every = p.auto("output_every")?.unwrap_or(t_end / 100.0);
        if output_every > 0.0 && t_end / output_every > MAX_SAMPLES {
            return Err(bad_param(
                "output_every",
                format!(
                    "t_end/output_every = {:.3e} rows exceeds the limit of {MAX_SAMPLES:e}",
                    t_end / output_every
                ),
            ));
        }
        let curvature = Physics::default_stabilization(rho, c_alpha, c_beta);
        let stabilization = p.auto("stabilization")?.unwrap_or(curvature);
        let dt_max = p.auto("dt_max")?.unwrap_or(match self.model {
            Model::CahnHilliard => CH_DT_MAX / (mobility * stabilization.max(curvature)),
            Model::AllenCahn => AC_DT_MAX / (mobility * (stabilization + curvature)),
        });
        Ok(Config {
            physics: Physics {
                model: self.model,
                mobility,
                kappa,
                rho,
                c_alpha,
                c_beta,
                stabilization,
            },
            boundary,
            n,
            length,
            t_end,
            dt,
            adaptive,
            dt_max,
            initial,
            energy_drop,
            output_every,
        })
    }
}

/// The initial field on the `n × n` cell-centred grid.
pub fn initial_field(cfg: &Config) -> Vec<f64> {
    let n = cfg.n;
    let dx = cfg.length / n as f64;
    let at = |i: usize| (i as f64 + 0.5) * dx;
    let p = &cfg.physics;
    match cfg.initial {
        Initial::Pfhub1 { c0, epsilon } => (0..n * n)
            .map(|k| {
                let (x, y) = (at(k % n), at(k / n));
                let a = (0.13 * x).cos() * (0.087 * y).cos();
                c0 + epsilon
                    * ((0.105 * x).cos() * (0.11 * y).cos()
                        + a * a
                        + (0.025 * x - 0.15 * y).cos() * (0.07 * x - 0.02 * y).cos())
            })
            .collect(),
        Initial::Noise {
            c0,
            amplitude,
            seed,
        } => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..n * n)
                .map(|_| c0 + amplitude * (2.0 * rng.random::<f64>() - 1.0))
                .collect()
        }
        Initial::Circle { radius } => {
            let centre = 0.5 * cfg.length;
            let w = p.interface_width();
            let (mid, half) = (0.5 * (p.c_alpha + p.c_beta), 0.5 * (p.c_beta - p.c_alpha));
            (0..n * n)
                .map(|k| {
                    let r = (at(k % n) - centre).hypot(at(k / n) - centre);
                    mid + half * ((radius - r) / w).tanh()
                })
                .collect()
        }
    }
}

/// Runs one simulation.
///
/// Fixed steps (`adaptive` off) are `dt` long, shortened only to land on each
/// sample time and on `t_end`. Adaptive steps start at `dt`; a trial step is
/// rejected and retried at half the size if the field becomes non-finite, if
/// the free energy would rise, or if its relative change
/// `max|Δc| / max|c − c̄|` exceeds 0.05; after a step that changed the field by
/// less than half that, the next is 1.2 times longer, up to `dt_max`. The
/// relative change resolves the exponential growth of spinodal decomposition;
/// `dt_max` bounds the stabilisation's O(Δt) slow-down during coarsening.
pub fn simulate(cfg: &Config) -> Result<Outcome, SimError> {
    let mut solver = Solver::new(
        cfg.physics,
        cfg.boundary,
        cfg.n,
        cfg.length,
        &initial_field(cfg),
    )?;
    let first = solver.summary();
    if !first.free_energy.is_finite() {
        return Err(SimError::Failed(format!(
            "the initial free energy is not finite ({})",
            first.free_energy
        )));
    }
    let sample = |t: f64, s: &Summary| Sample {
        t,
        free_energy: s.free_energy,
        mean_c: s.mean,
        beta_fraction: s.beta_fraction,
    };
    let f0 = first.free_energy;
    let target = (1.0 - cfg.energy_drop) * f0;
    let mut time_to_drop = (f0 <= target).then_some(0.0);
    let mut samples = vec![sample(0.0, &first)];
    let mut current = first;
    let (mut t, mut steps, mut rejected) = (0.0_f64, 0_u64, 0_u64);
    let mut dt = cfg.dt;
    let dt_min = cfg.dt * MIN_DT_FRACTION;
    let mut max_rise = f64::NEG_INFINITY;
    let mut next_sample: u64 = 1;
    let contrast = cfg.physics.c_beta - cfg.physics.c_alpha;
    let energy_floor = cfg.physics.rho * contrast.powi(4) / 16.0 * cfg.length * cfg.length;
    // Time is advanced as a sum; a remainder below this counts as arrived.
    let eps = 1e-12 * cfg.t_end.max(cfg.dt);
    while cfg.t_end - t > eps {
        let stop = if cfg.output_every > 0.0 {
            (next_sample as f64 * cfg.output_every).min(cfg.t_end)
        } else {
            cfg.t_end
        };
        let step = if cfg.adaptive { dt.min(cfg.dt_max) } else { dt };
        let clipped = stop - t < step;
        let h = if clipped { stop - t } else { step };
        let scale = if cfg.adaptive {
            solver.amplitude().max(AMPLITUDE_FLOOR * contrast)
        } else {
            1.0
        };
        let (trial, change) = solver.try_step(h)?;
        let change = change / scale;
        let finite = trial.free_energy.is_finite() && change.is_finite();
        let rise = trial.free_energy - current.free_energy;
        if cfg.adaptive
            && (!finite
                || rise > ENERGY_RISE_TOL * (current.free_energy.abs() + energy_floor)
                || change > CHANGE_MAX)
        {
            rejected += 1;
            dt = h / 2.0;
            if dt < dt_min {
                return Err(SimError::Failed(format!(
                    "the adaptive time step fell below {dt_min:e} at t = {t} (step {steps}): \
                     the free energy keeps rising or the field keeps jumping; \
                     check the parameters (e.g. a much smaller initial dt)"
                )));
            }
            continue;
        }
        if !finite {
            return Err(SimError::Failed(format!(
                "the field became non-finite (NaN or infinite) in the step from t = {t} \
                 (step {}): the time step dt = {h} is unstable for these parameters; \
                 use a smaller dt, adaptive = 1, or the default stabilization",
                steps + 1
            )));
        }
        solver.accept();
        steps += 1;
        if time_to_drop.is_none() && trial.free_energy <= target {
            let frac = (current.free_energy - target) / (current.free_energy - trial.free_energy);
            time_to_drop = Some(t + h * frac.clamp(0.0, 1.0));
        }
        max_rise = max_rise.max(rise);
        t = if clipped { stop } else { t + h };
        current = trial;
        if cfg.adaptive && !clipped && change < 0.5 * CHANGE_MAX {
            dt = (h * GROWTH).min(cfg.dt_max);
        }
        if cfg.output_every == 0.0 || stop - t <= eps {
            samples.push(sample(t, &current));
            if cfg.output_every > 0.0 {
                next_sample += 1;
            }
        }
    }
    if samples.last().is_some_and(|s| s.t < t) {
        samples.push(sample(t, &current));
    }
    Ok(Outcome {
        samples,
        initial: first,
        last: current,
        steps,
        rejected,
        t,
        time_to_drop,
        max_energy_rise: if f0 != 0.0 {
            max_rise / f0.abs()
        } else {
            max_rise
        },
        field: solver.field(),
    })
}

fn number(name: &str, v: f64) -> Result<Value, SimError> {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| SimError::Failed(format!("metric {name} is not finite ({v})")))
}

/// Metrics every run reports.
const METRICS: &[&str] = &[
    "free_energy_initial",
    "free_energy_final",
    "mean_c_final",
    "relative_mass_drift",
    "beta_fraction_final",
    "steps",
    "steps_rejected",
    "t_final",
];

fn write_artifacts(dir: &Path, n: usize, out: &Outcome) -> Result<Vec<String>, SimError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        SimError::Failed(format!(
            "cannot create run directory {}: {e}",
            dir.display()
        ))
    })?;
    output::write_series(&dir.join("series.csv"), &out.samples)?;
    output::write_field_npy(&dir.join("field.npy"), n, &out.field)?;
    output::write_field_png(&dir.join("field.png"), n, &out.field)?;
    Ok(vec![
        "series.csv".into(),
        "field.npy".into(),
        "field.png".into(),
    ])
}

impl Simulator for PhaseField {
    fn identity(&self) -> String {
        format!(
            "phasefield/{}(boundary={})",
            self.model_name(),
            self.boundary_name()
        )
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn parameters(&self) -> Vec<ParamDecl> {
        specs(self.model).iter().map(Spec::decl).collect()
    }

    fn metrics(&self) -> Vec<String> {
        METRICS.iter().map(|m| m.to_string()).collect()
    }

    fn run(&self, input: &RunInput<'_>) -> Result<RunOutput, SimError> {
        let cfg = self.config(input.params, input.seed)?;
        let out = simulate(&cfg)?;
        let artifacts = write_artifacts(input.workdir, cfg.n, &out)?;
        let mean0 = out.initial.mean;
        let drift = out.last.mean - mean0;
        let relative_drift = if mean0 != 0.0 {
            drift / mean0.abs()
        } else {
            drift
        };
        let mut metrics = Metrics::new();
        for (name, v) in [
            ("free_energy_initial", out.initial.free_energy),
            ("free_energy_final", out.last.free_energy),
            ("mean_c_final", out.last.mean),
            ("relative_mass_drift", relative_drift),
            ("beta_fraction_final", out.last.beta_fraction),
            ("t_final", out.t),
        ] {
            metrics.insert(name.into(), number(name, v)?);
        }
        metrics.insert("steps".into(), Value::from(out.steps));
        metrics.insert("steps_rejected".into(), Value::from(out.rejected));
        if let Some(t) = out.time_to_drop {
            metrics.insert(
                "time_to_energy_drop".into(),
                number("time_to_energy_drop", t)?,
            );
        }
        Ok(RunOutput { metrics, artifacts })
    }
}
