//! Metadata extraction for scientific data files.
//!
//! The server's versioned datasets record what an uploaded file holds: its format
//! and a format-specific description (CSV columns and types, JSON structure, NumPy
//! dtypes and shapes, HDF5 groups and datasets, NetCDF dimensions and variables,
//! VTK dataset type, point/cell counts and data arrays). Two calls do it:
//!
//! - [`detect`] names the format from the file name and its first bytes (magic
//!   numbers beat extensions);
//! - [`extract`] reads the file and returns a serde-serialisable [`Metadata`].
//!
//! Extraction streams: a 1 GB CSV, JSON or VTK file is read once, front to back,
//! in bounded memory, and array data in binary formats is never decoded. Nothing
//! here panics on hostile input: a corrupt or truncated file gives a
//! [`FormatError`] that says what is wrong. Everything is pure Rust (HDF5 and
//! NetCDF through the read-only `hdf5-reader` / `netcdf-reader` crates), so the
//! default build needs only the Rust toolchain.
//!
//! The caller keeps the file's size and hash: [`Metadata::size_bytes`] is recorded,
//! a content hash (sha256) is the caller's business.

mod csv;
mod hdf5;
mod json;
mod netcdf;
mod npy;
mod vtk;
mod vtk_xml;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::csv::{ColumnType, CsvColumn, CsvInfo};
pub use crate::hdf5::{Hdf5Dataset, Hdf5Group, Hdf5Info};
pub use crate::json::{JsonInfo, JsonKey, JsonLinesInfo, JsonShape, JsonType, LengthRange};
pub use crate::netcdf::{NetCdfDimension, NetCdfGroup, NetCdfInfo, NetCdfKind, NetCdfVariable};
pub use crate::npy::{NpyArray, NpzInfo};
pub use crate::vtk::{VtkArray, VtkInfo};

/// How many leading bytes [`extract`] reads for [`detect`]. Enough for every magic
/// number, an HDF5 superblock behind a user block of up to 4 KiB, and a VTK XML
/// prologue with a comment.
pub const HEAD_LEN: usize = 8192;

/// The file formats this crate recognises.
///
/// Serialised in snake case (`"csv"`, `"json_lines"`, `"netcdf"`, `"vtk_legacy"`),
/// the spelling stored in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Delimited text (comma, semicolon or tab), first row usually a header.
    Csv,
    /// One JSON document.
    Json,
    /// JSON Lines / NDJSON: one JSON value per line.
    JsonLines,
    /// One NumPy array (`.npy`).
    Npy,
    /// A zip of NumPy arrays (`.npz`, from `numpy.savez`).
    Npz,
    /// HDF5 that is not NetCDF-4.
    Hdf5,
    /// NetCDF: classic (CDF-1/2/5) or NetCDF-4 (HDF5 underneath).
    #[serde(rename = "netcdf")]
    NetCdf,
    /// VTK legacy (`.vtk`), ASCII or BINARY.
    VtkLegacy,
    /// VTK XML (`.vtu`, `.vti`, `.vtp`, `.vts`, `.vtr`, their parallel `p*` forms, `.vtm`).
    VtkXml,
    /// None of the above.
    Unknown,
}

impl Format {
    /// A short human name, used in error messages ("malformed NumPy .npy file: …").
    pub fn human_name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Json => "JSON",
            Format::JsonLines => "JSON Lines",
            Format::Npy => "NumPy .npy",
            Format::Npz => "NumPy .npz",
            Format::Hdf5 => "HDF5",
            Format::NetCdf => "NetCDF",
            Format::VtkLegacy => "VTK legacy",
            Format::VtkXml => "VTK XML",
            Format::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.human_name())
    }
}

