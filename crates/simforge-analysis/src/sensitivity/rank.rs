//! Rank-based sensitivity measures for any design (random, LHS, Sobol'
//! points, a table): standardised rank regression coefficients (SRRC) and
//! partial rank correlation coefficients (PRCC) (Saltelli & Marivoet 1990;
//! Marino et al. 2008). Both assume a monotone relation; the R² of the rank
//! regression says how much of the metric's rank variance they explain.

use serde::Serialize;

use super::SensitivityError;

/// Rank measures of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankIndices {
    /// Input names.
    pub names: Vec<String>,
    /// Standardised rank regression coefficients.
    pub srrc: Vec<f64>,
    /// Partial rank correlation coefficients.
    pub prcc: Vec<f64>,
    /// R² of the rank regression: below ~0.7 the relation is not monotone
    /// enough for these measures to tell the whole story.
    pub r2: f64,
    /// Points used (finite metric).
    pub samples: usize,
    /// Points dropped (failed runs).
    pub dropped: usize,
}

/// Ranks from 1, ties sharing their average rank.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut out = vec![0.0; xs.len()];
    let mut k = 0;
    while k < order.len() {
        let mut e = k;
        while e + 1 < order.len() && xs[order[e + 1]] == xs[order[k]] {
            e += 1;
        }
        let avg = (k + e) as f64 / 2.0 + 1.0;
        for &o in &order[k..=e] {
            out[o] = avg;
        }
        k = e + 1;
    }
    out
}

