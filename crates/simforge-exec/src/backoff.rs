//! Retrying a call to a peer that may be briefly away (a restarting
//! coordinator or server): exponential back-off from 0.2 s to 5 s, until the
//! peer answers, refuses for good, or the caller's patience runs out.

use std::time::{Duration, Instant};

use crate::runner::ExecError;

/// Calls `attempt` until it returns `Ok`, or `Err((true, message))` (a
/// refusal that retrying will not fix), or `patience` has passed since the
/// first try. `attempt` is told whether it is a retry, so it can refresh
/// what it knows about the peer first. `peer` names it in the final error
/// ("the server did not answer for ...").
pub(crate) fn with_backoff<T>(
    patience: Duration,
    peer: &str,
    mut attempt: impl FnMut(bool) -> Result<T, (bool, String)>,
) -> Result<T, ExecError> {
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(200);
    let mut retry = false;
    loop {
        match attempt(retry) {
            Ok(r) => return Ok(r),
            Err((true, e)) => return Err(ExecError::Pilot(e)),
            Err((false, e)) => {
                if Instant::now() >= deadline {
                    return Err(ExecError::Pilot(format!(
                        "{peer} did not answer for {patience:?}: {e}"
                    )));
                }
                tracing::warn!("sync failed, retrying in {delay:?}: {e}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
                retry = true;
            }
        }
    }
}