/// Why a file could not be described.
///
/// Every variant's message names the format and what was wrong, so the server can
/// show it to the user who uploaded the file as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file claims a format (by magic number or extension) but its content breaks it.
    #[error("malformed {format} file: {detail}")]
    Malformed {
        /// The format the file was read as.
        format: Format,
        /// What is wrong, with a position where one is known.
        detail: String,
    },
    /// The file is valid but uses a feature this crate does not describe.
    #[error("unsupported {format} file: {detail}")]
    Unsupported {
        /// The format the file was read as.
        format: Format,
        /// The feature.
        detail: String,
    },
    /// A bug: a parser panicked. Caught so that one bad upload cannot take the server down.
    #[error("internal error while reading a {format} file: {detail}")]
    Internal {
        /// The format the file was read as.
        format: Format,
        /// The panic message.
        detail: String,
    },
}

impl FormatError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        FormatError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn malformed(format: Format, detail: impl Into<String>) -> Self {
        FormatError::Malformed {
            format,
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(format: Format, detail: impl Into<String>) -> Self {
        FormatError::Unsupported {
            format,
            detail: detail.into(),
        }
    }
}

/// What a file holds: its format, a format-specific description, its size and
/// remarks (caps reached, fallbacks taken).
///
/// Serialised as `{"format": "...", "details": {...}, "size_bytes": N, "notes": [...]}`;
/// `details` is absent for [`Format::Unknown`] and `notes` when empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// The format and its description.
    #[serde(flatten)]
    pub body: Body,
    /// The file's length in bytes.
    pub size_bytes: u64,
    /// Remarks for a human: a description that was capped, a NetCDF-4 file found
    /// under an `.h5` name, and the like.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Metadata {
    /// The format that was found; the same as the `format` key of the JSON.
    pub fn format(&self) -> Format {
        self.body.format()
    }
}

/// The format-specific description, tagged by format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", content = "details", rename_all = "snake_case")]
pub enum Body {
    /// See [`CsvInfo`].
    Csv(CsvInfo),
    /// See [`JsonInfo`].
    Json(JsonInfo),
    /// See [`JsonLinesInfo`].
    JsonLines(JsonLinesInfo),
    /// See [`NpyArray`].
    Npy(NpyArray),
    /// See [`NpzInfo`].
    Npz(NpzInfo),
    /// See [`Hdf5Info`].
    Hdf5(Hdf5Info),
    /// See [`NetCdfInfo`].
    #[serde(rename = "netcdf")]
    NetCdf(NetCdfInfo),
    /// See [`VtkInfo`].
    VtkLegacy(VtkInfo),
    /// See [`VtkInfo`].
    VtkXml(VtkInfo),
    /// Nothing is known beyond the size; the caller records the hash.
    Unknown,
}

impl Body {
    /// The format this description belongs to.
    pub fn format(&self) -> Format {
        match self {
            Body::Csv(_) => Format::Csv,
            Body::Json(_) => Format::Json,
            Body::JsonLines(_) => Format::JsonLines,
            Body::Npy(_) => Format::Npy,
            Body::Npz(_) => Format::Npz,
            Body::Hdf5(_) => Format::Hdf5,
            Body::NetCdf(_) => Format::NetCdf,
            Body::VtkLegacy(_) => Format::VtkLegacy,
            Body::VtkXml(_) => Format::VtkXml,
            Body::Unknown => Format::Unknown,
        }
    }
}

/// One attribute of an HDF5 object or a NetCDF variable/group.
///
/// `value` is present for small values only (a number, a string of at most
/// [`limits::MAX_ATTRIBUTE_STRING`] characters, or at most
/// [`limits::MAX_ATTRIBUTE_ELEMENTS`] numbers or strings), so a huge attribute cannot bloat the stored description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeInfo {
    /// The attribute's name.
    pub name: String,
    /// Element type, in the same vocabulary as dataset dtypes (`int32`, `float64`, `string`, …).
    pub dtype: String,
    /// Number of elements (1 for a scalar or a single string).
    pub length: u64,
    /// The value: a JSON scalar for one element, an array for several; absent when too big
    /// or of a type that has no plain JSON form (compound, opaque, references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// The caps that keep a description bounded whatever the file holds. A description
