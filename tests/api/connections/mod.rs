//! Connect with selection: a person's Facebook grant, the Pages they manage listed from Graph
//! (`/me/accounts`, paginated), the chosen ones connected as Page accounts with their own Page
//! tokens, over real HTTP against local stubs of Graph, on both backends.

mod pages;

use std::sync::Arc;

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings, ProviderRegistry};

use self::pages::{Assets, FacebookPages, PagesGraph};
use crate::brand_scope::restricted;
use crate::fakes::meta_graph::MetaGraph;
use crate::helpers::{Backend, RETURN_URL, TestApp, assert_problem};
use crate::on_both_backends;

/// An instance whose `facebook` network is the preset against the Meta Graph stub, with Pages
/// read from the Pages stub; the person `fb-1` manages three Pages (two answers of Graph).
pub struct Fb {
    app: TestApp,
    meta: MetaGraph,
    pages: PagesGraph,
}

impl Fb {
    async fn spawn(backend: Backend) -> Self {
        let (meta, pages) = (MetaGraph::default(), PagesGraph::default());
        let (meta_base, pages_base) = (meta.start(), pages.start());
        let accounts_url = pages_base.join("/me/accounts").unwrap();
        let app = TestApp::spawn_with_networks(
            backend,
            |s| {
                let j = |p: &str| Some(meta_base.join(p).unwrap().to_string());
                let mut n = NetworkSettings::new(NetworkKind::Facebook);
                n.client_id = Some("meta-app".into());
                n.client_secret = Some(secrecy::SecretString::from("meta-app-secret".to_string()));
                n.authorize_url = j("/dialog/oauth");
                n.token_url = j("/token");
                n.identity_url = j("/me?fields=id,name");
                n.revoke_url = j("/me/permissions");
                s.networks.insert("facebook".into(), n);
            },
            move |registry: &mut ProviderRegistry| {
                let preset = registry.get("facebook").expect("facebook configured");
                registry.insert(Arc::new(FacebookPages {
                    preset,
                    assets: Assets::Pages(accounts_url),
                }));
            },
        )
        .await;
        pages.manage(
            "fb-1",
            &[
                ("p-1", "Northwind Coffee"),
                ("p-2", "Harbor Bakery"),
                ("p-3", "Quay Books"),
            ],
        );
        Fb { app, meta, pages }
    }

    /// `person` approves the app at Meta for a connect started in `brand`; the callback's answer.
    async fn authorize(
        &self,
        brand: &str,
        person: &str,
        return_url: Option<&str>,
    ) -> reqwest::Response {
        let app = &self.app;
        let auth = app
            .start_connect(&app.admin_token(), brand, "facebook", return_url)
            .await;
        let state = url::Url::parse(&auth)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        let callback = format!(
            "{}/v1/oauth/callback/facebook?code={}&state={state}",
            app.address,
            MetaGraph::code_for(person)
        );
        app.get(callback).send().await
    }

    /// A connection of `person` in `brand`; its id.
    async fn connection(&self, brand: &str, person: &str) -> String {
        let response = self.authorize(brand, person, None).await;
        assert_eq!(response.status(), 200, "facebook callback");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "select", "{body}");
        body["connection_id"].as_str().unwrap().to_string()
    }

    async fn select(
        &self,
        token: &str,
        connection: &str,
        ids: Value,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/v1/connections/{connection}/accounts")),
            )
            .bearer(token)
            .json(&json!({ "external_ids": ids }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await
    }

    async fn vault(&self, account: &str) -> Value {
        let response = self
            .app
            .post(format!("/v1/accounts/{account}/access-token"))
            .bearer(self.app.admin_token())
            .send()
            .await;
        assert_eq!(response.status(), 200, "vault read");
        response.json().await.unwrap()
    }
}

on_both_backends!(
    spawn = super::Fb::spawn;
    a_person_connects_the_pages_they_choose_and_the_vault_hands_out_page_tokens,
    a_selection_with_an_idempotency_key_is_answered_once,
    an_expired_connection_is_gone_and_its_grant_revoked,
    a_token_of_another_brand_cannot_see_the_connection,
    a_page_the_person_does_not_manage_is_refused_and_nothing_is_connected,
    the_callback_sends_the_browser_to_select_with_the_connection,
    the_person_is_deauthorized_only_with_their_last_page,
    a_page_connected_in_a_second_brand_follows_the_plan,
    a_failing_listing_connects_nothing_and_keeps_the_connection,
    a_deleted_brand_takes_its_connections_and_their_grants,
);

on_both_backends!(
    spawn = super::channels;
    a_shared_asset_publishes_with_its_managers_grant,
);

/// An instance whose sandbox network's people manage two channels each, shared with their grant.
async fn channels(backend: Backend) -> TestApp {
    TestApp::spawn_with_networks(
        backend,
        |_| {},
        |registry: &mut ProviderRegistry| {
            let preset = registry.get("sandbox").expect("sandbox");
            registry.insert(Arc::new(FacebookPages {
                preset,
                assets: Assets::Channels(vec![
                    ("ch-1".into(), "Morning Show".into()),
                    ("ch-2".into(), "Evening Show".into()),
                ]),
            }));
        },
    )
    .await
}

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

async fn disconnect(app: &TestApp, token: &str, brand: &str, account: &str) -> u16 {
    let path = format!("/v1/brands/{brand}/accounts/{account}");
    let response = app.client.delete(app.url(&path)).bearer(token).send();
    response.await.status().as_u16()
}

/// The accounts of a selection's answer, by id.
async fn selected_ids(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 201, "selection");
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
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
