//! The spectral core every PDE shares: periodic grids, real FFTs (1-D and
//! 2-D, all through the crate's shared [`Fft2`]), wavenumbers, dealiasing
//! masks, the ETDRK4 time stepper with coefficients from the contour integrals
//! of Kassam & Trefethen (2005), and the driver that marches a problem from
//! snapshot to snapshot.
//!
//! Every PDE here has the form `∂ₜû = L û + N(u)^` on a periodic domain, with a
//! diagonal linear operator `L` (diffusion, dispersion, hyperdiffusion) and a
//! nonlinear term `N` evaluated pseudo-spectrally. ETDRK4 (Cox & Matthews
//! 2002) integrates the stiff linear part exactly and the nonlinear part to
//! fourth order, so stiff equations such as Kuramoto–Sivashinsky run with
//! time steps set by the dynamics, not by the highest wavenumber.
//!
//! Layout (that of [`Fft2`]): physical fields are row-major `[ny][nx]`
//! (`ny = 1` in 1-D); a spectrum holds `nx/2 + 1` non-negative x-wavenumbers by
//! `ny` y-wavenumbers, stored `[kx][ky]` (index `ix * ny + iy`). Several fields
//! are stored one after another.

use std::f64::consts::PI;

use realfft::num_complex::Complex64;

use crate::SimError;
use crate::fft2::Fft2;

/// A complex Fourier coefficient.
pub(crate) type C = Complex64;

const ZERO: C = C::new(0.0, 0.0);

/// A uniform periodic grid on `[x_min, x_min + lx) × [y_min, y_min + ly)`;
/// one-dimensional when `ny == 1`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    /// Points along x.
    pub nx: usize,
    /// Points along y (1 for a 1-D grid).
    pub ny: usize,
    /// Left end of the x period.
    pub x_min: f64,
    /// Length of the x period.
    pub lx: f64,
    /// Lower end of the y period (unused in 1-D).
    pub y_min: f64,
    /// Length of the y period (unused in 1-D).
    pub ly: f64,
}

impl Grid {
    /// A 1-D grid of `nx` points on `[x_min, x_min + lx)`.
    pub fn line(nx: usize, x_min: f64, lx: f64) -> Grid {
        Grid {
            nx,
            ny: 1,
            x_min,
            lx,
            y_min: 0.0,
            ly: 1.0,
        }
    }

    /// Whether the grid is two-dimensional.
    pub fn is_2d(&self) -> bool {
        self.ny > 1
    }

    /// Number of grid points.
    pub fn points(&self) -> usize {
        self.nx * self.ny
    }

    /// Number of stored Fourier modes of one real field.
    pub fn modes(&self) -> usize {
        (self.nx / 2 + 1) * self.ny
    }

    /// Spacing along x.
    pub fn dx(&self) -> f64 {
        self.lx / self.nx as f64
    }

    /// Spacing along y (1 in 1-D, so that [`Grid::cell`] is `dx`).
    pub fn dy(&self) -> f64 {
        if self.is_2d() {
            self.ly / self.ny as f64
        } else {
            1.0
        }
    }

    /// Length (1-D) or area (2-D) of one cell: the weight of the rectangle rule,
    /// which is spectrally accurate for periodic functions.
    pub fn cell(&self) -> f64 {
        self.dx() * self.dy()
    }

    /// Grid coordinates along x.
    pub fn x(&self) -> Vec<f64> {
        (0..self.nx)
            .map(|i| self.x_min + self.lx * i as f64 / self.nx as f64)
            .collect()
    }

    /// Grid coordinates along y (empty in 1-D).
    pub fn y(&self) -> Vec<f64> {
        if !self.is_2d() {
            return Vec::new();
        }
        (0..self.ny)
            .map(|i| self.y_min + self.ly * i as f64 / self.ny as f64)
            .collect()
    }

