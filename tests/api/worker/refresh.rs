//! Proactive refresh: a due credential renewed once, transient failures
//! retried with backoff and given up on only after days expired, grants the
//! network refuses.

use std::time::Duration;

use tokenwarden::domain::{from_db_time, to_db_time};
use tokenwarden::sandbox::{Endpoint, FailureMode};

use super::{LEAD, connect, count, credential, events, expiry, next_refresh, tick_now};
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn a_due_credential_is_refreshed_once(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    // Issued for 30 s: within the sandbox's 60 s lead, so due right away.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let (account, cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    app.sandbox().reset_calls();
    let before = credential(&app, &cred).await;

    let (r, at) = tick_now(&app).await;
    assert_eq!((r.scheduled, r.claimed, r.refreshed), (1, 1, 1), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    let after = credential(&app, &cred).await;
    let old_expiry = from_db_time(before.expires_at.unwrap());
    let new_expiry = from_db_time(after.expires_at.unwrap());
    assert!(
        new_expiry > old_expiry + chrono::Duration::days(29),
        "{old_expiry} -> {new_expiry}"
    );
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.status, "active");
    assert_eq!(next_refresh(&after), new_expiry - LEAD);
    assert_eq!(
        events(&app, &account).await.last().unwrap(),
        &("account.renewed".to_string(), "worker".to_string())
    );

    // Not due again: later ticks leave it alone.
    for _ in 0..3 {
        let (r, _) = tick_now(&app).await;
        assert_eq!((r.claimed, r.refreshed), (0, 0), "{r:?}");
    }
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(credential(&app, &cred).await.version, after.version);

    // A stale hint (renewed through the API meanwhile) is rescheduled
    // without a network call. The hint is written, not produced by renewing,
    // so that the network's refresh count stays the worker's: it is the
    // schedule an API renew leaves behind, not a time.
    let id = cred.clone();
    let stale = to_db_time(at);
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::schedule::schedule_refresh(conn, crate::helpers::id(&id), stale)
    })
    .await
    .unwrap();
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.claimed, r.rescheduled, r.refreshed), (1, 1, 0), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(
        next_refresh(&credential(&app, &cred).await),
        new_expiry - LEAD
    );
}

async fn a_transient_failure_is_retried_later_with_backoff(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let (_, cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 1);

    let (r, at) = tick_now(&app).await;
    assert_eq!((r.claimed, r.transient, r.refreshed), (1, 1, 0), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    let row = credential(&app, &cred).await;
    assert!(
        ["active", "expiring"].contains(&row.status.as_str()),
        "{}",
        row.status
    );
    assert_eq!(row.failure_count, 1);
    assert!(row.lease_owner.is_none(), "lease released");
    let retry = next_refresh(&row);
    assert!(
        retry >= at + chrono::Duration::seconds(45) && retry <= at + chrono::Duration::seconds(60),
        "first retry after about a minute, jittered: {}",
        retry - at
    );

    // Not before the retry time.
    app.advance(chrono::Duration::seconds(30));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.claimed, 0, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);

    // Two more failures double the pause; the still-valid credential is
    // `refresh_failing`, never `reauth_required`.
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 2);
    app.advance(chrono::Duration::seconds(31));
    let (r, second) = tick_now(&app).await;
    assert!(second >= at + chrono::Duration::seconds(61));
    assert_eq!(r.transient, 1, "{r:?}");
    let retry = next_refresh(&credential(&app, &cred).await);
    assert!(
        retry >= second + chrono::Duration::seconds(90)
            && retry <= second + chrono::Duration::seconds(120),
        "second retry after about two minutes: {}",
        retry - second
    );
    app.advance(chrono::Duration::seconds(121));
    let (r, third) = tick_now(&app).await;
    assert_eq!(r.transient, 1, "{r:?}");
    let row = credential(&app, &cred).await;
    assert_eq!(row.failure_count, 3);
    assert_ne!(row.status, "reauth_required");
    assert!(next_refresh(&row) >= third + chrono::Duration::seconds(180));

    // The network is back: the next attempt renews.
    app.advance(chrono::Duration::seconds(241));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.refreshed, 1, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 4);
    let row = credential(&app, &cred).await;
    assert_eq!((row.status.as_str(), row.failure_count), ("active", 0));
}

async fn failures_give_up_only_after_days_expired(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    // One expired four days ago, one a day ago (the sandbox's tokens live an
    // hour): connected three days apart, then a day and an hour pass. Every
    // refresh fails.
    let (_, old) = connect(&app, &brand, "sandbox-bob").await;
    app.advance(chrono::Duration::days(3));
    let (_, recent) = connect(&app, &brand, "sandbox-alice").await;
    app.advance(chrono::Duration::days(1) + chrono::Duration::hours(1));
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 2);
    app.sandbox().reset_calls();

    let (r, at) = tick_now(&app).await;
    assert!(expiry(&credential(&app, &old).await) <= at - chrono::Duration::days(4));
    assert!(expiry(&credential(&app, &recent).await) <= at - chrono::Duration::days(1));
    assert_eq!((r.claimed, r.transient, r.gave_up), (2, 1, 1), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 2);
    let recent_row = credential(&app, &recent).await;
    assert_eq!(recent_row.status, "expired", "still only expired");
    assert!(next_refresh(&recent_row) > at);
    let old_row = credential(&app, &old).await;
    assert_eq!(old_row.status, "reauth_required");
    assert_eq!(
        old_row.status_reason.as_deref(),
        Some("refresh_failing_for_days")
    );
}

async fn a_refused_grant_becomes_reauth_required(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));

    // The network answers invalid_grant.
    let (alice, alice_cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);
    let (r, at) = tick_now(&app).await;
    assert_eq!((r.claimed, r.reauth_required), (1, 1), "{r:?}");
    let row = credential(&app, &alice_cred).await;
    assert_eq!(row.status, "reauth_required");
    assert_eq!(row.failure_count, 0, "not a transient failure");
    assert!(next_refresh(&row) >= at + chrono::Duration::hours(23));
    assert_eq!(count(&app, &alice, "token.reauth_required").await, 1);

    // The user revoked the grant at the network.
    let (bob, bob_cred) = connect(&app, &brand, "sandbox-bob").await;
    assert_eq!(app.sandbox().revoke_grants("sandbox-bob"), 1);
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.claimed, r.reauth_required), (1, 1), "{r:?}");
    assert_eq!(credential(&app, &bob_cred).await.status, "reauth_required");
    assert_eq!(count(&app, &bob, "token.reauth_required").await, 1);

    // Neither is tried again.
    app.advance(chrono::Duration::minutes(5));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.claimed, 0, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 2);
}

on_both_backends!(
    a_due_credential_is_refreshed_once,
    a_transient_failure_is_retried_later_with_backoff,
    failures_give_up_only_after_days_expired,
    a_refused_grant_becomes_reauth_required,
);
