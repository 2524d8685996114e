//! The refresh under every network fault of the matrix in README.md
//! ("Reliability and abuse"): a local network over real HTTP (the sandbox)
//! answers the fault; the renew answers the documented problem, the stored
//! grant is intact (or re-authorization's, for `invalid_grant`), and no log
//! line carries a token.

use std::time::Duration;

use serde_json::Value;
use tokenwarden::db::credentials::open_tokens;
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{connect_in, expire_all, renew, stored};
use crate::helpers::{TestApp, assert_problem, captured_logs};
use crate::on_both_backends;

/// The account's stored tokens, opened (to search the logs for them).
async fn tokens_of(app: &TestApp, account: &str) -> Vec<String> {
    use secrecy::ExposeSecret;
    let (pool, org, account, keys) = (
        app.pool().clone(),
        app.org_id.clone(),
        account.to_string(),
        app.parts.state.keys.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let (_, _, state) =
            tokenwarden::db::accounts::find_account_by_id(&mut conn, &org, &account)
                .unwrap()
                .unwrap();
        let row = tokenwarden::db::credentials::find_credential(&mut conn, &org, &state.id)
            .unwrap()
            .unwrap();
        let (access, refresh) = open_tokens(&keys, &row).unwrap();
        let mut tokens = vec![access.expose_secret().to_string()];
        tokens.extend(refresh.map(|r| r.expose_secret().to_string()));
        tokens
    })
    .await
    .unwrap()
}

/// One row: an expired account whose next refresh meets `fault`.
async fn refresh_meets(app: TestApp, fault: FailureMode, status: u16, slug: &str) {
    // Arrange: a short timeout, an expired account, its grant as stored.
    let token = app.admin_token();
    let brand = app.new_brand("Faulty").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    expire_all(&app);
    let before = stored(&app, &account).await;
    let secrets = tokens_of(&app, &account).await;
    app.sandbox()
        .queue_failure(Endpoint::Token, fault.clone(), 1);

    // Act
    let asked = std::time::Instant::now();
    let response = renew(&app, &token, &brand, &account).await;

    // Assert: an answer within one call's timeout (no retries stacked up,
    // no hang; the slack is for a loaded test machine), the documented
    // problem, with a pause to respect.
    let took = asked.elapsed();
    assert!(
        took < app.settings.outbound.request_timeout + Duration::from_secs(5),
        "{fault:?}: {took:?}"
    );
    assert!(response.headers().contains_key("retry-after"), "{fault:?}");
    assert_problem(response, status, slug).await;
    // The grant is intact, not re-authorization's: the next renew works.
    assert_eq!(stored(&app, &account).await, before, "{fault:?}");
    let shown: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{account}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["token_status"], "expired", "{fault:?}");
    let again: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"], "renewed", "{fault:?}: {again}");
    // No log line carries the grant's tokens.
    let logs = captured_logs();
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "{fault:?}: a token in the logs"
        );
    }
}

/// A network slower than `outbound.request_timeout` (800 ms here).
async fn a_delay_past_the_timeout(backend: crate::helpers::Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.outbound.request_timeout = Duration::from_millis(800);
    })
    .await;
    refresh_meets(
        app,
        FailureMode::Slow { delay_ms: 2000 },
        504,
        "network-timeout",
    )
    .await;
}

mod a_delay_past_the_timeout {
    use crate::helpers::{Backend, postgres_enabled};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_delay_past_the_timeout(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if postgres_enabled() {
            super::a_delay_past_the_timeout(Backend::Postgres).await;
        }
    }
}

async fn a_500(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::Status { status: 500 },
        502,
        "network-error",
    )
    .await;
}

async fn a_502(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::Status { status: 502 },
        502,
        "network-error",
    )
    .await;
}

async fn a_503(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::Status { status: 503 },
        503,
        "network-unavailable",
    )
    .await;
}

async fn a_429_with_retry_after(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::RateLimited {
            retry_after_secs: 7,
        },
        503,
        "network-unavailable",
    )
    .await;
}

