//! Connecting what a person manages: the callback's `select`, the listing, the selection and
//! its refusals, idempotency, and who may see a connection.

use serde_json::{Value, json};

use super::{Fb, PagesGraph};
use crate::brand_scope::restricted;
use crate::helpers::{RETURN_URL, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    spawn = crate::connections::Fb::spawn;
    a_person_connects_the_pages_they_choose_and_the_vault_hands_out_page_tokens,
    a_selection_with_an_idempotency_key_is_answered_once,
    a_token_of_another_brand_cannot_see_the_connection,
    a_page_the_person_does_not_manage_is_refused_and_nothing_is_connected,
    the_callback_sends_the_browser_to_select_with_the_connection,
    a_failing_listing_connects_nothing_and_keeps_the_connection,
);

on_both_backends!(
    a_person_network_still_connects_the_person,
    a_connect_with_an_idempotency_key_answers_one_authorization,
);

async fn a_person_connects_the_pages_they_choose_and_the_vault_hands_out_page_tokens(fb: Fb) {
    // Arrange: fb-1 authorizes in a brand; nothing is connected yet.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;
    assert_eq!(
        app.counts().await,
        (1, 0, 1),
        "the person and their grant, no account"
    );

    // Act: list what fb-1 manages, connect two Pages.
    let listed: Value = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let selected = fb
        .select(&token, &connection, json!(["p-1", "p-3"]), None)
        .await;

    // Assert: every Page across Graph's pages, then two Page accounts with their own tokens.
    assert_eq!(
        listed["manager"],
        json!({"name": "Page of fb-1", "external_id": "fb-1"})
    );
    let ids: Vec<&str> = listed["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["p-1", "p-2", "p-3"], "{listed}");
    assert_eq!(listed["assets"][0]["kind"], "page");
    assert_eq!(listed["assets"][0]["name"], "Northwind Coffee");
    assert_eq!(
        listed["assets"][0]["picture_url"],
        "https://cdn.example.test/p-1.png"
    );
    assert_eq!(listed["assets"][0]["connected_in"], json!([]));
    assert_eq!(selected.status(), 201);
    let body: Value = selected.json().await.unwrap();
    let accounts = body["data"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    let first = &accounts[0];
    assert_eq!(first["brand_id"], north.as_str());
    assert_eq!(first["profile"]["external_id"], "p-1");
    assert_eq!(first["profile"]["kind"], "page");
    assert_eq!(first["profile"]["display_name"], "Northwind Coffee");
    assert_eq!(
        first["profile"]["avatar_url"],
        "https://cdn.example.test/p-1.png"
    );
    assert_eq!(
        first["profile"]["manager"],
        json!({"name": "Page of fb-1", "external_id": "fb-1"})
    );
    assert_eq!(first["token_status"], "active");
    assert_eq!(
        first["expires_at"],
        Value::Null,
        "a Page token has no expiry on the clock"
    );
    assert_eq!(
        app.counts().await,
        (3, 2, 3),
        "the person and two Pages, each its own credential"
    );
    let events: Value = app
        .get(format!(
            "/v1/brands/{north}/accounts/{}/events",
            first["id"].as_str().unwrap()
        ))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let connected = &events["data"][0];
    assert_eq!(connected["action"], "account.connected", "{events}");
    assert_eq!(connected["detail"]["kind"], "page");
    assert_eq!(connected["detail"]["name"], "Northwind Coffee");
    assert_eq!(connected["detail"]["manager"]["external_id"], "fb-1");

    let page_1 = fb.vault(first["id"].as_str().unwrap()).await;
    let page_3 = fb.vault(accounts[1]["id"].as_str().unwrap()).await;
    assert_eq!(
        page_1["access_token"],
        PagesGraph::page_token("p-1", "fb-1")
    );
    assert_eq!(
        page_3["access_token"],
        PagesGraph::page_token("p-3", "fb-1")
    );
    let id_1 = page_1["token_id"].as_str().unwrap();
    assert_eq!(id_1.len(), 32);
    assert_ne!(page_1["token_id"], page_3["token_id"]);
    assert_eq!(
        fb.vault(first["id"].as_str().unwrap()).await["token_id"],
        id_1,
        "same token, same id"
    );

    let again: Value = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["assets"][0]["connected_in"], json!([north]));
    assert_eq!(again["assets"][1]["connected_in"], json!([]));
}

async fn a_selection_with_an_idempotency_key_is_answered_once(fb: Fb) {
    // Arrange
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;

    // Act: the same selection twice with one key, then another selection with that key.
    let first = fb
        .select(&token, &connection, json!(["p-2"]), Some("pick-1"))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = fb
        .select(&token, &connection, json!(["p-2"]), Some("pick-1"))
        .await;
    let other = fb
        .select(&token, &connection, json!(["p-1"]), Some("pick-1"))
        .await;

    // Assert
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    assert_problem(other, 422, "idempotency-key-reused").await;
    assert_eq!(
        app.counts().await,
        (2, 1, 2),
        "one Page account, connected once"
    );
}

async fn a_token_of_another_brand_cannot_see_the_connection(fb: Fb) {
    // Arrange: a connection started in North; a token that reaches Harbor only.
    let app = &fb.app;
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let connection = fb.connection(&north, "fb-1").await;
    let harbor_token = restricted(app, &[&harbor]);
    let north_token = restricted(app, &[&north]);

    // Act
    let listed = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&harbor_token)
        .send()
        .await;
    let selected = fb
        .select(&harbor_token, &connection, json!(["p-1"]), None)
        .await;
    let own = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&north_token)
        .send()
        .await;

    // Assert: the very 404 of a connection that does not exist; its own brand's token sees it.
    let body = assert_problem(listed, 404, "not-found").await;
    let unknown_id = uuid::Uuid::now_v7().to_string();
    let unknown = app
        .get(format!("/v1/connections/{unknown_id}"))
        .bearer(&harbor_token)
        .send()
        .await;
    let unknown = assert_problem(unknown, 404, "not-found").await;
    assert_eq!(
        body["detail"].as_str().unwrap().replace(&connection, "ID"),
        unknown["detail"]
            .as_str()
            .unwrap()
            .replace(&unknown_id, "ID")
    );
    assert_problem(selected, 404, "not-found").await;
    assert_eq!(own.status(), 200);
    assert_eq!(app.counts().await.1, 0, "nothing connected");
}

