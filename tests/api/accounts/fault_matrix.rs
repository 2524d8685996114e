//! The network fault matrix of README.md ("Reliability and abuse") for a
//! connect's code exchange and identity read, and for a disconnect's
//! revocation: the sandbox, a local network over real HTTP, answers each
//! fault; nothing half-done is stored, the answer is the documented problem
//! (a disconnect still succeeds), and no log line carries a token.

use std::time::Duration;

use tokenwarden::sandbox::{Endpoint, FailureMode};

use crate::helpers::{Backend, TestApp, assert_problem, captured_logs, postgres_enabled};

/// Whether no log line of the test binary holds a sandbox token (every one
/// starts `sbx_at_` or `sbx_rt_`), nor a piece of an answer that held one.
fn no_sandbox_token_logged() -> bool {
    let logs = captured_logs();
    !logs.contains("sbx_at_") && !logs.contains("sbx_rt_")
}

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| {
        s.outbound.request_timeout = Duration::from_millis(800);
    })
    .await
}

/// A connect whose callback meets `fault` at `endpoint`: the documented
/// problem, nothing stored, and the connect works again afterwards.
async fn connect_meets(
    backend: Backend,
    endpoint: Endpoint,
    fault: &FailureMode,
    status: u16,
    slug: &str,
) {
    // A redirect is not followed, and in a connect it is the network's
    // refusal of the authorization (a retry cannot help).
    let (status, slug) = match fault {
        FailureMode::Redirect { .. } => (422, "grant-rejected"),
        _ => (status, slug),
    };
    // Arrange
    let app = app(backend).await;
    let token = app.admin_token();
    let brand = app.new_brand("Connecting").await;
    let authorize = app.start_connect(&token, &brand, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&authorize, "sandbox-alice").await;
    app.sandbox().queue_failure(endpoint, fault.clone(), 1);

    // Act
    let asked = std::time::Instant::now();
    let response = app.get(&callback).send().await;

    // Assert: an answer within two calls' timeouts (the exchange and the
    // identity read; the slack is for a loaded test machine).
    let took = asked.elapsed();
    assert!(
        took < 2 * app.settings.outbound.request_timeout + Duration::from_secs(5),
        "{endpoint:?} {fault:?}: {took:?}"
    );
    assert!(
        response.headers().contains_key("retry-after") || status == 422,
        "{endpoint:?} {fault:?}: a pause to respect"
    );
    assert_problem(response, status, slug).await;
    assert_eq!(
        app.counts().await,
        (0, 0, 0),
        "{endpoint:?} {fault:?}: nothing stored"
    );
    let again = app.connect_sandbox(&brand, "sandbox-alice").await;
    assert_eq!(
        again["status"], "connected",
        "{endpoint:?} {fault:?}: {again}"
    );
    app.revocations_settled().await;
    assert!(
        no_sandbox_token_logged(),
        "{endpoint:?} {fault:?}: a token in the logs"
    );
}

/// A disconnect whose revocation meets `fault`: still 204, the account and
/// its credential gone, nothing retried, no token in the logs.
async fn disconnect_meets(backend: Backend, fault: &FailureMode) {
    let app = app(backend).await;
    let token = app.admin_token();
    let brand = app.new_brand("Leaving").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    app.sandbox()
        .queue_failure(Endpoint::Revoke, fault.clone(), 1);

    let asked = std::time::Instant::now();
    let response = app
        .delete(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await;

    assert_eq!(response.status(), 204, "{fault:?}");
    app.revocations_settled().await;
    let took = asked.elapsed();
    assert!(
        took < app.settings.outbound.request_timeout + Duration::from_secs(5),
        "{fault:?}: {took:?}"
    );
    assert_eq!(app.counts().await.1, 0, "{fault:?}: the account is gone");
    assert_eq!(app.counts().await.2, 0, "{fault:?}: its credential is gone");
    assert_eq!(app.sandbox().calls().revoke, 1, "{fault:?}: not retried");
    assert!(no_sandbox_token_logged(), "{fault:?}: a token in the logs");
}

/// One row of the matrix through every operation it applies to: a
/// connect's code exchange and identity read, and a disconnect's revocation.
async fn row(backend: Backend, fault: FailureMode, status: u16, slug: &str) {
    connect_meets(backend, Endpoint::Token, &fault, status, slug).await;
    connect_meets(backend, Endpoint::Userinfo, &fault, status, slug).await;
    disconnect_meets(backend, &fault).await;
}

crate::network_fault_matrix!(row);

/// A code exchange answered without `refresh_token` or without `expires_in`:
/// the connect succeeds with what the network gave. No refresh token means
/// renewal by re-authorization; no `expires_in` means the network's default
/// lifetime (an hour for the sandbox network), not the real one (ten minutes
/// here) and not "never".
async fn code_exchange_answers_of_other_shapes(backend: Backend) {
    for fault in [FailureMode::NoRefreshToken, FailureMode::NoExpiresIn] {
        // Arrange
        let app = app(backend).await;
        app.sandbox()
            .set_access_token_lifetime(Duration::from_secs(600));
        let token = app.admin_token();
        let brand = app.new_brand("Connecting").await;
        let authorize = app.start_connect(&token, &brand, "sandbox", None).await;
        let callback = app.approve_at_sandbox(&authorize, "sandbox-alice").await;
        app.sandbox()
            .queue_failure(Endpoint::Token, fault.clone(), 1);

        // Act
        let response = app.get(&callback).send().await;

        // Assert
        assert_eq!(response.status(), 200, "{fault:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "connected", "{fault:?}: {body}");
        let account = &body["account"];
        // An hour or ten minutes, within the week's warning window.
        assert_eq!(account["token_status"], "expiring", "{fault:?}: {body}");
        let expires_at: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(account["expires_at"].clone()).unwrap();
        let lifetime = (expires_at - app.now()).num_seconds();
        let (method, expected) = match fault {
            FailureMode::NoRefreshToken => ("reauthorize", 590..=600),
            _ => ("refresh", 3590..=3600),
        };
        assert_eq!(account["renew"]["method"], method, "{fault:?}: {body}");
        assert!(expected.contains(&lifetime), "{fault:?}: {lifetime} s");
        assert_eq!(app.counts().await, (1, 1, 1), "{fault:?}");
        assert!(no_sandbox_token_logged(), "{fault:?}: a token in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchange_answer_shapes_sqlite() {
    code_exchange_answers_of_other_shapes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchange_answer_shapes_postgres() {
    if postgres_enabled() {
        code_exchange_answers_of_other_shapes(Backend::Postgres).await;
    }
}