    /// Plans the forward (unnormalised) and inverse (normalised) FFTs of one
    /// field on this grid, with their buffers, so the time loop allocates
    /// nothing; fails with [`SimError::Failed`] on an empty grid.
    pub fn transform(&self) -> Result<Fft2, SimError> {
        Fft2::new(self.ny, self.nx)
    }
}

/// Wavenumbers of every stored mode of a [`Grid`], in spectrum order.
#[derive(Debug, Clone)]
pub(crate) struct Wavenumbers {
    /// Angular wavenumber along x, 2π m/lx.
    pub kx: Vec<f64>,
    /// Angular wavenumber along y (0 in 1-D).
    pub ky: Vec<f64>,
    /// `kx` with the Nyquist mode zeroed: the symbol of odd x-derivatives
    /// (an odd derivative of the real Nyquist cosine has no representable part).
    pub kx_odd: Vec<f64>,
    /// `ky` with the Nyquist mode zeroed.
    pub ky_odd: Vec<f64>,
    /// |mode index| along x.
    pub mx: Vec<usize>,
    /// |mode index| along y.
    pub my: Vec<usize>,
}

impl Wavenumbers {
    /// Wavenumbers of `grid`.
    pub fn new(grid: &Grid) -> Wavenumbers {
        let n = grid.modes();
        let mut w = Wavenumbers {
            kx: Vec::with_capacity(n),
            ky: Vec::with_capacity(n),
            kx_odd: Vec::with_capacity(n),
            ky_odd: Vec::with_capacity(n),
            mx: Vec::with_capacity(n),
            my: Vec::with_capacity(n),
        };
        let (nx, ny) = (grid.nx, grid.ny);
        for ix in 0..nx / 2 + 1 {
            for iy in 0..ny {
                let kx = 2.0 * PI * ix as f64 / grid.lx;
                let my = if iy <= ny / 2 {
                    iy as f64
                } else {
                    iy as f64 - ny as f64
                };
                let ky = if grid.is_2d() {
                    2.0 * PI * my / grid.ly
                } else {
                    0.0
                };
                w.kx.push(kx);
                w.ky.push(ky);
                w.kx_odd
                    .push(if nx % 2 == 0 && ix == nx / 2 { 0.0 } else { kx });
                w.ky_odd
                    .push(if ny % 2 == 0 && iy == ny / 2 { 0.0 } else { ky });
                w.mx.push(ix);
                w.my.push(my.abs() as usize);
            }
        }
        w
    }

    /// |k|² of mode `i` (Nyquist modes included: even derivatives keep them).
    pub fn k2(&self, i: usize) -> f64 {
        self.kx[i] * self.kx[i] + self.ky[i] * self.ky[i]
    }

    /// Dealiasing mask for a polynomial nonlinearity of `degree` (2: quadratic,
    /// 3: cubic): 1 on the modes kept, 0 elsewhere. A product of `degree`
    /// fields supported on |m| ≤ K has modes up to `degree·K`; they alias onto
    /// |m| ≥ n − degree·K, which misses the kept band when `(degree + 1) K < n`.
    /// For degree 2 this is Orszag's 2/3 rule; for degree 3 the 1/2 rule.
    pub fn mask(&self, grid: &Grid, degree: usize) -> Vec<f64> {
        let keep = |m: usize, n: usize| (degree + 1) * m < n;
        self.mx
            .iter()
            .zip(&self.my)
            .map(|(&mx, &my)| {
                let ok = keep(mx, grid.nx) && (!grid.is_2d() || keep(my, grid.ny));
                if ok { 1.0 } else { 0.0 }
            })
            .collect()
    }
}

/// The nonlinear part `N(u)^` of a PDE, evaluated from the spectrum of the
/// state (all fields, one after another).
pub(crate) trait Nonlinear: Send {
    /// Writes `N` for `state` into `out` (same layout as `state`).
    fn eval(&mut self, state: &[C], out: &mut [C]) -> Result<(), SimError>;
}