/// cut by one says so (a `truncated` flag and/or a note in [`Metadata::notes`]).
pub mod limits {
    /// Most elements an attribute may have for its value to be recorded.
    pub const MAX_ATTRIBUTE_ELEMENTS: u64 = 16;
    /// Longest string (in characters) recorded as an attribute value.
    pub const MAX_ATTRIBUTE_STRING: usize = 1024;
    /// JSON: levels of nesting described; deeper values are counted by type only.
    pub const JSON_MAX_DEPTH: usize = 6;
    /// JSON: distinct keys recorded for one object position.
    pub const JSON_MAX_KEYS_PER_OBJECT: usize = 256;
    /// JSON: distinct keys recorded in the whole description.
    pub const JSON_MAX_KEYS_TOTAL: usize = 2048;
    /// JSON: longest key name recorded, in characters; longer names are cut and end in `…`.
    pub const JSON_MAX_KEY_CHARS: usize = 256;
    /// NumPy: largest `.npy` header accepted (numpy itself refuses more than 10 000 bytes).
    pub const NPY_MAX_HEADER: u64 = 1 << 20;
    /// NumPy: most members of an `.npz` described.
    pub const NPZ_MAX_MEMBERS: usize = 10_000;
    /// HDF5: most groups plus datasets described.
    pub const HDF5_MAX_OBJECTS: usize = 10_000;
    /// HDF5: deepest group nesting followed.
    pub const HDF5_MAX_GROUP_DEPTH: usize = 64;
    /// NetCDF: most variables described over all groups.
    pub const NETCDF_MAX_VARIABLES: usize = 10_000;
    /// NetCDF: deepest group nesting described.
    pub const NETCDF_MAX_GROUP_DEPTH: usize = 64;
}

/// Which format a file is, from its name and first bytes.
///
/// Magic numbers win over extensions: an `.h5` name on a NetCDF classic file
/// gives [`Format::NetCdf`], a `.json` name on an HDF5 file gives
/// [`Format::Hdf5`]. An HDF5 signature under a NetCDF name (`.nc`, `.nc4`,
/// `.cdf`, `.netcdf`) gives [`Format::NetCdf`]; other HDF5 files give
/// [`Format::Hdf5`], and [`extract`] reports them as NetCDF when their content
/// shows NetCDF-4 markers. Text formats are recognised by extension, with two
/// content sniffs for unnamed files (`# vtk DataFile` and `<VTKFile`, and a
/// leading `{`/`[` for JSON). `head` should be the first [`HEAD_LEN`] bytes
/// (fewer for a short file).
pub fn detect(name: &str, head: &[u8]) -> Format {
    let ext = extension(name);
    if head.starts_with(npy::MAGIC) {
        return Format::Npy;
    }
    if hdf5::signature_offset(head).is_some() {
        return if NETCDF_EXTENSIONS.contains(&ext.as_str()) {
            Format::NetCdf
        } else {
            Format::Hdf5
        };
    }
    if netcdf::is_classic_magic(head) {
        return Format::NetCdf;
    }
    if npy::is_zip(head) {
        return if ext == "npz" || npy::first_zip_entry_is_npy(head) {
            Format::Npz
        } else {
            Format::Unknown
        };
    }
    let text = trim_text_start(head);
    if vtk::is_legacy_header(text) {
        return Format::VtkLegacy;
    }
    if (text.starts_with(b"<?xml") || text.starts_with(b"<VTKFile")) && contains(head, b"<VTKFile")
    {
        return Format::VtkXml;
    }
    match ext.as_str() {
        "csv" | "tsv" | "tab" => return Format::Csv,
        "json" | "geojson" => return Format::Json,
        "jsonl" | "ndjson" | "jsonlines" => return Format::JsonLines,
        "npy" => return Format::Npy,
        "npz" => return Format::Npz,
        "h5" | "hdf5" | "hdf" | "he5" => return Format::Hdf5,
        e if NETCDF_EXTENSIONS.contains(&e) => return Format::NetCdf,
        "vtk" => return Format::VtkLegacy,
        e if VTK_XML_EXTENSIONS.contains(&e) => return Format::VtkXml,
        _ => {}
    }
    if !head.contains(&0) && (text.starts_with(b"{") || text.starts_with(b"[")) {
        return Format::Json;
    }
    Format::Unknown
}

