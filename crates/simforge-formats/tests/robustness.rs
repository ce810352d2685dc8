//! Hostile input: unknown files, and a seeded fuzz loop over truncated and mutated
//! copies of every fixture, asserting that extraction never panics (a panic would
//! surface as `FormatError::Internal`, or abort the test).
//!
//! A longer search: `SIMFORGE_FUZZ_ROUNDS=5000 SIMFORGE_FUZZ_SEED=1 cargo test -p
//! simforge-formats --test robustness fuzz`.

use std::path::{Path, PathBuf};

use simforge_formats::{Body, Format, FormatError, Metadata, detect, extract};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const FIXTURES: &[&str] = &[
    "simple.h5",
    "latest.h5",
    "userblock.h5",
    "nc4.nc",
    "nc4_classic.nc",
    "classic_cdf1.nc",
    "classic_cdf2.nc",
    "classic_cdf5.nc",
    "arrays.npz",
    "v3.npy",
];

/// Small text inputs of every text format, each with the name to upload it under.
fn text_samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.csv", b"id,x,name\n1,2.5,\"a,b\"\n2,NA,c\n".to_vec()),
        ("a.json", br#"{"a": [1, 2.5, {"b": null}], "c": "d"}"#.to_vec()),
        ("a.jsonl", b"{\"a\": 1}\n{\"b\": [true]}\n".to_vec()),
        (
            "a.vtk",
            b"# vtk DataFile Version 3.0\nt\nASCII\nDATASET UNSTRUCTURED_GRID\nPOINTS 2 float\n0 0 0 1 1 1\nCELLS 1 3\n2 0 1\nCELL_TYPES 1\n3\nPOINT_DATA 2\nSCALARS s float 1\nLOOKUP_TABLE default\n1 2\n"
                .to_vec(),
        ),
        (
            "a.vtu",
            br#"<?xml version="1.0"?><VTKFile type="UnstructuredGrid" version="1.0"><UnstructuredGrid><Piece NumberOfPoints="2" NumberOfCells="1"><PointData><DataArray type="Float32" Name="s" format="ascii">1 2</DataArray></PointData></Piece></UnstructuredGrid></VTKFile>"#
                .to_vec(),
        ),
    ]
}

/// SplitMix64: a seeded generator, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn check(dir: &Path, name: &str, bytes: &[u8], what: &str) -> Result<Metadata, FormatError> {
    let path = dir.join("input");
    std::fs::write(&path, bytes).expect("write input");
    let _ = detect(name, bytes);
    let result = extract(&path, name);
    if let Err(e @ FormatError::Internal { .. }) = &result {
        panic!("{name} ({what}): a parser panicked: {e}");
    }
    result
}

#[test]
fn unknown_binary_is_unknown_with_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let bytes: Vec<u8> = (0..3000).map(|_| (rng.next() >> 56) as u8 | 0x80).collect();
    let m = check(dir.path(), "blob.bin", &bytes, "random").unwrap();
    assert_eq!(m.format(), Format::Unknown);
    assert_eq!(m.body, Body::Unknown);
    assert_eq!(m.size_bytes, 3000);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"format": "unknown", "size_bytes": 3000})
    );

    let m = check(dir.path(), "empty", b"", "empty").unwrap();
    assert_eq!((m.format(), m.size_bytes), (Format::Unknown, 0));
}

#[test]
fn missing_file_is_an_io_error() {
    let e = extract(Path::new("/nonexistent/simforge/x.csv"), "x.csv").unwrap_err();
    assert!(matches!(e, FormatError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/simforge/x.csv"), "{e}");
}

#[test]
fn metadata_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<(String, Vec<u8>)> = FIXTURES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(fixture(f)).unwrap()))
        .collect();
    all.extend(text_samples().into_iter().map(|(n, b)| (n.to_string(), b)));
    for (name, bytes) in all {
        let m = check(dir.path(), &name, &bytes, "intact").unwrap();
        assert_ne!(m.format(), Format::Unknown, "{name}");
        let text = serde_json::to_string(&m).unwrap();
        let back: Metadata = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m, "{name}");
    }
}

#[test]
fn fuzz_truncations_and_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(String, Vec<u8>)> = FIXTURES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(fixture(f)).unwrap()))
        .collect();
    inputs.extend(text_samples().into_iter().map(|(n, b)| (n.to_string(), b)));
    // SIMFORGE_FUZZ_ROUNDS / SIMFORGE_FUZZ_SEED run a longer or different search locally.
    let env = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = Rng(env("SIMFORGE_FUZZ_SEED", 0x5EED));
    let rounds = env("SIMFORGE_FUZZ_ROUNDS", 150);
    for (name, original) in &inputs {
        for round in 0..rounds {
            let mut bytes = original.clone();
            let what = match round % 3 {
                // A random prefix.
                0 => {
                    bytes.truncate(rng.below(original.len()));
                    format!("prefix of {} bytes", bytes.len())
                }
                // A few random bytes overwritten.
                1 => {
                    let n = 1 + rng.below(8);
                    for _ in 0..n {
                        let i = rng.below(bytes.len());
                        bytes[i] = (rng.next() >> 56) as u8;
                    }
                    format!("{n} bytes overwritten (round {round})")
                }
                // A run of bytes overwritten with one value (zeros, 0xff, ...).
                _ => {
                    let start = rng.below(bytes.len());
                    let len = 1 + rng.below(64);
                    let value = [0u8, 0xff, b'9', b' '][rng.below(4)];
                    for b in bytes.iter_mut().skip(start).take(len) {
                        *b = value;
                    }
                    format!("run of {len} at {start} set to {value} (round {round})")
                }
            };
            // Ok or a typed error are both fine; a panic is not.
            let _ = check(dir.path(), name, &bytes, &what);
        }
    }
}