/// `N = −coef ∂ₓ(u²)` on a 1-D grid, the conservative form of `−2·coef·u uₓ`
/// (Burgers, KdV, Kuramoto–Sivashinsky), optionally dealiased.
pub(crate) struct QuadraticFlux {
    transform: Fft2,
    /// `−coef · i kₓ · mask` per mode.
    factor: Vec<C>,
    u: Vec<f64>,
}

impl QuadraticFlux {
    /// The flux term `−coef ∂ₓ(u²)` on `grid`, multiplied by `mask` if given;
    /// fails, as [`Grid::transform`] does, on an empty grid.
    pub fn new(grid: &Grid, coef: f64, mask: Option<&[f64]>) -> Result<QuadraticFlux, SimError> {
        let w = Wavenumbers::new(grid);
        let factor = w
            .kx_odd
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let m = mask.and_then(|m| m.get(i)).copied().unwrap_or(1.0);
                C::new(0.0, -coef * k * m)
            })
            .collect();
        Ok(QuadraticFlux {
            transform: grid.transform()?,
            factor,
            u: vec![0.0; grid.points()],
        })
    }
}

impl Nonlinear for QuadraticFlux {
    fn eval(&mut self, state: &[C], out: &mut [C]) -> Result<(), SimError> {
        self.transform.inverse(state, &mut self.u)?;
        self.u.iter_mut().for_each(|v| *v *= *v);
        self.transform.forward(&self.u, out)?;
        out.iter_mut().zip(&self.factor).for_each(|(o, f)| *o *= f);
        Ok(())
    }
}

/// Points on the contour of the Kassam–Trefethen integrals.
const CONTOUR_POINTS: usize = 64;

/// ETDRK4 (Cox & Matthews 2002, scheme ETDRK4) for `∂ₜv = L v + N(v)` with
/// diagonal `L`, its φ-function coefficients computed by averaging over a
/// circle of radius 1 around each `hL` (Kassam & Trefethen 2005, §3), which
/// avoids the cancellation of the closed forms when `|hL|` is small.
pub(crate) struct Etdrk4 {
    e: Vec<C>,
    e2: Vec<C>,
    q: Vec<C>,
    f1: Vec<C>,
    f2: Vec<C>,
    f3: Vec<C>,
    nv: Vec<C>,
    na: Vec<C>,
    nb: Vec<C>,
    nc: Vec<C>,
    a: Vec<C>,
    b: Vec<C>,
    c: Vec<C>,
}

impl Etdrk4 {
    /// Coefficients for the linear symbols `linear` and time step `h`.
    pub fn new(linear: &[C], h: f64) -> Etdrk4 {
        let n = linear.len();
        let roots: Vec<C> = (0..CONTOUR_POINTS)
            .map(|j| C::from_polar(1.0, 2.0 * PI * (j as f64 + 0.5) / CONTOUR_POINTS as f64))
            .collect();
        let mut s = Etdrk4 {
            e: Vec::with_capacity(n),
            e2: Vec::with_capacity(n),
            q: Vec::with_capacity(n),
            f1: Vec::with_capacity(n),
            f2: Vec::with_capacity(n),
            f3: Vec::with_capacity(n),
            nv: vec![ZERO; n],
            na: vec![ZERO; n],
            nb: vec![ZERO; n],
            nc: vec![ZERO; n],
            a: vec![ZERO; n],
            b: vec![ZERO; n],
            c: vec![ZERO; n],
        };
        let mut cache: Option<(C, [C; 4])> = None;
        for &l in linear {
            let z = h * l;
            s.e.push(z.exp());
            s.e2.push((z / 2.0).exp());
            // Neighbouring modes often share a symbol (both fields of a system,
            // ±k in y): reuse the last integral.
            let coeffs = match cache {
                Some((prev, c)) if prev == z => c,
                _ => {
                    let mut acc = [ZERO; 4];
                    for r in &roots {
                        let lr = z + r;
                        let el = lr.exp();
                        let lr2 = lr * lr;
                        let lr3 = lr2 * lr;
                        acc[0] += ((lr / 2.0).exp() - 1.0) / lr;
                        acc[1] += (-4.0 - lr + el * (4.0 - 3.0 * lr + lr2)) / lr3;
                        acc[2] += (2.0 + lr + el * (lr - 2.0)) / lr3;
                        acc[3] += (-4.0 - 3.0 * lr - lr2 + el * (4.0 - lr)) / lr3;
                    }
                    let m = CONTOUR_POINTS as f64;
                    let c = acc.map(|a| h * a / m);
                    cache = Some((z, c));
                    c
                }
            };
            // A real symbol has real coefficients; drop the rounding residue.
            let fix = |c: C| if l.im == 0.0 { C::new(c.re, 0.0) } else { c };
            s.q.push(fix(coeffs[0]));
            s.f1.push(fix(coeffs[1]));
            s.f2.push(fix(coeffs[2]));
            s.f3.push(fix(coeffs[3]));
        }
        s
    }