/// Reads the file at `path` and describes it; `name` is the user's file name (the
/// stored path may have none), used by [`detect`] for the extension.
///
/// Never panics on any input. A file whose magic number or extension claims a
/// format that its content breaks gives [`FormatError::Malformed`]; an
/// unrecognised file gives `Ok` with [`Body::Unknown`] and its size.
pub fn extract(path: &Path, name: &str) -> Result<Metadata, FormatError> {
    let mut file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let size_bytes = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut file)
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| FormatError::io(path, e))?;
    let mut format = detect(name, &head);
    let mut hdf5_signature = hdf5::signature_offset(&head).is_some();
    if !hdf5_signature
        && matches!(format, Format::Unknown | Format::Hdf5 | Format::NetCdf)
        && !netcdf::is_classic_magic(&head)
        && hdf5_signature_beyond_head(&mut file, size_bytes)
    {
        hdf5_signature = true;
        if format == Format::Unknown {
            format = Format::Hdf5;
        }
    }
    drop(file);

    let mut notes = Vec::new();
    let ctx = Ctx {
        path,
        name,
        head: &head,
        size: size_bytes,
        hdf5_signature,
    };
    let body = catch_unwind(AssertUnwindSafe(|| describe(&ctx, format, &mut notes)))
        .unwrap_or_else(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "parser panicked".to_string());
            Err(FormatError::Internal { format, detail })
        })?;
    Ok(Metadata {
        body,
        size_bytes,
        notes,
    })
}

/// What every format reader gets: the file, the user's name for it, its first bytes and size.
pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub head: &'a [u8],
    pub size: u64,
    /// Whether an HDF5 signature was found (at 0, 512, 1024, … bytes).
    pub hdf5_signature: bool,
}

fn describe(ctx: &Ctx<'_>, format: Format, notes: &mut Vec<String>) -> Result<Body, FormatError> {
    Ok(match format {
        Format::Csv => Body::Csv(csv::describe(ctx)?),
        Format::Json => Body::Json(json::describe(ctx, notes)?),
        Format::JsonLines => Body::JsonLines(json::describe_lines(ctx, notes)?),
        Format::Npy => Body::Npy(npy::describe_npy(ctx)?),
        Format::Npz => Body::Npz(npy::describe_npz(ctx, notes)?),
        Format::Hdf5 | Format::NetCdf => return describe_hdf5_or_netcdf(ctx, format, notes),
        Format::VtkLegacy => Body::VtkLegacy(vtk::describe(ctx)?),
        Format::VtkXml => Body::VtkXml(vtk_xml::describe(ctx)?),
        Format::Unknown => Body::Unknown,
    })
}

/// HDF5 and NetCDF-4 share a container: read it as HDF5 first, then as NetCDF when it
/// carries NetCDF-4 markers, whatever its name. A file without them is plain HDF5,
/// even under a NetCDF name (netCDF-C would invent `phony_dim_N` dimensions for it;
/// the HDF5 view of its groups and datasets is the faithful one).
fn describe_hdf5_or_netcdf(
    ctx: &Ctx<'_>,
    format: Format,
    notes: &mut Vec<String>,
) -> Result<Body, FormatError> {
    if netcdf::is_classic_magic(ctx.head) {
        return Ok(Body::NetCdf(netcdf::describe(ctx, notes)?));
    }
    if !ctx.hdf5_signature {
        // Named .nc/.h5 but neither signature is there.
        return Err(FormatError::malformed(
            format,
            "no HDF5 signature (\\x89HDF\\r\\n\\x1a\\n) and no NetCDF classic magic (CDF\\x01/\\x02/\\x05) at the start of the file",
        ));
    }
    let h5 = hdf5::describe(ctx, format, notes)?;
    if !h5.netcdf4_markers {
        if format == Format::NetCdf {
            notes.push(
                "named like NetCDF, but an HDF5 file without NetCDF-4 markers (_NCProperties, netCDF dimension scales): described as HDF5".to_string(),
            );
        }
        return Ok(Body::Hdf5(h5.info));
    }
    let mut nc_notes = Vec::new();
    match netcdf::describe(ctx, &mut nc_notes) {
        Ok(nc) => {
            notes.append(&mut nc_notes);
            if format == Format::Hdf5 {
                notes.push(
                    "an HDF5 file with NetCDF-4 markers (_NCProperties or netCDF dimension scales): described as NetCDF-4".to_string(),
                );
            }
            Ok(Body::NetCdf(nc))
        }
        Err(e) => {
            notes.push(format!(
                "an HDF5 file with NetCDF-4 markers that could not be read as NetCDF-4 ({e}); described as HDF5"
            ));
            Ok(Body::Hdf5(h5.info))
        }
    }
}

