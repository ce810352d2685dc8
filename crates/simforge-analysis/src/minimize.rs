//! Local minimisers of smooth functions of a few variables: L-BFGS (with
//! gradients, for Gaussian-process hyperparameters) and Nelder–Mead (without,
//! for acquisition functions over a box). Both are the textbook methods
//! (Nocedal & Wright 2006, alg. 7.4; Nelder & Mead 1965); the problems here
//! have at most a few dozen variables.

/// A function returning its value and gradient.
pub type WithGradient<'a> = dyn FnMut(&[f64]) -> (f64, Vec<f64>) + 'a;

/// Minimises `f` (which returns the value and the gradient) from `start` with
/// L-BFGS, memory 8 and a backtracking Armijo line search. Stops after
/// `max_iters` iterations, or when the gradient or the relative decrease
/// becomes negligible. Returns the best point and its value.
pub fn lbfgs(f: &mut WithGradient<'_>, start: Vec<f64>, max_iters: usize) -> (Vec<f64>, f64) {
    const MEMORY: usize = 8;
    let n = start.len();
    let mut x = start;
    let (mut fx, mut g) = f(&x);
    if !fx.is_finite() {
        return (x, fx);
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    for _ in 0..max_iters {
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm < 1e-5 {
            break;
        }
        // Two-loop recursion for the search direction d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(y, s);
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push((a, rho));
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let scale = 1.0 / gnorm.max(1.0);
            q.iter_mut().for_each(|v| *v *= scale);
        }
        for ((s, y), (a, rho)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (curvature information went stale): steepest descent.
            s_hist.clear();
            y_hist.clear();
            d = g.iter().map(|v| -v / gnorm.max(1.0)).collect();
            slope = dot(&g, &d);
        }
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let (fnew, gnew) = f(&xn);
            if fnew.is_finite() && fnew <= fx + 1e-4 * step * slope {
                accepted = Some((xn, fnew, gnew));
                break;
            }
            step *= 0.5;
        }
        let Some((xn, fnew, gnew)) = accepted else {
            break;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gnew.iter().zip(&g).map(|(a, b)| a - b).collect();
        let decrease = fx - fnew;
        x = xn;
        g = gnew;
        let old = fx;
        fx = fnew;
        if dot(&s, &y) > 1e-12 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
        }
        if decrease <= 1e-8 * old.abs().max(1.0) {
            break;
        }
    }
    debug_assert_eq!(x.len(), n);
    (x, fx)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Minimises `f` from `start` with Nelder–Mead (standard coefficients), the
/// first simplex spanning `step` along each axis. Returns the best point and
/// its value after at most `iters` iterations or once the simplex's values
/// agree to `1e-7`.
pub fn nelder_mead(
    f: &mut dyn FnMut(&[f64]) -> f64,
    start: Vec<f64>,
    step: f64,
    iters: usize,
) -> (Vec<f64>, f64) {
    let n = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    let f0 = f(&start);
    simplex.push((start.clone(), f0));
    for i in 0..n {
        let mut p = start.clone();
        p[i] += step;
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
        let along = |t: f64, worst: &[f64]| -> Vec<f64> {
            centroid
                .iter()
                .zip(worst)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let refl = along(-1.0, &simplex[n].0);
        let fr = f(&refl);
        if fr < simplex[0].1 {
            let exp = along(-2.0, &simplex[n].0);
            let fe = f(&exp);
            simplex[n] = if fe < fr { (exp, fe) } else { (refl, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (refl, fr);
        } else {
            let con = along(0.5, &simplex[n].0);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock in 2-d: minimum 0 at (1, 1).
    fn rosen(x: &[f64]) -> (f64, Vec<f64>) {
        let (a, b) = (x[0], x[1]);
        let f = 100.0 * (b - a * a).powi(2) + (1.0 - a).powi(2);
        let g = vec![
            -400.0 * a * (b - a * a) - 2.0 * (1.0 - a),
            200.0 * (b - a * a),
        ];
        (f, g)
    }

    #[test]
    fn lbfgs_finds_the_rosenbrock_minimum() {
        let (x, f) = lbfgs(&mut |x| rosen(x), vec![-1.2, 1.0], 500);
        assert!(f < 1e-8, "f = {f} at {x:?}");
        assert!((x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 1e-3);
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let (x, f) = nelder_mead(
            &mut |x| (x[0] - 0.3).powi(2) + 2.0 * (x[1] + 0.2).powi(2),
            vec![0.0, 0.0],
            0.5,
            500,
        );
        assert!(
            f < 1e-6 && (x[0] - 0.3).abs() < 1e-2 && (x[1] + 0.2).abs() < 1e-2,
            "{f} at {x:?}"
        );
    }
}
