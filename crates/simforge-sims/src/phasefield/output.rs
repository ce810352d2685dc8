//! Artifacts of a run: the time series as CSV, the final field as `.npy` and as
//! a PNG image.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::SimError;

/// One sampled time of the series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time.
    pub t: f64,
    /// Total free energy.
    pub free_energy: f64,
    /// Mean composition.
    pub mean_c: f64,
    /// Area fraction where `c > (cα + cβ)/2`.
    pub beta_fraction: f64,
}

fn io_failed(what: &str, path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Failed(format!("cannot write {what} {}: {e}", path.display()))
}

/// Writes `series.csv`: header `t,free_energy,mean_c,beta_fraction`, one row per sample.
pub fn write_series(path: &Path, samples: &[Sample]) -> Result<(), SimError> {
    let fail = |e: std::io::Error| io_failed("series", path, e);
    let mut out = BufWriter::new(File::create(path).map_err(fail)?);
    writeln!(out, "t,free_energy,mean_c,beta_fraction").map_err(fail)?;
    for s in samples {
        // `{}` prints the shortest representation that round-trips.
        writeln!(
            out,
            "{},{},{},{}",
            s.t, s.free_energy, s.mean_c, s.beta_fraction
        )
        .map_err(fail)?;
    }
    out.flush().map_err(fail)
}

/// Writes `field.npy`: the `n × n` field, `[y][x]` with `y` the first axis.
pub fn write_field_npy(path: &Path, n: usize, field: &[f64]) -> Result<(), SimError> {
    crate::npy::write_npy(
        path,
        &crate::npy::Array {
            shape: &[n, n],
            data: field,
        },
    )
    .map_err(|e| io_failed("field", path, e))
}

/// Writes `field.png`: the field min–max scaled onto the viridis colour map,
/// one pixel per grid point, `y` pointing up (row 0 of the array is the
/// bottom row of the image). A constant field is drawn in the colour map's
/// middle colour.
pub fn write_field_png(path: &Path, n: usize, field: &[f64]) -> Result<(), SimError> {
    let size = u32::try_from(n).map_err(|e| io_failed("image", path, e))?;
    let (lo, hi) = field
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = hi - lo;
    let mut rgb = Vec::with_capacity(3 * n * n);
    for row in field.chunks_exact(n).rev() {
        for &v in row {
            let t = if span > 0.0 && span.is_finite() {
                (v - lo) / span
            } else {
                0.5
            };
            rgb.extend_from_slice(&viridis(t));
        }
    }
    let fail = |e: png::EncodingError| io_failed("image", path, e);
    let file = File::create(path).map_err(|e| io_failed("image", path, e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), size, size);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&rgb).map_err(fail)?;
    writer.finish().map_err(fail)
}

/// The viridis colour map (van der Walt & Smith, matplotlib) at `t ∈ [0, 1]`
/// as 8-bit RGB, from the degree-6 polynomial fit in common use for shaders
/// (within about 0.02 of the tabulated map per channel).
pub fn viridis(t: f64) -> [u8; 3] {
    const C: [[f64; 3]; 7] = [
        [
            0.277_727_327_223_417_7,
            0.005_407_344_544_966_578,
            0.334_099_805_335_306_1,
        ],
        [
            0.105_093_043_108_577_4,
            1.404_613_529_898_575,
            1.384_590_162_594_685,
        ],
        [
            -0.330_861_828_725_556_3,
            0.214_847_559_468_213,
            0.095_095_163_028_236_59,
        ],
        [
            -4.634_230_498_983_486,
            -5.799_100_973_351_585,
            -19.332_440_956_279_87,
        ],
        [
            6.228_269_936_347_081,
            14.179_933_366_805_09,
            56.690_552_600_681_05,
        ],
        [
            4.776_384_997_670_288,
            -13.745_145_377_746_01,
            -65.353_032_633_372_34,
        ],
        [
            -5.435_455_855_934_631,
            4.645_852_612_178_535,
            26.312_435_249_583_2,
        ],
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let mut out = [0u8; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let v = C.iter().rev().fold(0.0, |acc, c| acc * t + c[ch]);
        *o = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_end_points_and_middle() {
        // matplotlib's tabulated viridis: 0 → (68, 1, 84), 0.5 → (33, 145, 140),
        // 1 → (253, 231, 37); the polynomial fit is within 5/255 per channel.
        for (t, want) in [
            (0.0, [68u8, 1, 84]),
            (0.5, [33, 145, 140]),
            (1.0, [253, 231, 37]),
        ] {
            let got = viridis(t);
            for ch in 0..3 {
                assert!(
                    (i32::from(got[ch]) - i32::from(want[ch])).abs() <= 5,
                    "t={t}: {got:?} vs {want:?}"
                );
            }
        }
    }
}
