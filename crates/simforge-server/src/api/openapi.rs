//! The API's OpenAPI 3 document (`/api/openapi.json`) and an interactive docs
//! page (`/api/docs`, Swagger UI with its assets compiled in, so it works on
//! an air-gapped cluster).
//!
//! The document is written by hand in `openapi.yaml` beside this crate's
//! Cargo.toml — the contract, reviewed like code — and a test checks that
//! every operation it lists is routed.

use std::sync::OnceLock;

use axum::Router;
use serde_json::Value;

use crate::state::Shared;

/// The document as written.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// The document as JSON (parsed once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        // The YAML is compiled in and checked by a test; a failure here is a
        // build defect, reported in the document itself rather than a panic.
        serde_saphyr::from_str::<Value>(OPENAPI_YAML).unwrap_or_else(|e| {
            serde_json::json!({"openapi": "3.0.3", "info": {"title": "simforge", "version": "1",
                "description": format!("openapi.yaml does not parse: {e}")}, "paths": {}})
        })
    })
}

/// `/api/openapi.json` and `/api/docs`.
pub fn routes() -> Router<Shared> {
    Router::new().merge(
        utoipa_swagger_ui::SwaggerUi::new("/api/docs")
            .external_url_unchecked("/api/openapi.json", document().clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_and_every_operation_is_described() {
        let doc: Value = serde_saphyr::from_str(OPENAPI_YAML).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 20, "{}", paths.len());
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                assert!(op["summary"].is_string(), "{method} {path}: no summary");
                assert!(op["responses"].is_object(), "{method} {path}: no responses");
                assert!(op["tags"].is_array(), "{method} {path}: no tags");
            }
        }
        // Every $ref points at something defined.
        let text = serde_json::to_string(&doc).unwrap();
        for r in text.split("\"$ref\":\"#/").skip(1) {
            let target = &r[..r.find('"').unwrap()];
            let mut node = &doc;
            for part in target.split('/') {
                node = &node[part];
            }
            assert!(!node.is_null(), "dangling $ref #/{target}");
        }
    }
}
