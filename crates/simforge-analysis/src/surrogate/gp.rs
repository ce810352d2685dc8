//! Gaussian-process regression with a Matérn 5/2 ARD kernel (Rasmussen &
//! Williams 2006, ch. 2 and 4.2):
//! `k(x, x') = s² (1 + √5 r + 5r²/3) exp(−√5 r)`, `r² = Σ ((x_i − x'_i)/ℓ_i)²`,
//! plus a noise variance on the diagonal. Inputs are expected in `[0, 1]^d`;
//! outputs are standardised internally. Hyperparameters (log ℓ, log s², log
//! noise) maximise the log marginal likelihood plus weak log-normal priors
//! (a MAP estimate, which keeps fits to a handful of points sane) by L-BFGS
//! with analytic gradients, from a warm start and random restarts. Fits are
//! capped at [`MAX_FIT_POINTS`]: a Cholesky factorisation costs n³/3.

use rand::{Rng, SeedableRng};

use super::linalg::{chol_solve, cholesky_in_place, dot, inverse_from_cholesky, solve_lower};
use crate::minimize::lbfgs;

/// Most points a fit uses (a random subset beyond this): a Cholesky costs n³/3.
pub const MAX_FIT_POINTS: usize = 400;
const LN_L: (f64, f64) = (-4.6, 2.3); // ℓ in [0.01, 10]
const LN_NOISE: (f64, f64) = (-16.1, 0.0); // noise variance in [1e-7, 1] (standardised y)
const LN_S2: (f64, f64) = (-4.6, 4.6);
/// Relative noise of believed points: small, so that a batch's later picks
/// see the earlier ones as known, whatever the observation noise.
const FANTASY_NOISE: f64 = 1e-6;
/// Jitter always on the diagonal, for a factorisation that never fails on
/// duplicate points.
const JITTER: f64 = 1e-9;

/// Why a GP could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GpError {
    /// Too few points for the inputs.
    #[error("a surrogate needs at least {needed} points, got {found}")]
    TooFew {
        /// Points given.
        found: usize,
        /// Points needed.
        needed: usize,
    },
    /// The outputs are all equal.
    #[error("the metric is constant: nothing to model")]
    Constant,
}

/// How to fit hyperparameters.
#[derive(Debug, Clone, Default)]
pub struct FitOptions {
    /// Random restarts besides the first start (≥ 0).
    pub restarts: usize,
    /// Hyperparameters to start from (a previous fit's [`Gp::theta`]); the
    /// default start when `None` or of the wrong length.
    pub warm_start: Option<Vec<f64>>,
    /// Seed of the restarts and of the subset beyond [`MAX_FIT_POINTS`].
    pub seed: u64,
    /// L-BFGS iterations per start (default 200 when 0).
    pub max_iters: usize,
    /// Use `warm_start` as the hyperparameters without optimising them (when
    /// it is given and of the right length).
    pub fixed: bool,
}

/// A fitted Gaussian process.
#[derive(Debug, Clone)]
pub struct Gp {
    d: usize,
    /// Training inputs, row-major `n×d`.
    x: Vec<f64>,
    n: usize,
    /// log ℓ per input, log s², log noise.
    theta: Vec<f64>,
    /// Cholesky factor of the kernel matrix (row-major `n×n`).
    chol: Vec<f64>,
    alpha: Vec<f64>,
    mean: f64,
    scale: f64,
    /// Points before this index are observations, the rest believed.
    observed: usize,
    /// `1/ℓ²` per input and `s²`, cached for predictions.
    inv_l2: Vec<f64>,
    s2: f64,
}

/// Matérn 5/2 covariance from the squared scaled distance.
fn matern52_r2(s2: f64, r2: f64) -> f64 {
    let r = r2.sqrt();
    let s5 = 5f64.sqrt() * r;
    s2 * (1.0 + s5 + 5.0 * r2 / 3.0) * (-s5).exp()
}

