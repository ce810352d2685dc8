//! Exporting the results table: CSV, JSON (one array of row objects) and Parquet.
//!
//! One row per run: id, design position, state, attempts, every parameter, every
//! metric, failure reason, timings, host and spec hash. Column types are found in
//! a first pass over the rows (numbers stay numbers), and rows are streamed in a
//! second pass, so million-run studies export without holding every row.

use std::io::Write;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::Value;
use simforge_core::results::RunRecord;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array of row objects.
    Json,
    /// Apache Parquet (Snappy-compressed).
    Parquet,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed.
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
    /// The Parquet writer failed.
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Reading the rows failed.
    #[error("reading results: {0}")]
    Source(String),
}

/// Something that can stream the rows of a study (more than once).
pub trait RowSource {
    /// Calls `f` for every row, in order.
    fn for_each(&self, f: &mut dyn FnMut(RunRecord)) -> Result<(), String>;
}

/// Columns of the export and their types.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// Parameter columns: (name, kind).
    pub params: Vec<(String, Kind)>,
    /// Metric columns: (name, kind).
    pub metrics: Vec<(String, Kind)>,
}

/// The type of a parameter or metric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every value is an integer.
    Integer,
    /// Every value is a number.
    Number,
    /// Anything else (written as text).
    Text,
}

const FIXED_BEFORE: [&str; 7] = [
    "run_id",
    "index",
    "tag",
    "replicate",
    "seed",
    "state",
    "attempts",
];
const FIXED_AFTER: [&str; 6] = [
    "reason",
    "started_at",
    "finished_at",
    "duration_s",
    "host",
    "spec_hash",
];

impl Columns {
    /// Scans the rows once to type each column; `params`/`metrics` give the
    /// preferred order, and names seen only in rows are appended sorted.
    pub fn scan(
        source: &dyn RowSource,
        params: &[String],
        metrics: &[String],
    ) -> Result<Columns, ExportError> {
        let mut p: Vec<(String, Option<Kind>)> = params.iter().map(|n| (n.clone(), None)).collect();
        let mut m: Vec<(String, Option<Kind>)> =
            metrics.iter().map(|n| (n.clone(), None)).collect();
        let mut extra_p = std::collections::BTreeMap::new();
        let mut extra_m = std::collections::BTreeMap::new();
        source
            .for_each(&mut |r| {
                for (k, v) in &r.params {
                    match p.iter_mut().find(|(n, _)| n == k) {
                        Some((_, kind)) => *kind = widen(*kind, v),
                        None => {
                            let e = extra_p.entry(k.clone()).or_insert(None);
                            *e = widen(*e, v);
                        }
                    }
                }
                for (k, v) in &r.metrics {
                    match m.iter_mut().find(|(n, _)| n == k) {
                        Some((_, kind)) => *kind = widen(*kind, v),
                        None => {
                            let e = extra_m.entry(k.clone()).or_insert(None);
                            *e = widen(*e, v);
                        }
                    }
                }
            })
            .map_err(ExportError::Source)?;
        p.extend(extra_p);
        m.extend(extra_m);
        let done = |v: Vec<(String, Option<Kind>)>| {
            v.into_iter()
                .map(|(n, k)| (n, k.unwrap_or(Kind::Number)))
                .collect()
        };
        Ok(Columns {
            params: done(p),
            metrics: done(m),
        })
    }

    fn names(&self) -> Vec<String> {
        let taken: std::collections::HashSet<&str> = FIXED_BEFORE
            .iter()
            .chain(FIXED_AFTER.iter())
            .copied()
            .chain(self.params.iter().map(|(n, _)| n.as_str()))
            .collect();
        let mut out: Vec<String> = FIXED_BEFORE.iter().map(|s| s.to_string()).collect();
        for (n, _) in &self.params {
            out.push(
                if FIXED_BEFORE.contains(&n.as_str()) || FIXED_AFTER.contains(&n.as_str()) {
                    format!("param.{n}")
                } else {
                    n.clone()
                },
            );
        }
        for (n, _) in &self.metrics {
            out.push(if taken.contains(n.as_str()) {
                format!("metric.{n}")
            } else {
                n.clone()
            });
        }
        out.extend(FIXED_AFTER.iter().map(|s| s.to_string()));
        out
    }
}

fn widen(current: Option<Kind>, v: &Value) -> Option<Kind> {
    let k = match v {
        Value::Null => return current,
        Value::Number(n) if n.is_i64() || n.is_u64() => Kind::Integer,
        Value::Number(_) => Kind::Number,
        _ => Kind::Text,
    };
    Some(match (current, k) {
        (None, k) => k,
        (Some(Kind::Text), _) | (_, Kind::Text) => Kind::Text,
        (Some(Kind::Number), _) | (_, Kind::Number) => Kind::Number,
        _ => Kind::Integer,
    })
}

