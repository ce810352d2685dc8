//! The semi-implicit Fourier-spectral solver: one field on a square grid, the
//! free energy, and single time steps.
//!
//! Free energy `F = ∫ f(c) + κ/2 |∇c|² dA` with the PFHub benchmark 1 double
//! well `f(c) = ρ (c − cα)² (cβ − c)²`. Both equations are stepped with the
//! linearly stabilised first-order scheme of Zhu et al. (1999) and Shen & Yang
//! (2010): the stiff gradient term and a stabilising term `S c` are implicit,
//! the rest of the bulk term explicit,
//!
//! * Cahn–Hilliard, `∂c/∂t = M ∇²(f'(c) − κ∇²c)`:
//!   `ĉ' = [ĉ − Δt M k² F̂{f'(c) − S c}] / [1 + Δt M k² (S + κ k²)]`;
//! * Allen–Cahn, `∂c/∂t = −M (f'(c) − κ∇²c)`:
//!   `ĉ' = [ĉ − Δt M F̂{f'(c) − S c}] / [1 + Δt M (S + κ k²)]`.
//!
//! With `S ≥ max|f''|/2` on the range the field visits, both schemes decrease
//! the discrete free energy for any step (Shen & Yang 2010, Thm 1 and 2);
//! `S = 0` is the plain semi-implicit scheme.
//!
//! Periodic squares are expanded in Fourier modes ([`Fft2`]); no-flux squares
//! in cosine modes `cos(πk_x x/L) cos(πk_y y/L)` ([`Dct2`]), whose slopes
//! vanish at the walls, so that `∂c/∂n = 0` and (Cahn–Hilliard) `∂μ/∂n = 0`
//! hold there. The update formulas are the same with `k = πk/L` in place of
//! `2πk/L`.

use realfft::num_complex::Complex64;

use super::dct::Dct2;
use crate::SimError;
use crate::fft2::Fft2;

/// Which evolution equation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Non-conserved: `∂c/∂t = −M (f'(c) − κ∇²c)`.
    AllenCahn,
    /// Conserved: `∂c/∂t = M ∇²(f'(c) − κ∇²c)`.
    CahnHilliard,
}

/// Boundary condition on the square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Periodic in both directions.
    Periodic,
    /// Zero normal flux (`∂c/∂n = 0`, and for Cahn–Hilliard `∂μ/∂n = 0`) on all walls.
    NoFlux,
}

/// Material and numerical constants of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Physics {
    /// Evolution equation.
    pub model: Model,
    /// Mobility `M`.
    pub mobility: f64,
    /// Gradient energy coefficient `κ`.
    pub kappa: f64,
    /// Double-well height `ρ`.
    pub rho: f64,
    /// Left well `cα`.
    pub c_alpha: f64,
    /// Right well `cβ`.
    pub c_beta: f64,
    /// Stabilisation constant `S` of the scheme.
    pub stabilization: f64,
}

impl Physics {
    /// Bulk free-energy density `f(c)`.
    pub fn f(&self, c: f64) -> f64 {
        let (a, b) = (c - self.c_alpha, self.c_beta - c);
        self.rho * a * a * b * b
    }

    /// Its derivative `f'(c) = 2ρ (c − cα)(cβ − c)(cα + cβ − 2c)`.
    pub fn df(&self, c: f64) -> f64 {
        2.0 * self.rho
            * (c - self.c_alpha)
            * (self.c_beta - c)
            * (self.c_alpha + self.c_beta - 2.0 * c)
    }

    /// The default stabilisation `ρ (cβ − cα)²`, which is `max |f''| / 2` on `[cα, cβ]`.
    pub fn default_stabilization(rho: f64, c_alpha: f64, c_beta: f64) -> f64 {
        rho * (c_beta - c_alpha) * (c_beta - c_alpha)
    }

