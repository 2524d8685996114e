//! Manage Accounts over real OAuth: the sandbox network and local fakes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use crate::helpers::{ALL_SCOPES, Backend, RETURN_URL, TestApp, assert_problem, captured_logs};
use crate::on_both_backends;
use crate::providers::Fake;

fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn audit_actions(app: &TestApp, account: &str) -> Vec<String> {
    let org = app.org_id.clone();
    let account = account.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(conn, &org, Some(&account), None, 100)
    })
    .await
    .unwrap()
    .into_iter()
    .rev()
    .map(|e| e.action)
    .collect()
}

async fn connect_round_trip_then_reconnect_in_place(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    let token = app.admin_token();

    // Connect with a return URL: the callback redirects there with the outcome.
    let auth = app
        .start_connect(
            &token,
            &brand,
            "sandbox",
            Some(&format!("{RETURN_URL}/done")),
        )
        .await;
    let params = query_of(&auth);
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params["state"].len() >= 43, "256-bit state");
    let callback = app.approve_at_sandbox(&auth, "sandbox-alice").await;
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{RETURN_URL}/done?")),
        "{location}"
    );
    let outcome = query_of(&location);
    assert_eq!(outcome["tokenwarden_status"], "connected");
    let account_id = outcome["account_id"].clone();

    // The account as Manage Accounts shows it; the identity is the network's.
    let account: Value = app
        .get(&format!("/v1/brands/{brand}/accounts/{account_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(account["profile"]["network"], "sandbox");
    assert_eq!(account["profile"]["external_id"], "sandbox-alice");
    assert_eq!(account["profile"]["handle"], "alice");
    assert_eq!(account["profile"]["display_name"], "Alice Sandbox");
    assert_eq!(account["enabled"], true);
    assert_eq!(account["renew"]["method"], "refresh");
    assert_eq!(account["blocked"], json!([]));
    assert!(account["expires_at"].is_string());
    assert_eq!(app.counts().await, (1, 1, 1));

    // Reconnecting the same identity updates the same account in place.
    let again = app.connect_sandbox(&brand, "sandbox-alice").await;
    assert_eq!(again["status"], "reconnected");
    assert_eq!(again["account"]["id"], account_id.as_str());
    assert_eq!(
        app.counts().await,
        (1, 1, 1),
        "no duplicate, old credential gone"
    );
    assert_eq!(
        app.sandbox().calls().revoke,
        1,
        "the replaced grant was revoked once"
    );
    assert_eq!(
        audit_actions(&app, &account_id).await,
        vec!["account.connected", "account.reconnected"]
    );

    // The callback cannot be replayed.
    let replay = app.client.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 303);
    let reason = query_of(replay.headers()["location"].to_str().unwrap());
    assert_eq!(reason["tokenwarden_error"], "state_used");
}

