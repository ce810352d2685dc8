//! PDE data generators: pseudo-spectral solvers on periodic domains that write
//! the solution u(x, t) (and v for two-field systems) as a NumPy `.npz` data
//! set, with optional measurement noise, for equation discovery in the style of
//! PDE-FIND (Rudy, Brunton, Proctor & Kutz 2017, *Data-driven discovery of
//! partial differential equations*, Science Advances 3:e1602614).
//!
//! Each PDE is its own builtin: `burgers`, `kdv`, `heat`, `reaction_diffusion`
//! (the λ–ω system of PDE-FIND, in 2-D) and `kuramoto_sivashinsky`. All share
//! one spectral core (`spectral`: FFTs, wavenumbers, dealiasing, ETDRK4 with
//! Kassam–Trefethen coefficients), the crate's parameter tables and reader
//! (`crate::params`), one noise function and one writer; each PDE file only
//! states its equation, parameters, initial conditions and extra diagnostics.
//! See `docs/pde.md`.

mod burgers;
mod common;
mod heat;
mod kdv;
mod ks;
mod reaction_diffusion;
pub(crate) mod spectral;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::params::{self, Slack, Spec, Values, bad_param};
use crate::{Metrics, ParamDecl, RunInput, RunOutput, SimError, Simulator};
use common::put;
use spectral::{Grid, Problem, Schedule, Solution, SolveError};

/// Names of the PDE builtins.
pub const NAMES: &[&str] = &[
    "burgers",
    "kdv",
    "heat",
    "reaction_diffusion",
    "kuramoto_sivashinsky",
];

/// Builds the PDE builtin `name` from the study's `simulator.options`;
/// `None` when `name` is not a PDE.
pub fn builtin(
    name: &str,
    options: &Map<String, Value>,
) -> Option<Result<Box<dyn Simulator>, SimError>> {
    let kind = Kind::from_name(name)?;
    Some(Pde::from_options(kind, options).map(|p| Box::new(p) as Box<dyn Simulator>))
}

/// Which PDE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Viscous Burgers: u_t + u u_x = ν u_xx.
    Burgers,
    /// Korteweg–de Vries: u_t + α u u_x + β u_xxx = 0.
    Kdv,
    /// Heat (diffusion): u_t = α u_xx.
    Heat,
    /// λ–ω reaction–diffusion in 2-D (u and v).
    ReactionDiffusion,
    /// Kuramoto–Sivashinsky: u_t + u u_x + α u_xx + β u_xxxx = 0.
    KuramotoSivashinsky,
}

/// What a PDE module hands the driver.
pub(crate) struct Setup {
    /// The problem to integrate.
    pub problem: Problem,
    /// Time step used when `dt` is not given (before fitting the snapshot interval).
    pub auto_dt: f64,
}

/// Metrics every PDE reports.
const COMMON_METRICS: &[&str] = &[
    "mass_start",
    "mass_end",
    "mass_drift",
    "l2_start",
    "l2_end",
    "max_abs",
    "max_abs_final",
    "steps",
    "dt",
    "noise_sd",
    "spectral_tail",
];

/// Most values (snapshots × points × fields) one data set may hold: 200 MB
/// of `f64`, held up to three times (clean, noisy, and the file buffer).
const MAX_VALUES: usize = 25_000_000;