fn scaled_r2(inv_l2: &[f64], a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .zip(inv_l2)
        .map(|((x, y), w)| (x - y) * (x - y) * w)
        .sum()
}

fn inv_l2(theta: &[f64], d: usize) -> Vec<f64> {
    theta[..d].iter().map(|t| (-2.0 * t).exp()).collect()
}

/// Kernel matrix including noise and jitter, row-major; points from index
/// `noisy` on are noise-free (believed, not observed).
fn kernel_matrix(x: &[f64], n: usize, d: usize, theta: &[f64], noisy: usize) -> Vec<f64> {
    let w = inv_l2(theta, d);
    let s2 = theta[d].exp();
    let noise = theta[d + 1].exp();
    let mut k = vec![0.0; n * n];
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..i {
            let v = matern52_r2(s2, scaled_r2(&w, xi, &x[j * d..(j + 1) * d]));
            k[i * n + j] = v;
            k[j * n + i] = v;
        }
        k[i * n + i] = s2 + if i < noisy { noise } else { FANTASY_NOISE * s2 } + JITTER;
    }
    k
}

fn log_prior(theta: &[f64], d: usize) -> (f64, Vec<f64>) {
    // Negative log prior and its gradient in θ. On each inverse squared length
    // scale λ = e^{−2θ}: 0.1 (λ + 1/λ), which keeps ℓ away from both ends
    // (mode ℓ = 1); on s²: Gamma(2, 1); on the noise: Gamma(1.1, 30).
    let mut grad = vec![0.0; d + 2];
    let mut v = 0.0;
    for i in 0..d {
        let (a, b) = ((2.0 * theta[i]).exp(), (-2.0 * theta[i]).exp());
        v += 0.1 * (a + b);
        grad[i] += 0.2 * (a - b);
    }
    let s2 = theta[d].exp();
    v += s2 - theta[d];
    grad[d] += s2 - 1.0;
    let noise = theta[d + 1].exp();
    v += 30.0 * noise - 0.1 * theta[d + 1];
    grad[d + 1] += 30.0 * noise - 0.1;
    (v, grad)
}

/// Quadratic wall outside the hyperparameter box, so that the unconstrained
/// minimiser stays inside it.
fn box_penalty(theta: &[f64], d: usize) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; d + 2];
    let mut v = 0.0;
    for (i, t) in theta.iter().enumerate() {
        let (lo, hi) = if i < d {
            LN_L
        } else if i == d {
            LN_S2
        } else {
            LN_NOISE
        };
        let over = if *t < lo {
            t - lo
        } else if *t > hi {
            t - hi
        } else {
            0.0
        };
        v += 50.0 * over * over;
        grad[i] += 100.0 * over;
    }
    (v, grad)
}

