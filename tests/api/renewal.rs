//! Expired tokens and renewal: a silent refresh when the grant allows it, else an authorization
//! URL; a fresh grant propagated to the profile's other brands on the Advanced plan; one refresh
//! at a time per credential; nothing lost when a write fails; network failures classified.

use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokenwarden::db::schema::{accounts, credentials};
use tokenwarden::sandbox::{Endpoint, FailureMode};
use tokenwarden::services::refresh::JUST_RENEWED;

use crate::helpers::{ALL_SCOPES, Backend, HS256_SECRET, TestApp, assert_problem};
use crate::on_both_backends;

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
fn expire_all(app: &TestApp) {
    app.advance(chrono::Duration::minutes(70));
}

async fn set_plan(app: &TestApp, org: &str, plan: &str) {
    let response = app
        .client
        .patch(app.url(&format!("/v1/organizations/{org}")))
        .bearer_auth(app.platform_token())
        .json(&json!({ "plan": plan }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn brand_in(app: &TestApp, token: &str, name: &str) -> String {
    let response = app.create_brand(token, name).await;
    assert_eq!(response.status(), 201, "brand {name}");
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Connects `subject` in `brand` of the organization `token` belongs to.
async fn connect_in(app: &TestApp, token: &str, brand: &str, subject: &str) -> String {
    let auth = app.start_connect(token, brand, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&auth, subject).await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn renew(app: &TestApp, token: &str, brand: &str, account: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn propagation_matrix(app: TestApp) {
    for plan in ["free", "starter", "advanced", "enterprise"] {
        // Arrange: three brands with the same profile, each on its own grant
        // (connected while on Starter, which does not propagate), C disabled;
        // and another organization with the same profile.
        let org = app.create_org(&format!("Matrix {plan}"), "starter").await;
        let token = app.token(&org, ALL_SCOPES);
        let (a_brand, b_brand, c_brand) = (
            brand_in(&app, &token, "A").await,
            brand_in(&app, &token, "B").await,
            brand_in(&app, &token, "C").await,
        );
        let a = connect_in(&app, &token, &a_brand, "sandbox-alice").await;
        let b = connect_in(&app, &token, &b_brand, "sandbox-alice").await;
        let c = connect_in(&app, &token, &c_brand, "sandbox-alice").await;
        let response = app
            .client
            .patch(app.url(&format!("/v1/brands/{c_brand}/accounts/{c}")))
            .bearer_auth(&token)
            .json(&json!({ "enabled": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let outsider_org = app
            .create_org(&format!("Outsider {plan}"), "advanced")
            .await;
        let outsider_token = app.token(&outsider_org, ALL_SCOPES);
        let outsider_brand = brand_in(&app, &outsider_token, "Elsewhere").await;
        let outsider = connect_in(&app, &outsider_token, &outsider_brand, "sandbox-alice").await;
        set_plan(&app, &org, plan).await;
        expire_all(&app);
        let before_a = stored(&app, &a).await;
        let before_b = stored(&app, &b).await;
        let before_c = stored(&app, &c).await;
        let before_outsider = stored(&app, &outsider).await;
        assert!(
            before_a.0 != before_b.0 && before_b.0 != before_c.0,
            "{plan}: separate grants"
        );

        // Act.
        let response = renew(&app, &token, &a_brand, &a).await;
        assert_eq!(response.status(), 200, "{plan}");
        let body: Value = response.json().await.unwrap();

        // Assert: the answer.
        assert_eq!(body["outcome"], "renewed", "{plan}");
        assert_eq!(
            body["account"]["token_status"], "expiring",
            "{plan}: 1-hour sandbox token"
        );
        let cross = matches!(plan, "advanced" | "enterprise");
        let renewed: Vec<&str> = body["propagation"]["renewed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["brand_id"].as_str().unwrap())
            .collect();
        let left: Vec<(String, String)> = body["propagation"]["left"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["brand_id"].as_str().unwrap().to_string(),
                    l["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if cross {
            assert_eq!(renewed, [b_brand.as_str()], "{plan}");
            assert_eq!(left, [(c_brand.clone(), "disabled".to_string())], "{plan}");
        } else {
            assert!(renewed.is_empty(), "{plan}");
            assert_eq!(
                left,
                [
                    (b_brand.clone(), "plan".to_string()),
                    (c_brand.clone(), "disabled".to_string())
                ],
                "{plan}"
            );
            assert_eq!(
                body["propagation"]["left"][0]["token_status"], "expired",
                "{plan}"
            );
        }

        // Assert: the stored state.
        let after_a = stored(&app, &a).await;
        let after_b = stored(&app, &b).await;
        let after_c = stored(&app, &c).await;
        assert_eq!(after_a.0, before_a.0, "{plan}: refreshed in place");
        assert!(after_a.1 > before_a.1, "{plan}: new expiry");
        if cross {
            assert_eq!(
                after_b.0, after_a.0,
                "{plan}: B switched to the fresh grant"
            );
        } else {
            assert_eq!(after_b, before_b, "{plan}: B untouched");
        }
        assert_eq!(after_c, before_c, "{plan}: disabled C never changes");
        assert_eq!(
            stored(&app, &outsider).await,
            before_outsider,
            "{plan}: other organization untouched"
        );
    }
}

async fn concurrent_renews_refresh_once(app: TestApp) {
    let brand = app.new_brand("Busy").await;
    let other = app.new_brand("Busy too").await;
    let token = app.admin_token();
    let a = connect_in(&app, &token, &brand, "sandbox-alice").await;
    // On Advanced the second connect shares one grant between both accounts.
    let b = connect_in(&app, &token, &other, "sandbox-alice").await;
    assert_eq!(stored(&app, &a).await.0, stored(&app, &b).await.0);
    expire_all(&app);
    app.sandbox().reset_calls();

    let mut calls = Vec::new();
    for i in 0..50 {
        let (brand, account) = if i % 2 == 0 {
            (&brand, &a)
        } else {
            (&other, &b)
        };
        calls.push(renew(&app, &token, brand, account));
    }
    let responses = futures_util::future::join_all(calls).await;
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["outcome"], "renewed");
    }
    // The sandbox kills the grant if a refresh token is spent twice: one
    // refresh, and the grant still alive, prove single flight.
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
    let account: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{a}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["token_status"], "expiring");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_postgres_refresh_once() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    use secrecy::SecretString;
    let app = TestApp::spawn(Backend::Postgres).await;
    let brand = app.new_brand("Shared").await;
    let token = app.admin_token();
    // The second process reads the system's clock, which the test cannot
    // move: the grant expires for both because the network issues it for one
    // second, and the test waits that second out.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(1));
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.sandbox().reset_calls();

    // A second process on the same database, reaching the same sandbox.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys: &SecretString = app.settings.encryption_keys.as_ref().unwrap();
    let sandbox = format!("{}/sandbox", app.address);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwarden"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--no-worker",
        ])
        .current_dir(app.dir.path())
        .env("DATABASE_URL", app.settings.database_url())
        .env("TOKENWARDEN_ENCRYPTION_KEYS", keys.expose_secret())
        .env("TOKENWARDEN_JWT__HS256_SECRET", HS256_SECRET)
        .env("TOKENWARDEN_LOG__LEVEL", "warn")
        .env("TOKENWARDEN_NETWORKS__SANDBOX__KIND", "sandbox")
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__TOKEN_URL",
            format!("{sandbox}/token"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__AUTHORIZE_URL",
            format!("{sandbox}/authorize"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__IDENTITY_URL",
            format!("{sandbox}/userinfo"),
        )
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__REVOKE_URL",
            format!("{sandbox}/revoke"),
        )
        .env("TOKENWARDEN_NETWORKS__SANDBOX__CLIENT_ID", "sandbox-client")
        .env(
            "TOKENWARDEN_NETWORKS__SANDBOX__CLIENT_SECRET",
            "sandbox-secret",
        )
        .spawn()
        .unwrap();
    let second = format!("http://127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = app.client.get(format!("{second}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "second process did not become ready");

    let path = format!("/v1/brands/{brand}/accounts/{account}/renew");
    let mut calls = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        calls.push(
            app.client
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .send(),
        );
    }
    let responses = futures_util::future::join_all(calls).await;
    let _ = child.kill();
    let _ = child.wait();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["outcome"], "renewed");
    }
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn a_dead_grant_needs_reauthorization_without_retries(app: TestApp) {
    let brand = app.new_brand("Revoked").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().revoke_grants("sandbox-alice");
    app.sandbox().reset_calls();

    let response = renew(&app, &token, &brand, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "authorization_required");
    assert_eq!(body["reason"], "invalid_grant");
    assert_eq!(body["account"]["token_status"], "reauth_required");
    assert_eq!(
        body["account"]["blocked"],
        json!(["publishing", "inbox", "analytics"])
    );
    let url = body["authorization"]["authorization_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains("/sandbox/authorize?"));
    assert_eq!(app.sandbox().calls().refresh, 1);

    // Asking again does not call the network: the grant is known to be dead.
    let again: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["outcome"], "authorization_required");
    assert_eq!(app.sandbox().calls().refresh, 1, "no retry");

    // The dropdown lists it.
    let list: Value = app
        .get("/v1/expired-tokens", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["account_id"], account.as_str());
    assert_eq!(list["data"][0]["status"], "reauth_required");
    assert_eq!(list["data"][0]["reason"], "invalid_grant");
    assert_eq!(list["data"][0]["renew"]["method"], "reauthorize");

    // The owner re-authorizes through the URL: renewed in place.
    let callback = app.approve_at_sandbox(&url, "sandbox-alice").await;
    let done: Value = app
        .client
        .get(callback)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "renewed");
    assert_eq!(done["account"]["id"], account.as_str());
    assert_eq!(done["account"]["token_status"], "expiring");
    let list: Value = app
        .get("/v1/expired-tokens", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
}

async fn transient_failures_answer_5xx_and_lose_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.outbound.request_timeout = Duration::from_millis(800);
    })
    .await;
    let brand = app.new_brand("Flaky").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    // Failures the network answers before doing anything.
    let cases = [
        (
            FailureMode::Status { status: 500 },
            502,
            "network-error",
            None,
        ),
        (
            FailureMode::Status { status: 503 },
            503,
            "network-unavailable",
            None,
        ),
        (
            FailureMode::RateLimited {
                retry_after_secs: 7,
            },
            503,
            "network-unavailable",
            Some("7"),
        ),
    ];
    for (mode, status, slug, retry_after) in cases {
        assert_transient(&app, &brand, &account, mode, status, slug, retry_after).await;
        assert_eq!(stored(&app, &account).await, before, "grant untouched");
    }
    // Three failures in a row while valid: refresh_failing, still no false reconnect.
    let now: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{account}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["token_status"], "refresh_failing");
    // Nothing was lost: the stored refresh token still works.
    let response = renew(&app, &token, &brand, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(body["account"]["token_status"], "expiring");
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);

    // Failures after which the network may have done the work (a timeout, an
    // unreadable answer): the caller gets 504/502 and the stored grant stays
    // as it was. (A network that rotated its refresh token meanwhile has
    // spent the stored one; nothing on this side can recover that.)
    let before = stored(&app, &account).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    for (mode, status, slug) in [
        (FailureMode::Slow { delay_ms: 2000 }, 504, "network-timeout"),
        (FailureMode::Malformed, 502, "network-error"),
    ] {
        force_due(&app);
        assert_transient(&app, &brand, &account, mode, status, slug, None).await;
        assert_eq!(stored(&app, &account).await.0, before.0, "same credential");
    }
}