/// HDF5 allows a user block before the superblock, at 512 bytes or any doubling of
/// that; `detect` only sees [`HEAD_LEN`] bytes, so look further on a large file.
fn hdf5_signature_beyond_head(file: &mut File, size: u64) -> bool {
    let mut offset = HEAD_LEN as u64;
    while offset.saturating_add(8) <= size {
        let mut buf = [0u8; 8];
        if file.seek(SeekFrom::Start(offset)).is_err() || file.read_exact(&mut buf).is_err() {
            return false;
        }
        if buf == hdf5::SIGNATURE {
            return true;
        }
        offset = match offset.checked_mul(2) {
            Some(o) => o,
            None => return false,
        };
    }
    false
}

const NETCDF_EXTENSIONS: &[&str] = &["nc", "nc3", "nc4", "cdf", "netcdf"];
const VTK_XML_EXTENSIONS: &[&str] = &[
    "vtu", "vti", "vtp", "vts", "vtr", "pvtu", "pvti", "pvtp", "pvts", "pvtr", "vtm",
];

/// The lower-case extension of a file name ("" when there is none).
fn extension(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// `head` without a UTF-8 byte-order mark and leading ASCII whitespace.
fn trim_text_start(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `true` for serde's `skip_serializing_if`.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_beats_extension() {
        assert_eq!(detect("a.json", b"\x89HDF\r\n\x1a\n rest"), Format::Hdf5);
        assert_eq!(detect("a.nc", b"\x89HDF\r\n\x1a\n rest"), Format::NetCdf);
        assert_eq!(detect("a.h5", b"CDF\x01\0\0\0\0"), Format::NetCdf);
        assert_eq!(detect("a.csv", b"\x93NUMPY\x01\x00"), Format::Npy);
        assert_eq!(
            detect("x.txt", b"# vtk DataFile Version 3.0\n"),
            Format::VtkLegacy
        );
        assert_eq!(
            detect(
                "x",
                b"<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\">"
            ),
            Format::VtkXml
        );
    }

    #[test]
    fn extensions_and_sniffs() {
        assert_eq!(detect("dir.v2/data.CSV", b"a,b\n"), Format::Csv);
        assert_eq!(detect("data.tsv", b"a\tb\n"), Format::Csv);
        assert_eq!(detect("d.ndjson", b"{}\n{}\n"), Format::JsonLines);
        assert_eq!(detect("d.jsonl", b"{}\n"), Format::JsonLines);
        assert_eq!(detect("noext", b"  {\"a\": 1}"), Format::Json);
        assert_eq!(detect("mesh.vtu", b""), Format::VtkXml);
        assert_eq!(detect("README", b"hello"), Format::Unknown);
        assert_eq!(detect(".hidden", b"\x00\x01"), Format::Unknown);
        assert_eq!(detect("x.zip", b"PK\x03\x04"), Format::Unknown);
        assert_eq!(detect("x.npz", b"PK\x03\x04"), Format::Npz);
    }

    #[test]
    fn extension_parsing() {
        assert_eq!(extension("a/b.c/file"), "");
        assert_eq!(extension("file.tar.GZ"), "gz");
        assert_eq!(extension(".bashrc"), "");
    }
}
