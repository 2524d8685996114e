//! What becomes of a person's grant: a connection that runs out, Pages disconnected, the same
//! Page from another brand, a brand deleted, and a shared asset's token.

use serde_json::{Value, json};

use super::{Fb, PagesGraph, disconnect, selected_ids};
use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    spawn = crate::connections::Fb::spawn;
    an_expired_connection_is_gone_and_its_grant_revoked,
    the_person_is_deauthorized_only_with_their_last_page,
    a_page_connected_in_a_second_brand_follows_the_plan,
    a_deleted_brand_takes_its_connections_and_their_grants,
    a_page_renews_only_through_its_managers_authorization,
);

on_both_backends!(
    spawn = crate::connections::channels;
    a_shared_asset_publishes_with_its_managers_grant,
);

async fn an_expired_connection_is_gone_and_its_grant_revoked(fb: Fb) {
    // Arrange: fb-1 authorizes and chooses nothing.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;

    // Act: an hour passes; the worker runs.
    app.advance(chrono::Duration::minutes(61));
    let listed = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&token)
        .send()
        .await;
    let selected = fb.select(&token, &connection, json!(["p-1"]), None).await;
    let report = tokenwarden::worker::tick(&app.parts.state, app.now())
        .await
        .unwrap();
    app.revocations_settled().await;

    // Assert: 404 both, the connection and the grant gone, and with no other grant of the
    // person stored anywhere, the app de-authorized for them.
    assert_problem(listed, 404, "not-found").await;
    assert_problem(selected, 404, "not-found").await;
    assert_eq!(report.connections_deleted, 1);
    assert_eq!(
        app.counts().await,
        (1, 0, 0),
        "the person's profile stays, their grant goes"
    );
    assert_eq!(fb.meta.deauthorizations(), ["fb-1"]);
}

async fn the_person_is_deauthorized_only_with_their_last_page(fb: Fb) {
    // Arrange: two Pages of fb-1 connected; the connection runs out.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;
    let pages = selected_ids(
        fb.select(&token, &connection, json!(["p-1", "p-2"]), None)
            .await,
    )
    .await;
    app.advance(chrono::Duration::minutes(61));
    let report = tokenwarden::worker::tick(&app.parts.state, app.now())
        .await
        .unwrap();
    app.revocations_settled().await;
    assert_eq!(report.connections_deleted, 1);
    assert_eq!(
        app.counts().await,
        (3, 2, 3),
        "the Pages keep the person's grant"
    );

    // Act: one Page disconnected, then the other.
    assert_eq!(disconnect(app, &token, &north, &pages[0]).await, 204);
    app.revocations_settled().await;
    let after_one = (app.counts().await, fb.meta.deauthorizations());
    assert_eq!(disconnect(app, &token, &north, &pages[1]).await, 204);
    app.revocations_settled().await;

    // Assert: a Page token is never revoked alone; the person's grant goes with the last Page.
    assert_eq!(after_one, ((3, 1, 2), Vec::<String>::new()));
    assert_eq!(app.counts().await, (3, 0, 0));
    assert_eq!(fb.meta.deauthorizations(), ["fb-1"]);
}

