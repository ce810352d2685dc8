//! Two-dimensional real FFTs of square grids, built from `realfft`'s
//! one-dimensional transforms.
//!
//! `realfft` exposes only real-to-complex and complex-to-real transforms, so the
//! complex transforms along the second axis are assembled from two real ones:
//! the transform of `a + ib` (with `a`, `b` real) is `â + i b̂`, and the inverse
//! transform of an arbitrary spectrum `S` is the sum of the inverse transforms of
//! its Hermitian part `(S(k) + S(−k)*)/2` and `i` times that of
//! `(S(k) − S(−k)*)/(2i)`, both real signals. The cost is that of one complex
//! transform per column.
//!
//! Layout: a field is `m × m` values, row-major, `field[y * m + x]`. Its spectrum
//! keeps the non-negative `x` frequencies only (`h = m/2 + 1` of them, the rest
//! follow from Hermitian symmetry) and is stored column-major,
//! `spec[kx * m + ky]`, so that the transforms along `y` work on contiguous data.
//! Transforms are unnormalised: `inverse(forward(f)) = m² f`.

use std::sync::Arc;

use realfft::num_complex::Complex64;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::SimError;

/// Plans and work buffers for forward and inverse 2-D transforms of one size.
pub(crate) struct Fft2 {
    m: usize,
    h: usize,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    real_a: Vec<f64>,
    real_b: Vec<f64>,
    half_a: Vec<Complex64>,
    half_b: Vec<Complex64>,
    rows: Vec<Complex64>,
    scratch: Vec<Complex64>,
}

fn fft_failed(e: realfft::FftError) -> SimError {
    SimError::Failed(format!("internal FFT error: {e}"))
}

