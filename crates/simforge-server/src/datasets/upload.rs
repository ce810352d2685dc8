//! Receiving an upload: the request body is streamed to a scratch file while
//! it is hashed (SHA-256), on a blocking thread fed through a small bounded
//! channel — a large upload never sits in memory, and hashing never blocks
//! the request threads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::StreamExt;
use sha2_11::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Chunks in flight between the request and the writer thread.
const IN_FLIGHT: usize = 8;

/// A complete upload in a scratch file (deleted when dropped).
#[derive(Debug)]
pub struct Received {
    /// The scratch file.
    pub file: tempfile::NamedTempFile,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Bytes received.
    pub size: u64,
}

/// 413 for an upload over `max` bytes.
pub fn too_large(max: u64) -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "too_large",
        ..ApiError::invalid(format!(
            "the upload is larger than the limit of {max} bytes"
        ))
        .with_hint("raise datasets.max_bytes")
    }
}

/// Reads and discards what is left of a refused upload's body (at most
/// 1 MiB, for at most 2 s) before the refusal is sent: an HTTP/1.1 server
/// that answers early and closes makes the client see a reset connection
/// instead of the reason. Larger bodies are cut off.
pub async fn refuse(body: Body, error: ApiError) -> ApiError {
    let mut stream = body.into_data_stream();
    let mut left: usize = 1 << 20;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(chunk)) = stream.next().await {
            if chunk.len() >= left {
                break;
            }
            left -= chunk.len();
        }
    })
    .await;
    error
}

/// 408 for an upload that sent nothing for `idle`.
fn stalled(idle: Duration) -> ApiError {
    ApiError {
        status: StatusCode::REQUEST_TIMEOUT,
        code: "timeout",
        ..ApiError::invalid(format!(
            "the upload stalled: no data for {} s",
            idle.as_secs_f64()
        ))
        .with_hint("uploads may take as long as they need while data flows; limits.request_timeout_s is the longest pause")
    }
}

/// Streams `body` into a scratch file in `dir`, hashing it; at most `max`
/// bytes. Uploads are exempt from the request timeout (a large dataset on a
/// slow link takes what it takes), so a pause longer than `idle` between two
/// chunks ends one instead.
pub async fn receive(body: Body, dir: PathBuf, max: u64, idle: Duration) -> ApiResult<Received> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || write_hashing(rx, &dir));
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    let mut failure = None;
    loop {
        let chunk = match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                failure = Some(stalled(idle));
                break;
            }
        };
        match chunk {
            Ok(chunk) => {
                size += chunk.len() as u64;
                if size > max {
                    failure = Some(too_large(max));
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(body_error(&e, max));
                break;
            }
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))?;
    if let Some(f) = failure {
        return Err(f); // the scratch file is dropped, hence deleted
    }
    written.map_err(|e| {
        tracing::error!(error = %e, "writing an upload failed");
        ApiError::internal("could not store the upload")
    })
}

/// The client's body failed: too large (the server-wide limit), or cut off.
fn body_error(e: &axum::Error, max: u64) -> ApiError {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains("length limit exceeded") {
            return too_large(max);
        }
        cause = c.source();
    }
    ApiError::invalid(format!("the upload was interrupted: {e}"))
}

fn write_hashing(
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    dir: &Path,
) -> std::io::Result<Received> {
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file.as_file_mut());
        while let Some(chunk) = rx.blocking_recv() {
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            size += chunk.len() as u64;
        }
        out.flush()?;
    }
    Ok(Received {
        file,
        sha256: crate::auth::tokens::hex(&hasher.finalize()),
        size,
    })
}
