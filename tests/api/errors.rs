//! Bad input gets a problem+json answer with the right status and changes nothing.

use serde_json::Value;

use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

async fn brand_count(app: &TestApp) -> usize {
    let page: Value = app
        .get("/v1/brands?limit=100")
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().len()
}

async fn bad_input_answers_problems_and_changes_nothing(app: TestApp) {
    let token = app.admin_token();
    let post = |body: &'static str, content_type: &'static str| {
        app.post("/v1/brands")
            .bearer(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // Malformed JSON.
    let body = assert_problem(
        post("{\"name\": ", "application/json").await,
        400,
        "bad-request",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));

    // Unknown member (no mass assignment), with a pointer to it.
    let body = assert_problem(
        post(
            r#"{"name": "X", "organization_id": "other"}"#,
            "application/json",
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/organization_id");

    // Wrong type and missing member.
    let body = assert_problem(
        post(r#"{"name": 5}"#, "application/json").await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/name");
    assert_problem(
        post("{}", "application/json").await,
        422,
        "validation-failed",
    )
    .await;

    // Out-of-bounds value.
    let long = format!(r#"{{"name": "{}"}}"#, "x".repeat(101));
    let response = app
        .post("/v1/brands")
        .bearer(&token)
        .header("content-type", "application/json")
        .body(long)
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/name");
    assert_eq!(
        body["errors"][0]["detail"],
        "length must be between 1 and 100"
    );
    let body = assert_problem(
        post(r#"{"name": "   "}"#, "application/json").await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["detail"], "must not be blank");

    // Not JSON at all.
    assert_problem(
        post("name=x", "application/x-www-form-urlencoded").await,
        415,
        "unsupported-media-type",
    )
    .await;

    // Over the body limit (64 KiB by default), declared and streamed.
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(70 * 1024));
    let response = app
        .post("/v1/brands")
        .bearer(&token)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await;
    assert_problem(response, 413, "payload-too-large").await;
    let stream = futures_util::stream::iter(
        huge.into_bytes()
            .chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = app
        .post("/v1/brands")
        .bearer(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert_problem(response, 413, "payload-too-large").await;

    // Nothing above created a brand.
    assert_eq!(brand_count(&app).await, 0);
}

async fn bad_paths_and_queries_answer_problems(app: TestApp) {
    let token = app.admin_token();
    // A malformed id in a path is a problem+json 404, not actix's text 404.
    let body = assert_problem(
        app.get("/v1/brands/not-a-uuid").bearer(&token).send().await,
        404,
        "not-found",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("UUID"));
    assert_problem(
        app.get("/v1/no-such-route").bearer(&token).send().await,
        404,
        "not-found",
    )
    .await;

    for limit in ["0", "101", "-1"] {
        let response = app
            .get(format!("/v1/brands?limit={limit}"))
            .bearer(&token)
            .send()
            .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert!(status == 422 || status == 400, "limit={limit}: {status}");
        assert_eq!(body["status"], status);
    }
    let body = assert_problem(
        app.get("/v1/brands?limit=101").bearer(&token).send().await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"][0]["parameter"], "limit");
    assert_problem(
        app.get("/v1/brands?limit=ten").bearer(&token).send().await,
        400,
        "bad-request",
    )
    .await;
}

on_both_backends!(
    bad_input_answers_problems_and_changes_nothing,
    bad_paths_and_queries_answer_problems,
);
