//! The HTTP API under `/api/v1`, plus `/healthz`, `/readyz` and `/metrics`.
//! Handlers are thin: they authorise, then run one database job.

pub(crate) mod check;
pub(crate) mod design;
pub mod explore;
pub mod limits;
pub mod openapi;
mod ops;
pub mod projects;
pub(crate) mod runs;
pub mod studies;
pub mod users;
mod workers;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::routing::{delete, get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::error::ApiError;
use crate::state::Shared;

/// The whole application.
pub fn router(state: Shared) -> Router {
    let cfg = &state.config;
    let api = Router::new()
        .route("/auth/login", post(users::login))
        .route("/auth/logout", post(users::logout))
        .route("/me", get(users::me))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{name}", axum::routing::patch(users::update_user))
        .route("/tokens", post(users::create_token).get(users::list_tokens))
        .route("/tokens/{id}", delete(users::revoke_token))
        .route("/audit", get(users::audit_log))
        .route("/projects", post(projects::create).get(projects::list))
        .route("/projects/{project}/members", get(projects::members))
        .route(
            "/projects/{project}/members/{user}",
            put(projects::set_member).delete(projects::remove_member),
        )
        .route(
            "/projects/{project}/studies",
            post(studies::submit).get(studies::list_in_project),
        )
        .route("/studies", get(studies::list))
        .route(
            "/projects/{project}/studies/{name}",
            get(studies::show).delete(studies::delete),
        )
        .route(
            "/projects/{project}/studies/{name}/cancel",
            post(studies::cancel),
        )
        .route("/projects/{project}/studies/{name}/runs", get(runs::list))
        .route(
            "/projects/{project}/studies/{name}/results",
            get(runs::results),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/columns",
            get(explore::columns),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/sample",
            get(explore::sample),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/histogram",
            get(explore::histogram),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/runs",
            get(explore::runs),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/convergence",
            get(explore::analysis::convergence),
        )
        .route(
            "/projects/{project}/studies/{name}/explore/sensitivity",
            get(explore::analysis::sensitivity),
        )
        .route("/runs", get(runs::search))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/logs", get(runs::logs))
        .route("/workers", get(workers::list))
        .route("/workers/sync", post(workers::sync))
        .route("/workers/studies/{key}", get(workers::study_source))
        .route("/queues", get(workers::queues))
        .route("/check", post(check::check))
        .route("/sysdesign/simulate", post(design::simulate))
        .route("/sysdesign/export", post(design::export_design))
        .merge(crate::ingest::routes())
        .merge(crate::etl::routes())
        .merge(crate::datasets::routes())
        .merge(crate::artifacts::routes());
    // Uploads are bounded by `datasets.max_bytes` (`limits.artifact_bytes`) and an idle timeout
    // instead of the body limit and request timeout below.
    let uploads = Router::new().nest(
        "/api/v1",
        crate::datasets::upload_routes().merge(crate::artifacts::upload_routes()),
    );
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(
            cfg.cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        ))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .allow_credentials(true);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(openapi::routes())
        .merge(crate::ui::routes())
        .layer(RequestBodyLimitLayer::new(cfg.limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs_f64(cfg.limits.request_timeout_s.max(1.0)),
        ))
        .merge(uploads)
        .fallback(|| async {
            ApiError::not_found("no such endpoint").with_hint("the API lives under /api/v1")
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::count_and_limit,
        ))
        .layer(cors)
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("no-store"),
        ))
        .with_state(state)
}

/// `Content-Disposition: attachment` naming the download `file_name`,
/// with every character but ASCII letters, digits, `-`, `_` and `.`
/// replaced by `_` (a name from user data cannot break the header).
pub fn attachment(file_name: &str) -> Option<HeaderValue> {
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")).ok()
}

/// The client's address: the first `X-Forwarded-For` hop if a proxy set it,
/// else the peer address.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// See [`ClientAddr`].
pub fn client_addr(parts: &Parts) -> String {
    if let Some(v) = parts.headers.get("x-forwarded-for")
        && let Ok(v) = v.to_str()
        && let Some(first) = v.split(',').next()
    {
        return first.trim().to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Paging of list endpoints: `limit` (default 100, at most 10 000) and `offset`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Page {
    /// Rows per page.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl Page {
    /// Limit and offset, bounded.
    pub fn bounds(&self) -> (i64, i64) {
        (
            self.limit.unwrap_or(100).clamp(1, 10_000),
            self.offset.unwrap_or(0).max(0),
        )
    }
}

/// Records a mutation in the audit log.
pub fn audit(
    client: &mut impl postgres::GenericClient,
    caller: Option<&crate::auth::Caller>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    addr: &str,
) -> crate::error::ApiResult<()> {
    client.execute(
        "INSERT INTO audit (user_id, user_name, action, target, detail, address, status)
         VALUES ($1, $2, $3, $4, $5, $6, 200)",
        &[
            &caller.map(|c| c.user_id),
            &caller.map(|c| c.name.clone()),
            &action,
            &target,
            &detail,
            &addr,
        ],
    )?;
    Ok(())
}

/// `Query` whose rejection is the API's error body (names the parameter).
#[derive(Debug, Clone, Copy, Default)]
pub struct Q<T>(pub T);

impl<T, S> FromRequestParts<S> for Q<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| {
                ApiError::invalid(e.body_text())
                    .with_hint("check the query parameters against docs/server.md")
            })
    }
}

/// `Json` whose rejection is the API's error body.
#[derive(Debug, Clone, Copy, Default)]
pub struct J<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for J<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|j| J(j.0))
            .map_err(|e| {
                let status = e.status();
                let err = ApiError::invalid(e.body_text())
                    .with_hint("send a JSON body as described in docs/server.md with Content-Type: application/json");
                if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError { status, code: "too_large", ..err }
                } else {
                    err
                }
            })
    }
}
