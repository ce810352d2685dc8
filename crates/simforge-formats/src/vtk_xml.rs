//! VTK XML (`.vtu`, `.vti`, `.vtp`, `.vts`, `.vtr`, parallel `p*` forms, `.vtm`).
//!
//! A small streaming tag scanner reads only element names and attributes: text
//! (inline ASCII or base64 array data) is skipped without being buffered, and the
//! scan stops at `<AppendedData>`, whose raw binary payload is not XML. So a
//! gigabyte file is described in bounded memory, and no array is decoded.
//! Nesting is checked (every element closed by its own end tag), which is what
//! catches a truncated or corrupt file.

use std::collections::HashMap;
use std::fs::File;

use crate::vtk::{Reader, VtkArray, VtkInfo, normalise_type, structured_cells};
use crate::{Ctx, Format, FormatError};

const FORMAT: Format = Format::VtkXml;
/// Longest tag (name plus attributes) accepted.
const MAX_TAG: usize = 64 * 1024;
/// Deepest element nesting accepted.
const MAX_NESTING: usize = 256;

fn bad(detail: impl Into<String>) -> FormatError {
    FormatError::malformed(FORMAT, detail)
}

/// One start tag.
struct Tag {
    name: String,
    attrs: HashMap<String, String>,
    self_closing: bool,
}

enum Event {
    Start(Tag),
    End(String),
}

struct Scanner {
    r: Reader,
}

impl Scanner {
    /// The next start or end tag; `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Event>, String> {
        loop {
            if !self.r.skip_past(b'<').map_err(|e| e.to_string())? {
                return Ok(None);
            }
            let head = self.r.peek(9).map_err(|e| e.to_string())?.to_vec();
            if head.starts_with(b"?") {
                self.skip_to(b"?>", "a processing instruction")?;
            } else if head.starts_with(b"!--") {
                self.skip_to(b"-->", "a comment")?;
            } else if head.starts_with(b"![CDATA[") {
                self.skip_to(b"]]>", "a CDATA section")?;
            } else if head.starts_with(b"!") {
                self.skip_to(b">", "a declaration")?;
            } else {
                let raw = self.tag_text()?;
                return parse_tag(&raw).map(Some);
            }
        }
    }

    /// Consumes up to and including `end`.
    fn skip_to(&mut self, end: &[u8], what: &str) -> Result<(), String> {
        let mut window: Vec<u8> = Vec::with_capacity(end.len());
        loop {
            match self.r.next_byte().map_err(|e| e.to_string())? {
                None => return Err(format!("truncated: the file ends inside {what}")),
                Some(b) => {
                    if window.len() == end.len() {
                        window.remove(0);
                    }
                    window.push(b);
                    if window == end {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The text of a tag after `<`, up to (not including) its `>`, honouring quotes.
    fn tag_text(&mut self) -> Result<String, String> {
        let mut raw = Vec::new();
        let mut quote: Option<u8> = None;
        loop {
            let Some(b) = self.r.next_byte().map_err(|e| e.to_string())? else {
                return Err("truncated: the file ends inside a tag".into());
            };
            match (quote, b) {
                (None, b'>') => break,
                (None, b'"' | b'\'') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None, b'<') => return Err("a '<' inside a tag".into()),
                _ => {}
            }
            raw.push(b);
            if raw.len() > MAX_TAG {
                return Err(format!("a tag longer than {MAX_TAG} bytes"));
            }
        }
        String::from_utf8(raw).map_err(|_| "a tag that is not UTF-8".to_string())
    }
}

fn parse_tag(raw: &str) -> Result<Event, String> {
    if let Some(rest) = raw.strip_prefix('/') {
        let name = rest.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("a malformed end tag '</{rest}>'"));
        }
        return Ok(Event::End(name.to_string()));
    }
    let (body, self_closing) = match raw.strip_suffix('/') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
    let name = &body[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(format!("a malformed tag '<{}>'", truncate(raw, 40)));
    }
    let mut attrs = HashMap::new();
    let mut rest = body[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("an attribute without a value in <{name}>"))?;
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("a malformed attribute in <{name}>"));
        }
        let after = rest[eq + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| format!("an unquoted attribute value in <{name}>"))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| format!("an unterminated attribute value in <{name}>"))?;
        let value = unescape(&after[1..1 + close]);
        attrs.insert(key.to_string(), value);
        rest = after[close + 2..].trim_start();
    }
    Ok(Event::Start(Tag {
        name: name.to_string(),
        attrs,
        self_closing,
    }))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Decodes the five predefined entities and numeric character references.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| e.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where an array was found.
