use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

async fn caller_sees_its_organization_and_feature_matrix(app: TestApp) {
    let token = app.token(&app.org_id, "accounts:read");
    let response = app.get("/v1/organization").bearer(&token).send().await;
    assert_eq!(response.status(), 200);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["id"], app.org_id);
    assert_eq!(org["plan"], "advanced");
    assert_eq!(
        org["features"],
        json!({ "max_brands": 50, "cross_brand_renewal": true, "webhooks": true })
    );
    assert_eq!(org["warning_window_days"], 7);

    let free = app.create_org("Free Co", "free").await;
    let org: Value = app
        .get("/v1/organization")
        .bearer(app.token(&free, ""))
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        org["features"],
        json!({ "max_brands": 1, "cross_brand_renewal": false, "webhooks": false })
    );

    let enterprise = app.create_org("Big Co", "enterprise").await;
    let org: Value = app
        .get("/v1/organization")
        .bearer(app.token(&enterprise, ""))
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org["features"]["max_brands"], Value::Null);
}

async fn org_admin_updates_name_and_window(app: TestApp) {
    let path = app.url("/v1/organization");
    let response = app
        .patch(&path)
        .bearer(app.token(&app.org_id, "accounts:read"))
        .json(&json!({ "warning_window_days": 14 }))
        .send()
        .await;
    assert_problem(response, 403, "insufficient-scope").await;

    let response = app
        .patch(&path)
        .bearer(app.token(&app.org_id, "org:admin"))
        .json(&json!({ "warning_window_days": 91 }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/warning_window_days");

    // The tenant route cannot change the plan (no mass assignment).
    let response = app
        .patch(&path)
        .bearer(app.token(&app.org_id, "org:admin"))
        .json(&json!({ "plan": "enterprise" }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/plan");

    let response = app
        .patch(&path)
        .bearer(app.token(&app.org_id, "org:admin"))
        .json(&json!({ "name": "Acme Renamed", "warning_window_days": 14 }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["name"], "Acme Renamed");
    assert_eq!(org["warning_window_days"], 14);
    assert_eq!(org["plan"], "advanced");

    let again: Value = app
        .get("/v1/organization")
        .bearer(app.token(&app.org_id, ""))
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, org);
}

async fn billing_routes_need_platform_admin(app: TestApp) {
    let response = app
        .post("/v1/organizations")
        .bearer(app.token(&app.org_id, "org:admin accounts:write"))
        .json(&json!({ "name": "Sneaky", "plan": "enterprise" }))
        .send()
        .await;
    assert_problem(response, 403, "insufficient-scope").await;

    let response = app
        .patch(format!("/v1/organizations/{}", app.org_id))
        .bearer(app.token(&app.org_id, "org:admin"))
        .json(&json!({ "plan": "enterprise" }))
        .send()
        .await;
    assert_problem(response, 403, "insufficient-scope").await;

    let id = uuid::Uuid::new_v4();
    let response = app
        .post("/v1/organizations")
        .bearer(app.platform_token())
        .json(
            &json!({ "id": id, "name": "Chosen Id", "plan": "starter", "warning_window_days": 3 }),
        )
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["id"], id.to_string());
    assert_eq!(created["warning_window_days"], 3);

    let response = app
        .post("/v1/organizations")
        .bearer(app.platform_token())
        .json(&json!({ "id": id, "name": "Again", "plan": "starter" }))
        .send()
        .await;
    assert_problem(response, 409, "conflict").await;

    let response = app
        .post("/v1/organizations")
        .bearer(app.platform_token())
        .json(&json!({ "name": "Bad plan", "plan": "platinum" }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/plan");

    let response = app
        .patch(format!("/v1/organizations/{}", uuid::Uuid::new_v4()))
        .bearer(app.platform_token())
        .json(&json!({ "plan": "enterprise" }))
        .send()
        .await;
    assert_problem(response, 404, "not-found").await;

    // A token whose organization does not exist sees 404 for it.
    let ghost = app.token(&uuid::Uuid::new_v4().to_string(), "accounts:read");
    assert_problem(
        app.get("/v1/organization").bearer(&ghost).send().await,
        404,
        "not-found",
    )
    .await;
}

on_both_backends!(
    caller_sees_its_organization_and_feature_matrix,
    org_admin_updates_name_and_window,
    billing_routes_need_platform_admin,
);
