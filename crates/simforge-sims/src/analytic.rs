//! `analytic`: standard test functions from the uncertainty-quantification and
//! optimisation literature, with known answers, for validating designs,
//! sensitivity analysis and optimisers.
//!
//! Formulas and domains follow Surjanovic & Bingham, *Virtual Library of
//! Simulation Experiments* (SFU), unless noted.

use std::f64::consts::PI;

use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::{Metrics, ParamDecl, ParamKind, RunInput, RunOutput, SimError, Simulator};

/// The test functions.
#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    /// Ishigami & Homma (1990): sin x1 + a sin² x2 + b x3⁴ sin x1 on [-π, π]³.
    Ishigami {
        /// Coefficient a (7 in the usual setting).
        a: f64,
        /// Coefficient b (0.1 in the usual setting).
        b: f64,
    },
    /// Sobol' G function (Saltelli & Sobol' 1995): Π (|4xᵢ − 2| + aᵢ)/(1 + aᵢ) on [0, 1]ⁿ.
    SobolG {
        /// One non-negative coefficient per input; small values mean important inputs.
        a: Vec<f64>,
    },
    /// Branin–Hoo, two inputs, three global minima of 0.397887.
    Branin,
    /// Hartmann 6-D, global minimum −3.32237.
    Hartmann6,
    /// Rosenbrock's valley in `dims` dimensions, minimum 0 at (1, …, 1).
    Rosenbrock {
        /// Number of inputs (≥ 2).
        dims: usize,
    },
    /// Borehole water flow (Harper & Gupta 1983), 8 physical inputs, m³/yr.
    Borehole,
}

/// The `analytic` builtin: one test function plus optional seeded noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Analytic {
    /// Which function.
    pub function: Function,
    /// Standard deviation of additive Gaussian noise (0: deterministic).
    pub noise_sd: f64,
}

const BOREHOLE: [(&str, f64, f64, &str, &str); 8] = [
    ("rw", 0.05, 0.15, "m", "radius of the borehole"),
    ("r", 100.0, 50000.0, "m", "radius of influence"),
    (
        "Tu",
        63070.0,
        115600.0,
        "m²/yr",
        "transmissivity of the upper aquifer",
    ),
    (
        "Hu",
        990.0,
        1110.0,
        "m",
        "potentiometric head of the upper aquifer",
    ),
    (
        "Tl",
        63.1,
        116.0,
        "m²/yr",
        "transmissivity of the lower aquifer",
    ),
    (
        "Hl",
        700.0,
        820.0,
        "m",
        "potentiometric head of the lower aquifer",
    ),
    ("L", 1120.0, 1680.0, "m", "length of the borehole"),
    (
        "Kw",
        9855.0,
        12045.0,
        "m/yr",
        "hydraulic conductivity of the borehole",
    ),
];

const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const HARTMANN_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HARTMANN_P: [[f64; 6]; 4] = [
    [1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0],
    [2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0],
    [2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0],
    [4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0],
];

fn bad(option: &str, message: impl Into<String>) -> SimError {
    SimError::BadOption {
        option: option.to_string(),
        message: message.into(),
    }
}

fn number(options: &Map<String, Value>, key: &str, default: f64) -> Result<f64, SimError> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| bad(key, format!("expected a number, found {v}"))),
    }
}