/// One cell in a row, before formatting.
enum Cell<'a> {
    Null,
    Int(i64),
    Num(f64),
    Text(std::borrow::Cow<'a, str>),
}

fn value_cell(v: Option<&Value>, kind: Kind) -> Cell<'_> {
    match (v, kind) {
        (None | Some(Value::Null), _) => Cell::Null,
        (Some(Value::Number(n)), Kind::Integer) => n.as_i64().map(Cell::Int).unwrap_or(Cell::Null),
        (Some(Value::Number(n)), Kind::Number) => n.as_f64().map(Cell::Num).unwrap_or(Cell::Null),
        (Some(Value::String(s)), _) => Cell::Text(s.as_str().into()),
        (Some(other), _) => Cell::Text(other.to_string().into()),
    }
}

fn row_cells<'a>(r: &'a RunRecord, cols: &Columns) -> Vec<Cell<'a>> {
    let text = |s: &'a Option<String>| {
        s.as_deref()
            .map(|t| Cell::Text(t.into()))
            .unwrap_or(Cell::Null)
    };
    let mut cells = vec![
        Cell::Text(r.id.as_str().into()),
        Cell::Int(r.index as i64),
        text(&r.tag),
        Cell::Int(r.replicate as i64),
        Cell::Int(r.seed as i64),
        Cell::Text(r.state.as_str().into()),
        Cell::Int(r.attempts as i64),
    ];
    cells.extend(
        cols.params
            .iter()
            .map(|(n, k)| value_cell(r.params.get(n), *k)),
    );
    cells.extend(
        cols.metrics
            .iter()
            .map(|(n, k)| value_cell(r.metrics.get(n), *k)),
    );
    cells.extend([
        text(&r.reason),
        text(&r.started_at),
        text(&r.finished_at),
        r.duration_s.map(Cell::Num).unwrap_or(Cell::Null),
        text(&r.host),
        Cell::Text(r.spec_hash.as_str().into()),
    ]);
    cells
}

fn column_kinds(cols: &Columns) -> Vec<Kind> {
    let mut k = vec![
        Kind::Text,
        Kind::Integer,
        Kind::Text,
        Kind::Integer,
        Kind::Integer,
        Kind::Text,
        Kind::Integer,
    ];
    k.extend(cols.params.iter().map(|(_, k)| *k));
    k.extend(cols.metrics.iter().map(|(_, k)| *k));
    k.extend([
        Kind::Text,
        Kind::Text,
        Kind::Text,
        Kind::Number,
        Kind::Text,
        Kind::Text,
    ]);
    k
}

/// Writes every row of `source` to `out` in `format`. Returns the row count.
pub fn export(
    source: &dyn RowSource,
    cols: &Columns,
    format: Format,
    out: Box<dyn Write + Send>,
) -> Result<u64, ExportError> {
    match format {
        Format::Csv => write_csv(source, cols, out),
        Format::Json => write_json(source, cols, out),
        Format::Parquet => write_parquet(source, cols, out),
    }
}

fn write_csv(
    source: &dyn RowSource,
    cols: &Columns,
    out: Box<dyn Write + Send>,
) -> Result<u64, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(cols.names()).map_err(csv_err)?;
    let mut n = 0;
    let mut err = None;
    source
        .for_each(&mut |r| {
            if err.is_some() {
                return;
            }
            let fields: Vec<String> = row_cells(&r, cols)
                .into_iter()
                .map(|c| match c {
                    Cell::Null => String::new(),
                    Cell::Int(i) => i.to_string(),
                    Cell::Num(f) => f.to_string(),
                    Cell::Text(t) => t.into_owned(),
                })
                .collect();
            if let Err(e) = w.write_record(&fields) {
                err = Some(e);
            }
            n += 1;
        })
        .map_err(ExportError::Source)?;
    if let Some(e) = err {
        return Err(csv_err(e));
    }
    w.flush()?;
    Ok(n)
}

fn csv_err(e: csv::Error) -> ExportError {
    ExportError::Io(std::io::Error::other(e))
}

fn write_json(
    source: &dyn RowSource,
    cols: &Columns,
    mut out: Box<dyn Write + Send>,
) -> Result<u64, ExportError> {
    let names = cols.names();
    let mut n = 0u64;
    let mut err: Option<std::io::Error> = None;
    out.write_all(b"[")?;
    source
        .for_each(&mut |r| {
            if err.is_some() {
                return;
            }
            let obj: serde_json::Map<String, Value> = names
                .iter()
                .zip(row_cells(&r, cols))
                .map(|(k, c)| {
                    let v = match c {
                        Cell::Null => Value::Null,
                        Cell::Int(i) => Value::from(i),
                        Cell::Num(f) => simforge_core::space::number(f),
                        Cell::Text(t) => Value::String(t.into_owned()),
                    };
                    (k.clone(), v)
                })
                .collect();
            let sep: &[u8] = if n == 0 { b"\n" } else { b",\n" };
            let res = out
                .write_all(sep)
                .and_then(|_| serde_json::to_writer(&mut out, &obj).map_err(std::io::Error::other));
            if let Err(e) = res {
                err = Some(e);
            }
            n += 1;
        })
        .map_err(ExportError::Source)?;
    if let Some(e) = err {
        return Err(e.into());
    }
    out.write_all(b"\n]\n")?;
    out.flush()?;
    Ok(n)
}

