//! `reaction_diffusion`: the λ–ω system of PDE-FIND (Rudy et al. 2017) in 2-D,
//!
//!   u_t = d ∇²u + λ(A) u − ω(A) v,   v_t = d ∇²v + ω(A) u + λ(A) v,
//!   A² = u² + v²,  λ(A) = 1 − A²,  ω(A) = −β A²,
//!
//! on a periodic rectangle. Diffusion is the linear part (exact in ETDRK4);
//! the reaction terms are cubic, so they are dealiased by the 1/2 rule (the
//! 2/3 rule only removes the aliases of quadratic products). The initial
//! condition is PDE-FIND's spiral,
//! u = tanh(r) cos(mθ − r), v = tanh(r) sin(mθ − r) about the domain centre,
//! which settles into a rotating spiral wave. Defaults: d = 0.1, β = 1 on
//! [−10, 10)², 64 × 64 points (PDE-FIND used 256², subsampled), t ∈ [0, 10],
//! 51 snapshots, which keeps the file near 3 MB.

use super::Setup;
use super::common::{self, put};
use super::spectral::{C, Grid, Nonlinear, Problem, Solution, Wavenumbers};
use crate::fft2::Fft2;
use crate::params::{Spec, Values};
use crate::{Metrics, SimError};

/// The equation, in the parameters' names.
pub(super) const EQUATION: &str = "u_t = d (u_xx + u_yy) + (1 - A^2) u + beta A^2 v, \
     v_t = d (v_xx + v_yy) - beta A^2 u + (1 - A^2) v, A^2 = u^2 + v^2";

/// Metrics beyond the common ones.
pub(super) const EXTRA_METRICS: &[&str] = &[
    "mass_v_start",
    "mass_v_end",
    "amplitude_mean_final",
    "noise_sd_v",
];

/// Parameters, with defaults.
pub(super) fn specs() -> Vec<Spec> {
    let mut s = vec![
        Spec::real(
            "d",
            0.1,
            Some("L²/T"),
            (0.0, 100.0),
            "diffusivity d of u and v",
        ),
        Spec::real(
            "beta",
            1.0,
            None,
            (-100.0, 100.0),
            "β in ω(A) = −βA², the amplitude-dependent rotation",
        ),
        Spec::integer(
            "nx",
            64.0,
            Some("points"),
            (8.0, 1024.0),
            "grid points along x; must be even",
        ),
        Spec::integer(
            "ny",
            64.0,
            Some("points"),
            (8.0, 1024.0),
            "grid points along y; must be even",
        ),
        Spec::real(
            "x_min",
            -10.0,
            Some("L"),
            (-1e6, 1e6),
            "left end of the x period",
        ),
        Spec::positive("length", 20.0, Some("L"), 1e6, "length of the x period"),
        Spec::real(
            "y_min",
            -10.0,
            Some("L"),
            (-1e6, 1e6),
            "lower end of the y period",
        ),
        Spec::positive("y_length", 20.0, Some("L"), 1e6, "length of the y period"),
    ];
    s.extend(common::time_specs(
        10.0,
        51.0,
        "min(0.05, snapshot interval)",
    ));
    s.push(Spec::integer(
        "arms",
        1.0,
        None,
        (1.0, 10.0),
        "arms m of the initial spiral tanh(r)·(cos, sin)(mθ − r)",
    ));
    s.extend(common::noise_specs());
    s
}

/// The 2-D grid from `nx`, `ny`, `x_min`, `length`, `y_min`, `y_length`.
pub(super) fn grid(p: &Values) -> Result<Grid, SimError> {
    Ok(Grid {
        nx: common::even(p, "nx")?,
        ny: common::even(p, "ny")?,
        x_min: p.num("x_min")?,
        lx: p.num("length")?,
        y_min: p.num("y_min")?,
        ly: p.num("y_length")?,
    })
}

/// The λ–ω reaction terms, evaluated on the grid and dealiased.
pub(super) struct LambdaOmega {
    beta: f64,
    transform: Fft2,
    mask: Option<Vec<f64>>,
    u: Vec<f64>,
    v: Vec<f64>,
    nu: Vec<f64>,
    nv: Vec<f64>,
}