/// Makes the next renew call the network again: time passes beyond the
/// just-renewed window (well within the grant's hour).
fn force_due(app: &TestApp) {
    app.advance(JUST_RENEWED + chrono::Duration::seconds(1));
}

async fn assert_transient(
    app: &TestApp,
    brand: &str,
    account: &str,
    mode: FailureMode,
    status: u16,
    slug: &str,
    retry_after: Option<&str>,
) {
    let token = app.admin_token();
    app.sandbox()
        .queue_failure(Endpoint::Token, mode.clone(), 1);
    let response = renew(app, &token, brand, account).await;
    assert!(response.headers().contains_key("retry-after"), "{mode:?}");
    if let Some(expected) = retry_after {
        assert_eq!(response.headers()["retry-after"], expected, "{mode:?}");
    }
    assert_problem(response, status, slug).await;
    let now: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{account}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(
        now["token_status"], "reauth_required",
        "{mode:?}: never a false reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_sqlite() {
    transient_failures_answer_5xx_and_lose_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_postgres() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    transient_failures_answer_5xx_and_lose_nothing(Backend::Postgres).await;
}

/// Makes every write-back of a refreshed grant fail (or stop failing), with
/// a trigger on `credentials.access_token` that reads a flag.
async fn fail_writebacks(app: &TestApp, on: bool) {
    let pool = app.pool().clone();
    let postgres = app.backend == Backend::Postgres;
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let exists = diesel::sql_query("SELECT n FROM test_faults")
            .execute(&mut conn)
            .is_ok();
        if !exists {
            let statements: &[&str] = if postgres {
                &[
                    "CREATE TABLE test_faults (n INTEGER NOT NULL)",
                    "INSERT INTO test_faults VALUES (0)",
                    "CREATE FUNCTION fail_writeback() RETURNS trigger AS $$ BEGIN \
                     IF (SELECT n FROM test_faults) > 0 THEN \
                     RAISE EXCEPTION 'injected write-back fault'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_writeback BEFORE UPDATE OF access_token ON credentials \
                     FOR EACH ROW EXECUTE FUNCTION fail_writeback()",
                ]
            } else {
                &[
                    "CREATE TABLE test_faults (n INTEGER NOT NULL)",
                    "INSERT INTO test_faults VALUES (0)",
                    "CREATE TRIGGER fail_writeback BEFORE UPDATE OF access_token ON credentials \
                     WHEN (SELECT n FROM test_faults) > 0 \
                     BEGIN SELECT RAISE(ABORT, 'injected write-back fault'); END",
                ]
            };
            for statement in statements {
                diesel::sql_query(*statement).execute(&mut conn).unwrap();
            }
        }
        diesel::sql_query(format!("UPDATE test_faults SET n = {}", i32::from(on)))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
}

async fn a_failed_write_after_a_refresh_is_not_lost(app: TestApp) {
    let brand = app.new_brand("Fragile").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    // Every write-back fails until the test lifts the fault: a trigger on the
    // column only the write-back sets (the lease is taken without it).
    fail_writebacks(&app, true).await;

    let renewing = {
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/v1/brands/{brand}/accounts/{account}/renew", app.address),
            token.clone(),
        );
        tokio::spawn(async move { client.post(url).bearer_auth(token).send().await.unwrap() })
    };
    let retries = &app.parts.state.refresh;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while retries.writeback_retries() == 0 {
        assert!(std::time::Instant::now() < deadline, "no write-back failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fail_writebacks(&app, false).await;
    let response = renewing.await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(app.sandbox().calls().refresh, 1, "one network refresh");
    assert!(retries.writeback_retries() >= 1);
    let after = stored(&app, &account).await;
    assert!(after.1 > before.1, "the new expiry was stored");

    // The stored grant is the rotated one: refreshing with it works at the network.
    let pool = app.pool().clone();
    let keys = app.parts.state.keys.clone();
    let credential = after.0.clone();
    let org = app.org_id.clone();
    let (access, refresh) = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let row = tokenwarden::db::credentials::find_credential(&mut conn, &org, &credential)
            .unwrap()
            .unwrap();
        tokenwarden::db::credentials::open_tokens(&keys, &row).unwrap()
    })
    .await
    .unwrap();
    let provider = app.parts.state.providers.get("sandbox").unwrap();
    assert_eq!(
        provider.identity(&access).await.unwrap().subject,
        "sandbox-alice"
    );
    provider
        .refresh(&access, refresh.as_ref(), app.now())
        .await
        .expect("the stored refresh token is the live one");
}

