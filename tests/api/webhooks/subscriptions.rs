//! The subscriptions API: CRUD, the plan and the scope, the secret sealed at
//! rest, and the targets refused on creation.

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::webhook_subscriptions as subs;

use super::{Receiver, subscribe};
use crate::helpers::{ALL_SCOPES, Backend, TestApp, assert_problem};
use crate::on_both_backends;

async fn webhook_crud_round_trip(app: TestApp) {
    let token = app.admin_token();
    let receiver = Receiver::start();

    // Create: the secret is shown once, the Location names the subscription.
    let response = app
        .post("/v1/webhooks")
        .bearer(&token)
        .json(&json!({
            "url": receiver.url,
            "events": ["token.expired", "account.connected"],
            "description": "Publishing pauses"
        }))
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["webhook"]["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/webhooks/{id}"));
    let secret = created["secret"].as_str().unwrap().to_string();
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        secret.strip_prefix("whsec_").unwrap(),
    )
    .unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(created["webhook"]["enabled"], true);
    assert_eq!(
        created["webhook"]["events"],
        json!(["token.expired", "account.connected"])
    );

    // Read it back, alone and in the list: never with the secret.
    let fetched: Value = app
        .get(&location)
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created["webhook"]);
    assert!(!fetched.to_string().contains(&secret));
    let page: Value = app
        .get("/v1/webhooks")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"], json!([fetched]));
    assert_eq!(page["next_cursor"], Value::Null);

    // The secret is sealed at rest.
    let stored = stored_secret(&app, &id).await;
    assert!(!stored.windows(key.len()).any(|w| w == key.as_slice()));
    assert!(!stored.windows(20).any(|w| secret.as_bytes()[6..26] == *w));

    // Patch: events, description cleared, paused.
    let response = app
        .patch(&location)
        .bearer(&token)
        .json(&json!({ "events": ["token.renewed"], "description": "", "enabled": false }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["events"], json!(["token.renewed"]));
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["enabled"], false);

    // An event named twice counts once.
    let response = app
        .patch(&location)
        .bearer(&token)
        .json(&json!({ "events": ["token.renewed", "token.renewed"] }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["events"], json!(["token.renewed"]));
    // Invalid members are refused on their pointer.
    let response = app
        .patch(&location)
        .bearer(&token)
        .json(&json!({ "events": [] }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/events");
    let response = app
        .post("/v1/webhooks")
        .bearer(&token)
        .json(&json!({ "url": receiver.url, "events": ["token.exploded"] }))
        .send()
        .await;
    assert_problem(response, 422, "validation-failed").await;

    // Delete, then it is gone.
    let response = app.delete(&location).bearer(&token).send().await;
    assert_eq!(response.status(), 204);
    assert_problem(
        app.get(&location).bearer(&token).send().await,
        404,
        "not-found",
    )
    .await;

    // Every change left an audit event.
    assert_eq!(
        webhook_audit_actions(&app).await,
        [
            "webhook.deleted",
            "webhook.updated",
            "webhook.updated",
            "webhook.created"
        ]
    );
}

/// The subscription's secret column as stored.
async fn stored_secret(app: &TestApp, id: &str) -> Vec<u8> {
    let id = id.to_owned();
    tokenwarden::db::run(app.pool(), move |conn| {
        Ok(subs::table
            .filter(subs::id.eq(id))
            .select(subs::secret)
            .first::<Vec<u8>>(conn)?)
    })
    .await
    .unwrap()
}

/// The organization's `webhook.*` audit actions, newest first.
async fn webhook_audit_actions(app: &TestApp) -> Vec<String> {
    let org = app.org_id.clone();
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(
            conn,
            &crate::helpers::org_id(&org),
            None,
            None,
            100,
        )
    })
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.action)
    .filter(|a| a.starts_with("webhook."))
    .collect()
}

