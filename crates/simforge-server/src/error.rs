//! The API's one error shape. Every failure a client sees is a JSON body
//! `{"error": {"code", "message", "field", "hint"}}` with a matching HTTP
//! status, so scripts branch on `code` and people read `message` and `hint`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request failed, as the client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable machine-readable code (`not_found`, `forbidden`, `invalid`, ...).
    pub code: &'static str,
    /// What went wrong, in a sentence.
    pub message: String,
    /// The request field at fault, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            hint: None,
        }
    }

    /// 400: the request is malformed or fails validation.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 401: no credentials, or credentials that do not check out.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).with_hint(
            "send `Authorization: Bearer <token>` (create one with `simforge admin token` or POST /api/v1/tokens) or log in",
        )
    }

    /// 403: the caller is known but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing (or the caller may not know it exists).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 429: too many requests from this token or address.
    pub fn rate_limited(retry_after_s: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {retry_after_s} s"),
        )
    }

    /// 500: the server failed; the message is safe to show, the detail is logged.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 503: a dependency (the database) is unavailable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            .with_hint("retry with back-off; the server's /readyz says when it is ready")
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a ApiError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(Body { error: &self })).into_response()
    }
}

impl From<postgres::Error> for ApiError {
    fn from(e: postgres::Error) -> Self {
        // Unavailable only when the connection is gone or the socket failed;
        // anything else (a type mismatch, a constraint) is the server's fault.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            tracing::error!(error = %e, "database unavailable");
            return ApiError::unavailable("the database is unavailable");
        }
        tracing::error!(error = %e, "database error");
        ApiError::internal("database error")
    }
}

impl From<simforge_store::StoreError> for ApiError {
    fn from(e: simforge_store::StoreError) -> Self {
        use simforge_store::StoreError as E;
        match e {
            E::UnknownStudy(s) => ApiError::not_found(format!("no study `{s}`")),
            E::RunLookup(m) => ApiError::not_found(m),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal("store error")
            }
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        tracing::error!(error = %e, "no database connection");
        ApiError::unavailable("no database connection available")
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
