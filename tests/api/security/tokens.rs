//! Bearer tokens: standard JWTs that RFC 7519 allows are accepted, and
//! `platform:admin` on a tenant token widens nothing, its budget included.

use serde_json::json;

use crate::auth::{claims, hs256};
use crate::helpers::{Backend, TestApp, assert_problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_jwts_with_an_audience_list_or_fractional_dates_are_accepted() {
    // Arrange
    let app = TestApp::spawn(Backend::Sqlite).await;
    let now = chrono::Utc::now().timestamp() as f64;
    let mut audiences = claims(&app);
    audiences["aud"] = json!(["https://another.example", app.settings.jwt.audience]);
    let mut fractional = claims(&app);
    fractional["exp"] = json!(now + 600.25);
    fractional["iat"] = json!(now - 0.5);
    fractional["nbf"] = json!(now - 1.75);

    // Act and assert: both are standard (RFC 7519 §4.1.3, §2 NumericDate).
    for (token, case) in [
        (hs256(&audiences), "aud list"),
        (hs256(&fractional), "fractional dates"),
    ] {
        let response = app.get("/v1/brands").bearer(&token).send().await;
        assert_eq!(
            response.status(),
            200,
            "{case}: {}",
            response.text().await.unwrap()
        );
    }

    // The checks still hold: a list without this service, a fractional `exp` past.
    let mut others = claims(&app);
    others["aud"] = json!(["https://another.example"]);
    let mut expired = claims(&app);
    expired["exp"] = json!(now - 120.5);
    for (token, case) in [
        (hs256(&others), "aud list without us"),
        (hs256(&expired), "fractional exp past"),
    ] {
        let response = app.get("/v1/brands").bearer(&token).send().await;
        assert_eq!(response.status(), 401, "{case}");
        assert_problem(response, 401, "unauthorized").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_admin_on_a_tenant_token_widens_no_budget() {
    // Arrange: a budget of three requests per organization and minute.
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.rate_limit.requests = 3;
        s.rate_limit.window_secs = 60;
    })
    .await;
    let tenant = app.token(&app.org_id, "accounts:read platform:admin");

    // Act: four reads of the organization with that token.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/v1/brands").bearer(&tenant).send().await);
    }

    // Assert: counted like any tenant token: the fourth is refused.
    let last = statuses.pop().unwrap();
    for response in &statuses {
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("ratelimit"));
    }
    assert_problem(last, 429, "rate-limited").await;

    // The billing system's own routes still act for no organization's budget.
    for n in 0..4 {
        let response = app
            .post("/v1/organizations")
            .bearer(app.platform_token())
            .json(&json!({ "name": format!("Billing {n}"), "plan": "starter" }))
            .send()
            .await;
        assert_eq!(response.status(), 201, "organization {n}");
    }
}
