//! The web dashboard: a single-page app built from `ui/` (Vite, TypeScript,
//! Preact) whose output, `ui/dist/`, is committed and embedded into the
//! binary at build time (`build.rs`): no CDN, no files and no Node.js needed
//! to serve it.
//!
//! - `/` redirects to `/ui/`; every `/ui/...` path answers `index.html`, so
//!   the app's own routes survive a reload or a shared link;
//! - `/assets/...` are the hashed bundles, cached for a year (`immutable`):
//!   a new build has new names;
//! - a Content-Security-Policy allows only this origin's scripts, styles and
//!   API, so an injected script has nowhere to load from or report to.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

/// The policy for the app's pages.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// One embedded file by its path under `ui/dist/`.
pub fn asset(path: &str) -> Option<&'static [u8]> {
    embedded::ASSETS
        .binary_search_by(|(p, _)| (*p).cmp(path))
        .ok()
        .map(|i| embedded::ASSETS[i].1)
}

/// The media type of a file, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Routes at the root (outside `/api`).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*route}", get(index))
        .route("/assets/{*file}", get(file))
}

/// The app's page, whatever its route.
async fn index() -> Response {
    let Some(html) = asset("index.html") else {
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            ..ApiError::internal("the dashboard was not built into this binary")
        }
        .with_hint(
            "run `npm ci && npm run build` in crates/simforge-server/ui, then rebuild simforge",
        )
        .into_response();
    };
    let mut resp = html.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    resp
}

/// A hashed bundle.
async fn file(Path(file): Path<String>) -> Response {
    let path = format!("assets/{file}");
    let Some(bytes) = asset(&path) else {
        return ApiError::not_found(format!("no asset `{file}`"))
            .with_hint("reload the page: the dashboard may have been upgraded")
            .into_response();
    };
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_sorted_for_lookup_and_typed() {
        let paths: Vec<&str> = embedded::ASSETS.iter().map(|(p, _)| *p).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
