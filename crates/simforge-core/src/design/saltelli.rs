//! (being written: placeholder so the crate builds)
use super::{DesignError, UnitDesign};
/// Placeholder.
pub fn points(_n: usize, _dims: usize, _seed: Option<u64>, _s: bool) -> Result<UnitDesign, DesignError> {
    Err(DesignError::InvalidOption("not yet implemented".into()))
}
