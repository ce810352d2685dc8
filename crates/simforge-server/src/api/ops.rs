//! Liveness, readiness and Prometheus metrics.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::error::ApiResult;
use crate::state::Shared;

/// Rows of the `counters` table that hold a current value, not a running total.
const GAUGES: &[&str] = &["etl_lag_seconds", "etl_last_success_seconds"];

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers: the server can do its job.
pub async fn readyz(State(state): State<Shared>) -> (StatusCode, &'static str) {
    match state
        .db
        .run(|c| Ok(c.client().simple_query("SELECT 1").map(|_| ())?))
        .await
    {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

/// Prometheus text exposition: runs by state, queue depth per queue, lease
/// expiries, workers, counters, requests.
pub async fn metrics(State(state): State<Shared>) -> ApiResult<impl IntoResponse> {
    let db = state
        .db
        .run(|c| {
            let client = c.client();
            let by_state = client.query(
                "SELECT r.state, count(*) FROM runs r JOIN studies s ON s.name = r.study AND s.plan_gen = r.plan_gen
                 GROUP BY r.state ORDER BY 1",
                &[],
            )?;
            let queues = client.query(
                "SELECT s.queue, count(*) FILTER (WHERE r.state = 'pending'), count(*) FILTER (WHERE r.state = 'running')
                 FROM server_studies s JOIN runs r ON r.study = s.key
                 JOIN studies st ON st.name = s.key AND st.plan_gen = r.plan_gen
                 WHERE s.state = 'active' GROUP BY s.queue ORDER BY 1",
                &[],
            )?;
            let counters = client.query("SELECT name, value FROM counters ORDER BY name", &[])?;
            let workers: i64 = client
                .query_one(
                    "SELECT count(*) FROM workers WHERE last_seen > now() - interval '1 minute' AND NOT leaving",
                    &[],
                )?
                .get(0);
            let leases: i64 = client.query_one("SELECT count(*) FROM leases", &[])?.get(0);
            Ok((
                by_state
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                    .collect::<Vec<_>>(),
                queues
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)))
                    .collect::<Vec<_>>(),
                counters
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                    .collect::<Vec<_>>(),
                workers,
                leases,
            ))
        })
        .await?;
    let (by_state, queues, counters, workers, leases) = db;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP simforge_runs Runs of current plans by state.\n# TYPE simforge_runs gauge"
    );
    for (s, n) in &by_state {
        let _ = writeln!(out, "simforge_runs{{state=\"{s}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP simforge_queue_depth Pending runs per queue.\n# TYPE simforge_queue_depth gauge"
    );
    for (q, pending, _) in &queues {
        let _ = writeln!(
            out,
            "simforge_queue_depth{{queue=\"{}\"}} {pending}",
            escape(q)
        );
    }
    let _ = writeln!(
        out,
        "# HELP simforge_queue_running Leased runs per queue.\n# TYPE simforge_queue_running gauge"
    );
    for (q, _, running) in &queues {
        let _ = writeln!(
            out,
            "simforge_queue_running{{queue=\"{}\"}} {running}",
            escape(q)
        );
    }
    let _ = writeln!(
        out,
        "# HELP simforge_workers_live Workers seen in the last minute.\n# TYPE simforge_workers_live gauge\nsimforge_workers_live {workers}"
    );
    let _ = writeln!(
        out,
        "# HELP simforge_leases Leases held.\n# TYPE simforge_leases gauge\nsimforge_leases {leases}"
    );
    for (name, v) in &counters {
        // Rows the ETL sets rather than adds to are gauges (lag, last success).
        if GAUGES.contains(&name.as_str()) {
            let _ = writeln!(out, "# TYPE simforge_{name} gauge\nsimforge_{name} {v}");
        } else {
            let _ = writeln!(
                out,
                "# TYPE simforge_{name}_total counter\nsimforge_{name}_total {v}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# TYPE simforge_http_requests_total counter\nsimforge_http_requests_total {}\n# TYPE simforge_http_server_errors_total counter\nsimforge_http_server_errors_total {}\n# TYPE simforge_uptime_seconds gauge\nsimforge_uptime_seconds {:.1}",
        state.requests.load(Ordering::Relaxed),
        state.server_errors.load(Ordering::Relaxed),
        state.started.elapsed().as_secs_f64()
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
