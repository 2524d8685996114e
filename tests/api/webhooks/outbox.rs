//! The outbox is written by the change's own transaction: a change that
//! commits has its messages before any delivery, a change that rolls back
//! has none; renewals carry the propagation report.

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::webhook_messages as messages;

use super::{Receiver, subscribe};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

/// `(event_type, payload)` of every queued message, oldest first.
async fn outbox(app: &TestApp) -> Vec<(String, Value)> {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok(messages::table
            .order(messages::id.asc())
            .select((messages::event_type, messages::payload))
            .load::<(String, String)>(conn)?)
    })
    .await
    .unwrap()
    .into_iter()
    .map(|(t, p)| (t, serde_json::from_str(&p).unwrap()))
    .collect()
}

/// Makes every `account.renewed` audit insert fail while on: a fault inside
/// the transaction of a connect with propagation, after its
/// `account.connected` message was written.
async fn fail_renewed_audits(app: &TestApp, on: bool) {
    let pool = app.pool().clone();
    let postgres = app.backend == Backend::Postgres;
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let statements: Vec<&str> = match (on, postgres) {
            (true, true) => vec![
                "CREATE FUNCTION fail_renewed() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER fail_renewed BEFORE INSERT ON audit_events FOR EACH ROW \
                 WHEN (NEW.action = 'account.renewed') EXECUTE FUNCTION fail_renewed()",
            ],
            (true, false) => vec![
                "CREATE TRIGGER fail_renewed BEFORE INSERT ON audit_events \
                 WHEN NEW.action = 'account.renewed' \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
            (false, true) => vec!["DROP TRIGGER fail_renewed ON audit_events"],
            (false, false) => vec!["DROP TRIGGER fail_renewed"],
        };
        for statement in statements {
            diesel::sql_query(statement).execute(&mut conn).unwrap();
        }
    })
    .await
    .unwrap();
}

async fn a_change_and_its_messages_commit_or_roll_back_together(app: TestApp) {
    // Arrange: alice connected in one brand; both events subscribed.
    let receiver = Receiver::start();
    subscribe(&app, &receiver.url, &["account.connected", "token.renewed"]).await;
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    let answer = app.connect_sandbox(&first, "sandbox-alice").await;
    let first_account = answer["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        outbox(&app).await.len(),
        1,
        "written with the connect, before any tick"
    );

    // Act: connecting her in the second brand fails while propagating to the
    // first, after its own `account.connected` message was written.
    fail_renewed_audits(&app, true).await;
    let token = app.admin_token();
    let url = app.start_connect(&token, &second, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&url, "sandbox-alice").await;
    let response = app.get(callback).send().await;
    assert_eq!(response.status(), 500);

    // Assert: nothing of the failed change was announced.
    assert_eq!(
        outbox(&app).await.len(),
        1,
        "no message of a rolled-back change"
    );
    assert_eq!(app.counts().await.1, 1, "and no account");

    // The same change committed announces both events, with the report.
    fail_renewed_audits(&app, false).await;
    let answer = app.connect_sandbox(&second, "sandbox-alice").await;
    let second_account = answer["account"]["id"].as_str().unwrap();
    let queued = outbox(&app).await;
    let types: Vec<&str> = queued.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        ["account.connected", "account.connected", "token.renewed"]
    );
    let renewed = &queued[2].1;
    assert_eq!(renewed["type"], "token.renewed");
    assert_eq!(renewed["data"]["account_id"], first_account.as_str());
    assert_eq!(
        renewed["data"]["propagation"],
        json!({
            "renewed": [{ "brand_id": second, "account_id": second_account }],
            "left": [],
        })
    );
}

/// The worker's clock-driven transitions are announced from its own
/// transaction, once.
async fn transitions_are_announced(app: TestApp) {
    let receiver = Receiver::start();
    let (_, secret) = subscribe(&app, &receiver.url, &["token.expiring"]).await;
    let brand = app.new_brand("Clock").await;
    app.sandbox()
        .set_access_token_lifetime(std::time::Duration::from_secs(10 * 86_400));
    app.connect_sandbox(&brand, "sandbox-alice").await;
    // The worker would refresh the token before it enters the window; a grant
    // the user alone can renew lets the clock move it. No passing of time takes
    // a refresh token away, so this state is written into the row.
    tokenwarden::db::run(app.pool(), |conn| {
        use tokenwarden::db::schema::credentials as c;
        diesel::update(c::table)
            .set((
                c::refresh_token.eq(None::<Vec<u8>>),
                c::refresh_token_key_id.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();

    app.advance(chrono::Duration::days(4));
    super::tick_now(&app).await;
    super::tick_now(&app).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1, "announced once");
    let body = received[0].json();
    assert_eq!(body["type"], "token.expiring");
    assert_eq!(body["data"]["to"], "expiring");
    assert!(super::signed_by(&secret, &received[0]));
}

on_both_backends!(
    spawn = crate::webhooks::dev_app;
    a_change_and_its_messages_commit_or_roll_back_together,
    transitions_are_announced,
);
