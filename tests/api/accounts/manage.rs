//! Managing connected accounts: disabling, enabling and disconnecting them,
//! listing them with filters, and keeping other organizations and missing
//! scopes out.

use serde_json::{Value, json};

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

async fn disconnect_revokes_once_and_keeps_the_audit_trail(app: TestApp) {
    let brand = app.new_brand("Leaving").await;
    let token = app.admin_token();
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/brands/{brand}/accounts/{account}");

    // Disable then enable (audited), then disconnect.
    for enabled in [false, true] {
        let response = app
            .patch(&path)
            .bearer(&token)
            .json(&json!({ "enabled": enabled }))
            .send()
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["enabled"], enabled);
        assert_eq!(
            body["token_status"],
            if enabled { "expiring" } else { "disabled" }
        );
    }
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
    let response = app.delete(&path).bearer(&token).send().await;
    assert_eq!(response.status(), 204);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 1);
    app.revocations_settled().await;
    assert_eq!(
        app.sandbox().live_grants("sandbox-alice"),
        0,
        "the grant is dead at the network"
    );
    assert_problem(app.get(&path).bearer(&token).send().await, 404, "not-found").await;
    assert_eq!(
        app.counts().await,
        (1, 0, 0),
        "secrets deleted, the profile stays"
    );
    let response = app.delete(&path).bearer(&token).send().await;
    assert_problem(response, 404, "not-found").await;
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 1, "exactly once");

    // The trail is still readable.
    let events: Value = app
        .get(format!("{path}/events"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "account.disconnected",
            "account.enabled",
            "account.disabled",
            "account.connected"
        ]
    );
    assert_eq!(events["data"][0]["actor"], "user-1");
    assert!(events["data"][0]["request_id"].is_string());
}

async fn list_filters_by_status_and_network_and_paginates(app: TestApp) {
    let brand = app.new_brand("Many").await;
    let token = app.admin_token();
    for subject in ["sandbox-alice", "sandbox-bob"] {
        app.connect_sandbox(&brand, subject).await;
    }
    let all: Value = app
        .get(format!("/v1/brands/{brand}/accounts?limit=1"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(format!(
            "/v1/brands/{brand}/accounts?limit=1&cursor={cursor}"
        ))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_ne!(all["data"][0]["id"], rest["data"][0]["id"]);

    // Sandbox tokens live an hour: within the 7-day window, so `expiring`.
    let expiring: Value = app
        .get(format!("/v1/brands/{brand}/accounts?status=expiring"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expiring["data"].as_array().unwrap().len(), 2);
    let active: Value = app
        .get(format!("/v1/brands/{brand}/accounts?status=active"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["data"], json!([]));
    let other: Value = app
        .get(format!("/v1/brands/{brand}/accounts?network=x"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["data"], json!([]));

    // With a 0-day window they are active; past expiry they are expired and blocked.
    let response = app
        .patch("/v1/organization")
        .bearer(&token)
        .json(&json!({ "warning_window_days": 1 }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    // Five minutes past the hour the tokens lived.
    app.advance(chrono::Duration::minutes(65));
    let expired: Value = app
        .get(format!("/v1/brands/{brand}/accounts?status=expired"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let data = expired["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        data[0]["blocked"],
        json!(["publishing", "inbox", "analytics"])
    );

    let response = app
        .get(format!("/v1/brands/{brand}/accounts?status=bogus"))
        .bearer(&token)
        .send()
        .await;
    assert_problem(response, 400, "bad-request").await;
}

async fn another_organization_gets_404_and_scopes_are_enforced(app: TestApp) {
    let brand = app.new_brand("Mine").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let profile = connected["account"]["profile"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/v1/brands/{brand}/accounts");
    let one = format!("{base}/{account}");

    let other_org = app.create_org("Other", "advanced").await;
    let theirs = app.token(&other_org, ALL_SCOPES);
    for path in [
        base.clone(),
        one.clone(),
        format!("{one}/events"),
        format!("/v1/profiles/{profile}"),
    ] {
        assert_problem(
            app.get(&path).bearer(&theirs).send().await,
            404,
            "not-found",
        )
        .await;
    }
    let patch = app
        .patch(&one)
        .bearer(&theirs)
        .json(&json!({"enabled": false}))
        .send()
        .await;
    assert_problem(patch, 404, "not-found").await;
    let delete = app.delete(&one).bearer(&theirs).send().await;
    assert_problem(delete, 404, "not-found").await;
    let connect = app
        .post(format!("{base}/connect"))
        .bearer(&theirs)
        .json(&json!({"network": "sandbox"}))
        .send()
        .await;
    assert_problem(connect, 404, "not-found").await;
    let profiles: Value = app
        .get("/v1/profiles")
        .bearer(&theirs)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profiles["data"], json!([]));

    // Scopes: reads need accounts:read, changes accounts:write, import accounts:import.
    let no_scope = app.token(&app.org_id, "tokens:read");
    for path in [
        base.clone(),
        one.clone(),
        format!("{one}/events"),
        "/v1/profiles".into(),
        format!("/v1/profiles/{profile}"),
    ] {
        assert_problem(
            app.get(&path).bearer(&no_scope).send().await,
            403,
            "insufficient-scope",
        )
        .await;
    }
    let read_only = app.token(&app.org_id, "accounts:read");
    let patch = app
        .patch(&one)
        .bearer(&read_only)
        .json(&json!({"enabled": false}))
        .send()
        .await;
    assert_problem(patch, 403, "insufficient-scope").await;
    let delete = app.delete(&one).bearer(&read_only).send().await;
    assert_problem(delete, 403, "insufficient-scope").await;
    let connect = app
        .post(format!("{base}/connect"))
        .bearer(&read_only)
        .json(&json!({"network": "sandbox"}))
        .send()
        .await;
    assert_problem(connect, 403, "insufficient-scope").await;

    // Still intact.
    let mine: Value = app
        .get(&one)
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["enabled"], true);
}

on_both_backends!(
    disconnect_revokes_once_and_keeps_the_audit_trail,
    list_filters_by_status_and_network_and_paginates,
    another_organization_gets_404_and_scopes_are_enforced,
);
