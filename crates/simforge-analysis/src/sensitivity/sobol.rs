//! Sobol' indices from a Saltelli design.
//!
//! The design (`simforge_core::design::saltelli`) tags each row `A:j`,
//! `AB<i>:j`, `BA<i>:j` or `B:j` for base sample `j`. With the metric values
//! `f` centred and scaled over all rows, and `V = Var([f_A, f_B])`:
//!
//! - first order (Saltelli et al. 2010, eq. (b) of table 2):
//!   `S_i = mean(f_B · (f_ABi − f_A)) / V`
//! - total order (Jansen 1999): `ST_i = mean((f_A − f_ABi)²) / (2V)`
//! - second order (Saltelli 2002, as in SALib):
//!   `S_ij = mean(f_BAi · f_ABj − f_A · f_B) / V − S_i − S_j`
//!
//! Confidence intervals: the indices are recomputed on bootstrap resamples of
//! the base samples; the half-width is `z · sd` (SALib's convention), with `z`
//! the normal quantile of the confidence level.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::SensitivityError;

/// Options of the estimator.
#[derive(Debug, Clone, PartialEq)]
pub struct SobolOptions {
    /// Also estimate second-order indices (needs `BA` rows).
    pub second_order: bool,
    /// Bootstrap resamples for confidence intervals (0: none).
    pub bootstrap: usize,
    /// Confidence level of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the bootstrap, so results are reproducible.
    pub seed: u64,
}

