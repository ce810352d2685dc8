//! The system designer's server side: simulate a `sysdesign` topology as
//! drawn (`POST /sysdesign/simulate`) and export it as deployment skeletons
//! (`POST /sysdesign/export`). The simulation is the builtin `sysdesign`
//! simulator itself, run on the blocking pool, two at a time, within a
//! budget of simulated requests so one drawing cannot occupy the server.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use simforge_sims::sysdesign::summary::Estimate;
use simforge_sims::sysdesign::{SysDesign, export};
use tokio::sync::Semaphore;

use super::{J, Q};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Simulations at once.
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// Most requests one simulation may generate (all replications): about ten
/// seconds of one core.
pub const MAX_REQUESTS: f64 = 5_000_000.0;

/// Body of both endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignBody {
    /// The topology, as YAML (or JSON) text.
    pub topology: String,
    /// Seed of the simulation (default 1).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Parses and checks a topology; errors name the line or the field.
fn load(text: &str) -> ApiResult<(Value, SysDesign)> {
    let value: Value = serde_saphyr::from_str(text).map_err(|e| {
        ApiError::invalid(format!("the topology is not valid YAML: {e}")).with_field("topology")
    })?;
    if !value.is_object() {
        return Err(
            ApiError::invalid("the topology must be a mapping with `components`")
                .with_field("topology")
                .with_hint("see docs/sysdesign.md for the format"),
        );
    }
    let mut options = Map::new();
    options.insert("topology".into(), value.clone());
    let sim = SysDesign::from_options(&options, std::path::Path::new(".")).map_err(|e| {
        ApiError::invalid(e.to_string())
            .with_field("topology")
            .with_hint("see docs/sysdesign.md for every component type and property")
    })?;
    Ok((value, sim))
}

fn design_name(value: &Value) -> String {
    value["name"].as_str().unwrap_or("design").to_string()
}

/// `POST /sysdesign/simulate` (a member of any project, or a server
/// administrator): the design's latency, throughput and cost, each
/// component's measures, and the bottleneck with its reason.
pub async fn simulate(
    State(state): State<Shared>,
    caller: Caller,
    J(body): J<DesignBody>,
) -> ApiResult<Json<Value>> {
    let c = caller.clone();
    state
        .db
        .run(move |conn| {
            let member = c.is_admin
                || conn
                    .client()
                    .query_opt(
                        "SELECT 1 FROM memberships WHERE user_id = $1 AND role IN ('member', 'admin') LIMIT 1",
                        &[&c.user_id],
                    )?
                    .is_some();
            if !c.has_scope("submit") || !member {
                return Err(ApiError::forbidden(
                    "simulating designs needs the member role in a project and the `submit` scope",
                ));
            }
            Ok(())
        })
        .await?;
    Ok(Json(simulate_design(&body).await?))
}

/// Simulates a drawn design (the body of `POST /sysdesign/simulate` once the
/// caller is allowed; also served by `simforge ui`).
pub async fn simulate_design(body: &DesignBody) -> ApiResult<Value> {
    let (value, sim) = load(&body.topology)?;
    let model = sim.model().clone();
    let requests = model.expected_arrivals();
    if requests > MAX_REQUESTS {
        return Err(ApiError::invalid(format!(
            "this design would simulate about {requests:.0} requests; the designer runs at most {MAX_REQUESTS:.0}"
        ))
        .with_field("topology")
        .with_hint("shorten `horizon`, lower `replications` or the sources' rates here, or run the design as a study"));
    }
    let _slot = SLOTS
        .acquire()
        .await
        .map_err(|_| ApiError::unavailable("the simulator is shutting down"))?;
    let seed = body.seed.unwrap_or(1);
    let run = model.clone();
    let summary = tokio::task::spawn_blocking(move || sim.simulate(&run, seed, 2))
        .await
        .map_err(|e| ApiError::internal(format!("simulation task failed: {e}")))?;
    let estimate = |e: &Estimate| {
        let finite = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
        json!({"mean": finite(e.mean), "half_width": if model.replications > 1 { finite(e.half_width) } else { Value::Null }})
    };
    let mut components: Map<String, Value> = model
        .components
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                json!({"type": export::type_name(&c.kind), "measures": {}}),
            )
        })
        .collect();
    let mut measures = Map::new();
    for (k, e) in &summary.estimates {
        let owner = k
            .split_once('.')
            .filter(|(c, _)| components.contains_key(*c));
        match owner {
            Some((c, m)) => {
                components[c]["measures"][m] = estimate(e);
            }
            None => {
                measures.insert(k.clone(), estimate(e));
            }
        }
    }
    measures.insert(
        "cost_per_hour".into(),
        json!({"mean": model.cost_per_hour(), "half_width": null}),
    );
    let edges: Vec<Value> = summary
        .edges
        .iter()
        .map(|(a, b, e)| {
            json!({"from": model.components[*a].name, "to": model.components[*b].name,
                   "throughput": estimate(e)["mean"]})
        })
        .collect();
    Ok(json!({
        "name": design_name(&value),
        "bottleneck": summary.bottleneck,
        "reason": summary.reason,
        "events": summary.events,
        "saturated": summary.saturated,
        "measures": measures,
        "components": components,
        "edges": edges,
    }))
}

/// Query of the export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `compose` or `kubernetes`.
    pub format: String,
}

/// `POST /sysdesign/export?format=compose|kubernetes` (any signed-in
/// caller): the design as a docker-compose file or Kubernetes manifests.
pub async fn export_design(
    caller: Caller,
    Q(q): Q<ExportQuery>,
    J(body): J<DesignBody>,
) -> ApiResult<Response> {
    if !caller.has_scope("read") {
        return Err(ApiError::forbidden("this token cannot export designs"));
    }
    export_response(&q.format, &body)
}

/// The design as `format` (`compose` or `kubernetes`), as a download.
pub fn export_response(format: &str, body: &DesignBody) -> ApiResult<Response> {
    let (value, sim) = load(&body.topology)?;
    let name = design_name(&value);
    let text = match format {
        "compose" => export::compose(sim.model(), &name),
        "kubernetes" => export::kubernetes(sim.model(), &name),
        other => {
            return Err(
                ApiError::invalid(format!("unknown export format `{other}`"))
                    .with_field("format")
                    .with_hint("formats: compose, kubernetes"),
            );
        }
    };
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml; charset=utf-8"),
    );
    let file = format!("{}-{}.yaml", export::dns_name(&name), format);
    if let Some(v) = super::attachment(&file) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
