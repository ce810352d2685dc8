//! Two-dimensional cosine transforms (DCT-II and its inverse, DCT-III) of
//! square grids, for fields with zero normal derivative at the walls.
//!
//! On cell-centred points `x_j = (j + ½)Δx` the cosine series
//! `c_j = (1/n) [X_0 + 2 Σ_{k≥1} X_k cos(πk(2j + 1)/(2n))]` has zero slope at
//! both walls, and `X` is the (unnormalised) DCT-II of `c`. Each 1-D transform
//! is one real FFT of the same length (Makhoul 1980): with `v` the even-indexed
//! samples followed by the odd-indexed ones reversed, `X_k = Re(e^{−iπk/(2n)} V_k)`,
//! and back, `V_k = e^{iπk/(2n)} (X_k − i X_{n−k})`.
//!
//! Layout: the field is `n × n`, row-major, `field[y * n + x]`; so is the
//! spectrum, `spec[ky * n + kx]`, stored as complex numbers with zero imaginary
//! part so that the solver treats both transforms alike.

use std::sync::Arc;

use realfft::num_complex::Complex64;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::SimError;
use crate::fft2::fft_error;

/// Plans and work buffers for forward and inverse 2-D cosine transforms.
pub(crate) struct Dct2 {
    n: usize,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    /// `e^{−iπk/(2n)}`, `k = 0..n`.
    twiddle: Vec<Complex64>,
    line_in: Vec<f64>,
    line_out: Vec<f64>,
    shuffled: Vec<f64>,
    half: Vec<Complex64>,
    grid: Vec<f64>,
    scratch: Vec<Complex64>,
}

