//! Small, dependency-free SVG charts (histogram, scatter) for self-contained
//! reports. Hand-written rather than plotters: two chart kinds do not justify a
//! charting library's compile time, and the output stays tiny and stable.

use std::fmt::Write;

/// Width and height of a chart in pixels.
const W: f64 = 360.0;
const H: f64 = 250.0;
/// Plot-area margins: left, right, top, bottom.
const M: (f64, f64, f64, f64) = (56.0, 12.0, 26.0, 40.0);

/// Escapes text for HTML and SVG.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for an axis label: few digits, scientific when large or small.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(lo: f64, hi: f64, log: bool) -> Self {
        let (lo, hi) = if log {
            (lo.log10(), hi.log10())
        } else {
            (lo, hi)
        };
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let pad = (hi - lo) * 0.03;
        Axis {
            lo: lo - pad,
            hi: hi + pad,
            log,
        }
    }

    fn frac(&self, v: f64) -> f64 {
        let v = if self.log { v.log10() } else { v };
        (v - self.lo) / (self.hi - self.lo)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (self.lo.ceil() as i32, self.hi.floor() as i32);
            return (a..=b).map(|e| 10f64.powi(e)).collect();
        }
        let span = self.hi - self.lo;
        let raw = span / 4.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| span / s <= 5.0)
            .unwrap_or(10.0 * mag);
        let first = (self.lo / step).ceil() * step;
        (0..10)
            .map(|i| first + i as f64 * step)
            .take_while(|t| *t <= self.hi)
            .collect()
    }
}

fn frame(out: &mut String, title: &str, xlabel: &str, ylabel: &str, x: &Axis, y: &Axis) {
    let (l, r, t, b) = M;
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img"><title>{}</title><style>text{{font:11px sans-serif;fill:#333}}.t{{font-weight:bold}}</style><rect x="{l}" y="{t}" width="{}" height="{}" fill="#fafafa" stroke="#bbb"/>"##,
        escape(title),
        W - l - r,
        H - t - b
    );
    let _ = write!(
        out,
        r#"<text class="t" x="{}" y="16" text-anchor="middle">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    for tick in x.ticks() {
        let px = l + x.frac(tick) * (W - l - r);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="#bbb"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            H - b,
            H - b + 4.0,
            H - b + 15.0,
            short(tick)
        );
    }
    for tick in y.ticks() {
        let py = H - b - y.frac(tick) * (H - t - b);
        let _ = write!(
            out,
            r##"<line x1="{}" y1="{py:.1}" x2="{l}" y2="{py:.1}" stroke="#bbb"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            l - 4.0,
            l - 6.0,
            py + 4.0,
            short(tick)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        l + (W - l - r) / 2.0,
        H - 6.0,
        escape(xlabel)
    );
    let _ = write!(
        out,
        r#"<text x="12" y="{}" text-anchor="middle" transform="rotate(-90 12 {})">{}</text>"#,
        t + (H - t - b) / 2.0,
        t + (H - t - b) / 2.0,
        escape(ylabel)
    );
}

/// A histogram from bin edges and counts.
pub fn histogram(title: &str, xlabel: &str, edges: &[f64], counts: &[usize]) -> String {
    let mut out = String::new();
    let (Some(lo), Some(hi)) = (edges.first(), edges.last()) else {
        return out;
    };
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let x = Axis::new(*lo, *hi, false);
    let y = Axis {
        lo: 0.0,
        hi: max * 1.05,
        log: false,
    };
    frame(&mut out, title, xlabel, "runs", &x, &y);
    let (l, r, t, b) = M;
    let (pw, ph) = (W - l - r, H - t - b);
    for (i, c) in counts.iter().enumerate() {
        let (e0, e1) = if edges.len() > i + 1 && edges[i + 1] > edges[i] {
            (edges[i], edges[i + 1])
        } else {
            (*lo - 0.5, *hi + 0.5)
        };
        let x0 = l + x.frac(e0) * pw;
        let x1 = l + x.frac(e1) * pw;
        let h = y.frac(*c as f64) * ph;
        let _ = write!(
            out,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#4a7fb5" stroke="#fff"><title>{}–{}: {c}</title></rect>"##,
            H - b - h,
            (x1 - x0).max(0.5),
            short(e0),
            short(e1)
        );
    }
    out.push_str("</svg>");
    out
}

