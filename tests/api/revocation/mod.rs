//! Grant safety: no revocation hits a live grant, one grant lives in one credential, and
//! concurrent changes of one profile serialize on it. Against real HTTP networks: the built-in
//! sandbox (rotating refresh tokens, RFC 7009 revocation that ends the grant of a refresh token)
//! and a local stub of Meta's Graph API (`DELETE /me/permissions` de-authorizes the app for the
//! person, ending every token of theirs).

mod facebook;
mod fingerprints;
mod lost_refresh;

use std::collections::{BTreeMap, BTreeSet};

use diesel::{QueryDsl, RunQueryDsl};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokenwarden::db::schema::{accounts, credentials};
use tokenwarden::providers::{new_pkce_verifier, pkce_challenge_s256};
use tokenwarden::sandbox::{Endpoint, FailureMode};

use crate::helpers::{ALL_SCOPES, TestApp};
use crate::on_both_backends;

// ------------------------------------------------------------------ harness

/// A token pair the sandbox issued to `subject`, as a client that ran its own authorization
/// holds it (what an import carries).
pub(crate) async fn sandbox_grant(app: &TestApp, subject: &str) -> (String, String) {
    let verifier = new_pkce_verifier();
    let redirect = format!("{}/v1/oauth/callback/sandbox", app.address);
    let mut authorize = url::Url::parse(&app.url("/sandbox/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", tokenwarden::sandbox::CLIENT_ID)
        .append_pair("redirect_uri", &redirect)
        .append_pair("scope", "profile publish")
        .append_pair("state", "client-state")
        .append_pair("code_challenge", &pkce_challenge_s256(&verifier))
        .append_pair("code_challenge_method", "S256")
        .append_pair("auto_approve", subject);
    let response = app.get(authorize).send().await;
    assert_eq!(response.status(), 303, "sandbox approval");
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let response = app
        .post("/sandbox/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
            ("client_id", tokenwarden::sandbox::CLIENT_ID),
            ("client_secret", tokenwarden::sandbox::CLIENT_SECRET),
        ])
        .send()
        .await;
    assert_eq!(response.status(), 200, "sandbox code exchange");
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn import(app: &TestApp, token: &str, brand: &str, pair: &(String, String)) -> Value {
    let response = app
        .post(format!("/v1/brands/{brand}/accounts"))
        .bearer(token)
        .json(&json!({
            "network": "sandbox",
            "access_token": pair.0,
            "refresh_token": pair.1,
            "expires_in": 3600
        }))
        .send()
        .await;
    assert_eq!(response.status(), 201, "import");
    response.json().await.unwrap()
}

async fn brand_in(app: &TestApp, token: &str, name: &str) -> String {
    let response = app.create_brand(token, name).await;
    assert_eq!(response.status(), 201, "brand {name}");
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn id(body: &Value) -> String {
    body["account"]["id"].as_str().unwrap().to_string()
}

/// The outcome a renewal answered (`renewed`, `authorization_required`, …).
async fn renew(app: &TestApp, token: &str, brand: &str, account: &str) -> String {
    let response = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(token)
        .send()
        .await;
    assert_eq!(response.status(), 200, "renew");
    let body: Value = response.json().await.unwrap();
    body["outcome"].as_str().unwrap().to_string()
}

async fn disconnect(app: &TestApp, token: &str, brand: &str, account: &str) -> u16 {
    app.delete(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(token)
        .send()
        .await
        .status()
        .as_u16()
}

/// Lets more than `JUST_RENEWED` pass, so the next renewal calls the network again.
fn later(app: &TestApp) {
    app.advance(chrono::Duration::seconds(45));
}

/// Every account with its credential, and every credential, of the whole deployment.
async fn stored_grants(app: &TestApp) -> (BTreeMap<String, Option<String>>, BTreeSet<String>) {
    tokenwarden::db::run(app.pool(), |conn| {
        let accounts: Vec<(String, Option<String>)> = accounts::table
            .select((accounts::id, accounts::credential_id))
            .load(conn)?;
        let credentials: Vec<String> = credentials::table.select(credentials::id).load(conn)?;
        Ok((
            accounts.into_iter().collect(),
            credentials.into_iter().collect(),
        ))
    })
    .await
    .unwrap()
}

/// No credential without an account, no account without a credential.
async fn assert_every_grant_is_held(app: &TestApp) -> usize {
    let (accounts, credentials) = stored_grants(app).await;
    let used: BTreeSet<String> = accounts.values().flatten().cloned().collect();
    assert!(
        accounts.values().all(Option::is_some),
        "an account lost its credential: {accounts:?}"
    );
    assert_eq!(used, credentials, "a credential is used by no account");
    credentials.len()
}

// ------------------------------------------------------------------ the sandbox

on_both_backends!(
    disconnecting_keeps_grants_stored_elsewhere_alive,
    importing_a_stored_grant_twice_shares_one_credential,
    a_fresh_copy_of_a_grant_marked_dead_revives_it,
    two_brands_on_starter_never_spend_one_rotating_token_twice,
    concurrent_first_connects_of_one_profile_all_succeed,
    a_disconnect_racing_a_propagation_leaves_no_orphan_credential,
);

async fn disconnecting_keeps_grants_stored_elsewhere_alive(app: TestApp) {
    // Arrange: one grant imported into two organizations (each keeps its own copy).
    let token = app.admin_token();
    let other_org = app.create_org("Other Agency", "starter").await;
    let other = app.token(&other_org, ALL_SCOPES);
    let pair = sandbox_grant(&app, "sandbox-alice").await;
    let north = app.new_brand("North").await;
    let elsewhere = brand_in(&app, &other, "Elsewhere").await;
    let mine = id(&import(&app, &token, &north, &pair).await);
    let theirs = id(&import(&app, &other, &elsewhere, &pair).await);

    // Act
    assert_eq!(disconnect(&app, &token, &north, &mine).await, 204);

    // Assert: the token another credential holds was not revoked; that grant renews.
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 0);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
    assert_eq!(renew(&app, &other, &elsewhere, &theirs).await, "renewed");
    assert_every_grant_is_held(&app).await;
}

async fn importing_a_stored_grant_twice_shares_one_credential(app: TestApp) {
    // Arrange
    let token = app.admin_token();
    let pair = sandbox_grant(&app, "sandbox-alice").await;
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);

    // Act: the same grant into two brands, and into the first one again.
    let first = import(&app, &token, &north, &pair).await;
    let second = import(&app, &token, &harbor, &pair).await;
    let again = import(&app, &token, &north, &pair).await;

    // Assert: one credential, nothing revoked, and the grant still renews.
    assert_eq!(id(&again), id(&first));
    assert_eq!(app.counts().await, (1, 2, 1));
    let (accounts, _) = stored_grants(&app).await;
    assert_eq!(accounts[&id(&first)], accounts[&id(&second)]);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 0);
    assert_eq!(renew(&app, &token, &harbor, &id(&second)).await, "renewed");
    later(&app);
    assert_eq!(renew(&app, &token, &north, &id(&first)).await, "renewed");
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn a_fresh_copy_of_a_grant_marked_dead_revives_it(app: TestApp) {
    // Arrange: a stored grant marked dead by a refusal the network did not mean
    // (the grant itself is untouched at the sandbox).
    let token = app.admin_token();
    let pair = sandbox_grant(&app, "sandbox-alice").await;
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let first = id(&import(&app, &token, &north, &pair).await);
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);
    assert_eq!(
        renew(&app, &token, &north, &first).await,
        "authorization_required"
    );

    // Act: the same grant, which the network accepts, imported into another brand.
    let second = import(&app, &token, &harbor, &pair).await;

    // Assert: the stored copy took it and is alive again, in both brands.
    assert_eq!(app.counts().await, (1, 2, 1));
    // Valid again (an hour's token is within the warning window).
    assert_eq!(second["account"]["token_status"], "expiring");
    later(&app);
    assert_eq!(renew(&app, &token, &north, &first).await, "renewed");
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 0);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn two_brands_on_starter_never_spend_one_rotating_token_twice(app: TestApp) {
    // Arrange: a Starter organization with copies of one rotating grant in two brands.
    let org = app.create_org("Pine Street", "starter").await;
    let token = app.token(&org, ALL_SCOPES);
    let pair = sandbox_grant(&app, "sandbox-bob").await;
    let (one, two) = (
        brand_in(&app, &token, "One").await,
        brand_in(&app, &token, "Two").await,
    );
    let a = id(&import(&app, &token, &one, &pair).await);
    let b = id(&import(&app, &token, &two, &pair).await);

    // Act: each brand renews, twice.
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        outcomes.push(renew(&app, &token, &one, &a).await);
        later(&app);
        outcomes.push(renew(&app, &token, &two, &b).await);
        later(&app);
    }

    // Assert: every renewal worked and the grant is alive.
    assert_eq!(outcomes, ["renewed"; 4]);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-bob"), 1);
    assert_eq!(app.counts().await, (1, 2, 1));
}

