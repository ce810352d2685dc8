//! CSV: delimiter, header, row count and per-column inferred type and null count.
//!
//! The file is streamed record by record with the `csv` crate, so memory stays
//! bounded by the widest record whatever the file's size.

use std::fs::File;
use std::io::BufReader;

use serde::{Deserialize, Serialize};

use crate::{Ctx, Format, FormatError};

/// What a CSV file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvInfo {
    /// The field separator: `,`, `;` or a tab, sniffed from the first lines.
    pub delimiter: char,
    /// Whether the first record names the columns. It is taken as a header unless
    /// every one of its fields is a number.
    pub has_header: bool,
    /// Data records, not counting the header.
    pub rows: u64,
    /// One entry per column, in file order.
    pub columns: Vec<CsvColumn>,
}

/// One CSV column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvColumn {
    /// The header's name for it, or `column_N` (1-based) without a header or for a blank one.
    pub name: String,
    /// The narrowest type every non-null value fits.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Values that are empty or a null token (`NA`, `N/A`, `null`, `None`, any case).
    pub nulls: u64,
}

/// The inferred type of a CSV column.
///
/// Integers widen to floats; any other mix is a string. Null values do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Every value was null (or there were no rows).
    Empty,
    /// `true` / `false`, any case.
    Boolean,
    /// Optionally signed decimal digits (any magnitude).
    Integer,
    /// Anything Rust's `f64` parser takes (`1.5`, `-2e3`, `nan`, `inf`) and integers.
    Float,
    /// Anything else.
    String,
}

impl ColumnType {
    fn merge(self, other: ColumnType) -> ColumnType {
        use ColumnType::*;
        match (self, other) {
            (Empty, x) | (x, Empty) => x,
            (a, b) if a == b => a,
            (Integer, Float) | (Float, Integer) => Float,
            _ => String,
        }
    }
}

const CANDIDATES: [u8; 3] = [b',', b'\t', b';'];
/// Records of the head used to choose the delimiter.
const SNIFF_RECORDS: usize = 50;

pub(crate) fn describe(ctx: &Ctx<'_>) -> Result<CsvInfo, FormatError> {
    if let Some(pos) = ctx.head.iter().position(|&b| b == 0) {
        return Err(FormatError::malformed(
            Format::Csv,
            format!("binary data (a NUL byte at offset {pos}); not a text file"),
        ));
    }
    let prefer_tab = matches!(crate::extension(ctx.name).as_str(), "tsv" | "tab");
    let delimiter = sniff_delimiter(ctx.head, ctx.head.len() as u64 == ctx.size, prefer_tab);

    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(false)
        .from_reader(BufReader::with_capacity(1 << 16, file));

    let mut record = ::csv::ByteRecord::new();
    let mut columns: Vec<CsvColumn> = Vec::new();
    let mut has_header = true;
    let mut rows = 0u64;
    let mut first = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(ctx, e)),
        }
        if first {
            first = false;
            let fields: Vec<String> = record
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let f = if i == 0 {
                        f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
                    } else {
                        f
                    };
                    String::from_utf8_lossy(f).trim().to_string()
                })
                .collect();
            has_header = !fields.iter().all(|f| {
                matches!(
                    classify(f.as_bytes()),
                    Some(ColumnType::Integer | ColumnType::Float)
                )
            });
            columns = fields
                .iter()
                .enumerate()
                .map(|(i, f)| CsvColumn {
                    name: if has_header && !f.is_empty() {
                        f.clone()
                    } else {
                        format!("column_{}", i + 1)
                    },
                    kind: ColumnType::Empty,
                    nulls: 0,
                })
                .collect();
            if has_header {
                continue;
            }
        }
        rows += 1;
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            match classify(field) {
                None => column.nulls += 1,
                Some(kind) => column.kind = column.kind.merge(kind),
            }
        }
    }
    Ok(CsvInfo {
        delimiter: char::from(delimiter),
        has_header,
        rows,
        columns,
    })
}

fn csv_error(ctx: &Ctx<'_>, e: ::csv::Error) -> FormatError {
    let line = e.position().map(|p| p.line());
    match e.into_kind() {
        ::csv::ErrorKind::Io(io) => FormatError::io(ctx.path, io),
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => FormatError::malformed(
            Format::Csv,
            format!(
                "the record on line {} has {len} fields where the first record has {expected_len}",
                line.unwrap_or(0)
            ),
        ),
        other => FormatError::malformed(Format::Csv, format!("{other:?}")),
    }
}

