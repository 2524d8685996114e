//! The committed OpenAPI document equals what the server serves.

use crate::helpers::{Backend, TestApp};

const COMMITTED: &str = "openapi/openapi.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_openapi_matches_the_served_document() {
    let generated = tokenwarden::api::openapi_json();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    if std::env::var("TOKENWARDEN_UPDATE_OPENAPI").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date: regenerate it with \
         `cargo run -q -- openapi > {COMMITTED}` or \
         `TOKENWARDEN_UPDATE_OPENAPI=1 cargo test openapi`"
    );

    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: serde_json::Value = app.get("/openapi.json").send().await.json().await.unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(served, committed);
}

#[test]
fn every_operation_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&tokenwarden::api::openapi_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["license"]["identifier"], "MIT OR Apache-2.0");
    assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["summary"].is_string(), "{id}: no summary");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: no tag"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{id} {status}"
                    );
                }
            }
        }
    }
    for expected in [
        "get_organization",
        "update_organization",
        "create_organization",
        "update_any_organization",
        "list_brands",
        "create_brand",
        "get_brand",
        "update_brand",
        "delete_brand",
        "get_healthz",
        "get_readyz",
        "get_metrics",
    ] {
        assert!(ids.contains(expected), "missing {expected}");
    }
}
