//! Discrete-event simulation pieces shared by the builtins that need them:
//! the event calendar and the distributions of durations. The `sysdesign`
//! engine (`crate::sysdesign::engine`) is built on them.

pub mod calendar;
pub mod dist;