impl LambdaOmega {
    /// The reaction terms with rotation coefficient `beta` on `grid`; fails,
    /// as [`Grid::transform`] does, on an empty grid.
    pub(super) fn new(
        grid: &Grid,
        beta: f64,
        mask: Option<Vec<f64>>,
    ) -> Result<LambdaOmega, SimError> {
        let n = grid.points();
        Ok(LambdaOmega {
            beta,
            transform: grid.transform()?,
            mask,
            u: vec![0.0; n],
            v: vec![0.0; n],
            nu: vec![0.0; n],
            nv: vec![0.0; n],
        })
    }
}

impl Nonlinear for LambdaOmega {
    fn eval(&mut self, state: &[C], out: &mut [C]) -> Result<(), SimError> {
        let modes = state.len() / 2;
        let (su, sv) = state.split_at(modes);
        self.transform.inverse(su, &mut self.u)?;
        self.transform.inverse(sv, &mut self.v)?;
        for i in 0..self.u.len() {
            let (u, v) = (self.u[i], self.v[i]);
            let a2 = u * u + v * v;
            let lambda = 1.0 - a2;
            let omega = -self.beta * a2;
            self.nu[i] = lambda * u - omega * v;
            self.nv[i] = omega * u + lambda * v;
        }
        let (ou, ov) = out.split_at_mut(modes);
        self.transform.forward(&self.nu, ou)?;
        self.transform.forward(&self.nv, ov)?;
        if let Some(mask) = &self.mask {
            for (i, z) in out.iter_mut().enumerate() {
                *z *= mask[i % modes];
            }
        }
        Ok(())
    }
}

/// The problem for parameter values `p` on `grid`.
pub(super) fn setup(p: &Values, grid: &Grid, dealias: bool) -> Result<Setup, SimError> {
    let d = p.num("d")?;
    let beta = p.num("beta")?;
    let m = p.num("arms")?;
    let (xc, yc) = (grid.x_min + grid.lx / 2.0, grid.y_min + grid.ly / 2.0);
    let (x, y) = (grid.x(), grid.y());
    let mut initial = vec![0.0; 2 * grid.points()];
    let (u0, v0) = initial.split_at_mut(grid.points());
    for (j, &yj) in y.iter().enumerate() {
        for (i, &xi) in x.iter().enumerate() {
            let (dx, dy) = (xi - xc, yj - yc);
            let r = dx.hypot(dy);
            let phase = m * dy.atan2(dx) - r;
            u0[j * grid.nx + i] = r.tanh() * phase.cos();
            v0[j * grid.nx + i] = r.tanh() * phase.sin();
        }
    }
    let w = Wavenumbers::new(grid);
    let mask = dealias.then(|| w.mask(grid, 3));
    let one: Vec<C> = (0..grid.modes())
        .map(|i| C::new(-d * w.k2(i), 0.0))
        .collect();
    let linear = [one.as_slice(), one.as_slice()].concat();
    Ok(Setup {
        problem: Problem {
            fields: 2,
            initial,
            linear,
            nonlinear: Some(Box::new(LambdaOmega::new(grid, beta, mask.clone())?)),
            mask,
        },
        auto_dt: 0.05,
    })
}

