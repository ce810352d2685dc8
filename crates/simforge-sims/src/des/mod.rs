//! Discrete-event simulation: the engine under the `sysdesign` builtin
//! (issue 5, in progress). So far: the event calendar, service and arrival
//! distributions, and a multi-server FIFO station with batch-means
//! confidence intervals, validated against queueing theory (M/M/1, M/M/c,
//! M/D/1).

pub mod calendar;
pub mod dist;
pub mod station;
