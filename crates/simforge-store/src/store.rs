//! The `Store` trait: what the coordinator, the CLI and the server need from a
//! result store, whatever database holds it.
//!
//! SQLite (the embedded default, one file beside the study) and PostgreSQL
//! (a server, many writers' results in one place) implement it with the same
//! schema and the same semantics; the conformance tests in `tests/conformance.rs`
//! run against both.

use std::collections::{BTreeMap, HashMap};

use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_core::results::RunRecord;

use crate::{AttemptRecord, PendingRun, PlanStats, RunFilter, StoreError, StudyRow, Update};

/// A result store. Object-safe, so callers hold `&mut dyn Store` and never know
/// which database is underneath. Every method that changes state is one
/// transaction: a crash leaves either the old state or the new one.
pub trait Store: Send {
    /// Where the store lives, for messages: a file path, or a PostgreSQL URL
    /// without its password.
    fn location(&self) -> String;

    /// The schema version recorded in the store.
    fn schema_version(&self) -> Result<i64, StoreError>;

    /// The study named `name`.
    fn study(&self, name: &str) -> Result<StudyRow, StoreError>;

    /// Every study, by name.
    fn studies(&self) -> Result<Vec<StudyRow>, StoreError>;

    /// Stores a new plan for a study: records the study, then inserts every run it
    /// does not know (as `pending`) and marks every planned run as part of the
    /// current plan. Runs that left the plan stay in the store but drop out of
    /// status and results. One transaction: a crash leaves the old plan intact.
    /// Returns the new plan generation and counts.
    fn store_plan(
        &mut self,
        study: &StudyRow,
        runs: &mut dyn Iterator<Item = PlannedRun>,
    ) -> Result<(i64, PlanStats), StoreError>;

    /// Puts runs left `running` by a runner that is gone back to `pending`
    /// (runs held by a cluster job are left to that job's bookkeeping).
    /// Returns how many.
    fn requeue_running(&mut self, study: &str) -> Result<u64, StoreError>;

    /// Puts failed, timed-out and cancelled runs of the current plan back to
    /// `pending` (for `--retry-failed`). Returns how many.
    fn requeue_failed(&mut self, study: &str) -> Result<u64, StoreError>;

    /// Puts cancelled runs back to `pending` (an interrupted invocation's runs are
    /// simply unfinished). Returns how many.
    fn requeue_cancelled(&mut self, study: &str) -> Result<u64, StoreError>;

    /// Up to `limit` pending runs of the current plan after design position
    /// `after` (exclusive), in design order.
    fn pending_page(
        &self,
        study: &str,
        after: Option<(u64, u32)>,
        limit: u64,
    ) -> Result<Vec<PendingRun>, StoreError>;

    /// Applies queued updates in one transaction.
    fn apply(&mut self, updates: &[Update]) -> Result<(), StoreError>;

    /// Runs of the current plan per state.
    fn state_counts(&self, study: &str) -> Result<BTreeMap<RunState, u64>, StoreError>;

    /// The most common reasons of runs that failed for good, most frequent first.
    fn failure_reasons(&self, study: &str, top: usize) -> Result<Vec<(String, u64)>, StoreError>;

