//! (being written: placeholder so the crate builds)
use super::{DesignError, UnitDesign};
/// Placeholder.
pub fn points(_r: usize, _dims: usize, _levels: usize, _seed: u64) -> Result<UnitDesign, DesignError> {
    Err(DesignError::InvalidOption("not yet implemented".into()))
}
