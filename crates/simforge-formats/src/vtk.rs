//! VTK legacy (`.vtk`): dataset type, point and cell counts, and data arrays.
//!
//! The file is read keyword by keyword through a small buffered reader. Array
//! payloads are skipped, never decoded: in an ASCII file by counting the values,
//! in a BINARY file by skipping exactly `count × size` bytes (big-endian, as the
//! format requires). Counting the payload is also what catches a truncated file.
//! Versions up to 5.1 are understood, including 5.1's `OFFSETS` / `CONNECTIVITY`
//! cell layout and `METADATA` blocks.

use std::fs::File;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::{Ctx, Format, FormatError};

const FORMAT: Format = Format::VtkLegacy;
/// Longest keyword line accepted (the format caps the title at 256 characters).
const MAX_LINE: usize = 64 * 1024;

/// What a VTK file (legacy or XML) holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VtkInfo {
    /// The dataset type as the file spells it: legacy `STRUCTURED_POINTS`,
    /// `STRUCTURED_GRID`, `UNSTRUCTURED_GRID`, `POLYDATA`, `RECTILINEAR_GRID`,
    /// `FIELD`; XML `ImageData`, `StructuredGrid`, `UnstructuredGrid`, `PolyData`,
    /// `RectilinearGrid`, their parallel `P…` forms, `vtkMultiBlockDataSet`.
    pub dataset_type: String,
    /// The file format version (`3.0`, `5.1`, XML `1.0`, …).
    pub version: String,
    /// How the data is stored: legacy `ascii` / `binary`; XML the `format` of its
    /// arrays (`ascii`, `binary`, `appended`, or `mixed`), `none` without arrays.
    pub encoding: String,
    /// The legacy header's title line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Number of points; absent where the file does not say (parallel XML files,
    /// multi-block files, field-only files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
    /// Number of cells (for poly data: vertices + lines + polygons + strips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<u64>,
    /// Grid dimensions (points along x, y, z) for structured, rectilinear and image data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<u64>>,
    /// Arrays attached to points.
    pub point_data: Vec<VtkArray>,
    /// Arrays attached to cells.
    pub cell_data: Vec<VtkArray>,
    /// Arrays attached to the dataset as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_data: Vec<VtkArray>,
    /// XML: the number of `Piece` elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<u64>,
    /// XML: the compressor named on `VTKFile` (such as `vtkZLibDataCompressor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressor: Option<String>,
}

/// One VTK data array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VtkArray {
    /// The array's name.
    pub name: String,
    /// Its legacy attribute role (`scalars`, `vectors`, `normals`, `tensors`,
    /// `texture_coordinates`, `color_scalars`, `field`), or for XML the active
    /// attribute it is named as (`Scalars="…"` on `PointData`, lower-cased); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Element type in one vocabulary for both flavours: `int8`, `uint8`, `int16`,
    /// `uint16`, `int32`, `uint32`, `int64`, `uint64`, `float32`, `float64`, `bit`, `string`.
    pub data_type: String,
    /// Components per tuple (3 for vectors, 9 for tensors, …).
    pub components: u64,
}

/// Whether `text` (leading whitespace removed) starts a VTK legacy header.
pub(crate) fn is_legacy_header(text: &[u8]) -> bool {
    text.len() >= 5 && text[..5].eq_ignore_ascii_case(b"# vtk")
}

/// Normalises a legacy or XML type name; `None` for an unknown one.
pub(crate) fn normalise_type(t: &str) -> Option<(&'static str, Option<u64>)> {
    Some(match t.to_ascii_lowercase().as_str() {
        "bit" => ("bit", None),
        "char" | "signed_char" | "int8" => ("int8", Some(1)),
        "unsigned_char" | "uint8" => ("uint8", Some(1)),
        "short" | "int16" => ("int16", Some(2)),
        "unsigned_short" | "uint16" => ("uint16", Some(2)),
        "int" | "int32" => ("int32", Some(4)),
        "unsigned_int" | "uint32" => ("uint32", Some(4)),
        "long" | "vtktypeint64" | "vtkidtype" | "int64" | "idtype" => ("int64", Some(8)),
        "unsigned_long" | "vtktypeuint64" | "uint64" => ("uint64", Some(8)),
        "float" | "float32" => ("float32", Some(4)),
        "double" | "float64" => ("float64", Some(8)),
        "string" | "utf8_string" => ("string", None),
        _ => return None,
    })
}