async fn truncated_json(app: TestApp) {
    refresh_meets(app, FailureMode::Malformed, 502, "network-error").await;
}

async fn a_10_mb_body(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::Huge {
            bytes: 10 * 1024 * 1024,
        },
        502,
        "network-error",
    )
    .await;
}

async fn an_html_200(app: TestApp) {
    refresh_meets(app, FailureMode::Html, 502, "network-error").await;
}

async fn a_connection_reset(app: TestApp) {
    refresh_meets(app, FailureMode::Reset, 502, "network-error").await;
}

async fn a_302_to_another_host(app: TestApp) {
    refresh_meets(
        app,
        FailureMode::Redirect {
            location: "https://evil.example/token".into(),
        },
        502,
        "network-error",
    )
    .await;
}

on_both_backends!(
    a_500,
    a_502,
    a_503,
    a_429_with_retry_after,
    truncated_json,
    a_10_mb_body,
    an_html_200,
    a_connection_reset,
    a_302_to_another_host,
);

/// `invalid_grant`: the one verdict on the grant. It becomes
/// re-authorization's, and the renew answers the authorization URL.
async fn invalid_grant(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Refused").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    expire_all(&app);
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);

    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(body["outcome"], "authorization_required", "{body}");
    assert_eq!(body["account"]["token_status"], "reauth_required", "{body}");
}

on_both_backends!(invalid_grant);

/// A network that answers a refresh without `refresh_token` has not rotated
/// it: the one sent is kept (not lost, not blanked), and it renews again.
async fn a_rotated_refresh_token_missing(app: TestApp) {
    // Arrange: an expired account; its grant's tokens as stored.
    let token = app.admin_token();
    let brand = app.new_brand("Unrotated").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    expire_all(&app);
    let before = tokens_of(&app, &account).await;
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::NoRefreshToken, 1);

    // Act
    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();

    // Assert: renewed with a new access token and the same refresh token.
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(body["account"]["token_status"], "expiring", "{body}");
    assert_eq!(body["account"]["renew"]["method"], "refresh", "{body}");
    let after = tokens_of(&app, &account).await;
    assert_ne!(after[0], before[0], "a new access token is stored");
    assert_eq!(after.get(1), before.get(1), "the refresh token is kept");
    // The kept refresh token is the live one: the next refresh works.
    expire_all(&app);
    let again: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"], "renewed", "{again}");
    assert_eq!(app.sandbox().calls().refresh, 2);
    let logs = captured_logs();
    for secret in before.iter().chain(&after) {
        assert!(!logs.contains(secret.as_str()), "a token in the logs");
    }
}

/// An answer without `expires_in`: the network's default lifetime (the
/// sandbox network's is an hour) is stored, not the real one (ten minutes
/// here) and not "never".
async fn an_answer_without_expires_in(app: TestApp) {
    // Arrange: tokens that live ten minutes, so the default is told apart.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(600));
    let token = app.admin_token();
    let brand = app.new_brand("Timeless").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let (_, connected_until) = stored(&app, &account).await;
    let connected_for = connected_until - app.now().naive_utc();
    assert!(
        connected_for <= chrono::Duration::seconds(600),
        "{connected_for}"
    );
    expire_all(&app);
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::NoExpiresIn, 1);

    // Act
    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();

    // Assert
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(body["account"]["token_status"], "expiring", "{body}");
    let (_, until) = stored(&app, &account).await;
    let lifetime = until - app.now().naive_utc();
    assert!(
        (chrono::Duration::seconds(3590)..=chrono::Duration::seconds(3600)).contains(&lifetime),
        "stored for {lifetime}"
    );
    let shown: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["account"]["expires_at"].clone()).unwrap();
    assert_eq!(
        shown.naive_utc().and_utc().timestamp(),
        until.and_utc().timestamp()
    );
}

on_both_backends!(
    a_rotated_refresh_token_missing,
    an_answer_without_expires_in
);
