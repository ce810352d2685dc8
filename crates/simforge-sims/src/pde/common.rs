//! What the PDE builtins share besides the solver: parameter declarations and
//! parsing, initial-condition profiles, integral diagnostics, measurement
//! noise and the output writer.

use std::collections::BTreeMap;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use super::spectral::Grid;
use crate::npy::{Array, write_npz};
use crate::{Metrics, ParamDecl, ParamKind, Params, SimError};

/// Kind of value a PDE parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ty {
    /// A real number.
    Real,
    /// A whole number (JSON integers, or floats with no fractional part).
    Integer,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
}

/// Default of a PDE parameter (every PDE parameter is optional).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DefaultValue {
    /// A number.
    Num(f64),
    /// A choice.
    Text(&'static str),
    /// Computed at run time by the rule described.
    Auto(&'static str),
}

/// Declaration of one PDE parameter: what [`ParamDecl`] says, plus its default.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    /// Name in the study file.
    pub name: &'static str,
    /// Meaning.
    pub description: &'static str,
    /// Unit, as a dimension symbol of the nondimensional equations
    /// (`L` length, `T` time, `U` the field).
    pub unit: Option<&'static str>,
    /// Inclusive bounds.
    pub bounds: Option<(f64, f64)>,
    /// Whether the lower bound 0 is excluded.
    pub positive: bool,
    /// Value kind.
    pub ty: Ty,
    /// Default when absent.
    pub default: DefaultValue,
}

impl Spec {
    /// A real parameter.
    pub fn real(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        bounds: (f64, f64),
        description: &'static str,
    ) -> Spec {
        Spec {
            name,
            description,
            unit,
            bounds: Some(bounds),
            positive: false,
            ty: Ty::Real,
            default: DefaultValue::Num(default),
        }
    }

    /// A real parameter that must be strictly positive, in `(0, high]`.
    pub fn positive(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        high: f64,
        description: &'static str,
    ) -> Spec {
        Spec {
            positive: true,
            ..Spec::real(name, default, unit, (0.0, high), description)
        }
    }

    /// An integer parameter.
    pub fn integer(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        bounds: (f64, f64),
        description: &'static str,
    ) -> Spec {
        Spec {
            ty: Ty::Integer,
            ..Spec::real(name, default, unit, bounds, description)
        }
    }

    /// A choice parameter.
    pub fn choice(
        name: &'static str,
        default: &'static str,
        choices: &'static [&'static str],
        description: &'static str,
    ) -> Spec {
        Spec {
            name,
            description,
            unit: None,
            bounds: None,
            positive: false,
            ty: Ty::Choice(choices),
            default: DefaultValue::Text(default),
        }
    }

    /// Replaces the default by a rule computed at run time.
    pub fn auto(self, rule: &'static str) -> Spec {
        Spec {
            default: DefaultValue::Auto(rule),
            ..self
        }
    }

    /// The public declaration.
    pub fn decl(&self) -> ParamDecl {
        let default = match self.default {
            DefaultValue::Num(v) => format!("default {v}"),
            DefaultValue::Text(s) => format!("default {s}"),
            DefaultValue::Auto(rule) => format!("default: {rule}"),
        };
        let positive = if self.positive { "; must be > 0" } else { "" };
        ParamDecl {
            name: self.name.to_string(),
            description: format!("{} ({default}{positive})", self.description),
            unit: self.unit.map(str::to_string),
            bounds: self.bounds,
            kind: match self.ty {
                Ty::Real => ParamKind::Real,
                Ty::Integer => ParamKind::Integer,
                Ty::Choice(c) => ParamKind::Choice(c.iter().map(|s| s.to_string()).collect()),
            },
            required: false,
        }
    }
}

/// The common grid parameters of a 1-D PDE: `nx`, `x_min`, `length`.
pub(crate) fn domain_specs(nx: f64, x_min: f64, length: f64) -> Vec<Spec> {
    vec![
        Spec::integer(
            "nx",
            nx,
            Some("points"),
            (8.0, 65536.0),
            "grid points along x; must be even",
        ),
        Spec::real(
            "x_min",
            x_min,
            Some("L"),
            (-1e6, 1e6),
            "left end of the periodic domain",
        ),
        Spec::positive(
            "length",
            length,
            Some("L"),
            1e6,
            "length of the periodic domain",
        ),
    ]
}