/// Negative log posterior of the hyperparameters (constants dropped) and its
/// gradient; `+∞` when the kernel matrix does not factorise.
fn neg_log_posterior(x: &[f64], n: usize, d: usize, y: &[f64], theta: &[f64]) -> (f64, Vec<f64>) {
    let (pv, pg) = log_prior(theta, d);
    let (bv, bg) = box_penalty(theta, d);
    let mut th = theta.to_vec();
    clamp_theta(&mut th, d);
    let il2 = inv_l2(&th, d);
    let s2 = th[d].exp();
    let noise = th[d + 1].exp();
    let sqrt5 = 5f64.sqrt();
    // Kernel matrix, keeping r and exp(−√5 r) of each pair for the gradient.
    let mut l = vec![0.0; n * n];
    let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..i {
            let r2 = scaled_r2(&il2, xi, &x[j * d..(j + 1) * d]);
            let r = r2.sqrt();
            let e = (-sqrt5 * r).exp();
            let v = s2 * (1.0 + sqrt5 * r + 5.0 * r2 / 3.0) * e;
            l[i * n + j] = v;
            l[j * n + i] = v;
            pairs.push((r, e));
        }
        l[i * n + i] = s2 + noise + JITTER;
    }
    if !cholesky_in_place(&mut l, n) {
        return (f64::INFINITY, vec![0.0; d + 2]);
    }
    let mut alpha = y.to_vec();
    chol_solve(&l, n, &mut alpha);
    let fit = dot(y, &alpha);
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    // dNLL/dθ = ½ tr(W ∂K/∂θ) with W = K⁻¹ − ααᵀ.
    let w = inverse_from_cholesky(&l, n);
    let mut grad = vec![0.0; d + 2];
    let mut pair = pairs.iter();
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for j in 0..i {
            let Some(&(r, e)) = pair.next() else { break };
            let xj = &x[j * d..(j + 1) * d];
            // Symmetric: the pair counts twice, times ½.
            let wij = w[i * n + j] - alpha[i] * alpha[j];
            grad[d] += wij * s2 * (1.0 + sqrt5 * r + 5.0 * r * r / 3.0) * e;
            let g = wij * s2 * (5.0 / 3.0) * (1.0 + sqrt5 * r) * e;
            for k in 0..d {
                let dx = xi[k] - xj[k];
                grad[k] += g * dx * dx * il2[k];
            }
        }
        let wii = w[i * n + i] - alpha[i] * alpha[i];
        grad[d] += 0.5 * wii * s2;
        grad[d + 1] += 0.5 * wii * noise;
    }
    // Where θ is clamped the posterior is flat in θ; only the wall pulls back.
    for i in 0..d + 2 {
        if th[i] != theta[i] {
            grad[i] = 0.0;
        }
    }
    let value = 0.5 * fit + logdet + pv + bv;
    let grad = grad
        .iter()
        .zip(&pg)
        .zip(&bg)
        .map(|((a, b), c)| a + b + c)
        .collect();
    (value, grad)
}

fn clamp_theta(theta: &mut [f64], d: usize) {
    for t in theta[..d].iter_mut() {
        *t = t.clamp(LN_L.0, LN_L.1);
    }
    theta[d] = theta[d].clamp(LN_S2.0, LN_S2.1);
    theta[d + 1] = theta[d + 1].clamp(LN_NOISE.0, LN_NOISE.1);
}

impl Gp {
    /// Fits a GP to points `x` (in `[0,1]^d`) and values `y`, choosing
    /// hyperparameters by maximum posterior from `restarts` starts.
    pub fn fit(x: &[Vec<f64>], y: &[f64], restarts: usize, seed: u64) -> Result<Gp, GpError> {
        Self::fit_with(
            x,
            y,
            &FitOptions {
                restarts: restarts.saturating_sub(1),
                seed,
                ..FitOptions::default()
            },
        )
    }

