//! NumPy `.npy` and `.npz`: dtype, shape and memory order from the array headers.
//!
//! An `.npy` header is a Python dict literal (`{'descr': '<f8', 'fortran_order':
//! False, 'shape': (3, 4), }`), parsed here by a small literal parser that accepts
//! format versions 1.0, 2.0 and 3.0. Array data is never read; its length is only
//! checked against what the header promises, to catch truncated files. An `.npz`
//! is a zip of `.npy` members: only each member's header is decompressed.

use std::fs::File;
use std::io::{BufReader, Read};

use serde::{Deserialize, Serialize};

use crate::{Ctx, Format, FormatError};

/// The first six bytes of every `.npy` file.
pub(crate) const MAGIC: &[u8] = b"\x93NUMPY";
use crate::limits::{NPY_MAX_HEADER as MAX_HEADER, NPZ_MAX_MEMBERS as MAX_NPZ_MEMBERS};
/// Deepest nesting accepted in a header literal.
const MAX_LITERAL_DEPTH: usize = 32;

/// One NumPy array's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpyArray {
    /// For an `.npz` member: the array's name (the member name without `.npy`).
    /// Absent for a lone `.npy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The header's `descr` as written: a type string such as `<f8`, or for a
    /// structured dtype its list of fields in Python syntax.
    pub descr: String,
    /// A readable dtype name: `float64`, `int32`, `bool`, `complex128`, `str32`
    /// (32 characters), `bytes5`, `datetime64[ns]`, `object`, or
    /// `struct{x: float32, y: int32[2]}`.
    pub dtype: String,
    /// Whether the data is stored in column-major (Fortran) order.
    pub fortran_order: bool,
    /// The array's dimensions; empty for a 0-d array.
    pub shape: Vec<u64>,
    /// The number of elements (the product of `shape`; 1 for a 0-d array).
    pub element_count: u64,
    /// Bytes per element; absent for `object` arrays, whose data is pickled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_size: Option<u64>,
    /// The `.npy` format version, `"1.0"`, `"2.0"` or `"3.0"`.
    pub version: String,
}

/// What an `.npz` archive holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NpzInfo {
    /// One entry per `.npy` member, in archive order.
    pub arrays: Vec<NpyArray>,
    /// Members that are not `.npy` files (directories, stray files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_members: Vec<String>,
}

pub(crate) fn describe_npy(ctx: &Ctx<'_>) -> Result<NpyArray, FormatError> {
    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut reader = BufReader::new(file);
    let (array, header_len) = read_header(&mut reader, Format::Npy)?;
    check_data_len(
        &array,
        ctx.size.saturating_sub(header_len),
        Format::Npy,
        None,
    )?;
    Ok(array)
}

pub(crate) fn describe_npz(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Result<NpzInfo, FormatError> {
    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        FormatError::malformed(Format::Npz, format!("not a readable zip archive: {e}"))
    })?;
    let mut arrays = Vec::new();
    let mut other_members = Vec::new();
    let count = archive.len();
    if count > MAX_NPZ_MEMBERS {
        notes.push(format!(
            "the archive has {count} members; the first {MAX_NPZ_MEMBERS} are described"
        ));
    }
    for i in 0..count.min(MAX_NPZ_MEMBERS) {
        let mut member = match archive.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                return Err(FormatError::malformed(
                    Format::Npz,
                    format!("member #{i} cannot be read: {e}"),
                ));
            }
        };
        let member_name = member
            .name()
            .map_err(|e| {
                FormatError::malformed(Format::Npz, format!("member #{i} has a bad name: {e}"))
            })?
            .into_owned();
        let Some(array_name) = member_name.strip_suffix(".npy") else {
            other_members.push(member_name);
            continue;
        };
        if member.is_dir() {
            other_members.push(member_name);
            continue;
        }
        let uncompressed = member.size();
        let (mut array, header_len) =
            read_header(&mut member, Format::Npz).map_err(|e| prefix_error(e, &member_name))?;
        array.name = Some(array_name.to_string());
        check_data_len(
            &array,
            uncompressed.saturating_sub(header_len),
            Format::Npz,
            Some(&member_name),
        )?;
        arrays.push(array);
    }
    Ok(NpzInfo {
        arrays,
        other_members,
    })
}