/// The time parameters: `t_end`, `snapshots`, `dt`.
pub(crate) fn time_specs(t_end: f64, snapshots: f64, dt_rule: &'static str) -> Vec<Spec> {
    vec![
        Spec::positive("t_end", t_end, Some("T"), 1e6, "final time"),
        Spec::integer(
            "snapshots",
            snapshots,
            Some("snapshots"),
            (2.0, 100000.0),
            "saved states, evenly spaced on [0, t_end], both ends included",
        ),
        Spec::positive(
            "dt",
            0.0,
            Some("T"),
            1e3,
            "largest time step; it is shortened so a whole number of steps fits between snapshots",
        )
        .auto(dt_rule),
    ]
}

/// The noise parameters: `noise`, `noise_seed`.
pub(crate) fn noise_specs() -> Vec<Spec> {
    vec![
        Spec::real(
            "noise",
            0.0,
            None,
            (0.0, 10.0),
            "standard deviation of additive Gaussian noise on the written fields, relative to each field's RMS over all snapshots",
        ),
        Spec::integer(
            "noise_seed",
            0.0,
            None,
            (0.0, 9007199254740991.0),
            "seed of the noise",
        )
        .auto("the run's seed"),
    ]
}

/// The initial-profile parameters `amplitude`, `center`, `width`, `mode`.
pub(crate) fn shape_specs(amplitude: f64, center: f64, width: f64) -> Vec<Spec> {
    vec![
        Spec::real(
            "amplitude",
            amplitude,
            Some("U"),
            (-1e3, 1e3),
            "amplitude of the initial profile (gaussian, sine)",
        ),
        Spec::real(
            "center",
            center,
            Some("L"),
            (-1e6, 1e6),
            "position of the initial profile: the Gaussian's centre, the sine's phase origin",
        ),
        Spec::positive(
            "width",
            width,
            Some("L"),
            1e6,
            "width w of the Gaussian amplitude·exp(−((x − center)/w)²)",
        ),
        Spec::integer(
            "mode",
            1.0,
            None,
            (1.0, 32768.0),
            "periods of the sine amplitude·sin(2π·mode·(x − center)/length) in the domain",
        ),
    ]
}

/// Parameter values of one run, after defaults and checks.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    nums: BTreeMap<&'static str, f64>,
    texts: BTreeMap<&'static str, String>,
    order: Vec<&'static str>,
}

fn undeclared(name: &str) -> SimError {
    SimError::Failed(format!(
        "internal error: parameter `{name}` is not declared"
    ))
}

/// A [`SimError::BadParam`].
pub(crate) fn bad_param(param: &str, message: impl Into<String>) -> SimError {
    SimError::BadParam {
        param: param.to_string(),
        message: message.into(),
    }
}

impl Values {
    /// A numeric parameter (`Auto` parameters: use [`Values::auto`]).
    pub fn num(&self, name: &str) -> Result<f64, SimError> {
        self.nums.get(name).copied().ok_or_else(|| undeclared(name))
    }

    /// An integer parameter as a count.
    pub fn count(&self, name: &str) -> Result<usize, SimError> {
        Ok(self.num(name)? as usize)
    }

    /// A parameter whose default is computed: `None` when not given.
    pub fn auto(&self, name: &str) -> Result<Option<f64>, SimError> {
        if !self.order.contains(&name) {
            return Err(undeclared(name));
        }
        Ok(self.nums.get(name).copied())
    }

    /// A choice parameter.
    pub fn text(&self, name: &str) -> Result<&str, SimError> {
        self.texts
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| undeclared(name))
    }

    /// Every value as JSON, in declaration order (computed defaults as `"auto"`).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for name in &self.order {
            let v = if let Some(s) = self.texts.get(name) {
                Value::String(s.clone())
            } else if let Some(n) = self.nums.get(name) {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            } else {
                Value::String("auto".into())
            };
            m.insert(name.to_string(), v);
        }
        m
    }
}

