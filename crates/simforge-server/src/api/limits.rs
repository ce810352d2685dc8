//! Request accounting and per-caller rate limiting: a fixed one-minute window
//! per token (or per address for anonymous requests). Enough to stop a
//! runaway script; not a defence against a distributed attack.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::Shared;

const WINDOW: Duration = Duration::from_secs(60);

/// Counts of the current window per caller key.
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Counts a request by `key`; `Err(seconds to wait)` when over `limit`.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let Ok(mut map) = self.windows.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            let wait = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        Ok(())
    }
}

/// Middleware: rate limit, then count the answer for `/metrics`.
pub async fn count_and_limit(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let limit = state.config.limits.rate_per_minute;
    let path = req.uri().path().to_string();
    if limit > 0 && path.starts_with("/api/") {
        let (parts, body) = req.into_parts();
        let key = crate::auth::presented_token(&parts)
            .map(|t| crate::auth::tokens::token_hash(&t))
            .unwrap_or_else(|| crate::api::client_addr(&parts));
        if let Err(wait) = state.rate.check(&key, limit) {
            state.requests.fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::rate_limited(wait).into_response();
            if let Ok(v) = wait.to_string().parse() {
                resp.headers_mut().insert("retry-after", v);
            }
            return resp;
        }
        let resp = next.run(Request::from_parts(parts, body)).await;
        count(&state, &resp);
        return resp;
    }
    let resp = next.run(req).await;
    count(&state, &resp);
    resp
}

fn count(state: &Shared, resp: &Response) {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if resp.status().is_server_error() {
        state.server_errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_the_limit_then_refuses() {
        let r = RateLimiter::default();
        for _ in 0..5 {
            assert!(r.check("a", 5).is_ok());
        }
        let wait = r.check("a", 5).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(r.check("b", 5).is_ok(), "keys are independent");
        assert!(r.check("a", 0).is_ok(), "0 means no limit");
    }
}
