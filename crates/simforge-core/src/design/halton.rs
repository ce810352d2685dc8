//! Halton sequence (Halton 1960): the radical inverse of the point index in the
//! first `dims` primes, optionally scrambled by random digit permutations.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{DesignError, UnitDesign};

/// Most dimensions supported (primes generated on demand).
pub const MAX_DIMS: usize = 10_000;

/// The first `k` primes.
fn primes(k: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(k);
    let mut c = 2u64;
    while out.len() < k {
        if out
            .iter()
            .take_while(|p| *p * *p <= c)
            .all(|p| !c.is_multiple_of(*p))
        {
            out.push(c);
        }
        c += 1;
    }
    out
}

/// `n` points of the Halton sequence, starting at index 0 (the origin) like
/// scipy's unscrambled sequence. With `scramble`, each digit position of each
/// base gets its own random permutation of the digits (positional scrambling),
/// applied to enough digits for full double precision; this breaks the linear
/// correlations of high bases while keeping the sequence's stratification.
pub fn points(n: usize, dims: usize, scramble: Option<u64>) -> Result<UnitDesign, DesignError> {
    if dims > MAX_DIMS {
        return Err(DesignError::TooManyDimensions {
            sampler: "halton",
            max: MAX_DIMS,
            requested: dims,
        });
    }
    let bases = primes(dims);
    // Digits needed so that base^-digits < 2^-53.
    let digits: Vec<usize> = bases
        .iter()
        .map(|b| (53.0 / (*b as f64).log2()).ceil() as usize)
        .collect();
    let perms: Option<Vec<Vec<Vec<u64>>>> = scramble.map(|seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        bases
            .iter()
            .zip(&digits)
            .map(|(b, k)| {
                (0..*k)
                    .map(|_| {
                        let mut p: Vec<u64> = (0..*b).collect();
                        p.shuffle(&mut rng);
                        p
                    })
                    .collect()
            })
            .collect()
    });
    let mut values = Vec::with_capacity(n.saturating_mul(dims));
    for i in 0..n as u64 {
        for (j, b) in bases.iter().enumerate() {
            let inv_b = 1.0 / *b as f64;
            let mut f = inv_b;
            let mut x = 0.0;
            let mut rest = i;
            match &perms {
                None => {
                    while rest > 0 {
                        x += (rest % b) as f64 * f;
                        rest /= b;
                        f *= inv_b;
                    }
                }
                Some(perms) => {
                    for perm in &perms[j] {
                        x += perm[(rest % b) as usize] as f64 * f;
                        rest /= b;
                        f *= inv_b;
                    }
                }
            }
            values.push(x.min(1.0 - f64::EPSILON / 2.0));
        }
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
    fn first_points_are_radical_inverses() {
        let d = points(5, 2, None).unwrap();
        // Base 2: 0, 1/2, 1/4, 3/4, 1/8; base 3: 0, 1/3, 2/3, 1/9, 4/9.
        let expect = [
            0.0,
            0.0,
            0.5,
            1.0 / 3.0,
            0.25,
            2.0 / 3.0,
            0.75,
            1.0 / 9.0,
            0.125,
            4.0 / 9.0,
        ];
        for (a, b) in d.values.iter().zip(expect) {
            assert!((a - b).abs() < 1e-15, "{:?}", d.values);
        }
        assert_eq!(primes(6), vec![2, 3, 5, 7, 11, 13]);
    }

    #[test]
    fn scrambled_keeps_stratification() {
        // 8 points in base 2 fill the 8 dyadic intervals once, scrambled or not;
        // 9 points in base 3 fill the 9 ternary intervals once.
        for s in [None, Some(5)] {
            let d = points(9, 2, s).unwrap();
            let mut b2: Vec<usize> = (0..8).map(|i| (d.values[i * 2] * 8.0) as usize).collect();
            b2.sort();
            assert_eq!(b2, (0..8).collect::<Vec<_>>(), "{s:?}");
            // Unscrambled points sit exactly on interval edges (1/3 rounds down in
            // binary), so allow 1e-12 of representation error.
            let mut b3: Vec<usize> = (0..9)
                .map(|i| (d.values[i * 2 + 1] * 9.0 + 1e-12) as usize)
                .collect();
            b3.sort();
            assert_eq!(b3, (0..9).collect::<Vec<_>>(), "{s:?}");
        }
        assert_eq!(
            points(20, 3, Some(1)).unwrap(),
            points(20, 3, Some(1)).unwrap()
        );
        assert_ne!(
            points(20, 3, Some(1)).unwrap(),
            points(20, 3, Some(2)).unwrap()
        );
        assert!(points(1, MAX_DIMS + 1, None).is_err());
    }
}
