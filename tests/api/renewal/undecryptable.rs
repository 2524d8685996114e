//! A credential whose sealed tokens are not its row's (restored under another
//! id, or altered) is `reauth_required (undecryptable)`, and that is not a
//! dead end: its owner re-authorizes, the person connects elsewhere, the
//! account can be disconnected, and a key rotation goes on past it and names
//! it.

use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokenwarden::crypto::KeyRing;
use tokenwarden::db::schema::{accounts, credentials};

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem, captured_logs};
use crate::on_both_backends;
use crate::renewal::{brand_in, renew_body};
use crate::storage::two_accounts_one_moved;

/// A brand with alice's and bob's accounts, bob's credential holding alice's
/// sealed access token and already found out (a vault read made it
/// `reauth_required (undecryptable)`): `(brand, alice, bob)`.
async fn bob_undecryptable(app: &TestApp, name: &str) -> (String, String, String) {
    let (brand, alice, bob) = two_accounts_one_moved(app, name).await;
    let response = app
        .post(format!("/v1/accounts/{bob}/access-token"))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_problem(response, 409, "reauthorization-required").await;
    let (status, reason) = credential_status(app, &credential_of(app, &bob).await.unwrap()).await;
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("reauth_required", Some("undecryptable"))
    );
    (brand, alice, bob)
}

/// The credential an account points at, as stored.
async fn credential_of(app: &TestApp, account: &str) -> Option<String> {
    let (pool, account) = (app.pool().clone(), account.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        accounts::table
            .filter(accounts::id.eq(&account))
            .select(accounts::credential_id)
            .first::<Option<String>>(&mut conn)
            .optional()
            .unwrap()
            .flatten()
    })
    .await
    .unwrap()
}

