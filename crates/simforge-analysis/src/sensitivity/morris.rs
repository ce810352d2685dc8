//! Morris elementary effects (Morris 1991) with the μ* of Campolongo,
//! Cariboni & Saltelli (2007), as SALib computes them.
//!
//! The design (`simforge_core::design::morris`) tags rows `t<k>:s0` (start of
//! trajectory k) and `t<k>:s<step>:x<i>` (input i moved by ±Δ at that step),
//! with Δ = p / (2(p−1)) in unit coordinates for p grid levels. The elementary
//! effect of that step is `(y_step − y_prev) / (±Δ)`, the sign being the
//! direction input i moved. Per input: μ = mean EE, μ* = mean |EE|,
//! σ = standard deviation of EE (n−1), and a bootstrap half-width for μ*.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::SensitivityError;
use super::sobol::normal_quantile;

/// One row of a Morris design: its tag, metric value (NaN when the run
/// failed) and input values in design order (numbers, or a choice's index).
#[derive(Debug, Clone, PartialEq)]
pub struct MorrisRow {
    /// `t<k>:s<step>[:x<i>]`.
    pub tag: String,
    /// Metric value.
    pub y: f64,
    /// Inputs in design order.
    pub x: Vec<f64>,
}

/// Morris measures of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MorrisIndices {
    /// Input names, in design order.
    pub names: Vec<String>,
    /// Mean elementary effect (signed).
    pub mu: Vec<f64>,
    /// Mean absolute elementary effect: the importance ranking.
    pub mu_star: Vec<f64>,
    /// Standard deviation of the effects: non-linearity and interactions.
    pub sigma: Vec<f64>,
    /// Bootstrap half-width of μ*.
    pub mu_star_conf: Vec<f64>,
    /// Elementary effects used per input.
    pub effects: Vec<usize>,
    /// Steps skipped because a run failed.
    pub dropped: usize,
    /// Confidence level of the half-widths.
    pub confidence: f64,
}

fn parse(tag: &str) -> Option<(usize, usize, Option<usize>)> {
    let mut parts = tag.split(':');
    let t = parts.next()?.strip_prefix('t')?.parse().ok()?;
    let s = parts.next()?.strip_prefix('s')?.parse().ok()?;
    let i = match parts.next() {
        Some(x) => Some(
            x.strip_prefix('x')
                .or_else(|| x.strip_prefix('g'))?
                .parse()
                .ok()?,
        ),
        None => None,
    };
    Some((t, s, i))
}

