//! What Schemathesis checks in CI, pinned down as tests: unlisted methods answer
//! 405 with `Allow`, `/docs` redirects to Swagger UI, bodies must be objects,
//! integer members take integral floats, the blank-name rule and the cursor
//! shape are exactly what the document says, and the unauthenticated routes
//! answer documented statuses for random input.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

async fn send(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    app.request(method.parse().unwrap(), path)
        .bearer(app.admin_token())
        .send()
        .await
}

async fn unlisted_methods_answer_405_with_allow(app: TestApp) {
    let brand = app.new_brand("Northwind Coffee").await;
    for (method, path, allow) in [
        ("TRACE", "/v1/brands".to_string(), "GET, POST"),
        ("PUT", format!("/v1/brands/{brand}"), "GET, DELETE, PATCH"),
        ("OPTIONS", "/healthz".to_string(), "GET"),
        // A literal segment wins over a parameter, as in the router.
        ("GET", format!("/v1/brands/{brand}/accounts/connect/"), ""),
        (
            "DELETE",
            format!("/v1/brands/{brand}/accounts/connect"),
            "POST",
        ),
        ("TRACE", "/v1/oauth/callback/sandbox".to_string(), "GET"),
    ] {
        let response = send(&app, method, &path).await;
        if allow.is_empty() {
            assert_problem(response, 404, "not-found").await;
            continue;
        }
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        let body = assert_problem(response, 405, "method-not-allowed").await;
        assert!(body["detail"].as_str().unwrap().contains(allow));
    }
    // Unknown paths stay 404.
    assert_problem(send(&app, "TRACE", "/v1/nothing").await, 404, "not-found").await;
}

async fn docs_redirects_to_swagger_ui(app: TestApp) {
    let response = app.get("/docs").send().await;
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/docs/");
    let response = app.get("/docs/").send().await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("swagger"));
}

async fn bodies_must_be_json_objects(app: TestApp) {
    let brand = app.new_brand("Northwind Coffee").await;
    for (method, path) in [
        ("PATCH", "/v1/organization".to_string()),
        ("PATCH", format!("/v1/brands/{brand}")),
        ("POST", "/v1/brands".to_string()),
    ] {
        for body in ["[null, null]", "[]", "null", "\"name\"", "7"] {
            let response = app
                .request(method.parse().unwrap(), &path)
                .bearer(app.admin_token())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let problem = assert_problem(response, 422, "validation-failed").await;
            assert_eq!(
                problem["errors"][0]["pointer"], "",
                "{method} {path} {body}"
            );
        }
    }
    // Nothing changed.
    let org: Value = app
        .get("/v1/organization")
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["name"], "Acme Agency");
}

async fn integer_members_take_integral_numbers(app: TestApp) {
    let patch = |body: Value| {
        app.patch("/v1/organization")
            .bearer(app.admin_token())
            .json(&body)
            .send()
    };
    let response = patch(json!({"warning_window_days": 10.0})).await;
    assert_eq!(response.status(), 200);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["warning_window_days"], 10);
    for bad in [
        json!(10.5),
        json!(1e300),
        json!("10"),
        json!(91.0),
        json!(0),
    ] {
        let response = patch(json!({ "warning_window_days": bad })).await;
        let problem = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["pointer"], "/warning_window_days");
    }
    // `null` is "unchanged", as an absent member.
    let response = patch(json!({"warning_window_days": null})).await;
    assert_eq!(response.status(), 200);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["warning_window_days"], 10);
}

async fn brand_names_follow_their_pattern(app: TestApp) {
    let token = app.admin_token();
    // U+0085 and U+180E are not white space for ECMAScript's `\s`: a name.
    for name in ["\u{85}", "\u{180e}", " a "] {
        let response = app.create_brand(&token, name).await;
        assert_eq!(response.status(), 201, "{name:?}");
    }
    // Every ECMAScript white space character alone is blank.
    for name in [
        " ",
        "\t\n",
        "\u{a0}",
        "\u{feff}",
        "\u{3000}",
        "\u{2028}\u{200a}",
    ] {
        let response = app.create_brand(&token, name).await;
        let problem = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["pointer"], "/name", "{name:?}");
    }
    // The documented pattern is the same class.
    let doc = tokenwarden::api::openapi_json();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(
        doc["components"]["schemas"]["BrandInput"]["properties"]["name"]["pattern"],
        tokenwarden::api::extractors::NOT_BLANK_PATTERN
    );
}

async fn cursors_of_the_documented_shape_are_accepted(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Northwind Coffee").await;
    let zeros = "0".repeat(32);
    for path in [
        format!("/v1/brands?cursor={zeros}"),
        format!("/v1/profiles?cursor={zeros}"),
        format!("/v1/brands/{brand}/accounts?cursor={zeros}"),
        format!("/v1/expired-tokens?cursor={}", "0".repeat(48)),
        format!("/v1/expired-tokens?cursor={}", "f".repeat(48)),
    ] {
        let response = app.get(&path).bearer(&token).send().await;
        assert_eq!(response.status(), 200, "{path}");
    }
    // All zeros is before every id: the whole list.
    let page: Value = app
        .get(format!("/v1/brands?cursor={zeros}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["id"], brand.as_str());
    for cursor in [
        "0".repeat(200),
        "0".repeat(31),
        "A".repeat(32),
        "not-a-cursor".to_string(),
    ] {
        let response = app
            .get(format!("/v1/brands?cursor={cursor}"))
            .bearer(&token)
            .send()
            .await;
        let problem = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["parameter"], "cursor");
    }
    let response = app
        .get(format!("/v1/expired-tokens?cursor={zeros}"))
        .bearer(&token)
        .send()
        .await;
    assert_problem(response, 422, "validation-failed").await;
}

async fn unauthenticated_routes_answer_documented_statuses(app: TestApp) {
    let get = |path: String| app.get(&path).send();
    // A well-formed state that names no authorization: 404; no state: 400.
    let response = get("/v1/oauth/callback/sandbox?state=abc&code=x".into()).await;
    assert_problem(response, 404, "not-found").await;
    let response = get("/v1/oauth/callback/nowhere?state=abc".into()).await;
    assert_problem(response, 404, "not-found").await;
    let response = get("/v1/oauth/callback/sandbox?error=access_denied".into()).await;
    assert_problem(response, 400, "invalid-oauth-state").await;
    // Reconnect tokens of the documented shape that name nothing, and others: 404.
    for token in ["A".repeat(43), "short".to_string(), "!".repeat(43)] {
        let response = get(format!("/v1/reconnect/{token}")).await;
        assert_problem(response, 404, "not-found").await;
    }
}

async fn problem_texts_stay_within_their_bounds(app: TestApp) {
    let long = "x".repeat(5000);
    let response = app
        .post("/v1/brands")
        .bearer(app.admin_token())
        .json(&json!({ "name": "ok", long.as_str(): 1 }))
        .send()
        .await;
    let problem = assert_problem(response, 422, "validation-failed").await;
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.chars().count() <= 1000, "{}", detail.len());
    assert!(detail.ends_with('…'));
}

on_both_backends!(
    unlisted_methods_answer_405_with_allow,
    docs_redirects_to_swagger_ui,
    bodies_must_be_json_objects,
    integer_members_take_integral_numbers,
    brand_names_follow_their_pattern,
    cursors_of_the_documented_shape_are_accepted,
    unauthenticated_routes_answer_documented_statuses,
    problem_texts_stay_within_their_bounds,
);