/// Cells of a structured grid with `dims` points along each axis.
pub(crate) fn structured_cells(dims: &[u64]) -> u64 {
    if dims.contains(&0) {
        return 0;
    }
    dims.iter()
        .map(|&d| if d > 1 { d - 1 } else { 1 })
        .try_fold(1u64, |acc, d| acc.checked_mul(d))
        .unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Dataset,
    Point,
    Cell,
}

pub(crate) fn describe(ctx: &Ctx<'_>) -> Result<VtkInfo, FormatError> {
    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut r = Reader::new(file);
    let io = |e| FormatError::io(ctx.path, e);

    let first = r
        .line()
        .map_err(io)?
        .ok_or_else(|| bad("the file is empty"))?;
    let first = first.trim();
    if !is_legacy_header(first.as_bytes()) {
        return Err(bad("the first line is not '# vtk DataFile Version x.y'"));
    }
    let version = first
        .rsplit(' ')
        .next()
        .filter(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or("")
        .to_string();
    let (major, minor) = version
        .split_once('.')
        .map(|(a, b)| (a.parse::<u32>().unwrap_or(0), b.parse::<u32>().unwrap_or(0)))
        .unwrap_or((0, 0));
    let new_cells = (major, minor) >= (5, 1);
    let title = r
        .line()
        .map_err(io)?
        .ok_or_else(|| bad("truncated: no title line"))?
        .trim_end()
        .to_string();
    let encoding = r
        .line()
        .map_err(io)?
        .ok_or_else(|| bad("truncated: no ASCII/BINARY line"))?
        .trim()
        .to_ascii_lowercase();
    let binary = match encoding.as_str() {
        "ascii" => false,
        "binary" => true,
        other => return Err(bad(format!("line 3 is '{other}', not ASCII or BINARY"))),
    };

    let mut p = Parser {
        r,
        binary,
        ctx,
        line: 3,
    };
    let dataset_line = p
        .keyword_line()?
        .ok_or_else(|| bad("truncated: no DATASET line"))?;
    let mut info = VtkInfo {
        dataset_type: String::new(),
        version,
        encoding,
        title: Some(title),
        points: None,
        cells: None,
        dimensions: None,
        point_data: Vec::new(),
        cell_data: Vec::new(),
        field_data: Vec::new(),
        pieces: None,
        compressor: None,
    };
    let mut section = Section::Dataset;
    let mut tuples = 0u64;
    match dataset_line
        .first()
        .map(|k| k.to_ascii_uppercase())
        .as_deref()
    {
        Some("DATASET") => {
            let ty = dataset_line
                .get(1)
                .ok_or_else(|| bad(format!("line {}: DATASET without a type", p.line)))?
                .to_ascii_uppercase();
            if !matches!(
                ty.as_str(),
                "STRUCTURED_POINTS"
                    | "STRUCTURED_GRID"
                    | "UNSTRUCTURED_GRID"
                    | "POLYDATA"
                    | "RECTILINEAR_GRID"
                    | "FIELD"
            ) {
                return Err(bad(format!("unknown dataset type '{ty}'")));
            }
            info.dataset_type = ty;
        }
        // A file holding only field data.
        Some("FIELD") => {
            info.dataset_type = "FIELD".into();
            p.field(&dataset_line, &mut info.field_data)?;
        }
        _ => {
            return Err(bad(format!(
                "line {}: expected DATASET, found '{}'",
                p.line,
                dataset_line.join(" ")
            )));
        }
    }

    let mut polys = 0u64;
    let mut saw_cells = false;
    while let Some(words) = p.keyword_line()? {
        let key = words[0].to_ascii_uppercase();
        let line = p.line;
        let num = |i: usize, what: &str| -> Result<u64, FormatError> {
            words
                .get(i)
                .and_then(|w| w.parse::<u64>().ok())
                .ok_or_else(|| bad(format!("line {line}: {key} needs {what}")))
        };
        let word = |i: usize, what: &str| -> Result<&str, FormatError> {
            words
                .get(i)
                .map(String::as_str)
                .ok_or_else(|| bad(format!("line {line}: {key} needs {what}")))
        };
        match key.as_str() {
            "DIMENSIONS" => {
                let dims = vec![num(1, "3 sizes")?, num(2, "3 sizes")?, num(3, "3 sizes")?];
                info.dimensions = Some(dims);
            }
            "ORIGIN" | "SPACING" | "ASPECT_RATIO" => {}
            "POINTS" => {
                let n = num(1, "a count")?;
                let ty = word(2, "a data type")?;
                info.points = Some(n);
                p.skip_values(n.saturating_mul(3), ty, "POINTS")?;
            }
            "X_COORDINATES" | "Y_COORDINATES" | "Z_COORDINATES" => {
                let n = num(1, "a count")?;
                p.skip_values(n, word(2, "a data type")?, &key)?;
            }
            "CELLS" | "VERTICES" | "LINES" | "POLYGONS" | "TRIANGLE_STRIPS" => {
                let a = num(1, "two counts")?;
                let b = num(2, "two counts")?;
                let count = if new_cells {
                    for (sub, n) in [("OFFSETS", a), ("CONNECTIVITY", b)] {
                        let sub_line = p
                            .keyword_line()?
                            .ok_or_else(|| bad(format!("truncated: {key} without {sub}")))?;
                        if !sub_line[0].eq_ignore_ascii_case(sub) {
                            return Err(bad(format!(
                                "line {}: expected {sub} after {key}, found '{}'",
                                p.line, sub_line[0]
                            )));
                        }
                        let ty = sub_line.get(1).ok_or_else(|| {
                            bad(format!("line {}: {sub} needs a data type", p.line))
                        })?;
                        p.skip_values(n, ty, sub)?;
                    }
                    a.saturating_sub(1)
                } else {
                    p.skip_values(b, "int", &key)?;
                    a
                };
                if key == "CELLS" {
                    saw_cells = true;
                    info.cells = Some(count);
                } else {
                    polys = polys.saturating_add(count);
                    info.cells = Some(polys);
                }
            }
            "CELL_TYPES" => {
                let n = num(1, "a count")?;
                p.skip_values(n, "int", "CELL_TYPES")?;
                if !saw_cells {
                    info.cells = Some(n);
                }
            }
            "POINT_DATA" | "CELL_DATA" => {
                tuples = num(1, "a count")?;
                section = if key == "POINT_DATA" {
                    Section::Point
                } else {
                    Section::Cell
                };
            }
            "FIELD" => {
                let target = match section {
                    Section::Dataset => &mut info.field_data,
                    Section::Point => &mut info.point_data,
                    Section::Cell => &mut info.cell_data,
                };
                p.field(&words, target)?;
            }
            "METADATA" => p.skip_metadata()?,
            "SCALARS"
            | "VECTORS"
            | "NORMALS"
            | "TEXTURE_COORDINATES"
            | "TENSORS"
            | "TENSORS6"
            | "COLOR_SCALARS"
            | "LOOKUP_TABLE" => {
                if section == Section::Dataset {
                    return Err(bad(format!(
                        "line {line}: {key} before POINT_DATA or CELL_DATA"
                    )));
                }
                let name = word(1, "a name")?.to_string();
                let (role, ty, components) = match key.as_str() {
                    "SCALARS" => {
                        let comps = match words.get(3) {
                            Some(w) => w.parse::<u64>().map_err(|_| {
                                bad(format!("line {line}: SCALARS has a bad component count"))
                            })?,
                            None => 1,
                        };
                        ("scalars", word(2, "a data type")?.to_string(), comps)
                    }
                    "VECTORS" => ("vectors", word(2, "a data type")?.to_string(), 3),
                    "NORMALS" => ("normals", word(2, "a data type")?.to_string(), 3),
                    "TENSORS" => ("tensors", word(2, "a data type")?.to_string(), 9),
                    "TENSORS6" => ("tensors", word(2, "a data type")?.to_string(), 6),
                    "TEXTURE_COORDINATES" => (
                        "texture_coordinates",
                        word(3, "a data type")?.to_string(),
                        num(2, "a dimension")?,
                    ),
                    "COLOR_SCALARS" => {
                        let ty = if binary { "unsigned_char" } else { "float" };
                        ("color_scalars", ty.to_string(), num(2, "a value count")?)
                    }
                    _ => {
                        // LOOKUP_TABLE name size: a colour table, not an array.
                        let size = num(2, "a size")?;
                        let ty = if binary { "unsigned_char" } else { "float" };
                        p.skip_values(size.saturating_mul(4), ty, "LOOKUP_TABLE")?;
                        continue;
                    }
                };
                if key == "SCALARS" {
                    p.optional_lookup_table()?;
                }
                let (data_type, _) = normalise_type(&ty)
                    .ok_or_else(|| bad(format!("line {line}: unknown data type '{ty}'")))?;
                p.skip_values(tuples.saturating_mul(components), &ty, &name)?;
                let array = VtkArray {
                    name,
                    role: Some(role.to_string()),
                    data_type: data_type.to_string(),
                    components,
                };
                match section {
                    Section::Point => info.point_data.push(array),
                    _ => info.cell_data.push(array),
                }
            }
            _ => {
                return Err(bad(format!("line {line}: unknown keyword '{}'", words[0])));
            }
        }
    }

    match info.dataset_type.as_str() {
        "STRUCTURED_POINTS" | "STRUCTURED_GRID" | "RECTILINEAR_GRID" => {
            let dims = info
                .dimensions
                .clone()
                .ok_or_else(|| bad(format!("{} without DIMENSIONS", info.dataset_type)))?;
            let points = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            info.points = points;
            info.cells = Some(structured_cells(&dims));
        }
        "UNSTRUCTURED_GRID" | "POLYDATA" => {
            info.points.get_or_insert(0);
            info.cells.get_or_insert(0);
        }
        _ => {}
    }
    Ok(info)
}

fn bad(detail: impl Into<String>) -> FormatError {
    FormatError::malformed(FORMAT, detail)
}

struct Parser<'a> {
    r: Reader,
    binary: bool,
    ctx: &'a Ctx<'a>,
    line: u64,
}