impl Kind {
    /// The kind called `name` in study files.
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "burgers" => Kind::Burgers,
            "kdv" => Kind::Kdv,
            "heat" => Kind::Heat,
            "reaction_diffusion" => Kind::ReactionDiffusion,
            "kuramoto_sivashinsky" => Kind::KuramotoSivashinsky,
            _ => return None,
        })
    }

    /// Builtin name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Burgers => "burgers",
            Kind::Kdv => "kdv",
            Kind::Heat => "heat",
            Kind::ReactionDiffusion => "reaction_diffusion",
            Kind::KuramotoSivashinsky => "kuramoto_sivashinsky",
        }
    }

    /// The equation solved, in the parameters' names.
    pub fn equation(self) -> &'static str {
        match self {
            Kind::Burgers => burgers::EQUATION,
            Kind::Kdv => kdv::EQUATION,
            Kind::Heat => heat::EQUATION,
            Kind::ReactionDiffusion => reaction_diffusion::EQUATION,
            Kind::KuramotoSivashinsky => ks::EQUATION,
        }
    }

    /// Whether the PDE has a nonlinear term (and so takes the `dealias` option).
    pub fn is_nonlinear(self) -> bool {
        self != Kind::Heat
    }

    fn specs(self) -> Vec<Spec> {
        match self {
            Kind::Burgers => burgers::specs(),
            Kind::Kdv => kdv::specs(),
            Kind::Heat => heat::specs(),
            Kind::ReactionDiffusion => reaction_diffusion::specs(),
            Kind::KuramotoSivashinsky => ks::specs(),
        }
    }

    fn grid(self, p: &Values) -> Result<Grid, SimError> {
        match self {
            Kind::ReactionDiffusion => reaction_diffusion::grid(p),
            _ => common::line_grid(p),
        }
    }

    fn setup(self, p: &Values, grid: &Grid, dealias: bool) -> Result<Setup, SimError> {
        match self {
            Kind::Burgers => burgers::setup(p, grid, dealias),
            Kind::Kdv => kdv::setup(p, grid, dealias),
            Kind::Heat => heat::setup(p, grid),
            Kind::ReactionDiffusion => reaction_diffusion::setup(p, grid, dealias),
            Kind::KuramotoSivashinsky => ks::setup(p, grid, dealias),
        }
    }

    fn field_names(self) -> &'static [&'static str] {
        match self {
            Kind::ReactionDiffusion => &["u", "v"],
            _ => &["u"],
        }
    }

    fn extra_metric_names(self) -> &'static [&'static str] {
        match self {
            Kind::Burgers => burgers::EXTRA_METRICS,
            Kind::Kdv => kdv::EXTRA_METRICS,
            Kind::Heat => &[],
            Kind::ReactionDiffusion => reaction_diffusion::EXTRA_METRICS,
            Kind::KuramotoSivashinsky => ks::EXTRA_METRICS,
        }
    }

    fn extra_metrics(
        self,
        p: &Values,
        grid: &Grid,
        sol: &Solution,
        m: &mut Metrics,
    ) -> Result<(), SimError> {
        match self {
            Kind::Burgers => burgers::extra_metrics(grid, sol, m),
            Kind::Kdv => kdv::extra_metrics(p, grid, sol, m),
            Kind::Heat => Ok(()),
            Kind::ReactionDiffusion => reaction_diffusion::extra_metrics(grid, sol, m),
            Kind::KuramotoSivashinsky => ks::extra_metrics(grid, sol, m),
        }
    }
}

/// Simulator-level options (`simulator.options` in a study).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Dealias the nonlinear term (2/3 rule for quadratic terms, 1/2 rule for
    /// the cubic terms of `reaction_diffusion`). Default true; ignored by `heat`.
    pub dealias: bool,
    /// Most time steps one run may take; a point needing more fails with
    /// `BadParam` before it starts. Guards cost only, so it is not part of the
    /// identity. Default 2 000 000.
    pub max_steps: u64,
    /// With noise, also write the clean fields as `u_clean` (and `v_clean`).
    /// Default false.
    pub save_clean: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dealias: true,
            max_steps: 2_000_000,
            save_clean: false,
        }
    }
}

/// A PDE builtin: one [`Kind`] with its [`Options`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pde {
    /// Which PDE.
    pub kind: Kind,
    /// Its options.
    pub options: Options,
}

fn bad_option(option: &str, message: impl Into<String>) -> SimError {
    SimError::BadOption {
        option: option.to_string(),
        message: message.into(),
    }
}

