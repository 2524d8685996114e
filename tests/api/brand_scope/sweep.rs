//! Every operation of the OpenAPI document, called with a token restricted to
//! brand A and the ids of brand B of the same organization: each answers
//! exactly what a token of another organization gets for the same request,
//! or 403 when it acts on the whole organization, or (an operation that
//! takes no id) an answer that names nothing of B; and B is left as it was.
//! An operation added to the document is swept too: one taking an id this
//! test does not know, or needing no bearer without being listed, fails it.

use serde_json::Value;

use super::{Agency, assert_names_none, restricted};
use crate::helpers::{ALL_SCOPES, TestApp};
use crate::on_both_backends;

/// Operations that act on the whole organization: a restricted token gets 403.
const ORGANIZATION_WIDE: &[&str] = &[
    "create_brand",
    "delete_brand",
    "update_organization",
    "create_organization",
    "update_any_organization",
    "list_webhooks",
    "create_webhook",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "test_webhook",
    "list_webhook_deliveries",
];

/// Operations without a bearer token (their own secret or none).
const WITHOUT_BEARER: &[&str] = &[
    "get_healthz",
    "get_readyz",
    "get_metrics",
    "show_reconnect_link",
    "open_reconnect_link",
    "complete_oauth_callback",
];

/// The example body the document gives an operation's JSON request.
fn example_body(doc: &Value, template: &str, method: &str) -> Option<Value> {
    let pointer = format!(
        "/paths/{}/{}/requestBody/content/application~1json",
        template.replace('~', "~0").replace('/', "~1"),
        method.to_ascii_lowercase()
    );
    let content = doc.pointer(&pointer)?;
    content.get("example").cloned().or_else(|| {
        let name = content
            .pointer("/schema/$ref")?
            .as_str()?
            .rsplit('/')
            .next()?;
        doc.pointer(&format!("/components/schemas/{name}/example"))
            .cloned()
    })
}

/// `(status, problem or body without its request id)`.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app.request(method.parse().unwrap(), path).bearer(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await;
    let status = response.status().as_u16();
    let mut value: Value = response.json().await.unwrap_or(Value::Null);
    strip_request_ids(&mut value);
    (status, value)
}

fn strip_request_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("request_id");
            map.values_mut().for_each(strip_request_ids);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_request_ids),
        _ => {}
    }
}

/// What brand B is, as the whole organization reads it.
async fn state_of_b(app: &TestApp, agency: &Agency) -> Vec<Value> {
    let admin = app.admin_token();
    let mut seen = Vec::new();
    for path in [
        "/v1/organization".to_string(),
        "/v1/brands".to_string(),
        format!("/v1/brands/{}/accounts", agency.b),
        format!("/v1/brands/{}/accounts/{}/events", agency.b, agency.b_bob),
        format!("/v1/brands/{}/accounts/{}/events", agency.b, agency.b_alice),
        "/v1/profiles".to_string(),
    ] {
        let response = app.get(&path).bearer(&admin).send().await;
        assert_eq!(response.status(), 200, "{path}");
        seen.push(response.json().await.unwrap());
    }
    seen
}

/// A connection waiting in brand B for its assets to be chosen, holding Bob's grant. The
/// sandbox's profiles are people, so no callback here opens one: the row is written as the
/// callback of a network with assets leaves it.
async fn connection_in_b(app: &TestApp, agency: &Agency) -> String {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use tokenwarden::db::models::Connection;
    use tokenwarden::db::schema::accounts;
    use tokenwarden::domain::ids::{AccountId, BrandId, ConnectionId, CredentialId, ProfileId};
    let (org, brand, account, profile) = (
        crate::helpers::org_id(&app.org_id),
        crate::helpers::id::<BrandId>(&agency.b),
        crate::helpers::id::<AccountId>(&agency.b_bob),
        crate::helpers::id::<ProfileId>(&agency.bob_profile),
    );
    let at = tokenwarden::domain::to_db_time(app.now());
    tokenwarden::db::run(app.pool(), move |conn| {
        let credential: Option<CredentialId> = accounts::table
            .filter(accounts::id.eq(account))
            .select(accounts::credential_id)
            .first(conn)?;
        let row = Connection {
            id: ConnectionId::new(),
            organization_id: org,
            brand_id: brand,
            network: "sandbox".into(),
            profile_id: profile,
            credential_id: credential.unwrap(),
            scopes: String::new(),
            return_url: None,
            actor: "user-1".into(),
            created_at: at,
            expires_at: at + chrono::Duration::days(365),
        };
        tokenwarden::db::connections::insert_connection(conn, &row)?;
        Ok(row.id.to_string())
    })
    .await
    .unwrap()
}