    /// Advances `v` by one step (Cox & Matthews 2002, eqs. 26–29).
    pub fn step(&mut self, v: &mut [C], nl: &mut dyn Nonlinear) -> Result<(), SimError> {
        if v.len() != self.e.len() {
            return Err(SimError::Failed(
                "internal error: state and ETDRK4 coefficients differ in size".into(),
            ));
        }
        let (e, e2, q) = (&self.e, &self.e2, &self.q);
        nl.eval(v, &mut self.nv)?;
        for ((a, v), ((e2, q), n)) in self
            .a
            .iter_mut()
            .zip(&*v)
            .zip(e2.iter().zip(q).zip(&self.nv))
        {
            *a = e2 * v + q * n;
        }
        nl.eval(&self.a, &mut self.na)?;
        for ((b, v), ((e2, q), n)) in self
            .b
            .iter_mut()
            .zip(&*v)
            .zip(e2.iter().zip(q).zip(&self.na))
        {
            *b = e2 * v + q * n;
        }
        nl.eval(&self.b, &mut self.nb)?;
        for ((c, a), ((e2, q), (nb, nv))) in self
            .c
            .iter_mut()
            .zip(&self.a)
            .zip(e2.iter().zip(q).zip(self.nb.iter().zip(&self.nv)))
        {
            *c = e2 * a + q * (2.0 * nb - nv);
        }
        nl.eval(&self.c, &mut self.nc)?;
        let stages = self
            .nv
            .iter()
            .zip(&self.na)
            .zip(self.nb.iter().zip(&self.nc));
        let weights = self.f1.iter().zip(&self.f2).zip(&self.f3);
        for (((v, e), ((nv, na), (nb, nc))), ((f1, f2), f3)) in
            v.iter_mut().zip(e).zip(stages).zip(weights)
        {
            *v = e * *v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * nc;
        }
        Ok(())
    }
}

/// A PDE ready to integrate: initial fields, linear symbols and nonlinear term.
pub(crate) struct Problem {
    /// Number of fields (1, or 2 for u and v).
    pub fields: usize,
    /// Initial fields on the grid, one after another (`fields × points`).
    pub initial: Vec<f64>,
    /// Linear symbol per mode, one block of `modes` per field.
    pub linear: Vec<C>,
    /// Nonlinear term; `None` for a linear PDE, which is then advanced by the
    /// exact exponential.
    pub nonlinear: Option<Box<dyn Nonlinear>>,
    /// Dealiasing mask (per mode of one field) applied to the initial
    /// spectrum, so the solution stays in the alias-free band; `None`: no
    /// dealiasing.
    pub mask: Option<Vec<f64>>,
}