async fn reauthorizing_another_identity_is_409_and_changes_nothing(app: TestApp) {
    let brand = app.new_brand("Guarded").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().revoke_grants("sandbox-alice");
    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    let url = body["authorization"]["authorization_url"]
        .as_str()
        .unwrap()
        .to_string();
    let before = stored(&app, &account).await;
    let counts = app.counts().await;

    let callback = app.approve_at_sandbox(&url, "sandbox-bob").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_problem(response, 409, "identity-mismatch").await;

    assert_eq!(stored(&app, &account).await, before);
    assert_eq!(
        app.counts().await,
        counts,
        "no profile, account or credential for bob"
    );
    let now: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{account}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["token_status"], "reauth_required");
    assert_eq!(now["profile"]["external_id"], "sandbox-alice");
}

async fn idempotent_replay_does_not_call_the_network_twice(app: TestApp) {
    let brand = app.new_brand("Once").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    let path = app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew"));
    let send = |key: &'static str, body: Option<Value>| {
        let mut request = app
            .client
            .post(&path)
            .bearer_auth(&token)
            .header("Idempotency-Key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let first = send("renew-1", None).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();
    let replay = send("renew-1", None).await.unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(app.sandbox().calls().refresh, 1);

    // The same key with another body is refused.
    let other = send(
        "renew-1",
        Some(json!({ "return_url": "https://app.example.test/after-oauth/x" })),
    )
    .await
    .unwrap();
    assert_problem(other, 422, "idempotency-key-reused").await;
    // Keys are per organization.
    let bad = app
        .client
        .post(&path)
        .bearer_auth(&token)
        .header("Idempotency-Key", "")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 422, "validation-failed").await;
}

