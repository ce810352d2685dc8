//! Two-dimensional real FFTs of row-major `ny × nx` fields: the one
//! implementation behind the periodic phase-field solver and the PDE
//! generators (1-D grids included, as `ny = 1`).
//!
//! The forward transform is a real-to-complex FFT (`realfft`) along every row,
//! which keeps the `nx/2 + 1` non-negative x-frequencies (the others follow
//! from Hermitian symmetry), then a complex FFT (`rustfft`) along every column
//! of that half-spectrum. The inverse runs the same steps backwards.
//!
//! Layouts:
//!
//! * field: `field[y * nx + x]`, `y < ny`, `x < nx`;
//! * spectrum: `spec[kx * ny + ky]`, `kx = 0..=nx/2` (non-negative
//!   x-frequencies only), `ky = 0..ny`, where `ky > ny/2` stands for the
//!   negative frequency `ky − ny`. That is `(nx/2 + 1) · ny` coefficients,
//!   x-frequency major, so that the column transforms run in place on
//!   contiguous data (batches of columns per `rustfft` call), and so that for
//!   `ny = 1` the spectrum is the plain 1-D half-spectrum.
//!
//! Normalisation: the forward transform is unnormalised,
//! `spec[kx, ky] = Σ_{x,y} field[y, x] e^{−2πi (kx x/nx + ky y/ny)}`; the
//! inverse divides by `nx · ny`, so that `inverse(forward(f)) = f`.

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use crate::SimError;

/// Columns transformed per batch. The transposition between row spectra and
/// columns then touches only `BLOCK` cache lines on its strided side, few
/// enough not to evict one another when a side is a power of two (transposing
/// all columns at once made a 256 × 256 transform 1.5 times slower), and the
/// batch is still in cache when its column FFTs run.
const BLOCK: usize = 8;

/// The error for a failed transform, so every FFT failure in the crate reads
/// the same: [`SimError::Failed`] with the cause.
pub(crate) fn fft_error(e: impl std::fmt::Display) -> SimError {
    SimError::Failed(format!("internal FFT error: {e}"))
}

/// Plans and work buffers for forward and inverse 2-D real FFTs of one grid
/// size, built once so that the time loops that transform every step allocate
/// nothing and plan nothing.
///
/// Calls take `&mut self` because they reuse the work buffers; results do not
/// depend on earlier calls.
pub(crate) struct Fft2 {
    /// Points along x (row length).
    nx: usize,
    /// Points along y (number of rows).
    ny: usize,
    /// Stored x-frequencies, `nx/2 + 1`.
    nxh: usize,
    /// Real-to-complex FFT along a row (length `nx`).
    r2c: Arc<dyn RealToComplex<f64>>,
    /// Complex-to-real FFT along a row (length `nx`).
    c2r: Arc<dyn ComplexToReal<f64>>,
    /// Forward complex FFT along a column (length `ny`).
    col_forward: Arc<dyn Fft<f64>>,
    /// Inverse complex FFT along a column (length `ny`).
    col_inverse: Arc<dyn Fft<f64>>,
    /// One input row: `realfft` overwrites its input, and the caller's field
    /// must stay intact.
    row: Vec<f64>,
    /// Row half-spectra, `rows[y * nxh + kx]`.
    rows: Vec<Complex64>,
    /// Up to [`BLOCK`] inverse-transformed columns, `cols[j * ny + y]`.
    cols: Vec<Complex64>,
    /// Scratch space large enough for every plan above.
    scratch: Vec<Complex64>,
}