/// The type of one field, or `None` for a null.
fn classify(field: &[u8]) -> Option<ColumnType> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return None;
    }
    let Ok(text) = std::str::from_utf8(field) else {
        return Some(ColumnType::String);
    };
    const NULLS: [&str; 4] = ["na", "n/a", "null", "none"];
    if NULLS.iter().any(|n| text.eq_ignore_ascii_case(n)) {
        return None;
    }
    if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
        return Some(ColumnType::Boolean);
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(ColumnType::Integer);
    }
    if text.parse::<f64>().is_ok() {
        return Some(ColumnType::Float);
    }
    Some(ColumnType::String)
}

/// Picks the delimiter whose per-record count is the most consistent (then the
/// largest) over the first records of `head`, counting only outside quotes.
/// `complete` says whether `head` is the whole file (else its last record may be cut).
fn sniff_delimiter(head: &[u8], complete: bool, prefer_tab: bool) -> u8 {
    let mut per_record: Vec<[usize; 3]> = Vec::new();
    let mut counts = [0usize; 3];
    let mut in_quotes = false;
    let mut nonblank = false;
    for &b in head {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                nonblank = true;
            }
            b'\n' if !in_quotes => {
                if nonblank {
                    per_record.push(counts);
                }
                counts = [0; 3];
                nonblank = false;
                if per_record.len() >= SNIFF_RECORDS {
                    break;
                }
            }
            _ if !in_quotes => {
                if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
                if !b.is_ascii_whitespace() {
                    nonblank = true;
                }
            }
            _ => {}
        }
    }
    if nonblank && (complete || per_record.is_empty()) {
        per_record.push(counts);
    }
    if prefer_tab && per_record.iter().any(|c| c[1] > 0) {
        return b'\t';
    }
    let mut best: Option<(usize, usize, u8)> = None; // (records agreeing with the mode, mode, delimiter)
    for (i, &delim) in CANDIDATES.iter().enumerate() {
        let mut values: Vec<usize> = per_record.iter().map(|c| c[i]).collect();
        values.sort_unstable();
        // The mode and how many records have it; ties go to the larger count.
        let mut mode = (0usize, 0usize);
        let mut run_start = 0;
        for j in 1..=values.len() {
            if j == values.len() || values[j] != values[run_start] {
                let run = j - run_start;
                if run >= mode.0 {
                    mode = (run, values[run_start]);
                }
                run_start = j;
            }
        }
        let (agree, count) = mode;
        if count == 0 {
            continue;
        }
        if best.is_none_or(|(a, c, _)| (agree, count) > (a, c)) {
            best = Some((agree, count, delim));
        }
    }
    best.map_or(b',', |(_, _, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_fields() {
        assert_eq!(classify(b""), None);
        assert_eq!(classify(b" NA "), None);
        assert_eq!(classify(b"null"), None);
        assert_eq!(classify(b"-12"), Some(ColumnType::Integer));
        assert_eq!(
            classify(b"123456789012345678901234567890"),
            Some(ColumnType::Integer)
        );
        assert_eq!(classify(b"1.5e3"), Some(ColumnType::Float));
        assert_eq!(classify(b"NaN"), Some(ColumnType::Float));
        assert_eq!(classify(b"True"), Some(ColumnType::Boolean));
        assert_eq!(classify(b"abc"), Some(ColumnType::String));
        assert_eq!(classify(b"\xff\xfe"), Some(ColumnType::String));
        assert_eq!(classify(b"-"), Some(ColumnType::String));
    }

    #[test]
    fn merges_types() {
        use ColumnType::*;
        assert_eq!(Empty.merge(Integer), Integer);
        assert_eq!(Integer.merge(Float), Float);
        assert_eq!(Boolean.merge(Integer), String);
        assert_eq!(Float.merge(Float), Float);
    }

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1,2,3\n", true, false), b',');
        assert_eq!(sniff_delimiter(b"a;b\n1,5;2,5\n3,5;4\n", true, false), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", true, false), b'\t');
        assert_eq!(
            sniff_delimiter(b"\"x,y\";z\n\"1,2\";3\n", true, false),
            b';'
        );
        assert_eq!(sniff_delimiter(b"single\n1\n", true, false), b',');
        assert_eq!(sniff_delimiter(b"a,b\tc\n", true, true), b'\t');
    }
}
