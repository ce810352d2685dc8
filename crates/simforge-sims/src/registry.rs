//! Builtin simulators by name.

use std::path::Path;

use crate::{
    SimError, Simulator, analytic::Analytic, phasefield::PhaseField, sysdesign::SysDesign,
};

/// Names of every builtin simulator.
pub fn builtin_names() -> &'static [&'static str] {
    &[
        "analytic",
        "sysdesign",
        "phasefield",
        "burgers",
        "heat",
        "kdv",
        "kuramoto_sivashinsky",
        "reaction_diffusion",
    ]
}

/// Options of builtin `name` whose value may be the name of a YAML file
/// rather than the content itself. The caller loads such files (relative to
/// the study file), so that errors inside them can point at a line.
pub fn file_options(name: &str) -> &'static [&'static str] {
    match name {
        "sysdesign" => crate::sysdesign::FILE_OPTIONS,
        _ => &[],
    }
}

/// Builds the builtin `name` from its `options` (the study's
/// `simulator.options`); `base` is the directory relative file names in the
/// options are resolved against (the study file's).
pub fn builtin(
    name: &str,
    options: &serde_json::Map<String, serde_json::Value>,
    base: &Path,
) -> Result<Box<dyn Simulator>, SimError> {
    match name {
        "analytic" => Ok(Box::new(Analytic::from_options(options)?)),
        "sysdesign" => Ok(Box::new(SysDesign::from_options(options, base)?)),
        "phasefield" => Ok(Box::new(PhaseField::from_options(options)?)),
        other => crate::pde::builtin(other, options).unwrap_or_else(|| {
            Err(SimError::UnknownBuiltin {
                name: name.to_string(),
                known: builtin_names().join(", "),
            })
        }),
    }
}