/// Morris measures for inputs `names` from the rows of a Morris design with
/// `levels` grid levels; `bootstrap` resamples (seeded) give μ*'s interval.
///
/// With `groups` (inputs moved together; `names` then names the groups), the
/// measures are per group. A group's effect takes the direction of the net
/// move of its inputs; when they moved in different directions μ and σ mix
/// them, so μ* is the measure to rank groups by (Campolongo et al. 2007).
pub fn morris_indices(
    names: &[String],
    rows: &[MorrisRow],
    levels: u32,
    bootstrap: usize,
    confidence: f64,
    seed: u64,
    groups: Option<&[Vec<usize>]>,
) -> Result<MorrisIndices, SensitivityError> {
    let d = names.len();
    let inputs = rows.first().map_or(0, |r| r.x.len());
    let singletons: Vec<Vec<usize>> = (0..d).map(|i| vec![i]).collect();
    let members = groups.unwrap_or(&singletons);
    if members.len() != d || members.iter().flatten().any(|i| *i >= inputs) {
        return Err(SensitivityError::Design(format!(
            "{} groups for {d} names over {inputs} inputs",
            members.len()
        )));
    }
    let p = f64::from(levels);
    let delta = p / (2.0 * (p - 1.0));
    let mut trajectories: BTreeMap<usize, BTreeMap<usize, (&MorrisRow, Option<usize>)>> =
        BTreeMap::new();
    for r in rows {
        let Some((t, s, i)) = parse(&r.tag) else {
            return Err(SensitivityError::Design(format!(
                "row tag `{}` is not from a Morris design (expected t<k>:s<step>[:x<i>])",
                r.tag
            )));
        };
        if i.is_some_and(|i| i >= d) || r.x.len() != inputs {
            return Err(SensitivityError::Design(format!(
                "row `{}` does not match the design's {d} inputs or groups",
                r.tag
            )));
        }
        trajectories.entry(t).or_default().insert(s, (r, i));
    }
    let mut ee: Vec<Vec<f64>> = vec![Vec::new(); d];
    let mut dropped = 0;
    for steps in trajectories.values() {
        for (s, (row, i)) in steps {
            let (Some(i), Some((prev, _))) = (i, s.checked_sub(1).and_then(|k| steps.get(&k)))
            else {
                continue;
            };
            if !(row.y.is_finite() && prev.y.is_finite()) {
                dropped += 1;
                continue;
            }
            let moved: f64 = members[*i].iter().map(|&k| row.x[k] - prev.x[k]).sum();
            let sign = if moved < 0.0 { -1.0 } else { 1.0 };
            ee[*i].push((row.y - prev.y) / (sign * delta));
        }
    }
    if ee.iter().any(|e| e.is_empty()) {
        return Err(SensitivityError::TooFew {
            found: ee.iter().map(Vec::len).min().unwrap_or(0),
            needed: 1,
            hint: "every input needs at least one elementary effect: run more trajectories or fix failing runs"
                .into(),
        });
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| {
        if v.len() < 2 {
            return f64::NAN;
        }
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
    };
    let z = normal_quantile(0.5 + confidence / 2.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut conf = Vec::with_capacity(d);
    for e in &ee {
        let abs: Vec<f64> = e.iter().map(|v| v.abs()).collect();
        let boots: Vec<f64> = (0..bootstrap)
            .map(|_| {
                let n = abs.len();
                (0..n).map(|_| abs[rng.random_range(0..n)]).sum::<f64>() / n as f64
            })
            .collect();
        conf.push(if boots.len() < 2 {
            f64::NAN
        } else {
            z * sd(&boots)
        });
    }
    Ok(MorrisIndices {
        names: names.to_vec(),
        mu: ee.iter().map(|e| mean(e)).collect(),
        mu_star: ee
            .iter()
            .map(|e| mean(&e.iter().map(|v| v.abs()).collect::<Vec<_>>()))
            .collect(),
        sigma: ee.iter().map(|e| sd(e)).collect(),
        mu_star_conf: conf,
        effects: ee.iter().map(Vec::len).collect(),
        dropped,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use simforge_core::design::morris;

    fn run(f: impl Fn(&[f64]) -> f64, d: usize, r: usize, levels: usize) -> MorrisIndices {
        let design = morris::points(r, d, levels, 3, None).unwrap();
        let tags = design.tags.clone().unwrap();
        let rows: Vec<MorrisRow> = tags
            .into_iter()
            .enumerate()
            .map(|(k, tag)| {
                let x = design.values[k * d..(k + 1) * d].to_vec();
                MorrisRow { tag, y: f(&x), x }
            })
            .collect();
        let names: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
        morris_indices(&names, &rows, levels as u32, 100, 0.95, 1, None).unwrap()
    }

    #[test]
    fn groups_rank_by_their_combined_effect() {
        // y = 2 x0 + 2 x2 + 0.5 x1 with groups {x0, x2} and {x1}: the first
        // group's |effect| is 4 when both move the same way and 0 when they
        // move oppositely, so its μ* lies in [0, 4] and above the second's 0.5.
        let groups = vec![vec![0, 2], vec![1]];
        let design = morris::points(40, 3, 4, 5, Some(&groups)).unwrap();
        let tags = design.tags.clone().unwrap();
        let rows: Vec<MorrisRow> = tags
            .into_iter()
            .enumerate()
            .map(|(k, tag)| {
                let x = design.values[k * 3..(k + 1) * 3].to_vec();
                MorrisRow {
                    tag,
                    y: 2.0 * x[0] + 2.0 * x[2] + 0.5 * x[1],
                    x,
                }
            })
            .collect();
        let names = vec!["a".to_string(), "b".to_string()];
        let m = morris_indices(&names, &rows, 4, 50, 0.95, 1, Some(&groups)).unwrap();
        assert_eq!(m.effects, vec![40, 40]);
        assert!((m.mu_star[1] - 0.5).abs() < 1e-9, "{:?}", m.mu_star);
        assert!(
            m.mu_star[0] > 1.0 && m.mu_star[0] <= 4.0 + 1e-9,
            "{:?}",
            m.mu_star
        );
    }

    #[test]
    fn a_linear_function_has_constant_effects() {
        // y = 2 x0 − 3 x1 + 0 x2 on [0,1]^3: every elementary effect equals the
        // coefficient, so μ = (2, −3, 0), μ* = (2, 3, 0), σ = 0 (exactly, up
        // to rounding).
        let m = run(|x| 2.0 * x[0] - 3.0 * x[1], 3, 20, 4);
        for (got, want) in m.mu.iter().zip([2.0, -3.0, 0.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", m.mu);
        }
        for (got, want) in m.mu_star.iter().zip([2.0, 3.0, 0.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", m.mu_star);
        }
        assert!(m.sigma.iter().all(|s| s.abs() < 1e-9), "{:?}", m.sigma);
        assert_eq!(m.effects, vec![20, 20, 20]);
    }

    #[test]
    fn an_interaction_shows_in_sigma_and_sobol_g_ranks_by_importance() {
        // y = x0 · x1: effects of x0 are ±x1-dependent, so σ > 0 for both.
        let m = run(|x| x[0] * x[1], 2, 50, 4);
        assert!(m.sigma[0] > 0.1 && m.sigma[1] > 0.1, "{:?}", m.sigma);
        // Sobol G with a = [0, 1, 4.5, 9, 99]: μ* ranks the inputs in the order
        // of their total indices (0.79, 0.24, 0.034, 0.011, ~0).
        let a = [0.0, 1.0, 4.5, 9.0, 99.0];
        let g = |x: &[f64]| {
            x.iter()
                .zip(a)
                .map(|(x, a)| ((4.0 * x - 2.0).abs() + a) / (1.0 + a))
                .product::<f64>()
        };
        let m = run(g, 5, 200, 4);
        for i in 0..4 {
            assert!(m.mu_star[i] > m.mu_star[i + 1], "{:?}", m.mu_star);
        }
        assert!(m.mu_star_conf.iter().all(|c| c.is_finite() && *c > 0.0));
    }

    #[test]
    fn failed_steps_are_dropped_and_other_tags_refused() {
        let rows = vec![
            MorrisRow {
                tag: "t0:s0".into(),
                y: 1.0,
                x: vec![0.0],
            },
            MorrisRow {
                tag: "t0:s1:x0".into(),
                y: f64::NAN,
                x: vec![0.5],
            },
            MorrisRow {
                tag: "t1:s0".into(),
                y: 1.0,
                x: vec![0.5],
            },
            MorrisRow {
                tag: "t1:s1:x0".into(),
                y: 0.0,
                x: vec![0.0],
            },
        ];
        let m = morris_indices(&["x".into()], &rows, 2, 10, 0.95, 0, None).unwrap();
        // p = 2: Δ = 1; the second step moved x down by 1 and y fell by 1.
        assert_eq!((m.dropped, m.effects[0]), (1, 1));
        assert_eq!(m.mu[0], 1.0);
        let bad = vec![MorrisRow {
            tag: "A:0".into(),
            y: 1.0,
            x: vec![0.0],
        }];
        assert!(matches!(
            morris_indices(&["x".into()], &bad, 4, 10, 0.95, 0, None),
            Err(SensitivityError::Design(_))
        ));
    }
}