async fn a_page_the_person_does_not_manage_is_refused_and_nothing_is_connected(fb: Fb) {
    // Arrange: fb-2 manages another Page than fb-1.
    let (app, token) = (&fb.app, fb.app.admin_token());
    fb.pages.manage("fb-2", &[("p-9", "Elsewhere")]);
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;

    // Act: a Page of fb-1's, a Page of fb-2's, and one named twice.
    let refused = fb
        .select(&token, &connection, json!(["p-1", "p-9"]), None)
        .await;
    let twice = fb
        .select(&token, &connection, json!(["p-1", "p-1"]), None)
        .await;
    let none = fb.select(&token, &connection, json!([]), None).await;

    // Assert
    let body = assert_problem(refused, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/external_ids/1", "{body}");
    let body = assert_problem(twice, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["pointer"], "/external_ids/1", "{body}");
    assert_problem(none, 422, "validation-failed").await;
    assert_eq!(app.counts().await, (1, 0, 1), "nothing connected");
}

async fn the_callback_sends_the_browser_to_select_with_the_connection(fb: Fb) {
    // Arrange
    let app = &fb.app;
    let north = app.new_brand("North").await;

    // Act
    let response = fb.authorize(&north, "fb-1", Some(RETURN_URL)).await;

    // Assert: 303 to the return URL naming the connection, which lists the Pages.
    assert_eq!(response.status(), 303);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(RETURN_URL));
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["tokenwarden_status"], "select");
    let listed = app
        .get(format!("/v1/connections/{}", query["connection_id"]))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_eq!(listed.status(), 200);
}

async fn a_failing_listing_connects_nothing_and_keeps_the_connection(fb: Fb) {
    // Arrange: a connection; then Graph's /me/accounts fails.
    let (app, token) = (&fb.app, fb.app.admin_token());
    let north = app.new_brand("North").await;
    let connection = fb.connection(&north, "fb-1").await;
    fb.pages.fail(true);

    // Act
    let listed = app
        .get(format!("/v1/connections/{connection}"))
        .bearer(&token)
        .send()
        .await;
    let selected = fb.select(&token, &connection, json!(["p-1"]), None).await;
    fb.pages.fail(false);
    let retried = fb.select(&token, &connection, json!(["p-1"]), None).await;

    // Assert: a network error with a retry, nothing stored, the person's grant untouched;
    // the same selection works once Graph answers again.
    assert!(listed.headers().contains_key("retry-after"));
    assert_problem(listed, 502, "network-error").await;
    assert_problem(selected, 502, "network-error").await;
    assert_eq!(retried.status(), 201);
    assert_eq!(app.counts().await, (2, 1, 2));
    assert!(fb.meta.deauthorizations().is_empty());
}

async fn a_person_network_still_connects_the_person(app: TestApp) {
    // Arrange
    let north = app.new_brand("North").await;

    // Act: the sandbox's profiles are people.
    let body = app.connect_sandbox(&north, "sandbox-alice").await;

    // Assert: connected at once, a person without a manager.
    assert_eq!(body["status"], "connected");
    assert_eq!(body["account"]["profile"]["kind"], "person");
    assert_eq!(body["account"]["profile"]["manager"], Value::Null);
    assert_eq!(app.counts().await, (1, 1, 1));
}

async fn a_connect_with_an_idempotency_key_answers_one_authorization(app: TestApp) {
    // Arrange
    let (north, token) = (app.new_brand("North").await, app.admin_token());
    let connect = |body: Value| {
        app.client
            .post(format!("/v1/brands/{north}/accounts/connect"))
            .bearer(&token)
            .header("Idempotency-Key", "connect-1")
            .json(&body)
            .send()
    };

    // Act: the same connect twice with one key, then another connect with it.
    let first = connect(json!({"network": "sandbox"})).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = connect(json!({"network": "sandbox"})).await;
    let other = connect(json!({"network": "sandbox", "return_url": RETURN_URL})).await;

    // Assert: one authorization; the key cannot start another.
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
    assert_problem(other, 422, "idempotency-key-reused").await;
}
