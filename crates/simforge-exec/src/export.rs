//! The results table of a study in a store, written as CSV, JSON or Parquet.
//!
//! One function for every place that exports results — `simforge results` on
//! a local store, the CSV written at the end of `simforge run`, and the
//! server's `/results?format=csv|parquet|json-array` — so a study downloads
//! with the same columns wherever it ran. The table itself (columns, types,
//! formats) is `simforge_analysis::export`; this module feeds it a store.

use std::io::Write;

use simforge_analysis::export::{Columns, ExportError, RowSource, export};
use simforge_core::results::RunRecord;
use simforge_store::{RunFilter, Store, StoreError};

pub use simforge_analysis::export::Format;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the table failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Which rows to keep.
pub type Keep<'a> = &'a (dyn Fn(&RunRecord) -> bool + Sync);

/// Streams a study's runs from a store, as often as the exporter asks.
struct StoreRows<'a> {
    store: &'a dyn Store,
    study: &'a str,
    keep: Option<Keep<'a>>,
}

impl RowSource for StoreRows<'_> {
    fn for_each(&self, f: &mut dyn FnMut(RunRecord)) -> Result<(), String> {
        self.store
            .for_each_run(self.study, &RunFilter::default(), &mut |r| {
                if self.keep.is_none_or(|keep| keep(&r)) {
                    f(r);
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
    }
}

/// Parameter and metric names in the order the study declares them.
pub fn declared_columns(
    store: &dyn Store,
    study: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let row = store.study(study)?;
    let spec: serde_json::Value = serde_json::from_str(&row.spec_json).unwrap_or_default();
    let params = spec["parameters"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let metrics = spec["metrics"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok((params, metrics))
}

/// Writes every run of `study` (its current plan) to `out` in `format`;
/// returns the number of rows.
pub fn write_results(
    store: &dyn Store,
    study: &str,
    format: Format,
    out: Box<dyn Write + Send>,
) -> Result<u64, ResultsError> {
    write_results_where(store, study, format, out, None)
}

/// [`write_results`] of the rows `keep` accepts (all without it).
pub fn write_results_where(
    store: &dyn Store,
    study: &str,
    format: Format,
    out: Box<dyn Write + Send>,
    keep: Option<Keep<'_>>,
) -> Result<u64, ResultsError> {
    let (params, metrics) = declared_columns(store, study)?;
    let rows = StoreRows { store, study, keep };
    let cols = Columns::scan(&rows, &params, &metrics)?;
    Ok(export(&rows, &cols, format, out)?)
}