    /// Width `w` of the equilibrium interface `c = c̄ + Δc/2 · tanh(x / w)`:
    /// `w = √(2κ/ρ) / (cβ − cα)`.
    pub fn interface_width(&self) -> f64 {
        (2.0 * self.kappa / self.rho).sqrt() / (self.c_beta - self.c_alpha)
    }
}

/// Scalar summaries of the current field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Total free energy over the square.
    pub free_energy: f64,
    /// Mean of `c` over the square.
    pub mean: f64,
    /// Fraction of the square where `c > (cα + cβ)/2`.
    pub beta_fraction: f64,
}

/// The spectral transform of the grid: Fourier (periodic) or cosine (no-flux).
enum Transform {
    Fourier(Fft2),
    Cosine(Dct2),
}

impl Transform {
    fn forward(&mut self, field: &[f64], spec: &mut [Complex64]) -> Result<(), SimError> {
        match self {
            Transform::Fourier(t) => t.forward(field, spec),
            Transform::Cosine(t) => t.forward(field, spec),
        }
    }

    fn inverse(&mut self, spec: &[Complex64], field: &mut [f64]) -> Result<(), SimError> {
        match self {
            Transform::Fourier(t) => t.inverse(spec, field),
            Transform::Cosine(t) => t.inverse(spec, field),
        }
    }
}

/// The field and everything needed to advance it.
pub struct Solver {
    phys: Physics,
    /// Grid points per side.
    n: usize,
    dx: f64,
    transform: Transform,
    /// `|k|²` of each stored coefficient.
    k2: Vec<f64>,
    /// Parseval weight of each stored coefficient:
    /// `Σ_grid |∇c|² = (1/n²) Σ weight·|k|²·|ĉ|²`.
    weight: Vec<f64>,
    c: Vec<f64>,
    chat: Vec<Complex64>,
    trial: Vec<f64>,
    trial_hat: Vec<Complex64>,
    work_hat: Vec<Complex64>,
    work: Vec<f64>,
}

impl Solver {
    /// A solver for an `n × n` grid of cell-centred points on a square of side
    /// `length`, starting from `initial` (`n²` values, `initial[j·n + i]` at
    /// `x = (i + ½)Δx`, `y = (j + ½)Δx`).
    pub fn new(
        phys: Physics,
        boundary: Boundary,
        n: usize,
        length: f64,
        initial: &[f64],
    ) -> Result<Self, SimError> {
        if n < 2 || initial.len() != n * n {
            return Err(SimError::Failed(
                "internal error: initial field does not match the grid".into(),
            ));
        }
        let dx = length / n as f64;
        let (transform, k2, weight) = match boundary {
            Boundary::Periodic => {
                // Spectrum [kx][ky] (the layout of `Fft2`), kx = 0..n/2, ky
                // over all n (signed).
                let fft = Fft2::new(n, n)?;
                let h = fft.half();
                let dk = 2.0 * std::f64::consts::PI / length;
                let signed = |i: usize| {
                    if i <= n / 2 {
                        i as f64
                    } else {
                        i as f64 - n as f64
                    }
                };
                let mut k2 = Vec::with_capacity(h * n);
                let mut weight = Vec::with_capacity(h * n);
                for kx in 0..h {
                    // A stored kx stands for ±kx, except 0 and the Nyquist frequency.
                    let w = if kx == 0 || (n.is_multiple_of(2) && kx == n / 2) {
                        1.0
                    } else {
                        2.0
                    };
                    for ky in 0..n {
                        let (a, b) = (kx as f64 * dk, signed(ky) * dk);
                        k2.push(a * a + b * b);
                        weight.push(w);
                    }
                }
                (Transform::Fourier(fft), k2, weight)
            }
            Boundary::NoFlux => {
                // Spectrum [ky][kx] of cos(πk(x/L)) modes, k = 0..n.
                let dk = std::f64::consts::PI / length;
                let w = |k: usize| if k == 0 { 1.0 } else { 2.0 };
                let mut k2 = Vec::with_capacity(n * n);
                let mut weight = Vec::with_capacity(n * n);
                for ky in 0..n {
                    for kx in 0..n {
                        let (a, b) = (kx as f64 * dk, ky as f64 * dk);
                        k2.push(a * a + b * b);
                        weight.push(w(kx) * w(ky));
                    }
                }
                (Transform::Cosine(Dct2::new(n)), k2, weight)
            }
        };
        let modes = k2.len();
        let mut s = Solver {
            phys,
            n,
            dx,
            transform,
            k2,
            weight,
            c: initial.to_vec(),
            chat: vec![Complex64::default(); modes],
            trial: vec![0.0; n * n],
            trial_hat: vec![Complex64::default(); modes],
            work_hat: vec![Complex64::default(); modes],
            work: vec![0.0; n * n],
        };
        s.transform.forward(&s.c, &mut s.chat)?;
        Ok(s)
    }