async fn a_token_of_brand_a_reaches_nothing_of_brand_b(app: TestApp) {
    // Arrange: two clients of one agency; every token expired, so the
    // dropdown would list B's accounts if it leaked them.
    let agency = Agency::arrange(&app).await;
    let connection = connection_in_b(&app, &agency).await;
    app.advance(chrono::Duration::days(120));
    let mine = restricted(&app, &[&agency.a]);
    let other_org = app.create_org("Elsewhere", "advanced").await;
    let theirs = app.token(&other_org, ALL_SCOPES);
    let before = state_of_b(&app, &agency).await;
    let counts = app.counts().await;
    let document = tokenwarden::api::openapi();
    let doc = serde_json::to_value(&document).unwrap();
    let mut checked = Vec::new();

    for (template, item) in &document.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let id = operation.operation_id.clone().unwrap();
            let security = serde_json::to_value(&operation.security).unwrap();
            if !security.to_string().contains("\"bearer\"") {
                assert!(
                    WITHOUT_BEARER.contains(&id.as_str()),
                    "{id} needs no bearer: list it"
                );
                continue;
            }
            let body = example_body(&doc, template, method);
            let parameters: Vec<&str> = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();

            if ORGANIZATION_WIDE.contains(&id.as_str()) {
                // Act: even with the token's own brand.
                let path = template
                    .replace("{brand_id}", &agency.a)
                    .replace("{organization_id}", &other_org)
                    .replace("{webhook_id}", &uuid::Uuid::new_v4().to_string());
                let (status, problem) = send(&app, method, &path, &mine, body.as_ref()).await;

                // Assert
                assert_eq!(status, 403, "{id}: {problem}");
                assert_eq!(
                    problem["type"],
                    "https://tokenwarden.dev/problems/organization-wide-token-required",
                    "{id}"
                );
            } else if parameters.is_empty() {
                // Act: bulk renewal is asked for B's accounts; reads as they are.
                let body = match id.as_str() {
                    "renew_accounts" => {
                        Some(serde_json::json!({ "account_ids": [agency.b_bob, agency.b_alice] }))
                    }
                    _ => body,
                };
                let (status, answer) = send(&app, method, template, &mine, body.as_ref()).await;

                // Assert: what another organization gets, or nothing of B.
                assert!(status < 300, "{id}: {status} {answer}");
                if id == "renew_accounts" {
                    let (_, elsewhere) = send(&app, method, template, &theirs, body.as_ref()).await;
                    assert_eq!(answer, elsewhere, "{id}");
                } else {
                    assert_names_none(&answer.to_string(), &agency.of_b(), &id);
                }
            } else {
                // B's ids; and B's account or profile under A's brand id.
                let brands: &[&String] = if parameters.len() > 1 {
                    &[&agency.b, &agency.a]
                } else {
                    &[&agency.b]
                };
                let mut paths = Vec::new();
                for brand in brands {
                    let mut path = template.clone();
                    for parameter in &parameters {
                        let value = match *parameter {
                            "brand_id" => brand,
                            "account_id" => &agency.b_bob,
                            "profile_id" => &agency.bob_profile,
                            "connection_id" => &connection,
                            other => panic!("{id}: which id of brand B is {{{other}}}?"),
                        };
                        path = path.replace(&format!("{{{parameter}}}"), value);
                    }
                    paths.push(path);
                }
                for path in paths {
                    // Act
                    let (status, answer) = send(&app, method, &path, &mine, body.as_ref()).await;
                    let (_, elsewhere) = send(&app, method, &path, &theirs, body.as_ref()).await;

                    // Assert: 404, word for word another organization's.
                    assert_eq!(status, 404, "{id} {path}: {answer}");
                    assert_eq!(answer, elsewhere, "{id} {path}");
                }
            }
            checked.push(id);
        }
    }

    // Assert: every bearer operation was swept; B and its grants are as before.
    assert!(
        checked.len() >= 29,
        "{} operations: {checked:?}",
        checked.len()
    );
    assert_eq!(state_of_b(&app, &agency).await, before);
    assert_eq!(app.counts().await, counts);
}

on_both_backends!(a_token_of_brand_a_reaches_nothing_of_brand_b);
