//! Connecting over OAuth with the sandbox: the round trip, reconnecting in
//! place, one profile across brands, and failed callbacks that change nothing.

use serde_json::{Value, json};

use super::query_of;
use crate::helpers::{RETURN_URL, TestApp, assert_problem};
use crate::on_both_backends;

async fn audit_actions(app: &TestApp, account: &str) -> Vec<String> {
    let org = app.org_id.clone();
    let account = account.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(
            conn,
            &crate::helpers::org_id(&org),
            Some(crate::helpers::id(&account)),
            None,
            100,
        )
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
    let response = app.get(&callback).send().await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{RETURN_URL}/done?")),
        "{location}"
    );
    let outcome = query_of(&location);
    assert_eq!(
        outcome.get("tokenwarden_status").map(String::as_str),
        Some("connected"),
        "{location}"
    );
    let account_id = outcome["account_id"].clone();

    // The account as Manage Accounts shows it; the identity is the network's.
    let account: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account_id}"))
        .bearer(&token)
        .send()
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
    app.revocations_settled().await;
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
    let replay = app.get(&callback).send().await;
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
        .get("/v1/profiles")
        .bearer(app.admin_token())
        .send()
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
        .get(format!("/v1/profiles/{id}"))
        .bearer(app.admin_token())
        .send()
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
    let denied = app.get(format!("{auth}&auto_deny=1")).send().await;
    let callback = denied.headers()["location"].to_str().unwrap().to_string();
    let response = app.get(&callback).send().await;
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
    let response = app.get(&wrong).send().await;
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
    let response = app.get(&callback).send().await;
    assert_eq!(
        query_of(response.headers()["location"].to_str().unwrap())["tokenwarden_error"],
        "state_expired"
    );

    // Unknown state and no state: a problem, since there is no return URL to go to.
    // A well-formed state that names no authorization is not found.
    let response = app
        .get("/v1/oauth/callback/sandbox?code=x&state=made-up")
        .send()
        .await;
    assert_problem(response, 404, "not-found").await;
    let response = app.get("/v1/oauth/callback/sandbox").send().await;
    assert_problem(response, 400, "invalid-oauth-state").await;

    // Nothing was stored, and no code was exchanged.
    assert_eq!(app.counts().await, (0, 0, 0));
    assert_eq!(app.sandbox().calls().token, 0);

    // A return URL outside the allow-list is refused up front.
    let response = app
        .post(format!("/v1/brands/{brand}/accounts/connect"))
        .bearer(&token)
        .json(&json!({ "network": "sandbox", "return_url": "https://evil.example/steal" }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/return_url");
    let response = app
        .post(format!("/v1/brands/{brand}/accounts/connect"))
        .bearer(&token)
        .json(&json!({ "network": "myspace" }))
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/network");
}

on_both_backends!(
    connect_round_trip_then_reconnect_in_place,
    same_profile_in_two_brands_is_one_profile_with_two_accounts,
    failed_callbacks_change_nothing,
);
