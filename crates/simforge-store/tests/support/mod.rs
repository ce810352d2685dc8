//! Helpers shared by the store tests: study rows, plans, attempt records, and
//! the PostgreSQL test database (fresh schemas, dropped afterwards).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_store::{AttemptRecord, StudyRow, Update};

/// A study row as a coordinator hands it to `store_plan`.
pub fn study(name: &str, hash: &str) -> StudyRow {
    StudyRow {
        name: name.into(),
        spec_hash: hash.into(),
        spec_json: "{}".into(),
        study_file: "s.yaml".into(),
        simulator: "sim".into(),
        plan_gen: 0,
        planned_runs: 0,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// One run per id, in design order, with parameter x = its position.
pub fn runs(ids: &[&str]) -> Vec<PlannedRun> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| PlannedRun {
            id: id.to_string(),
            index: i as u64,
            tag: None,
            replicate: 0,
            seed: i as u64,
            params: BTreeMap::from([("x".to_string(), serde_json::json!(i))]),
        })
        .collect()
}

/// A finished attempt of `id` whose run goes to `next`.
pub fn finished(id: &str, attempt: u32, state: RunState, next: RunState) -> Update {
    Update::Finished {
        record: AttemptRecord {
            run_id: id.into(),
            attempt,
            state,
            started_at: "t0".into(),
            finished_at: "t1".into(),
            duration_s: 0.5,
            exit_code: Some(if state == RunState::Succeeded { 0 } else { 1 }),
            signal: None,
            reason: (state != RunState::Succeeded).then(|| "exit code 1".to_string()),
            host: "h".into(),
            max_rss_kb: Some(1024),
            metrics: serde_json::json!({"y": 2.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            spec_hash: "h1".into(),
        },
        run_state: next,
    }
}

/// An attempt of `id` started.
pub fn started(id: &str, attempt: u32) -> Update {
    Update::Started {
        run_id: id.into(),
        attempt,
        started_at: "t0".into(),
        host: "h".into(),
    }
}

/// The PostgreSQL server to test against, from SIMFORGE_TEST_POSTGRES_URL; `None`
/// (after a note) to skip, unless SIMFORGE_REQUIRE_SERVICES=1 makes a missing
/// server a failure (the project's rule for external services).
pub fn postgres_url() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") => panic!(
            "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            eprintln!("skipping: SIMFORGE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A schema name no other test uses.
pub fn fresh_schema_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "sf_test_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test's schema in the PostgreSQL test database, dropped (with everything
/// in it) when the test ends, pass or fail.
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// A fresh name; the schema itself is created by whoever connects first.
    pub fn new(url: &str) -> Self {
        TestSchema {
            url: url.to_string(),
            name: fresh_schema_name(),
        }
    }

    /// A plain client on the test database, for looking behind the store's back.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }

    /// The URL that puts a store in this schema (simforge's `?schema=`).
    pub fn store_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.url, self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}