/// Rows per Parquet row group.
const ROW_GROUP: usize = 65_536;

fn write_parquet(
    source: &dyn RowSource,
    cols: &Columns,
    out: Box<dyn Write + Send>,
) -> Result<u64, ExportError> {
    let names = cols.names();
    let kinds = column_kinds(cols);
    let fields = names
        .iter()
        .zip(&kinds)
        .map(|(name, kind)| {
            let b = match kind {
                Kind::Integer => Type::primitive_type_builder(name, PhysicalType::INT64),
                Kind::Number => Type::primitive_type_builder(name, PhysicalType::DOUBLE),
                Kind::Text => Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String)),
            };
            b.with_repetition(Repetition::OPTIONAL)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(
        Type::group_type_builder("results")
            .with_fields(fields)
            .build()?,
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, props)?;
    let mut buf = ColumnBuffers::new(&kinds);
    let mut n = 0u64;
    let mut err: Option<ExportError> = None;
    source
        .for_each(&mut |r| {
            if err.is_some() {
                return;
            }
            buf.push(row_cells(&r, cols));
            n += 1;
            if buf.rows == ROW_GROUP
                && let Err(e) = buf.flush(&mut writer)
            {
                err = Some(e);
            }
        })
        .map_err(ExportError::Source)?;
    if let Some(e) = err {
        return Err(e);
    }
    if buf.rows > 0 || n == 0 {
        buf.flush(&mut writer)?;
    }
    writer.close()?;
    Ok(n)
}

enum ColumnBuffer {
    Int(Vec<i64>, Vec<i16>),
    Num(Vec<f64>, Vec<i16>),
    Text(Vec<ByteArray>, Vec<i16>),
}

struct ColumnBuffers {
    cols: Vec<ColumnBuffer>,
    rows: usize,
}

impl ColumnBuffers {
    fn new(kinds: &[Kind]) -> Self {
        let cols = kinds
            .iter()
            .map(|k| match k {
                Kind::Integer => ColumnBuffer::Int(vec![], vec![]),
                Kind::Number => ColumnBuffer::Num(vec![], vec![]),
                Kind::Text => ColumnBuffer::Text(vec![], vec![]),
            })
            .collect();
        ColumnBuffers { cols, rows: 0 }
    }

    fn push(&mut self, cells: Vec<Cell<'_>>) {
        for (col, cell) in self.cols.iter_mut().zip(cells) {
            match (col, cell) {
                (ColumnBuffer::Int(v, d), Cell::Int(i)) => {
                    v.push(i);
                    d.push(1);
                }
                (ColumnBuffer::Num(v, d), Cell::Num(f)) => {
                    v.push(f);
                    d.push(1);
                }
                (ColumnBuffer::Num(v, d), Cell::Int(i)) => {
                    v.push(i as f64);
                    d.push(1);
                }
                (ColumnBuffer::Text(v, d), Cell::Text(t)) => {
                    v.push(ByteArray::from(t.as_bytes().to_vec()));
                    d.push(1);
                }
                (ColumnBuffer::Text(v, d), Cell::Int(i)) => {
                    v.push(ByteArray::from(i.to_string().into_bytes()));
                    d.push(1);
                }
                (ColumnBuffer::Text(v, d), Cell::Num(f)) => {
                    v.push(ByteArray::from(f.to_string().into_bytes()));
                    d.push(1);
                }
                (
                    ColumnBuffer::Int(_, d) | ColumnBuffer::Num(_, d) | ColumnBuffer::Text(_, d),
                    _,
                ) => d.push(0),
            }
        }
        self.rows += 1;
    }

    fn flush<W: Write + Send>(
        &mut self,
        writer: &mut SerializedFileWriter<W>,
    ) -> Result<(), ExportError> {
        let mut rg = writer.next_row_group()?;
        for col in &mut self.cols {
            let Some(mut cw) = rg.next_column()? else {
                break;
            };
            match col {
                ColumnBuffer::Int(v, d) => {
                    cw.typed::<Int64Type>().write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
                ColumnBuffer::Num(v, d) => {
                    cw.typed::<DoubleType>().write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
                ColumnBuffer::Text(v, d) => {
                    cw.typed::<ByteArrayType>().write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
            }
            cw.close()?;
        }
        rg.close()?;
        self.rows = 0;
        Ok(())
    }
}
