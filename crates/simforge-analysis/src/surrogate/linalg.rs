//! The dense linear algebra a Gaussian process needs, on row-major `n×n`
//! buffers: a Cholesky factorisation, triangular solves and the inverse from
//! the factor. Written out because the matrices are small (n ≤ a few hundred)
//! and a general linear-algebra crate would cost more build time than these
//! fifty lines.

// Dense linear algebra reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Dot product with four independent accumulators: a plain `zip().sum()`
/// is a strict left-to-right reduction the compiler may not reorder, and so
/// neither vectorises nor pipelines; this is 2–4× faster on the inner loops
/// below.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        acc[0] += x[0] * y[0];
        acc[1] += x[1] * y[1];
        acc[2] += x[2] * y[2];
        acc[3] += x[3] * y[3];
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Overwrites the lower triangle of the row-major `n×n` matrix `a` with its
/// Cholesky factor `L` (`A = L Lᵀ`) and zeroes the upper triangle. Returns
/// `false` when `a` is not (numerically) positive definite.
pub fn cholesky_in_place(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let (done, rest) = a.split_at_mut(j * n);
        let row_j = &mut rest[..n];
        // Row j left of the diagonal: L[j][k] = (A[j][k] - L[j][..k]·L[k][..k]) / L[k][k].
        for k in 0..j {
            let row_k = &done[k * n..k * n + k];
            let dp = dot(&row_j[..k], row_k);
            row_j[k] = (row_j[k] - dp) / done[k * n + k];
        }
        let s = row_j[j] - dot(&row_j[..j], &row_j[..j]);
        if s <= 0.0 || !s.is_finite() {
            return false;
        }
        row_j[j] = s.sqrt();
        for v in row_j[j + 1..].iter_mut() {
            *v = 0.0;
        }
    }
    true
}

/// Solves `L z = b` for lower-triangular `L` in place.
pub fn solve_lower(l: &[f64], n: usize, z: &mut [f64]) {
    for i in 0..n {
        let dp = dot(&l[i * n..i * n + i], &z[..i]);
        z[i] = (z[i] - dp) / l[i * n + i];
    }
}

/// Solves `Lᵀ z = b` for lower-triangular `L` in place.
pub fn solve_upper_t(l: &[f64], n: usize, z: &mut [f64]) {
    for i in (0..n).rev() {
        z[i] /= l[i * n + i];
        let zi = z[i];
        for k in 0..i {
            z[k] -= l[i * n + k] * zi;
        }
    }
}

/// Solves `L Lᵀ z = b` in place.
pub fn chol_solve(l: &[f64], n: usize, z: &mut [f64]) {
    solve_lower(l, n, z);
    solve_upper_t(l, n, z);
}

/// `A⁻¹ = L⁻ᵀ L⁻¹` from the Cholesky factor, as a full row-major matrix.
pub fn inverse_from_cholesky(l: &[f64], n: usize) -> Vec<f64> {
    // M = L⁻¹ (lower triangular), row by row of the identity's columns.
    let mut m = vec![0.0; n * n];
    for c in 0..n {
        let mut e = vec![0.0; n];
        e[c] = 1.0;
        for i in c..n {
            let dp = dot(&l[i * n + c..i * n + i], &e[c..i]);
            e[i] = (e[i] - dp) / l[i * n + i];
        }
        for i in c..n {
            m[i * n + c] = e[i];
        }
    }
    // A⁻¹[i][j] = Σ_k M[k][i] M[k][j], k ≥ max(i, j).
    let mut inv = vec![0.0; n * n];
    for k in 0..n {
        let row = &m[k * n..k * n + k + 1];
        for i in 0..=k {
            let mi = row[i];
            if mi == 0.0 {
                continue;
            }
            let out = &mut inv[i * n..i * n + i + 1];
            for (o, mj) in out.iter_mut().zip(&row[..=i]) {
                *o += mi * mj;
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            inv[j * n + i] = inv[i * n + j];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_solve_and_invert_a_known_matrix() {
        // A = [[4,2,0],[2,3,1],[0,1,2]]; A·[1,1,1] = [6,6,3].
        let mut a = vec![4.0, 2.0, 0.0, 2.0, 3.0, 1.0, 0.0, 1.0, 2.0];
        let orig = a.clone();
        assert!(cholesky_in_place(&mut a, 3));
        let mut z = vec![6.0, 6.0, 3.0];
        chol_solve(&a, 3, &mut z);
        for v in &z {
            assert!((v - 1.0).abs() < 1e-12, "{z:?}");
        }
        let inv = inverse_from_cholesky(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| orig[i * 3 + k] * inv[k * 3 + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((p - want).abs() < 1e-12, "A·A⁻¹[{i}][{j}] = {p}");
            }
        }
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_in_place(&mut not_pd, 2));
    }
}
