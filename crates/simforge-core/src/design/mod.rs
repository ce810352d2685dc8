//! Experimental designs on the unit hypercube.
//!
//! Every sampler here produces points in `[0, 1)^d`; mapping a unit point onto the
//! study's parameters (log scales, integers, choices) is the job of
//! [`crate::space`]. Keeping the samplers unit-based lets one design be reused for any
//! parameter space and keeps each sampler testable against published properties.

pub mod halton;
pub mod lhs;
pub mod morris;
pub mod random;
pub mod saltelli;
pub mod sobol;

/// A set of points in the unit hypercube, stored row-major (`n × dims`).
///
/// A flat buffer keeps million-point designs compact (8 bytes per coordinate).
#[derive(Debug, Clone, PartialEq)]
pub struct UnitDesign {
    /// Number of coordinates per point.
    pub dims: usize,
    /// Row-major coordinates, each in `[0, 1)` (Morris grid levels may reach 1.0).
    pub values: Vec<f64>,
    /// Optional role of each row in a structured design (e.g. `A:17`, `AB3:17`
    /// for Saltelli, `t4:s2:x3` for Morris), kept so later analysis can find its
    /// blocks. `None` for unstructured designs.
    pub tags: Option<Vec<String>>,
}

impl UnitDesign {
    /// Number of points in the design.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Whether the design has no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th point, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f64]> {
        self.values.get(i * self.dims..(i + 1) * self.dims)
    }
}

/// Why a design could not be generated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesignError {
    /// The sampler supports fewer dimensions than the study has parameters.
    #[error("the {sampler} sampler supports at most {max} dimensions, the study needs {requested}")]
    TooManyDimensions {
        /// Sampler name.
        sampler: &'static str,
        /// Supported maximum.
        max: usize,
        /// Requested number of dimensions.
        requested: usize,
    },
    /// A sampler option is out of its valid range.
    #[error("{0}")]
    InvalidOption(String),
}
