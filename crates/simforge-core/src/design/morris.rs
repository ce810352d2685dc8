//! Morris elementary-effects trajectories (Morris 1991; Campolongo, Cariboni &
//! Saltelli 2007).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DesignError, UnitDesign};

/// `trajectories` trajectories of `dims + 1` points on the `levels`-level grid
/// {0, 1/(p−1), …, 1}. Each step changes one coordinate by ±Δ with
/// Δ = p / (2(p−1)), every coordinate once per trajectory, in random order and
/// direction. Rows are tagged `t<k>:s0` (base point) and `t<k>:s<step>:x<i>`
/// (coordinate `i` changed at that step).
pub fn points(
    trajectories: usize,
    dims: usize,
    levels: usize,
    seed: u64,
) -> Result<UnitDesign, DesignError> {
    if levels < 2 || !levels.is_multiple_of(2) {
        return Err(DesignError::InvalidOption(format!(
            "Morris needs an even number of levels ≥ 2, got {levels}"
        )));
    }
    let p = levels as f64;
    let step = 1.0 / (p - 1.0);
    let delta = p / (2.0 * (p - 1.0));
    // Base values b with b + Δ ≤ 1: the first p/2 grid levels.
    let base_levels = levels / 2;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(trajectories.saturating_mul(dims + 1).saturating_mul(dims));
    let mut tags = Vec::with_capacity(trajectories.saturating_mul(dims + 1));
    let mut order: Vec<usize> = (0..dims).collect();
    for t in 0..trajectories {
        let mut dir = Vec::with_capacity(dims);
        let mut x: Vec<f64> = (0..dims)
            .map(|_| {
                let b = rng.random_range(0..base_levels) as f64 * step;
                let up = rng.random::<bool>();
                dir.push(if up { delta } else { -delta });
                if up { b } else { b + delta }
            })
            .collect();
        order.shuffle(&mut rng);
        values.extend_from_slice(&x);
        tags.push(format!("t{t}:s0"));
        for (s, i) in order.iter().enumerate() {
            x[*i] = ((x[*i] + dir[*i]) * (p - 1.0)).round() / (p - 1.0);
            values.extend_from_slice(&x);
            tags.push(format!("t{t}:s{}:x{i}", s + 1));
        }
    }
    Ok(UnitDesign {
        dims,
        values,
        tags: Some(tags),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectories_change_one_coordinate_per_step() {
        let (r, d, p) = (10, 4, 4);
        let m = points(r, d, p, 2).unwrap();
        assert_eq!(m.len(), r * (d + 1));
        let delta = 4.0 / 6.0;
        for t in 0..r {
            let mut changed = vec![0; d];
            for s in 1..=d {
                let (a, b) = (
                    m.row(t * (d + 1) + s - 1).unwrap(),
                    m.row(t * (d + 1) + s).unwrap(),
                );
                let diffs: Vec<usize> = (0..d).filter(|k| a[*k] != b[*k]).collect();
                assert_eq!(diffs.len(), 1);
                assert!(((a[diffs[0]] - b[diffs[0]]).abs() - delta).abs() < 1e-12);
                changed[diffs[0]] += 1;
                let tag = &m.tags.as_ref().unwrap()[t * (d + 1) + s];
                assert!(tag.ends_with(&format!(":x{}", diffs[0])), "{tag}");
            }
            assert_eq!(changed, vec![1; d]);
        }
        for v in &m.values {
            assert!((0.0..=1.0).contains(v));
            assert!(
                ((v * 3.0).round() - v * 3.0).abs() < 1e-12,
                "on the 4-level grid: {v}"
            );
        }
    }

    #[test]
    fn odd_levels_are_rejected() {
        assert!(points(2, 3, 3, 0).is_err());
        assert!(points(2, 3, 0, 0).is_err());
    }
}
