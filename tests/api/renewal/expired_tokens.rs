//! The expired-tokens dropdown (its list, filters, pages and counts) and the
//! bulk renewal it offers.

use serde_json::{Value, json};

use super::{connect_in, renew, set_plan};
use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

/// The JSON answer of `GET path` as `token`.
async fn json_as(app: &TestApp, path: impl AsRef<str>, token: impl std::fmt::Display) -> Value {
    app.get(path)
        .bearer(token)
        .send()
        .await
        .json()
        .await
        .unwrap()
}

async fn the_dropdown_lists_filters_pages_and_counts(app: TestApp) {
    let token = app.admin_token();
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    // Separate grants: set the plan to Starter while connecting. Ten minutes
    // apart, so that they expire at different moments: b first, then a, then c.
    set_plan(&app, &app.org_id, "starter").await;
    let b = connect_in(&app, &token, &first, "sandbox-bob").await;
    app.advance(chrono::Duration::minutes(10));
    let a = connect_in(&app, &token, &first, "sandbox-alice").await;
    app.advance(chrono::Duration::minutes(10));
    let c = connect_in(&app, &token, &second, "sandbox-alice").await;
    set_plan(&app, &app.org_id, "advanced").await;

    // Nothing needs renewal yet; all three are expiring (1-hour tokens, 7-day window).
    let empty: Value = json_as(&app, "/v1/expired-tokens", &token).await;
    assert_eq!(empty["data"], json!([]));
    let expiring: Value = json_as(&app, "/v1/expired-tokens?include=expiring", &token).await;
    assert_eq!(expiring["data"].as_array().unwrap().len(), 3);

    // An hour and ten minutes on, all have expired: c 10 minutes ago, a 20, b 30.
    app.advance(chrono::Duration::minutes(70));
    let page: Value = json_as(&app, "/v1/expired-tokens?limit=2", &token).await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c.as_str(), a.as_str()]);
    assert_eq!(page["data"][0]["brand"]["name"], "Second");
    assert_eq!(page["data"][0]["status"], "expired");
    assert_eq!(
        page["data"][0]["blocked"],
        json!(["publishing", "inbox", "analytics"])
    );
    assert_eq!(page["data"][0]["renew"]["method"], "refresh");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = json_as(
        &app,
        format!("/v1/expired-tokens?limit=2&cursor={cursor}"),
        &token,
    )
    .await;
    let ids: Vec<&str> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let filtered: Value =
        json_as(&app, format!("/v1/expired-tokens?brand_id={first}"), &token).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 2);
    let none: Value = json_as(&app, "/v1/expired-tokens?network=x", &token).await;
    assert_eq!(none["data"], json!([]));
    assert_problem(
        app.get("/v1/expired-tokens?cursor=nope")
            .bearer(&token)
            .send()
            .await,
        422,
        "validation-failed",
    )
    .await;

    let summary: Value = json_as(&app, "/v1/expired-tokens/summary", &token).await;
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["by_brand"][0]["brand_name"], "First");
    assert_eq!(summary["by_brand"][0]["count"], 2);
    assert_eq!(
        summary["by_network"],
        json!([{ "network": "sandbox", "count": 3 }])
    );

    // Another organization sees none of it.
    let other = app.create_org("Other", "advanced").await;
    let theirs: Value = json_as(
        &app,
        "/v1/expired-tokens/summary",
        app.token(&other, ALL_SCOPES),
    )
    .await;
    assert_eq!(theirs["total"], 0);
    // Renewing needs tokens:renew.
    let response = renew(
        &app,
        &app.token(&app.org_id, "accounts:read accounts:write"),
        &first,
        &a,
    )
    .await;
    assert_problem(response, 403, "insufficient-scope").await;
    // Another organization's account is 404.
    let response = renew(&app, &app.token(&other, ALL_SCOPES), &first, &a).await;
    assert_problem(response, 404, "not-found").await;
}

async fn bulk_renewal_groups_reauthorizations_by_network(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Bulk").await;
    set_plan(&app, &app.org_id, "starter").await;
    let alive = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let dead = connect_in(&app, &token, &brand, "sandbox-bob").await;
    app.sandbox().revoke_grants("sandbox-bob");
    let missing = uuid::Uuid::new_v4().to_string();
    let response = app
        .post("/v1/expired-tokens/renew")
        .bearer(&token)
        .json(&json!({ "account_ids": [alive, dead, missing, alive] }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "duplicates renewed once");
    assert_eq!(results[0]["outcome"], "renewed");
    assert_eq!(results[1]["outcome"], "authorization_required");
    assert_eq!(results[2]["error"]["status"], 404);
    assert_eq!(body["renewed"], 1);
    assert_eq!(body["authorizations"][0]["network"], "sandbox");
    assert_eq!(
        body["authorizations"][0]["accounts"][0]["account_id"],
        dead.as_str()
    );

    let too_many: Vec<String> = (0..51).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let response = app
        .post("/v1/expired-tokens/renew")
        .bearer(&token)
        .json(&json!({ "account_ids": too_many }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/account_ids");
}

on_both_backends!(
    the_dropdown_lists_filters_pages_and_counts,
    bulk_renewal_groups_reauthorizations_by_network,
);