#[derive(Clone, Copy, PartialEq)]
enum Section {
    Point,
    Cell,
    Field,
}

fn section_of(name: &str) -> Option<Section> {
    match name {
        "PointData" | "PPointData" => Some(Section::Point),
        "CellData" | "PCellData" => Some(Section::Cell),
        "FieldData" => Some(Section::Field),
        _ => None,
    }
}

/// `x0 x1 y0 y1 z0 z1` → points along each axis.
fn extent_dims(extent: &str) -> Result<Vec<u64>, String> {
    let v: Vec<i64> = extent
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("a malformed extent '{extent}'"))?;
    if v.len() != 6 {
        return Err(format!(
            "an extent of {} numbers, not 6: '{extent}'",
            v.len()
        ));
    }
    v.chunks(2)
        .map(|p| {
            p[1].checked_sub(p[0])
                .and_then(|d| d.checked_add(1))
                .and_then(|d| u64::try_from(d).ok())
                .ok_or_else(|| format!("an inverted extent '{extent}'"))
        })
        .collect()
}

fn count_attr(tag: &Tag, key: &str) -> Result<Option<u64>, String> {
    tag.attrs
        .get(key)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("<{}> has a malformed {key}=\"{v}\"", tag.name))
        })
        .transpose()
}

pub(crate) fn describe(ctx: &Ctx<'_>) -> Result<VtkInfo, FormatError> {
    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut scanner = Scanner {
        r: Reader::new(file),
    };
    describe_from(&mut scanner).map_err(bad)
}

