//! What the PDE builtins share besides the solver: their common parameter
//! declarations (tables read by `crate::params`), the grid and initial-condition
//! profiles built from them, integral diagnostics, measurement noise and the
//! output writer.

use std::path::Path;

use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::spectral::Grid;
use crate::npy::{Array, write_npz};
use crate::params::{Spec, Values, bad_param};
use crate::{Metrics, SimError};

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
