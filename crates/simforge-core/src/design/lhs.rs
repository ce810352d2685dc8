//! Latin hypercube sampling (McKay, Beckman & Conover 1979), optionally maximin
//! (Morris & Mitchell 1995: keep the candidate whose closest pair is farthest apart).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::UnitDesign;

/// `n` points with exactly one point per stratum `[k/n, (k+1)/n)` in every
/// dimension. With `maximin_candidates > 1`, that many independent designs are
/// drawn and the one with the largest minimum pairwise distance is kept
/// (O(candidates · n² · dims) work).
pub fn points(n: usize, dims: usize, seed: u64, maximin_candidates: usize) -> UnitDesign {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best = one(n, dims, &mut rng);
    if maximin_candidates > 1 && n > 1 {
        let mut best_d = min_distance(&best);
        for _ in 1..maximin_candidates {
            let cand = one(n, dims, &mut rng);
            let d = min_distance(&cand);
            if d > best_d {
                best = cand;
                best_d = d;
            }
        }
    }
    best
}

fn one(n: usize, dims: usize, rng: &mut ChaCha8Rng) -> UnitDesign {
    let mut values = vec![0.0; n.saturating_mul(dims)];
    let mut perm: Vec<usize> = (0..n).collect();
    for j in 0..dims {
        perm.shuffle(rng);
        for (i, stratum) in perm.iter().enumerate() {
            values[i * dims + j] = (*stratum as f64 + rng.random::<f64>()) / n as f64;
        }
    }
    UnitDesign {
        dims,
        values,
        tags: None,
    }
}

/// Smallest Euclidean distance between two points of the design.
pub fn min_distance(d: &UnitDesign) -> f64 {
    let n = d.len();
    let mut best = f64::INFINITY;
    for a in 0..n {
        let pa = d.row(a).unwrap_or(&[]);
        for b in a + 1..n {
            let pb = d.row(b).unwrap_or(&[]);
            let s: f64 = pa.iter().zip(pb).map(|(x, y)| (x - y).powi(2)).sum();
            best = best.min(s);
        }
    }
    best.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_per_stratum(d: &UnitDesign) {
        let n = d.len();
        for j in 0..d.dims {
            let mut seen = vec![false; n];
            for i in 0..n {
                let k = (d.values[i * d.dims + j] * n as f64) as usize;
                assert!(!seen[k], "stratum {k} of dim {j} used twice");
                seen[k] = true;
            }
        }
    }

    #[test]
    fn strata_are_each_hit_once() {
        one_per_stratum(&points(50, 4, 3, 1));
        one_per_stratum(&points(20, 2, 3, 10));
        assert_eq!(points(0, 3, 1, 5).len(), 0);
    }

    #[test]
    fn maximin_never_worse_than_the_first_candidate() {
        // Candidate 0 of the maximin search is exactly the plain design with the same seed.
        let plain = points(30, 3, 11, 1);
        let mm = points(30, 3, 11, 25);
        assert!(min_distance(&mm) >= min_distance(&plain));
        assert_eq!(points(30, 3, 11, 25), mm, "reproducible");
    }
}