/// One series of a grouped bar chart: a value and an error half-width per label.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    /// Legend name.
    pub name: String,
    /// Bar heights, one per label.
    pub values: Vec<f64>,
    /// Error half-widths (NaN: none).
    pub errors: Vec<f64>,
}

/// A grouped bar chart with error whiskers: one group per label, one bar per
/// series (e.g. first-order and total Sobol' indices per input).
pub fn bars(title: &str, labels: &[String], series: &[BarSeries]) -> String {
    const COLORS: [&str; 3] = ["#4a7fb5", "#e08a3c", "#6aa84f"];
    let mut out = String::new();
    if labels.is_empty() || series.is_empty() {
        return out;
    }
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().zip(&s.errors).map(|(v, e)| v + e.max(0.0)))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let bottom = series
        .iter()
        .flat_map(|s| s.values.iter().zip(&s.errors).map(|(v, e)| v - e.max(0.0)))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::min);
    let y = Axis::new(bottom, if top > bottom { top * 1.08 } else { 1.0 }, false);
    let x = Axis {
        lo: 0.0,
        hi: labels.len() as f64,
        log: false,
    };
    // The frame draws numeric x ticks; labels replace them below.
    frame(
        &mut out,
        title,
        "",
        "",
        &Axis {
            lo: 0.0,
            hi: 0.0,
            log: false,
        },
        &y,
    );
    let (l, r, t, b) = M;
    let (pw, ph) = (W - l - r, H - t - b);
    let group = pw / labels.len() as f64;
    let bar = group * 0.8 / series.len() as f64;
    let zero = H - b - y.frac(0.0) * ph;
    for (k, label) in labels.iter().enumerate() {
        let gx = l + x.frac(k as f64) * pw;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group / 2.0,
            H - b + 14.0,
            escape(label)
        );
        for (j, s) in series.iter().enumerate() {
            let v = s.values.get(k).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let x0 = gx + group * 0.1 + j as f64 * bar;
            let yv = H - b - y.frac(v) * ph;
            let (y0, h) = if yv < zero {
                (yv, zero - yv)
            } else {
                (zero, yv - zero)
            };
            let color = COLORS[j % COLORS.len()];
            let e = s.errors.get(k).copied().unwrap_or(f64::NAN);
            let _ = write!(
                out,
                r##"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {}{}</title></rect>"##,
                bar.max(0.5),
                h.max(0.5),
                escape(&s.name),
                escape(label),
                short(v),
                if e.is_finite() {
                    format!(" ± {}", short(e))
                } else {
                    String::new()
                }
            );
            if e.is_finite() && e > 0.0 {
                let cx = x0 + bar / 2.0;
                let (hi, lo) = (H - b - y.frac(v + e) * ph, H - b - y.frac(v - e) * ph);
                let _ = write!(
                    out,
                    r##"<path d="M{cx:.1} {hi:.1}V{lo:.1}M{:.1} {hi:.1}h{:.1}M{:.1} {lo:.1}h{:.1}" stroke="#222" fill="none"/>"##,
                    cx - bar / 4.0,
                    bar / 2.0,
                    cx - bar / 4.0,
                    bar / 2.0
                );
            }
        }
    }
    for (j, s) in series.iter().enumerate() {
        let lx = l + 8.0 + j as f64 * 90.0;
        let _ = write!(
            out,
            r##"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            t + 6.0,
            COLORS[j % COLORS.len()],
            lx + 14.0,
            t + 15.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A scatter plot; `log_x` puts x on a log scale (all x must be positive).
pub fn scatter(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    points: &[(f64, f64)],
    log_x: bool,
) -> String {
    let mut out = String::new();
    if points.is_empty() {
        return out;
    }
    let fold = |f: fn(&(f64, f64)) -> f64| {
        points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            })
    };
    let (xl, xh) = fold(|p| p.0);
    let (yl, yh) = fold(|p| p.1);
    let x = Axis::new(xl, xh, log_x);
    let y = Axis::new(yl, yh, false);
    frame(&mut out, title, xlabel, ylabel, &x, &y);
    let (l, r, t, b) = M;
    let (pw, ph) = (W - l - r, H - t - b);
    let radius = if points.len() > 2000 { 1.0 } else { 2.2 };
    for (px, py) in points {
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{radius}" fill="#d9622b" fill-opacity="0.6"/>"##,
            l + x.frac(*px) * pw,
            H - b - y.frac(*py) * ph
        );
    }
    out.push_str("</svg>");
    out
}

