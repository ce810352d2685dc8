//! Human-friendly quantities in study files: durations (`10m`, `1h30m`,
//! `00:10:00`) and byte sizes (`2GiB`, `512MB`, `1.5G`).

use std::time::Duration;

/// Parses a duration such as `90s`, `10m`, `1h30m`, `2d`, `1.5h`, `250ms`, a bare
/// number of seconds, or SLURM's `[days-]hours:minutes:seconds` form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.contains(':') {
        return parse_clock(t);
    }
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{t}` has a number without a unit at the end"))?;
        if num_end == 0 {
            return Err(format!("`{t}` is not a duration"));
        }
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("`{}` is not a number", &rest[..num_end]))?;
        let after = &rest[num_end..];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit = after[..unit_end].trim();
        let factor = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            other => {
                return Err(format!(
                    "unknown time unit `{other}` in `{t}` (use ms, s, m, h or d)"
                ));
            }
        };
        total += value * factor;
        rest = &after[unit_end..];
    }
    secs_to_duration(total)
}

fn parse_clock(t: &str) -> Result<Duration, String> {
    let (days, clock) = match t.split_once('-') {
        Some((d, c)) => (
            d.parse::<f64>()
                .map_err(|_| format!("`{t}`: bad day count"))?,
            c,
        ),
        None => (0.0, t),
    };
    let parts: Vec<f64> = clock
        .split(':')
        .map(|p| {
            p.parse::<f64>()
                .map_err(|_| format!("`{t}` is not hh:mm:ss"))
        })
        .collect::<Result<_, _>>()?;
    let secs = match parts.as_slice() {
        [m, s] => m * 60.0 + s,
        [h, m, s] => h * 3600.0 + m * 60.0 + s,
        _ => return Err(format!("`{t}` is not [days-]hh:mm:ss")),
    };
    secs_to_duration(days * 86400.0 + secs)
}

fn secs_to_duration(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "duration must be a non-negative number of seconds, got {secs}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a byte size such as `2GiB`, `512MB`, `1.5G` (binary when the unit has
/// an `i`; `K`, `M`, `G`, `T` alone are binary too, as in SLURM), or a bare byte count.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size such as 512MiB or 2GB"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1e3,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "gb" => 1e9,
        "t" | "tib" => 1024f64.powi(4),
        "tb" => 1e12,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{t}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    let bytes = value * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{t}` is out of range"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("00:10:00"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1-00:00:01"), Ok(Duration::from_secs(86401)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-3").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("2GiB"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("512MB"), Ok(512_000_000));
        assert_eq!(parse_bytes("1.5G"), Ok(1_610_612_736));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("2 furlongs").is_err());
        assert!(parse_bytes("GiB").is_err());
    }
}
