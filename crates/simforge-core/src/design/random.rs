//! Independent uniform points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::UnitDesign;

/// `n` i.i.d. uniform points in `[0, 1)^dims`.
///
/// Point `i` is drawn from ChaCha8 stream `i` of the seed, so it depends only on
/// `(seed, i)`: asking for more samples later keeps the first points unchanged,
/// and the store re-runs nothing.
pub fn points(n: usize, dims: usize, seed: u64) -> UnitDesign {
    let base = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(n.saturating_mul(dims));
    for i in 0..n {
        let mut rng = base.clone();
        rng.set_stream(i as u64);
        rng.set_word_pos(0);
        values.extend((0..dims).map(|_| rng.random::<f64>()));
    }
    UnitDesign {
        dims,
        values,
        tags: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_samples_keep_the_prefix() {
        let a = points(10, 3, 7);
        let b = points(25, 3, 7);
        assert_eq!(a.values[..], b.values[..30]);
        assert_ne!(points(10, 3, 8).values, a.values);
        assert!(b.values.iter().all(|v| (0.0..1.0).contains(v)));
        assert_eq!(points(0, 3, 1).len(), 0);
        assert_eq!(points(4, 0, 1).len(), 0);
    }

    #[test]
    fn looks_uniform() {
        // Mean of 30k uniforms: 0.5 ± 3·sqrt(1/12/30000) ≈ ±0.005.
        let d = points(10_000, 3, 1);
        let mean = d.values.iter().sum::<f64>() / d.values.len() as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
    }
}