/// `mass_v_start`, `mass_v_end` (∫v) and `amplitude_mean_final`, the mean of
/// A = √(u² + v²) at t_end (1 on the limit cycle, less near the spiral core).
pub(super) fn extra_metrics(grid: &Grid, sol: &Solution, m: &mut Metrics) -> Result<(), SimError> {
    let points = grid.points();
    let last = (sol.t.len() - 1) * points;
    let (u, v) = (&sol.data[0], &sol.data[1]);
    put(m, "mass_v_start", common::integral(grid, &v[..points]))?;
    put(m, "mass_v_end", common::integral(grid, &v[last..]))?;
    let amp = u[last..]
        .iter()
        .zip(&v[last..])
        .map(|(a, b)| a.hypot(*b))
        .sum::<f64>()
        / points as f64;
    put(m, "amplitude_mean_final", amp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pde::spectral::{Schedule, solve};
    use crate::pde::testutil::{metric, run_ok};

    /// A plane wave u + iv = a·exp(i(k·x + ψ)) keeps a uniform amplitude A, so
    /// the λ–ω system reduces to ODEs: with s = 1 − d|k|²,
    /// A²(t) = s / (1 + (s/a² − 1) e^{−2st}) (logistic) and ψ' = ω = −βA², so
    /// ψ(t) = −β·½ ln((e^{2st} + C)/(1 + C)), C = s/a² − 1. This exercises both
    /// axes of the 2-D transform, the coupling and the time stepping.
    /// Reference: that closed form; tolerance 1e-7 absolute at t = 4.
    #[test]
    fn reaction_diffusion_plane_wave_is_exact() {
        let grid = Grid {
            nx: 32,
            ny: 16,
            x_min: -10.0,
            lx: 20.0,
            y_min: 0.0,
            ly: 12.0,
        };
        let (d, beta, a) = (0.1, 1.3, 0.2);
        let (kx, ky) = (
            2.0 * std::f64::consts::PI * 2.0 / grid.lx,
            2.0 * std::f64::consts::PI / grid.ly,
        );
        let (x, y) = (grid.x(), grid.y());
        let mut initial = vec![0.0; 2 * grid.points()];
        for (j, yj) in y.iter().enumerate() {
            for (i, xi) in x.iter().enumerate() {
                let th = kx * xi + ky * yj;
                initial[j * grid.nx + i] = a * th.cos();
                initial[grid.points() + j * grid.nx + i] = a * th.sin();
            }
        }
        let w = Wavenumbers::new(&grid);
        let mask = Some(w.mask(&grid, 3));
        let one: Vec<C> = (0..grid.modes())
            .map(|i| C::new(-d * w.k2(i), 0.0))
            .collect();
        let problem = Problem {
            fields: 2,
            initial,
            linear: [one.clone(), one].concat(),
            nonlinear: Some(Box::new(
                LambdaOmega::new(&grid, beta, mask.clone()).unwrap(),
            )),
            mask,
        };
        let t_end = 4.0;
        let schedule = Schedule {
            t_end,
            dt: 0.02,
            steps_per_snapshot: 200,
            snapshots: 2,
        };
        let sol = solve(&grid, problem, &schedule, 1e6).unwrap();
        let s = 1.0 - d * (kx * kx + ky * ky);
        let c = s / (a * a) - 1.0;
        let amp = (s / (1.0 + c * (-2.0 * s * t_end).exp())).sqrt();
        let psi = -beta * 0.5 * (((2.0 * s * t_end).exp() + c) / (1.0 + c)).ln();
        let points = grid.points();
        let mut worst = 0.0f64;
        for (j, yj) in y.iter().enumerate() {
            for (i, xi) in x.iter().enumerate() {
                let th = kx * xi + ky * yj + psi;
                let k = points + j * grid.nx + i;
                worst = worst
                    .max((sol.data[0][k] - amp * th.cos()).abs())
                    .max((sol.data[1][k] - amp * th.sin()).abs());
            }
        }
        assert!(worst < 1e-7, "max error {worst:e}");
    }

    /// The default data set: 2-D arrays of the right shapes, a spiral that
    /// saturates (mean amplitude between 0.7 and 1: the limit cycle A = 1 away
    /// from the core; observed 0.946), and max|u| ≤ 1.2 (observed 1.165,
    /// the Gibbs overshoot of the spiral, which is not periodic at the edges,
    /// in the first snapshot).
    #[test]
    fn reaction_diffusion_default_dataset() {
        let (out, data) = run_ok("reaction_diffusion", json!({}), json!({}));
        assert_eq!(data["u"].0, vec![51, 64, 64]);
        assert_eq!(data["v"].0, vec![51, 64, 64]);
        assert_eq!(data["y"].0, vec![64]);
        assert_eq!(data["x"].0, vec![64]);
        let amp = metric(&out, "amplitude_mean_final");
        assert!((0.7..1.0).contains(&amp), "{amp}");
        assert!(
            metric(&out, "max_abs") <= 1.2,
            "{}",
            metric(&out, "max_abs")
        );
    }
}