impl Parser<'_> {
    fn io(&self, e: std::io::Error) -> FormatError {
        FormatError::io(self.ctx.path, e)
    }

    /// The next non-blank line, split into words.
    fn keyword_line(&mut self) -> Result<Option<Vec<String>>, FormatError> {
        loop {
            let Some(line) = self.r.line().map_err(|e| self.io(e))? else {
                return Ok(None);
            };
            self.line += 1;
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            if !words.is_empty() {
                return Ok(Some(words));
            }
        }
    }

    /// Skips `count` values of type `ty`.
    fn skip_values(&mut self, count: u64, ty: &str, what: &str) -> Result<(), FormatError> {
        let (normal, size) = normalise_type(ty)
            .ok_or_else(|| bad(format!("line {}: unknown data type '{ty}'", self.line)))?;
        if self.binary {
            let bytes = match (normal, size) {
                ("bit", _) => count.div_ceil(8),
                (_, Some(size)) => count
                    .checked_mul(size)
                    .ok_or_else(|| bad(format!("line {}: {what} is too large", self.line)))?,
                (_, None) => {
                    return Err(FormatError::unsupported(
                        FORMAT,
                        format!("string arrays in BINARY files ({what})"),
                    ));
                }
            };
            let done = self.r.skip_bytes(bytes).map_err(|e| self.io(e))?;
            if done < bytes {
                return Err(bad(format!(
                    "truncated: the {what} data needs {bytes} bytes but the file ends after {done}"
                )));
            }
        } else {
            let numeric = normal != "string";
            let skipped = self.r.skip_tokens(count, numeric).map_err(|e| self.io(e))?;
            self.line += skipped.newlines;
            if let Some(token) = skipped.bad_token {
                return Err(bad(format!(
                    "line {}: '{token}' where a value of the {what} data was expected",
                    self.line
                )));
            }
            if skipped.seen < count {
                return Err(bad(format!(
                    "truncated: the {what} data ends after {} of {count} values",
                    skipped.seen
                )));
            }
        }
        Ok(())
    }

    /// `SCALARS` may be followed by a `LOOKUP_TABLE name` line.
    fn optional_lookup_table(&mut self) -> Result<(), FormatError> {
        if !self.binary {
            self.r.skip_whitespace().map_err(|e| self.io(e))?;
        }
        let path = self.ctx.path;
        let head = self.r.peek(12).map_err(|e| FormatError::io(path, e))?;
        if head.eq_ignore_ascii_case(b"LOOKUP_TABLE") {
            self.r.line().map_err(|e| self.io(e))?;
            self.line += 1;
        }
        Ok(())
    }

    /// `FIELD name n` followed by n array headers and their data.
    fn field(&mut self, words: &[String], out: &mut Vec<VtkArray>) -> Result<(), FormatError> {
        let n = words
            .get(2)
            .and_then(|w| w.parse::<u64>().ok())
            .ok_or_else(|| {
                bad(format!(
                    "line {}: FIELD needs a name and an array count",
                    self.line
                ))
            })?;
        for _ in 0..n {
            let header = self
                .keyword_line()?
                .ok_or_else(|| bad("truncated: the FIELD data ends early"))?;
            if header[0].eq_ignore_ascii_case("NULL_ARRAY") {
                continue;
            }
            if header[0].eq_ignore_ascii_case("METADATA") {
                self.skip_metadata()?;
                continue;
            }
            let (Some(comps), Some(tuples), Some(ty)) = (
                header.get(1).and_then(|w| w.parse::<u64>().ok()),
                header.get(2).and_then(|w| w.parse::<u64>().ok()),
                header.get(3),
            ) else {
                return Err(bad(format!(
                    "line {}: a FIELD array needs 'name components tuples type'",
                    self.line
                )));
            };
            let (data_type, _) = normalise_type(ty)
                .ok_or_else(|| bad(format!("line {}: unknown data type '{ty}'", self.line)))?;
            self.skip_values(comps.saturating_mul(tuples), ty, &header[0])?;
            out.push(VtkArray {
                name: header[0].clone(),
                role: Some("field".into()),
                data_type: data_type.into(),
                components: comps,
            });
        }
        Ok(())
    }

    /// A 5.1 `METADATA` block runs to the next blank line.
    fn skip_metadata(&mut self) -> Result<(), FormatError> {
        loop {
            match self.r.line().map_err(|e| self.io(e))? {
                None => return Ok(()),
                Some(l) => {
                    self.line += 1;
                    if l.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A buffered reader with lines, peeking and cheap skipping (shared with the XML scanner).
pub(crate) struct Reader {
    file: File,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
}

/// What [`Reader::skip_tokens`] found.
#[derive(Default)]
struct Skipped {
    seen: u64,
    newlines: u64,
    bad_token: Option<String>,
}

impl Reader {
    pub(crate) fn new(file: File) -> Self {
        Reader {
            file,
            buf: vec![0; 1 << 16],
            pos: 0,
            len: 0,
            eof: false,
        }
    }

    /// Refills the buffer; `false` at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.pos = 0;
        self.len = loop {
            match self.file.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if self.len == 0 {
            self.eof = true;
        }
        Ok(self.len > 0)
    }

    /// The next byte, consumed; `None` at the end of the file.
    pub(crate) fn next_byte(&mut self) -> std::io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    /// Consumes everything up to and including the next `byte`; `false` if the file ends first.
    pub(crate) fn skip_past(&mut self, byte: u8) -> std::io::Result<bool> {
        while self.fill()? {
            let chunk = &self.buf[self.pos..self.len];
            match chunk.iter().position(|&b| b == byte) {
                Some(i) => {
                    self.pos += i + 1;
                    return Ok(true);
                }
                None => self.pos = self.len,
            }
        }
        Ok(false)
    }

    /// Up to `n` bytes ahead, without consuming them.
    pub(crate) fn peek(&mut self, n: usize) -> std::io::Result<&[u8]> {
        let n = n.min(self.buf.len());
        if self.len - self.pos < n && !self.eof {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            while self.len < n {
                let got = self.file.read(&mut self.buf[self.len..])?;
                if got == 0 {
                    self.eof = true;
                    break;
                }
                self.len += got;
            }
        }
        let end = (self.pos + n).min(self.len);
        Ok(&self.buf[self.pos..end])
    }

    /// The next line without its newline (lossy UTF-8); `None` at the end of the file.
    fn line(&mut self) -> std::io::Result<Option<String>> {
        let mut out = Vec::new();
        loop {
            if !self.fill()? {
                return Ok(if out.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&out).into_owned())
                });
            }
            let chunk = &self.buf[self.pos..self.len];
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&chunk[..i]);
                    self.pos += i + 1;
                    if out.last() == Some(&b'\r') {
                        out.pop();
                    }
                    return Ok(Some(String::from_utf8_lossy(&out).into_owned()));
                }
                None => {
                    out.extend_from_slice(chunk);
                    self.pos = self.len;
                    if out.len() > MAX_LINE {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "a line longer than {MAX_LINE} bytes (binary data where text was expected?)"
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn skip_whitespace(&mut self) -> std::io::Result<()> {
        while self.fill()? {
            let chunk = &self.buf[self.pos..self.len];
            match chunk.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    self.pos += i;
                    return Ok(());
                }
                None => self.pos = self.len,
            }
        }
        Ok(())
    }

    /// Skips `n` whitespace-separated tokens. With `numeric`, stops at a token that
    /// cannot start a number (a keyword where data was expected).
    fn skip_tokens(&mut self, n: u64, numeric: bool) -> std::io::Result<Skipped> {
        let mut out = Skipped::default();
        let mut in_token = false;
        if n == 0 {
            return Ok(out);
        }
        while self.fill()? {
            let chunk = &self.buf[self.pos..self.len];
            for (i, &b) in chunk.iter().enumerate() {
                if b.is_ascii_whitespace() {
                    if b == b'\n' {
                        out.newlines += 1;
                    }
                    if in_token {
                        in_token = false;
                        out.seen += 1;
                        if out.seen == n {
                            self.pos += i;
                            return Ok(out);
                        }
                    }
                } else if !in_token {
                    in_token = true;
                    if numeric && !(b.is_ascii_digit() || b"+-.nNiI".contains(&b)) {
                        self.pos += i;
                        let token: String = self
                            .peek(32)?
                            .iter()
                            .take_while(|b| !b.is_ascii_whitespace())
                            .map(|&b| char::from(b))
                            .collect();
                        out.bad_token = Some(token);
                        return Ok(out);
                    }
                }
            }
            self.pos = self.len;
        }
        if in_token {
            out.seen += 1;
        }
        Ok(out)
    }

    /// Skips `n` bytes; returns how many were there.
    fn skip_bytes(&mut self, n: u64) -> std::io::Result<u64> {
        let mut left = n;
        while left > 0 {
            if !self.fill()? {
                break;
            }
            let avail = (self.len - self.pos) as u64;
            let take = avail.min(left);
            self.pos += take as usize;
            left -= take;
        }
        Ok(n - left)
    }
}
