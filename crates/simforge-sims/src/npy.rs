//! NumPy array files: `.npy` (one array) and `.npz` (a zip of named arrays),
//! the formats scientists load with `numpy.load` without any simforge code.
//!
//! Only what the builtins write is supported: little-endian `f64` arrays in C
//! order, format version 1.0 (NEP 1).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A borrowed n-dimensional `f64` array in row-major (C) order.
#[derive(Debug, Clone, Copy)]
pub struct Array<'a> {
    /// Extent of each axis, outermost first.
    pub shape: &'a [usize],
    /// `shape.iter().product()` values, last axis fastest.
    pub data: &'a [f64],
}

impl<'a> Array<'a> {
    /// A one-dimensional array.
    pub fn vector(data: &'a [f64], len: &'a [usize; 1]) -> Self {
        Array { shape: len, data }
    }
}

fn header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + header length (2) + dict, padded with spaces and
    // ended by a newline so the data starts on a 64-byte boundary.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let mut h = Vec::with_capacity(unpadded + pad);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    let len = (dict.len() + pad + 1) as u16;
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.extend(std::iter::repeat_n(b' ', pad));
    h.push(b'\n');
    h
}

fn check(a: &Array<'_>) -> io::Result<()> {
    let n: usize = a.shape.iter().product();
    if n != a.data.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "array of shape {:?} needs {n} values, got {}",
                a.shape,
                a.data.len()
            ),
        ));
    }
    Ok(())
}

/// Writes one array in `.npy` format to `out`.
pub fn write_npy_to(out: &mut impl Write, a: &Array<'_>) -> io::Result<()> {
    check(a)?;
    out.write_all(&header(a.shape))?;
    for v in a.data {
        out.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

/// Writes one array to the file `path` (`.npy`).
pub fn write_npy(path: &Path, a: &Array<'_>) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write_npy_to(&mut out, a)?;
    out.flush()
}

/// Writes named arrays to the file `path` (`.npz`, deflate-compressed, as
/// `numpy.savez_compressed` does); `numpy.load(path)["name"]` reads each back.
pub fn write_npz(path: &Path, arrays: &[(&str, Array<'_>)]) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(
            arrays
                .iter()
                .any(|(_, a)| a.data.len() * 8 > u32::MAX as usize / 2),
        );
    for (name, a) in arrays {
        zip.start_file(format!("{name}.npy"), opts)
            .map_err(io::Error::other)?;
        write_npy_to(&mut zip, a)?;
    }
    zip.finish().map_err(io::Error::other)?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header layout from NEP 1: magic, version 1.0, little-endian length, and
    /// the data starting on a 64-byte boundary.
    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let mut buf = Vec::new();
        write_npy_to(
            &mut buf,
            &Array {
                shape: &[2, 3],
                data: &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
        )
        .unwrap();
        assert_eq!(&buf[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([buf[8], buf[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let dict = std::str::from_utf8(&buf[10..10 + hlen]).unwrap();
        assert!(dict.contains("'shape': (2, 3)"), "{dict}");
        assert!(dict.ends_with('\n'));
        assert_eq!(buf.len(), 10 + hlen + 6 * 8);
        let last = f64::from_le_bytes(buf[buf.len() - 8..].try_into().unwrap());
        assert_eq!(last, 6.0);
    }

    #[test]
    fn one_dimensional_shape_has_trailing_comma() {
        let h = header(&[5]);
        assert!(String::from_utf8_lossy(&h).contains("'shape': (5,)"));
    }

    #[test]
    fn wrong_length_is_an_error_not_a_short_file() {
        let mut buf = Vec::new();
        let e = write_npy_to(
            &mut buf,
            &Array {
                shape: &[2, 2],
                data: &[1.0],
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs 4 values"));
        assert!(buf.is_empty());
    }

    #[test]
    fn npz_holds_each_array_as_a_member() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npz");
        write_npz(
            &p,
            &[
                ("x", Array::vector(&[0.0, 1.0], &[2])),
                (
                    "u",
                    Array {
                        shape: &[1, 2],
                        data: &[3.0, 4.0],
                    },
                ),
            ],
        )
        .unwrap();
        let mut z = zip::ZipArchive::new(File::open(&p).unwrap()).unwrap();
        let names: Vec<String> = (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert!(names.contains(&"x.npy".into()) && names.contains(&"u.npy".into()));
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut z.by_name("u.npy").unwrap(), &mut bytes).unwrap();
        assert_eq!(
            f64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap()),
            4.0
        );
    }
}
