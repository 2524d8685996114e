//! Webhook targets: an IPv6 address that a translator carries to a private
//! IPv4 address is as private as that address, and a target is judged only
//! for an organization that may have webhooks, in words that never name what
//! a host resolves to.

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::webhook_subscriptions as subs;

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

async fn create(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.post("/v1/webhooks")
        .bearer(token)
        .json(&json!({ "url": url, "events": ["token.expired"] }))
        .send()
        .await
}

async fn stored_targets(app: &TestApp) -> Vec<String> {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok(subs::table.select(subs::url).order(subs::url).load(conn)?)
    })
    .await
    .unwrap()
}

async fn targets_behind_ipv6_translation_are_judged_by_where_they_lead(app: TestApp) {
    let admin = app.admin_token();
    // Act and assert: each reaches a private IPv4 network, or a range no
    // public host has.
    for (url, what) in [
        ("https://[64:ff9b::7f00:1]/hooks", "NAT64 of 127.0.0.1"),
        (
            "https://[64:ff9b::a9fe:a9fe]/hooks",
            "NAT64 of 169.254.169.254",
        ),
        ("https://[64:ff9b::a00:1]/hooks", "NAT64 of 10.0.0.1"),
        (
            "https://[64:ff9b:1::5db8:d822]/hooks",
            "local-use NAT64 (RFC 8215)",
        ),
        ("https://[2002:c0a8:101::1]/hooks", "6to4 of 192.168.1.1"),
        ("https://[2002:7f00:1::1]/hooks", "6to4 of 127.0.0.1"),
        (
            "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hooks",
            "Teredo to 10.0.0.1",
        ),
        (
            "https://[2001:0:a00:1:8000:63bf:a247:2bdd]/hooks",
            "Teredo through server 10.0.0.1",
        ),
        ("https://[fec0::1]/hooks", "site-local"),
        ("https://[2001:db8::1]/hooks", "documentation"),
    ] {
        let response = create(&app, &admin, url).await;
        let body = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(body["errors"][0]["pointer"], "/url", "{what}: {body}");
    }
    assert_eq!(stored_targets(&app).await, Vec::<String>::new());

    // A public IPv4 address through the well-known NAT64 prefix is how an
    // IPv6-only host behind DNS64 reaches any IPv4-only receiver.
    let public = "https://[64:ff9b::5db8:d822]/hooks";
    assert_eq!(create(&app, &admin, public).await.status(), 201);
    assert_eq!(stored_targets(&app).await, [public]);
}

async fn a_plan_without_webhooks_learns_nothing_of_a_target(app: TestApp) {
    // Arrange: an organization on Free, and a host name that resolves to loopback.
    let free = app.create_org("Free Co", "free").await;
    let free_admin = app.token(&free, ALL_SCOPES);
    let host = "https://localhost/hooks";

    // Act and assert: the plan answers, before any name is resolved.
    let body = assert_problem(
        create(&app, &free_admin, host).await,
        403,
        "plan-limit-reached",
    )
    .await;
    assert_eq!(body["required_plan"], "advanced");

    // A downgraded organization's change of target is refused the same way.
    let admin = app.admin_token();
    let public = "https://[64:ff9b::5db8:d822]/hooks";
    let created: Value = create(&app, &admin, public).await.json().await.unwrap();
    let id = created["webhook"]["id"].as_str().unwrap().to_string();
    let downgrade = app
        .patch(format!("/v1/organizations/{}", app.org_id))
        .bearer(app.platform_token())
        .json(&json!({ "plan": "free" }))
        .send()
        .await;
    assert_eq!(downgrade.status(), 200);
    let response = app
        .patch(format!("/v1/webhooks/{id}"))
        .bearer(&admin)
        .json(&json!({ "url": host }))
        .send()
        .await;
    assert_problem(response, 403, "plan-limit-reached").await;

    // An organization with webhooks is told why, never what the name resolves to.
    let other = app.create_org("Advanced Co", "advanced").await;
    let response = create(&app, &app.token(&other, ALL_SCOPES), host).await;
    let body = assert_problem(response, 422, "validation-failed").await;
    let text = body.to_string();
    assert_eq!(body["errors"][0]["pointer"], "/url", "{text}");
    assert!(
        !text.contains("127.0.0.1") && !text.contains("::1"),
        "{text}"
    );
    assert_eq!(stored_targets(&app).await, [public]);
}

on_both_backends!(
    spawn = crate::webhooks::production_app;
    targets_behind_ipv6_translation_are_judged_by_where_they_lead,
    a_plan_without_webhooks_learns_nothing_of_a_target,
);
