//! Builtin simulators by name.

use crate::{SimError, Simulator, analytic::Analytic};

/// Names of every builtin simulator.
pub fn builtin_names() -> &'static [&'static str] {
    &["analytic"]
}

/// Builds the builtin `name` from its `options` (the study's `simulator.options`).
pub fn builtin(
    name: &str,
    options: &serde_json::Map<String, serde_json::Value>,
) -> Result<Box<dyn Simulator>, SimError> {
    match name {
        "analytic" => Ok(Box::new(Analytic::from_options(options)?)),
        _ => Err(SimError::UnknownBuiltin {
            name: name.to_string(),
            known: builtin_names().join(", "),
        }),
    }
}
