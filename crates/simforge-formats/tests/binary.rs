//! NumPy, HDF5 and NetCDF: .npy/.npz written here, HDF5/NetCDF fixtures written by
//! h5py and netCDF4-python (tests/fixtures/make_fixtures.py), exact metadata asserted.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;
use simforge_formats::{
    AttributeInfo, Body, Format, FormatError, Hdf5Info, Metadata, NetCdfDimension, NetCdfInfo,
    NetCdfKind, NpyArray, extract,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn describe(name: &str, bytes: &[u8]) -> Result<Metadata, FormatError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    extract(&path, name)
}

fn malformed(result: Result<Metadata, FormatError>) -> String {
    match result {
        Err(e @ FormatError::Malformed { .. }) => e.to_string(),
        other => panic!("expected a Malformed error, got {other:?}"),
    }
}

/// An `.npy` file as numpy writes it: magic, version, padded header, data.
fn npy(major: u8, dict: &str, data_len: usize) -> Vec<u8> {
    let len_bytes = if major == 1 { 2 } else { 4 };
    let prefix = 6 + 2 + len_bytes;
    let mut header = dict.to_string();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(0u8, data_len));
    out
}

fn attr(name: &str, dtype: &str, length: u64, value: Option<serde_json::Value>) -> AttributeInfo {
    AttributeInfo {
        name: name.into(),
        dtype: dtype.into(),
        length,
        value,
    }
}

// ---------------------------------------------------------------- NumPy

#[test]
fn npy_v1_and_v2_headers() {
    let m = describe(
        "a.npy",
        &npy(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
            96,
        ),
    )
    .unwrap();
    assert_eq!(
        m.body,
        Body::Npy(NpyArray {
            name: None,
            descr: "<f8".into(),
            dtype: "float64".into(),
            fortran_order: false,
            shape: vec![3, 4],
            element_count: 12,
            item_size: Some(8),
            version: "1.0".into(),
        })
    );

    let m = describe(
        "b.npy",
        &npy(
            2,
            "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2, 2), }",
            16,
        ),
    )
    .unwrap();
    let Body::Npy(a) = m.body else { panic!() };
    assert_eq!(
        (
            a.dtype.as_str(),
            a.fortran_order,
            a.shape,
            a.version.as_str()
        ),
        ("int16", true, vec![2, 2, 2], "2.0")
    );

    // Object arrays hold pickles: no size check.
    let m = describe(
        "o.npy",
        &npy(
            1,
            "{'descr': '|O', 'fortran_order': False, 'shape': (5,), }",
            3,
        ),
    )
    .unwrap();
    let Body::Npy(a) = m.body else { panic!() };
    assert_eq!((a.dtype.as_str(), a.item_size), ("object", None));
}

#[test]
fn npy_v3_from_numpy() {
    let m = extract(&fixture("v3.npy"), "v3.npy").unwrap();
    let Body::Npy(a) = m.body else { panic!() };
    assert_eq!(a.version, "3.0");
    assert_eq!(a.descr, "[('\u{394}t', '<f8'), ('n', '<i2')]");
    assert_eq!(a.dtype, "struct{\u{394}t: float64, n: int16}");
    assert_eq!(
        (a.shape, a.element_count, a.item_size),
        (vec![3], 3, Some(10))
    );
}

#[test]
fn npz_from_numpy() {
    let m = extract(&fixture("arrays.npz"), "arrays.npz").unwrap();
    let Body::Npz(z) = m.body else { panic!() };
    let summary: Vec<(Option<&str>, &str, Vec<u64>, bool)> = z
        .arrays
        .iter()
        .map(|a| {
            (
                a.name.as_deref(),
                a.dtype.as_str(),
                a.shape.clone(),
                a.fortran_order,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("a"), "int32", vec![2, 3], false),
            (Some("b"), "float64", vec![2, 2], true),
            (Some("c"), "str2", vec![2], false),
        ]
    );
    assert!(z.other_members.is_empty());
}

