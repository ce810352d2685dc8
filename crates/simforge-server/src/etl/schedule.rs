//! When the ETL runs: a cron expression from the configuration (`etl`
//! section), evaluated in UTC by `croner`, and the background task that
//! follows it. Every server follows the schedule; the advisory lock in
//! [`super::jobs`] lets one of them run each tick and the others skip it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::state::Shared;

/// The default schedule: every five minutes.
pub const DEFAULT_SCHEDULE: &str = "*/5 * * * *";

/// The `etl` configuration section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EtlConfig {
    /// Run the ETL on the schedule (`simforge etl run` and
    /// `POST /api/v1/etl/run` work either way).
    pub enabled: bool,
    /// A cron expression in UTC: five fields (`minute hour day-of-month
    /// month day-of-week`), an optional leading seconds field, or a nickname
    /// such as `@hourly`.
    pub schedule: Schedule,
}

impl Default for EtlConfig {
    fn default() -> Self {
        EtlConfig {
            enabled: true,
            schedule: Schedule::default(),
        }
    }
}

/// A parsed cron expression. It is parsed when the configuration is read,
/// so a bad expression stops the server at start with an error that names
/// the setting (`etl.schedule`).
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a cron expression; the error says what is wrong and what is expected.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let cron: croner::Cron = text.parse().map_err(|e: croner::errors::CronError| {
            format!(
                "`{text}` is not a cron expression ({e}); expected five fields \
                 `minute hour day-of-month month day-of-week` in UTC, e.g. \"*/5 * * * *\" \
                 (quote it in YAML: `*` starts an alias)"
            )
        })?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time the schedule fires strictly after `t`, if any.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

impl Default for Schedule {
    fn default() -> Self {
        // A constant the unit tests parse.
        Schedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The ETL's background task; dropping it (when `serve` returns) stops it.
#[derive(Debug)]
pub struct Background {
    handle: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Starts following `etl.schedule` (a no-op task when `etl.enabled` is false).
    pub fn spawn(state: &Shared) -> Background {
        Background {
            handle: tokio::spawn(follow_schedule(state.clone())),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Sleeps until each scheduled time and runs the ETL unless another server
/// holds the lock. Ticks missed while a run was in progress are skipped.
async fn follow_schedule(state: Shared) {
    let cfg = state.config.etl.clone();
    if !cfg.enabled {
        tracing::info!("ETL schedule disabled (etl.enabled: false)");
        return;
    }
    tracing::info!(schedule = cfg.schedule.as_str(), "ETL scheduled (UTC)");
    let mut after = Utc::now();
    loop {
        let Some(next) = cfg.schedule.next_after(after) else {
            tracing::warn!(
                schedule = cfg.schedule.as_str(),
                "the ETL schedule never fires again"
            );
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        match state.db.run(super::jobs::run_scheduled).await {
            Ok(Some(report)) => tracing::debug!(run = report.id, "scheduled ETL run done"),
            Ok(None) => tracing::debug!("another server is running the ETL; skipped this tick"),
            Err(e) => tracing::warn!(error = %e, "scheduled ETL run failed"),
        }
        after = next.max(Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_next_times() {
        let s = Schedule::default();
        assert_eq!(s.as_str(), DEFAULT_SCHEDULE);
        let t: DateTime<Utc> = "2024-05-01T10:03:20Z".parse().unwrap();
        let next = s.next_after(t).unwrap();
        assert_eq!(next.to_rfc3339(), "2024-05-01T10:05:00+00:00");
        assert_eq!(
            s.next_after(next).unwrap().to_rfc3339(),
            "2024-05-01T10:10:00+00:00"
        );
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            hourly.next_after(t).unwrap().to_rfc3339(),
            "2024-05-01T11:00:00+00:00"
        );
    }

    #[test]
    fn bad_expressions_say_what_is_expected() {
        for bad in ["", "*/5 * * *", "61 * * * *", "every five minutes"] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains("five fields"), "{bad}: {e}");
        }
    }
}
