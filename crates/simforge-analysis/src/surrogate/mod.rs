//! Surrogate models of a metric over the unit cube.
//!
//! - [`gp`]: Gaussian-process regression (Matérn 5/2 with one length scale
//!   per input), hyperparameters by maximum posterior.
//! - [`linalg`]: the Cholesky-based dense algebra the GP needs.

pub mod gp;
pub mod linalg;
