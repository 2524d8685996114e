//! U+0000 (NUL): SQLite stores it, PostgreSQL refuses it in text. The API
//! refuses it as input on both, strips it from what a network sends, and a
//! database that refuses text answers a problem, never a 500.

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::{brands, organizations, profiles, webhook_subscriptions};
use tokenwarden::sandbox::SandboxIdentity;

use crate::auth::assert_unauthorized;
use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    app.request(method, path)
        .bearer(token)
        .json(&body)
        .send()
        .await
}

/// Asserts a 422 whose one error names `pointer` (a body member) or
/// `parameter` (a query parameter).
async fn assert_refused(response: reqwest::Response, field: (&str, &str), case: &str) {
    assert_eq!(response.status(), 422, "{case}");
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0][field.0], field.1, "{case}: {body}");
}

async fn rows(app: &TestApp) -> (i64, i64, i64, Vec<String>) {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok((
            brands::table.count().get_result(conn)?,
            organizations::table.count().get_result(conn)?,
            webhook_subscriptions::table.count().get_result(conn)?,
            organizations::table
                .select(organizations::name)
                .load(conn)?,
        ))
    })
    .await
    .unwrap()
}

async fn a_nul_character_is_refused_as_input_never_a_server_error(app: TestApp) {
    // Arrange
    let admin = app.admin_token();
    let before = rows(&app).await;
    use reqwest::Method;

    // Act and assert: every text a client sends.
    let platform = app.platform_token();
    let webhook = json!({
        "url": "http://127.0.0.1:9/hooks",
        "events": ["token.expired"],
        "description": "a\u{0}b",
    });
    for (method, path, token, body, pointer) in [
        (
            Method::POST,
            "/v1/brands",
            &admin,
            json!({"name": "Acme\u{0}Corp"}),
            "/name",
        ),
        (
            Method::PATCH,
            "/v1/organization",
            &admin,
            json!({"name": "\u{0}"}),
            "/name",
        ),
        (
            Method::POST,
            "/v1/organizations",
            &platform,
            json!({"name": "Billing\u{0}", "plan": "starter"}),
            "/name",
        ),
        (
            Method::POST,
            "/v1/webhooks",
            &admin,
            webhook,
            "/description",
        ),
    ] {
        let response = send(&app, method, path, token, body).await;
        assert_refused(response, ("pointer", pointer), path).await;
    }
    for path in [
        "/v1/expired-tokens?network=%00",
        "/v1/expired-tokens/summary?network=x%00y",
        "/v1/profiles?network=%00",
    ] {
        assert_refused(
            app.get(path).bearer(&admin).send().await,
            ("parameter", "network"),
            path,
        )
        .await;
    }

    // A token naming a subject or an organization with NUL is no token.
    for (org, sub, case) in [
        (app.org_id.clone(), "user\u{0}1", "sub"),
        (format!("{}\u{0}", app.org_id), "user-1", "org"),
    ] {
        let token = app.minter.mint(
            &org,
            sub,
            "accounts:read org:admin",
            std::time::Duration::from_secs(600),
        );
        assert_unauthorized(&app, &token, case).await;
    }

    // Nothing was stored or changed.
    assert_eq!(rows(&app).await, before);
}

async fn a_network_name_with_nul_is_stored_without_it(app: TestApp) {
    // Arrange: a person whose network sends NUL in their handle and name.
    app.sandbox().add_identity(SandboxIdentity::new(
        "nul-person",
        "nul\u{0}handle",
        "Nul\u{0} Person",
    ));
    let brand = app.new_brand("Publishing").await;

    // Act: the profile connects (before, PostgreSQL answered 500 and it never could).
    let connected = app.connect_sandbox(&brand, "nul-person").await;

    // Assert: what the client sees and what is stored carry no NUL.
    let account = connected["account"].clone();
    assert_eq!(account["profile"]["handle"], "nulhandle", "{connected}");
    assert_eq!(
        account["profile"]["display_name"], "Nul Person",
        "{connected}"
    );
    let stored: Vec<(String, Option<String>)> = tokenwarden::db::run(app.pool(), |conn| {
        Ok(profiles::table
            .select((profiles::handle, profiles::display_name))
            .load(conn)?)
    })
    .await
    .unwrap();
    assert_eq!(
        stored,
        [("nulhandle".to_string(), Some("Nul Person".to_string()))]
    );
}

/// Whatever text reaches the database, a refusal of it is a problem the
/// client can act on, never a 500.
async fn text_the_database_refuses_is_not_a_server_fault(app: TestApp) {
    use tokenwarden::api::problem::AsProblem;
    // Act: a write of text with NUL, past every check of the API.
    let result = tokenwarden::db::run(app.pool(), |conn| {
        diesel::update(organizations::table.filter(organizations::id.eq("nobody")))
            .set(organizations::name.eq("a\u{0}b"))
            .execute(conn)
            .map_err(tokenwarden::error::Error::from)
    })
    .await;
    // Assert: SQLite takes it; PostgreSQL refuses it as input.
    match result {
        Ok(_) => assert_eq!(app.backend, crate::helpers::Backend::Sqlite),
        Err(error) => {
            assert_eq!(app.backend, crate::helpers::Backend::Postgres, "{error:?}");
            let problem = error.problem();
            assert_eq!(problem.status, 422, "{error:?}");
            assert!(
                problem.type_uri.ends_with("/unstorable-text"),
                "{}",
                problem.type_uri
            );
        }
    }
}

on_both_backends!(
    a_nul_character_is_refused_as_input_never_a_server_error,
    a_network_name_with_nul_is_stored_without_it,
    text_the_database_refuses_is_not_a_server_fault,
);

/// The API document says what the server refuses, so that generated clients
/// and fuzzers do not send it as valid.
#[test]
fn the_document_says_no_text_may_hold_nul() {
    use tokenwarden::api::extractors::{NO_NUL_PATTERN, NOT_BLANK_PATTERN};
    let doc: Value = serde_json::from_str(&tokenwarden::api::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["WebhookInput"]["properties"]["description"]["pattern"],
        NO_NUL_PATTERN
    );
    assert_eq!(
        schemas["OrganizationCreate"]["properties"]["name"]["pattern"],
        NO_NUL_PATTERN
    );
    assert_eq!(
        schemas["BrandInput"]["properties"]["name"]["pattern"],
        NOT_BLANK_PATTERN
    );
    let network = doc["paths"]["/v1/expired-tokens"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "network")
        .unwrap();
    assert_eq!(network["schema"]["pattern"], NO_NUL_PATTERN);
    // Members and parameters that are not text keep their own shape.
    assert!(schemas["WebhookInput"]["properties"]["url"]["pattern"].is_null());
}
