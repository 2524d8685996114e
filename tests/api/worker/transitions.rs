//! Clock-driven status transitions: stored, and announced once on every
//! account of the credential.

use std::time::Duration;

use diesel::prelude::*;
use tokenwarden::db::schema::credentials;
use tokenwarden::domain::from_db_time;

use super::{
    LEAD, connect, count, credential, credential_of, events, expiry, next_refresh, tick_now,
};
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn transitions_are_announced_once_per_account(app: TestApp) {
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    // A grant that expires in 10 days (the window is 7).
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(10 * 86_400));
    let (a, _) = connect(&app, &first, "sandbox-alice").await;
    let (b, cred) = connect(&app, &second, "sandbox-alice").await;
    assert_eq!(credential_of(&app, &a).await, cred, "one shared credential");
    // Only the user can renew it (no refresh token), so that the clock alone
    // moves it. The sandbox always issues a refresh token and no passing of
    // time takes one away, so this one state is written into the row.
    let id = cred.clone();
    tokenwarden::db::run(app.pool(), move |conn| {
        diesel::update(credentials::table.filter(credentials::id.eq(id)))
            .set((
                credentials::refresh_token.eq(None::<Vec<u8>>),
                credentials::refresh_token_key_id.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let expires_at = expiry(&credential(&app, &cred).await);
    app.sandbox().reset_calls();

    let (r, _) = tick_now(&app).await;
    assert_eq!((r.scheduled, r.expiring, r.expired), (1, 0, 0), "{r:?}");
    assert_eq!(credential(&app, &cred).await.status, "active");
    assert_eq!(
        next_refresh(&credential(&app, &cred).await),
        expires_at - LEAD,
        "scheduled a lead before expiry"
    );

    // Into the warning window (day 4): announced once on each account.
    app.advance(chrono::Duration::days(4));
    let (r, at) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired), (1, 0), "{r:?}");
    assert_eq!(r.oauth_states_deleted, 2, "the two used states, days old");
    let row = credential(&app, &cred).await;
    assert_eq!(row.status, "expiring");
    assert_eq!(from_db_time(row.status_changed_at), at);
    app.advance(chrono::Duration::days(1));
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired), (0, 0), "{r:?}");

    // Past expiry (day 11): announced once; not refreshable, so no network call.
    app.advance(chrono::Duration::days(6));
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired, r.refreshed), (0, 1, 0), "{r:?}");
    assert_eq!(credential(&app, &cred).await.status, "expired");
    // Days 11, 12 and 13.
    for _ in 0..3 {
        let (r, _) = tick_now(&app).await;
        assert_eq!((r.expiring, r.expired), (0, 0), "{r:?}");
        app.advance(chrono::Duration::days(1));
    }
    assert_eq!(app.sandbox().calls().refresh, 0);

    for account in [&a, &b] {
        assert_eq!(count(&app, account, "token.expiring").await, 1, "{account}");
        assert_eq!(count(&app, account, "token.expired").await, 1, "{account}");
        let announced: Vec<_> = events(&app, account)
            .await
            .into_iter()
            .filter(|(action, _)| action.starts_with("token."))
            .collect();
        assert!(announced.iter().all(|(_, actor)| actor == "worker"));
    }

    // The API agrees with what the worker stored.
    let body: serde_json::Value = app
        .get(format!("/v1/brands/{first}/accounts/{a}"))
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], a.as_str());
}

on_both_backends!(transitions_are_announced_once_per_account);
