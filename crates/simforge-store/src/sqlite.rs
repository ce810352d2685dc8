//! The SQLite store (embedded default).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_core::results::RunRecord;

use crate::schema::{MIGRATIONS, SCHEMA_VERSION};
use crate::{AttemptRecord, PendingRun, PlanStats, RunFilter, Store, StoreError, StudyRow, Update};

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

const RUN_COLUMNS: &str = "id, idx, tag, replicate, seed, params, metrics, state, attempts, reason, \
     started_at, finished_at, duration_s, host, spec_hash";

impl SqliteStore {
    /// Opens the store at `path`, creating it (and its directory) if needed and
    /// migrating an older schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        Self::ready(Connection::open(path)?, path)
    }

    /// Opens an existing store; a missing file is an error rather than a new store.
    pub fn open_existing(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NoStore {
                location: path.display().to_string(),
            });
        }
        Self::ready(
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?,
            path,
        )
    }

    /// Configures an opened connection and brings its schema up to date.
    fn ready(conn: Connection, path: &Path) -> Result<Self, StoreError> {
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        let probe: Result<String, _> = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0));
        if let Err(e) = probe {
            return Err(self.not_a_store(e));
        }
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        Ok(())
    }

    fn not_a_store(&self, e: rusqlite::Error) -> StoreError {
        match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                StoreError::NotAStore {
                    path: self.path.display().to_string(),
                    detail: "the file is not an SQLite database".into(),
                }
            }
            rusqlite::Error::SqliteFailure(f, m) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
                StoreError::Busy(m.unwrap_or_default())
            }
            other => StoreError::Sqlite(other),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.display().to_string(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![(i + 1).to_string()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        let has_meta: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )?;
        if !has_meta {
            let tables: i64 = self.conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )?;
            if tables > 0 {
                return Err(StoreError::NotAStore {
                    path: self.path.display().to_string(),
                    detail: format!("it has {tables} tables but no simforge `meta` table"),
                });
            }
            return Ok(0);
        }
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        v.unwrap_or_default()
            .parse()
            .map_err(|_| StoreError::NotAStore {
                path: self.path.display().to_string(),
                detail: "its schema_version is missing or not a number".into(),
            })
    }

    fn study(&self, name: &str) -> Result<StudyRow, StoreError> {
        self.conn
            .query_row(
                "SELECT name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs, created_at, updated_at
                 FROM studies WHERE name = ?1",
                params![name],
                study_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownStudy(name.to_string()))
    }

    fn studies(&self) -> Result<Vec<StudyRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs, created_at, updated_at
             FROM studies ORDER BY name",
        )?;
        let rows = stmt
            .query_map([], study_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn store_plan(
        &mut self,
        study: &StudyRow,
        runs: &mut dyn Iterator<Item = PlannedRun>,
    ) -> Result<(i64, PlanStats), StoreError> {
        let tx = self.conn.transaction()?;
        let now = simforge_core::clock::now_rfc3339();
        let prev_gen: Option<i64> = tx
            .query_row(
                "SELECT plan_gen FROM studies WHERE name = ?1",
                params![study.name],
                |r| r.get(0),
            )
            .optional()?;
        let gen_ = prev_gen.unwrap_or(0) + 1;
        let before: i64 = tx.query_row(
            "SELECT count(*) FROM runs WHERE study = ?1",
            params![study.name],
            |r| r.get(0),
        )?;
        let mut planned = 0u64;
        {
            let mut insert = tx.prepare(
                "INSERT INTO runs (id, study, plan_gen, idx, tag, replicate, seed, params, state, spec_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)
                 ON CONFLICT (id) DO UPDATE SET plan_gen = excluded.plan_gen, idx = excluded.idx, tag = excluded.tag",
            )?;
            let mut tagged = tx.prepare(
                "INSERT OR REPLACE INTO design_rows (study, plan_gen, tag, replicate, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut params_buf = String::new();
            for run in runs {
                if let Some(tag) = &run.tag {
                    tagged.execute(params![study.name, gen_, tag, run.replicate, run.id])?;
                }
                params_buf.clear();
                params_buf.push_str(&serde_json::to_string(&run.params).unwrap_or_default());
                insert.execute(params![
                    run.id,
                    study.name,
                    gen_,
                    run.index as i64,
                    run.tag,
                    run.replicate,
                    run.seed as i64,
                    params_buf,
                    study.spec_hash
                ])?;
                planned += 1;
            }
        }
        tx.execute(
            "DELETE FROM design_rows WHERE study = ?1 AND plan_gen < ?2",
            params![study.name, gen_],
        )?;
        let after: i64 = tx.query_row(
            "SELECT count(*) FROM runs WHERE study = ?1",
            params![study.name],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO studies (name, spec_hash, spec_json, study_file, simulator, plan_gen, planned_runs, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             ON CONFLICT (name) DO UPDATE SET spec_hash = excluded.spec_hash, spec_json = excluded.spec_json,
               study_file = excluded.study_file, simulator = excluded.simulator, plan_gen = excluded.plan_gen,
               planned_runs = excluded.planned_runs, updated_at = excluded.updated_at",
            params![study.name, study.spec_hash, study.spec_json, study.study_file, study.simulator, gen_, planned as i64, now],
        )?;
        tx.commit()?;
        Ok((
            gen_,
            PlanStats {
                planned,
                new: (after - before).max(0) as u64,
            },
        ))
    }

    fn requeue_running(&mut self, study: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE runs SET state = 'pending' WHERE study = ?1 AND state = 'running' AND job IS NULL",
            params![study],
        )? as u64)
    }

    fn requeue_failed(&mut self, study: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE runs SET state = 'pending' WHERE study = ?1 AND state IN ('failed', 'timed_out', 'cancelled')
               AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1)",
            params![study],
        )? as u64)
    }

    fn requeue_cancelled(&mut self, study: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE runs SET state = 'pending' WHERE study = ?1 AND state = 'cancelled'",
            params![study],
        )? as u64)
    }

    fn pending_page(
        &self,
        study: &str,
        after: Option<(u64, u32)>,
        limit: u64,
    ) -> Result<Vec<PendingRun>, StoreError> {
        let (ai, ar) = after.map(|(i, r)| (i as i64, r as i64)).unwrap_or((-1, -1));
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, idx, replicate, seed, params, attempts FROM runs
             WHERE study = ?1 AND state = 'pending' AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1)
               AND (idx, replicate) > (?2, ?3)
             ORDER BY idx, replicate LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![study, ai, ar, limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, idx, rep, seed, params, attempts) = row?;
            let params = match serde_json::from_str::<serde_json::Value>(&params) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "run {id}: parameters are not a JSON object"
                    )));
                }
            };
            out.push(PendingRun {
                id,
                index: idx as u64,
                replicate: rep as u32,
                seed: seed as u64,
                params,
                attempts: attempts as u32,
            });
        }
        Ok(out)
    }

    fn apply(&mut self, updates: &[Update]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut started = tx.prepare_cached(
                "UPDATE runs SET state = 'running', attempts = ?2, started_at = ?3, host = ?4, finished_at = NULL,
                   duration_s = NULL WHERE id = ?1",
            )?;
            let mut finished = tx.prepare_cached(
                "UPDATE runs SET state = ?2, attempts = max(attempts, ?3), reason = ?4, metrics = ?5, started_at = ?6,
                   finished_at = ?7, duration_s = ?8, host = ?9, spec_hash = ?10 WHERE id = ?1",
            )?;
            let mut attempt = tx.prepare_cached(
                "INSERT OR REPLACE INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, exit_code,
                   signal, reason, host, max_rss_kb) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut requeue = tx.prepare_cached(
                "UPDATE runs SET state = 'pending' WHERE id = ?1 AND state = 'running'",
            )?;
            for u in updates {
                match u {
                    Update::Started {
                        run_id,
                        attempt: n,
                        started_at,
                        host,
                    } => {
                        started.execute(params![run_id, n, started_at, host])?;
                    }
                    Update::Finished {
                        record: a,
                        run_state,
                    } => {
                        let metrics = if a.metrics.is_empty() {
                            None
                        } else {
                            Some(serde_json::Value::Object(a.metrics.clone()).to_string())
                        };
                        finished.execute(params![
                            a.run_id,
                            run_state.as_str(),
                            a.attempt,
                            a.reason,
                            metrics,
                            a.started_at,
                            a.finished_at,
                            a.duration_s,
                            a.host,
                            a.spec_hash
                        ])?;
                        attempt.execute(params![
                            a.run_id,
                            a.attempt,
                            a.state.as_str(),
                            a.started_at,
                            a.finished_at,
                            a.duration_s,
                            a.exit_code,
                            a.signal,
                            a.reason,
                            a.host,
                            a.max_rss_kb
                        ])?;
                    }
                    Update::Requeued { run_id } => {
                        requeue.execute(params![run_id])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn state_counts(&self, study: &str) -> Result<BTreeMap<RunState, u64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, count(*) FROM runs
             WHERE study = ?1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1) GROUP BY state",
        )?;
        let mut out = BTreeMap::new();
        for row in stmt.query_map(params![study], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (state, n) = row?;
            let state: RunState =
                state
                    .parse()
                    .map_err(|e: simforge_core::state::UnknownState| {
                        StoreError::Corrupt(e.to_string())
                    })?;
            out.insert(state, n as u64);
        }
        Ok(out)
    }

    fn failure_reasons(&self, study: &str, top: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT coalesce(reason, 'unknown'), count(*) AS n FROM runs
             WHERE study = ?1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1)
               AND state IN ('failed', 'timed_out')
             GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![study, top as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn for_each_run(
        &self,
        study: &str,
        filter: &RunFilter,
        f: &mut dyn FnMut(RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs
             WHERE study = ?1 AND (?4 OR plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1))
               AND (?2 IS NULL OR state = ?2)
             ORDER BY idx, replicate LIMIT ?3"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let state = filter.state.map(RunState::as_str);
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        let mut rows = stmt.query(params![study, state, limit, filter.all_plans])?;
        while let Some(row) = rows.next()? {
            f(run_record(row)?)?;
        }
        Ok(())
    }

    fn find_run(&self, study: Option<&str>, prefix: &str) -> Result<RunRecord, StoreError> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::RunLookup(format!(
                "`{prefix}` is not a run id (expected hex digits, e.g. 3fa2c9)"
            )));
        }
        let sql = format!(
            "SELECT {RUN_COLUMNS}, study FROM runs WHERE id LIKE ?1 || '%' AND (?2 IS NULL OR study = ?2) LIMIT 2"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params![prefix.to_ascii_lowercase(), study])?;
        let first = match rows.next()? {
            Some(r) => run_record(r)?,
            None => {
                return Err(StoreError::RunLookup(format!(
                    "no run id starts with `{prefix}`"
                )));
            }
        };
        if rows.next()?.is_some() {
            return Err(StoreError::RunLookup(format!(
                "more than one run id starts with `{prefix}`; give more digits"
            )));
        }
        Ok(first)
    }

    fn run_study(&self, run_id: &str) -> Result<String, StoreError> {
        Ok(self.conn.query_row(
            "SELECT study FROM runs WHERE id = ?1",
            params![run_id],
            |r| r.get(0),
        )?)
    }

    fn attempts(&self, run_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT a.run_id, a.attempt, a.state, a.started_at, a.finished_at, a.duration_s, a.exit_code, a.signal,
                    a.reason, a.host, a.max_rss_kb, r.spec_hash
             FROM attempts a JOIN runs r ON r.id = a.run_id WHERE a.run_id = ?1 ORDER BY a.attempt",
        )?;
        let rows = stmt.query_map(params![run_id], |r| {
            Ok((
                AttemptRecord {
                    run_id: r.get(0)?,
                    attempt: r.get(1)?,
                    state: RunState::Pending,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    duration_s: r.get(5)?,
                    exit_code: r.get(6)?,
                    signal: r.get(7)?,
                    reason: r.get(8)?,
                    host: r.get(9)?,
                    max_rss_kb: r.get(10)?,
                    metrics: serde_json::Map::new(),
                    spec_hash: r.get(11)?,
                },
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut a, state) = row?;
            a.state = state
                .parse()
                .map_err(|e: simforge_core::state::UnknownState| {
                    StoreError::Corrupt(e.to_string())
                })?;
            out.push(a);
        }
        Ok(out)
    }

    fn record_submission(
        &mut self,
        study: &str,
        job_id: &str,
        manifest: &str,
        first_task: usize,
        run_ids: &[String],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO submissions (job_id, study, manifest, first_task, runs, submitted_at, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active')",
            params![job_id, study, manifest, first_task as i64, run_ids.len() as i64, simforge_core::clock::now_rfc3339()],
        )?;
        {
            let mut mark = tx.prepare(
                "UPDATE runs SET state = 'running', job = ?2, host = ?3
                 WHERE id = ?1 AND (state = 'pending' OR (state = 'running' AND job LIKE 'submitting:%'))",
            )?;
            let host = format!("slurm job {job_id}");
            for id in run_ids {
                mark.execute(params![id, job_id, host])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn submitting(&self, study: &str) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT job, id FROM runs WHERE study = ?1 AND state = 'running' AND job LIKE 'submitting:%'
             ORDER BY job",
        )?;
        let rows: Vec<(String, String)> = stmt
            .query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (marker, id) in rows {
            match out.last_mut() {
                Some((m, ids)) if *m == marker => ids.push(id),
                _ => out.push((marker, vec![id])),
            }
        }
        Ok(out)
    }

    fn active_submissions(&self, study: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT job_id FROM submissions WHERE study = ?1 AND state = 'active' ORDER BY submitted_at, job_id",
        )?;
        let ids = stmt
            .query_map(params![study], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn lease_runs(&mut self, run_ids: &[String], job: &str) -> Result<(), StoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut mark = tx.prepare_cached(
                "UPDATE runs SET state = 'running', job = ?2 WHERE id = ?1 AND state = 'pending'",
            )?;
            for id in run_ids {
                mark.execute(params![id, job])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn release_runs(&mut self, run_ids: &[String]) -> Result<(), StoreError> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut back = tx.prepare_cached(
                "UPDATE runs SET state = 'pending', job = NULL WHERE id = ?1 AND state = 'running'",
            )?;
            for id in run_ids {
                back.execute(params![id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn release_pilot_held(&mut self, study: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE runs SET state = 'pending', job = NULL
             WHERE study = ?1 AND state = 'running' AND job LIKE 'pilot:%'",
            params![study],
        )? as u64)
    }

    fn pilot_held(&self, study: &str) -> Result<Vec<(String, String, u32)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, substr(job, 7), attempts FROM runs
             WHERE study = ?1 AND state = 'running' AND job LIKE 'pilot:%'",
        )?;
        let rows = stmt
            .query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn oom_losses(&self, study: &str, reason: &str) -> Result<HashMap<String, u32>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT a.run_id, count(*) FROM attempts a JOIN runs r ON r.id = a.run_id
             WHERE r.study = ?1 AND r.state = 'pending' AND substr(a.reason, 1, length(?2)) = ?2
             GROUP BY a.run_id",
        )?;
        let rows = stmt
            .query_map(params![study, reason], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn design_rows(&self, study: &str) -> Result<Vec<(String, u32, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT tag, replicate, run_id FROM design_rows
             WHERE study = ?1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1)
             ORDER BY tag, replicate",
        )?;
        let rows = stmt
            .query_map(params![study], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn submission_count(&self, study: &str) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM submissions WHERE study = ?1",
            params![study],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    fn submission(&self, job_id: &str) -> Result<(String, usize), StoreError> {
        Ok(self.conn.query_row(
            "SELECT manifest, first_task FROM submissions WHERE job_id = ?1",
            params![job_id],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize)),
        )?)
    }

    fn close_submission(
        &mut self,
        job_id: &str,
        state: &str,
        reason_for: &dyn Fn(&str) -> Option<String>,
        max_attempts: u32,
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let now = simforge_core::clock::now_rfc3339();
        let lost: Vec<(String, u32)> = {
            let mut stmt =
                tx.prepare("SELECT id, attempts FROM runs WHERE job = ?1 AND state = 'running'")?;
            stmt.query_map(params![job_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        for (id, attempts) in &lost {
            let Some(reason) = reason_for(id) else {
                tx.execute(
                    "UPDATE runs SET state = 'pending', job = NULL WHERE id = ?1",
                    params![id],
                )?;
                continue;
            };
            let attempt = attempts + 1;
            tx.execute(
                "INSERT OR REPLACE INTO attempts (run_id, attempt, state, started_at, finished_at, duration_s, reason, host)
                 VALUES (?1, ?2, 'failed', ?3, ?3, 0, ?4, ?5)",
                params![id, attempt, now, reason, format!("slurm job {job_id}")],
            )?;
            let next = if attempt >= max_attempts {
                "failed"
            } else {
                "pending"
            };
            tx.execute(
                "UPDATE runs SET state = ?2, attempts = ?3, reason = ?4, job = NULL WHERE id = ?1",
                params![id, next, attempt, reason],
            )?;
        }
        tx.execute("UPDATE runs SET job = NULL WHERE job = ?1", params![job_id])?;
        tx.execute(
            "UPDATE submissions SET state = ?2 WHERE job_id = ?1",
            params![job_id, state],
        )?;
        tx.commit()?;
        Ok(lost.len() as u64)
    }

    fn median_duration(&self, study: &str) -> Result<Option<f64>, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM runs WHERE study = ?1 AND state = 'succeeded' AND duration_s IS NOT NULL",
            params![study],
            |r| r.get(0),
        )?;
        if n == 0 {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT duration_s FROM runs WHERE study = ?1 AND state = 'succeeded' AND duration_s IS NOT NULL
                 ORDER BY duration_s LIMIT 1 OFFSET ?2",
                params![study, n / 2],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn last_recorded_attempt(&self, run_id: &str) -> Result<Option<u32>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT max(attempt) FROM attempts WHERE run_id = ?1")?;
        Ok(stmt.query_row(params![run_id], |r| r.get::<_, Option<u32>>(0))?)
    }

    fn unfinished_ids(&self, study: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id FROM runs WHERE study = ?1 AND plan_gen = (SELECT plan_gen FROM studies WHERE name = ?1)
               AND state IN ('pending', 'running', 'cancelled')",
        )?;
        let ids = stmt
            .query_map(params![study], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}

fn study_row(r: &Row<'_>) -> rusqlite::Result<StudyRow> {
    Ok(StudyRow {
        name: r.get(0)?,
        spec_hash: r.get(1)?,
        spec_json: r.get(2)?,
        study_file: r.get(3)?,
        simulator: r.get(4)?,
        plan_gen: r.get(5)?,
        planned_runs: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn run_record(r: &Row<'_>) -> Result<RunRecord, StoreError> {
    let id: String = r.get(0)?;
    let json_map = |text: Option<String>,
                    what: &str|
     -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        match text {
            None => Ok(BTreeMap::new()),
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("run {id}: {what}: {e}"))),
        }
    };
    let state: String = r.get(7)?;
    Ok(RunRecord {
        index: r.get::<_, i64>(1)? as u64,
        tag: r.get(2)?,
        replicate: r.get::<_, i64>(3)? as u32,
        seed: r.get::<_, i64>(4)? as u64,
        params: json_map(Some(r.get(5)?), "parameters")?,
        metrics: json_map(r.get(6)?, "metrics")?,
        state: state
            .parse()
            .map_err(|e: simforge_core::state::UnknownState| StoreError::Corrupt(e.to_string()))?,
        attempts: r.get::<_, i64>(8)? as u32,
        reason: r.get(9)?,
        started_at: r.get(10)?,
        finished_at: r.get(11)?,
        duration_s: r.get(12)?,
        host: r.get(13)?,
        spec_hash: r.get(14)?,
        id,
    })
}
