//! Test helpers: run a PDE builtin in a temporary directory and read its
//! `.npz` back (a minimal `.npy` parser for what `crate::npy` writes).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::{Params, RunInput, RunOutput, SimError};

/// Arrays by name: shape and values.
pub(crate) type Arrays = BTreeMap<String, (Vec<usize>, Vec<f64>)>;

/// Runs builtin `name` with `options` and `params` (JSON objects) and `seed`
/// in a fresh directory, returning the result and that directory.
pub(crate) fn run_in(
    name: &str,
    options: Value,
    params: Value,
    seed: u64,
) -> (Result<RunOutput, SimError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let opts = options.as_object().cloned().unwrap_or_default();
    let sim = match super::builtin(name, &opts) {
        Some(Ok(sim)) => sim,
        Some(Err(e)) => return (Err(e), dir),
        None => panic!("{name} is not a PDE builtin"),
    };
    let params: Params = params
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let out = sim.run(&RunInput {
        params: &params,
        seed,
        workdir: dir.path(),
        threads: 1,
    });
    (out, dir)
}

/// Runs and expects success; returns the output and the arrays of `data.npz`.
pub(crate) fn run_ok(name: &str, options: Value, params: Value) -> (RunOutput, Arrays) {
    let (out, dir) = run_in(name, options, params, 1);
    let out = out.unwrap_or_else(|e| panic!("{name} failed: {e}"));
    let arrays = read_npz(&dir.path().join("data.npz"));
    (out, arrays)
}

/// Runs and expects an error.
pub(crate) fn run_err(name: &str, options: Value, params: Value) -> SimError {
    match run_in(name, options, params, 1).0 {
        Ok(_) => panic!("{name} succeeded"),
        Err(e) => e,
    }
}

/// A metric as a number.
pub(crate) fn metric(out: &RunOutput, name: &str) -> f64 {
    out.metrics
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// Reads every array of an `.npz` written by `crate::npy::write_npz`.
pub(crate) fn read_npz(path: &Path) -> Arrays {
    let file = std::fs::File::open(path).expect("npz file");
    let mut zip = zip::ZipArchive::new(file).expect("zip archive");
    let mut arrays = Arrays::new();
    for i in 0..zip.len() {
        let mut member = zip.by_index(i).expect("member");
        let name = member
            .name()
            .expect("member name")
            .trim_end_matches(".npy")
            .to_string();
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes).expect("member bytes");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).expect("header");
        assert!(header.contains("'descr': '<f8'"), "{header}");
        let start = header.find("'shape': (").expect("shape") + 10;
        let end = start + header[start..].find(')').expect("shape end");
        let shape: Vec<usize> = header[start..end]
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("dimension"))
            .collect();
        let data: Vec<f64> = bytes[10 + hlen..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        assert_eq!(data.len(), shape.iter().product::<usize>());
        arrays.insert(name, (shape, data));
    }
    arrays
}
