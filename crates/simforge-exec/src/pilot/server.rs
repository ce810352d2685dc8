//! The coordinator's HTTP endpoint for pilot workers. It only moves requests:
//! each sync becomes a [`Call`] on a channel that the coordinator loop (the only
//! owner of the store and the lease table) answers, so no state is shared
//! between threads and the store keeps a single writer.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

use super::protocol::{HEALTH_PATH, SYNC_PATH, SyncReply, SyncRequest};
use crate::runner::ExecError;

/// One worker's sync, waiting for the coordinator's answer.
#[derive(Debug)]
pub struct Call {
    /// What the worker sent.
    pub request: SyncRequest,
    /// Where the answer goes.
    pub reply: tokio::sync::oneshot::Sender<SyncReply>,
}

#[derive(Clone)]
struct AppState {
    token: String,
    calls: mpsc::Sender<Call>,
}

/// A running endpoint; dropped, it stops serving.
pub struct PilotServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PilotServer {
    /// Listens on `listen` (port 0: a free one) and forwards authorised syncs
    /// to the returned receiver.
    pub fn start(
        listen: SocketAddr,
        token: String,
    ) -> Result<(PilotServer, mpsc::Receiver<Call>), ExecError> {
        let listener = std::net::TcpListener::bind(listen).map_err(|source| ExecError::Io {
            context: format!(
                "listening on {listen} for pilot workers (set backend.slurm.pilot.listen)"
            ),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ExecError::Io {
            context: "reading the pilot endpoint's address".into(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ExecError::Io {
                context: "configuring the pilot endpoint".into(),
                source,
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| ExecError::Io {
                context: "starting the pilot endpoint's runtime".into(),
                source,
            })?;
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .route(SYNC_PATH, post(sync))
            .route(HEALTH_PATH, get(|| async { "ok" }))
            .with_state(AppState { token, calls: tx });
        let thread = std::thread::Builder::new()
            .name("pilot-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("pilot endpoint: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stop_rx.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("pilot endpoint stopped: {e}");
                    }
                });
            })
            .map_err(|source| ExecError::Io {
                context: "starting the pilot endpoint's thread".into(),
                source,
            })?;
        Ok((
            PilotServer {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// The address it listens on (with the port actually bound).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PilotServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Compares tokens without leaking where they differ through timing.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<SyncRequest>,
) -> Result<Json<SyncReply>, (StatusCode, &'static str)> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same_token(given.as_bytes(), state.token.as_bytes()) {
        return Err((StatusCode::UNAUTHORIZED, "missing or wrong bearer token"));
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    state.calls.send(Call { request, reply }).map_err(|_| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the coordinator is stopping",
        )
    })?;
    answer.await.map(Json).map_err(|_| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the coordinator is stopping",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"abc", b"abc"));
        assert!(!same_token(b"abd", b"abc"));
        assert!(!same_token(b"ab", b"abc"));
        assert!(!same_token(b"", b"abc"));
    }
}