/// Every run's value as a dot and the best so far as a step line, against
/// the run number: the convergence curve of an optimisation.
pub fn convergence(
    title: &str,
    ylabel: &str,
    values: &[(f64, f64)],
    best: &[(f64, f64)],
) -> String {
    let mut out = String::new();
    if values.is_empty() && best.is_empty() {
        return out;
    }
    let all = values.iter().chain(best);
    let (xl, xh) = all
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (yl, yh) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let x = Axis::new(xl, xh, false);
    let y = Axis::new(yl, yh, false);
    frame(&mut out, title, "run", ylabel, &x, &y);
    let (l, r, t, b) = M;
    let (pw, ph) = (W - l - r, H - t - b);
    let at = |p: &(f64, f64)| (l + x.frac(p.0) * pw, H - b - y.frac(p.1) * ph);
    for p in values {
        let (cx, cy) = at(p);
        let _ = write!(
            out,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="2.2" fill="#999" fill-opacity="0.6"/>"##
        );
    }
    if let Some(first) = best.first() {
        let (x0, y0) = at(first);
        let mut d = format!("M{x0:.1},{y0:.1}");
        let mut last_y = y0;
        for p in &best[1..] {
            let (px, py) = at(p);
            let _ = write!(d, " L{px:.1},{last_y:.1} L{px:.1},{py:.1}");
            last_y = py;
        }
        let _ = write!(
            out,
            r##"<path d="{d}" fill="none" stroke="#d9622b" stroke-width="2"><title>best so far</title></path>"##
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence_draws_dots_and_a_step_line() {
        let c = convergence(
            "best",
            "y",
            &[(1.0, 3.0), (2.0, 1.0), (3.0, 2.0)],
            &[(1.0, 3.0), (2.0, 1.0), (3.0, 1.0)],
        );
        assert_eq!(c.matches("<circle").count(), 3);
        assert_eq!(c.matches("best so far").count(), 1);
        assert!(!c.contains("NaN"));
        assert!(convergence("t", "y", &[], &[]).is_empty());
    }

    #[test]
    fn bar_charts_have_a_bar_per_value_and_whiskers() {
        let svg = bars(
            "S <x>",
            &["a".into(), "b".into()],
            &[
                BarSeries {
                    name: "S1".into(),
                    values: vec![0.3, -0.01],
                    errors: vec![0.02, f64::NAN],
                },
                BarSeries {
                    name: "ST".into(),
                    values: vec![0.5, 0.2],
                    errors: vec![0.03, 0.01],
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("S &lt;x&gt;"));
        assert_eq!(
            svg.matches("<title>S1 ").count() + svg.matches("<title>ST ").count(),
            4
        );
        assert_eq!(
            svg.matches("<path d=\"M").count(),
            3,
            "three finite error bars"
        );
        assert!(bars("t", &[], &[]).is_empty());
    }

    #[test]
    fn charts_are_well_formed_and_escaped() {
        let h = histogram("y <b>", "y", &[0.0, 1.0, 2.0], &[3, 1]);
        assert!(h.starts_with("<svg") && h.ends_with("</svg>"));
        assert!(h.contains("y &lt;b&gt;") && !h.contains("<b>"));
        assert_eq!(h.matches("<rect").count(), 3, "frame + two bars");
        let s = scatter(
            "t",
            "x",
            "y",
            &[(1.0, 2.0), (100.0, 3.0), (1000.0, 1.0)],
            true,
        );
        assert_eq!(s.matches("<circle").count(), 3);
        assert!(
            s.contains(">1000<") || s.contains(">1.00e3<"),
            "decade ticks on a log axis: {s}"
        );
        assert!(scatter("t", "x", "y", &[], false).is_empty());
        // Degenerate ranges do not divide by zero.
        let one = scatter("t", "x", "y", &[(1.0, 1.0)], false);
        assert!(!one.contains("NaN"), "{one}");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(123456.0), "1.23e5");
    }
}
