//! Distributions of service and inter-arrival times.

use rand::Rng;

/// An exponential sample with this mean (inversion of the CDF; `1 − u` keeps
/// the logarithm finite).
pub fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    let u: f64 = rng.random();
    -mean * (1.0 - u).ln()
}

/// A positive random duration.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Exponential with this mean.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Always this value.
    Deterministic {
        /// The value.
        value: f64,
    },
    /// Log-normal with this mean and coefficient of variation.
    LogNormal {
        /// Mean.
        mean: f64,
        /// Standard deviation over mean.
        cv: f64,
    },
    /// Resampled from measured values (uniformly among them), e.g. production
    /// latencies of a service.
    Empirical {
        /// The measured values; never empty.
        samples: std::sync::Arc<[f64]>,
    },
}

impl Dist {
    /// One sample.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match self {
            Dist::Exponential { mean } => exponential(rng, *mean),
            Dist::Deterministic { value } => *value,
            Dist::LogNormal { mean, cv } => {
                let s2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - 0.5 * s2;
                (mu + s2.sqrt() * crate::analytic::gaussian(rng)).exp()
            }
            Dist::Empirical { samples } => samples[rng.random_range(0..samples.len())],
        }
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Exponential { mean } | Dist::LogNormal { mean, .. } => *mean,
            Dist::Deterministic { value } => *value,
            Dist::Empirical { samples } => samples.iter().sum::<f64>() / samples.len() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sample_means_match() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for d in [
            Dist::Exponential { mean: 2.0 },
            Dist::Deterministic { value: 3.0 },
            Dist::LogNormal { mean: 1.5, cv: 0.5 },
            Dist::Empirical {
                samples: vec![1.0, 2.0, 6.0].into(),
            },
        ] {
            let n = 200_000;
            let m = (0..n).map(|_| d.sample(&mut rng)).sum::<f64>() / n as f64;
            assert!((m / d.mean() - 1.0).abs() < 0.01, "{d:?}: {m}");
        }
    }
}
