//! Pilot mode: the HyperQueue/Parsl model for many short runs. The coordinator
//! submits a few long-lived SLURM jobs ("pilots"), each running `simforge
//! worker`, and feeds them runs over HTTP with leases and heartbeats. One job
//! serves hundreds of runs, so neither sbatch nor the scheduler sees one job per
//! run; a pilot that dies or hits its wall time loses no run.
//!
//! - [`protocol`]: the one JSON exchange (`POST /v1/pilot/sync`) and the
//!   coordinator file that tells workers where to find it.
//! - [`leases`]: who holds which run, until when.
//! - [`server`]: the HTTP endpoint; it forwards each sync to the coordinator loop.
//! - [`coordinator`]: the loop that owns the store and the leases, and scales
//!   the number of pilot jobs with the backlog.
//! - [`worker`]: `simforge worker`.

pub mod coordinator;
pub mod leases;
pub mod protocol;
pub mod server;
pub mod worker;