/// When to save: `snapshots` states, `steps_per_snapshot` steps of `dt` apart,
/// the last at `t_end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    /// Final time (`(snapshots − 1) · steps_per_snapshot · dt`).
    pub t_end: f64,
    /// Time step.
    pub dt: f64,
    /// Steps between consecutive snapshots.
    pub steps_per_snapshot: usize,
    /// Snapshots, the initial state included.
    pub snapshots: usize,
}

/// What [`solve`] computed.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    /// Snapshot times.
    pub t: Vec<f64>,
    /// Per field, the snapshots `[nt][points]` flattened.
    pub data: Vec<Vec<f64>>,
    /// Steps taken.
    pub steps: usize,
    /// Largest share (L2) of the solution in the top fifth of the resolved
    /// wavenumbers over all snapshots: an under-resolution indicator.
    pub spectral_tail: f64,
}

/// Why [`solve`] stopped early.
#[derive(Debug, PartialEq)]
pub(crate) enum SolveError {
    /// The state became non-finite or exceeded `limit`.
    BlowUp {
        /// Time reached (end of the failing step, or of the failing interval).
        time: f64,
        /// Steps taken.
        step: usize,
        /// Largest |value| seen (may be infinite or NaN).
        max_abs: f64,
        /// The bound that was exceeded.
        limit: f64,
    },
    /// Anything else (an internal error).
    Sim(SimError),
}

impl From<SimError> for SolveError {
    fn from(e: SimError) -> Self {
        SolveError::Sim(e)
    }
}

/// Share of the solution's L2 norm in the top fifth of the resolved band.
fn tail_share(state: &[C], w: &Wavenumbers, grid: &Grid, mask: Option<&[f64]>) -> f64 {
    let modes = grid.modes();
    let kept = |i: usize| mask.is_none_or(|m| m[i % modes] > 0.0);
    let (mut top_x, mut top_y) = (1usize, 1usize);
    for i in 0..modes {
        if kept(i) {
            top_x = top_x.max(w.mx[i]);
            top_y = top_y.max(w.my[i]);
        }
    }
    let (mut all, mut tail) = (0.0, 0.0);
    for (i, z) in state.iter().enumerate() {
        let j = i % modes;
        if !kept(j) {
            continue;
        }
        // Modes 0 < kx < nx/2 stand for themselves and their conjugates.
        let weight = if w.mx[j] == 0 || 2 * w.mx[j] == grid.nx {
            1.0
        } else {
            2.0
        };
        let e = weight * z.norm_sqr();
        all += e;
        let rx = w.mx[j] as f64 / top_x as f64;
        let ry = if grid.is_2d() {
            w.my[j] as f64 / top_y as f64
        } else {
            0.0
        };
        if rx.max(ry) > 0.8 {
            tail += e;
        }
    }
    if all > 0.0 { (tail / all).sqrt() } else { 0.0 }
}

