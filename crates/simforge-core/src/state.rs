//! The life cycle of one run.

use std::fmt;
use std::str::FromStr;

/// Where a run is in its life cycle.
///
/// `pending → running → succeeded | failed | timed_out | cancelled`. A run whose
/// runner vanished while `running` goes back to `pending`; failed and timed-out
/// attempts are retried up to the study's limit before the run settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunState {
    /// Planned, not yet started (or returned after its runner vanished).
    Pending,
    /// An attempt is executing.
    Running,
    /// Finished with results.
    Succeeded,
    /// Every allowed attempt failed.
    Failed,
    /// The last attempt exceeded its wall time.
    TimedOut,
    /// Stopped by the user before it finished.
    Cancelled,
}

impl RunState {
    /// Every state, in life-cycle order.
    pub const ALL: [RunState; 6] = [
        RunState::Pending,
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::TimedOut,
        RunState::Cancelled,
    ];

    /// The name used in the store, on the command line and in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Cancelled => "cancelled",
        }
    }

    /// Whether the run has settled (no attempt will start without user action).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::TimedOut | RunState::Cancelled
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`RunState::ALL`].
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "unknown run state `{0}` (expected one of: pending, running, succeeded, failed, timed_out, cancelled)"
)]
pub struct UnknownState(pub String);

impl FromStr for RunState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunState::ALL
            .into_iter()
            .find(|st| st.as_str() == s || (s == "timedout" && *st == RunState::TimedOut))
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for st in RunState::ALL {
            assert_eq!(st.as_str().parse::<RunState>(), Ok(st));
        }
        assert!("done".parse::<RunState>().is_err());
    }
}
