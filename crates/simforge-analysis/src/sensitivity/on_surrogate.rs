//! Sobol' indices for designs that are not Saltelli designs: fit a Gaussian
//! process to the points, then estimate the indices on the surrogate's mean
//! over a Saltelli design of the unit cube. Only as good as the surrogate: its
//! cross-validated R² comes with the indices.

use serde::Serialize;
use simforge_core::design::saltelli;

use super::SensitivityError;
use super::sobol::{SobolIndices, SobolOptions, sobol_indices};
use crate::surrogate::gp::{Gp, GpError, cv_r2};

/// Points used to fit the surrogate for sensitivity (a random subset beyond).
pub const FIT_POINTS: usize = 200;
/// Below this cross-validated R², the indices get a warning.
pub const GOOD_R2: f64 = 0.8;

/// Sobol' indices estimated on a surrogate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurrogateSobol {
    /// The indices (their intervals cover the Monte Carlo error on the
    /// surrogate, not the surrogate's own error).
    pub sobol: SobolIndices,
    /// 5-fold cross-validated R² of the surrogate.
    pub cv_r2: f64,
    /// Points the surrogate was fitted to.
    pub points: usize,
    /// Fitted length scales per input (unit-cube coordinates; long = inert).
    pub length_scales: Vec<f64>,
}

impl From<GpError> for SensitivityError {
    fn from(e: GpError) -> Self {
        SensitivityError::Design(format!("cannot fit a surrogate: {e}"))
    }
}

/// Sobol' indices of a GP fitted to `x` (unit-cube coordinates, design order)
/// and `y` (NaN rows dropped), from `base_samples` Saltelli base samples.
pub fn sobol_on_surrogate(
    names: &[String],
    x: &[Vec<f64>],
    y: &[f64],
    base_samples: usize,
    seed: u64,
) -> Result<SurrogateSobol, SensitivityError> {
    let d = names.len();
    let keep: Vec<usize> = (0..y.len())
        .filter(|&k| y[k].is_finite() && x[k].len() == d && x[k].iter().all(|v| v.is_finite()))
        .take(FIT_POINTS)
        .collect();
    let fx: Vec<Vec<f64>> = keep.iter().map(|&k| x[k].clone()).collect();
    let fy: Vec<f64> = keep.iter().map(|&k| y[k]).collect();
    let gp = Gp::fit(&fx, &fy, 3, seed)?;
    let r2 = cv_r2(&fx, &fy, 5, seed)?;
    let design = saltelli::points(base_samples, d, Some(seed), false)
        .map_err(|e| SensitivityError::Design(e.to_string()))?;
    let tags = design.tags.clone().unwrap_or_default();
    let tagged: Vec<(String, f64)> = tags
        .into_iter()
        .enumerate()
        .map(|(r, tag)| (tag, gp.predict(&design.values[r * d..(r + 1) * d]).0))
        .collect();
    let sobol = sobol_indices(
        names,
        &tagged,
        &SobolOptions {
            seed,
            ..Default::default()
        },
    )?;
    Ok(SurrogateSobol {
        sobol,
        cv_r2: r2,
        points: keep.len(),
        length_scales: gp.length_scales(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ishigami_indices_on_a_surrogate_of_150_random_points() {
        // Ishigami (a=7, b=0.1) on 150 random points mapped to [−π, π]³: the
        // GP's indices should land near S1 = (0.314, 0.442, 0), ST = (0.558,
        // 0.442, 0.244) — tolerance 0.1 (a surrogate of 150 points of a
        // strongly non-linear function), with a cross-validated R² > 0.8.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let pi = std::f64::consts::PI;
        let x: Vec<Vec<f64>> = (0..150)
            .map(|_| (0..3).map(|_| rng.random::<f64>()).collect())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|u| {
                let v: Vec<f64> = u.iter().map(|u| -pi + 2.0 * pi * u).collect();
                v[0].sin() + 7.0 * v[1].sin().powi(2) + 0.1 * v[2].powi(4) * v[0].sin()
            })
            .collect();
        let names: Vec<String> = ["x1", "x2", "x3"].iter().map(|s| s.to_string()).collect();
        let s = sobol_on_surrogate(&names, &x, &y, 1024, 1).unwrap();
        assert!(s.cv_r2 > 0.8, "cross-validated R² {}", s.cv_r2);
        let (s1, st) = ([0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]);
        for i in 0..3 {
            assert!((s.sobol.s1[i] - s1[i]).abs() < 0.1, "S1 {:?}", s.sobol.s1);
            assert!((s.sobol.st[i] - st[i]).abs() < 0.1, "ST {:?}", s.sobol.st);
        }
    }
}