impl Fft2 {
    /// Plans transforms of `m × m` grids (`m ≥ 2`).
    pub(crate) fn new(m: usize) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let r2c = planner.plan_fft_forward(m);
        let c2r = planner.plan_fft_inverse(m);
        let h = m / 2 + 1;
        let scratch_len = r2c.get_scratch_len().max(c2r.get_scratch_len());
        Fft2 {
            m,
            h,
            r2c,
            c2r,
            real_a: vec![0.0; m],
            real_b: vec![0.0; m],
            half_a: vec![Complex64::default(); h],
            half_b: vec![Complex64::default(); h],
            rows: vec![Complex64::default(); m * h],
            scratch: vec![Complex64::default(); scratch_len],
        }
    }

    /// Number of stored `x` frequencies, `m/2 + 1`.
    pub(crate) fn half(&self) -> usize {
        self.h
    }

    /// Forward transform of `field` (`m²` values) into `spec` (`h·m` values).
    pub(crate) fn forward(
        &mut self,
        field: &[f64],
        spec: &mut [Complex64],
    ) -> Result<(), SimError> {
        let (m, h) = (self.m, self.h);
        if field.len() != m * m || spec.len() != h * m {
            return Err(SimError::Failed(
                "internal FFT error: wrong buffer size".into(),
            ));
        }
        for (row_in, row_out) in field.chunks_exact(m).zip(self.rows.chunks_exact_mut(h)) {
            self.real_a.copy_from_slice(row_in);
            self.r2c
                .process_with_scratch(&mut self.real_a, row_out, &mut self.scratch)
                .map_err(fft_failed)?;
        }
        for kx in 0..h {
            for y in 0..m {
                let z = self.rows[y * h + kx];
                self.real_a[y] = z.re;
                self.real_b[y] = z.im;
            }
            self.r2c
                .process_with_scratch(&mut self.real_a, &mut self.half_a, &mut self.scratch)
                .map_err(fft_failed)?;
            self.r2c
                .process_with_scratch(&mut self.real_b, &mut self.half_b, &mut self.scratch)
                .map_err(fft_failed)?;
            let col = &mut spec[kx * m..(kx + 1) * m];
            for (ky, out) in col.iter_mut().enumerate() {
                let (a, b) = if ky < h {
                    (self.half_a[ky], self.half_b[ky])
                } else {
                    (self.half_a[m - ky].conj(), self.half_b[m - ky].conj())
                };
                // a + i·b
                *out = Complex64::new(a.re - b.im, a.im + b.re);
            }
        }
        Ok(())
    }

    /// Inverse transform of `spec` (`h·m` values, left unchanged) into `field`
    /// (`m²` values), normalised so that `inverse(forward(f)) = f`.
    ///
    /// Only the part of `spec` that belongs to a real field is used (the
    /// imaginary parts that must vanish for a real field are dropped).
    pub(crate) fn inverse(
        &mut self,
        spec: &[Complex64],
        field: &mut [f64],
    ) -> Result<(), SimError> {
        let (m, h) = (self.m, self.h);
        if field.len() != m * m || spec.len() != h * m {
            return Err(SimError::Failed(
                "internal FFT error: wrong buffer size".into(),
            ));
        }
        let even = m.is_multiple_of(2);
        for kx in 0..h {
            let col = &spec[kx * m..(kx + 1) * m];
            for ky in 0..h {
                let s = col[ky];
                let r = col[(m - ky) % m].conj();
                // Hermitian parts: (s + r)/2 and (s − r)/(2i).
                let d = s - r;
                self.half_a[ky] = Complex64::new(0.5 * (s.re + r.re), 0.5 * (s.im + r.im));
                self.half_b[ky] = Complex64::new(0.5 * d.im, -0.5 * d.re);
            }
            self.half_a[0].im = 0.0;
            self.half_b[0].im = 0.0;
            if even {
                self.half_a[h - 1].im = 0.0;
                self.half_b[h - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(&mut self.half_a, &mut self.real_a, &mut self.scratch)
                .map_err(fft_failed)?;
            self.c2r
                .process_with_scratch(&mut self.half_b, &mut self.real_b, &mut self.scratch)
                .map_err(fft_failed)?;
            for y in 0..m {
                self.rows[y * h + kx] = Complex64::new(self.real_a[y], self.real_b[y]);
            }
        }
        let scale = 1.0 / (m as f64 * m as f64);
        for (row_in, row_out) in self.rows.chunks_exact_mut(h).zip(field.chunks_exact_mut(m)) {
            row_in[0].im = 0.0;
            if even {
                row_in[h - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(row_in, row_out, &mut self.scratch)
                .map_err(fft_failed)?;
            for v in row_out.iter_mut() {
                *v *= scale;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn field(m: usize) -> Vec<f64> {
        (0..m * m)
            .map(|i| {
                let (x, y) = ((i % m) as f64, (i / m) as f64);
                (0.7 * x).sin() + (1.3 * y + 0.2 * x * y).cos() + 0.01 * x * x
            })
            .collect()
    }

    #[test]
    fn forward_matches_direct_dft_and_inverse_round_trips() {
        // Against the O(m⁴) textbook DFT, for even and odd sizes; tolerance 1e-9
        // relative to the spectrum's largest entry (round-off only).
        for m in [2, 5, 6, 9, 16] {
            let f = field(m);
            let mut fft = Fft2::new(m);
            let h = fft.half();
            let mut spec = vec![Complex64::default(); h * m];
            fft.forward(&f, &mut spec).unwrap();
            let big = spec.iter().map(|z| z.norm()).fold(1.0, f64::max);
            for kx in 0..h {
                for ky in 0..m {
                    let mut s = Complex64::default();
                    for y in 0..m {
                        for x in 0..m {
                            let ph = -2.0 * PI * ((kx * x) as f64 + (ky * y) as f64) / m as f64;
                            s += f[y * m + x] * Complex64::new(ph.cos(), ph.sin());
                        }
                    }
                    let got = spec[kx * m + ky];
                    assert!((got - s).norm() < 1e-9 * big, "m={m} k=({kx},{ky})");
                }
            }
            let mut back = vec![0.0; m * m];
            fft.inverse(&spec, &mut back).unwrap();
            for (a, b) in f.iter().zip(&back) {
                assert!((a - b).abs() < 1e-12 * big, "m={m}");
            }
            // The spectrum is left untouched by the inverse.
            let mut again = vec![0.0; m * m];
            fft.inverse(&spec, &mut again).unwrap();
            assert_eq!(back, again);
        }
    }
}