async fn webhooks_need_the_advanced_plan_the_scope_and_the_tenant(app: TestApp) {
    let receiver = Receiver::start();
    let body = json!({ "url": receiver.url, "events": ["token.expired"] });
    for plan in ["free", "starter"] {
        let org = app.create_org(&format!("{plan} co"), plan).await;
        let response = app
            .post("/v1/webhooks")
            .bearer(app.token(&org, ALL_SCOPES))
            .json(&body)
            .send()
            .await;
        let problem = assert_problem(response, 403, "plan-limit-reached").await;
        assert_eq!(problem["required_plan"], "advanced", "{plan}");
    }

    let without_admin = app.token(
        &app.org_id,
        "accounts:read accounts:write tokens:renew tokens:read",
    );
    let response = app
        .post("/v1/webhooks")
        .bearer(&without_admin)
        .json(&body)
        .send()
        .await;
    let problem = assert_problem(response, 403, "insufficient-scope").await;
    assert_eq!(problem["required_scope"], "org:admin");
    assert_problem(
        app.get("/v1/webhooks").bearer(&without_admin).send().await,
        403,
        "insufficient-scope",
    )
    .await;

    // Another organization's subscription is not there for this one.
    let (id, _) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    let other = app.create_org("Other Agency", "enterprise").await;
    let other_token = app.token(&other, ALL_SCOPES);
    let path = format!("/v1/webhooks/{id}");
    assert_problem(
        app.get(&path).bearer(&other_token).send().await,
        404,
        "not-found",
    )
    .await;
    let response = app.delete(&path).bearer(&other_token).send().await;
    assert_problem(response, 404, "not-found").await;
    let list: Value = app
        .get("/v1/webhooks")
        .bearer(&other_token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        app.get(&path)
            .bearer(app.admin_token())
            .send()
            .await
            .status(),
        200
    );
}

async fn create_refused(app: &TestApp, url: &str) -> String {
    let response = app
        .post("/v1/webhooks")
        .bearer(app.admin_token())
        .json(&json!({ "url": url, "events": ["token.expired"] }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/url", "{url}: {body}");
    body["errors"][0]["detail"].as_str().unwrap().to_string()
}

/// Outside development mode: https only, and no address inside a network.
async fn targets_inside_a_network_are_refused_in_production(app: TestApp) {
    for (url, because) in [
        ("http://127.0.0.1:9/hooks", "https"),
        ("https://127.0.0.1/hooks", "private"),
        ("https://localhost/hooks", "private, loopback, link-local"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://192.168.0.10/hooks", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hooks", "private"),
        ("https://[fd00::1]/hooks", "private"),
        ("https://[::ffff:10.0.0.1]/hooks", "private"),
        ("ftp://hooks.example.com/", "https"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("not a url", "absolute URL"),
    ] {
        let detail = create_refused(&app, url).await;
        assert!(detail.contains(because), "{url}: {detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_may_allow_private_targets() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.webhooks.allow_private_targets = true;
    })
    .await;
    let (id, _) = subscribe(&app, "https://10.1.2.3/hooks", &["token.expired"]).await;
    assert!(!id.is_empty());
    // Still https only outside development mode.
    create_refused(&app, "http://10.1.2.3/hooks").await;
}

/// Development mode allows loopback over http, and nothing else more.
async fn development_mode_allows_loopback_only(app: TestApp) {
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["token.expired"]).await;
    subscribe(&app, "http://localhost:9/hooks", &["token.expired"]).await;
    create_refused(&app, "http://10.1.2.3/hooks").await;
    create_refused(&app, "https://169.254.169.254/").await;
}

async fn rotation_answers_a_new_secret_and_an_overlap(app: TestApp) {
    let receiver = Receiver::start();
    let (id, first) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    let before = app.now();
    let response = super::post(&app, &format!("/v1/webhooks/{id}/rotate-secret")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let second = body["secret"].as_str().unwrap();
    assert!(second.starts_with("whsec_") && second != first);
    let until: chrono::DateTime<chrono::Utc> = body["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let overlap = until - chrono::Duration::hours(24);
    assert!(before <= overlap && overlap <= app.now(), "{until}");
    let fetched = super::fetch_webhook(&app, &id).await;
    assert_eq!(
        fetched["previous_secret_expires_at"],
        body["previous_secret_expires_at"]
    );
    app.advance(chrono::Duration::hours(25));
    let fetched = super::fetch_webhook(&app, &id).await;
    assert_eq!(fetched["previous_secret_expires_at"], Value::Null);
}

on_both_backends!(
    spawn = crate::webhooks::production_app;
    targets_inside_a_network_are_refused_in_production,
);
on_both_backends!(
    spawn = crate::webhooks::dev_app;
    webhooks_need_the_advanced_plan_the_scope_and_the_tenant,
    webhook_crud_round_trip,
    development_mode_allows_loopback_only,
    rotation_answers_a_new_secret_and_an_overlap,
);