async fn same_profile_in_two_brands_is_one_profile_with_two_accounts(app: TestApp) {
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    let a = app.connect_sandbox(&first, "sandbox-bob").await;
    let b = app.connect_sandbox(&second, "sandbox-bob").await;
    assert_eq!(a["status"], "connected");
    assert_eq!(b["status"], "connected");
    assert_eq!(a["account"]["profile"]["id"], b["account"]["profile"]["id"]);
    assert_ne!(a["account"]["id"], b["account"]["id"]);
    // On the Advanced plan the fresh grant reached the first brand too.
    assert_eq!(b["propagation"]["renewed"][0]["brand_id"], first.as_str());
    assert_eq!(app.counts().await, (1, 2, 1));

    let profiles: Value = app
        .get("/v1/profiles", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    let data = profiles["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["enabled_in"], 2);
    let brands: Vec<&str> = data[0]["brands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["brand_name"].as_str().unwrap())
        .collect();
    assert_eq!(brands, ["First", "Second"]);
    let id = data[0]["id"].as_str().unwrap();
    let one: Value = app
        .get(&format!("/v1/profiles/{id}"), &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one, data[0]);
}

async fn failed_callbacks_change_nothing(app: TestApp) {
    let brand = app.new_brand("Careful").await;
    let token = app.admin_token();
    let return_url = format!("{RETURN_URL}/x");

    // Denied consent.
    let auth = app
        .start_connect(&token, &brand, "sandbox", Some(&return_url))
        .await;
    let denied = app
        .client
        .get(format!("{auth}&auto_deny=1"))
        .send()
        .await
        .unwrap();
    let callback = denied.headers()["location"].to_str().unwrap().to_string();
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(
        query_of(response.headers()["location"].to_str().unwrap())["tokenwarden_error"],
        "access_denied"
    );

    // A callback on another network's path.
    let auth = app
        .start_connect(&token, &brand, "sandbox", Some(&return_url))
        .await;
    let callback = app.approve_at_sandbox(&auth, "sandbox-alice").await;
    let wrong = callback.replace("/callback/sandbox", "/callback/facebook");
    let response = app.client.get(&wrong).send().await.unwrap();
    assert_eq!(
        query_of(response.headers()["location"].to_str().unwrap())["tokenwarden_error"],
        "network_mismatch"
    );

    // An expired state: the callback comes 11 minutes after the start.
    let auth = app
        .start_connect(&token, &brand, "sandbox", Some(&return_url))
        .await;
    let callback = app.approve_at_sandbox(&auth, "sandbox-alice").await;
    app.advance(chrono::Duration::minutes(11));
    let response = app.client.get(&callback).send().await.unwrap();
    assert_eq!(
        query_of(response.headers()["location"].to_str().unwrap())["tokenwarden_error"],
        "state_expired"
    );

    // Unknown state and no state: a problem, since there is no return URL to go to.
    // A well-formed state that names no authorization is not found.
    let response = app
        .client
        .get(app.url("/v1/oauth/callback/sandbox?code=x&state=made-up"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not-found").await;
    let response = app
        .client
        .get(app.url("/v1/oauth/callback/sandbox"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid-oauth-state").await;

    // Nothing was stored, and no code was exchanged.
    assert_eq!(app.counts().await, (0, 0, 0));
    assert_eq!(app.sandbox().calls().token, 0);

    // A return URL outside the allow-list is refused up front.
    let response = app
        .client
        .post(app.url(&format!("/v1/brands/{brand}/accounts/connect")))
        .bearer_auth(&token)
        .json(&json!({ "network": "sandbox", "return_url": "https://evil.example/steal" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/return_url");
    let response = app
        .client
        .post(app.url(&format!("/v1/brands/{brand}/accounts/connect")))
        .bearer_auth(&token)
        .json(&json!({ "network": "myspace" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/network");
}

async fn disconnect_revokes_once_and_keeps_the_audit_trail(app: TestApp) {
    let brand = app.new_brand("Leaving").await;
    let token = app.admin_token();
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/brands/{brand}/accounts/{account}");

    // Disable then enable (audited), then disconnect.
    for enabled in [false, true] {
        let response = app
            .client
            .patch(app.url(&path))
            .bearer_auth(&token)
            .json(&json!({ "enabled": enabled }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["enabled"], enabled);
        assert_eq!(
            body["token_status"],
            if enabled { "expiring" } else { "disabled" }
        );
    }
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
    let response = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.sandbox().calls().revoke, 1);
    assert_eq!(
        app.sandbox().live_grants("sandbox-alice"),
        0,
        "the grant is dead at the network"
    );
    assert_problem(app.get(&path, &token).await, 404, "not-found").await;
    assert_eq!(
        app.counts().await,
        (1, 0, 0),
        "secrets deleted, the profile stays"
    );
    let response = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not-found").await;
    assert_eq!(app.sandbox().calls().revoke, 1, "exactly once");

    // The trail is still readable.
    let events: Value = app
        .get(&format!("{path}/events"), &token)
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "account.disconnected",
            "account.enabled",
            "account.disabled",
            "account.connected"
        ]
    );
    assert_eq!(events["data"][0]["actor"], "user-1");
    assert!(events["data"][0]["request_id"].is_string());
}

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
        app.client
            .post(app.url(&format!("/v1/brands/{brand}/accounts")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let mut bodies = String::new();

    // Rejected by the network: 422, nothing stored.
    fake.on("/me", 401, json!({ "error": "invalid_token" }));
    let response = import(json!({ "network": "acme", "access_token": SENTINEL }))
        .await
        .unwrap();
    let body = assert_problem(response, 422, "grant-rejected").await;
    bodies.push_str(&body.to_string());
    assert_eq!(app.counts().await, (0, 0, 0));

    // Transient failure: 502 with Retry-After, nothing stored.
    fake.on("/me", 500, json!({ "error": "server_error" }));
    let response = import(json!({ "network": "acme", "access_token": SENTINEL }))
        .await
        .unwrap();
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
    .await
    .unwrap();
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
        let response = app.get(&path, &token).await;
        assert_eq!(response.status(), 200, "{path}");
        bodies.push_str(&response.text().await.unwrap());
    }
    // Import without the scope is refused.
    let response = app
        .client
        .post(app.url(&format!("/v1/brands/{brand}/accounts")))
        .bearer_auth(app.token(&app.org_id, "accounts:read accounts:write"))
        .json(&json!({ "network": "acme", "access_token": SENTINEL }))
        .send()
        .await
        .unwrap();
    bodies.push_str(
        &assert_problem(response, 403, "insufficient-scope")
            .await
            .to_string(),
    );
    // Disconnect revokes at the network with the refresh token.
    fake.on("/revoke", 200, json!({}));
    let response = app
        .client
        .delete(app.url(&format!("/v1/brands/{brand}/accounts/{account}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revokes = fake.seen_on("/revoke");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].form["token"], SENTINEL_REFRESH);

    // Search everything for the sentinels: answers, audit rows, logs, the database.
    let org = app.org_id.clone();
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

/// A connect round trip through a preset's flavour, against a fake network.
async fn connect_preset(kind: NetworkKind, script: impl Fn(&Fake)) -> (TestApp, Fake, Value) {
    let fake = Fake::default();
    let base = fake.start();
    let name = kind.as_str().to_string();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        let j = |p: &str| Some(base.join(p).unwrap().to_string());
        let mut n = NetworkSettings::new(kind);
        n.client_id = Some("cid".into());
        n.client_secret = Some(secrecy::SecretString::from("csecret".to_string()));
        n.authorize_url = j("/authorize");
        n.token_url = j("/token");
        n.identity_url = j("/me");
        n.revoke_url = j("/revoke");
        if matches!(kind, NetworkKind::Instagram | NetworkKind::Threads) {
            n.exchange_url = j("/access_token");
            n.refresh_url = j("/refresh_access_token");
        }
        s.networks.insert(name.clone(), n);
    })
    .await;
    script(&fake);
    let brand = app.new_brand("Preset").await;
    let auth = app
        .start_connect(&app.admin_token(), &brand, &name, None)
        .await;
    let params = query_of(&auth);
    let callback = format!(
        "{}/v1/oauth/callback/{name}?code=the-code&state={}",
        app.address, params["state"]
    );
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 200, "{name} callback");
    let body: Value = response.json().await.unwrap();
    (app, fake, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_round_trip_per_grant_flavour() {
    // Facebook: code → short-lived token → fb_exchange_token upgrade; silent renewal later.
    let (_app, fake, body) = connect_preset(NetworkKind::Facebook, |f| {
        f.on(
            "/token",
            200,
            json!({ "access_token": "EAA-short", "expires_in": 3600 }),
        )
        .on(
            "/token",
            200,
            json!({ "access_token": "EAA-long", "expires_in": 5_184_000 }),
        )
        .on(
            "/me",
            200,
            json!({ "id": "fb-1", "name": "Northwind Page" }),
        );
    })
    .await;
    assert_eq!(body["account"]["profile"]["external_id"], "fb-1");
    assert_eq!(body["account"]["renew"]["method"], "refresh");
    assert_eq!(body["account"]["token_status"], "active", "60-day token");
    assert_eq!(
        fake.seen_on("/token")[1].query["grant_type"],
        "fb_exchange_token"
    );

    // X: refresh tokens that rotate.
    let (_app, fake, body) = connect_preset(NetworkKind::X, |f| {
        f.on("/token", 200, json!({ "access_token": "x-at", "refresh_token": "x-rt", "expires_in": 7200, "token_type": "bearer" }))
            .on("/me", 200, json!({ "data": { "id": "x-9", "username": "northwind", "name": "Northwind" } }));
    })
    .await;
    assert_eq!(body["account"]["profile"]["handle"], "northwind");
    assert_eq!(body["account"]["renew"]["method"], "refresh");
    assert!(
        fake.seen_on("/token")[0]
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );

    // TikTok: client_key instead of client_id.
    let (_app, fake, body) = connect_preset(NetworkKind::TikTok, |f| {
        f.on("/token", 200, json!({ "access_token": "tt-at", "refresh_token": "tt-rt", "expires_in": 86400, "refresh_expires_in": 31_536_000, "open_id": "tt-1", "scope": "user.info.basic,video.publish" }))
            .on("/me", 200, json!({ "data": { "user": { "open_id": "tt-1", "display_name": "Northwind", "username": "northwind" } }, "error": { "code": "ok" } }));
    })
    .await;
    assert_eq!(body["account"]["profile"]["external_id"], "tt-1");
    assert_eq!(fake.seen_on("/token")[0].form["client_key"], "cid");

    // LinkedIn without partner status: no refresh token, so renewal means re-authorizing.
    let (_app, _fake, body) = connect_preset(NetworkKind::LinkedIn, |f| {
        f.on(
            "/token",
            200,
            json!({ "access_token": "li-at", "expires_in": 5_184_000 }),
        )
        .on(
            "/me",
            200,
            json!({ "sub": "li-7", "name": "Northwind Ltd" }),
        );
    })
    .await;
    assert_eq!(body["account"]["profile"]["external_id"], "li-7");
    assert_eq!(body["account"]["renew"]["method"], "reauthorize");
}

async fn list_filters_by_status_and_network_and_paginates(app: TestApp) {
    let brand = app.new_brand("Many").await;
    let token = app.admin_token();
    for subject in ["sandbox-alice", "sandbox-bob"] {
        app.connect_sandbox(&brand, subject).await;
    }
    let all: Value = app
        .get(&format!("/v1/brands/{brand}/accounts?limit=1"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/v1/brands/{brand}/accounts?limit=1&cursor={cursor}"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_ne!(all["data"][0]["id"], rest["data"][0]["id"]);

    // Sandbox tokens live an hour: within the 7-day window, so `expiring`.
    let expiring: Value = app
        .get(
            &format!("/v1/brands/{brand}/accounts?status=expiring"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expiring["data"].as_array().unwrap().len(), 2);
    let active: Value = app
        .get(
            &format!("/v1/brands/{brand}/accounts?status=active"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["data"], json!([]));
    let other: Value = app
        .get(&format!("/v1/brands/{brand}/accounts?network=x"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["data"], json!([]));

    // With a 0-day window they are active; past expiry they are expired and blocked.
    let response = app
        .client
        .patch(app.url("/v1/organization"))
        .bearer_auth(&token)
        .json(&json!({ "warning_window_days": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Five minutes past the hour the tokens lived.
    app.advance(chrono::Duration::minutes(65));
    let expired: Value = app
        .get(
            &format!("/v1/brands/{brand}/accounts?status=expired"),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    let data = expired["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        data[0]["blocked"],
        json!(["publishing", "inbox", "analytics"])
    );

    let response = app
        .get(&format!("/v1/brands/{brand}/accounts?status=bogus"), &token)
        .await;
    assert_problem(response, 400, "bad-request").await;
}

async fn another_organization_gets_404_and_scopes_are_enforced(app: TestApp) {
    let brand = app.new_brand("Mine").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let profile = connected["account"]["profile"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/v1/brands/{brand}/accounts");
    let one = format!("{base}/{account}");

    let other_org = app.create_org("Other", "advanced").await;
    let theirs = app.token(&other_org, ALL_SCOPES);
    for path in [
        base.clone(),
        one.clone(),
        format!("{one}/events"),
        format!("/v1/profiles/{profile}"),
    ] {
        assert_problem(app.get(&path, &theirs).await, 404, "not-found").await;
    }
    let patch = app
        .client
        .patch(app.url(&one))
        .bearer_auth(&theirs)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_problem(patch, 404, "not-found").await;
    let delete = app
        .client
        .delete(app.url(&one))
        .bearer_auth(&theirs)
        .send()
        .await
        .unwrap();
    assert_problem(delete, 404, "not-found").await;
    let connect = app
        .client
        .post(app.url(&format!("{base}/connect")))
        .bearer_auth(&theirs)
        .json(&json!({"network": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_problem(connect, 404, "not-found").await;
    let profiles: Value = app.get("/v1/profiles", &theirs).await.json().await.unwrap();
    assert_eq!(profiles["data"], json!([]));

    // Scopes: reads need accounts:read, changes accounts:write, import accounts:import.
    let no_scope = app.token(&app.org_id, "tokens:read");
    for path in [
        base.clone(),
        one.clone(),
        format!("{one}/events"),
        "/v1/profiles".into(),
        format!("/v1/profiles/{profile}"),
    ] {
        assert_problem(app.get(&path, &no_scope).await, 403, "insufficient-scope").await;
    }
    let read_only = app.token(&app.org_id, "accounts:read");
    let patch = app
        .client
        .patch(app.url(&one))
        .bearer_auth(&read_only)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_problem(patch, 403, "insufficient-scope").await;
    let delete = app
        .client
        .delete(app.url(&one))
        .bearer_auth(&read_only)
        .send()
        .await
        .unwrap();
    assert_problem(delete, 403, "insufficient-scope").await;
    let connect = app
        .client
        .post(app.url(&format!("{base}/connect")))
        .bearer_auth(&read_only)
        .json(&json!({"network": "sandbox"}))
        .send()
        .await
        .unwrap();
    assert_problem(connect, 403, "insufficient-scope").await;

    // Still intact.
    let mine: Value = app
        .get(&one, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["enabled"], true);
}

on_both_backends!(
    connect_round_trip_then_reconnect_in_place,
    same_profile_in_two_brands_is_one_profile_with_two_accounts,
    failed_callbacks_change_nothing,
    disconnect_revokes_once_and_keeps_the_audit_trail,
    list_filters_by_status_and_network_and_paginates,
    another_organization_gets_404_and_scopes_are_enforced,
);
