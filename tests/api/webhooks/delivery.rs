//! Delivery by the worker to a real receiver: signed per Standard Webhooks,
//! retried with backoff, recorded, given up on, refused when the target
//! turned private, and sent once by several instances.

use std::sync::Arc;

use serde_json::Value;
use tokenwarden::state::AppState;
use tokenwarden::worker::tick;

use super::{
    Receiver, deliveries, fetch_webhook, post, signed_by, state, subscribe, tick_now,
    verify_with_library,
};
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn a_connect_is_announced_signed(app: TestApp) {
    // Arrange
    let receiver = Receiver::start();
    let (id, secret) = subscribe(&app, &receiver.url, &["account.connected"]).await;
    let brand = app.new_brand("Northwind").await;

    // Act
    let answer = app.connect_sandbox(&brand, "sandbox-alice").await;
    tick_now(&app).await;

    // Assert: one delivery, verified by the independent library.
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let delivery = &received[0];
    assert!(verify_with_library(&secret, delivery), "{delivery:?}");
    assert!(signed_by(&secret, delivery));
    assert!(!verify_with_library(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=",
        delivery
    ));
    assert_eq!(delivery.header("content-type"), "application/json");
    let body = delivery.json();
    assert_eq!(body["type"], "account.connected");
    assert_eq!(body["data"]["account_id"], answer["account"]["id"]);
    assert_eq!(body["data"]["brand_id"], brand.as_str());
    assert_eq!(body["data"]["organization_id"], app.org_id.as_str());
    assert_eq!(body["data"]["network"], "sandbox");
    assert!(body["timestamp"].is_string());
    let text = delivery.body.to_ascii_lowercase();
    assert!(
        !text.contains("token\":") && !text.contains("refresh"),
        "{text}"
    );

    // The attempt is on record.
    let attempts = deliveries(&app, &id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["outcome"], "delivered");
    assert_eq!(attempts[0]["response_status"], 204);
    assert_eq!(attempts[0]["event_type"], "account.connected");
    assert_eq!(attempts[0]["message_id"], delivery.header("webhook-id"));

    // Delivered once: later ticks send nothing more.
    tick_now(&app).await;
    assert_eq!(receiver.received().len(), 1);
}

async fn failed_deliveries_are_retried_with_backoff(app: TestApp) {
    let receiver = Receiver::start();
    receiver.script(&[500, 503]);
    let (id, secret) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    let response = post(&app, &format!("/v1/webhooks/{id}/test")).await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["type"], "webhook.test");

    tick_now(&app).await;
    assert_eq!(receiver.received().len(), 1, "first attempt");
    tick_now(&app).await;
    assert_eq!(receiver.received().len(), 1, "not again before the backoff");
    app.advance(chrono::Duration::seconds(31));
    tick_now(&app).await;
    assert_eq!(receiver.received().len(), 2, "second attempt after ~30 s");
    app.advance(chrono::Duration::seconds(60));
    tick_now(&app).await;
    assert_eq!(receiver.received().len(), 2, "the second pause is longer");
    app.advance(chrono::Duration::seconds(61));
    tick_now(&app).await;

    let received = receiver.received();
    assert_eq!(received.len(), 3, "delivered on the third attempt");
    for r in &received {
        assert_eq!(r.header("webhook-id"), queued["message_id"]);
        assert!(signed_by(&secret, r));
        assert_eq!(r.json()["type"], "webhook.test");
    }
    let attempts = deliveries(&app, &id).await;
    let seen: Vec<(i64, &str, Value)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["response_status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (3, "delivered", 204.into()),
            (2, "failed", 503.into()),
            (1, "failed", 500.into()),
        ]
    );
    assert_eq!(attempts[1]["error"], "HTTP 503");
    assert!(
        attempts
            .iter()
            .all(|a| a["latency_ms"].as_i64().unwrap() >= 0)
    );
}

