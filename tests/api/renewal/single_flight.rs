//! One network refresh per credential at a time: concurrent callers, two
//! server processes, idempotent replays, and callers that stop waiting.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{connect_in, expire_all, force_due, renew, stored};
use crate::helpers::{Backend, HS256_SECRET, TestApp, assert_problem};
use crate::on_both_backends;

async fn concurrent_renews_refresh_once(app: TestApp) {
    let brand = app.new_brand("Busy").await;
    let other = app.new_brand("Busy too").await;
    let token = app.admin_token();
    let a = connect_in(&app, &token, &brand, "sandbox-alice").await;
    // On Advanced the second connect shares one grant between both accounts.
    let b = connect_in(&app, &token, &other, "sandbox-alice").await;
    assert_eq!(stored(&app, &a).await.0, stored(&app, &b).await.0);
    expire_all(&app);
    app.sandbox().reset_calls();

    let mut calls = Vec::new();
    for i in 0..50 {
        let (brand, account) = if i % 2 == 0 {
            (&brand, &a)
        } else {
            (&other, &b)
        };
        calls.push(renew(&app, &token, brand, account));
    }
    let responses = futures_util::future::join_all(calls).await;
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["outcome"], "renewed");
    }
    // The sandbox kills the grant if a refresh token is spent twice: one
    // refresh, and the grant still alive, prove single flight.
    assert_eq!(app.sandbox().calls().refresh, 1);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
    let account: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{a}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["token_status"], "expiring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_postgres_refresh_once() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    use secrecy::SecretString;
    let app = TestApp::spawn(Backend::Postgres).await;
    let brand = app.new_brand("Shared").await;
    let token = app.admin_token();
    // The second process reads the system's clock, which the test cannot
    // move: the grant expires for both because the network issues it for one
    // second, and the test waits that second out.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(1));
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.sandbox().reset_calls();

    // A second process on the same database, reaching the same sandbox.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys: &SecretString = app.settings.encryption_keys.as_ref().unwrap();
    let sandbox = format!("{}/sandbox", app.address);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwarden"))
        .args([
            // Development mode: the test's networks are plain http on loopback.
            "--dev",
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--no-worker",
        ])
        .current_dir(app.dir.path())
        .env("DATABASE_URL", app.settings.database_url())
        .env("TOKENWARDEN_ENCRYPTION_KEYS", keys.expose_secret())
        .env("TOKENWARDEN_JWT__HS256_SECRET", HS256_SECRET)
        .env("TOKENWARDEN_LOG__LEVEL", "warn")
        .env("TOKENWARDEN_NETWORKS__SANDBOX__KIND", "sandbox")
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__TOKEN_URL",
            format!("{sandbox}/token"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__AUTHORIZE_URL",
            format!("{sandbox}/authorize"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__IDENTITY_URL",
            format!("{sandbox}/userinfo"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__REVOKE_URL",
            format!("{sandbox}/revoke"),
        )
        .env("TOKENWARDEN_NETWORKS__SANDBOX__CLIENT_ID", "sandbox-client")
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__CLIENT_SECRET",
            "sandbox-secret",
        )
        .spawn()
        .unwrap();
    let second = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = app.get(format!("{second}/readyz")).try_send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "second process did not become ready");

    let path = format!("/v1/brands/{brand}/accounts/{account}/renew");
    let mut calls = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        calls.push(app.post(format!("{base}{path}")).bearer(&token).send());
    }
    let responses = futures_util::future::join_all(calls).await;
    let _ = child.kill();
    let _ = child.wait();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["outcome"], "renewed");
    }
    assert_eq!(app.sandbox().calls().refresh, 1);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn idempotent_replay_does_not_call_the_network_twice(app: TestApp) {
    let brand = app.new_brand("Once").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    let path = app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew"));
    let send = |key: &'static str, body: Option<Value>| {
        let mut request = app
            .post(&path)
            .bearer(&token)
            .header("Idempotency-Key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let first = send("renew-1", None).await;
    assert_eq!(first.status(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();
    let replay = send("renew-1", None).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(app.sandbox().calls().refresh, 1);

    // The same key with another body is refused.
    let other = send(
        "renew-1",
        Some(json!({ "return_url": "https://app.example.test/after-oauth/x" })),
    )
    .await;
    assert_problem(other, 422, "idempotency-key-reused").await;
    // Keys are per organization.
    let bad = app
        .post(&path)
        .bearer(&token)
        .header("Idempotency-Key", "")
        .send()
        .await;
    assert_problem(bad, 422, "validation-failed").await;
}

async fn a_caller_that_goes_away_does_not_lose_the_refresh(app: TestApp) {
    let brand = app.new_brand("Impatient").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    // The network takes 1.5 s; the client gives up after 0.3 s.
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);
    let gone = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(&token)
        .raw(|r| r.timeout(Duration::from_millis(300)))
        .try_send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    // The refresh finishes and is stored anyway.
    let mut after = before.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = stored(&app, &account).await;
        if after.1 > before.1 {
            break;
        }
    }
    assert!(after.1 > before.1, "the rotated grant was stored");
    assert_eq!(app.sandbox().calls().refresh, 1);
    // The stored refresh token is the live one: a later refresh works.
    force_due(&app);
    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"], "renewed");
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn a_cancelled_refresh_still_stores_its_grant(app: TestApp) {
    let brand = app.new_brand("Cancelled").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1000 }, 1);
    let state = app.parts.state.get_ref().clone();
    let request = tokenwarden::services::refresh::RefreshRequest {
        organization_id: crate::helpers::org_id(&app.org_id),
        credential_id: crate::helpers::id(&before.0),
        actor: "test".into(),
        snapshot: false,
    };
    // The only caller stops waiting while the network is still answering.
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        tokenwarden::services::refresh::refresh(&state, request),
    )
    .await;
    assert!(waited.is_err(), "cancelled before the network answered");
    let mut after = before.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = stored(&app, &account).await;
        if after.1 > before.1 {
            break;
        }
    }
    assert!(
        after.1 > before.1,
        "the refresh ran to its write-back without a caller"
    );
    assert_eq!(app.sandbox().calls().refresh, 1);
}

on_both_backends!(
    a_cancelled_refresh_still_stores_its_grant,
    a_caller_that_goes_away_does_not_lose_the_refresh,
    concurrent_renews_refresh_once,
    idempotent_replay_does_not_call_the_network_twice,
);
