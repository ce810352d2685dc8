//! simforge-analysis: learning from results. For now: exporting the results
//! table (CSV, JSON, Parquet), descriptive statistics and the HTML report;
//! sensitivity analysis and optimisation build on the same types.

pub mod export;
pub mod report;
pub mod sensitivity;
pub mod stats;
pub mod surrogate;
pub mod svg;

pub use report::{ReportInfo, SensitivityChart, render_report};