impl Fft2 {
    /// Plans transforms of `ny × nx` fields (`ny = 1` for a 1-D line).
    ///
    /// Fails with [`SimError::Failed`] if either size is zero: such a grid has
    /// nothing to transform, and `rustfft` would panic on it.
    pub(crate) fn new(ny: usize, nx: usize) -> Result<Self, SimError> {
        if nx == 0 || ny == 0 {
            return Err(fft_error(format!("cannot plan a {ny} × {nx} grid")));
        }
        let nxh = nx / 2 + 1;
        let mut real = RealFftPlanner::<f64>::new();
        let r2c = real.plan_fft_forward(nx);
        let c2r = real.plan_fft_inverse(nx);
        let mut complex = FftPlanner::<f64>::new();
        let col_forward = complex.plan_fft_forward(ny);
        let col_inverse = complex.plan_fft_inverse(ny);
        let scratch_len = [
            r2c.get_scratch_len(),
            c2r.get_scratch_len(),
            col_forward.get_inplace_scratch_len(),
            col_inverse.get_immutable_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let zero = Complex64::default();
        Ok(Fft2 {
            nx,
            ny,
            nxh,
            r2c,
            c2r,
            col_forward,
            col_inverse,
            row: vec![0.0; nx],
            rows: vec![zero; nxh * ny],
            cols: vec![zero; if ny > 1 { BLOCK.min(nxh) * ny } else { 0 }],
            scratch: vec![zero; scratch_len],
        })
    }

    /// Number of stored x-frequencies, `nx/2 + 1`: the spectrum holds
    /// `half() · ny` coefficients.
    pub(crate) fn half(&self) -> usize {
        self.nxh
    }

    /// Checks the caller's buffers, so that a mismatch is an error rather than
    /// a panic inside `rustfft`.
    fn check(&self, field: usize, spec: usize) -> Result<(), SimError> {
        if field != self.nx * self.ny || spec != self.nxh * self.ny {
            return Err(fft_error(format!(
                "buffers of {field} values and {spec} coefficients do not fit a {} × {} grid",
                self.ny, self.nx
            )));
        }
        Ok(())
    }

    /// Unnormalised spectrum of `field` (`ny · nx` values, row-major) into
    /// `spec` (`half() · ny` coefficients, layout in the module docs).
    pub(crate) fn forward(
        &mut self,
        field: &[f64],
        spec: &mut [Complex64],
    ) -> Result<(), SimError> {
        self.check(field.len(), spec.len())?;
        let (nx, ny, nxh) = (self.nx, self.ny, self.nxh);
        if ny == 1 {
            // The row spectrum is the whole spectrum.
            self.row.copy_from_slice(field);
            return self
                .r2c
                .process_with_scratch(&mut self.row, spec, &mut self.scratch)
                .map_err(fft_error);
        }
        for (row_in, row_out) in field.chunks_exact(nx).zip(self.rows.chunks_exact_mut(nxh)) {
            self.row.copy_from_slice(row_in);
            self.r2c
                .process_with_scratch(&mut self.row, row_out, &mut self.scratch)
                .map_err(fft_error)?;
        }
        // A few columns at a time: gather them into their place in `spec`,
        // then transform them while they are still in cache.
        for kx0 in (0..nxh).step_by(BLOCK) {
            let kx1 = (kx0 + BLOCK).min(nxh);
            let block = &mut spec[kx0 * ny..kx1 * ny];
            for (y, row) in self.rows.chunks_exact(nxh).enumerate() {
                for (j, &z) in row[kx0..kx1].iter().enumerate() {
                    block[j * ny + y] = z;
                }
            }
            // Sizes were checked above, so this cannot panic.
            self.col_forward
                .process_with_scratch(block, &mut self.scratch);
        }
        Ok(())
    }

    /// The real field (`ny · nx` values) whose spectrum is `spec`, divided by
    /// `nx · ny` so that `inverse(forward(f)) = f`. `spec` is left unchanged.
    ///
    /// A spectrum that no real field has is projected onto the real fields:
    /// the result is `(1/(nx·ny)) Σ w(kx) Re[spec[kx, ky] e^{2πi (kx x/nx + ky y/ny)}]`
    /// with `w = 1` for `kx = 0` and the x-Nyquist frequency, 2 otherwise.
    pub(crate) fn inverse(
        &mut self,
        spec: &[Complex64],
        field: &mut [f64],
    ) -> Result<(), SimError> {
        self.check(field.len(), spec.len())?;
        let (nx, ny, nxh) = (self.nx, self.ny, self.nxh);
        if ny == 1 {
            self.rows.copy_from_slice(spec);
        } else {
            // A few columns at a time: transform them into `cols`, leaving
            // `spec` intact, then scatter them into the rows.
            for kx0 in (0..nxh).step_by(BLOCK) {
                let kx1 = (kx0 + BLOCK).min(nxh);
                let block = &mut self.cols[..(kx1 - kx0) * ny];
                self.col_inverse.process_immutable_with_scratch(
                    &spec[kx0 * ny..kx1 * ny],
                    block,
                    &mut self.scratch,
                );
                for (y, row) in self.rows.chunks_exact_mut(nxh).enumerate() {
                    for (j, z) in row[kx0..kx1].iter_mut().enumerate() {
                        *z = block[j * ny + y];
                    }
                }
            }
        }
        let scale = 1.0 / (nx * ny) as f64;
        let nyquist = nx.is_multiple_of(2).then_some(nx / 2);
        for (row_in, row_out) in self
            .rows
            .chunks_exact_mut(nxh)
            .zip(field.chunks_exact_mut(nx))
        {
            // A real row's mean and Nyquist coefficients are real; `realfft`
            // rejects anything else, and the real part is the projection.
            row_in[0].im = 0.0;
            if let Some(k) = nyquist {
                row_in[k].im = 0.0;
            }
            self.c2r
                .process_with_scratch(row_in, row_out, &mut self.scratch)
                .map_err(fft_error)?;
            row_out.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Grids covering 1-D lines, non-square and square grids, with odd and
    /// even sizes along both axes.
    const SIZES: [(usize, usize); 12] = [
        (1, 1),
        (1, 6),
        (1, 7),
        (2, 2),
        (3, 5),
        (4, 6),
        (5, 8),
        (6, 9),
        (7, 4),
        (7, 7),
        (8, 8),
        (9, 9),
    ];

    /// A smooth, non-symmetric test field.
    fn field(ny: usize, nx: usize) -> Vec<f64> {
        (0..ny * nx)
            .map(|i| {
                let (x, y) = ((i % nx) as f64, (i / nx) as f64);
                (0.7 * x).sin() + (1.3 * y + 0.2 * x * y).cos() + 0.01 * x * x - 0.3 * y
            })
            .collect()
    }

    /// `e^{sign·2πi (kx x/nx + ky y/ny)}`.
    fn phase(
        sign: f64,
        (kx, ky): (usize, usize),
        (x, y): (usize, usize),
        (ny, nx): (usize, usize),
    ) -> Complex64 {
        let a = sign * 2.0 * PI * ((kx * x) as f64 / nx as f64 + (ky * y) as f64 / ny as f64);
        Complex64::new(a.cos(), a.sin())
    }

    /// The forward transform equals the textbook O((nx·ny)²) DFT in the
    /// documented layout, and the inverse brings the field back. Tolerances
    /// 1e-12 relative to the largest coefficient (round-off only).
    #[test]
    fn forward_matches_direct_dft_and_inverse_round_trips() {
        for (ny, nx) in SIZES {
            let f = field(ny, nx);
            let mut fft = Fft2::new(ny, nx).unwrap();
            let h = fft.half();
            assert_eq!(h, nx / 2 + 1);
            let mut spec = vec![Complex64::default(); h * ny];
            fft.forward(&f, &mut spec).unwrap();
            let big = spec.iter().map(|z| z.norm()).fold(1.0, f64::max);
            for kx in 0..h {
                for ky in 0..ny {
                    let mut s = Complex64::default();
                    for y in 0..ny {
                        for x in 0..nx {
                            s += f[y * nx + x] * phase(-1.0, (kx, ky), (x, y), (ny, nx));
                        }
                    }
                    let got = spec[kx * ny + ky];
                    assert!(
                        (got - s).norm() < 1e-12 * big,
                        "{ny}×{nx} k=({kx},{ky}): {got} vs {s}"
                    );
                }
            }
            let mut back = vec![0.0; ny * nx];
            fft.inverse(&spec, &mut back).unwrap();
            for (a, b) in f.iter().zip(&back) {
                assert!((a - b).abs() < 1e-12 * big, "{ny}×{nx}: {a} vs {b}");
            }
        }
    }

    /// The inverse of an arbitrary complex spectrum (not one of a real field)
    /// is its documented projection onto real fields, computed directly.
    /// Tolerance 1e-12 (the values are of order 1).
    #[test]
    fn inverse_of_any_spectrum_is_its_real_projection() {
        for (ny, nx) in SIZES {
            let mut fft = Fft2::new(ny, nx).unwrap();
            let h = fft.half();
            let spec: Vec<Complex64> = (0..h * ny)
                .map(|i| Complex64::new((0.9 * i as f64).sin(), (0.4 * i as f64 + 1.0).cos()))
                .collect();
            let mut got = vec![0.0; ny * nx];
            fft.inverse(&spec, &mut got).unwrap();
            for y in 0..ny {
                for x in 0..nx {
                    let mut v = 0.0;
                    for kx in 0..h {
                        let w = if kx == 0 || 2 * kx == nx { 1.0 } else { 2.0 };
                        for ky in 0..ny {
                            v += w
                                * (spec[kx * ny + ky] * phase(1.0, (kx, ky), (x, y), (ny, nx))).re;
                        }
                    }
                    v /= (nx * ny) as f64;
                    let g = got[y * nx + x];
                    assert!((g - v).abs() < 1e-12, "{ny}×{nx} ({x},{y}): {g} vs {v}");
                }
            }
        }
    }

    /// Reused plans and buffers give bit-identical results on repeated calls,
    /// whatever was transformed in between.
    #[test]
    fn repeated_calls_are_identical() {
        let (ny, nx) = (6, 10);
        let mut fft = Fft2::new(ny, nx).unwrap();
        let f = field(ny, nx);
        let mut a = vec![Complex64::default(); fft.half() * ny];
        let mut b = a.clone();
        fft.forward(&f, &mut a).unwrap();
        let g: Vec<f64> = f.iter().map(|v| v * v - 3.0).collect();
        fft.forward(&g, &mut b).unwrap();
        fft.forward(&f, &mut b).unwrap();
        assert_eq!(a, b);
        let (mut u, mut v) = (vec![0.0; ny * nx], vec![0.0; ny * nx]);
        fft.inverse(&a, &mut u).unwrap();
        fft.inverse(&a, &mut v).unwrap();
        assert_eq!(u, v);
    }

    /// Zero sizes and buffers of the wrong length are errors, not panics.
    #[test]
    fn bad_sizes_are_errors() {
        for (ny, nx) in [(0, 4), (4, 0), (0, 0)] {
            assert!(matches!(Fft2::new(ny, nx), Err(SimError::Failed(_))));
        }
        let mut fft = Fft2::new(4, 6).unwrap();
        let good_spec = vec![Complex64::default(); 4 * 4];
        let mut spec = vec![Complex64::default(); 4 * 4];
        assert!(matches!(
            fft.forward(&[0.0; 23], &mut spec),
            Err(SimError::Failed(_))
        ));
        assert!(matches!(
            fft.forward(&[0.0; 24], &mut spec[..15]),
            Err(SimError::Failed(_))
        ));
        assert!(matches!(
            fft.inverse(&good_spec, &mut [0.0; 25]),
            Err(SimError::Failed(_))
        ));
        assert!(matches!(
            fft.inverse(&good_spec[..12], &mut [0.0; 24]),
            Err(SimError::Failed(_))
        ));
    }
}
