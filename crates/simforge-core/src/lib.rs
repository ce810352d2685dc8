//! simforge-core: what a study is.
//!
//! Study files are parsed here (YAML or JSON, with file:line:column diagnostics),
//! checked into a [`Study`] with a parameter space and a design, and planned into
//! runs with content-addressed ids. Nothing here touches the store, processes or
//! the network.

pub mod adaptive;
pub mod clock;
pub mod design;
pub mod diagnostic;
pub mod plan;
pub mod results;
pub mod source;
pub mod space;
pub mod spec;
pub mod state;
pub mod study;
pub mod units;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use plan::{Plan, PlannedRun};
pub use state::RunState;
pub use study::{Study, load_study, parse_study};