    /// The current field, `n × n`, row-major.
    pub fn field(&self) -> Vec<f64> {
        self.c.clone()
    }

    /// Summaries of the current field.
    pub fn summary(&self) -> Summary {
        self.summarize(&self.c, &self.chat)
    }

    fn summarize(&self, c: &[f64], chat: &[Complex64]) -> Summary {
        let n = self.n;
        let mid = 0.5 * (self.phys.c_alpha + self.phys.c_beta);
        let (mut bulk, mut sum, mut above) = (0.0, 0.0, 0usize);
        for &v in c {
            bulk += self.phys.f(v);
            sum += v;
            above += usize::from(v > mid);
        }
        // Parseval, with the spectral derivative.
        let grad: f64 = chat
            .iter()
            .zip(&self.k2)
            .zip(&self.weight)
            .map(|((z, k2), w)| w * k2 * z.norm_sqr())
            .sum::<f64>()
            / (n * n) as f64;
        let cell = self.dx * self.dx;
        let points = (n * n) as f64;
        Summary {
            free_energy: cell * (bulk + 0.5 * self.phys.kappa * grad),
            mean: sum / points,
            beta_fraction: above as f64 / points,
        }
    }

    /// Computes one step of size `dt` from the current field without accepting
    /// it. Returns the trial state's summary and the largest pointwise change
    /// of `c`; both are non-finite if the step blew up.
    pub fn try_step(&mut self, dt: f64) -> Result<(Summary, f64), SimError> {
        let p = self.phys;
        let s = p.stabilization;
        for (w, &v) in self.work.iter_mut().zip(&self.c) {
            *w = p.df(v) - s * v;
        }
        self.transform.forward(&self.work, &mut self.work_hat)?;
        let dm = dt * p.mobility;
        for (((out, &c), &g), &k2) in self
            .trial_hat
            .iter_mut()
            .zip(&self.chat)
            .zip(&self.work_hat)
            .zip(&self.k2)
        {
            *out = match p.model {
                Model::CahnHilliard => (c - g * (dm * k2)) / (1.0 + dm * k2 * (s + p.kappa * k2)),
                Model::AllenCahn => (c - g * dm) / (1.0 + dm * (s + p.kappa * k2)),
            };
        }
        self.transform.inverse(&self.trial_hat, &mut self.trial)?;
        let mut change: f64 = 0.0;
        for (a, b) in self.trial.iter().zip(&self.c) {
            let d = (a - b).abs();
            // NaN must win: f64::max would drop it.
            change = if d.is_nan() || d > change { d } else { change };
        }
        Ok((self.summarize(&self.trial, &self.trial_hat), change))
    }

    /// Largest deviation of the current field from its mean, `max |c − c̄|`.
    pub fn amplitude(&self) -> f64 {
        let mean = self.c.iter().sum::<f64>() / self.c.len() as f64;
        self.c.iter().fold(0.0, |a, v| a.max((v - mean).abs()))
    }

    /// Makes the last [`Self::try_step`] the current state.
    pub fn accept(&mut self) {
        std::mem::swap(&mut self.c, &mut self.trial);
        std::mem::swap(&mut self.chat, &mut self.trial_hat);
    }
}
