//! Global sensitivity analysis: which inputs drive a metric, and how much.
//!
//! - [`sobol`]: first-order, total and second-order Sobol' indices from a
//!   Saltelli design (Saltelli 2010 first-order and Jansen 1999 total-order
//!   estimators, as in SALib), with bootstrap confidence intervals.
//! - [`morris`]: elementary effects μ, μ*, σ from Morris trajectories.
//! - [`rank`]: SRRC and PRCC for any other design.
//! - [`on_surrogate`]: Sobol' indices on a Gaussian-process surrogate of any
//!   other design, with the surrogate's cross-validated R².
//! - [`of_study`]: the estimator a study's design supports, over its runs.

pub mod morris;
pub mod of_study;
pub mod on_surrogate;
pub mod rank;
pub mod sobol;

/// Why an analysis could not be done.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SensitivityError {
    /// The rows do not form a usable design of the required kind.
    #[error("{0}")]
    Design(String),
    /// Too few complete samples to estimate anything.
    #[error("only {found} complete base samples (need at least {needed}); {hint}")]
    TooFew {
        /// Complete samples found.
        found: usize,
        /// Minimum needed.
        needed: usize,
        /// What to do.
        hint: String,
    },
    /// The metric does not vary at all.
    #[error("the metric has zero variance over the design: every input has index 0/0")]
    ZeroVariance,
}