async fn concurrent_first_connects_of_one_profile_all_succeed(app: TestApp) {
    // Arrange: the identity approved in six brands, the callbacks not yet delivered.
    let token = app.admin_token();
    let mut callbacks = Vec::new();
    for i in 0..6 {
        let brand = app.new_brand(&format!("Brand {i}")).await;
        let auth = app.start_connect(&token, &brand, "sandbox", None).await;
        callbacks.push(app.approve_at_sandbox(&auth, "sandbox-alice").await);
    }

    // Act: every callback at once.
    let client = &app.client;
    let statuses = join_all(
        callbacks
            .iter()
            .map(|url| async move { client.get(url).send().await.status().as_u16() }),
    )
    .await;

    // Assert: all connected; on Advanced they share the last grant, the others are revoked.
    assert_eq!(statuses, [200; 6]);
    assert_eq!(app.counts().await, (1, 6, 1));
    assert_eq!(assert_every_grant_is_held(&app).await, 1);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn a_disconnect_racing_a_propagation_leaves_no_orphan_credential(app: TestApp) {
    let token = app.admin_token();
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    for round in 0..8 {
        // Arrange: the profile shared by two brands; a fresh grant for the first one approved.
        let a = id(&app.connect_sandbox(&north, "sandbox-alice").await);
        let b = id(&app.connect_sandbox(&harbor, "sandbox-alice").await);
        let auth = app.start_connect(&token, &north, "sandbox", None).await;
        let callback = app.approve_at_sandbox(&auth, "sandbox-alice").await;

        // Act: the fresh grant (propagating to Harbor) races disconnects and a renewal.
        let (stored, gone, renewed) = tokio::join!(
            async {
                let r = app.get(&callback).send().await;
                (r.status().as_u16(), r.text().await.unwrap())
            },
            disconnect(&app, &token, &north, &a),
            async {
                let r = app
                    .post(format!("/v1/brands/{harbor}/accounts/{b}/renew"))
                    .bearer(&token)
                    .send()
                    .await;
                (r.status().as_u16(), r.text().await.unwrap())
            },
        );
        let (renewed, renew_body) = renewed;

        // Assert: every stored grant is used and alive, every account has one.
        assert_eq!((stored.0, gone), (200, 204), "round {round}: {}", stored.1);
        assert!(
            matches!(renewed, 200 | 404),
            "round {round}: renew {renewed} {renew_body}"
        );
        let held = assert_every_grant_is_held(&app).await;
        app.revocations_settled().await;
        assert_eq!(
            app.sandbox().live_grants("sandbox-alice"),
            held,
            "round {round}: a stored grant was revoked or a dropped one kept"
        );
        // Start the next round from nothing.
        let (accounts, _) = stored_grants(&app).await;
        for account in accounts.keys() {
            for brand in [&north, &harbor] {
                disconnect(&app, &token, brand, account).await;
            }
        }
        assert_eq!(app.counts().await.1, 0);
        later(&app);
    }
}