async fn the_dropdown_lists_filters_pages_and_counts(app: TestApp) {
    let token = app.admin_token();
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    // Separate grants: set the plan to Starter while connecting. Ten minutes
    // apart, so that they expire at different moments: b first, then a, then c.
    set_plan(&app, &app.org_id, "starter").await;
    let b = connect_in(&app, &token, &first, "sandbox-bob").await;
    app.advance(chrono::Duration::minutes(10));
    let a = connect_in(&app, &token, &first, "sandbox-alice").await;
    app.advance(chrono::Duration::minutes(10));
    let c = connect_in(&app, &token, &second, "sandbox-alice").await;
    set_plan(&app, &app.org_id, "advanced").await;

    // Nothing needs renewal yet; all three are expiring (1-hour tokens, 7-day window).
    let empty: Value = app
        .get("/v1/expired-tokens", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["data"], json!([]));
    let expiring: Value = app
        .get("/v1/expired-tokens?include=expiring", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expiring["data"].as_array().unwrap().len(), 3);

    // An hour and ten minutes on, all have expired: c 10 minutes ago, a 20, b 30.
    app.advance(chrono::Duration::minutes(70));
    let page: Value = app
        .get("/v1/expired-tokens?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [c.as_str(), a.as_str()]);
    assert_eq!(page["data"][0]["brand"]["name"], "Second");
    assert_eq!(page["data"][0]["status"], "expired");
    assert_eq!(
        page["data"][0]["blocked"],
        json!(["publishing", "inbox", "analytics"])
    );
    assert_eq!(page["data"][0]["renew"]["method"], "refresh");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/v1/expired-tokens?limit=2&cursor={cursor}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let filtered: Value = app
        .get(&format!("/v1/expired-tokens?brand_id={first}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["data"].as_array().unwrap().len(), 2);
    let none: Value = app
        .get("/v1/expired-tokens?network=x", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["data"], json!([]));
    assert_problem(
        app.get("/v1/expired-tokens?cursor=nope", &token).await,
        422,
        "validation-failed",
    )
    .await;

    let summary: Value = app
        .get("/v1/expired-tokens/summary", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["total"], 3);
    assert_eq!(summary["by_brand"][0]["brand_name"], "First");
    assert_eq!(summary["by_brand"][0]["count"], 2);
    assert_eq!(
        summary["by_network"],
        json!([{ "network": "sandbox", "count": 3 }])
    );

    // Another organization sees none of it.
    let other = app.create_org("Other", "advanced").await;
    let theirs: Value = app
        .get("/v1/expired-tokens/summary", &app.token(&other, ALL_SCOPES))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["total"], 0);
    // Renewing needs tokens:renew.
    let response = renew(
        &app,
        &app.token(&app.org_id, "accounts:read accounts:write"),
        &first,
        &a,
    )
    .await;
    assert_problem(response, 403, "insufficient-scope").await;
    // Another organization's account is 404.
    let response = renew(&app, &app.token(&other, ALL_SCOPES), &first, &a).await;
    assert_problem(response, 404, "not-found").await;
}

async fn bulk_renewal_groups_reauthorizations_by_network(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Bulk").await;
    set_plan(&app, &app.org_id, "starter").await;
    let alive = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let dead = connect_in(&app, &token, &brand, "sandbox-bob").await;
    app.sandbox().revoke_grants("sandbox-bob");
    let missing = uuid::Uuid::new_v4().to_string();
    let response = app
        .client
        .post(app.url("/v1/expired-tokens/renew"))
        .bearer_auth(&token)
        .json(&json!({ "account_ids": [alive, dead, missing, alive] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "duplicates renewed once");
    assert_eq!(results[0]["outcome"], "renewed");
    assert_eq!(results[1]["outcome"], "authorization_required");
    assert_eq!(results[2]["error"]["status"], 404);
    assert_eq!(body["renewed"], 1);
    assert_eq!(body["authorizations"][0]["network"], "sandbox");
    assert_eq!(
        body["authorizations"][0]["accounts"][0]["account_id"],
        dead.as_str()
    );

    let too_many: Vec<String> = (0..51).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let response = app
        .client
        .post(app.url("/v1/expired-tokens/renew"))
        .bearer_auth(&token)
        .json(&json!({ "account_ids": too_many }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/account_ids");
}

async fn reconnect_links_are_single_use(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Client brand").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().revoke_grants("sandbox-alice");
    let create = |body: Value| {
        app.client
            .post(app.url(&format!(
                "/v1/brands/{brand}/accounts/{account}/reconnect-link"
            )))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let response = create(json!({ "expires_in": 3600 })).await.unwrap();
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/v1/reconnect/", app.address)));

    // The owner opens it without a login: on to the network.
    let opened = app.client.get(&url).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let authorize = opened.headers()["location"].to_str().unwrap().to_string();
    assert!(query_of(&authorize).contains_key("code_challenge"));
    let callback = app.approve_at_sandbox(&authorize, "sandbox-alice").await;
    let done: Value = app
        .client
        .get(callback)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "renewed");
    assert_eq!(done["account"]["id"], account.as_str());

    // Used: 410.
    assert_problem(app.client.get(&url).send().await.unwrap(), 410, "link-gone").await;
    // Unknown: 404.
    assert_problem(
        app.client
            .get(app.url("/v1/reconnect/not-a-link"))
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    // Expired: 410, a minute after the link's lifetime.
    let link: Value = create(json!({})).await.unwrap().json().await.unwrap();
    let lifetime = i64::try_from(app.settings.reconnect_link_ttl_secs).unwrap();
    app.advance(chrono::Duration::seconds(lifetime) + chrono::Duration::minutes(1));
    let response = app
        .client
        .get(link["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(response, 410, "link-gone").await;
    // Bounds.
    assert_problem(
        create(json!({ "expires_in": 10 })).await.unwrap(),
        422,
        "validation-failed",
    )
    .await;
}

async fn a_caller_that_goes_away_does_not_lose_the_refresh(app: TestApp) {
    let brand = app.new_brand("Impatient").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    // The network takes 1.5 s; the client gives up after 0.3 s.
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gone = impatient
        .post(app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew")))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(gone.is_err(), "the client timed out");
    // The refresh finishes and is stored anyway.
    let mut after = before.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = stored(&app, &account).await;
        if after.1 > before.1 {
            break;
        }
    }
    assert!(after.1 > before.1, "the rotated grant was stored");
    assert_eq!(app.sandbox().calls().refresh, 1);
    // The stored refresh token is the live one: a later refresh works.
    force_due(&app);
    let body: Value = renew(&app, &token, &brand, &account)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}

async fn a_cancelled_refresh_still_stores_its_grant(app: TestApp) {
    let brand = app.new_brand("Cancelled").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    let before = stored(&app, &account).await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1000 }, 1);
    let state = app.parts.state.get_ref().clone();
    let request = tokenwarden::services::refresh::RefreshRequest {
        organization_id: app.org_id.clone(),
        credential_id: before.0.clone(),
        actor: "test".into(),
        snapshot: false,
    };
    // The only caller stops waiting while the network is still answering.
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        tokenwarden::services::refresh::refresh(&state, request),
    )
    .await;
    assert!(waited.is_err(), "cancelled before the network answered");
    let mut after = before.clone();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = stored(&app, &account).await;
        if after.1 > before.1 {
            break;
        }
    }
    assert!(
        after.1 > before.1,
        "the refresh ran to its write-back without a caller"
    );
    assert_eq!(app.sandbox().calls().refresh, 1);
}

on_both_backends!(
    a_cancelled_refresh_still_stores_its_grant,
    a_caller_that_goes_away_does_not_lose_the_refresh,
    propagation_matrix,
    concurrent_renews_refresh_once,
    a_dead_grant_needs_reauthorization_without_retries,
    a_failed_write_after_a_refresh_is_not_lost,
    reauthorizing_another_identity_is_409_and_changes_nothing,
    idempotent_replay_does_not_call_the_network_twice,
    the_dropdown_lists_filters_pages_and_counts,
    bulk_renewal_groups_reauthorizations_by_network,
    reconnect_links_are_single_use,
);

/// The pool runs dry while the network answers a refresh: the refresh's
/// write-back cannot get a connection. The caller waiting on the shared
/// refresh gets the pool's own answer — 503 with `Retry-After` — not a 500.
async fn a_pool_timeout_inside_a_refresh_answers_503(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.database.pool_size = 2;
        s.database.connect_timeout_secs = 1;
    })
    .await;
    let brand = app.new_brand("Crowded").await;
    let token = app.admin_token();
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);

    let renewing = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/v1/brands/{brand}/accounts/{account}/renew")),
            token.clone(),
        );
        tokio::spawn(async move { client.post(url).bearer_auth(token).send().await.unwrap() })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.sandbox().calls().refresh == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh reached the network"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While the network answers, hold every connection of the pool.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let pool = app.pool().clone();
    let holder = tokio::task::spawn_blocking(move || {
        let held = (pool.get().unwrap(), pool.get().unwrap());
        released.recv().ok();
        drop(held);
    });
    let response = renewing.await.unwrap();
    release.send(()).unwrap();
    holder.await.unwrap();

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(problem["status"], 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_timeout_inside_a_refresh_answers_503_sqlite() {
    a_pool_timeout_inside_a_refresh_answers_503(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_timeout_inside_a_refresh_answers_503_postgres() {
    if !crate::helpers::postgres_enabled() {
        return;
    }
    a_pool_timeout_inside_a_refresh_answers_503(Backend::Postgres).await;
}