/// `(status, status_reason)` of a stored credential.
async fn credential_status(app: &TestApp, id: &str) -> (String, Option<String>) {
    let (pool, id) = (app.pool().clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        credentials::table
            .filter(credentials::id.eq(&id))
            .select((credentials::status, credentials::status_reason))
            .first(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn credential_exists(app: &TestApp, id: &str) -> bool {
    let (pool, id) = (app.pool().clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        credentials::table
            .filter(credentials::id.eq(&id))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
            == 1
    })
    .await
    .unwrap()
}

/// Connects `subject` in `brand` through the sandbox; the callback's answer.
async fn connect(app: &TestApp, token: &str, brand: &str, subject: &str) -> (u16, Value) {
    let authorize = app.start_connect(token, brand, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&authorize, subject).await;
    let response = app.get(callback).send().await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The vault read of an account works: 200 with a token.
async fn vault_serves(app: &TestApp, account: &str) {
    let response = app
        .post(format!("/v1/accounts/{account}/access-token"))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_eq!(response.status(), 200, "vault read of {account}");
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
}

async fn the_owner_reauthorizes_over_an_undecryptable_grant(app: TestApp) {
    // Arrange
    let (brand, alice, bob) = bob_undecryptable(&app, "Restored").await;
    let unreadable = credential_of(&app, &bob).await.unwrap();
    let revocations = app.sandbox().calls().revoke;

    // Act: the owner follows the renew answer's authorization URL.
    let renew = renew_body(&app, &app.admin_token(), &brand, &bob).await;
    assert_eq!(renew["outcome"], "authorization_required", "{renew}");
    let authorize = renew["authorization"]["authorization_url"]
        .as_str()
        .unwrap();
    let callback = app.approve_at_sandbox(authorize, "sandbox-bob").await;
    let response = app.get(callback).send().await;

    // Assert: the fresh grant replaced the unreadable one.
    assert_eq!(response.status(), 200, "the callback");
    let done: Value = response.json().await.unwrap();
    assert_eq!(done["status"], "renewed", "{done}");
    assert_ne!(done["account"]["token_status"], "reauth_required", "{done}");
    vault_serves(&app, &bob).await;
    let now_on = credential_of(&app, &bob).await.unwrap();
    assert_ne!(now_on, unreadable);
    assert!(!credential_exists(&app, &unreadable).await, "deleted");
    // What cannot be read cannot be revoked: nothing was sent.
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, revocations);
    assert!(
        captured_logs().contains(&unreadable),
        "the skipped revocation is logged"
    );
    vault_serves(&app, &alice).await;
}

async fn a_person_with_an_undecryptable_grant_connects_in_another_brand_and_organization(
    app: TestApp,
) {
    // Arrange: bob is also connected in another organization; then his
    // credential here becomes undecryptable.
    let other_org = app.create_org("Elsewhere", "advanced").await;
    let other_token = app.token(&other_org, ALL_SCOPES);
    let other_brand = brand_in(&app, &other_token, "Elsewhere's").await;
    let (status, _) = connect(&app, &other_token, &other_brand, "sandbox-bob").await;
    assert_eq!(status, 200);
    let (_, _, bob) = bob_undecryptable(&app, "Restored").await;
    let unreadable = credential_of(&app, &bob).await.unwrap();

    // Act 1: bob reconnects in the other organization (its old grant is
    // replaced, and judged against every stored grant of bob's).
    let (status, body) = connect(&app, &other_token, &other_brand, "sandbox-bob").await;

    // Assert 1
    assert_eq!(status, 200, "reconnect in another organization: {body}");

    // Act 2: bob connects in a second brand of this organization.
    let second = brand_in(&app, &app.admin_token(), "Second").await;
    let (status, body) = connect(&app, &app.admin_token(), &second, "sandbox-bob").await;

    // Assert 2: connected, and on the Advanced plan the fresh grant also
    // reached the first brand's account, whose unreadable grant is gone.
    assert_eq!(status, 200, "connect in another brand: {body}");
    assert_eq!(body["status"], "connected", "{body}");
    vault_serves(&app, &bob).await;
    assert_ne!(credential_of(&app, &bob).await.unwrap(), unreadable);
    assert!(!credential_exists(&app, &unreadable).await);
}

async fn an_undecryptable_grant_is_disconnected_without_a_revocation(app: TestApp) {
    // Arrange
    let (brand, alice, bob) = bob_undecryptable(&app, "Restored").await;
    let unreadable = credential_of(&app, &bob).await.unwrap();
    let revocations = app.sandbox().calls().revoke;
    let path = format!("/v1/brands/{brand}/accounts/{bob}");

    // Act
    let response = app.delete(&path).bearer(app.admin_token()).send().await;

    // Assert: gone, nothing sent to the network, and the trail says why.
    assert_eq!(response.status(), 204);
    assert_problem(
        app.get(&path).bearer(app.admin_token()).send().await,
        404,
        "not-found",
    )
    .await;
    assert!(!credential_exists(&app, &unreadable).await);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, revocations);
    let events: Value = app
        .get(format!("{path}/events"))
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    let disconnected = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account.disconnected")
        .unwrap_or_else(|| panic!("no disconnect event in {events}"));
    assert_eq!(disconnected["detail"]["credential_deleted"], true);
    assert_eq!(
        disconnected["detail"]["revocation_skipped"], "undecryptable",
        "{disconnected}"
    );
    vault_serves(&app, &alice).await;
}

async fn key_rotation_goes_past_what_it_cannot_open_and_names_it(app: TestApp) {
    // Arrange: bob's access token is not his row's; everything else opens.
    let (_, alice, bob) = bob_undecryptable(&app, "Restored").await;
    let unreadable = credential_of(&app, &bob).await.unwrap();
    let old = app.settings.encryption_keys.clone().unwrap();
    let next = format!("k-next:{}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    });
    let dir = tempfile::tempdir().unwrap();

    // Act: the operator's command, on this instance's database.
    let output = crate::cli::tokenwarden(dir.path())
        .args(["--data-dir", ".", "keys", "rotate"])
        .env(
            "DATABASE_URL",
            app.settings.database_url.as_ref().unwrap().expose_secret(),
        )
        .env(
            "TOKENWARDEN_ENCRYPTION_KEYS",
            format!("{next},{}", old.expose_secret()),
        )
        .output()
        .unwrap();

    // Assert: it fails, naming the one secret it could not open, and the
    // rest is under the new key (readable by it alone).
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{said}");
    assert!(said.contains(&unreadable), "{said}");
    assert!(said.contains("1 remain under other keys"), "{said}");
    let only_next = KeyRing::parse(&SecretString::from(next)).unwrap();
    let (pool, org) = (app.pool().clone(), app.org_id.clone());
    let alice_credential = credential_of(&app, &alice).await.unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        assert_eq!(
            tokenwarden::db::rotation::count_not_under(&mut conn, "k-next").unwrap(),
            1
        );
        let row = tokenwarden::db::credentials::find_credential(
            &mut conn,
            &crate::helpers::org_id(&org),
            crate::helpers::id(&alice_credential),
        )
        .unwrap()
        .unwrap();
        tokenwarden::db::credentials::open_tokens(&only_next, &row).unwrap();
    })
    .await
    .unwrap();
}

on_both_backends!(
    the_owner_reauthorizes_over_an_undecryptable_grant,
    a_person_with_an_undecryptable_grant_connects_in_another_brand_and_organization,
    an_undecryptable_grant_is_disconnected_without_a_revocation,
    key_rotation_goes_past_what_it_cannot_open_and_names_it,
);
