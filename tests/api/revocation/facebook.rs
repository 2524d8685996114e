//! Facebook, against a local stub of Meta's Graph API: its revocation
//! de-authorizes the app for the person, so it is used only when no grant of
//! that person is stored anywhere.

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use super::{assert_every_grant_is_held, brand_in, disconnect, id, later, renew};
use crate::fakes::meta_graph::MetaGraph;
use crate::helpers::{ALL_SCOPES, Backend, TestApp};
use crate::on_both_backends;

/// The stub of Meta's Graph API configured as the `facebook` network of a fresh instance.
pub(super) struct Meta {
    pub(super) app: TestApp,
    pub(super) graph: MetaGraph,
}

impl Meta {
    pub(super) async fn spawn(backend: Backend) -> Self {
        let graph = MetaGraph::default();
        let base = graph.start();
        let app = TestApp::spawn_with(backend, |s| {
            let j = |p: &str| Some(base.join(p).unwrap().to_string());
            let mut n = NetworkSettings::new(NetworkKind::Facebook);
            n.client_id = Some("meta-app".into());
            n.client_secret = Some(secrecy::SecretString::from("meta-app-secret".to_string()));
            n.authorize_url = j("/dialog/oauth");
            n.token_url = j("/token");
            n.identity_url = j("/me?fields=id,name");
            n.revoke_url = j("/me/permissions");
            // Introspection at the stub too, never at Meta. No `assets_url`: these tests
            // connect the person, as a network without Pages configured does.
            n.introspection_url = j("/debug_token");
            s.networks.insert("facebook".into(), n);
        })
        .await;
        Meta { app, graph }
    }

    /// The person approves the app at Meta; the callback stores the grant in `brand`.
    pub(super) async fn connect(&self, token: &str, brand: &str, person: &str) -> String {
        let app = &self.app;
        let auth = app.start_connect(token, brand, "facebook", None).await;
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
        let response = app.get(callback).send().await;
        assert_eq!(response.status(), 200, "facebook callback");
        id(&response.json::<Value>().await.unwrap())
    }
}

// ------------------------------------------------------------------ Facebook

on_both_backends!(
    spawn = super::Meta::spawn;
    replacing_a_facebook_grant_never_deauthorizes_the_person,
    disconnecting_a_facebook_account_keeps_the_person_authorized_elsewhere,
    disconnecting_the_last_facebook_grant_still_deauthorizes_the_app,
    a_grant_refreshed_since_it_was_stored_is_still_recognized,
);

async fn replacing_a_facebook_grant_never_deauthorizes_the_person(meta: Meta) {
    // Arrange: the person's page in one brand of an Advanced organization.
    let (app, token) = (&meta.app, meta.app.admin_token());
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let first = meta.connect(&token, &north, "fb-1").await;

    // Act: connected again in another brand (propagation replaces the first grant), then
    // reconnected in the first brand (replacing that grant in place).
    let second = meta.connect(&token, &harbor, "fb-1").await;
    let again = meta.connect(&token, &north, "fb-1").await;

    // Assert: nobody de-authorized the app for the person; the stored grant renews.
    assert_eq!(again, first, "reconnected in place");
    app.revocations_settled().await;
    assert!(meta.graph.deauthorizations().is_empty());
    assert!(meta.graph.authorized("fb-1"));
    assert_eq!(renew(app, &token, &north, &first).await, "renewed");
    later(app);
    assert_eq!(renew(app, &token, &harbor, &second).await, "renewed");
    assert_eq!(app.counts().await, (1, 2, 1));
    assert_every_grant_is_held(app).await;
}

async fn disconnecting_a_facebook_account_keeps_the_person_authorized_elsewhere(meta: Meta) {
    // Arrange: the same person connected in two organizations, each with its own grant.
    let app = &meta.app;
    let token = app.admin_token();
    let other_org = app.create_org("Other Agency", "starter").await;
    let other = app.token(&other_org, ALL_SCOPES);
    let north = app.new_brand("North").await;
    let elsewhere = brand_in(app, &other, "Elsewhere").await;
    let mine = meta.connect(&token, &north, "fb-7").await;
    let theirs = meta.connect(&other, &elsewhere, "fb-7").await;

    // Act: disconnected in the first organization.
    assert_eq!(disconnect(app, &token, &north, &mine).await, 204);

    // Assert: the other organization's grant is alive and renews.
    app.revocations_settled().await;
    assert!(meta.graph.deauthorizations().is_empty());
    assert_eq!(renew(app, &other, &elsewhere, &theirs).await, "renewed");
    assert_every_grant_is_held(app).await;
}

async fn disconnecting_the_last_facebook_grant_still_deauthorizes_the_app(meta: Meta) {
    // Arrange: the person's only stored grant.
    let app = &meta.app;
    let token = app.admin_token();
    let north = app.new_brand("North").await;
    let account = meta.connect(&token, &north, "fb-9").await;

    // Act
    assert_eq!(disconnect(app, &token, &north, &account).await, 204);

    // Assert: nothing holds the person any more, so the app lets go of them at Meta.
    app.revocations_settled().await;
    assert_eq!(meta.graph.deauthorizations(), ["fb-9"]);
    assert!(!meta.graph.authorized("fb-9"));
    assert_eq!(app.counts().await, (1, 0, 0));
}

async fn a_grant_refreshed_since_it_was_stored_is_still_recognized(meta: Meta) {
    // Arrange: the person's grant renewed in place (a new long-lived token, no
    // refresh token), and that new token read from the vault by a worker.
    let app = &meta.app;
    let token = app.admin_token();
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let first = meta.connect(&token, &north, "fb-3").await;
    assert_eq!(renew(app, &token, &north, &first).await, "renewed");
    let response = app
        .post(format!("/v1/accounts/{first}/access-token"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(response.status(), 200, "vault read");
    let current: Value = response.json().await.unwrap();

    // Act: a client imports that token into another brand.
    let response = app
        .post(format!("/v1/brands/{harbor}/accounts"))
        .bearer(&token)
        .json(&json!({
            "network": "facebook",
            "access_token": current["access_token"],
            "expires_in": 5_184_000
        }))
        .send()
        .await;
    assert_eq!(response.status(), 201, "import");
    let second = id(&response.json().await.unwrap());

    // Assert: recognized as the stored grant; nobody was de-authorized.
    assert_eq!(app.counts().await, (1, 2, 1));
    app.revocations_settled().await;
    assert!(meta.graph.deauthorizations().is_empty());
    later(app);
    assert_eq!(renew(app, &token, &harbor, &second).await, "renewed");
    assert_every_grant_is_held(app).await;
}
