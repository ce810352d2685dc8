//! Gaussian-process regression with a Matérn 5/2 ARD kernel (Rasmussen &
//! Williams 2006, ch. 2 and 4.2):
//! `k(x, x') = s² (1 + √5 r + 5r²/3) exp(−√5 r)`, `r² = Σ ((x_i − x'_i)/ℓ_i)²`,
//! plus a noise variance on the diagonal. Inputs are expected in `[0, 1]^d`;
//! outputs are standardised internally. Hyperparameters (log ℓ, log s², log
//! noise) maximise the log marginal likelihood with Nelder–Mead from several
//! starts. The only dense operation is a Cholesky factorisation of the n×n
//! kernel matrix, written out here: fits are capped at `MAX_FIT_POINTS`.

// Dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use rand::{Rng, SeedableRng};

/// Most points a fit uses (a random subset beyond this): a Cholesky costs n³/3.
pub const MAX_FIT_POINTS: usize = 400;
const LN_L: (f64, f64) = (-4.6, 2.3); // ℓ in [0.01, 10]
const LN_NOISE: (f64, f64) = (-18.4, 0.0); // noise variance in [1e-8, 1] (standardised y)
const LN_S2: (f64, f64) = (-4.6, 4.6);

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

/// A fitted Gaussian process.
#[derive(Debug, Clone)]
pub struct Gp {
    x: Vec<Vec<f64>>,
    /// log ℓ per input, log s², log noise.
    theta: Vec<f64>,
    chol: Vec<Vec<f64>>,
    alpha: Vec<f64>,
    mean: f64,
    scale: f64,
}

fn matern52(theta: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let d = a.len();
    let r2: f64 = (0..d)
        .map(|i| ((a[i] - b[i]) / theta[i].exp()).powi(2))
        .sum();
    let r = r2.sqrt();
    let s5 = 5f64.sqrt() * r;
    theta[d].exp() * (1.0 + s5 + 5.0 * r2 / 3.0) * (-s5).exp()
}

/// Lower Cholesky factor of a symmetric positive-definite matrix, or `None`.
fn cholesky(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    for j in 0..n {
        let mut s = a[j][j];
        for k in 0..j {
            s -= a[j][k] * a[j][k];
        }
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let l = s.sqrt();
        a[j][j] = l;
        for i in (j + 1)..n {
            let mut s = a[i][j];
            for k in 0..j {
                s -= a[i][k] * a[j][k];
            }
            a[i][j] = s / l;
        }
        for v in a[j].iter_mut().skip(j + 1) {
            *v = 0.0;
        }
    }
    Some(a)
}

/// Solves `L Lᵀ z = b`.
fn chol_solve(l: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = l.len();
    let mut z = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            z[i] -= l[i][k] * z[k];
        }
        z[i] /= l[i][i];
    }
    for i in (0..n).rev() {
        for k in (i + 1)..n {
            z[i] -= l[k][i] * z[k];
        }
        z[i] /= l[i][i];
    }
    z
}

fn kernel_matrix(x: &[Vec<f64>], theta: &[f64]) -> Vec<Vec<f64>> {
    let n = x.len();
    let noise = theta[theta.len() - 1].exp();
    let mut k = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let v = matern52(theta, &x[i], &x[j]);
            k[i][j] = v;
            k[j][i] = v;
        }
        k[i][i] += noise + 1e-10;
    }
    k
}

/// Negative log marginal likelihood (constant dropped); +∞ when the kernel
/// matrix is not positive definite.
fn nll(x: &[Vec<f64>], y: &[f64], theta: &[f64]) -> f64 {
    let Some(l) = cholesky(kernel_matrix(x, theta)) else {
        return f64::INFINITY;
    };
    let alpha = chol_solve(&l, y);
    let fit: f64 = y.iter().zip(&alpha).map(|(a, b)| a * b).sum();
    let logdet: f64 = (0..l.len()).map(|i| l[i][i].ln()).sum();
    0.5 * fit + logdet
}

fn clamp_theta(theta: &mut [f64]) {
    let d = theta.len() - 2;
    for t in theta[..d].iter_mut() {
        *t = t.clamp(LN_L.0, LN_L.1);
    }
    theta[d] = theta[d].clamp(LN_S2.0, LN_S2.1);
    theta[d + 1] = theta[d + 1].clamp(LN_NOISE.0, LN_NOISE.1);
}

