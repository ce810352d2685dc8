//! Descriptive statistics for reports.

/// Arithmetic mean (`None` for no values).
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation with Bessel's correction (`None` below two values).
pub fn std_dev(xs: &[f64]) -> Option<f64> {
    let m = mean(xs)?;
    (xs.len() >= 2)
        .then(|| (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt())
}

/// Quantile `q` ∈ [0, 1] of sorted values, linear interpolation between order
/// statistics (numpy's default, "type 7" of Hyndman & Fan 1996).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Five-number summary plus mean and standard deviation.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Count of finite values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
    /// Minimum.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Maximum.
    pub max: f64,
}

/// Summary of the finite values in `xs` (`None` if there are none).
pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    Some(Summary {
        n: v.len(),
        mean: mean(&v)?,
        std: std_dev(&v).unwrap_or(0.0),
        min: v[0],
        q1: quantile_sorted(&v, 0.25)?,
        median: quantile_sorted(&v, 0.5)?,
        q3: quantile_sorted(&v, 0.75)?,
        max: v[v.len() - 1],
    })
}

/// Histogram bin count by Sturges' rule, ⌈log₂ n⌉ + 1 (at least 1, at most 60).
pub fn sturges_bins(n: usize) -> usize {
    if n <= 1 {
        return 1;
    }
    ((n as f64).log2().ceil() as usize + 1).clamp(1, 60)
}

/// Counts of `xs` in `bins` equal-width bins over [min, max]; returns (edges, counts).
/// All-equal values give one bin.
pub fn histogram(xs: &[f64], bins: usize) -> (Vec<f64>, Vec<usize>) {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (vec![], vec![]);
    }
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        });
    if hi <= lo {
        return (vec![lo, lo], vec![v.len()]);
    }
    let bins = bins.max(1);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0; bins];
    for x in &v {
        let i = (((x - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let edges = (0..=bins).map(|i| lo + i as f64 * width).collect();
    (edges, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(mean(&xs), Some(2.5));
        // Sample variance of 1..4 = 5/3.
        assert!((std_dev(&xs).unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        // numpy.quantile([1,2,3,4], 0.25) = 1.75, 0.5 = 2.5.
        assert_eq!(quantile_sorted(&xs, 0.25), Some(1.75));
        assert_eq!(quantile_sorted(&xs, 0.5), Some(2.5));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        let s = summarize(&[3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 2.0, 3.0));
        assert_eq!(sturges_bins(100), 8); // ceil(log2 100) + 1 = 7 + 1
        let (edges, counts) = histogram(&[0.0, 0.1, 0.5, 1.0], 2);
        assert_eq!(edges, vec![0.0, 0.5, 1.0]);
        assert_eq!(counts, vec![2, 2]);
        assert_eq!(histogram(&[2.0, 2.0], 5).1, vec![2]);
    }
}