/// Integrates `problem` on `grid` following `schedule`; stops with
/// [`SolveError::BlowUp`] when the state turns non-finite or any snapshot
/// exceeds `limit` in absolute value.
pub(crate) fn solve(
    grid: &Grid,
    mut problem: Problem,
    schedule: &Schedule,
    limit: f64,
) -> Result<Solution, SolveError> {
    let (points, modes, fields) = (grid.points(), grid.modes(), problem.fields);
    if problem.initial.len() != fields * points || problem.linear.len() != fields * modes {
        return Err(
            SimError::Failed("internal error: problem sizes do not match the grid".into()).into(),
        );
    }
    let mut transform = grid.transform()?;
    let w = Wavenumbers::new(grid);
    let mut state = vec![ZERO; fields * modes];
    for f in 0..fields {
        transform.forward(
            &problem.initial[f * points..(f + 1) * points],
            &mut state[f * modes..(f + 1) * modes],
        )?;
    }
    if let Some(mask) = &problem.mask {
        for (i, z) in state.iter_mut().enumerate() {
            *z *= mask[i % modes];
        }
    }
    let nt = schedule.snapshots;
    let mut data: Vec<Vec<f64>> = (0..fields).map(|_| vec![0.0; nt * points]).collect();
    let mut t = Vec::with_capacity(nt);
    let mut spectral_tail = 0.0f64;
    let mut steps = 0usize;
    let mut record = |s: usize,
                      state: &[C],
                      steps: usize,
                      t: &mut Vec<f64>,
                      data: &mut [Vec<f64>],
                      transform: &mut Fft2|
     -> Result<(), SolveError> {
        // Exact snapshot times (the product of the step count and dt rounds).
        let time = schedule.t_end * s as f64 / (schedule.snapshots - 1).max(1) as f64;
        t.push(time);
        spectral_tail = spectral_tail.max(tail_share(state, &w, grid, problem.mask.as_deref()));
        let mut max_abs = 0.0f64;
        for (f, field) in data.iter_mut().enumerate() {
            let out = &mut field[s * points..(s + 1) * points];
            transform.inverse(&state[f * modes..(f + 1) * modes], out)?;
            for v in out.iter() {
                if !v.is_finite() {
                    max_abs = f64::NAN;
                    break;
                }
                max_abs = max_abs.max(v.abs());
            }
        }
        if max_abs.is_nan() || max_abs > limit {
            return Err(SolveError::BlowUp {
                time,
                step: steps,
                max_abs,
                limit,
            });
        }
        Ok(())
    };
    record(0, &state, 0, &mut t, &mut data, &mut transform)?;
    enum Stepper {
        Exact(Vec<C>),
        Etd(Box<Etdrk4>),
    }
    let mut stepper = match problem.nonlinear {
        None => Stepper::Exact(
            problem
                .linear
                .iter()
                .map(|l| (l * schedule.dt).exp())
                .collect(),
        ),
        Some(_) => Stepper::Etd(Box::new(Etdrk4::new(&problem.linear, schedule.dt))),
    };
    for s in 1..nt {
        for _ in 0..schedule.steps_per_snapshot {
            match (&mut stepper, problem.nonlinear.as_deref_mut()) {
                (Stepper::Etd(etd), Some(nl)) => etd.step(&mut state, nl)?,
                (Stepper::Exact(e), _) => state.iter_mut().zip(e.iter()).for_each(|(v, e)| *v *= e),
                (Stepper::Etd(_), None) => {
                    return Err(SimError::Failed("internal error: stepper mismatch".into()).into());
                }
            }
            steps += 1;
            if !state.iter().all(|z| z.re.is_finite() && z.im.is_finite()) {
                return Err(SolveError::BlowUp {
                    time: steps as f64 * schedule.dt,
                    step: steps,
                    max_abs: f64::INFINITY,
                    limit,
                });
            }
        }
        record(s, &state, steps, &mut t, &mut data, &mut transform)?;
    }
    Ok(Solution {
        t,
        data,
        steps,
        spectral_tail,
    })
}