impl Pde {
    /// Builds the builtin from `simulator.options`; unknown options are errors.
    pub fn from_options(kind: Kind, options: &Map<String, Value>) -> Result<Pde, SimError> {
        let known: &[&str] = if kind.is_nonlinear() {
            &["dealias", "max_steps", "save_clean"]
        } else {
            &["max_steps", "save_clean"]
        };
        let mut o = Options::default();
        for (key, value) in options {
            let flag = || {
                value.as_bool().ok_or_else(|| {
                    bad_option(key, format!("expected true or false, found {value}"))
                })
            };
            match key.as_str() {
                "dealias" if kind.is_nonlinear() => o.dealias = flag()?,
                "save_clean" => o.save_clean = flag()?,
                "max_steps" => {
                    o.max_steps = value
                        .as_f64()
                        .filter(|v| v.fract() == 0.0 && (1.0..=1e12).contains(v))
                        .ok_or_else(|| {
                            bad_option(
                                key,
                                format!("expected a whole number from 1 to 1e12, found {value}"),
                            )
                        })? as u64;
                }
                _ => {
                    return Err(bad_option(
                        key,
                        format!(
                            "unknown option of {}; known options: {} (dealias: true/false, \
                             max_steps: a whole number, save_clean: true/false)",
                            kind.name(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(Pde { kind, options: o })
    }

    /// Fits the time step to the snapshot interval and checks the cost.
    fn schedule(
        &self,
        p: &Values,
        auto_dt: f64,
        grid: &Grid,
        fields: usize,
    ) -> Result<Schedule, SimError> {
        let t_end = p.num("t_end")?;
        let snapshots = p.count("snapshots")?;
        let values = snapshots
            .saturating_mul(grid.points())
            .saturating_mul(fields);
        if values > MAX_VALUES {
            return Err(bad_param(
                "snapshots",
                format!(
                    "{snapshots} snapshots of {} points × {fields} field(s) make {values} values, \
                     more than the {MAX_VALUES} a data set may hold; save fewer snapshots or use a coarser grid",
                    grid.points()
                ),
            ));
        }
        let interval = t_end / (snapshots - 1) as f64;
        let given = p.auto("dt")?;
        let wanted = match given {
            Some(dt) => {
                if dt > interval * (1.0 + 1e-9) {
                    return Err(bad_param(
                        "snapshots",
                        format!(
                            "{snapshots} snapshots over t_end = {t_end} are {interval:.6e} apart, less than \
                             one time step dt = {dt}: there would be more snapshots than steps; \
                             save fewer snapshots or lower dt"
                        ),
                    ));
                }
                dt
            }
            None => auto_dt.min(interval),
        };
        if !(wanted > 0.0 && wanted.is_finite()) {
            return Err(SimError::Failed(format!(
                "internal error: time step {wanted} is not a positive number"
            )));
        }
        let per = (interval / wanted - 1e-9).ceil().max(1.0);
        let steps = per * (snapshots - 1) as f64;
        if steps > self.options.max_steps as f64 {
            let (param, what) = match given {
                Some(_) => ("dt", "the given dt"),
                None => ("t_end", "the automatic dt"),
            };
            return Err(bad_param(
                param,
                format!(
                    "t_end = {t_end} needs {steps:.0} steps of {what} ({:.3e}), more than the \
                     option max_steps = {}; shorten t_end, raise dt or raise max_steps",
                    interval / per,
                    self.options.max_steps
                ),
            ));
        }
        Ok(Schedule {
            t_end,
            dt: interval / per,
            steps_per_snapshot: per as usize,
            snapshots,
        })
    }

    fn blow_up_message(
        &self,
        e: SolveError,
        schedule: &Schedule,
        auto_dt: f64,
        given: bool,
    ) -> SimError {
        match e {
            SolveError::Sim(e) => e,
            SolveError::BlowUp {
                time,
                step,
                max_abs,
                limit,
            } => {
                let what = if max_abs.is_finite() {
                    format!("max|u| = {max_abs:.3e} exceeded {limit:.1e}")
                } else {
                    "the solution became non-finite".to_string()
                };
                let hint = if given {
                    format!(
                        "the given dt = {} is probably too large for this grid and amplitude \
                         (without dt the solver would use {:.3e}); lower dt",
                        schedule.dt,
                        auto_dt.min(schedule.t_end / (schedule.snapshots - 1).max(1) as f64)
                    )
                } else {
                    format!(
                        "dt = {:.3e} was chosen automatically; give a smaller dt, or check the \
                         parameters (an ill-posed or under-resolved problem blows up at any dt)",
                        schedule.dt
                    )
                };
                SimError::Failed(format!(
                    "{} blew up at t ≈ {time:.6} (step {step}): {what}; {hint}",
                    self.kind.name()
                ))
            }
        }
    }
}

impl Simulator for Pde {
    fn identity(&self) -> String {
        let dealias = if self.kind.is_nonlinear() {
            format!("dealias={},", self.options.dealias)
        } else {
            String::new()
        };
        format!(
            "pde/{}({dealias}save_clean={})",
            self.kind.name(),
            self.options.save_clean
        )
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn parameters(&self) -> Vec<ParamDecl> {
        self.kind.specs().iter().map(Spec::decl).collect()
    }

    fn metrics(&self) -> Vec<String> {
        COMMON_METRICS
            .iter()
            .chain(self.kind.extra_metric_names())
            .map(|s| s.to_string())
            .collect()
    }

    fn run(&self, input: &RunInput<'_>) -> Result<RunOutput, SimError> {
        let kind = self.kind;
        let p = params::parse(kind.name(), &kind.specs(), input.params, Slack::Rounding)?;
        let grid = kind.grid(&p)?;
        let setup = kind.setup(&p, &grid, self.options.dealias)?;
        let fields = setup.problem.fields;
        let schedule = self.schedule(&p, setup.auto_dt, &grid, fields)?;
        let limit = 1e6 * common::max_abs(&setup.problem.initial).max(1.0);
        let given_dt = p.auto("dt")?.is_some();
        let sol = spectral::solve(&grid, setup.problem, &schedule, limit)
            .map_err(|e| self.blow_up_message(e, &schedule, setup.auto_dt, given_dt))?;

        // Metrics, from the clean solution.
        let points = grid.points();
        let nt = sol.t.len();
        let u = &sol.data[0];
        let first = &u[..points];
        let last = &u[(nt - 1) * points..];
        let mut m = Metrics::new();
        let (m0, m1) = (
            common::integral(&grid, first),
            common::integral(&grid, last),
        );
        let scale = first.iter().map(|v| v.abs()).sum::<f64>() * grid.cell();
        put(&mut m, "mass_start", m0)?;
        put(&mut m, "mass_end", m1)?;
        put(
            &mut m,
            "mass_drift",
            (m1 - m0).abs() / if scale > 0.0 { scale } else { 1.0 },
        )?;
        put(&mut m, "l2_start", common::l2(&grid, first))?;
        put(&mut m, "l2_end", common::l2(&grid, last))?;
        put(&mut m, "max_abs", common::max_abs(u))?;
        put(&mut m, "max_abs_final", common::max_abs(last))?;
        put(&mut m, "steps", sol.steps as f64)?;
        put(&mut m, "dt", schedule.dt)?;
        put(&mut m, "spectral_tail", sol.spectral_tail)?;
        kind.extra_metrics(&p, &grid, &sol, &mut m)?;

        // Noise, only on what is written.
        let level = p.num("noise")?;
        let seed = p.auto("noise_seed")?.map_or(input.seed, |s| s as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let names = kind.field_names();
        let mut noisy: Vec<Vec<f64>> = Vec::new();
        let mut noise_sd = Map::new();
        for (name, clean) in names.iter().zip(&sol.data) {
            let mut data = clean.clone();
            let sd = common::add_noise(&mut data, level, &mut rng);
            let metric = if *name == "u" {
                "noise_sd".to_string()
            } else {
                format!("noise_sd_{name}")
            };
            put(&mut m, &metric, sd)?;
            noise_sd.insert(name.to_string(), json!(sd));
            noisy.push(data);
        }
        let mut arrays: Vec<(String, &[f64])> = names
            .iter()
            .zip(&noisy)
            .map(|(n, d)| (n.to_string(), d.as_slice()))
            .collect();
        if self.options.save_clean && level > 0.0 {
            for (n, d) in names.iter().zip(&sol.data) {
                arrays.push((format!("{n}_clean"), d.as_slice()));
            }
        }

        std::fs::create_dir_all(input.workdir).map_err(|e| {
            SimError::Failed(format!("cannot create {}: {e}", input.workdir.display()))
        })?;
        let named: Vec<(&str, &[f64])> = arrays.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let data_file = common::write_data(input.workdir, &grid, &sol.t, &named)?;
        let shape: Vec<usize> = if grid.is_2d() {
            vec![nt, grid.ny, grid.nx]
        } else {
            vec![nt, grid.nx]
        };
        let meta = json!({
            "pde": kind.name(),
            "equation": kind.equation(),
            "identity": self.identity(),
            "version": self.version(),
            "params": Value::Object(p.to_json()),
            "dt": schedule.dt,
            "steps": sol.steps,
            "steps_per_snapshot": schedule.steps_per_snapshot,
            "noise_seed": seed,
            "noise_sd": Value::Object(noise_sd),
            "arrays": named.iter().map(|(n, _)| (n.to_string(), json!(shape))).collect::<Map<_, _>>(),
        });
        let meta_file = common::write_meta(input.workdir, &meta)?;
        Ok(RunOutput {
            metrics: m,
            artifacts: vec![data_file, meta_file],
        })
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