impl Dct2 {
    /// Plans transforms of `n × n` grids (`n ≥ 2`).
    pub(crate) fn new(n: usize) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let r2c = planner.plan_fft_forward(n);
        let c2r = planner.plan_fft_inverse(n);
        let scratch_len = r2c.get_scratch_len().max(c2r.get_scratch_len());
        let twiddle = (0..n)
            .map(|k| {
                let a = -std::f64::consts::PI * k as f64 / (2.0 * n as f64);
                Complex64::new(a.cos(), a.sin())
            })
            .collect();
        Dct2 {
            n,
            r2c,
            c2r,
            twiddle,
            line_in: vec![0.0; n],
            line_out: vec![0.0; n],
            shuffled: vec![0.0; n],
            half: vec![Complex64::default(); n / 2 + 1],
            grid: vec![0.0; n * n],
            scratch: vec![Complex64::default(); scratch_len],
        }
    }

    /// DCT-II of `line_in` into `line_out`.
    fn dct2(&mut self) -> Result<(), SimError> {
        let n = self.n;
        for k in 0..n.div_ceil(2) {
            self.shuffled[k] = self.line_in[2 * k];
        }
        for k in 0..n / 2 {
            self.shuffled[n - 1 - k] = self.line_in[2 * k + 1];
        }
        self.r2c
            .process_with_scratch(&mut self.shuffled, &mut self.half, &mut self.scratch)
            .map_err(fft_error)?;
        let h = self.half.len();
        for (k, out) in self.line_out.iter_mut().enumerate() {
            let v = if k < h {
                self.half[k]
            } else {
                self.half[n - k].conj()
            };
            *out = (self.twiddle[k] * v).re;
        }
        Ok(())
    }

    /// Inverse of [`Self::dct2`] (a DCT-III divided by `n`), `line_in` into `line_out`.
    fn idct2(&mut self) -> Result<(), SimError> {
        let n = self.n;
        for (k, v) in self.half.iter_mut().enumerate() {
            let mirror = if k == 0 { 0.0 } else { self.line_in[n - k] };
            *v = self.twiddle[k].conj() * Complex64::new(self.line_in[k], -mirror);
        }
        self.half[0].im = 0.0;
        if n.is_multiple_of(2) {
            self.half[n / 2].im = 0.0;
        }
        self.c2r
            .process_with_scratch(&mut self.half, &mut self.shuffled, &mut self.scratch)
            .map_err(fft_error)?;
        let scale = 1.0 / n as f64;
        for k in 0..n.div_ceil(2) {
            self.line_out[2 * k] = self.shuffled[k] * scale;
        }
        for k in 0..n / 2 {
            self.line_out[2 * k + 1] = self.shuffled[n - 1 - k] * scale;
        }
        Ok(())
    }

    /// Forward transform of `field` (`n²` values) into `spec` (`n²` values).
    pub(crate) fn forward(
        &mut self,
        field: &[f64],
        spec: &mut [Complex64],
    ) -> Result<(), SimError> {
        let n = self.n;
        if field.len() != n * n || spec.len() != n * n {
            return Err(SimError::Failed(
                "internal DCT error: wrong buffer size".into(),
            ));
        }
        for y in 0..n {
            self.line_in.copy_from_slice(&field[y * n..(y + 1) * n]);
            self.dct2()?;
            self.grid[y * n..(y + 1) * n].copy_from_slice(&self.line_out);
        }
        for kx in 0..n {
            for y in 0..n {
                self.line_in[y] = self.grid[y * n + kx];
            }
            self.dct2()?;
            for ky in 0..n {
                spec[ky * n + kx] = Complex64::new(self.line_out[ky], 0.0);
            }
        }
        Ok(())
    }

    /// Inverse transform of `spec` (real parts used) into `field`, normalised
    /// so that `inverse(forward(f)) = f`.
    pub(crate) fn inverse(
        &mut self,
        spec: &[Complex64],
        field: &mut [f64],
    ) -> Result<(), SimError> {
        let n = self.n;
        if field.len() != n * n || spec.len() != n * n {
            return Err(SimError::Failed(
                "internal DCT error: wrong buffer size".into(),
            ));
        }
        for kx in 0..n {
            for ky in 0..n {
                self.line_in[ky] = spec[ky * n + kx].re;
            }
            self.idct2()?;
            for y in 0..n {
                self.grid[y * n + kx] = self.line_out[y];
            }
        }
        for y in 0..n {
            self.line_in.copy_from_slice(&self.grid[y * n..(y + 1) * n]);
            self.idct2()?;
            field[y * n..(y + 1) * n].copy_from_slice(&self.line_out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn forward_matches_direct_dct_and_inverse_round_trips() {
        // Against the O(n⁴) textbook DCT-II, X = Σ c cos(πkx(2x+1)/2n) cos(πky(2y+1)/2n),
        // for even and odd sizes; tolerance 1e-9 of the largest coefficient.
        for n in [2, 3, 6, 7, 16] {
            let f: Vec<f64> = (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f64, (i / n) as f64);
                    (0.9 * x).sin() + (0.4 * y + 0.1 * x * y).cos() + 0.02 * y * y
                })
                .collect();
            let mut dct = Dct2::new(n);
            let mut spec = vec![Complex64::default(); n * n];
            dct.forward(&f, &mut spec).unwrap();
            let big = spec.iter().map(|z| z.norm()).fold(1.0, f64::max);
            let basis =
                |k: usize, j: usize| (PI * k as f64 * (2 * j + 1) as f64 / (2 * n) as f64).cos();
            for ky in 0..n {
                for kx in 0..n {
                    let mut s = 0.0;
                    for y in 0..n {
                        for x in 0..n {
                            s += f[y * n + x] * basis(kx, x) * basis(ky, y);
                        }
                    }
                    let got = spec[ky * n + kx];
                    assert!((got.re - s).abs() < 1e-9 * big && got.im == 0.0, "n={n}");
                }
            }
            let mut back = vec![0.0; n * n];
            dct.inverse(&spec, &mut back).unwrap();
            for (a, b) in f.iter().zip(&back) {
                assert!((a - b).abs() < 1e-12 * big, "n={n}: {a} vs {b}");
            }
        }
    }
}