fn prefix_error(e: FormatError, member: &str) -> FormatError {
    match e {
        FormatError::Malformed { format, detail } => {
            FormatError::malformed(format, format!("member {member}: {detail}"))
        }
        FormatError::Unsupported { format, detail } => {
            FormatError::unsupported(format, format!("member {member}: {detail}"))
        }
        other => other,
    }
}

/// Whether `head` starts like a zip archive (a local file header or an empty archive).
pub(crate) fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Whether the first local file header of a zip names a `.npy` member.
pub(crate) fn first_zip_entry_is_npy(head: &[u8]) -> bool {
    let Some(len) = head
        .get(26..28)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    else {
        return false;
    };
    head.get(30..30 + len).is_some_and(|n| n.ends_with(b".npy"))
}

/// Reads the magic, version and header dict; returns the array and the header's total length.
fn read_header(reader: &mut impl Read, format: Format) -> Result<(NpyArray, u64), FormatError> {
    let mut preamble = [0u8; 8];
    read_exact(reader, &mut preamble, format, "the 8-byte preamble")?;
    if &preamble[..6] != MAGIC {
        return Err(FormatError::malformed(
            format,
            "missing the \\x93NUMPY magic at the start",
        ));
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let (len_bytes, utf8) = match major {
        1 => (2usize, false),
        2 => (4, false),
        3 => (4, true),
        v => {
            return Err(FormatError::unsupported(
                format,
                format!("format version {v}.{minor} (known: 1.0, 2.0, 3.0)"),
            ));
        }
    };
    let mut len_buf = [0u8; 4];
    read_exact(
        reader,
        &mut len_buf[..len_bytes],
        format,
        "the header length",
    )?;
    let header_len = u64::from(u32::from_le_bytes(len_buf));
    if header_len > MAX_HEADER {
        return Err(FormatError::malformed(
            format,
            format!("header length {header_len} exceeds the {MAX_HEADER}-byte limit"),
        ));
    }
    let mut raw = vec![0u8; header_len as usize];
    read_exact(reader, &mut raw, format, "the header")?;
    let text = if utf8 {
        String::from_utf8(raw)
            .map_err(|_| FormatError::malformed(format, "a version 3.0 header is not UTF-8"))?
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let dict = Parser::new(&text, format)
        .parse_all()
        .map_err(|detail| FormatError::malformed(format, format!("header {detail}")))?;
    let mut array = array_from_dict(&dict, format)?;
    array.version = format!("{major}.{minor}");
    Ok((array, 6 + 2 + len_bytes as u64 + header_len))
}

fn read_exact(
    reader: &mut impl Read,
    buf: &mut [u8],
    format: Format,
    what: &str,
) -> Result<(), FormatError> {
    reader.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FormatError::malformed(format, format!("truncated: the file ends inside {what}"))
        } else {
            FormatError::malformed(format, format!("cannot read {what}: {e}"))
        }
    })
}