async fn a_subscription_failing_for_days_is_disabled(app: TestApp) {
    let receiver = Receiver::start();
    receiver.script(&[500; 20]);
    let (id, _) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    assert_eq!(
        post(&app, &format!("/v1/webhooks/{id}/test"))
            .await
            .status(),
        202
    );

    for _ in 0..20 {
        tick_now(&app).await;
        app.advance(chrono::Duration::hours(6) + chrono::Duration::minutes(1));
    }

    assert_eq!(receiver.received().len(), 13, "every attempt, then no more");
    let first: chrono::DateTime<chrono::Utc> = deliveries(&app, &id).await[12]["attempted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let last: chrono::DateTime<chrono::Utc> = deliveries(&app, &id).await[0]["attempted_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last - first > chrono::Duration::days(1),
        "{first} .. {last}"
    );
    let fetched = fetch_webhook(&app, &id).await;
    assert_eq!(fetched["enabled"], false);
    let reason = fetched["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("HTTP 500"), "{reason}");

    // Turning it back on clears the reason.
    let response = app
        .patch(format!("/v1/webhooks/{id}"))
        .bearer(app.admin_token())
        .json(&serde_json::json!({ "enabled": true }))
        .send()
        .await;
    let fetched: Value = response.json().await.unwrap();
    assert_eq!(fetched["enabled"], true);
    assert_eq!(fetched["disabled_reason"], Value::Null);
}

async fn redirects_are_not_followed(app: TestApp) {
    let receiver = Receiver::start();
    receiver.script(&[302]);
    let (id, _) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    post(&app, &format!("/v1/webhooks/{id}/test")).await;
    tick_now(&app).await;
    let attempts = deliveries(&app, &id).await;
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(attempts[0]["response_status"], 302);
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(receiver.received().len(), 1);
}

/// The target is checked again at delivery: an instance whose settings no
/// longer allow it refuses to send.
async fn a_target_refused_at_delivery_is_not_called(app: TestApp) {
    let receiver = Receiver::start();
    let (id, _) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    post(&app, &format!("/v1/webhooks/{id}/test")).await;
    let mut settings = (*app.settings).clone();
    settings.dev = false;
    let strict = AppState {
        settings: Arc::new(settings),
        ..state(&app).clone()
    };

    tick(&strict, app.now()).await.unwrap();

    assert!(receiver.received().is_empty());
    let attempts = deliveries(&app, &id).await;
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(attempts[0]["response_status"], Value::Null);
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("target refused"),
        "{attempts:?}"
    );
}

/// Both signatures during a rotation's overlap, only the new one after it.
async fn a_rotation_signs_with_both_secrets_for_a_day(app: TestApp) {
    let receiver = Receiver::start();
    let (id, old) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    let rotated: Value = post(&app, &format!("/v1/webhooks/{id}/rotate-secret"))
        .await
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();

    post(&app, &format!("/v1/webhooks/{id}/test")).await;
    tick_now(&app).await;
    let during = receiver.received()[0].clone();
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(verify_with_library(&old, &during));
    assert!(verify_with_library(&new, &during));

    app.advance(chrono::Duration::hours(25));
    post(&app, &format!("/v1/webhooks/{id}/test")).await;
    tick_now(&app).await;
    let after = receiver.received()[1].clone();
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(signed_by(&new, &after));
    assert!(!signed_by(&old, &after));
}

async fn two_instances_deliver_each_message_once(app: TestApp) {
    let receiver = Receiver::start();
    let (id, _) = subscribe(&app, &receiver.url, &["token.expired"]).await;
    for _ in 0..12 {
        assert_eq!(
            post(&app, &format!("/v1/webhooks/{id}/test"))
                .await
                .status(),
            202
        );
    }
    let first = state(&app).clone();
    let second = crate::worker::instances::second_instance(&app).await;

    let at = app.now();
    let (one, two) = tokio::join!(tick(&first, at), tick(&second, at));
    one.unwrap();
    two.unwrap();

    let ids: std::collections::HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(receiver.received().len(), 12, "each message sent once");
    assert_eq!(ids.len(), 12);
    assert_eq!(deliveries(&app, &id).await.len(), 12);
}

on_both_backends!(
    spawn = crate::webhooks::dev_app;
    a_connect_is_announced_signed,
    failed_deliveries_are_retried_with_backoff,
    a_subscription_failing_for_days_is_disabled,
    redirects_are_not_followed,
    a_target_refused_at_delivery_is_not_called,
    a_rotation_signs_with_both_secrets_for_a_day,
    two_instances_deliver_each_message_once,
);
