//! Grants only the owner can renew: the authorization URL a dead grant
//! answers, the identity the owner must come back as, and reconnect links.

use serde_json::{Value, json};

use super::{connect_in, query_of, renew, stored};
use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

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
        .get("/v1/expired-tokens")
        .bearer(&token)
        .send()
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
    let done: Value = app.get(callback).send().await.json().await.unwrap();
    assert_eq!(done["status"], "renewed");
    assert_eq!(done["account"]["id"], account.as_str());
    assert_eq!(done["account"]["token_status"], "expiring");
    let list: Value = app
        .get("/v1/expired-tokens")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
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
    let response = app.get(callback).send().await;
    assert_problem(response, 409, "identity-mismatch").await;

    assert_eq!(stored(&app, &account).await, before);
    assert_eq!(
        app.counts().await,
        counts,
        "no profile, account or credential for bob"
    );
    let now: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["token_status"], "reauth_required");
    assert_eq!(now["profile"]["external_id"], "sandbox-alice");
}

async fn reconnect_links_are_single_use(app: TestApp) {
    let token = app.admin_token();
    let brand = app.new_brand("Client brand").await;
    let account = connect_in(&app, &token, &brand, "sandbox-alice").await;
    app.sandbox().revoke_grants("sandbox-alice");
    let create = |body: Value| {
        app.post(format!(
            "/v1/brands/{brand}/accounts/{account}/reconnect-link"
        ))
        .bearer(&token)
        .json(&body)
        .send()
    };
    let response = create(json!({ "expires_in": 3600 })).await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/v1/reconnect/", app.address)));

    let shown: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let handle = shown["profile"]["handle"].as_str().unwrap().to_string();
    // The owner opens it without a login: a page naming who asks and for
    // what. Opening it (or a link preview fetching it) spends nothing.
    for _ in 0..2 {
        let page = app.get(&url).send().await;
        assert_eq!(page.status(), 200);
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">"), "{html}");
        assert!(html.contains("Reconnect with sandbox"));
        assert!(html.contains(&handle), "{handle} in {html}");
        assert!(html.contains("Acme Agency"), "the organization's name");
    }
    // Its button spends it: on to the network.
    let opened = app.post(&url).send().await;
    assert_eq!(opened.status(), 303);
    let authorize = opened.headers()["location"].to_str().unwrap().to_string();
    assert!(query_of(&authorize).contains_key("code_challenge"));
    let callback = app.approve_at_sandbox(&authorize, "sandbox-alice").await;
    let done: Value = app.get(callback).send().await.json().await.unwrap();
    assert_eq!(done["status"], "renewed");
    assert_eq!(done["account"]["id"], account.as_str());

    // Used: 410, for the page and the button.
    assert_problem(app.get(&url).send().await, 410, "link-gone").await;
    assert_problem(app.post(&url).send().await, 410, "link-gone").await;
    // The link's secret is in its path, and no log line carries it: not the
    // requests above, nor one to a path no route matches.
    let _ = app.get(format!("{url}/")).send().await;
    let secret = url.rsplit('/').next().unwrap();
    assert!(secret.len() >= 32, "{url}");
    assert!(
        !crate::helpers::captured_logs().contains(secret),
        "a log line carries the reconnect link's secret"
    );
    // Unknown: 404.
    assert_problem(
        app.get("/v1/reconnect/not-a-link").send().await,
        404,
        "not-found",
    )
    .await;
    // Expired: 410, a minute after the link's lifetime.
    let link: Value = create(json!({})).await.json().await.unwrap();
    let lifetime = i64::try_from(app.settings.reconnect_link_ttl_secs).unwrap();
    app.advance(chrono::Duration::seconds(lifetime) + chrono::Duration::minutes(1));
    let response = app.get(link["url"].as_str().unwrap()).send().await;
    assert_problem(response, 410, "link-gone").await;
    // Bounds.
    assert_problem(
        create(json!({ "expires_in": 10 })).await,
        422,
        "validation-failed",
    )
    .await;
}

on_both_backends!(
    a_dead_grant_needs_reauthorization_without_retries,
    reauthorizing_another_identity_is_409_and_changes_nothing,
    reconnect_links_are_single_use,
);
