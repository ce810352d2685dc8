//! Sobol' low-discrepancy sequence (Sobol' 1967) with Joe & Kuo's direction
//! numbers ("new-joe-kuo-6.21201", Joe & Kuo 2008), optionally scrambled by
//! linear matrix scrambling plus a digital shift (Matoušek 1998), as
//! `scipy.stats.qmc.Sobol(scramble=True)` does.

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DesignError, UnitDesign};

/// Bits of each coordinate; the sequence has at most 2^BITS points.
const BITS: usize = 32;

/// Most dimensions supported (the embedded table holds 1024).
pub const MAX_DIMS: usize = 1024;

/// Direction numbers of dimensions 2..=MAX_DIMS: degree, coefficients, initial m values.
const TABLE: &str = include_str!("data/joe_kuo.txt");

struct Primitive {
    degree: usize,
    coeffs: u32,
    m: Vec<u32>,
}

fn table() -> &'static [Primitive] {
    static PARSED: OnceLock<Vec<Primitive>> = OnceLock::new();
    PARSED.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let nums: Vec<u32> = l
                    .split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect();
                let (&degree, rest) = nums.split_first()?;
                let (&coeffs, m) = rest.split_first()?;
                Some(Primitive {
                    degree: degree as usize,
                    coeffs,
                    m: m.to_vec(),
                })
            })
            .collect()
    })
}

/// The `BITS` direction numbers of dimension `j` (0-based), as left-aligned
/// 32-bit fractions: `v[k] = m_{k+1} · 2^(BITS − k − 1)`.
fn directions(j: usize) -> Vec<u32> {
    if j == 0 {
        // First dimension: van der Corput in base 2 (all m_k = 1).
        return (0..BITS).map(|k| 1u32 << (BITS - 1 - k)).collect();
    }
    let p = &table()[j - 1];
    let s = p.degree;
    let mut m: Vec<u64> = p.m.iter().map(|x| *x as u64).collect();
    for k in s..BITS {
        // m_k = 2 a_1 m_{k-1} ⊕ 4 a_2 m_{k-2} ⊕ … ⊕ 2^s m_{k-s} ⊕ m_{k-s}  (Bratley & Fox 1988)
        let mut next = m[k - s] ^ (m[k - s] << s);
        for i in 1..s {
            if (p.coeffs >> (s - 1 - i)) & 1 == 1 {
                next ^= m[k - i] << i;
            }
        }
        m.push(next);
    }
    m.iter()
        .take(BITS)
        .enumerate()
        .map(|(k, mk)| (mk << (BITS - 1 - k)) as u32)
        .collect()
}

/// Applies a random lower-triangular binary matrix (unit diagonal) to each
/// direction number: digit d of the result is the XOR of digits e ≤ d of the
/// input selected by row d. Digits count from the most significant bit.
fn scramble_directions(v: &mut [u32], rng: &mut ChaCha8Rng) {
    let rows: Vec<u32> = (0..BITS)
        .map(|d| {
            let below = if d == 0 {
                0
            } else {
                rng.random::<u32>() & !(u32::MAX >> d)
            };
            below | (1u32 << (BITS - 1 - d))
        })
        .collect();
    for x in v.iter_mut() {
        let mut out = 0u32;
        for (d, row) in rows.iter().enumerate() {
            if (row & *x).count_ones() % 2 == 1 {
                out |= 1u32 << (BITS - 1 - d);
            }
        }
        *x = out;
    }
}

