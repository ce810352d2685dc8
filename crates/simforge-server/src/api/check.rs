//! `POST /check`: the study checker of `simforge check`, as a service for
//! editors: a study with problems is an answer (`ok: false` with each
//! problem's line, column, field and hint), not an error.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use simforge_core::Plan;
use simforge_exec::remote::protocol::queue_for;

use super::J;
use super::studies::{Parsed, Rejected, Submission, parse_submission};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

fn diagnostics_json(d: &simforge_core::Diagnostics) -> Vec<Value> {
    d.0.iter()
        .map(|x| {
            json!({
                "file": x.file.display().to_string(),
                "line": x.location.as_ref().map(|l| l.line),
                "column": x.location.as_ref().map(|l| l.column),
                "field": x.field,
                "message": x.message,
                "expected": x.expected,
                "hint": x.hint,
            })
        })
        .collect()
}

/// The verdict on a submission (scratch files go under `storage`): the
/// body of `POST /check`, also served by `simforge ui`.
pub fn check_submission(storage: &std::path::Path, sub: &Submission) -> ApiResult<Value> {
    let Parsed { study, sim, .. } = match parse_submission(storage, sub) {
        Ok(p) => p,
        Err(Rejected::Study(d)) => {
            return Ok(json!({"ok": false, "diagnostics": diagnostics_json(&d), "summary": null}));
        }
        Err(Rejected::Request(e)) => return Err(e),
    };
    let plan = match Plan::new(&study, &sim.identity()) {
        Ok(p) => p,
        Err(e) => {
            let d = simforge_core::Diagnostics::from(
                study
                    .source
                    .error_at("design", format!("cannot generate the design: {e}")),
            );
            return Ok(json!({"ok": false, "diagnostics": diagnostics_json(&d), "summary": null}));
        }
    };
    Ok(json!({
        "ok": true,
        "diagnostics": [],
        "summary": {
            "name": study.spec.name,
            "parameters": study.space.params.len(),
            "sampled": study.space.dims(),
            "sampler": study.spec.design.sampler.as_str(),
            "runs": plan.len(),
            // The short name, as queues are named (`analytic`, `command:sh`).
            "simulator": queue_for(&study.spec.simulator),
            "queue": queue_for(&study.spec.simulator),
        },
    }))
}

/// `POST /check` (any signed-in caller): checks a submission without
/// recording anything.
pub async fn check(
    State(state): State<Shared>,
    caller: Caller,
    J(sub): J<Submission>,
) -> ApiResult<Json<Value>> {
    if !caller.has_scope("read") {
        return Err(ApiError::forbidden("this token cannot check studies"));
    }
    let storage = state.config.storage.path.clone();
    let out = tokio::task::spawn_blocking(move || check_submission(&storage, &sub))
        .await
        .map_err(|e| ApiError::internal(format!("check task failed: {e}")))??;
    Ok(Json(out))
}
