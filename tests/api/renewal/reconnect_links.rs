//! Reconnect links and replays: a reconnect link is spent only by an
//! authorization that started, and an `Idempotency-Key` answer is replayed
//! only to the user who made it.

use diesel::prelude::*;
use serde_json::Value;
use tokenwarden::db::schema::{idempotency_records, oauth_states};

use crate::helpers::{ALL_SCOPES, Backend, TestApp, assert_problem};
use crate::on_both_backends;
use crate::renewal::connect_in;

async fn an_idempotent_answer_is_replayed_only_to_the_user_who_asked(app: TestApp) {
    // Arrange: two users of one organization; the first renews with a key.
    let brand = app.new_brand("Shared desk").await;
    let account = connect_in(&app, &app.admin_token(), &brand, "sandbox-alice").await;
    let user = |sub: &str| {
        app.minter.mint(
            &app.org_id,
            sub,
            ALL_SCOPES,
            std::time::Duration::from_secs(600),
        )
    };
    let (first, second) = (user("user-a"), user("user-b"));
    let path = app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew"));
    let renew = |token: String| {
        app.post(&path)
            .bearer(token)
            .header("Idempotency-Key", "renew-from-the-dropdown")
            .send()
    };
    let answer = renew(first.clone()).await;
    assert_eq!(answer.status(), 200);

    // Act: the other user sends the same key and request.
    let other = renew(second).await;

    // Assert: the second user gets an answer of their own, the first still
    // gets theirs replayed, and each user's key is stored apart.
    assert_eq!(other.status(), 200);
    assert!(
        !other.headers().contains_key("idempotent-replayed"),
        "another user got the first user's stored answer"
    );
    let again = renew(first).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let pool = app.pool().clone();
    let mut actors: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        idempotency_records::table
            .filter(idempotency_records::idempotency_key.eq("renew-from-the-dropdown"))
            .select(idempotency_records::actor)
            .load(&mut conn)
            .unwrap()
    })
    .await
    .unwrap();
    actors.sort();
    assert_eq!(actors, ["user-a", "user-b"]);
}

/// Makes every new OAuth state fail to be stored (or stop failing), with a
/// trigger reading a flag: the start of an authorization fails after its
/// inputs were accepted, as when the database refuses the write.
async fn fail_state_inserts(app: &TestApp, on: bool) {
    let pool = app.pool().clone();
    let postgres = app.backend == Backend::Postgres;
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let exists = diesel::sql_query("SELECT n FROM state_faults")
            .execute(&mut conn)
            .is_ok();
        if !exists {
            let statements: &[&str] = if postgres {
                &[
                    "CREATE TABLE state_faults (n INTEGER NOT NULL)",
                    "INSERT INTO state_faults VALUES (0)",
                    "CREATE FUNCTION fail_state() RETURNS trigger AS $$ BEGIN \
                     IF (SELECT n FROM state_faults) > 0 THEN \
                     RAISE EXCEPTION 'injected state fault'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_state BEFORE INSERT ON oauth_states \
                     FOR EACH ROW EXECUTE FUNCTION fail_state()",
                ]
            } else {
                &[
                    "CREATE TABLE state_faults (n INTEGER NOT NULL)",
                    "INSERT INTO state_faults VALUES (0)",
                    "CREATE TRIGGER fail_state BEFORE INSERT ON oauth_states \
                     WHEN (SELECT n FROM state_faults) > 0 \
                     BEGIN SELECT RAISE(ABORT, 'injected state fault'); END",
                ]
            };
            for statement in statements {
                diesel::sql_query(*statement).execute(&mut conn).unwrap();
            }
        }
        diesel::sql_query(format!("UPDATE state_faults SET n = {}", i32::from(on)))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
}

/// A reconnect link for a fresh account of `subject`: its URL.
async fn reconnect_link(app: &TestApp, subject: &str) -> String {
    let token = app.admin_token();
    let brand = app.new_brand(&format!("Owner {subject}")).await;
    let account = connect_in(app, &token, &brand, subject).await;
    let response = app
        .post(format!(
            "/v1/brands/{brand}/accounts/{account}/reconnect-link"
        ))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    link["url"].as_str().unwrap().to_string()
}

async fn reconnect_link_states(app: &TestApp) -> i64 {
    let pool = app.pool().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        oauth_states::table
            .filter(oauth_states::purpose.eq("reconnect_link"))
            .count()
            .get_result(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn a_reconnect_link_whose_start_failed_still_works(app: TestApp) {
    // Arrange: the owner's link; the authorization's start will fail.
    let url = reconnect_link(&app, "sandbox-alice").await;
    fail_state_inserts(&app, true).await;

    // Act: the owner presses the button, it fails; then presses it again.
    let failed = app.post(&url).send().await;
    fail_state_inserts(&app, false).await;
    let retried = app.post(&url).send().await;

    // Assert: the failure spent nothing, the retry starts the authorization,
    // and after that the link is spent.
    assert!(failed.status().is_server_error(), "{}", failed.status());
    assert_eq!(retried.status(), 303, "the link survived its failed start");
    assert_eq!(reconnect_link_states(&app).await, 1);
    assert_problem(app.post(&url).send().await, 410, "link-gone").await;
}

async fn concurrent_uses_of_a_reconnect_link_start_one_authorization(app: TestApp) {
    // Arrange
    let url = reconnect_link(&app, "sandbox-alice").await;

    // Act: eight presses of the button at once.
    let presses = (0..8).map(|_| {
        let (client, url) = (app.client.clone(), url.clone());
        async move { client.post(url).send().await.status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(presses).await;

    // Assert: one started an authorization, every other found the link spent.
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410, 410, 410, 410, 410, 410, 410]);
    assert_eq!(reconnect_link_states(&app).await, 1);
}

on_both_backends!(
    an_idempotent_answer_is_replayed_only_to_the_user_who_asked,
    a_reconnect_link_whose_start_failed_still_works,
    concurrent_uses_of_a_reconnect_link_start_one_authorization,
);