fn describe_from(scanner: &mut Scanner) -> Result<VtkInfo, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut info = VtkInfo {
        dataset_type: String::new(),
        version: String::new(),
        encoding: String::new(),
        title: None,
        points: None,
        cells: None,
        dimensions: None,
        point_data: Vec::new(),
        cell_data: Vec::new(),
        field_data: Vec::new(),
        pieces: None,
        compressor: None,
    };
    let mut seen_root = false;
    let mut formats: Vec<String> = Vec::new();
    let mut roles: HashMap<(u8, String), String> = HashMap::new();
    let mut points: Option<u64> = None;
    let mut cells: Option<u64> = None;
    let mut pieces = 0u64;
    let mut appended = false;

    while let Some(event) = scanner.next()? {
        let tag = match event {
            Event::End(name) => {
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => {
                        return Err(format!("</{name}> closes <{open}>"));
                    }
                    None => return Err(format!("</{name}> without an open element")),
                }
                if stack.is_empty() {
                    break;
                }
                continue;
            }
            Event::Start(tag) => tag,
        };
        if !seen_root {
            if tag.name != "VTKFile" {
                return Err(format!("the root element is <{}>, not <VTKFile>", tag.name));
            }
            seen_root = true;
            info.dataset_type = tag
                .attrs
                .get("type")
                .cloned()
                .ok_or("<VTKFile> has no type attribute")?;
            info.version = tag.attrs.get("version").cloned().unwrap_or_default();
            info.compressor = tag.attrs.get("compressor").cloned();
        } else if stack.is_empty() {
            return Err(format!("<{}> after the root element", tag.name));
        }
        let parent = stack.last().map(String::as_str).unwrap_or("");
        let parent_section = section_of(parent);
        match tag.name.as_str() {
            "AppendedData" => {
                appended = true;
                break;
            }
            name if name == info.dataset_type && parent == "VTKFile" => {
                if let Some(extent) = tag.attrs.get("WholeExtent") {
                    info.dimensions = Some(extent_dims(extent)?);
                }
            }
            "Piece" => {
                pieces += 1;
                let add = |slot: &mut Option<u64>, n: u64| {
                    *slot = Some(slot.unwrap_or(0).saturating_add(n));
                };
                if let Some(extent) = tag.attrs.get("Extent") {
                    let dims = extent_dims(extent)?;
                    add(&mut points, dims.iter().product());
                    add(&mut cells, structured_cells(&dims));
                }
                if let Some(n) = count_attr(&tag, "NumberOfPoints")? {
                    add(&mut points, n);
                }
                for key in [
                    "NumberOfCells",
                    "NumberOfVerts",
                    "NumberOfLines",
                    "NumberOfStrips",
                    "NumberOfPolys",
                ] {
                    if let Some(n) = count_attr(&tag, key)? {
                        add(&mut cells, n);
                    }
                }
            }
            "DataSet" if info.dataset_type == "vtkMultiBlockDataSet" => pieces += 1,
            name if section_of(name).is_some() => {
                let section = section_of(name).unwrap_or(Section::Field) as u8;
                for role in ["Scalars", "Vectors", "Normals", "Tensors", "TCoords"] {
                    if let Some(array) = tag.attrs.get(role) {
                        roles.insert((section, array.clone()), role.to_ascii_lowercase());
                    }
                }
            }
            "DataArray" | "PDataArray" => {
                if let Some(f) = tag.attrs.get("format")
                    && !formats.contains(f)
                {
                    formats.push(f.clone());
                }
                if let Some(section) = parent_section {
                    let name = tag.attrs.get("Name").cloned().unwrap_or_default();
                    let ty = tag
                        .attrs
                        .get("type")
                        .ok_or_else(|| format!("DataArray '{name}' has no type"))?;
                    let (data_type, _) = normalise_type(ty)
                        .ok_or_else(|| format!("DataArray '{name}' has an unknown type '{ty}'"))?;
                    let components = count_attr(&tag, "NumberOfComponents")?.unwrap_or(1);
                    let list = match section {
                        Section::Point => &mut info.point_data,
                        Section::Cell => &mut info.cell_data,
                        Section::Field => &mut info.field_data,
                    };
                    // Multi-piece files repeat each array once per piece.
                    if !list.iter().any(|a| a.name == name) {
                        list.push(VtkArray {
                            role: roles.get(&(section as u8, name.clone())).cloned(),
                            name,
                            data_type: data_type.to_string(),
                            components,
                        });
                    }
                }
            }
            _ => {}
        }
        if !tag.self_closing {
            if stack.len() >= MAX_NESTING {
                return Err(format!("elements nested deeper than {MAX_NESTING}"));
            }
            stack.push(tag.name);
        }
    }
    if !seen_root {
        return Err("no <VTKFile> element (empty or not XML)".into());
    }
    if !appended && !stack.is_empty() {
        return Err(format!(
            "truncated: the file ends inside <{}>",
            stack.last().map(String::as_str).unwrap_or("")
        ));
    }
    if pieces > 0 {
        info.pieces = Some(pieces);
    }
    // Pieces of a structured grid share their boundary points: the whole extent is exact.
    if let Some(dims) = &info.dimensions {
        points = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        cells = Some(structured_cells(dims));
    }
    info.points = points;
    info.cells = cells;
    info.encoding = match formats.len() {
        0 => "none".into(),
        1 => formats.remove(0),
        _ => "mixed".into(),
    };
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags() {
        let Ok(Event::Start(t)) =
            parse_tag("DataArray type=\"Float32\" Name='a &amp; b' NumberOfComponents=\"3\"/")
        else {
            panic!("not a start tag");
        };
        assert_eq!(t.name, "DataArray");
        assert!(t.self_closing);
        assert_eq!(t.attrs["Name"], "a & b");
        assert_eq!(t.attrs["NumberOfComponents"], "3");
        assert!(matches!(parse_tag("/Piece"), Ok(Event::End(n)) if n == "Piece"));
        assert!(parse_tag("a b").is_err());
        assert!(parse_tag("a b=c").is_err());
        assert!(parse_tag("a b=\"c").is_err());
        assert!(parse_tag("").is_err());
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape("a&lt;b&#65;&#x42;&bogus;"), "a<bAB&bogus;");
        assert_eq!(unescape("&"), "&");
    }

    #[test]
    fn extents() {
        assert_eq!(extent_dims("0 9 0 4 0 0").unwrap(), vec![10, 5, 1]);
        assert!(extent_dims("0 9 0 4").is_err());
        assert!(extent_dims("5 1 0 0 0 0").is_err());
        assert_eq!(structured_cells(&[10, 5, 1]), 36);
    }
}