impl Analytic {
    /// Builds the simulator from `simulator.options`.
    pub fn from_options(options: &Map<String, Value>) -> Result<Self, SimError> {
        let name = match options.get("function") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(bad(
                    "function",
                    format!("expected a function name, found {other}"),
                ));
            }
            None => {
                return Err(bad(
                    "function",
                    "missing; expected one of ishigami, sobol_g, branin, hartmann6, rosenbrock, borehole",
                ));
            }
        };
        let (function, allowed): (Function, &[&str]) = match name {
            "ishigami" => (
                Function::Ishigami {
                    a: number(options, "a", 7.0)?,
                    b: number(options, "b", 0.1)?,
                },
                &["a", "b"],
            ),
            "sobol_g" => {
                let a = match options.get("a") {
                    Some(Value::Array(items)) if !items.is_empty() => items
                        .iter()
                        .map(|v| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0))
                        .collect::<Option<Vec<f64>>>()
                        .ok_or_else(|| {
                            bad(
                                "a",
                                "expected a list of non-negative numbers, e.g. [0, 1, 4.5, 9, 99]",
                            )
                        })?,
                    _ => {
                        return Err(bad(
                            "a",
                            "expected a list of non-negative numbers, e.g. [0, 1, 4.5, 9, 99]",
                        ));
                    }
                };
                (Function::SobolG { a }, &["a"])
            }
            "branin" => (Function::Branin, &[]),
            "hartmann6" => (Function::Hartmann6, &[]),
            "rosenbrock" => {
                let dims = match options.get("dims") {
                    None => 2,
                    Some(v) => v
                        .as_u64()
                        .filter(|d| (2..=1000).contains(d))
                        .ok_or_else(|| {
                            bad(
                                "dims",
                                format!("expected a whole number from 2 to 1000, found {v}"),
                            )
                        })? as usize,
                };
                (Function::Rosenbrock { dims }, &["dims"])
            }
            "borehole" => (Function::Borehole, &[]),
            other => {
                return Err(bad(
                    "function",
                    format!(
                        "unknown function `{other}`; expected one of ishigami, sobol_g, branin, hartmann6, rosenbrock, borehole"
                    ),
                ));
            }
        };
        for key in options.keys() {
            if key != "function" && key != "noise_sd" && !allowed.contains(&key.as_str()) {
                let mut valid: Vec<&str> = vec!["function", "noise_sd"];
                valid.extend_from_slice(allowed);
                return Err(bad(
                    key,
                    format!(
                        "unknown option for {name}; valid options: {}",
                        valid.join(", ")
                    ),
                ));
            }
        }
        let noise_sd = number(options, "noise_sd", 0.0)?;
        if noise_sd < 0.0 {
            return Err(bad("noise_sd", "expected a non-negative number"));
        }
        Ok(Analytic { function, noise_sd })
    }

    /// Input names in order.
    pub fn input_names(&self) -> Vec<String> {
        let xs = |n: usize| (1..=n).map(|i| format!("x{i}")).collect();
        match &self.function {
            Function::Ishigami { .. } => xs(3),
            Function::SobolG { a } => xs(a.len()),
            Function::Branin => xs(2),
            Function::Hartmann6 => xs(6),
            Function::Rosenbrock { dims } => xs(*dims),
            Function::Borehole => BOREHOLE.iter().map(|b| b.0.to_string()).collect(),
        }
    }

    /// Domain of each input, in order (`None`: defined everywhere).
    pub fn bounds(&self) -> Vec<Option<(f64, f64)>> {
        match &self.function {
            Function::Ishigami { .. } => vec![Some((-PI, PI)); 3],
            Function::SobolG { a } => vec![Some((0.0, 1.0)); a.len()],
            Function::Branin => vec![Some((-5.0, 10.0)), Some((0.0, 15.0))],
            Function::Hartmann6 => vec![Some((0.0, 1.0)); 6],
            Function::Rosenbrock { dims } => vec![None; *dims],
            Function::Borehole => BOREHOLE.iter().map(|b| Some((b.1, b.2))).collect(),
        }
    }

    /// The noise-free function at `x` (inputs in [`Self::input_names`] order).
    pub fn evaluate(&self, x: &[f64]) -> f64 {
        let at = |i: usize| x.get(i).copied().unwrap_or(f64::NAN);
        match &self.function {
            Function::Ishigami { a, b } => {
                at(0).sin() + a * at(1).sin().powi(2) + b * at(2).powi(4) * at(0).sin()
            }
            Function::SobolG { a } => a
                .iter()
                .enumerate()
                .map(|(i, ai)| ((4.0 * at(i) - 2.0).abs() + ai) / (1.0 + ai))
                .product(),
            Function::Branin => {
                let (x1, x2) = (at(0), at(1));
                let b = 5.1 / (4.0 * PI * PI);
                let c = 5.0 / PI;
                let t = 1.0 / (8.0 * PI);
                (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
            }
            Function::Hartmann6 => -(0..4)
                .map(|i| {
                    let inner: f64 = (0..6)
                        .map(|j| HARTMANN_A[i][j] * (at(j) - 1e-4 * HARTMANN_P[i][j]).powi(2))
                        .sum();
                    HARTMANN_ALPHA[i] * (-inner).exp()
                })
                .sum::<f64>(),
            Function::Rosenbrock { dims } => (0..dims - 1)
                .map(|i| 100.0 * (at(i + 1) - at(i) * at(i)).powi(2) + (1.0 - at(i)).powi(2))
                .sum(),
            Function::Borehole => {
                let [rw, r, tu, hu, tl, hl, l, kw] = [0, 1, 2, 3, 4, 5, 6, 7].map(at);
                let lr = (r / rw).ln();
                2.0 * PI * tu * (hu - hl)
                    / (lr * (1.0 + 2.0 * l * tu / (lr * rw * rw * kw) + tu / tl))
            }
        }
    }

    /// Mean and variance of the output for uniform inputs on the domain, where
    /// known in closed form (Ishigami, Sobol' G).
    pub fn analytic_mean_variance(&self) -> Option<(f64, f64)> {
        match &self.function {
            Function::Ishigami { a, b } => {
                let v = a * a / 8.0 + b * PI.powi(4) / 5.0 + b * b * PI.powi(8) / 18.0 + 0.5;
                Some((a / 2.0, v))
            }
            Function::SobolG { a } => {
                let v = a
                    .iter()
                    .map(|ai| 1.0 + 1.0 / (3.0 * (1.0 + ai).powi(2)))
                    .product::<f64>()
                    - 1.0;
                Some((1.0, v))
            }
            _ => None,
        }
    }

    /// First-order Sobol' indices for uniform inputs, where known (Ishigami, Sobol' G).
    pub fn analytic_sobol_first_order(&self) -> Option<Vec<f64>> {
        let (_, v) = self.analytic_mean_variance()?;
        match &self.function {
            Function::Ishigami { a, b } => {
                let v1 = 0.5 * (1.0 + b * PI.powi(4) / 5.0).powi(2);
                let v2 = a * a / 8.0;
                Some(vec![v1 / v, v2 / v, 0.0])
            }
            Function::SobolG { a } => Some(
                a.iter()
                    .map(|ai| 1.0 / (3.0 * (1.0 + ai).powi(2)) / v)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Total-order Sobol' indices for uniform inputs, where known (Ishigami, Sobol' G).
    pub fn analytic_sobol_total(&self) -> Option<Vec<f64>> {
        let (_, v) = self.analytic_mean_variance()?;
        match &self.function {
            Function::Ishigami { a, b } => {
                let v1 = 0.5 * (1.0 + b * PI.powi(4) / 5.0).powi(2);
                let v2 = a * a / 8.0;
                let vt3 = 8.0 * b * b * PI.powi(8) / 225.0;
                Some(vec![(v1 + vt3) / v, v2 / v, vt3 / v])
            }
            Function::SobolG { a } => {
                let vi: Vec<f64> = a
                    .iter()
                    .map(|ai| 1.0 / (3.0 * (1.0 + ai).powi(2)))
                    .collect();
                Some(
                    (0..vi.len())
                        .map(|i| {
                            vi[i]
                                * vi.iter()
                                    .enumerate()
                                    .filter(|(j, _)| *j != i)
                                    .map(|(_, vj)| 1.0 + vj)
                                    .product::<f64>()
                                / v
                        })
                        .collect(),
                )
            }
            _ => None,
        }
    }

    fn function_name(&self) -> &'static str {
        match self.function {
            Function::Ishigami { .. } => "ishigami",
            Function::SobolG { .. } => "sobol_g",
            Function::Branin => "branin",
            Function::Hartmann6 => "hartmann6",
            Function::Rosenbrock { .. } => "rosenbrock",
            Function::Borehole => "borehole",
        }
    }
}

/// One standard normal draw (Box–Muller).
pub(crate) fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

impl Simulator for Analytic {
    fn identity(&self) -> String {
        let opts = match &self.function {
            Function::Ishigami { a, b } => format!("a={a},b={b},"),
            Function::SobolG { a } => format!("a={a:?},"),
            Function::Rosenbrock { dims } => format!("dims={dims},"),
            _ => String::new(),
        };
        format!(
            "analytic/{}({opts}noise_sd={})",
            self.function_name(),
            self.noise_sd
        )
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn parameters(&self) -> Vec<ParamDecl> {
        let names = self.input_names();
        let bounds = self.bounds();
        names
            .into_iter()
            .zip(bounds)
            .enumerate()
            .map(|(i, (name, bounds))| {
                let (unit, description) = match self.function {
                    Function::Borehole => {
                        (Some(BOREHOLE[i].3.to_string()), BOREHOLE[i].4.to_string())
                    }
                    Function::Rosenbrock { .. } => (
                        None,
                        format!("input {} (conventional domain [-5, 10])", i + 1),
                    ),
                    _ => (None, format!("input {}", i + 1)),
                };
                ParamDecl {
                    name,
                    description,
                    unit,
                    bounds,
                    kind: ParamKind::Real,
                    required: true,
                }
            })
            .collect()
    }

    fn metrics(&self) -> Vec<String> {
        vec!["y".into()]
    }

    fn run(&self, input: &RunInput<'_>) -> Result<RunOutput, SimError> {
        let mut x = Vec::new();
        for (name, bounds) in self.input_names().into_iter().zip(self.bounds()) {
            let v = input
                .params
                .get(&name)
                .ok_or_else(|| SimError::BadParam {
                    param: name.clone(),
                    message: "missing".into(),
                })?
                .as_f64()
                .filter(|v| v.is_finite())
                .ok_or_else(|| SimError::BadParam {
                    param: name.clone(),
                    message: "expected a finite number".into(),
                })?;
            if let Some((lo, hi)) = bounds {
                let tol = 1e-12 * (hi - lo).abs().max(1.0);
                if v < lo - tol || v > hi + tol {
                    return Err(SimError::BadParam {
                        param: name,
                        message: format!("{v} is outside the domain [{lo}, {hi}]"),
                    });
                }
            }
            x.push(v);
        }
        let mut y = self.evaluate(&x);
        if self.noise_sd > 0.0 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(input.seed);
            y += self.noise_sd * gaussian(&mut rng);
        }
        let mut metrics = Metrics::new();
        let y = serde_json::Number::from_f64(y)
            .ok_or_else(|| SimError::Failed(format!("non-finite result {y}")))?;
        metrics.insert("y".into(), Value::Number(y));
        Ok(RunOutput {
            metrics,
            artifacts: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(opts: serde_json::Value) -> Result<Analytic, SimError> {
        Analytic::from_options(opts.as_object().unwrap())
    }

    #[test]
    fn known_optima() {
        // Branin: three global minima of 0.397887 (Surjanovic & Bingham); tolerance 1e-5.
        let b = make(serde_json::json!({"function": "branin"})).unwrap();
        for x in [[-PI, 12.275], [PI, 2.275], [9.42478, 2.475]] {
            assert!((b.evaluate(&x) - 0.397887).abs() < 1e-5, "{x:?}");
        }
        // Hartmann 6-D: minimum −3.32237 (Surjanovic & Bingham); tolerance 1e-4.
        let h = make(serde_json::json!({"function": "hartmann6"})).unwrap();
        let xs = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];
        assert!((h.evaluate(&xs) + 3.32237).abs() < 1e-4);
        // Rosenbrock: 0 at (1, …, 1), exactly.
        let r = make(serde_json::json!({"function": "rosenbrock", "dims": 5})).unwrap();
        assert_eq!(r.evaluate(&[1.0; 5]), 0.0);
        // At the origin each of the 4 terms is (1 − 0)² = 1.
        assert_eq!(r.evaluate(&[0.0; 5]), 4.0);
    }

    #[test]
    fn closed_form_points() {
        // Ishigami at (π/2, π/2, 0) = 1 + a, by hand.
        let i = make(serde_json::json!({"function": "ishigami"})).unwrap();
        assert!((i.evaluate(&[PI / 2.0, PI / 2.0, 0.0]) - 8.0).abs() < 1e-12);
        // Sobol' G at xᵢ = 0.5: Π aᵢ/(1 + aᵢ).
        let g = make(serde_json::json!({"function": "sobol_g", "a": [1.0, 3.0]})).unwrap();
        assert!((g.evaluate(&[0.5, 0.5]) - 0.5 * 0.75).abs() < 1e-15);
        // Borehole at the centre of its ranges, evaluated independently with
        // Python's math module: 70.872912636819 m³/yr (tolerance 1e-9 relative).
        let bh = make(serde_json::json!({"function": "borehole"})).unwrap();
        let mid: Vec<f64> = BOREHOLE.iter().map(|b| (b.1 + b.2) / 2.0).collect();
        let y = bh.evaluate(&mid);
        let expect = 70.87291263681894;
        assert!((y - expect).abs() < 1e-9 * expect, "{y} vs {expect}");
    }

    #[test]
    fn ishigami_moments_match_monte_carlo() {
        // 200k uniform points; sample mean and variance within 1 % of the closed forms
        // (Ishigami & Homma 1990; Saltelli et al. 2008, Global Sensitivity Analysis, §4.5).
        let f = make(serde_json::json!({"function": "ishigami"})).unwrap();
        let (mean, var) = f.analytic_mean_variance().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let n = 200_000;
        let ys: Vec<f64> = (0..n)
            .map(|_| {
                let x: Vec<f64> = (0..3)
                    .map(|_| -PI + 2.0 * PI * rng.random::<f64>())
                    .collect();
                f.evaluate(&x)
            })
            .collect();
        let m = ys.iter().sum::<f64>() / n as f64;
        let v = ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        assert!((m - mean).abs() / mean < 0.01, "{m} vs {mean}");
        assert!((v - var).abs() / var < 0.01, "{v} vs {var}");
        // Known indices for a = 7, b = 0.1: S1 ≈ 0.3139, S2 ≈ 0.4424, S3 = 0, ST1 ≈ 0.5576.
        let s = f.analytic_sobol_first_order().unwrap();
        let st = f.analytic_sobol_total().unwrap();
        assert!((s[0] - 0.3139).abs() < 1e-3 && (s[1] - 0.4424).abs() < 1e-3 && s[2] == 0.0);
        assert!((st[0] - 0.5576).abs() < 1e-3 && (st[2] - 0.2437).abs() < 1e-3);
    }

    #[test]
    fn noise_is_seeded() {
        let f = make(serde_json::json!({"function": "branin", "noise_sd": 0.5})).unwrap();
        let dir = std::env::temp_dir();
        let params: crate::Params = [
            ("x1".to_string(), serde_json::json!(1.0)),
            ("x2".to_string(), serde_json::json!(2.0)),
        ]
        .into();
        let run = |seed| {
            f.run(&RunInput {
                params: &params,
                seed,
                workdir: &dir,
                threads: 1,
            })
            .unwrap()
            .metrics["y"]
                .as_f64()
                .unwrap()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let exact = make(serde_json::json!({"function": "branin"})).unwrap();
        let y = exact
            .run(&RunInput {
                params: &params,
                seed: 9,
                workdir: &dir,
                threads: 1,
            })
            .unwrap()
            .metrics["y"]
            .as_f64()
            .unwrap();
        assert_eq!(y, exact.evaluate(&[1.0, 2.0]));
    }

    #[test]
    fn bad_options_and_params_are_errors() {
        assert!(matches!(
            make(serde_json::json!({})),
            Err(SimError::BadOption { .. })
        ));
        assert!(matches!(
            make(serde_json::json!({"function": "nope"})),
            Err(SimError::BadOption { .. })
        ));
        assert!(
            matches!(make(serde_json::json!({"function": "branin", "a": 1})), Err(SimError::BadOption { option, .. }) if option == "a")
        );
        assert!(matches!(
            make(serde_json::json!({"function": "sobol_g", "a": [-1]})),
            Err(SimError::BadOption { .. })
        ));
        assert!(matches!(
            make(serde_json::json!({"function": "rosenbrock", "dims": 1})),
            Err(SimError::BadOption { .. })
        ));
        let f = make(serde_json::json!({"function": "branin"})).unwrap();
        let dir = std::env::temp_dir();
        let params: crate::Params = [
            ("x1".to_string(), serde_json::json!(11.0)),
            ("x2".to_string(), serde_json::json!(2.0)),
        ]
        .into();
        let err = f
            .run(&RunInput {
                params: &params,
                seed: 0,
                workdir: &dir,
                threads: 1,
            })
            .unwrap_err();
        assert!(
            matches!(err, SimError::BadParam { ref param, .. } if param == "x1"),
            "{err}"
        );
        assert!(matches!(
            crate::builtin("nope", &Map::new(), std::path::Path::new(".")),
            Err(SimError::UnknownBuiltin { .. })
        ));
    }
}
