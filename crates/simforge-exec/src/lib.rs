//! simforge-exec: where and when runs execute.
//!
//! Executors share one run life cycle; this crate holds the local slot pool
//! (`runner`), the supervised process (`process`), the command simulator with
//! its templates and output rules (`simulator`, `outputs`), and the run
//! directory with its atomic `result.json` (`rundir`).

pub mod adaptive;
pub mod attempts;
mod backoff;
pub mod builtin;
pub mod bundle;
pub mod export;
pub mod guardian;
pub mod kube_runner;
pub mod kubernetes;
pub mod outputs;
pub mod pilot;
pub mod pool;
pub mod process;
pub mod progress;
pub mod remote;
pub mod rundir;
pub mod runner;
pub mod simulator;
pub mod slurm;
pub mod slurm_runner;

pub use runner::{ExecError, RunOptions, RunSummary, run_study};
pub use simulator::RunnableSimulator;
