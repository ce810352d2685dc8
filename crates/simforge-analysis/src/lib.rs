//! simforge-analysis: learning from results: exporting the results table
//! (CSV, JSON, Parquet), descriptive statistics, sensitivity analysis,
//! Gaussian-process surrogates, Bayesian optimisation and active learning,
//! and the HTML report.

pub mod export;
pub mod minimize;
pub mod optimize;
pub mod report;
pub mod sensitivity;
pub mod stats;
pub mod surrogate;
pub mod svg;

pub use report::{ObjectiveInfo, ReportInfo, SensitivityChart, render_report};