/// Minimises `f` from `start` with Nelder–Mead (standard coefficients).
fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, start: Vec<f64>, iters: usize) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.clone(), f(&start)));
    for i in 0..n {
        let mut p = start.clone();
        p[i] += 0.5;
        let v = f(&p);
        simplex.push((p, v));
    }
    for _ in 0..iters {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        if (simplex[n].1 - simplex[0].1).abs() < 1e-7 {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|k| simplex[..n].iter().map(|(p, _)| p[k]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let refl = along(-1.0);
        let fr = f(&refl);
        if fr < simplex[0].1 {
            let exp = along(-2.0);
            let fe = f(&exp);
            simplex[n] = if fe < fr { (exp, fe) } else { (refl, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (refl, fr);
        } else {
            let con = along(0.5);
            let fc = f(&con);
            if fc < simplex[n].1 {
                simplex[n] = (con, fc);
            } else {
                let best = simplex[0].0.clone();
                for s in simplex.iter_mut().skip(1) {
                    s.0 = best
                        .iter()
                        .zip(&s.0)
                        .map(|(b, p)| b + 0.5 * (p - b))
                        .collect();
                    s.1 = f(&s.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

impl Gp {
    /// Fits a GP to points `x` (in `[0,1]^d`) and values `y`, choosing
    /// hyperparameters by maximum marginal likelihood from `restarts` starts.
    pub fn fit(x: &[Vec<f64>], y: &[f64], restarts: usize, seed: u64) -> Result<Gp, GpError> {
        let d = x.first().map_or(0, Vec::len);
        if x.len() < d + 2 {
            return Err(GpError::TooFew {
                found: x.len(),
                needed: d + 2,
            });
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = if x.len() > MAX_FIT_POINTS {
            let mut idx: Vec<usize> = (0..x.len()).collect();
            for i in 0..MAX_FIT_POINTS {
                let j = rng.random_range(i..idx.len());
                idx.swap(i, j);
            }
            idx.truncate(MAX_FIT_POINTS);
            (
                idx.iter().map(|&i| x[i].clone()).collect(),
                idx.iter().map(|&i| y[i]).collect(),
            )
        } else {
            (x.to_vec(), y.to_vec())
        };
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        let scale = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        if scale == 0.0 || !scale.is_finite() {
            return Err(GpError::Constant);
        }
        let ys: Vec<f64> = y.iter().map(|v| (v - mean) / scale).collect();
        let objective = |t: &[f64]| {
            let mut t = t.to_vec();
            clamp_theta(&mut t);
            nll(&x, &ys, &t)
        };
        let mut best: Option<(Vec<f64>, f64)> = None;
        for r in 0..restarts.max(1) {
            let mut start: Vec<f64> = (0..d)
                .map(|_| {
                    if r == 0 {
                        (0.5f64).ln()
                    } else {
                        rng.random_range(-2.5..0.5)
                    }
                })
                .collect();
            start.push(0.0);
            start.push(if r == 0 {
                -6.0
            } else {
                rng.random_range(-12.0..-2.0)
            });
            let (t, v) = nelder_mead(&objective, start, 100 * (d + 2));
            if best.as_ref().is_none_or(|(_, b)| v < *b) {
                best = Some((t, v));
            }
        }
        let (mut theta, _) = best.unwrap_or_default();
        clamp_theta(&mut theta);
        // A noise floor that always factorises.
        let mut chol = cholesky(kernel_matrix(&x, &theta));
        while chol.is_none() && theta[d + 1] < LN_NOISE.1 {
            theta[d + 1] += 2.0;
            chol = cholesky(kernel_matrix(&x, &theta));
        }
        let chol = chol.ok_or(GpError::Constant)?;
        let alpha = chol_solve(&chol, &ys);
        Ok(Gp {
            x,
            theta,
            chol,
            alpha,
            mean,
            scale,
        })
    }

    /// Posterior mean and standard deviation at `p`.
    pub fn predict(&self, p: &[f64]) -> (f64, f64) {
        let k: Vec<f64> = self
            .x
            .iter()
            .map(|xi| matern52(&self.theta, xi, p))
            .collect();
        let mu: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let v = chol_solve(&self.chol, &k);
        let d = self.x[0].len();
        let var =
            (self.theta[d].exp() - k.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>()).max(0.0);
        (self.mean + self.scale * mu, self.scale * var.sqrt())
    }

    /// Fitted length scales (in unit-cube coordinates).
    pub fn length_scales(&self) -> Vec<f64> {
        let d = self.x[0].len();
        self.theta[..d].iter().map(|t| t.exp()).collect()
    }
}

/// Cross-validated R² of a GP on `x`, `y` with `folds` folds: hyperparameters
/// are refitted per fold (one start), so this measures the whole procedure.
pub fn cv_r2(x: &[Vec<f64>], y: &[f64], folds: usize, seed: u64) -> Result<f64, GpError> {
    let n = y.len().min(MAX_FIT_POINTS);
    let folds = folds.clamp(2, n.max(2));
    let mean = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sse, mut sst) = (0.0, 0.0);
    for f in 0..folds {
        let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % folds != f);
        let tx: Vec<Vec<f64>> = train.iter().map(|&i| x[i].clone()).collect();
        let ty: Vec<f64> = train.iter().map(|&i| y[i]).collect();
        let gp = Gp::fit(&tx, &ty, 1, seed + f as u64)?;
        for &i in &test {
            let (m, _) = gp.predict(&x[i]);
            sse += (y[i] - m).powi(2);
            sst += (y[i] - mean).powi(2);
        }
    }
    Ok(if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN })
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
    fn cholesky_solves_a_known_system() {
        let a = vec![vec![4.0, 2.0], vec![2.0, 3.0]];
        let l = cholesky(a).unwrap();
        let z = chol_solve(&l, &[6.0, 5.0]);
        assert!(
            (z[0] - 1.0).abs() < 1e-12 && (z[1] - 1.0).abs() < 1e-12,
            "{z:?}"
        );
        assert!(cholesky(vec![vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
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