async fn a_page_connected_in_a_second_brand_follows_the_plan(fb: Fb) {
    // Arrange: p-1 connected in North; fb-1 connects again from Harbor.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let first = fb.connection(&north, "fb-1").await;
    let in_north = selected_ids(fb.select(&token, &first, json!(["p-1"]), None).await).await;
    let second = fb.connection(&harbor, "fb-1").await;

    // Act
    let listed: Value = app
        .get(format!("/v1/connections/{second}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let in_harbor = selected_ids(fb.select(&token, &second, json!(["p-1"]), None).await).await;
    app.revocations_settled().await;

    // Assert: the listing names North; the Page is an account in both brands, one Page
    // profile, and the app is never de-authorized for the person on the way.
    assert_eq!(listed["assets"][0]["connected_in"], json!([north]));
    assert_ne!(in_north, in_harbor);
    let profile: Value = app
        .get(format!("/v1/brands/{harbor}/accounts/{}", in_harbor[0]))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let profile_id = profile["profile"]["id"].as_str().unwrap();
    let shown: Value = app
        .get(format!("/v1/profiles/{profile_id}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["kind"], "page");
    assert_eq!(shown["manager"]["external_id"], "fb-1");
    assert_eq!(shown["enabled_in"], 2, "{shown}");
    assert_eq!(
        fb.vault(&in_north[0]).await["access_token"],
        PagesGraph::page_token("p-1", "fb-1")
    );
    assert!(fb.meta.deauthorizations().is_empty());
}

async fn a_deleted_brand_takes_its_connections_and_their_grants(fb: Fb) {
    // Arrange: fb-1 authorized in North and chose nothing.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;

    // Act
    let deleted = app
        .client
        .delete(format!("/v1/brands/{north}"))
        .bearer(&token)
        .send()
        .await;
    app.revocations_settled().await;

    // Assert: the connection is gone, and its grant, stored nowhere else, revoked.
    assert_eq!(deleted.status(), 204);
    let listed = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&token)
        .send()
        .await;
    assert_problem(listed, 404, "not-found").await;
    assert_eq!(app.counts().await, (1, 0, 0));
    assert_eq!(fb.meta.deauthorizations(), ["fb-1"]);
}

async fn a_shared_asset_publishes_with_its_managers_grant(app: TestApp) {
    // Arrange: sandbox-alice authorizes; her grant reaches two channels.
    let (north, token) = (app.new_brand("North").await, app.admin_token());
    let url = app.start_connect(&token, &north, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&url, "sandbox-alice").await;
    let body: Value = app.client.get(callback).send().await.json().await.unwrap();
    let connection = body["connection_id"].as_str().unwrap().to_string();

    // Act: connect one channel; read its token and the grant's.
    let response = app
        .client
        .post(format!("/v1/connections/{connection}/accounts"))
        .bearer(&token)
        .json(&json!({"external_ids": ["ch-2"]}))
        .send()
        .await;
    let accounts = selected_ids(response).await;
    let vault = app
        .post(format!("/v1/accounts/{}/access-token", accounts[0]))
        .bearer(&token)
        .send()
        .await;
    let vault: Value = vault.json().await.unwrap();

    // Assert: the channel's account hands out the person's live grant, named by its token id.
    let whose: Value = app
        .client
        .get("/sandbox/userinfo")
        .bearer(vault["access_token"].as_str().unwrap())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "select");
    assert_eq!(
        app.counts().await,
        (2, 1, 2),
        "alice, the channel, each a credential"
    );
    assert_eq!(
        whose["sub"], "sandbox-alice",
        "the vault answers alice's grant"
    );
    assert_eq!(vault["token_id"].as_str().unwrap().len(), 32);
}

async fn a_page_renews_only_through_its_managers_authorization(fb: Fb) {
    // Arrange: a Page of fb-1 connected in North.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;
    let page = selected_ids(fb.select(&token, &connection, json!(["p-1"]), None).await).await;
    let page = &page[0];
    let exchanges = fb.meta.exchanges();

    // Act: the Page's token is renewed.
    let response = app
        .post(format!("/v1/brands/{north}/accounts/{page}/renew"))
        .bearer(&token)
        .send()
        .await;

    // Assert: nothing sent to Meta's grant endpoint (a Page token is no grant of its own), the
    // Page still active with a re-authorization as its renew method, and the manager's
    // authorization to open.
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "authorization_required", "{body}");
    assert_eq!(body["reason"], "manager_authorization_required");
    assert_eq!(body["account"]["token_status"], "active", "{body}");
    assert_eq!(body["account"]["renew"]["method"], "reauthorize", "{body}");
    assert_eq!(fb.meta.exchanges(), exchanges, "no grant request");
    let url = body["authorization"]["authorization_url"].as_str().unwrap();
    let state = url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    // Act: the manager authorizes; they choose the Page again.
    let callback = app
        .get(format!(
            "/v1/oauth/callback/facebook?code={}&state={state}",
            crate::fakes::meta_graph::MetaGraph::code_for("fb-1")
        ))
        .send()
        .await;

    // Assert: the person is the one expected (no identity mismatch): a selection whose choice
    // reconnects the same account in place.
    assert_eq!(callback.status(), 200);
    let body: Value = callback.json().await.unwrap();
    assert_eq!(body["status"], "select", "{body}");
    let again = body["connection_id"].as_str().unwrap();
    let reconnected = selected_ids(fb.select(&token, again, json!(["p-1"]), None).await).await;
    assert_eq!(reconnected, [page.as_str()]);
}