/// Checks `params` against `specs` and fills in defaults. Names not declared
/// are errors (a typo would otherwise silently fall back to a default).
pub(crate) fn parse(pde: &str, specs: &[Spec], params: &Params) -> Result<Values, SimError> {
    for name in params.keys() {
        if !specs.iter().any(|s| s.name == name) {
            return Err(bad_param(
                name,
                format!(
                    "unknown parameter of {pde}; known: {}",
                    specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let mut v = Values {
        nums: BTreeMap::new(),
        texts: BTreeMap::new(),
        order: specs.iter().map(|s| s.name).collect(),
    };
    for spec in specs {
        let name = spec.name;
        let Some(value) = params.get(name) else {
            match spec.default {
                DefaultValue::Num(n) => {
                    v.nums.insert(name, n);
                }
                DefaultValue::Text(s) => {
                    v.texts.insert(name, s.to_string());
                }
                DefaultValue::Auto(_) => {}
            }
            continue;
        };
        match spec.ty {
            Ty::Choice(choices) => match value.as_str() {
                Some(s) if choices.contains(&s) => {
                    v.texts.insert(name, s.to_string());
                }
                _ => {
                    return Err(bad_param(
                        name,
                        format!("expected one of {}, found {value}", choices.join(", ")),
                    ));
                }
            },
            Ty::Real | Ty::Integer => {
                let integer = spec.ty == Ty::Integer;
                let x = value.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                    let what = if integer {
                        "a whole number"
                    } else {
                        "a finite number"
                    };
                    bad_param(name, format!("expected {what}, found {value}"))
                })?;
                if integer && x.fract() != 0.0 {
                    return Err(bad_param(
                        name,
                        format!("expected a whole number, found {value}"),
                    ));
                }
                if let Some((lo, hi)) = spec.bounds {
                    let tol = if integer {
                        0.0
                    } else {
                        1e-12 * (hi - lo).abs().max(1.0)
                    };
                    if x < lo - tol || x > hi + tol || (spec.positive && x <= 0.0) {
                        let domain = if spec.positive {
                            format!("(0, {hi}]")
                        } else {
                            format!("[{lo}, {hi}]")
                        };
                        return Err(bad_param(
                            name,
                            format!("{value} is outside the domain {domain}"),
                        ));
                    }
                }
                v.nums.insert(name, x);
            }
        }
    }
    Ok(v)
}

/// The 1-D grid from `nx`, `x_min`, `length`.
pub(crate) fn line_grid(p: &Values) -> Result<Grid, SimError> {
    let nx = even(p, "nx")?;
    Ok(Grid::line(nx, p.num("x_min")?, p.num("length")?))
}

/// An integer parameter that must be even (so the grid has a Nyquist mode the
/// solver treats explicitly, and realfft's fast paths apply).
pub(crate) fn even(p: &Values, name: &str) -> Result<usize, SimError> {
    let n = p.count(name)?;
    if n % 2 != 0 {
        return Err(bad_param(
            name,
            format!("expected an even number, found {n}"),
        ));
    }
    Ok(n)
}

/// `d` wrapped into `[−l/2, l/2)`: the signed distance to the nearest periodic
/// image, so that profiles centred anywhere are periodic.
pub(crate) fn wrap(d: f64, l: f64) -> f64 {
    d - l * (d / l + 0.5).floor()
}

/// amplitude · exp(−((x − center)/width)²) on `grid`, centred periodically.
pub(crate) fn gaussian(grid: &Grid, amplitude: f64, center: f64, width: f64) -> Vec<f64> {
    grid.x()
        .iter()
        .map(|&x| amplitude * (-(wrap(x - center, grid.lx) / width).powi(2)).exp())
        .collect()
}

/// amplitude · sin(2π·mode·(x − center)/length) on `grid`.
pub(crate) fn sine(grid: &Grid, amplitude: f64, center: f64, mode: usize) -> Vec<f64> {
    let k = 2.0 * std::f64::consts::PI * mode as f64 / grid.lx;
    grid.x()
        .iter()
        .map(|&x| amplitude * (k * (x - center)).sin())
        .collect()
}

/// The `gaussian` or `sine` profile chosen by `ic`, from the shape parameters.
pub(crate) fn shape(p: &Values, grid: &Grid) -> Result<Vec<f64>, SimError> {
    let amplitude = p.num("amplitude")?;
    let center = p.num("center")?;
    match p.text("ic")? {
        "sine" => {
            let mode = p.count("mode")?;
            if 2 * mode >= grid.nx {
                return Err(bad_param(
                    "mode",
                    format!(
                        "{mode} periods need more than {} grid points (at least 2·mode + 1)",
                        grid.nx
                    ),
                ));
            }
            Ok(sine(grid, amplitude, center, mode))
        }
        _ => Ok(gaussian(grid, amplitude, center, p.num("width")?)),
    }
}

/// ∫ u over the domain (rectangle rule: spectrally accurate when periodic).
pub(crate) fn integral(grid: &Grid, u: &[f64]) -> f64 {
    u.iter().sum::<f64>() * grid.cell()
}

/// (∫ u² over the domain)^½.
pub(crate) fn l2(grid: &Grid, u: &[f64]) -> f64 {
    (u.iter().map(|v| v * v).sum::<f64>() * grid.cell()).sqrt()
}

/// max |u|.
pub(crate) fn max_abs(u: &[f64]) -> f64 {
    u.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Records a metric; a non-finite value is a failure, not a silent null.
pub(crate) fn put(m: &mut Metrics, name: &str, value: f64) -> Result<(), SimError> {
    let n = serde_json::Number::from_f64(value)
        .ok_or_else(|| SimError::Failed(format!("metric {name} is not finite ({value})")))?;
    m.insert(name.to_string(), Value::Number(n));
    Ok(())
}

/// Adds independent Gaussian noise of standard deviation `level` × RMS(`data`)
/// to every value of `data`; returns that standard deviation.
pub(crate) fn add_noise(data: &mut [f64], level: f64, rng: &mut ChaCha8Rng) -> f64 {
    if level <= 0.0 || data.is_empty() {
        return 0.0;
    }
    let rms = (data.iter().map(|v| v * v).sum::<f64>() / data.len() as f64).sqrt();
    let sd = level * rms;
    for v in data.iter_mut() {
        *v += sd * crate::analytic::gaussian(rng);
    }
    sd
}

/// File name of the data set in the run directory.
pub(crate) const DATA_FILE: &str = "data.npz";
/// File name of the run description in the run directory.
pub(crate) const META_FILE: &str = "meta.json";

/// Writes `data.npz` into `dir`: `x` (and `y`), `t`, then each named field as
/// `[nt, nx]` (1-D) or `[nt, ny, nx]` (2-D).
pub(crate) fn write_data(
    dir: &Path,
    grid: &Grid,
    t: &[f64],
    fields: &[(&str, &[f64])],
) -> Result<String, SimError> {
    let x = grid.x();
    let y = grid.y();
    let (nx, ny, nt) = ([grid.nx], [grid.ny], [t.len()]);
    let shape: Vec<usize> = if grid.is_2d() {
        vec![t.len(), grid.ny, grid.nx]
    } else {
        vec![t.len(), grid.nx]
    };
    let mut arrays = vec![("x", Array::vector(&x, &nx))];
    if grid.is_2d() {
        arrays.push(("y", Array::vector(&y, &ny)));
    }
    arrays.push(("t", Array::vector(t, &nt)));
    for (name, data) in fields {
        arrays.push((
            name,
            Array {
                shape: &shape,
                data,
            },
        ));
    }
    let path = dir.join(DATA_FILE);
    write_npz(&path, &arrays)
        .map_err(|e| SimError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(DATA_FILE.to_string())
}

/// Writes `meta.json` (pretty JSON) into `dir`.
pub(crate) fn write_meta(dir: &Path, meta: &Value) -> Result<String, SimError> {
    let path = dir.join(META_FILE);
    let text = serde_json::to_string_pretty(meta)
        .map_err(|e| SimError::Failed(format!("cannot encode {META_FILE}: {e}")))?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| SimError::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(META_FILE.to_string())
}
