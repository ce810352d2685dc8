//! (being written: placeholder so the crate builds)
use super::{DesignError, UnitDesign};
/// Placeholder.
pub fn points(_n: usize, _dims: usize, _scramble: Option<u64>) -> Result<UnitDesign, DesignError> {
    Err(DesignError::InvalidOption("not yet implemented".into()))
}