fn npz(members: &[(&str, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn npz_written_here() {
    let bytes = npz(
        &[
            (
                "x.npy",
                npy(
                    1,
                    "{'descr': '<u1', 'fortran_order': False, 'shape': (7,), }",
                    7,
                ),
            ),
            ("notes.txt", b"hello".to_vec()),
            (
                "y.npy",
                npy(
                    1,
                    "{'descr': '<c16', 'fortran_order': False, 'shape': (), }",
                    16,
                ),
            ),
        ],
        zip::CompressionMethod::Deflated,
    );
    let m = describe("pack.npz", &bytes).unwrap();
    let Body::Npz(z) = m.body else { panic!() };
    assert_eq!(z.other_members, vec!["notes.txt".to_string()]);
    assert_eq!(z.arrays.len(), 2);
    assert_eq!(
        (
            z.arrays[0].name.as_deref(),
            z.arrays[0].dtype.as_str(),
            z.arrays[0].shape.clone()
        ),
        (Some("x"), "uint8", vec![7])
    );
    assert_eq!(
        (
            z.arrays[1].dtype.as_str(),
            z.arrays[1].shape.len(),
            z.arrays[1].element_count
        ),
        ("complex128", 0, 1)
    );
    // A zip under another name is recognised by its first member.
    assert_eq!(simforge_formats::detect("pack.zip", &bytes), Format::Npz);
}

#[test]
fn numpy_corrupt() {
    let full = npy(
        1,
        "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
        96,
    );
    let e = malformed(describe("cut.npy", &full[..full.len() - 1]));
    assert!(e.contains("96 bytes") && e.contains("95 follow"), "{e}");
    let e = malformed(describe("cut.npy", &full[..40]));
    assert!(e.contains("truncated"), "{e}");
    malformed(describe(
        "bad.npy",
        &npy(1, "{'descr': '<f8', 'shape': (3,), }", 24),
    ));
    malformed(describe(
        "bad.npy",
        &npy(
            1,
            "{'descr': '<x8', 'fortran_order': False, 'shape': (3,), }",
            24,
        ),
    ));
    malformed(describe(
        "bad.npy",
        &npy(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': [3], }",
            24,
        ),
    ));
    malformed(describe("bad.npy", b"not numpy at all"));
    match describe("v9.npy", b"\x93NUMPY\x09\x00\x00\x00") {
        Err(FormatError::Unsupported { .. }) => {}
        other => panic!("{other:?}"),
    }

    let bytes = npz(
        &[(
            "x.npy",
            npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                8,
            ),
        )],
        zip::CompressionMethod::Stored,
    );
    let e = malformed(describe("short.npz", &bytes));
    assert!(e.contains("x.npy"), "{e}");
    let good = std::fs::read(fixture("arrays.npz")).unwrap();
    malformed(describe("cut.npz", &good[..good.len() / 2]));
}

// ---------------------------------------------------------------- HDF5

fn hdf5(name: &str) -> Hdf5Info {
    let m = extract(&fixture(name), name).unwrap();
    assert_eq!(m.format(), Format::Hdf5);
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    match m.body {
        Body::Hdf5(h) => h,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hdf5_from_h5py() {
    let h = hdf5("simple.h5");
    assert_eq!(h.superblock_version, 0);
    assert!(!h.truncated);
    let groups: Vec<&str> = h.groups.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(groups, vec!["/", "/mesh", "/results"]);
    assert_eq!(
        h.groups[0].attributes,
        vec![
            attr("big", "int32", 100, None),
            attr("fixed", "string[3]", 1, Some(json!("abc"))),
            attr("flags", "int16", 3, Some(json!([1, -2, 3]))),
            attr("scale", "float64", 1, Some(json!(0.5))),
            attr("title", "string", 1, Some(json!("simforge fixture"))),
            attr("version", "int32", 1, Some(json!(3))),
        ]
    );
    assert_eq!(
        h.groups[2].attributes,
        vec![attr("step", "int64", 1, Some(json!(42)))]
    );
    let datasets: Vec<(&str, Vec<u64>, &str)> = h
        .datasets
        .iter()
        .map(|d| (d.path.as_str(), d.shape.clone(), d.dtype.as_str()))
        .collect();
    assert_eq!(
        datasets,
        vec![
            ("/labels", vec![2], "string"),
            ("/mask", vec![2], "bool"),
            ("/names", vec![2], "string[3]"),
            ("/particles", vec![4], "compound{x: float32, id: int32}"),
            ("/scalar", vec![], "float64"),
            ("/u8", vec![3], "uint8"),
            ("/mesh/coords", vec![5, 3], "float64"),
            ("/results/counts", vec![10], "int64"),
            ("/results/temperature", vec![3, 4], "float32"),
        ]
    );
    let counts = &h.datasets[7];
    assert_eq!(counts.chunks, Some(vec![5]));
    assert_eq!(counts.max_shape, Some(vec![None]));
    let temperature = &h.datasets[8];
    assert_eq!(
        (temperature.chunks.clone(), temperature.max_shape.clone()),
        (None, None)
    );
    assert_eq!(
        temperature.attributes,
        vec![attr("units", "string", 1, Some(json!("K")))]
    );
}

#[test]
fn hdf5_latest_format_dense_storage() {
    let h = hdf5("latest.h5");
    assert_eq!(h.superblock_version, 3);
    let names: Vec<&str> = h.groups[0]
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let expected: Vec<String> = (0..12).map(|i| format!("a{i:02}")).collect();
    assert_eq!(names, expected);
    assert_eq!(h.groups[0].attributes[11].value, Some(json!(11)));
    assert_eq!(h.datasets.len(), 21);
    assert_eq!(
        (
            h.datasets[0].path.as_str(),
            h.datasets[0].shape.clone(),
            h.datasets[0].dtype.as_str()
        ),
        ("/grid", vec![2, 3, 4], "float32")
    );
    for (i, d) in h.datasets[1..].iter().enumerate() {
        assert_eq!(d.path, format!("/many/d{i:02}"));
        assert_eq!(d.shape, vec![i as u64 + 1]);
        assert_eq!(d.dtype, "int16");
    }
}

#[test]
fn hdf5_behind_a_user_block() {
    let bytes = std::fs::read(fixture("userblock.h5")).unwrap();
    assert_eq!(&bytes[512..516], b"\x89HDF");
    assert_eq!(simforge_formats::detect("upload.bin", &bytes), Format::Hdf5);
    let m = describe("upload.bin", &bytes).unwrap();
    let Body::Hdf5(h) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(h.datasets.len(), 1);
    assert_eq!(
        (
            h.datasets[0].path.as_str(),
            h.datasets[0].shape.clone(),
            h.datasets[0].dtype.as_str()
        ),
        ("/x", vec![3], "int8")
    );

    // A signature further in than the bytes `detect` sees is still found by `extract`.
    let mut far = vec![0u8; 16384];
    far.extend_from_slice(b"\x89HDF\r\n\x1a\n");
    far.extend_from_slice(&[0xAB; 100]);
    assert_eq!(
        simforge_formats::detect("blob", &far[..8192]),
        Format::Unknown
    );
    match describe("blob", &far) {
        Err(FormatError::Malformed {
            format: Format::Hdf5,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn hdf5_corrupt() {
    for name in ["simple.h5", "latest.h5"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in [8, 100, bytes.len() / 3] {
            match describe(name, &bytes[..cut]) {
                Err(FormatError::Malformed {
                    format: Format::Hdf5,
                    ..
                }) => {}
                other => panic!("{name} cut at {cut}: {other:?}"),
            }
        }
    }
    let e = malformed(describe("x.h5", b"definitely not hdf5"));
    assert!(e.contains("no HDF5 signature"), "{e}");
}

// ---------------------------------------------------------------- NetCDF

fn dim(name: &str, length: u64, unlimited: bool) -> NetCdfDimension {
    NetCdfDimension {
        name: name.into(),
        length,
        unlimited,
    }
}

fn netcdf(path: &Path, name: &str) -> (NetCdfInfo, Vec<String>) {
    let m = extract(path, name).unwrap();
    match m.body {
        Body::NetCdf(n) => (n, m.notes),
        other => panic!("{other:?}"),
    }
}

#[test]
fn netcdf_classic_all_versions() {
    for (file, kind) in [
        ("classic_cdf1.nc", NetCdfKind::Classic),
        ("classic_cdf2.nc", NetCdfKind::Offset64),
        ("classic_cdf5.nc", NetCdfKind::Cdf5),
    ] {
        let (n, notes) = netcdf(&fixture(file), file);
        assert!(notes.is_empty());
        assert_eq!(n.kind, kind, "{file}");
        assert_eq!(n.dimensions, vec![dim("time", 2, true), dim("x", 3, false)]);
        assert_eq!(
            n.attributes,
            vec![attr("title", "char", 1, Some(json!("classic fixture")))]
        );
        let vars: Vec<(&str, &str, Vec<&str>, Vec<u64>)> = n
            .variables
            .iter()
            .map(|v| {
                (
                    v.name.as_str(),
                    v.dtype.as_str(),
                    v.dimensions.iter().map(String::as_str).collect(),
                    v.shape.clone(),
                )
            })
            .collect();
        assert_eq!(
            vars,
            vec![
                ("time", "double", vec!["time"], vec![2]),
                ("x", "int", vec!["x"], vec![3]),
                ("val", "float", vec!["time", "x"], vec![2, 3]),
            ]
        );
        assert_eq!(
            n.variables[0].attributes,
            vec![attr("units", "char", 1, Some(json!("s")))]
        );
        assert_eq!(
            n.variables[2].attributes,
            vec![attr("scale_factor", "float", 1, Some(json!(0.5)))]
        );
        assert!(n.groups.is_empty());
    }
}

fn check_nc4(n: &NetCdfInfo) {
    assert_eq!(n.kind, NetCdfKind::Netcdf4);
    assert_eq!(
        n.dimensions,
        vec![
            dim("time", 3, true),
            dim("lat", 4, false),
            dim("lon", 5, false),
            dim("nv", 2, false)
        ]
    );
    assert_eq!(
        n.attributes,
        vec![
            attr("title", "char", 1, Some(json!("simforge netcdf4 fixture"))),
            attr("version", "int", 1, Some(json!(2))),
        ]
    );
    let vars: Vec<(&str, &str, Vec<&str>, Vec<u64>)> = n
        .variables
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.dtype.as_str(),
                v.dimensions.iter().map(String::as_str).collect(),
                v.shape.clone(),
            )
        })
        .collect();
    assert_eq!(
        vars,
        vec![
            ("time", "double", vec!["time"], vec![3]),
            ("lat", "float", vec!["lat"], vec![4]),
            ("lon", "float", vec!["lon"], vec![5]),
            ("temp", "float", vec!["time", "lat", "lon"], vec![3, 4, 5]),
            ("lat_bnds", "float", vec!["lat", "nv"], vec![4, 2]),
        ]
    );
    assert_eq!(
        n.variables[3].attributes,
        vec![
            attr("_FillValue", "float", 1, Some(json!(-999.0))),
            attr("units", "char", 1, Some(json!("K"))),
            attr("long_name", "char", 1, Some(json!("air temperature"))),
            attr("valid_range", "float", 2, Some(json!([150.0, 350.0]))),
        ]
    );
    assert_eq!(n.groups.len(), 1);
    let g = &n.groups[0];
    assert_eq!(g.path, "/forecast");
    assert_eq!(g.dimensions, vec![dim("step", 2, false)]);
    assert_eq!(
        g.attributes,
        vec![attr("source", "char", 1, Some(json!("model")))]
    );
    assert_eq!(g.variables.len(), 1);
    assert_eq!(
        (
            g.variables[0].name.as_str(),
            g.variables[0].dtype.as_str(),
            g.variables[0].dimensions.clone()
        ),
        ("wind", "short", vec!["step".to_string(), "lat".to_string()])
    );
}

#[test]
fn netcdf4_is_reported_as_netcdf() {
    let (n, notes) = netcdf(&fixture("nc4.nc"), "nc4.nc");
    assert!(notes.is_empty(), "{notes:?}");
    check_nc4(&n);

    // The same bytes under an HDF5 name: the NetCDF-4 markers win.
    let bytes = std::fs::read(fixture("nc4.nc")).unwrap();
    assert_eq!(simforge_formats::detect("upload.h5", &bytes), Format::Hdf5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, &bytes).unwrap();
    let (n, notes) = netcdf(&path, "upload.h5");
    check_nc4(&n);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("NetCDF-4"), "{notes:?}");

    let (n, _) = netcdf(&fixture("nc4_classic.nc"), "nc4_classic.nc");
    assert_eq!(n.kind, NetCdfKind::Netcdf4Classic);
    assert_eq!(n.dimensions, vec![dim("x", 3, false)]);
    assert_eq!(n.variables.len(), 1);
}

#[test]
fn plain_hdf5_under_a_netcdf_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x");
    std::fs::copy(fixture("latest.h5"), &path).unwrap();
    assert_eq!(
        simforge_formats::detect("data.nc", &std::fs::read(&path).unwrap()),
        Format::NetCdf
    );
    // No NetCDF-4 markers: the faithful description is the HDF5 one.
    let m = extract(&path, "data.nc").unwrap();
    let Body::Hdf5(h) = &m.body else {
        panic!("{m:?}")
    };
    assert_eq!((h.superblock_version, h.datasets.len()), (3, 21));
    assert_eq!(m.notes.len(), 1);
    assert!(m.notes[0].contains("described as HDF5"), "{:?}", m.notes);
}

#[test]
fn netcdf_corrupt() {
    let bytes = std::fs::read(fixture("classic_cdf1.nc")).unwrap();
    for cut in [4, 20, 100] {
        match describe("c.nc", &bytes[..cut]) {
            Err(FormatError::Malformed {
                format: Format::NetCdf,
                ..
            }) => {}
            other => panic!("classic cut at {cut}: {other:?}"),
        }
    }
    let bytes = std::fs::read(fixture("nc4.nc")).unwrap();
    for cut in [16, 2000, bytes.len() / 2] {
        assert!(
            matches!(
                describe("c.nc", &bytes[..cut]),
                Err(FormatError::Malformed { .. })
            ),
            "nc4 cut at {cut}"
        );
    }
    match describe("v3.nc", b"CDF\x03\0\0\0\0") {
        Err(e) => assert!(e.to_string().contains("NetCDF"), "{e}"),
        Ok(m) => panic!("{m:?}"),
    }
}
