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
///
/// With `groups` (lists of coordinates), a step moves every coordinate of one
/// group (each in its own direction), so a trajectory has `groups + 1` points;
/// the changed rows are tagged `t<k>:s<step>:g<j>` (Campolongo et al. 2007).
pub fn points(
    trajectories: usize,
    dims: usize,
    levels: usize,
    seed: u64,
    groups: Option<&[Vec<usize>]>,
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
    let singletons: Vec<Vec<usize>> = (0..dims).map(|i| vec![i]).collect();
    let (moves, prefix) = match groups {
        Some(g) => (g, 'g'),
        None => (&singletons[..], 'x'),
    };
    if moves.iter().flatten().any(|i| *i >= dims) {
        return Err(DesignError::InvalidOption(
            "a Morris group names a coordinate beyond the design's inputs".into(),
        ));
    }
    let mut order: Vec<usize> = (0..moves.len()).collect();
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
        for (s, j) in order.iter().enumerate() {
            for &i in &moves[*j] {
                x[i] = ((x[i] + dir[i]) * (p - 1.0)).round() / (p - 1.0);
            }
            values.extend_from_slice(&x);
            tags.push(format!("t{t}:s{}:{prefix}{j}", s + 1));
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
        let m = points(r, d, p, 2, None).unwrap();
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
        assert!(points(2, 3, 3, 0, None).is_err());
        assert!(points(2, 3, 0, 0, None).is_err());
    }

    #[test]
    fn grouped_trajectories_move_a_whole_group_per_step() {
        let groups = vec![vec![0, 2], vec![1]];
        let m = points(5, 3, 4, 9, Some(&groups)).unwrap();
        assert_eq!(m.len(), 5 * 3);
        let tags = m.tags.as_ref().unwrap();
        for t in 0..5 {
            for s in 1..=2 {
                let (a, b) = (m.row(t * 3 + s - 1).unwrap(), m.row(t * 3 + s).unwrap());
                let diffs: Vec<usize> = (0..3).filter(|k| a[*k] != b[*k]).collect();
                let g: usize = tags[t * 3 + s]
                    .rsplit(":g")
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(diffs, groups[g], "step {s} of trajectory {t}");
            }
        }
        assert!(points(1, 2, 4, 0, Some(&[vec![5]])).is_err());
    }
}