/// The x-derivative of the 1-D field `u` on `grid`, spectrally.
pub(crate) fn derivative_x(grid: &Grid, u: &[f64]) -> Result<Vec<f64>, SimError> {
    let mut transform = grid.transform()?;
    let w = Wavenumbers::new(grid);
    let mut spec = vec![ZERO; grid.modes()];
    transform.forward(u, &mut spec)?;
    for (z, k) in spec.iter_mut().zip(&w.kx_odd) {
        *z *= C::new(0.0, *k);
    }
    let mut out = vec![0.0; grid.points()];
    transform.inverse(&spec, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(grid: &Grid, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let (x, y) = (grid.x(), grid.y());
        let y = if y.is_empty() { vec![0.0] } else { y };
        y.iter()
            .flat_map(|&yj| x.iter().map(move |&xi| (xi, yj)))
            .map(|(xi, yj)| f(xi, yj))
            .collect()
    }

    /// 1-D and 2-D round trips, and the spectral derivative of a band-limited
    /// function, exact to rounding (tolerance 1e-12).
    #[test]
    fn transforms_round_trip_and_differentiate() {
        for grid in [
            Grid::line(48, -1.0, 3.0),
            Grid {
                nx: 16,
                ny: 12,
                x_min: 0.0,
                lx: 2.0,
                y_min: -1.0,
                ly: 3.0,
            },
        ] {
            let f =
                |x: f64, y: f64| (2.0 * PI * x / 2.0).sin() * (2.0 * PI * y / 3.0).cos() + x * 0.1;
            let u = sample(&grid, f);
            let mut tr = grid.transform().unwrap();
            let mut spec = vec![ZERO; grid.modes()];
            tr.forward(&u, &mut spec).unwrap();
            let mut back = vec![0.0; grid.points()];
            tr.inverse(&spec, &mut back).unwrap();
            for (a, b) in u.iter().zip(&back) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
            // The 2-D spectrum of cos(2πy/ly)·sin(2πx/lx) sits at |mx| = 1, |my| = 1.
            if grid.is_2d() {
                let pure = sample(&grid, |x, y| (PI * x).sin() * (2.0 * PI * y / 3.0).cos());
                tr.forward(&pure, &mut spec).unwrap();
                let w = Wavenumbers::new(&grid);
                for (i, z) in spec.iter().enumerate() {
                    let expect = if w.mx[i] == 1 && w.my[i] == 1 {
                        (grid.points() / 4) as f64
                    } else {
                        0.0
                    };
                    assert!((z.norm() - expect).abs() < 1e-9, "mode {i}: {z}");
                }
            }
        }
        let grid = Grid::line(64, 0.0, 2.0 * PI);
        let u = sample(&grid, |x, _| (3.0 * x).sin() + 0.5 * (7.0 * x).cos());
        let du = derivative_x(&grid, &u).unwrap();
        let exact = sample(&grid, |x, _| 3.0 * (3.0 * x).cos() - 3.5 * (7.0 * x).sin());
        for (a, b) in du.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// The 2/3 rule. u = cos(15x) on 48 points: u² = ½ + ½ cos(30x), and mode 30
    /// lies beyond the Nyquist mode 24, so without dealiasing it aliases onto
    /// 48 − 30 = 18, inside the resolved band. With the mask (|m| < 16 kept) the
    /// flux −½∂ₓ(u²) must vanish; and for u = cos(5x), whose square stays in
    /// the band, it must equal the exact (5/2) sin(10x). Tolerance 1e-10.
    #[test]
    fn two_thirds_rule_removes_aliases() {
        let n = 48;
        let grid = Grid::line(n, 0.0, 2.0 * PI);
        let w = Wavenumbers::new(&grid);
        let mask = w.mask(&grid, 2);
        // Kept: |m| < 16.
        assert_eq!(mask.iter().filter(|m| **m > 0.0).count(), 16);
        let k1 = 15usize;
        let u = sample(&grid, |x, _| (k1 as f64 * x).cos());
        let mut tr = grid.transform().unwrap();
        let mut spec = vec![ZERO; grid.modes()];
        tr.forward(&u, &mut spec).unwrap();
        let mut out = vec![ZERO; grid.modes()];
        // Without the mask, 2k₁ = 30 aliases onto 48 − 30 = 18.
        QuadraticFlux::new(&grid, 0.5, None)
            .unwrap()
            .eval(&spec, &mut out)
            .unwrap();
        assert!(
            out[18].norm() > 1.0,
            "alias expected at mode 18: {}",
            out[18]
        );
        QuadraticFlux::new(&grid, 0.5, Some(&mask))
            .unwrap()
            .eval(&spec, &mut out)
            .unwrap();
        // Mode 0 of u² has zero derivative and mode 30 is outside the band.
        for z in &out {
            assert!(z.norm() < 1e-10, "{z}");
        }
        // A product inside the band is untouched: −½ ∂ₓ(cos² 5x) = (5/2) sin 10x.
        let u = sample(&grid, |x, _| (5.0 * x).cos());
        tr.forward(&u, &mut spec).unwrap();
        QuadraticFlux::new(&grid, 0.5, Some(&mask))
            .unwrap()
            .eval(&spec, &mut out)
            .unwrap();
        let mut phys = vec![0.0; n];
        tr.inverse(&out, &mut phys).unwrap();
        let exact = sample(&grid, |x, _| 2.5 * (10.0 * x).sin());
        for (a, b) in phys.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // Cubic terms use the 1/2 rule: |m| < n/4.
        assert_eq!(w.mask(&grid, 3).iter().filter(|m| **m > 0.0).count(), 12);
    }

    /// The contour-integral coefficients match the closed forms where those are
    /// accurate (|hL| = 1..20, real and imaginary), and their limits at L = 0:
    /// Q = h/2, f₁ = f₂ = f₃ = h/6 (Cox & Matthews 2002). Tolerance 1e-12 relative.
    #[test]
    fn etdrk4_coefficients_match_closed_forms() {
        let h = 0.5;
        let ls = [
            C::new(0.0, 0.0),
            C::new(-2.0, 0.0),
            C::new(-40.0, 0.0),
            C::new(0.0, 7.0),
            C::new(1.5, 0.0),
            C::new(-3.0, 5.0),
        ];
        let s = Etdrk4::new(&ls, h);
        for (i, l) in ls.iter().enumerate() {
            let (q, f1, f2, f3) = if l.norm() == 0.0 {
                let c = C::new(h / 6.0, 0.0);
                (C::new(h / 2.0, 0.0), c, c, c)
            } else {
                let z = l * h;
                let ez = z.exp();
                let z3 = z * z * z;
                (
                    ((z / 2.0).exp() - 1.0) / l,
                    h * (-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z3,
                    h * (2.0 + z + ez * (z - 2.0)) / z3,
                    h * (-4.0 - 3.0 * z - z * z + ez * (4.0 - z)) / z3,
                )
            };
            for (got, want) in [(s.q[i], q), (s.f1[i], f1), (s.f2[i], f2), (s.f3[i], f3)] {
                assert!(
                    (got - want).norm() <= 1e-12 * want.norm().max(1e-3),
                    "L = {l}: {got} vs {want}"
                );
            }
        }
    }

    /// Fourth order on a scalar ODE with a known solution: v' = λv + v²
    /// (Bernoulli), v = λv₀e^{λt}/(λ + v₀(1 − e^{λt})), v₀ = 0.5, t = 1, for a
    /// mild (λ = −1) and a stiff (λ = −100) linear part. Halving h from 1/80
    /// to 1/160 must divide the error by 16 ± 2 (observed 15.99 and 16.7;
    /// the stiff case reaches it after hλ drops below 1).
    #[test]
    fn etdrk4_is_fourth_order_on_a_scalar_ode() {
        struct Square;
        impl Nonlinear for Square {
            fn eval(&mut self, state: &[C], out: &mut [C]) -> Result<(), SimError> {
                out.iter_mut().zip(state).for_each(|(o, s)| *o = s * s);
                Ok(())
            }
        }
        for lambda in [-1.0f64, -100.0] {
            let v0 = 0.5;
            let exact = lambda * v0 * lambda.exp() / (lambda + v0 * (1.0 - lambda.exp()));
            let error = |n: usize| {
                let mut stepper = Etdrk4::new(&[C::new(lambda, 0.0)], 1.0 / n as f64);
                let mut v = vec![C::new(v0, 0.0)];
                for _ in 0..n {
                    stepper.step(&mut v, &mut Square).unwrap();
                }
                (v[0].re - exact).abs()
            };
            let ratio = error(80) / error(160);
            assert!(
                (14.0..=18.0).contains(&ratio),
                "λ = {lambda}: ratio {ratio}"
            );
        }
    }
}