impl Default for SobolOptions {
    fn default() -> Self {
        SobolOptions {
            second_order: false,
            bootstrap: 100,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// Sobol' indices of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SobolIndices {
    /// Input names, in design order.
    pub names: Vec<String>,
    /// First-order indices.
    pub s1: Vec<f64>,
    /// Half-widths of their confidence intervals.
    pub s1_conf: Vec<f64>,
    /// Total-order indices.
    pub st: Vec<f64>,
    /// Half-widths of their confidence intervals.
    pub st_conf: Vec<f64>,
    /// Second-order indices `s2[i][j]` for `i < j` (NaN elsewhere), if asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s2: Option<Vec<Vec<f64>>>,
    /// Half-widths of their confidence intervals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s2_conf: Option<Vec<Vec<f64>>>,
    /// Base samples used (complete blocks with a finite metric).
    pub samples: usize,
    /// Base samples dropped (a run failed or has no value).
    pub dropped: usize,
    /// Confidence level of the intervals.
    pub confidence: f64,
}

/// One complete base sample: f(A), f(B), f(AB_i), and f(BA_i) if present.
#[derive(Debug, Clone, Default)]
struct Block {
    a: Option<f64>,
    b: Option<f64>,
    ab: Vec<Option<f64>>,
    ba: Vec<Option<f64>>,
}

/// Parses `AB3:17` into (`"AB"`, Some(3), 17).
fn parse_tag(tag: &str) -> Option<(&str, Option<usize>, usize)> {
    let (role, j) = tag.split_once(':')?;
    let j = j.parse().ok()?;
    for prefix in ["AB", "BA"] {
        if let Some(i) = role.strip_prefix(prefix) {
            return Some((prefix, Some(i.parse().ok()?), j));
        }
    }
    match role {
        "A" | "B" => Some((role, None, j)),
        _ => None,
    }
}

/// The normal quantile `Φ⁻¹(p)` (Acklam's rational approximation, relative
/// error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Complete blocks as rows `[a, b, ab_0.., ba_0..]` (ba only with second order).
fn complete_blocks(
    d: usize,
    tagged: &[(String, f64)],
    second_order: bool,
) -> Result<(Vec<Vec<f64>>, usize), SensitivityError> {
    let mut blocks: BTreeMap<usize, Block> = BTreeMap::new();
    let mut saw_ba = false;
    for (tag, y) in tagged {
        let Some((role, i, j)) = parse_tag(tag) else {
            return Err(SensitivityError::Design(format!(
                "row tag `{tag}` is not from a Saltelli design (expected A:j, B:j, AB<i>:j or BA<i>:j)"
            )));
        };
        let blk = blocks.entry(j).or_insert_with(|| Block {
            ab: vec![None; d],
            ba: vec![None; d],
            ..Default::default()
        });
        let v = y.is_finite().then_some(*y);
        match (role, i) {
            ("A", None) => blk.a = v,
            ("B", None) => blk.b = v,
            ("AB", Some(i)) if i < d => blk.ab[i] = v,
            ("BA", Some(i)) if i < d => {
                saw_ba = true;
                blk.ba[i] = v
            }
            _ => {
                return Err(SensitivityError::Design(format!(
                    "row tag `{tag}` names input {} but the design has {d} inputs",
                    i.unwrap_or(0)
                )));
            }
        }
    }
    if second_order && !saw_ba {
        return Err(SensitivityError::Design(
            "second-order indices need a Saltelli design with `second_order: true` (BA rows)"
                .into(),
        ));
    }
    let total = blocks.len();
    let rows: Vec<Vec<f64>> = blocks
        .into_values()
        .filter_map(|b| {
            let mut row = vec![b.a?, b.b?];
            for v in &b.ab {
                row.push((*v)?);
            }
            if second_order {
                for v in &b.ba {
                    row.push((*v)?);
                }
            }
            Some(row)
        })
        .collect();
    let dropped = total - rows.len();
    Ok((rows, dropped))
}

/// Point estimates from rows `[a, b, ab.., ba..]` picked by `pick`.
fn estimate(
    rows: &[Vec<f64>],
    pick: &[usize],
    d: usize,
    second_order: bool,
) -> (Vec<f64>, Vec<f64>, Option<Vec<Vec<f64>>>) {
    let n = pick.len() as f64;
    let (mut sa, mut sb) = (0.0, 0.0);
    for &k in pick {
        sa += rows[k][0];
        sb += rows[k][1];
    }
    let mean = (sa + sb) / (2.0 * n);
    let mut var = 0.0;
    for &k in pick {
        var += (rows[k][0] - mean).powi(2) + (rows[k][1] - mean).powi(2);
    }
    var /= 2.0 * n;
    let mut s1 = vec![0.0; d];
    let mut st = vec![0.0; d];
    for i in 0..d {
        let (mut v, mut e) = (0.0, 0.0);
        for &k in pick {
            let r = &rows[k];
            let (a, b, ab) = (r[0] - mean, r[1] - mean, r[2 + i] - mean);
            v += b * (ab - a);
            e += (a - ab).powi(2);
        }
        s1[i] = v / n / var;
        st[i] = 0.5 * e / n / var;
    }
    let s2 = second_order.then(|| {
        let mut m = vec![vec![f64::NAN; d]; d];
        for i in 0..d {
            for j in (i + 1)..d {
                let mut v = 0.0;
                for &k in pick {
                    let r = &rows[k];
                    let (a, b) = (r[0] - mean, r[1] - mean);
                    let ba_i = r[2 + d + i] - mean;
                    let ab_j = r[2 + j] - mean;
                    v += ba_i * ab_j - a * b;
                }
                m[i][j] = v / n / var - s1[i] - s1[j];
            }
        }
        m
    });
    (s1, st, s2)
}

fn sd(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let m = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// Sobol' indices of the metric values `tagged` (row tag, value) of a Saltelli
/// design over inputs `names` (in design order). Rows whose value is not
/// finite (failed runs) drop their whole base sample.
pub fn sobol_indices(
    names: &[String],
    tagged: &[(String, f64)],
    opts: &SobolOptions,
) -> Result<SobolIndices, SensitivityError> {
    let d = names.len();
    let (rows, dropped) = complete_blocks(d, tagged, opts.second_order)?;
    if rows.len() < 2 {
        return Err(SensitivityError::TooFew {
            found: rows.len(),
            needed: 2,
            hint: "run more base samples (design.samples) or fix the failing runs".into(),
        });
    }
    let all: Vec<usize> = (0..rows.len()).collect();
    let (s1, st, s2) = estimate(&rows, &all, d, opts.second_order);
    if s1.iter().chain(&st).any(|v| !v.is_finite()) {
        return Err(SensitivityError::ZeroVariance);
    }
    let z = normal_quantile(0.5 + opts.confidence / 2.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let mut boot_s1 = vec![Vec::with_capacity(opts.bootstrap); d];
    let mut boot_st = vec![Vec::with_capacity(opts.bootstrap); d];
    let mut boot_s2 = vec![vec![Vec::with_capacity(opts.bootstrap); d]; d];
    let mut pick = vec![0usize; rows.len()];
    for _ in 0..opts.bootstrap {
        for p in pick.iter_mut() {
            *p = rng.random_range(0..rows.len());
        }
        let (b1, bt, b2) = estimate(&rows, &pick, d, opts.second_order);
        for i in 0..d {
            boot_s1[i].push(b1[i]);
            boot_st[i].push(bt[i]);
        }
        if let Some(b2) = b2 {
            for i in 0..d {
                for j in (i + 1)..d {
                    boot_s2[i][j].push(b2[i][j]);
                }
            }
        }
    }
    let conf = |xs: &[f64]| if xs.is_empty() { f64::NAN } else { z * sd(xs) };
    let s2_conf = s2.as_ref().map(|_| {
        (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        if j > i {
                            conf(&boot_s2[i][j])
                        } else {
                            f64::NAN
                        }
                    })
                    .collect()
            })
            .collect()
    });
    Ok(SobolIndices {
        names: names.to_vec(),
        s1_conf: boot_s1.iter().map(|b| conf(b)).collect(),
        st_conf: boot_st.iter().map(|b| conf(b)).collect(),
        s1,
        st,
        s2,
        s2_conf,
        samples: rows.len(),
        dropped,
        confidence: opts.confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use simforge_core::design::saltelli;
    use simforge_sims::analytic::Analytic;

    /// Runs the Saltelli design through an analytic function (no store): the
    /// estimator alone against the closed-form indices.
    fn indices(
        function: serde_json::Value,
        n: usize,
        second_order: bool,
    ) -> (SobolIndices, Analytic) {
        let f = Analytic::from_options(function.as_object().unwrap()).unwrap();
        let bounds = f.bounds();
        let d = bounds.len();
        let design = saltelli::points(n, d, Some(7), second_order).unwrap();
        let tags = design.tags.clone().unwrap();
        let tagged: Vec<(String, f64)> = tags
            .into_iter()
            .enumerate()
            .map(|(r, tag)| {
                let u = &design.values[r * d..(r + 1) * d];
                let x: Vec<f64> = u
                    .iter()
                    .zip(&bounds)
                    .map(|(u, b)| {
                        let (lo, hi) = b.unwrap_or((0.0, 1.0));
                        lo + u * (hi - lo)
                    })
                    .collect();
                (tag, f.evaluate(&x))
            })
            .collect();
        let names: Vec<String> = f.input_names();
        let opts = SobolOptions {
            second_order,
            bootstrap: 50,
            ..Default::default()
        };
        (sobol_indices(&names, &tagged, &opts).unwrap(), f)
    }

    #[test]
    fn ishigami_matches_the_closed_form() {
        // Reference: Ishigami a=7, b=0.1: S1 = 0.3139, 0.4424, 0; ST = 0.5576,
        // 0.4424, 0.2437 (Saltelli et al. 2008). N = 2^13 base samples;
        // tolerance 0.02 absolute (bootstrap half-widths are ~0.01-0.02 here).
        let (s, f) = indices(serde_json::json!({"function": "ishigami"}), 1 << 13, false);
        let s1 = f.analytic_sobol_first_order().unwrap();
        let st = f.analytic_sobol_total().unwrap();
        for i in 0..3 {
            assert!(
                (s.s1[i] - s1[i]).abs() < 0.02,
                "S1[{i}] = {} vs {}",
                s.s1[i],
                s1[i]
            );
            assert!(
                (s.st[i] - st[i]).abs() < 0.02,
                "ST[{i}] = {} vs {}",
                s.st[i],
                st[i]
            );
            assert!(s.s1_conf[i] > 0.0 && s.s1_conf[i] < 0.05, "{:?}", s.s1_conf);
        }
        assert!((s1[0] - 0.3139).abs() < 1e-4 && (st[2] - 0.2437).abs() < 1e-4);
    }

    #[test]
    fn ishigami_second_order_finds_the_x1_x3_interaction() {
        // S13 = ST1 - S1 = 0.2437 (the only interaction); S12 = S23 = 0.
        // N = 2^13, tolerance 0.03.
        let (s, _) = indices(serde_json::json!({"function": "ishigami"}), 1 << 13, true);
        let s2 = s.s2.unwrap();
        assert!((s2[0][2] - 0.2437).abs() < 0.03, "S13 = {}", s2[0][2]);
        assert!(s2[0][1].abs() < 0.03 && s2[1][2].abs() < 0.03, "{s2:?}");
    }

    #[test]
    fn sobol_g_matches_the_closed_form() {
        // Reference: Sobol G with a = [0, 1, 4.5, 9, 99, 99, 99, 99]:
        // S1 = 0.7162, 0.1790, 0.0237, 0.0072, ~0; ST = 0.7871, 0.2422, 0.0343,
        // 0.0105, ~0. N = 2^13, tolerance 0.02 absolute.
        let a = [0.0, 1.0, 4.5, 9.0, 99.0, 99.0, 99.0, 99.0];
        let (s, f) = indices(
            serde_json::json!({"function": "sobol_g", "a": a}),
            1 << 13,
            false,
        );
        let s1 = f.analytic_sobol_first_order().unwrap();
        let st = f.analytic_sobol_total().unwrap();
        for i in 0..8 {
            assert!(
                (s.s1[i] - s1[i]).abs() < 0.02,
                "S1[{i}] = {} vs {}",
                s.s1[i],
                s1[i]
            );
            assert!(
                (s.st[i] - st[i]).abs() < 0.02,
                "ST[{i}] = {} vs {}",
                s.st[i],
                st[i]
            );
        }
        assert!((s1[0] - 0.7162).abs() < 1e-3 && (st[1] - 0.2422).abs() < 1e-3);
    }

    #[test]
    fn failed_runs_drop_their_block_and_bad_tags_are_refused() {
        let names = vec!["x".to_string()];
        let mut rows = vec![];
        for j in 0..10 {
            let y = j as f64;
            rows.push((format!("A:{j}"), y));
            rows.push((format!("AB0:{j}"), y * 2.0));
            rows.push((format!("B:{j}"), 2.0 * y + 1.0));
        }
        rows[4].1 = f64::NAN;
        let s = sobol_indices(&names, &rows, &SobolOptions::default()).unwrap();
        assert_eq!((s.samples, s.dropped), (9, 1));
        let bad = vec![("t0:s1:x0".to_string(), 1.0)];
        assert!(matches!(
            sobol_indices(&names, &bad, &SobolOptions::default()),
            Err(SensitivityError::Design(_))
        ));
        let flat: Vec<(String, f64)> = rows.iter().map(|(t, _)| (t.clone(), 1.0)).collect();
        assert_eq!(
            sobol_indices(&names, &flat, &SobolOptions::default()),
            Err(SensitivityError::ZeroVariance)
        );
    }

    #[test]
    fn the_normal_quantile_is_accurate() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.01) + 2.326348).abs() < 1e-6);
    }
}
