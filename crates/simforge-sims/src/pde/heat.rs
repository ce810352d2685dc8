//! `heat`: the heat (diffusion) equation u_t = α u_xx on a periodic interval.
//!
//! Linear, so each Fourier mode is advanced by its exact factor
//! exp(−α k² Δt): the only errors are the rounding of the FFTs, whatever the
//! time step. Useful as the simplest PDE-FIND target and as a check of the
//! whole pipeline.

use super::Setup;
use super::common;
use super::spectral::{C, Grid, Problem, Wavenumbers};
use crate::SimError;
use crate::params::{Spec, Values};

/// The equation, in the parameters' names.
pub(super) const EQUATION: &str = "u_t = alpha u_xx";

/// Parameters, with defaults.
pub(super) fn specs() -> Vec<Spec> {
    let mut s = vec![Spec::real(
        "alpha",
        0.1,
        Some("L²/T"),
        (0.0, 1e3),
        "diffusivity α",
    )];
    s.extend(common::domain_specs(256.0, -8.0, 16.0));
    s.extend(common::time_specs(
        10.0,
        101.0,
        "the snapshot interval (the exact exponential needs no smaller step)",
    ));
    s.push(Spec::choice(
        "ic",
        "gaussian",
        &["gaussian", "sine"],
        "initial profile",
    ));
    s.extend(common::shape_specs(1.0, 0.0, 1.0));
    s.extend(common::noise_specs());
    s
}

/// The problem for parameter values `p` on `grid`.
pub(super) fn setup(p: &Values, grid: &Grid) -> Result<Setup, SimError> {
    let alpha = p.num("alpha")?;
    let w = Wavenumbers::new(grid);
    let linear = (0..grid.modes())
        .map(|i| C::new(-alpha * w.k2(i), 0.0))
        .collect();
    Ok(Setup {
        problem: Problem {
            fields: 1,
            initial: common::shape(p, grid)?,
            linear,
            nonlinear: None,
            mask: None,
        },
        auto_dt: f64::INFINITY,
    })
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use serde_json::json;

    use super::super::testutil::{metric, run_ok};

    /// A Gaussian A·exp(−(x/w)²) under u_t = α u_xx stays Gaussian:
    /// A·w/√(w² + 4αt)·exp(−x²/(w² + 4αt)); on the periodic domain the exact
    /// solution is the sum of that over the periodic images x + nL (the heat
    /// kernel of the circle). Reference: that sum over |n| ≤ 3, evaluated
    /// directly (not by FFT). Tolerance 1e-12 absolute on A = 1, every snapshot.
    #[test]
    fn heat_gaussian_matches_image_sum() {
        let (alpha, w, l) = (0.3, 1.0, 16.0);
        let (out, data) = run_ok(
            "heat",
            json!({}),
            json!({"alpha": alpha, "width": w, "length": l, "x_min": -8.0, "nx": 128,
                   "t_end": 5.0, "snapshots": 11}),
        );
        let (x, t, u) = (&data["x"].1, &data["t"].1, &data["u"].1);
        let mut worst = 0.0f64;
        for (s, &ts) in t.iter().enumerate() {
            let s2 = w * w + 4.0 * alpha * ts;
            for (i, &xi) in x.iter().enumerate() {
                let exact: f64 = (-3..=3)
                    .map(|n| w / s2.sqrt() * (-(xi + n as f64 * l).powi(2) / s2).exp())
                    .sum();
                worst = worst.max((u[s * x.len() + i] - exact).abs());
            }
        }
        assert!(worst < 1e-12, "max error {worst:e}");
        // Mass is conserved (√π·w), the L2 norm decays.
        assert!((metric(&out, "mass_start") - PI.sqrt()).abs() < 1e-12);
        assert!(metric(&out, "mass_drift") < 1e-14);
        assert!(metric(&out, "l2_end") < metric(&out, "l2_start"));
        assert_eq!(metric(&out, "steps"), 10.0);
    }

    /// A sine of mode m decays as exp(−α (2πm/L)² t) (exact Fourier solution);
    /// tolerance 1e-12 relative, and the same whatever the time step.
    #[test]
    fn heat_sine_decays_at_the_fourier_rate() {
        let (alpha, m, l) = (0.05, 3.0, 10.0);
        let k = 2.0 * PI * m / l;
        for dt in [json!(null), json!(0.01)] {
            let mut params = json!({"alpha": alpha, "ic": "sine", "mode": 3, "length": l,
                                    "x_min": 0.0, "nx": 64, "t_end": 4.0, "snapshots": 5});
            if !dt.is_null() {
                params["dt"] = dt;
            }
            let (_, data) = run_ok("heat", json!({}), params);
            let (x, t, u) = (&data["x"].1, &data["t"].1, &data["u"].1);
            for (s, &ts) in t.iter().enumerate() {
                for (i, &xi) in x.iter().enumerate() {
                    let exact = (k * xi).sin() * (-alpha * k * k * ts).exp();
                    assert!((u[s * x.len() + i] - exact).abs() < 1e-12);
                }
            }
        }
    }
}