/// `n` points of the Sobol' sequence in `[0, 1)^dims`.
///
/// Unscrambled, the sequence starts at the origin (as scipy's does) and point `i`
/// is the same for any `n`, so adding samples keeps earlier points. Scrambled
/// (`Some(seed)`), every dimension gets its own random linear scramble and digital
/// shift drawn from the seed; the prefix property and the (t, m, s)-net balance
/// of the first 2^m points are kept. Use a power of two for `n` when balance matters.
pub fn points(n: usize, dims: usize, scramble: Option<u64>) -> Result<UnitDesign, DesignError> {
    if dims > MAX_DIMS {
        return Err(DesignError::TooManyDimensions {
            sampler: "sobol",
            max: MAX_DIMS,
            requested: dims,
        });
    }
    if n as u64 > 1u64 << BITS {
        return Err(DesignError::InvalidOption(format!(
            "the Sobol' sequence has at most 2^{BITS} points, {n} requested"
        )));
    }
    let mut rng = scramble.map(ChaCha8Rng::seed_from_u64);
    let mut dirs: Vec<Vec<u32>> = Vec::with_capacity(dims);
    let mut shift = vec![0u32; dims];
    for (j, s) in shift.iter_mut().enumerate() {
        let mut v = directions(j);
        if let Some(rng) = rng.as_mut() {
            scramble_directions(&mut v, rng);
            *s = rng.random::<u32>();
        }
        dirs.push(v);
    }
    let scale = 1.0 / (1u64 << BITS) as f64;
    let mut state = shift.clone();
    let mut values = Vec::with_capacity(n.saturating_mul(dims));
    for i in 0..n {
        if i > 0 {
            // Gray-code order: flip the direction number of the lowest zero bit of i − 1.
            let c = (i - 1).trailing_ones() as usize;
            for (x, v) in state.iter_mut().zip(&dirs) {
                *x ^= v[c];
            }
        }
        values.extend(state.iter().map(|x| *x as f64 * scale));
    }
    Ok(UnitDesign {
        dims,
        values,
        tags: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_points_match_the_reference() {
        // Unscrambled Sobol' points 0..8 in 3-D, as given by Joe & Kuo's generator
        // (and scipy.stats.qmc.Sobol(3, scramble=False)); exact in binary.
        let expect = [
            [0.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.75, 0.25, 0.25],
            [0.25, 0.75, 0.75],
            [0.375, 0.375, 0.625],
            [0.875, 0.875, 0.125],
            [0.625, 0.125, 0.875],
            [0.125, 0.625, 0.375],
        ];
        let d = points(8, 3, None).unwrap();
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(d.row(i).unwrap(), e, "point {i}");
        }
    }

    #[test]
    fn table_is_complete_and_consistent() {
        assert_eq!(table().len(), MAX_DIMS - 1);
        for p in table() {
            assert_eq!(p.m.len(), p.degree);
            // Initial m_k are odd and below 2^k (Joe & Kuo's conditions).
            for (k, m) in p.m.iter().enumerate() {
                assert!(m % 2 == 1 && *m < (1 << (k + 1)), "{m}");
            }
        }
    }

    /// Every 1-D projection of the first 2^m points has one point per interval of width 2^-m.
    fn balanced(d: &UnitDesign) -> bool {
        let n = d.len();
        (0..d.dims).all(|j| {
            let mut seen = vec![false; n];
            (0..n).all(|i| {
                let k = (d.values[i * d.dims + j] * n as f64) as usize;
                !std::mem::replace(&mut seen[k], true)
            })
        })
    }

    #[test]
    fn nets_are_balanced_scrambled_or_not() {
        assert!(balanced(&points(256, 50, None).unwrap()));
        assert!(balanced(&points(256, 50, Some(3)).unwrap()));
        assert!(balanced(&points(1024, MAX_DIMS, Some(9)).unwrap()));
    }

    #[test]
    fn scrambling_is_seeded_and_keeps_prefixes() {
        let a = points(64, 5, Some(1)).unwrap();
        assert_eq!(a, points(64, 5, Some(1)).unwrap());
        assert_ne!(a, points(64, 5, Some(2)).unwrap());
        let longer = points(100, 5, Some(1)).unwrap();
        assert_eq!(a.values[..], longer.values[..a.values.len()]);
        assert!(a.values.iter().all(|v| (0.0..1.0).contains(v)));
        assert_ne!(a.row(0).unwrap(), &[0.0; 5], "scrambling moves the origin");
    }

    #[test]
    fn limits_are_errors() {
        assert!(matches!(
            points(4, MAX_DIMS + 1, None),
            Err(DesignError::TooManyDimensions { .. })
        ));
        assert_eq!(points(0, 3, None).unwrap().len(), 0);
    }
}
