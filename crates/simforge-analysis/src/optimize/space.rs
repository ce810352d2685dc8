//! The search space as the optimiser sees it: one coordinate per parameter,
//! in `[0, 1]` for numbers (log scales already applied by the caller) and a
//! category index for choices. The Gaussian process sees choices one-hot, so
//! that no order is invented between them.

use rand::Rng;

/// One searched dimension.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    /// A real number in `[0, 1]`.
    Continuous,
    /// A number restricted to these unit coordinates (an integer parameter's
    /// values), sorted ascending.
    Discrete(Vec<f64>),
    /// One of this many unordered choices; the coordinate is the index.
    Categorical(usize),
}

impl Dim {
    /// Moves a coordinate onto the dimension's allowed values.
    pub fn snap(&self, v: f64) -> f64 {
        match self {
            Dim::Continuous => v.clamp(0.0, 1.0),
            Dim::Discrete(levels) => nearest(levels, v.clamp(0.0, 1.0)),
            Dim::Categorical(n) => v.round().clamp(0.0, n.saturating_sub(1) as f64),
        }
    }

    /// A uniformly random allowed coordinate.
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        match self {
            Dim::Continuous => rng.random::<f64>(),
            Dim::Discrete(levels) if !levels.is_empty() => {
                levels[rng.random_range(0..levels.len())]
            }
            Dim::Discrete(_) => 0.5,
            Dim::Categorical(n) => rng.random_range(0..(*n).max(1)) as f64,
        }
    }

    /// Whether local search moves this coordinate continuously.
    pub fn is_numeric(&self) -> bool {
        !matches!(self, Dim::Categorical(_))
    }

    fn width(&self) -> usize {
        match self {
            Dim::Categorical(n) => (*n).max(1),
            _ => 1,
        }
    }
}

fn nearest(levels: &[f64], v: f64) -> f64 {
    let i = levels.partition_point(|l| *l < v);
    match (i.checked_sub(1).and_then(|j| levels.get(j)), levels.get(i)) {
        (Some(a), Some(b)) => {
            if v - a <= b - v {
                *a
            } else {
                *b
            }
        }
        (Some(a), None) => *a,
        (None, Some(b)) => *b,
        (None, None) => v,
    }
}

/// Number of GP inputs for these dimensions.
pub fn feature_len(dims: &[Dim]) -> usize {
    dims.iter().map(Dim::width).sum()
}

/// The GP inputs of a point: numbers as they are, choices one-hot.
pub fn features(dims: &[Dim], point: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(feature_len(dims));
    for (dim, v) in dims.iter().zip(point) {
        match dim {
            Dim::Categorical(n) => {
                let k = v.round() as usize;
                out.extend((0..*n).map(|i| if i == k { 1.0 } else { 0.0 }));
            }
            _ => out.push(*v),
        }
    }
    out
}

/// A random allowed point.
pub fn sample(dims: &[Dim], rng: &mut impl Rng) -> Vec<f64> {
    dims.iter().map(|d| d.sample(rng)).collect()
}

/// Snaps every coordinate onto its dimension.
pub fn snap(dims: &[Dim], point: &mut [f64]) {
    for (d, v) in dims.iter().zip(point.iter_mut()) {
        *v = d.snap(*v);
    }
}

/// Whether two (snapped) points are the same point.
pub fn same_point(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
}

/// The point at unit-cube coordinates `u` (from a space-filling design):
/// numbers snapped, choices by equal slices of `[0, 1)`.
pub fn from_unit(dims: &[Dim], u: &[f64]) -> Vec<f64> {
    dims.iter()
        .zip(u)
        .map(|(d, v)| match d {
            Dim::Categorical(n) => ((v * *n as f64).floor()).clamp(0.0, n.saturating_sub(1) as f64),
            _ => d.snap(*v),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapping_and_one_hot_features() {
        let dims = vec![
            Dim::Continuous,
            Dim::Discrete(vec![0.0, 0.5, 1.0]),
            Dim::Categorical(3),
        ];
        let mut p = vec![1.3, 0.7, 1.6];
        snap(&dims, &mut p);
        assert_eq!(p, vec![1.0, 0.5, 2.0]);
        assert_eq!(feature_len(&dims), 5);
        assert_eq!(features(&dims, &p), vec![1.0, 0.5, 0.0, 0.0, 1.0]);
        assert_eq!(Dim::Discrete(vec![0.0, 0.5, 1.0]).snap(0.24), 0.0);
    }
}
