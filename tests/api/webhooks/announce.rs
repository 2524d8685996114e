//! What a change announces is decided from what the change stored: a
//! renewal's `token.renewed` message carries the propagation report its
//! answer shows, a worker's refresh reads the same report, a credential that
//! starts failing is announced once, a disconnect with its audit detail.

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::webhook_messages as messages;
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{Receiver, subscribe, tick_now};
use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;
use crate::renewal::{connect_in, expire_all, renew};

/// The payload of every queued message, oldest first.
async fn payloads(app: &TestApp) -> Vec<Value> {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok(messages::table
            .order(messages::id.asc())
            .select(messages::payload)
            .load::<String>(conn)?)
    })
    .await
    .unwrap()
    .iter()
    .map(|p| serde_json::from_str(p).unwrap())
    .collect()
}

/// The message of `event` about `account` among `queued`; exactly one.
fn about<'a>(queued: &'a [Value], event: &str, account: &str) -> &'a Value {
    let found: Vec<&Value> = queued
        .iter()
        .filter(|p| p["type"] == event && p["data"]["account_id"] == account)
        .collect();
    assert_eq!(found.len(), 1, "one {event} message about {account}");
    found[0]
}

/// The answer's report as a webhook carries it: the same accounts and
/// reasons, without each left account's token status (not in the payload).
fn as_announced(answer: &Value) -> Value {
    let left: Vec<Value> = answer["left"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({ "brand_id": l["brand_id"], "account_id": l["account_id"], "reason": l["reason"] }))
        .collect();
    json!({ "renewed": answer["renewed"], "left": left })
}

async fn disable(app: &TestApp, brand: &str, account: &str) {
    let response = app
        .patch(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(app.admin_token())
        .json(&json!({ "enabled": false }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

async fn a_renewal_announces_the_report_its_answer_shows(app: TestApp) {
    // Arrange: alice in three brands of the Advanced organization (one grant),
    // the third disabled; a subscriber to renewals.
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["token.renewed"]).await;
    let token = app.admin_token();
    let (a_brand, b_brand, c_brand) = (
        app.new_brand("A").await,
        app.new_brand("B").await,
        app.new_brand("C").await,
    );
    let a = connect_in(&app, &token, &a_brand, "sandbox-alice").await;
    let b = connect_in(&app, &token, &b_brand, "sandbox-alice").await;
    let c = connect_in(&app, &token, &c_brand, "sandbox-alice").await;
    disable(&app, &c_brand, &c).await;
    expire_all(&app);
    let before = payloads(&app).await.len();

    // Act.
    let response = renew(&app, &token, &a_brand, &a).await;

    // Assert: the answer reports B renewed and C left, disabled …
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    let answer = &body["propagation"];
    assert_eq!(
        answer["renewed"],
        json!([{ "brand_id": b_brand, "account_id": b }])
    );
    assert_eq!(answer["left"].as_array().unwrap().len(), 1);
    assert_eq!(answer["left"][0]["account_id"], c.as_str());
    assert_eq!(answer["left"][0]["reason"], "disabled");
    // … and the renewal's message about A says exactly the same.
    let queued = payloads(&app).await.split_off(before);
    let message = about(&queued, "token.renewed", &a);
    assert_eq!(message["data"]["method"], "refresh");
    assert_eq!(message["data"]["propagation"], as_announced(answer));
    // Every account on the grant is announced, each with its own report.
    assert_eq!(queued.len(), 3, "{queued:#?}");
    assert_eq!(
        about(&queued, "token.renewed", &b)["data"]["propagation"],
        json!({
            "renewed": [{ "brand_id": a_brand, "account_id": a }],
            "left": [{ "brand_id": c_brand, "account_id": c, "reason": "disabled" }],
        })
    );
}

async fn a_workers_refresh_announces_the_report_of_what_it_stored(app: TestApp) {
    // Arrange: alice in two brands (one grant, propagated); the grant expires.
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["token.renewed"]).await;
    let token = app.admin_token();
    let (a_brand, b_brand) = (app.new_brand("A").await, app.new_brand("B").await);
    let a = connect_in(&app, &token, &a_brand, "sandbox-alice").await;
    let b = connect_in(&app, &token, &b_brand, "sandbox-alice").await;
    expire_all(&app);
    let before = payloads(&app).await.len();

    // Act: the worker refreshes it; no answer asked for a snapshot.
    tick_now(&app).await;

    // Assert: each account's message names the other as renewed.
    let queued = payloads(&app).await.split_off(before);
    assert_eq!(queued.len(), 2, "{queued:#?}");
    for (mine, other, other_brand) in [(&a, &b, &b_brand), (&b, &a, &a_brand)] {
        assert_eq!(
            about(&queued, "token.renewed", mine)["data"]["propagation"],
            json!({
                "renewed": [{ "brand_id": other_brand, "account_id": other }],
                "left": [],
            })
        );
    }
}

async fn a_credential_that_starts_failing_is_announced_once(app: TestApp) {
    // Arrange: a subscriber to failing refreshes; the network fails four times.
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["token.refresh_failing"]).await;
    let token = app.admin_token();
    let brand = app.new_brand("Flaky").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 500 }, 4);

    // Act: four renewals, each failing transiently.
    for _ in 0..4 {
        assert_problem(
            renew(&app, &token, &brand, &account).await,
            502,
            "network-error",
        )
        .await;
    }

    // Assert: the third failure turned it `refresh_failing`, announced once.
    let queued = payloads(&app).await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    let message = about(&queued, "token.refresh_failing", &account);
    let data = message["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account_id",
            "brand_id",
            "expires_at",
            "failure_count",
            "network",
            "organization_id",
            "reason",
        ]
    );
    assert_eq!(data["organization_id"], app.org_id.as_str());
    assert_eq!(data["brand_id"], brand.as_str());
    assert_eq!(data["network"], "sandbox");
    assert_eq!(data["failure_count"], 3);
}

async fn a_disconnect_is_announced_with_its_audit_detail(app: TestApp) {
    // Arrange: a subscriber to disconnects; alice connected.
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["account.disconnected"]).await;
    let brand = app.new_brand("Gone").await;
    let account = connect_in(&app, &app.admin_token(), &brand, "sandbox-alice").await;

    // Act.
    let response = app
        .delete(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(app.admin_token())
        .send()
        .await;

    // Assert: one message, with the ids and the audit event's detail.
    assert_eq!(response.status(), 204);
    let queued = payloads(&app).await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    let data = &about(&queued, "account.disconnected", &account)["data"];
    assert_eq!(data["organization_id"], app.org_id.as_str());
    assert_eq!(data["brand_id"], brand.as_str());
    assert_eq!(data["network"], "sandbox");
    assert!(data["handle"].is_string() && data["profile_id"].is_string());
    assert_eq!(data["credential_deleted"], true);
}

on_both_backends!(
    spawn = crate::webhooks::dev_app;
    a_renewal_announces_the_report_its_answer_shows,
    a_workers_refresh_announces_the_report_of_what_it_stored,
    a_credential_that_starts_failing_is_announced_once,
    a_disconnect_is_announced_with_its_audit_detail,
);
