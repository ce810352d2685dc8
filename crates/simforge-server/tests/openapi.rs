//! The OpenAPI document matches the router, both ways: every operation it
//! lists is routed (an unauthenticated call reaches the handler's auth check
//! or the handler, never the "no such endpoint" fallback or 405), and every
//! route the server's source registers under `/api/v1` is documented. The
//! docs page and document are served without a network.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Http, TestServer, pg_url};
use serde_json::Value;

/// Routes outside `/api/v1` (operations endpoints, the docs and the
/// dashboard's pages and bundles), which the document does not describe.
const ROOT_LEVEL: &[&str] = &[
    "/",
    "/ui",
    "/assets",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/openapi.json",
    "/api/docs",
];

/// The HTTP methods of axum's method routers (`get(handler).post(handler)`).
const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Operations registered in the source under `/api/v1`, as the document
/// reads the router.
const ROUTED_OPERATIONS: usize = 59;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The method routers called in `chain` (the arguments of a `.route(` call
/// after its path): `get(a::b).post(c)` gives `get`, `post`.
fn methods_in(chain: &str, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut ident = String::new();
    let mut before = ' ';
    for ch in chain.chars().chain([' ']) {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            ident.push(ch);
            continue;
        }
        if !ident.is_empty() && ch == '(' {
            let name = ident.as_str();
            assert!(
                ![
                    "any",
                    "on",
                    "on_service",
                    "any_service",
                    "get_service",
                    "post_service"
                ]
                .contains(&name),
                "{what}: `{name}(` routes methods this test cannot read; list them one by one"
            );
            // A method router is a call that starts the chain, follows a
            // `.`, or is named by its path (`axum::routing::patch(`).
            if METHODS.contains(&name) && [' ', '.', ':', ','].contains(&before) {
                out.push(name.to_string());
            }
        }
        if !ident.is_empty() {
            ident.clear();
        }
        if !ch.is_whitespace() {
            before = ch;
        } else if before != '.' && before != ':' {
            before = ' ';
        }
    }
    out
}

/// Every `(method, path)` of the `.route("path", method(handler)...)` calls
/// in `text` (the path literal may be on the next line), outside
/// `#[cfg(test)]` code.
fn routes_in(text: &str, file: &str) -> Vec<(String, String)> {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(".route(") {
        let after = &rest[i + ".route(".len()..];
        // The call's arguments, up to its closing parenthesis.
        let (mut depth, mut in_str, mut escaped, mut end) = (1, false, false, None);
        for (j, ch) in after.char_indices() {
            if in_str {
                match ch {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_str = false,
                    _ => {}
                }
                continue;
            }
            match ch {
                '"' => in_str = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.unwrap_or_else(|| panic!("{file}: an unclosed `.route(` call"));
        let args = after[..end].trim_start();
        let literal = args.strip_prefix('"').unwrap_or_else(|| {
            panic!("{file}: a `.route(` whose path is not a string literal: {args}")
        });
        let close = literal.find('"').unwrap();
        let path = literal[..close].to_string();
        let what = format!("{file}: route {path}");
        let methods = methods_in(&literal[close + 1..], &what);
        assert!(!methods.is_empty(), "{what}: no method router found");
        out.extend(methods.into_iter().map(|m| (m, path.clone())));
        rest = &after[end + 1..];
    }
    out
}

/// Every route the crate's source registers.
fn source_routes() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.strip_prefix(&src).unwrap().display().to_string();
        for (m, p) in routes_in(&text, &name) {
            out.push((m, p, name.clone()));
        }
    }
    out
}

/// The document's `(method, path)` operations, as the server serves it.
fn documented() -> BTreeSet<(String, String)> {
    let doc = simforge_server::api::openapi::document();
    assert!(
        !doc["info"]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("does not parse"),
        "{}",
        doc["info"]["description"]
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_route_scanner_reads_chained_and_wrapped_routes() {
    let text = r#"
        Router::new()
            .route("/a", get(api::a))
            .route(
                "/b/{x}",
                post(api::upload).get(api::versions),
            )
            .route("/c", axum::routing::patch(users::update).delete(x::get_thing))
            .layer(DefaultBodyLimit::disable())
    "#;
    let got = routes_in(text, "t.rs");
    let want: Vec<(String, String)> = [
        ("get", "/a"),
        ("post", "/b/{x}"),
        ("get", "/b/{x}"),
        ("patch", "/c"),
        ("delete", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn every_routed_operation_is_documented() {
    let documented = documented();
    let mut routed = BTreeSet::new();
    let mut root_level = BTreeSet::new();
    let mut missing = Vec::new();
    for (method, path, file) in source_routes() {
        if ROOT_LEVEL
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            root_level.insert(path);
            continue;
        }
        assert!(
            !path.starts_with("/api"),
            "{file}: {method} {path} looks root-level; add it to ROOT_LEVEL or route it under /api/v1"
        );
        if !documented.contains(&(method.clone(), path.clone())) {
            missing.push(format!("{} {path} ({file})", method.to_uppercase()));
        }
        routed.insert((method, path));
    }
    assert!(
        missing.is_empty(),
        "routed but not in openapi.yaml:\n{}",
        missing.join("\n")
    );
    // The scan saw the router: the operations endpoints, and every
    // documented operation among the routes (the other direction, statically).
    for ops in ["/healthz", "/readyz", "/metrics"] {
        assert!(root_level.contains(ops), "the scan missed {ops}");
    }
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    assert!(
        routed.len() >= ROUTED_OPERATIONS,
        "{} routed operations",
        routed.len()
    );
}

#[test]
fn every_documented_operation_is_routed_and_the_docs_are_served() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    let (s, doc) = http.call("GET", "/api/openapi.json", None, None);
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let base = doc["servers"][0]["url"].as_str().unwrap().to_string();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let concrete = path
                .replace("{id}", "abc123")
                .replace("{key}", "p%2Fs")
                .replace(['{', '}'], "");
            let (status, body) = http.call(
                &method.to_uppercase(),
                &format!("{base}{concrete}"),
                None,
                Some(&Value::Object(Default::default())),
            );
            assert_ne!(status, 405, "{method} {path} is not routed for that method");
            let fallback = body["error"]["message"] == "no such endpoint";
            assert!(!fallback, "{method} {path} is documented but not routed");
            assert!(
                [200, 400, 401, 404, 422].contains(&status) || status < 300,
                "{method} {path}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= ROUTED_OPERATIONS, "{checked}");
    let (s, page) = http.call("GET", "/api/docs/", None, None);
    assert_eq!(s, 200);
    let page = page.as_str().unwrap_or_default();
    assert!(
        page.contains("swagger") || page.contains("Swagger"),
        "{page}"
    );
    assert!(
        !page.contains("https://"),
        "the docs page loads nothing from the internet"
    );
}