fn check_data_len(
    array: &NpyArray,
    available: u64,
    format: Format,
    member: Option<&str>,
) -> Result<(), FormatError> {
    let Some(item) = array.item_size else {
        return Ok(());
    };
    let needed = array.element_count.checked_mul(item).ok_or_else(|| {
        FormatError::malformed(format, "the data size (elements × item size) overflows")
    })?;
    if available < needed {
        let whose = member.map(|m| format!("member {m}: ")).unwrap_or_default();
        return Err(FormatError::malformed(
            format,
            format!(
                "{whose}truncated: the header promises {needed} bytes of data ({} elements of {item} bytes) but {available} follow",
                array.element_count
            ),
        ));
    }
    Ok(())
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, Clone, PartialEq)]
enum Py {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    Tuple(Vec<Py>),
    List(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

impl Py {
    fn render(&self) -> String {
        match self {
            Py::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Py::Int(i) => i.to_string(),
            Py::Bool(true) => "True".into(),
            Py::Bool(false) => "False".into(),
            Py::None => "None".into(),
            Py::Tuple(items) if items.len() == 1 => format!("({},)", items[0].render()),
            Py::Tuple(items) => format!("({})", join(items)),
            Py::List(items) => format!("[{}]", join(items)),
            Py::Dict(pairs) => format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.render(), v.render()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn join(items: &[Py]) -> String {
    items.iter().map(Py::render).collect::<Vec<_>>().join(", ")
}

fn array_from_dict(dict: &Py, format: Format) -> Result<NpyArray, FormatError> {
    let bad = |detail: &str| FormatError::malformed(format, format!("header {detail}"));
    let Py::Dict(pairs) = dict else {
        return Err(bad("is not a dict literal"));
    };
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| matches!(k, Py::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let descr = get("descr").ok_or_else(|| bad("has no 'descr' key"))?;
    let fortran_order = match get("fortran_order") {
        Some(Py::Bool(b)) => *b,
        Some(_) => return Err(bad("'fortran_order' is not True or False")),
        None => return Err(bad("has no 'fortran_order' key")),
    };
    let shape = match get("shape") {
        Some(Py::Tuple(dims)) => dims
            .iter()
            .map(|d| match d {
                Py::Int(n) => Ok(*n),
                _ => Err(bad("'shape' holds something other than integers")),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        Some(_) => return Err(bad("'shape' is not a tuple")),
        None => return Err(bad("has no 'shape' key")),
    };
    let element_count = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("'shape' has more elements than fit in 64 bits"))?;
    let (dtype, item_size) = dtype_of(descr, 0).map_err(|detail| bad(&detail))?;
    let descr = match descr {
        Py::Str(s) => s.clone(),
        other => other.render(),
    };
    Ok(NpyArray {
        name: None,
        descr,
        dtype,
        fortran_order,
        shape,
        element_count,
        item_size,
        version: String::new(),
    })
}

/// A readable name and the item size for a `descr` value (a type string or a list of fields).
fn dtype_of(descr: &Py, depth: usize) -> Result<(String, Option<u64>), String> {
    if depth > MAX_LITERAL_DEPTH {
        return Err("'descr' is nested too deeply".into());
    }
    match descr {
        Py::Str(s) => typestr(s),
        Py::List(fields) => {
            let mut names = Vec::new();
            let mut size = Some(0u64);
            for field in fields {
                let Py::Tuple(parts) = field else {
                    return Err("a structured 'descr' field is not a tuple".into());
                };
                let (name, ty, sub) = match parts.as_slice() {
                    [n, t] => (n, t, None),
                    [n, t, s] => (n, t, Some(s)),
                    _ => {
                        return Err(
                            "a structured 'descr' field is not (name, type[, shape])".into()
                        );
                    }
                };
                let name = match name {
                    Py::Str(s) => s.clone(),
                    // (title, name)
                    Py::Tuple(t) => match t.as_slice() {
                        [_, Py::Str(s)] => s.clone(),
                        _ => return Err("a structured field's name is malformed".into()),
                    },
                    _ => return Err("a structured field's name is not a string".into()),
                };
                let (inner, inner_size) = dtype_of(ty, depth + 1)?;
                let (dims, count) = match sub {
                    None => (String::new(), 1u64),
                    Some(Py::Int(n)) => (format!("[{n}]"), *n),
                    Some(Py::Tuple(ds)) => {
                        let mut count = 1u64;
                        let mut text = Vec::new();
                        for d in ds {
                            let Py::Int(n) = d else {
                                return Err("a structured field's shape is not integers".into());
                            };
                            count = count.checked_mul(*n).ok_or("a field shape overflows")?;
                            text.push(n.to_string());
                        }
                        (format!("[{}]", text.join(", ")), count)
                    }
                    Some(_) => return Err("a structured field's shape is malformed".into()),
                };
                size = match (size, inner_size) {
                    (Some(total), Some(s)) => {
                        s.checked_mul(count).and_then(|b| total.checked_add(b))
                    }
                    _ => None,
                };
                if !name.is_empty() {
                    names.push(format!("{name}: {inner}{dims}"));
                }
            }
            Ok((format!("struct{{{}}}", names.join(", ")), size))
        }
        _ => Err("'descr' is neither a type string nor a list of fields".into()),
    }
}

/// Decodes a NumPy type string such as `<f8`, `|b1`, `<U10`, `<M8[ns]`.
fn typestr(s: &str) -> Result<(String, Option<u64>), String> {
    let body = s.strip_prefix(['<', '>', '|', '=']).unwrap_or(s);
    let mut chars = body.chars();
    let kind = chars
        .next()
        .ok_or_else(|| format!("dtype '{s}' is empty"))?;
    let rest = chars.as_str();
    let (digits, unit) = match rest.find('[') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let size: Option<u64> = if digits.is_empty() {
        None
    } else {
        Some(
            digits
                .parse()
                .map_err(|_| format!("dtype '{s}' has a malformed size"))?,
        )
    };
    let need = |size: Option<u64>| size.ok_or_else(|| format!("dtype '{s}' lacks a size"));
    let bits = |n: u64| n.saturating_mul(8);
    Ok(match kind {
        'b' => ("bool".into(), Some(need(size)?)),
        'i' => (format!("int{}", bits(need(size)?)), size),
        'u' => (format!("uint{}", bits(need(size)?)), size),
        'f' => (format!("float{}", bits(need(size)?)), size),
        'c' => (format!("complex{}", bits(need(size)?)), size),
        'S' | 'a' => (format!("bytes{}", need(size)?), size),
        'U' => {
            let n = need(size)?;
            (format!("str{n}"), Some(n.saturating_mul(4)))
        }
        'V' => (format!("void{}", need(size)?), size),
        'O' => ("object".into(), None),
        'M' | 'm' => {
            let base = if kind == 'M' {
                "datetime64"
            } else {
                "timedelta64"
            };
            (format!("{base}{}", unit.unwrap_or("")), Some(need(size)?))
        }
        _ => return Err(format!("dtype '{s}' has an unknown kind '{kind}'")),
    })
}

/// A recursive-descent parser for the Python literals in `.npy` headers.
struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, _format: Format) -> Self {
        Parser {
            chars: text.char_indices().peekable(),
            depth: 0,
        }
    }

    fn parse_all(mut self) -> Result<Py, String> {
        let value = self.value()?;
        self.skip_ws();
        match self.chars.next() {
            None => Ok(value),
            Some((i, c)) => Err(format!("has unexpected '{c}' at offset {i} after the dict")),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }

    fn expect_end(&mut self) -> String {
        match self.chars.peek() {
            Some((i, c)) => format!("has unexpected '{c}' at offset {i}"),
            None => "ends early (truncated?)".to_string(),
        }
    }

    fn value(&mut self) -> Result<Py, String> {
        self.skip_ws();
        let Some(&(_, c)) = self.chars.peek() else {
            return Err("ends early (truncated?)".into());
        };
        match c {
            '\'' | '"' => self.string(),
            '(' | '[' | '{' => {
                self.depth += 1;
                if self.depth > MAX_LITERAL_DEPTH {
                    return Err("is nested too deeply".into());
                }
                let v = self.collection(c);
                self.depth -= 1;
                v
            }
            c if c.is_ascii_digit() => self.int(),
            c if c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while let Some((_, c)) = self.chars.next_if(|(_, c)| c.is_ascii_alphanumeric()) {
                    word.push(c);
                }
                match word.as_str() {
                    "True" => Ok(Py::Bool(true)),
                    "False" => Ok(Py::Bool(false)),
                    "None" => Ok(Py::None),
                    _ => Err(format!("has an unknown name '{word}'")),
                }
            }
            _ => Err(self.expect_end()),
        }
    }

    fn int(&mut self) -> Result<Py, String> {
        let mut n: u64 = 0;
        while let Some((_, c)) = self.chars.next_if(|(_, c)| c.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c as u8 - b'0')))
                .ok_or("has an integer too large for 64 bits")?;
        }
        // Python 2 longs: `3L`.
        self.chars.next_if(|(_, c)| *c == 'L' || *c == 'l');
        Ok(Py::Int(n))
    }

    fn string(&mut self) -> Result<Py, String> {
        let Some((_, quote)) = self.chars.next() else {
            return Err("ends early (truncated?)".into());
        };
        let mut s = String::new();
        loop {
            match self.chars.next() {
                None => return Err("ends inside a string (truncated?)".into()),
                Some((_, c)) if c == quote => return Ok(Py::Str(s)),
                Some((_, '\\')) => match self.chars.next() {
                    None => return Err("ends inside a string (truncated?)".into()),
                    Some((_, 'n')) => s.push('\n'),
                    Some((_, 't')) => s.push('\t'),
                    Some((_, c)) => s.push(c),
                },
                Some((_, c)) => s.push(c),
            }
        }
    }

    fn collection(&mut self, open: char) -> Result<Py, String> {
        self.chars.next();
        let close = match open {
            '(' => ')',
            '[' => ']',
            _ => '}',
        };
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_ws();
            if self.chars.next_if(|(_, c)| *c == close).is_some() {
                break;
            }
            if open == '{' {
                let key = self.value()?;
                self.skip_ws();
                if self.chars.next_if(|(_, c)| *c == ':').is_none() {
                    return Err(format!("{} where ':' was expected", self.expect_end()));
                }
                let value = self.value()?;
                pairs.push((key, value));
            } else {
                items.push(self.value()?);
            }
            self.skip_ws();
            trailing_comma = false;
            if self.chars.next_if(|(_, c)| *c == ',').is_some() {
                trailing_comma = true;
                continue;
            }
            if self.chars.next_if(|(_, c)| *c == close).is_some() {
                break;
            }
            return Err(format!(
                "{} where ',' or '{close}' was expected",
                self.expect_end()
            ));
        }
        Ok(match open {
            '(' if items.len() == 1 && !trailing_comma => items.pop().unwrap_or(Py::None),
            '(' => Py::Tuple(items),
            '[' => Py::List(items),
            _ => Py::Dict(pairs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Py, String> {
        Parser::new(text, Format::Npy).parse_all()
    }

    #[test]
    fn parses_header_literals() {
        let d = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }").unwrap();
        let a = array_from_dict(&d, Format::Npy).unwrap();
        assert_eq!(a.descr, "<f8");
        assert_eq!(a.dtype, "float64");
        assert_eq!(a.shape, vec![3, 4]);
        assert_eq!(a.element_count, 12);
        assert_eq!(a.item_size, Some(8));
        assert!(!a.fortran_order);

        let d = parse("{'descr': '|b1', 'fortran_order': True, 'shape': (5,), }").unwrap();
        let a = array_from_dict(&d, Format::Npy).unwrap();
        assert_eq!(
            (a.dtype.as_str(), a.shape.clone(), a.fortran_order),
            ("bool", vec![5], true)
        );

        let d = parse("{'descr': '<i8', 'fortran_order': False, 'shape': (), }").unwrap();
        let a = array_from_dict(&d, Format::Npy).unwrap();
        assert_eq!((a.shape.len(), a.element_count), (0, 1));

        // Python 2 longs and double quotes.
        let d =
            parse("{\"descr\": \">u2\", \"fortran_order\": False, \"shape\": (2L, 3L)}").unwrap();
        let a = array_from_dict(&d, Format::Npy).unwrap();
        assert_eq!((a.dtype.as_str(), a.shape.clone()), ("uint16", vec![2, 3]));
    }

    #[test]
    fn structured_dtypes() {
        let d = parse(
            "{'descr': [('x', '<f4'), ('y', '<i4', (2,)), ('', '|V4')], 'fortran_order': False, 'shape': (7,), }",
        )
        .unwrap();
        let a = array_from_dict(&d, Format::Npy).unwrap();
        assert_eq!(a.dtype, "struct{x: float32, y: int32[2]}");
        assert_eq!(a.descr, "[('x', '<f4'), ('y', '<i4', (2,)), ('', '|V4')]");
        assert_eq!(a.item_size, Some(4 + 8 + 4));
    }

    #[test]
    fn typestrs() {
        assert_eq!(typestr("<U10").unwrap(), ("str10".into(), Some(40)));
        assert_eq!(typestr("|S5").unwrap(), ("bytes5".into(), Some(5)));
        assert_eq!(
            typestr("<M8[ns]").unwrap(),
            ("datetime64[ns]".into(), Some(8))
        );
        assert_eq!(typestr("|O").unwrap(), ("object".into(), None));
        assert_eq!(typestr("<c16").unwrap(), ("complex128".into(), Some(16)));
        assert!(typestr("<q8").is_err());
        assert!(typestr("<f").is_err());
        assert!(typestr("").is_err());
    }

    #[test]
    fn rejects_bad_literals() {
        for bad in [
            "",
            "{",
            "{'descr': '<f8'",
            "{'descr' '<f8'}",
            "{'a': 99999999999999999999999}",
            "{'a': foo}",
            "{'a': 'x'} extra",
            &"(".repeat(100),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        let d = parse("{'descr': '<f8', 'shape': (3,)}").unwrap();
        assert!(array_from_dict(&d, Format::Npy).is_err());
        let d = parse("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}").unwrap();
        assert!(array_from_dict(&d, Format::Npy).is_err());
    }
}
