//! Parameter spaces: checked parameters and the map from the unit cube to values.

use std::collections::BTreeMap;

use serde_json::Value;

/// What values one parameter takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// A real number in `[low, high]`, spaced linearly or logarithmically. `grid`
    /// holds the levels a grid design uses.
    Real {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Logarithmic spacing.
        log: bool,
        /// Levels for grid designs.
        grid: Vec<f64>,
    },
    /// An integer in `[low, high]` (both included).
    Integer {
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
        /// Logarithmic spacing.
        log: bool,
        /// Levels for grid designs.
        grid: Vec<i64>,
    },
    /// One of a fixed list of values (strings, numbers or booleans). Numeric
    /// `values:` lists become this too.
    Choice(Vec<Value>),
    /// A fixed value; not a design dimension.
    Constant(Value),
}

/// One checked parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Name, as in the study file.
    pub name: String,
    /// Its values.
    pub domain: Domain,
    /// Physical unit.
    pub unit: Option<String>,
    /// Description.
    pub description: Option<String>,
}

impl Parameter {
    /// Whether the parameter is a design dimension (not a constant).
    pub fn is_sampled(&self) -> bool {
        !matches!(self.domain, Domain::Constant(_))
    }

    /// The unit-interval coordinate of a value of this parameter (the inverse
    /// of [`Self::from_unit`] up to rounding): linear or logarithmic position
    /// in a range, a choice's position among `n` choices as `(k + 0.5) / n`.
    /// `None` for constants and for values outside the domain's kind.
    pub fn to_unit(&self, v: &Value) -> Option<f64> {
        let pos = |x: f64, lo: f64, hi: f64, log: bool| -> Option<f64> {
            let (x, lo, hi) = if log {
                (x.ln(), lo.ln(), hi.ln())
            } else {
                (x, lo, hi)
            };
            if hi > lo {
                Some(((x - lo) / (hi - lo)).clamp(0.0, 1.0))
            } else {
                Some(0.5)
            }
        };
        match &self.domain {
            Domain::Real { low, high, log, .. } => pos(v.as_f64()?, *low, *high, *log),
            Domain::Integer { low, high, log, .. } => {
                pos(v.as_f64()?, *low as f64, *high as f64, *log)
            }
            Domain::Choice(values) => {
                let k = values.iter().position(|c| c == v)?;
                Some((k as f64 + 0.5) / values.len() as f64)
            }
            Domain::Constant(_) => None,
        }
    }

    /// The value at unit coordinate `u` (clamped to `[0, 1]`).
    pub fn from_unit(&self, u: f64) -> Value {
        let u = if u.is_nan() { 0.0 } else { u.clamp(0.0, 1.0) };
        match &self.domain {
            Domain::Real { low, high, log, .. } => {
                let v = if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    low + u * (high - low)
                };
                number(v.clamp(*low, *high))
            }
            Domain::Integer { low, high, log, .. } => {
                let (lo, hi) = (*low as f64, *high as f64);
                let v = if *log {
                    (lo.ln() + u * ((hi + 1.0).ln() - lo.ln())).exp().floor()
                } else {
                    (lo + u * (hi - lo + 1.0)).floor()
                };
                Value::from((v as i64).clamp(*low, *high))
            }
            Domain::Choice(options) => {
                let k = options.len();
                let i = ((u * k as f64).floor() as usize).min(k.saturating_sub(1));
                options.get(i).cloned().unwrap_or(Value::Null)
            }
            Domain::Constant(v) => v.clone(),
        }
    }

    /// The levels a grid design visits.
    pub fn grid_levels(&self) -> Vec<Value> {
        match &self.domain {
            Domain::Real { grid, .. } => grid.iter().map(|v| number(*v)).collect(),
            Domain::Integer { grid, .. } => grid.iter().map(|v| Value::from(*v)).collect(),
            Domain::Choice(options) => options.clone(),
            Domain::Constant(v) => vec![v.clone()],
        }
    }
}

/// Integer parameters with more values than this are searched as continuous
/// (and rounded): listing every level would cost more than it helps.
pub const MAX_SEARCH_LEVELS: i64 = 1000;

/// Coordinates for adaptive search (`simforge optimize`): numbers map to
/// `[0, 1]` on their scale (as [`Parameter::to_unit`]), integers round to the
/// nearest value, choices are indexed.
impl Parameter {
    /// The search coordinate of value `v`, or `None` for a constant or a
    /// value outside the domain's type.
    pub fn search_coord(&self, v: &Value) -> Option<f64> {
        match &self.domain {
            Domain::Choice(values) => values.iter().position(|c| c == v).map(|k| k as f64),
            Domain::Constant(_) => None,
            _ => self.to_unit(v),
        }
    }

    /// The value at search coordinate `c`.
    pub fn from_search_coord(&self, c: f64) -> Value {
        let c = if c.is_nan() { 0.0 } else { c };
        match &self.domain {
            Domain::Integer { low, high, log, .. } => {
                let (lo, hi) = (*low as f64, *high as f64);
                let u = c.clamp(0.0, 1.0);
                let v = if *log && lo > 0.0 {
                    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
                } else {
                    lo + u * (hi - lo)
                };
                Value::from((v.round() as i64).clamp(*low, *high))
            }
            Domain::Choice(options) => {
                let k = (c.round().max(0.0) as usize).min(options.len().saturating_sub(1));
                options.get(k).cloned().unwrap_or(Value::Null)
            }
            _ => self.from_unit(c),
        }
    }

