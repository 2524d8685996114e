//! The refresh under every network fault of the matrix in README.md
//! ("Reliability and abuse"): a local network over real HTTP (the sandbox)
//! answers the fault; the renew answers the documented problem, the stored
//! grant is intact (or re-authorization's, for `invalid_grant`), and no log
//! line carries a token.

use std::time::Duration;

use serde_json::Value;
use tokenwarden::db::credentials::open_tokens;
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{connect_in, expire_all, renew, renew_body, stored};
use crate::helpers::{Backend, TestApp, assert_problem, captured_logs};
use crate::on_both_backends;

/// The account's stored tokens, opened (to search the logs for them).
async fn tokens_of(app: &TestApp, account: &str) -> Vec<String> {
    use secrecy::ExposeSecret;
    let (pool, org, account, keys) = (
        app.pool().clone(),
        crate::helpers::org_id(&app.org_id),
        crate::helpers::id(account),
        app.parts.state.keys.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let (_, _, state) = tokenwarden::db::accounts::find_account_by_id(&mut conn, &org, account)
            .unwrap()
            .unwrap();
        let row = tokenwarden::db::credentials::find_credential(&mut conn, &org, state.id)
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

/// One row: an expired account whose next refresh meets `fault`, with an
/// 800 ms `outbound.request_timeout`.
async fn refresh_meets(backend: Backend, fault: FailureMode, status: u16, slug: &str) {
    // Arrange: a short timeout, an expired account, its grant as stored.
    let app = TestApp::spawn_with(backend, |s| {
        s.outbound.request_timeout = Duration::from_millis(800);
    })
    .await;
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
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["token_status"], "expired", "{fault:?}");
    let again: Value = renew_body(&app, &token, &brand, &account).await;
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

crate::network_fault_matrix!(refresh_meets);

/// `invalid_grant`: the one verdict on the grant. It becomes
/// re-authorization's, and the renew answers the authorization URL.
async fn invalid_grant(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Refused").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    expire_all(&app);
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);

    let body: Value = renew_body(&app, &token, &brand, &account).await;

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
    let body: Value = renew_body(&app, &token, &brand, &account).await;

    // Assert: renewed with a new access token and the same refresh token.
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(body["account"]["token_status"], "expiring", "{body}");
    assert_eq!(body["account"]["renew"]["method"], "refresh", "{body}");
    let after = tokens_of(&app, &account).await;
    assert_ne!(after[0], before[0], "a new access token is stored");
    assert_eq!(after.get(1), before.get(1), "the refresh token is kept");
    // The kept refresh token is the live one: the next refresh works.
    expire_all(&app);
    let again: Value = renew_body(&app, &token, &brand, &account).await;
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
    let body: Value = renew_body(&app, &token, &brand, &account).await;

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
