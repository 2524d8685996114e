//! Failures lose nothing: transient network failures answer 5xx and never
//! a false reconnect, a failed write-back after a refresh is retried, and a
//! pool that runs dry during a refresh answers 503.

use std::time::Duration;

use serde_json::Value;
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{connect_in, force_due, renew, stored};
use crate::helpers::{Backend, TestApp, assert_problem, fail_writebacks};
use crate::on_both_backends;

async fn transient_failures_answer_5xx_and_lose_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.outbound.request_timeout = Duration::from_millis(800);
    })
    .await;
    let brand = app.new_brand("Flaky").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    // Failures the network answers before doing anything.
    let cases = [
        (
            FailureMode::Status { status: 500 },
            502,
            "network-error",
            None,
        ),
        (
            FailureMode::Status { status: 503 },
            503,
            "network-unavailable",
            None,
        ),
        (
            FailureMode::RateLimited {
                retry_after_secs: 7,
            },
            503,
            "network-unavailable",
            Some("7"),
        ),
    ];
    for (mode, status, slug, retry_after) in cases {
        assert_transient(&app, &brand, &account, mode, status, slug, retry_after).await;
        assert_eq!(stored(&app, &account).await, before, "grant untouched");
    }
    // Three failures in a row while valid: refresh_failing, still no false reconnect.
    let now: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["token_status"], "refresh_failing");
    // Nothing was lost: the stored refresh token still works.
    let response = renew(&app, &token, &brand, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(body["account"]["token_status"], "expiring");
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);

    // Failures after which the network may have done the work (a timeout, an
    // unreadable answer): the caller gets 504/502 and the stored grant stays
    // as it was. (A network that rotated its refresh token meanwhile has
    // spent the stored one; nothing on this side can recover that.)
    let before = stored(&app, &account).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    for (mode, status, slug) in [
        (FailureMode::Slow { delay_ms: 2000 }, 504, "network-timeout"),
        (FailureMode::Malformed, 502, "network-error"),
    ] {
        force_due(&app);
        assert_transient(&app, &brand, &account, mode, status, slug, None).await;
        assert_eq!(stored(&app, &account).await.0, before.0, "same credential");
    }
}

async fn assert_transient(
    app: &TestApp,
    brand: &str,
    account: &str,
    mode: FailureMode,
    status: u16,
    slug: &str,
    retry_after: Option<&str>,
) {
    let token = app.admin_token();
    app.sandbox()
        .queue_failure(Endpoint::Token, mode.clone(), 1);
    let response = renew(app, &token, brand, account).await;
    assert!(response.headers().contains_key("retry-after"), "{mode:?}");
    if let Some(expected) = retry_after {
        assert_eq!(response.headers()["retry-after"], expected, "{mode:?}");
    }
    assert_problem(response, status, slug).await;
    let now: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(
        now["token_status"], "reauth_required",
        "{mode:?}: never a false reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_sqlite() {
    transient_failures_answer_5xx_and_lose_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_postgres() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    transient_failures_answer_5xx_and_lose_nothing(Backend::Postgres).await;
}

async fn a_failed_write_after_a_refresh_is_not_lost(app: TestApp) {
    let brand = app.new_brand("Fragile").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    // Every write-back fails until the test lifts the fault: a trigger on the
    // column only the write-back sets (the lease is taken without it).
    fail_writebacks(&app, true).await;

    let renewing = {
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/v1/brands/{brand}/accounts/{account}/renew", app.address),
            token.clone(),
        );
        tokio::spawn(async move { client.post(url).bearer(token).send().await })
    };
    let retries = &app.parts.state.refresh;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while retries.writeback_retries() == 0 {
        assert!(std::time::Instant::now() < deadline, "no write-back failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fail_writebacks(&app, false).await;
    let response = renewing.await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(app.sandbox().calls().refresh, 1, "one network refresh");
    assert!(retries.writeback_retries() >= 1);
    let after = stored(&app, &account).await;
    assert!(after.1 > before.1, "the new expiry was stored");

    // The stored grant is the rotated one: refreshing with it works at the network.
    let pool = app.pool().clone();
    let keys = app.parts.state.keys.clone();
    let credential = after.0.clone();
    let org = app.org_id.clone();
    let (access, refresh) = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let row = tokenwarden::db::credentials::find_credential(
            &mut conn,
            &crate::helpers::org_id(&org),
            crate::helpers::id(&credential),
        )
        .unwrap()
        .unwrap();
        tokenwarden::db::credentials::open_tokens(&keys, &row).unwrap()
    })
    .await
    .unwrap();
    let provider = app.parts.state.providers.get("sandbox").unwrap();
    assert_eq!(
        provider.identity(&access).await.unwrap().subject,
        "sandbox-alice"
    );
    provider
        .refresh(&access, refresh.as_ref(), app.now())
        .await
        .expect("the stored refresh token is the live one");
}

/// The pool runs dry while the network answers a refresh: the refresh's
/// write-back cannot get a connection. The caller waiting on the shared
/// refresh gets the pool's own answer — 503 with `Retry-After` — not a 500.
async fn a_pool_timeout_inside_a_refresh_answers_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.database.pool_size = 2;
        s.database.connect_timeout_secs = 1;
    })
    .await;
    let brand = app.new_brand("Crowded").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);

    let renewing = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew")),
            token.clone(),
        );
        tokio::spawn(async move { client.post(url).bearer(token).send().await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.sandbox().calls().refresh == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh reached the network"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While the network answers, hold every connection of the pool.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let pool = app.pool().clone();
    let holder = tokio::task::spawn_blocking(move || {
        let held = (pool.get().unwrap(), pool.get().unwrap());
        released.recv().ok();
        drop(held);
    });
    let response = renewing.await.unwrap();
    release.send(()).unwrap();
    holder.await.unwrap();

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(problem["status"], 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_timeout_inside_a_refresh_answers_503_sqlite() {
    a_pool_timeout_inside_a_refresh_answers_503(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_timeout_inside_a_refresh_answers_503_postgres() {
    if !crate::helpers::postgres_enabled() {
        return;
    }
    a_pool_timeout_inside_a_refresh_answers_503(Backend::Postgres).await;
}

on_both_backends!(a_failed_write_after_a_refresh_is_not_lost);
