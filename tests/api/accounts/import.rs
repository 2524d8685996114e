//! Importing a token: verified with the network first, and never leaked to
//! an answer, an audit row, a log line or the database file.

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use crate::helpers::{Backend, TestApp, assert_problem, captured_logs};
use crate::providers::Fake;

fn generic_network(fake: &url::Url) -> NetworkSettings {
    let mut n = NetworkSettings::new(NetworkKind::OAuth2);
    let j = |p: &str| Some(fake.join(p).unwrap().to_string());
    n.authorize_url = j("/authorize");
    n.token_url = j("/token");
    n.revoke_url = j("/revoke");
    n.identity_url = j("/me");
    n.identity_subject = Some("/id".into());
    n.identity_handle = Some("/username".into());
    n.client_id = Some("tw".into());
    n.client_secret = Some(secrecy::SecretString::from(
        "fake-client-secret".to_string(),
    ));
    n
}

const SENTINEL: &str = "SENTINEL-TOKEN-b8e1d1c2a7f34e5f";
const SENTINEL_REFRESH: &str = "SENTINEL-REFRESH-93ac55e0ff1d4b27";

async fn import_verifies_with_the_network_and_never_leaks_tokens(backend: Backend) {
    let fake = Fake::default();
    let base = fake.start();
    let app = TestApp::spawn_with(backend, |s| {
        s.networks.insert("acme".into(), generic_network(&base));
    })
    .await;
    let brand = app.new_brand("Imported").await;
    let token = app.admin_token();
    let import = |body: Value| {
        app.post(format!("/v1/brands/{brand}/accounts"))
            .bearer(&token)
            .json(&body)
            .send()
    };
    let mut bodies = String::new();

    // Rejected by the network: 422, nothing stored.
    fake.on("/me", 401, json!({ "error": "invalid_token" }));
    let response = import(json!({ "network": "acme", "access_token": SENTINEL })).await;
    let body = assert_problem(response, 422, "grant-rejected").await;
    bodies.push_str(&body.to_string());
    assert_eq!(app.counts().await, (0, 0, 0));

    // Transient failure: 502 with Retry-After, nothing stored.
    fake.on("/me", 500, json!({ "error": "server_error" }));
    let response = import(json!({ "network": "acme", "access_token": SENTINEL })).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 502, "network-error").await;
    bodies.push_str(&body.to_string());
    assert_eq!(app.counts().await, (0, 0, 0));

    // Accepted: the identity the network reports is stored.
    fake.on(
        "/me",
        200,
        json!({ "id": "acme-42", "username": "northwind" }),
    );
    let response = import(json!({
        "network": "acme",
        "access_token": SENTINEL,
        "refresh_token": SENTINEL_REFRESH,
        "expires_in": 86400,
        "scopes": ["publish"]
    }))
    .await;
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    bodies.push_str(&text);
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["status"], "imported");
    assert_eq!(created["account"]["profile"]["external_id"], "acme-42");
    assert_eq!(created["account"]["profile"]["handle"], "northwind");
    assert_eq!(created["account"]["scopes"], json!(["publish"]));
    assert_eq!(
        fake.seen_on("/me").last().unwrap().authorization.as_deref(),
        Some(&*format!("Bearer {SENTINEL}"))
    );
    let account = created["account"]["id"].as_str().unwrap();

    // Read everything a client can read.
    for path in [
        format!("/v1/brands/{brand}/accounts"),
        format!("/v1/brands/{brand}/accounts/{account}"),
        format!("/v1/brands/{brand}/accounts/{account}/events"),
        "/v1/profiles".to_string(),
    ] {
        let response = app.get(&path).bearer(&token).send().await;
        assert_eq!(response.status(), 200, "{path}");
        bodies.push_str(&response.text().await.unwrap());
    }
    // Import without the scope is refused.
    let response = app
        .post(format!("/v1/brands/{brand}/accounts"))
        .bearer(app.token(&app.org_id, "accounts:read accounts:write"))
        .json(&json!({ "network": "acme", "access_token": SENTINEL }))
        .send()
        .await;
    bodies.push_str(
        &assert_problem(response, 403, "insufficient-scope")
            .await
            .to_string(),
    );
    // Disconnect revokes at the network with the refresh token.
    fake.on("/revoke", 200, json!({}));
    let response = app
        .delete(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(response.status(), 204);
    app.revocations_settled().await;
    let revokes = fake.seen_on("/revoke");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].form["token"], SENTINEL_REFRESH);

    // Search everything for the sentinels: answers, audit rows, logs, the database.
    let org = crate::helpers::org_id(&app.org_id);
    let audit = tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(conn, &org, None, None, 1000)
    })
    .await
    .unwrap();
    let audit_text = format!("{audit:?}");
    let logs = captured_logs();
    assert!(logs.contains("acme"), "logs were captured");
    for secret in [SENTINEL, SENTINEL_REFRESH, "SENTINEL-"] {
        assert!(!bodies.contains(secret), "a response body leaked {secret}");
        assert!(!audit_text.contains(secret), "an audit row leaked {secret}");
        assert!(!logs.contains(secret), "a log line leaked {secret}");
    }
    if let Some(file) = app.sqlite_file() {
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
        assert!(!bytes.windows(9).any(|w| w == b"SENTINEL-"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_leaks_sqlite() {
    import_verifies_with_the_network_and_never_leaks_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_and_leaks_postgres() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    import_verifies_with_the_network_and_never_leaks_tokens(Backend::Postgres).await;
}