    /// Fits a GP with the given options (warm start, restarts).
    pub fn fit_with(x: &[Vec<f64>], y: &[f64], opts: &FitOptions) -> Result<Gp, GpError> {
        let d = x.first().map_or(0, Vec::len);
        if x.len() < 2 || x.len() < d.min(8) + 2 {
            return Err(GpError::TooFew {
                found: x.len(),
                needed: (d.min(8) + 2).max(2),
            });
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
        let idx: Vec<usize> = if x.len() > MAX_FIT_POINTS {
            let mut idx: Vec<usize> = (0..x.len()).collect();
            for i in 0..MAX_FIT_POINTS {
                let j = rng.random_range(i..idx.len());
                idx.swap(i, j);
            }
            idx.truncate(MAX_FIT_POINTS);
            idx
        } else {
            (0..x.len()).collect()
        };
        let n = idx.len();
        let flat: Vec<f64> = idx.iter().flat_map(|&i| x[i].iter().copied()).collect();
        let y: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        let scale = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        if scale == 0.0 || !scale.is_finite() {
            return Err(GpError::Constant);
        }
        let ys: Vec<f64> = y.iter().map(|v| (v - mean) / scale).collect();
        let mut objective = |t: &[f64]| neg_log_posterior(&flat, n, d, &ys, t);
        let default_start = || {
            let mut s = vec![-0.7; d];
            s.push(0.0);
            s.push(-6.0);
            s
        };
        let first = opts
            .warm_start
            .clone()
            .filter(|t| t.len() == d + 2 && t.iter().all(|v| v.is_finite()))
            .unwrap_or_else(default_start);
        if opts.fixed && first.len() == d + 2 && opts.warm_start.is_some() {
            let mut theta = first;
            clamp_theta(&mut theta, d);
            return Self::factor(flat, n, n, d, theta, &ys, mean, scale);
        }
        let iters = if opts.max_iters == 0 {
            200
        } else {
            opts.max_iters
        };
        let mut best = lbfgs(&mut objective, first, iters);
        for _ in 0..opts.restarts {
            let mut start: Vec<f64> = (0..d).map(|_| rng.random_range(-2.5..0.7)).collect();
            start.push(rng.random_range(-1.0..1.0));
            start.push(rng.random_range(-12.0..-2.0));
            let cand = lbfgs(&mut objective, start, iters);
            if cand.1 < best.1 || !best.1.is_finite() {
                best = cand;
            }
        }
        let mut theta = best.0;
        clamp_theta(&mut theta, d);
        Self::factor(flat, n, n, d, theta, &ys, mean, scale)
    }

    /// Factorises the kernel matrix for fixed hyperparameters, raising the
    /// noise until it factorises.
    #[allow(clippy::too_many_arguments)]
    fn factor(
        x: Vec<f64>,
        n: usize,
        observed: usize,
        d: usize,
        mut theta: Vec<f64>,
        ys: &[f64],
        mean: f64,
        scale: f64,
    ) -> Result<Gp, GpError> {
        loop {
            let mut l = kernel_matrix(&x, n, d, &theta, observed);
            if cholesky_in_place(&mut l, n) {
                let mut alpha = ys.to_vec();
                chol_solve(&l, n, &mut alpha);
                return Ok(Gp {
                    d,
                    x,
                    n,
                    observed,
                    inv_l2: inv_l2(&theta, d),
                    s2: theta[d].exp(),
                    theta,
                    chol: l,
                    alpha,
                    mean,
                    scale,
                });
            }
            if theta[d + 1] >= LN_NOISE.1 {
                return Err(GpError::Constant);
            }
            theta[d + 1] = (theta[d + 1] + 2.0).min(LN_NOISE.1);
        }
    }

    /// The same model conditioned on believed noise-free values at extra
    /// points, hyperparameters and output standardisation unchanged: the
    /// "kriging believer" step of batch proposals, and cheap (one
    /// factorisation, no fit).
    pub fn condition_on(&self, x: &[Vec<f64>], y: &[f64]) -> Result<Gp, GpError> {
        let mut flat = self.x.clone();
        let mut ys: Vec<f64> = self.ys();
        for (p, v) in x.iter().zip(y) {
            flat.extend_from_slice(p);
            ys.push((v - self.mean) / self.scale);
        }
        let n = ys.len();
        Self::factor(
            flat,
            n,
            self.observed,
            self.d,
            self.theta.clone(),
            &ys,
            self.mean,
            self.scale,
        )
    }

    /// Standardised training outputs (`K α`, recovered from the factor).
    fn ys(&self) -> Vec<f64> {
        let n = self.n;
        // y = L Lᵀ α.
        let t: Vec<f64> = (0..n)
            .map(|i| (i..n).map(|k| self.chol[k * n + i] * self.alpha[k]).sum())
            .collect();
        (0..n)
            .map(|i| (0..=i).map(|k| self.chol[i * n + k] * t[k]).sum())
            .collect()
    }

    /// Covariances between `p` and the training points (standardised units).
    fn k_star(&self, p: &[f64]) -> Vec<f64> {
        self.x
            .chunks_exact(self.d)
            .map(|xi| matern52_r2(self.s2, scaled_r2(&self.inv_l2, xi, p)))
            .collect()
    }

    /// Posterior mean and standard deviation at `p` (of the latent function,
    /// without observation noise).
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let (m, v) = self.predict_std(p);
        (self.mean + self.scale * m, self.scale * v.sqrt())
    }

