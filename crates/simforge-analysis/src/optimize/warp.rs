//! Output warping for optimisation: standardise, then a Yeo–Johnson power
//! transform (Yeo & Johnson 2000) with the exponent that makes the values
//! most normal by maximum likelihood. Objectives with a heavy tail (a
//! Rosenbrock valley, a latency that explodes when a queue saturates) are
//! otherwise modelled badly by a stationary GP: the few huge values set the
//! scale and the interesting low region looks flat. The transform is
//! monotone, so the minimiser and the incumbent are unchanged. (HEBO, Cowen-
//! Rivers et al. 2022, uses the same idea.)

/// A fitted warp.
#[derive(Debug, Clone, PartialEq)]
pub struct Warp {
    mean: f64,
    sd: f64,
    lambda: f64,
}

fn yj(z: f64, l: f64) -> f64 {
    if z >= 0.0 {
        if l.abs() < 1e-9 {
            z.ln_1p()
        } else {
            ((z + 1.0).powf(l) - 1.0) / l
        }
    } else if (l - 2.0).abs() < 1e-9 {
        -(-z).ln_1p()
    } else {
        -((1.0 - z).powf(2.0 - l) - 1.0) / (2.0 - l)
    }
}

fn yj_inverse(t: f64, l: f64) -> f64 {
    if t >= 0.0 {
        if l.abs() < 1e-9 {
            t.exp_m1()
        } else {
            (t * l + 1.0).max(0.0).powf(1.0 / l) - 1.0
        }
    } else if (l - 2.0).abs() < 1e-9 {
        1.0 - (-t).exp()
    } else {
        1.0 - (1.0 - t * (2.0 - l)).max(0.0).powf(1.0 / (2.0 - l))
    }
}

impl Warp {
    /// Fits the warp to `y` (the exponent on a grid over `[−2, 2]`).
    pub fn fit(y: &[f64]) -> Warp {
        let n = y.len().max(1) as f64;
        let mean = y.iter().sum::<f64>() / n;
        let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let sd = if sd > 0.0 && sd.is_finite() { sd } else { 1.0 };
        let z: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
        let log_lik = |l: f64| {
            let t: Vec<f64> = z.iter().map(|v| yj(*v, l)).collect();
            let m = t.iter().sum::<f64>() / n;
            let var = t.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
            let jac: f64 = z.iter().map(|v| v.signum() * v.abs().ln_1p()).sum();
            -0.5 * n * var.max(1e-300).ln() + (l - 1.0) * jac
        };
        let lambda = (0..=40)
            .map(|k| -2.0 + 0.1 * k as f64)
            .map(|l| (l, log_lik(l)))
            .filter(|(_, v)| v.is_finite())
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(1.0, |(l, _)| l);
        Warp { mean, sd, lambda }
    }

    /// The warped value of `v`.
    pub fn apply(&self, v: f64) -> f64 {
        yj((v - self.mean) / self.sd, self.lambda)
    }

    /// The value whose warp is `t`.
    pub fn invert(&self, t: f64) -> f64 {
        self.mean + self.sd * yj_inverse(t, self.lambda)
    }

    /// The fitted exponent (1 is the identity after standardising).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transform_inverts_and_tames_a_heavy_tail() {
        // Log-normal-like values: the warp must pick λ < 1 (compressing the
        // tail) and invert exactly.
        let y: Vec<f64> = (0..50).map(|i| (i as f64 / 5.0).exp()).collect();
        let w = Warp::fit(&y);
        assert!(w.lambda() < 0.5, "λ = {}", w.lambda());
        for v in &y {
            let back = w.invert(w.apply(*v));
            assert!((back - v).abs() < 1e-6 * v.abs().max(1.0), "{v} → {back}");
        }
        // Monotone.
        let t: Vec<f64> = y.iter().map(|v| w.apply(*v)).collect();
        assert!(t.windows(2).all(|p| p[0] < p[1]));
        // Symmetric data stay close to linear.
        let sym: Vec<f64> = (0..50).map(|i| i as f64).collect();
        assert!((Warp::fit(&sym).lambda() - 1.0).abs() <= 0.5);
    }
}
