//! The OpenAPI document matches the router: every operation it lists is
//! routed (an unauthenticated call reaches the handler's auth check or the
//! handler, never the "no such endpoint" fallback or 405), and the docs page
//! and document are served without a network.

mod common;

use common::{Http, TestServer, pg_url};
use serde_json::Value;

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
    assert!(checked >= 30, "{checked}");
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