    /// The search coordinates of every value of an integer parameter with at
    /// most [`MAX_SEARCH_LEVELS`] values; `None` otherwise.
    pub fn search_levels(&self) -> Option<Vec<f64>> {
        match &self.domain {
            Domain::Integer { low, high, .. } if high - low < MAX_SEARCH_LEVELS => (*low..=*high)
                .map(|k| self.to_unit(&Value::from(k)))
                .collect(),
            _ => None,
        }
    }
}

/// A JSON number for a finite float (non-finite values become `null`).
pub fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Rounds away floating-point noise (`0.30000000000000004` → `0.3`) by keeping
/// 15 significant digits, so grid levels print and hash as users expect.
pub fn tidy(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

/// The checked parameters of a study, in declaration order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParameterSpace {
    /// All parameters, constants included.
    pub params: Vec<Parameter>,
}

impl ParameterSpace {
    /// The design dimensions (parameters that are not constants).
    pub fn sampled(&self) -> impl Iterator<Item = &Parameter> {
        self.params.iter().filter(|p| p.is_sampled())
    }

    /// Number of design dimensions.
    pub fn dims(&self) -> usize {
        self.sampled().count()
    }

    /// Parameter names in declaration order.
    pub fn names(&self) -> Vec<String> {
        self.params.iter().map(|p| p.name.clone()).collect()
    }

    /// Looks a parameter up by name.
    pub fn get(&self, name: &str) -> Option<&Parameter> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Parameter values for a unit-cube point with one coordinate per design dimension.
    pub fn from_unit(&self, unit: &[f64]) -> BTreeMap<String, Value> {
        let mut coords = unit.iter();
        self.params
            .iter()
            .map(|p| {
                let v = if p.is_sampled() {
                    p.from_unit(coords.next().copied().unwrap_or(0.0))
                } else {
                    p.from_unit(0.0)
                };
                (p.name.clone(), v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(low: f64, high: f64, log: bool) -> Parameter {
        Parameter {
            name: "x".into(),
            domain: Domain::Real {
                low,
                high,
                log,
                grid: vec![],
            },
            unit: None,
            description: None,
        }
    }

    #[test]
    fn search_coordinates_round_trip() {
        let int = Parameter {
            domain: Domain::Integer {
                low: 1,
                high: 5,
                log: false,
                grid: vec![],
            },
            ..real(0.0, 1.0, false)
        };
        let levels = int.search_levels().unwrap();
        assert_eq!(levels, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        for (k, c) in levels.iter().enumerate() {
            assert_eq!(int.from_search_coord(*c), Value::from(k as i64 + 1));
            assert_eq!(int.search_coord(&Value::from(k as i64 + 1)), Some(*c));
        }
        let logr = real(1.0, 100.0, true);
        let c = logr.search_coord(&serde_json::json!(10.0)).unwrap();
        assert!((c - 0.5).abs() < 1e-12);
        let ch = Parameter {
            domain: Domain::Choice(vec!["a".into(), "b".into(), "c".into()]),
            ..real(0.0, 1.0, false)
        };
        assert_eq!(ch.search_coord(&Value::from("c")), Some(2.0));
        assert_eq!(ch.from_search_coord(1.2), Value::from("b"));
        assert_eq!(ch.search_coord(&Value::from("z")), None);
    }

    #[test]
    fn maps_unit_interval_onto_scales() {
        assert_eq!(real(2.0, 4.0, false).from_unit(0.5), serde_json::json!(3.0));
        // Log scale: the midpoint of [1, 100] is the geometric mean 10.
        let mid = real(1.0, 100.0, true).from_unit(0.5).as_f64().unwrap();
        assert!((mid - 10.0).abs() < 1e-12);
        let int = Parameter {
            domain: Domain::Integer {
                low: 1,
                high: 3,
                log: false,
                grid: vec![],
            },
            ..real(0.0, 1.0, false)
        };
        let picks: Vec<_> = [0.0, 0.34, 0.67, 0.999, 1.0]
            .iter()
            .map(|u| int.from_unit(*u))
            .collect();
        assert_eq!(
            picks,
            vec![1, 2, 3, 3, 3]
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>()
        );
        let ch = Parameter {
            domain: Domain::Choice(vec!["a".into(), "b".into()]),
            ..real(0.0, 1.0, false)
        };
        assert_eq!(ch.from_unit(0.49), Value::from("a"));
        assert_eq!(ch.from_unit(0.5), Value::from("b"));
        assert_eq!(ch.from_unit(1.0), Value::from("b"));
    }

    #[test]
    fn tidy_removes_representation_noise() {
        assert_eq!(tidy(0.1 + 0.2), 0.3);
        assert_eq!(tidy(1e-300), 1e-300);
        assert_eq!(tidy(-2.5), -2.5);
    }
}
