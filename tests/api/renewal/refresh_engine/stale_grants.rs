//! A grant the journal kept until after its access token expired (a process killed mid
//! write-back, stored later) is refreshed with its refresh token before anyone is answered:
//! renew never answers `renewed` with an expired token, and the vault never refuses a healthy
//! grant.

use diesel::prelude::*;
use tokenwarden::db::schema::credentials;

use super::*;

/// A journaled grant of `account` that the database did not take: the renewal that got it from
/// the network answered 503, and its access token (an hour's) has expired since.
async fn journaled_and_expired(app: &TestApp, brand: &str, account: &str) {
    fail_writebacks(app, true).await;
    let response = renew_at(app, &app.address, brand, account).await;
    assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(journal_entries(app.dir.path()), 1);
    fail_writebacks(app, false).await;
    app.advance(chrono::Duration::minutes(70));
}

/// Whether no refresh holds the credential's lease, by the database's clock.
async fn lease_is_free(app: &TestApp, id: &str) -> bool {
    let id = id.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        let free = tokenwarden::db::credentials::lease_free(conn);
        Ok(credentials::table
            .filter(credentials::id.eq(id))
            .filter(free)
            .count()
            .get_result::<i64>(conn)?
            == 1)
    })
    .await
    .unwrap()
}

/// The process was killed mid write-back (its lease still held, the grant in the journal) and
/// restarted: the restart leaves the entry to the lease's end, and the next renew stores it —
/// by then expired — and refreshes it before answering.
async fn a_journaled_grant_stored_after_it_expired_is_refreshed_before_renew_answers(app: TestApp) {
    // Arrange
    let brand = app.new_brand("Killed").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    journaled_and_expired(&app, &brand, &account).await;
    let id = credential_of(&app, &account).await.id;
    let held = id;
    tokenwarden::db::run(app.pool(), move |conn| {
        // The killed process's lease, as it left it: the database's clock ends it.
        tokenwarden::db::credentials::take_lease(conn, held, "killed-instance:lease", 2)
    })
    .await
    .unwrap();
    let restarted = Instance::start(&app, |_| {}).await;
    assert_eq!(journal_entries(app.dir.path()), 1, "the entry waits");
    while !lease_is_free(&app, id.as_str()).await {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.sandbox().reset_calls();

    // Act
    let response = renew_at(&app, &restarted.address, &brand, &account).await;

    // Assert: renewed with a valid token, stored, and the live grant at the network.
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed", "{body}");
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        expires_at > app.now(),
        "renewed with an expired token: {body}"
    );
    assert_ne!(body["account"]["token_status"], "expired", "{body}");
    assert_eq!(app.sandbox().calls().refresh, 1, "refreshed once more");
    let row = credential_of(&app, &account).await;
    assert!(row.expires_at.map(tokenwarden::domain::from_db_time) == Some(expires_at));
    assert!(row.lease_owner.is_none(), "lease released");
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert!(stored_grant_refreshes(&app, &account).await);
}

/// The vault asked for a token while the only live grant is a journaled one that expired: it
/// stores the grant, refreshes it and hands out the fresh token, instead of 409.
async fn the_vault_never_refuses_a_journaled_grant_that_expired(app: TestApp) {
    // Arrange
    let brand = app.new_brand("Publishing").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    journaled_and_expired(&app, &brand, &account).await;
    app.sandbox().reset_calls();
    let worker = app.token(&app.org_id, "tokens:read");

    // Act
    let response = app
        .post(format!("/v1/accounts/{account}/access-token"))
        .bearer(&worker)
        .send()
        .await;

    // Assert: a token valid now, the stored one, and the grant alive at the network.
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires_at > app.now(), "{body}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    let row = credential_of(&app, &account).await;
    let (access, _) =
        tokenwarden::db::credentials::open_tokens(&app.parts.state.keys, &row).unwrap();
    assert_eq!(body["access_token"], access.expose_secret());
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert!(stored_grant_refreshes(&app, &account).await);
}

on_both_backends!(
    a_journaled_grant_stored_after_it_expired_is_refreshed_before_renew_answers,
    the_vault_never_refuses_a_journaled_grant_that_expired,
);
