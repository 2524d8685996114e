//! Scopes are part of the contract: every operation's security requirement
//! in the OpenAPI document names the scope it needs, and the server holds to
//! exactly that — a token with every other scope gets 403 naming it.

use serde_json::Value;
use utoipa::openapi::path::Operation;

use crate::helpers::{Backend, TestApp, assert_problem};

const EVERY_SCOPE: [&str; 7] = [
    "accounts:read",
    "accounts:write",
    "accounts:import",
    "tokens:renew",
    "tokens:read",
    "org:admin",
    "platform:admin",
];

/// The scopes the bearer requirement of an operation names.
fn scopes_of(operation: &Operation) -> Option<Vec<String>> {
    let security = operation.security.as_ref()?;
    let value = serde_json::to_value(security).unwrap();
    value
        .as_array()?
        .iter()
        .find_map(|requirement| requirement.get("bearer"))
        .map(|scopes| {
            scopes
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
}

#[tokio::test]
async fn every_operation_names_its_scope_and_the_server_holds_to_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document = tokenwarden::api::openapi();
    let json: Value = serde_json::to_value(&document).unwrap();
    let mut checked = 0;
    for (template, item) in &document.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let id = operation.operation_id.clone().unwrap();
            let Some(scopes) = scopes_of(operation) else {
                // No bearer requirement: the document says so explicitly.
                assert!(operation.security.is_some(), "{id} states its security");
                continue;
            };
            assert!(scopes.len() <= 1, "{id}: one scope per operation");
            let Some(needed) = scopes.first() else {
                continue;
            };
            // Arrange: a token with every scope but the one the document names.
            let others: Vec<&str> = EVERY_SCOPE
                .iter()
                .copied()
                .filter(|s| s != needed)
                .collect();
            let token = app.token(&app.org_id, &others.join(" "));
            let path = template
                .replace("{brand_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10")
                .replace("{account_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b11")
                .replace("{profile_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12")
                .replace("{organization_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13")
                .replace("{webhook_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b14")
                .replace("{connection_id}", "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b15");
            let pointer = format!(
                "/paths/{}/{}/requestBody/content/application~1json",
                template.replace('~', "~0").replace('/', "~1"),
                method.to_ascii_lowercase()
            );
            let body = json.pointer(&pointer).and_then(|content| {
                content.get("example").cloned().or_else(|| {
                    let reference = content.pointer("/schema/$ref")?.as_str()?;
                    let name = reference.rsplit('/').next()?;
                    json.pointer(&format!("/components/schemas/{name}/example"))
                        .cloned()
                })
            });

            // Act
            let mut request = app.request(method.parse().unwrap(), &path).bearer(&token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await;

            // Assert: 403 naming exactly the documented scope.
            let problem = assert_problem(response, 403, "insufficient-scope").await;
            assert_eq!(problem["required_scope"], needed.as_str(), "{id}");
            checked += 1;
        }
    }
    assert!(checked >= 23, "{checked} operations checked");
}