    /// Streams runs of the current plan (or of every plan) in design order to
    /// `f`, optionally filtered, for exports of millions of rows without holding
    /// them all.
    fn for_each_run(
        &self,
        study: &str,
        filter: &RunFilter,
        f: &mut dyn FnMut(RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Runs of the current plan (or of every plan) in design order, optionally
    /// filtered.
    fn runs(&self, study: &str, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        self.for_each_run(study, filter, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// The run whose id is `prefix` or starts with it (within `study` if given).
    fn find_run(&self, study: Option<&str>, prefix: &str) -> Result<RunRecord, StoreError>;

    /// The study a run belongs to.
    fn run_study(&self, run_id: &str) -> Result<String, StoreError>;

    /// Every attempt of a run, oldest first.
    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Records a cluster submission and marks its runs `running` under that job,
    /// in one transaction. `first_task` is the bundle index of the job's array
    /// task 0 in `manifest`, so a restarted coordinator can map task ids back to
    /// bundles.
    fn record_submission(
        &mut self,
        study: &str,
        job_id: &str,
        manifest: &str,
        first_task: usize,
        run_ids: &[String],
    ) -> Result<(), StoreError>;

    /// Marks pending runs `running` under `marker` (`submitting:...`) just
    /// before their job is submitted, so a coordinator killed between sbatch
    /// and [`Store::record_submission`] can find the job again (by its
    /// comment) instead of submitting the runs twice.
    fn mark_submitting(&mut self, run_ids: &[String], marker: &str) -> Result<(), StoreError> {
        self.lease_runs(run_ids, marker)
    }

    /// Runs of `study` marked by [`Store::mark_submitting`] whose submission was
    /// never recorded, grouped by marker.
    fn submitting(&self, study: &str) -> Result<Vec<(String, Vec<String>)>, StoreError>;

    /// Job ids of a study's submissions that have not been closed, oldest first.
    fn active_submissions(&self, study: &str) -> Result<Vec<String>, StoreError>;

    /// Marks pending runs `running` under `job` (leased to a pilot worker), in
    /// one transaction. Runs no longer pending are left alone.
    fn lease_runs(&mut self, run_ids: &[String], job: &str) -> Result<(), StoreError>;

    /// Puts running runs back to `pending` without counting an attempt (their
    /// worker handed them back or is gone), in one transaction.
    fn release_runs(&mut self, run_ids: &[String]) -> Result<(), StoreError>;

    /// Puts every run of `study` that pilot workers hold back to `pending`
    /// (their pilots are gone or being replaced). Returns how many.
    fn release_pilot_held(&mut self, study: &str) -> Result<u64, StoreError>;

    /// Runs of `study` that pilot workers hold (`running` under a job named
    /// `pilot:<worker>`): (run id, worker, attempts). A restarted coordinator
    /// adopts these leases instead of running the runs twice.
    fn pilot_held(&self, study: &str) -> Result<Vec<(String, String, u32)>, StoreError>;

    /// For each pending run of `study`, how many of its attempts failed with a
    /// reason starting with `reason` (e.g. lost to OUT_OF_MEMORY).
    fn oom_losses(&self, study: &str, reason: &str) -> Result<HashMap<String, u32>, StoreError>;

    /// The tagged rows of the study's current design (Saltelli blocks, Morris
    /// steps): (tag, replicate, run id), several rows possibly sharing a run.
    /// Empty for untagged designs and for plans stored before schema v4.
    fn design_rows(&self, study: &str) -> Result<Vec<(String, u32, String)>, StoreError>;

    /// How many submissions `study` has ever made (numbers new ones uniquely).
    fn submission_count(&self, study: &str) -> Result<u64, StoreError>;

    /// The manifest path and first bundle index of a submission.
    fn submission(&self, job_id: &str) -> Result<(String, usize), StoreError>;

    /// Closes a submission whose job has left the queue. Each of its runs still
    /// `running` ended without a result: `reason_for(run_id)` says why, as
    /// `Some(reason)` for a failed attempt (the run goes back to `pending`, or to
    /// `failed` once it has had `max_attempts`), or `None` when the loss was not
    /// the run's fault (node failure, preemption) and no attempt is counted.
    /// Returns how many runs were lost.
    fn close_submission(
        &mut self,
        job_id: &str,
        state: &str,
        reason_for: &dyn Fn(&str) -> Option<String>,
        max_attempts: u32,
    ) -> Result<u64, StoreError>;

    /// Median wall time of the study's succeeded runs, if any ran.
    fn median_duration(&self, study: &str) -> Result<Option<f64>, StoreError>;

    /// The highest attempt number recorded as finished for a run, if any.
    fn last_recorded_attempt(&self, run_id: &str) -> Result<Option<u32>, StoreError>;

    /// Runs of the current plan that are not yet succeeded (for result recovery).
    fn unfinished_ids(&self, study: &str) -> Result<Vec<String>, StoreError>;
}
