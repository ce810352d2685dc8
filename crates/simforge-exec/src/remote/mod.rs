//! Remote execution through a simforge server: `simforge worker --server URL
//! --queue Q` pulls runs of one or more per-simulator queues with leases,
//! executes them with the same attempt loop as every executor, and reports
//! each attempt back. The server is the only writer of its store.

mod artifacts;
pub mod client;
pub mod protocol;
pub mod push;
pub mod worker;