    /// Posterior mean and variance at `p` in standardised output units.
    pub fn predict_std(&self, p: &[f64]) -> (f64, f64) {
        let mut v = self.k_star(p);
        let mu = dot(&v, &self.alpha);
        solve_lower(&self.chol, self.n, &mut v);
        let var = (self.s2 - dot(&v, &v)).max(1e-12 * self.s2);
        (mu, var)
    }

    /// `L⁻¹ k(X, p)`: with these vectors for two points `a`, `b` the posterior
    /// covariance is `prior_cov(a, b) − wₐ·w_b` (standardised units).
    pub fn whitened(&self, p: &[f64]) -> Vec<f64> {
        let mut v = self.k_star(p);
        solve_lower(&self.chol, self.n, &mut v);
        v
    }

    /// Prior covariance between two points (standardised units).
    pub fn prior_cov(&self, a: &[f64], b: &[f64]) -> f64 {
        matern52_r2(self.s2, scaled_r2(&self.inv_l2, a, b))
    }

    /// Observation-noise variance (standardised units).
    pub fn noise_var(&self) -> f64 {
        self.theta[self.d + 1].exp()
    }

    /// Output standardisation: `y = mean + scale · y_std`.
    pub fn standardisation(&self) -> (f64, f64) {
        (self.mean, self.scale)
    }

    /// Fitted length scales (in unit-cube coordinates).
    pub fn length_scales(&self) -> Vec<f64> {
        self.theta[..self.d].iter().map(|t| t.exp()).collect()
    }

    /// The hyperparameters (log ℓ…, log s², log noise): a warm start for the
    /// next fit.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Training points used.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the model has no training points (never, once fitted).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Cross-validated R² of a GP on `x`, `y` with `folds` folds: hyperparameters
/// are refitted per fold (one start), so this measures the whole procedure.
pub fn cv_r2(x: &[Vec<f64>], y: &[f64], folds: usize, seed: u64) -> Result<f64, GpError> {
    cv_errors(x, y, folds, seed, None).map(|c| c.r2)
}

/// Cross-validated accuracy of a surrogate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CvScore {
    /// 1 − SSE/SST over held-out predictions.
    pub r2: f64,
    /// Root mean squared held-out error, in the metric's units.
    pub rmse: f64,
}

