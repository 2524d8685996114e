//! Expired tokens and renewal: a silent refresh when the grant allows it, else an authorization
//! URL; a fresh grant propagated to the profile's other brands on the Advanced plan; one refresh
//! at a time per credential; nothing lost when a write fails; network failures classified.

mod dead_reasons;
mod expired_tokens;
mod failures;
mod fault_matrix;
mod propagation;
mod reauthorization;
mod reconnect_links;
pub(crate) mod refresh_engine;
mod single_flight;
mod statements;
mod undecryptable;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use serde_json::{Value, json};
use tokenwarden::db::schema::{accounts, credentials};
use tokenwarden::services::refresh::JUST_RENEWED;

use crate::helpers::TestApp;

fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// `(credential_id, expires_at)` of an account, as stored.
async fn stored(app: &TestApp, account: &str) -> (String, chrono::NaiveDateTime) {
    let pool = app.pool().clone();
    let account = account.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let credential: Option<String> = accounts::table
            .filter(accounts::id.eq(&account))
            .select(accounts::credential_id)
            .first(&mut conn)
            .unwrap();
        let credential = credential.unwrap();
        let expires: Option<chrono::NaiveDateTime> = credentials::table
            .filter(credentials::id.eq(&credential))
            .select(credentials::expires_at)
            .first(&mut conn)
            .unwrap();
        (credential, expires.unwrap())
    })
    .await
    .unwrap()
}

/// Lets every grant issued so far expire: ten minutes past the hour the
/// sandbox's access tokens live.
pub(crate) fn expire_all(app: &TestApp) {
    app.advance(chrono::Duration::minutes(70));
}

pub(crate) async fn set_plan(app: &TestApp, org: &str, plan: &str) {
    let response = app
        .patch(format!("/v1/organizations/{org}"))
        .bearer(app.platform_token())
        .json(&json!({ "plan": plan }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

pub(crate) async fn brand_in(app: &TestApp, token: &str, name: &str) -> String {
    let response = app.create_brand(token, name).await;
    assert_eq!(response.status(), 201, "brand {name}");
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Connects `subject` in `brand` of the organization `token` belongs to.
pub(crate) async fn connect_in(app: &TestApp, token: &str, brand: &str, subject: &str) -> String {
    let auth = app.start_connect(token, brand, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&auth, subject).await;
    let response = app.get(callback).send().await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) async fn renew(
    app: &TestApp,
    token: &str,
    brand: &str,
    account: &str,
) -> reqwest::Response {
    app.post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(token)
        .send()
        .await
}

/// The answer of a renew, read as JSON.
pub(crate) async fn renew_body(app: &TestApp, token: &str, brand: &str, account: &str) -> Value {
    renew(app, token, brand, account)
        .await
        .json()
        .await
        .unwrap()
}

/// Makes the next renew call the network again: time passes beyond the
/// just-renewed window (well within the grant's hour).
fn force_due(app: &TestApp) {
    app.advance(JUST_RENEWED + chrono::Duration::seconds(1));
}