/// Inverts a small symmetric positive-definite matrix (Gauss–Jordan with
/// partial pivoting); `None` when it is singular.
fn invert(mut a: Vec<Vec<f64>>) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..n {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = a[r][c];
                if f != 0.0 {
                    for j in 0..n {
                        a[r][j] -= f * a[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

/// SRRC and PRCC of metric `y` on inputs `x` (one row per point, inputs in
/// `names` order). Points whose metric is not finite are dropped.
pub fn rank_indices(
    names: &[String],
    x: &[Vec<f64>],
    y: &[f64],
) -> Result<RankIndices, SensitivityError> {
    let d = names.len();
    let keep: Vec<usize> = (0..y.len())
        .filter(|&k| y[k].is_finite() && x[k].len() == d && x[k].iter().all(|v| v.is_finite()))
        .collect();
    let n = keep.len();
    if n < d + 3 {
        return Err(SensitivityError::TooFew {
            found: n,
            needed: d + 3,
            hint: "rank measures need more points than inputs; run more samples".into(),
        });
    }
    // Columns: inputs, then the metric, rank-transformed and standardised.
    let mut cols: Vec<Vec<f64>> = (0..d)
        .map(|i| ranks(&keep.iter().map(|&k| x[k][i]).collect::<Vec<_>>()))
        .collect();
    cols.push(ranks(&keep.iter().map(|&k| y[k]).collect::<Vec<_>>()));
    for c in cols.iter_mut() {
        let m = c.iter().sum::<f64>() / n as f64;
        let sd = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
        if sd == 0.0 {
            return Err(SensitivityError::ZeroVariance);
        }
        for v in c.iter_mut() {
            *v = (*v - m) / sd;
        }
    }
    let corr: Vec<Vec<f64>> = (0..=d)
        .map(|a| {
            (0..=d)
                .map(|b| {
                    cols[a]
                        .iter()
                        .zip(&cols[b])
                        .map(|(u, v)| u * v)
                        .sum::<f64>()
                        / n as f64
                })
                .collect()
        })
        .collect();
    let singular = || {
        SensitivityError::Design(
            "the inputs' ranks are collinear (an input is constant or a copy of another)".into(),
        )
    };
    let cxx: Vec<Vec<f64>> = corr[..d].iter().map(|r| r[..d].to_vec()).collect();
    let inv_xx = invert(cxx).ok_or_else(singular)?;
    let srrc: Vec<f64> = (0..d)
        .map(|i| (0..d).map(|j| inv_xx[i][j] * corr[j][d]).sum())
        .collect();
    let r2 = srrc
        .iter()
        .enumerate()
        .map(|(i, b)| b * corr[i][d])
        .sum::<f64>();
    let prcc = match invert(corr) {
        Some(p) => (0..d)
            .map(|i| -p[i][d] / (p[i][i] * p[d][d]).sqrt())
            .collect(),
        // The metric's ranks are an exact linear function of the inputs'
        // (R² = 1, e.g. one input and a monotone metric): the residuals of
        // the metric are those of each input times its coefficient, so
        // PRCC is the coefficient's sign (0 for an inert input).
        None if (1.0 - r2).abs() < 1e-9 => srrc
            .iter()
            .map(|b| if b.abs() < 1e-12 { 0.0 } else { b.signum() })
            .collect(),
        None => return Err(singular()),
    };
    Ok(RankIndices {
        names: names.to_vec(),
        srrc,
        prcc,
        r2,
        samples: n,
        dropped: y.len() - n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample(n: usize, d: usize, f: impl Fn(&[f64]) -> f64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect();
        let y = x.iter().map(|r| f(r)).collect();
        (x, y)
    }

    #[test]
    fn a_metric_monotone_in_its_only_input_has_prcc_one() {
        // y = x³ (decreasing for -y): ranks coincide, so SRRC = PRCC = ±1
        // and R² = 1 exactly (the correlation matrix is singular).
        let names = vec!["x".to_string()];
        let x: Vec<Vec<f64>> = (0..6).map(|k| vec![k as f64]).collect();
        let up: Vec<f64> = (0..6).map(|k| (k as f64).powi(3)).collect();
        let s = rank_indices(&names, &x, &up).unwrap();
        assert!((s.srrc[0] - 1.0).abs() < 1e-12 && s.prcc[0] == 1.0, "{s:?}");
        assert!((s.r2 - 1.0).abs() < 1e-12);
        let down: Vec<f64> = up.iter().map(|v| -v).collect();
        let s = rank_indices(&names, &x, &down).unwrap();
        assert!(
            (s.srrc[0] + 1.0).abs() < 1e-12 && s.prcc[0] == -1.0,
            "{s:?}"
        );
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn a_linear_model_gives_its_standardised_coefficients() {
        // y = 2 x1 + x2 + 0 x3, inputs uniform: the standardised coefficients
        // are 2/√5 = 0.894 and 1/√5 = 0.447 (ranks of uniforms are uniform,
        // and y is nearly rank-linear). n = 2000, tolerance 0.03; PRCC of the
        // two active inputs near 1, of x3 near 0 (|·| < 0.06).
        let names: Vec<String> = ["x1", "x2", "x3"].iter().map(|s| s.to_string()).collect();
        let (x, y) = sample(2000, 3, |r| 2.0 * r[0] + r[1]);
        let s = rank_indices(&names, &x, &y).unwrap();
        assert!((s.srrc[0] - 0.894).abs() < 0.03, "{:?}", s.srrc);
        assert!((s.srrc[1] - 0.447).abs() < 0.03, "{:?}", s.srrc);
        assert!(s.srrc[2].abs() < 0.03, "{:?}", s.srrc);
        assert!(
            s.prcc[0] > 0.95 && s.prcc[1] > 0.85 && s.prcc[2].abs() < 0.06,
            "{:?}",
            s.prcc
        );
        assert!(s.r2 > 0.95, "{}", s.r2);
    }

    #[test]
    fn decreasing_effects_are_negative_and_failures_are_dropped() {
        let names: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let (x, mut y) = sample(300, 2, |r| (-3.0 * r[0]).exp() + 0.1 * r[1]);
        y[7] = f64::NAN;
        let s = rank_indices(&names, &x, &y).unwrap();
        assert!(s.prcc[0] < -0.9 && s.prcc[1] > 0.5, "{:?}", s.prcc);
        assert_eq!((s.samples, s.dropped), (299, 1));
        let (x2, y2) = sample(3, 2, |r| r[0]);
        assert!(matches!(
            rank_indices(&names, &x2, &y2),
            Err(SensitivityError::TooFew { .. })
        ));
    }
}