/// Cross-validated R² and RMSE with `folds` folds; `warm` starts each fold's
/// fit from given hyperparameters (one start, fast), otherwise from the default.
pub fn cv_errors(
    x: &[Vec<f64>],
    y: &[f64],
    folds: usize,
    seed: u64,
    warm: Option<&[f64]>,
) -> Result<CvScore, GpError> {
    let n = y.len().min(MAX_FIT_POINTS);
    let folds = folds.clamp(2, n.max(2));
    let mean = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sse, mut sst) = (0.0, 0.0);
    for f in 0..folds {
        let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % folds != f);
        let tx: Vec<Vec<f64>> = train.iter().map(|&i| x[i].clone()).collect();
        let ty: Vec<f64> = train.iter().map(|&i| y[i]).collect();
        let gp = Gp::fit_with(
            &tx,
            &ty,
            &FitOptions {
                seed: seed + f as u64,
                warm_start: warm.map(<[f64]>::to_vec),
                ..FitOptions::default()
            },
        )?;
        for &i in &test {
            let (m, _) = gp.predict(&x[i]);
            sse += (y[i] - m).powi(2);
            sst += (y[i] - mean).powi(2);
        }
    }
    Ok(CvScore {
        r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
        rmse: (sse / n as f64).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect()
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let x = points(15, 2, 4);
        let flat: Vec<f64> = x.iter().flatten().copied().collect();
        let y: Vec<f64> = x.iter().map(|p| (3.0 * p[0]).sin() + p[1]).collect();
        let theta = vec![-1.0, -0.3, 0.2, -5.0];
        let (_, g) = neg_log_posterior(&flat, 15, 2, &y, &theta);
        for i in 0..4 {
            let h = 1e-5;
            let mut up = theta.clone();
            up[i] += h;
            let mut down = theta.clone();
            down[i] -= h;
            let fd = (neg_log_posterior(&flat, 15, 2, &y, &up).0
                - neg_log_posterior(&flat, 15, 2, &y, &down).0)
                / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-4 * fd.abs().max(1.0),
                "θ{i}: analytic {} vs finite difference {fd}",
                g[i]
            );
        }
    }

    #[test]
    fn a_smooth_function_is_learned_and_an_inert_input_gets_a_long_scale() {
        // f = sin(2π x0) + x1², x2 inert; 60 random points. Out-of-sample R²
        // above 0.97 on 200 fresh points; ℓ of x2 longer than of x0.
        let f = |p: &[f64]| (std::f64::consts::TAU * p[0]).sin() + p[1] * p[1];
        let x = points(60, 3, 1);
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let gp = Gp::fit(&x, &y, 3, 7).unwrap();
        let test = points(200, 3, 2);
        let mean = test.iter().map(|p| f(p)).sum::<f64>() / 200.0;
        let (mut sse, mut sst) = (0.0, 0.0);
        for p in &test {
            let (m, s) = gp.predict(p);
            assert!(s.is_finite() && s >= 0.0);
            sse += (f(p) - m).powi(2);
            sst += (f(p) - mean).powi(2);
        }
        let r2 = 1.0 - sse / sst;
        assert!(r2 > 0.97, "R² = {r2}");
        let l = gp.length_scales();
        assert!(l[2] > l[0], "{l:?}");
        // At a training point the mean interpolates (noise is tiny).
        let (m, _) = gp.predict(&x[0]);
        assert!((m - y[0]).abs() < 1e-2, "{m} vs {}", y[0]);
        let cv = cv_r2(&x, &y, 5, 3).unwrap();
        assert!(cv > 0.9, "cross-validated R² = {cv}");
    }

    #[test]
    fn conditioning_on_a_believed_point_keeps_the_mean_and_shrinks_the_spread() {
        let x = points(8, 2, 5);
        let y: Vec<f64> = x.iter().map(|p| (4.0 * p[0]).sin() - 2.0 * p[1]).collect();
        let gp = Gp::fit(&x, &y, 2, 1).unwrap();
        let p = vec![0.97, 0.02];
        let (m, s) = gp.predict(&p);
        let more = gp.condition_on(std::slice::from_ref(&p), &[m]).unwrap();
        let (m2, s2) = more.predict(&p);
        assert!((m2 - m).abs() < 1e-6 * m.abs().max(1.0), "{m} vs {m2}");
        assert!(s2 < 0.3 * s, "{s} → {s2}");
        // The recovered outputs match the inputs.
        for (a, b) in gp.ys().iter().zip(&y) {
            let (mu, sc) = gp.standardisation();
            assert!((mu + sc * a - b).abs() < 1e-8);
        }
    }

    #[test]
    fn noise_is_not_interpolated_and_bad_input_is_refused() {
        let x = points(80, 1, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let y: Vec<f64> = x
            .iter()
            .map(|p| p[0] + 0.3 * (rng.random::<f64>() - 0.5))
            .collect();
        let gp = Gp::fit(&x, &y, 2, 1).unwrap();
        let (m, _) = gp.predict(&[0.5]);
        assert!((m - 0.5).abs() < 0.1, "{m}");
        assert_eq!(
            Gp::fit(&x[..2], &y[..2], 1, 0).unwrap_err(),
            GpError::TooFew {
                found: 2,
                needed: 3
            }
        );
        assert_eq!(
            Gp::fit(&x, &vec![1.0; 80], 1, 0).unwrap_err(),
            GpError::Constant
        );
    }
}
