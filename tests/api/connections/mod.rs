//! Connect with selection: a person's Facebook grant, the Pages they manage listed from Graph
//! (`/me/accounts`, paginated), the chosen ones connected as Page accounts with their own Page
//! tokens, over real HTTP against local stubs of Graph, on both backends.

mod lifecycle;
mod pages;
mod selection;

use std::sync::Arc;

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings, ProviderRegistry};

use self::pages::{Assets, FacebookPages, PagesGraph};
use crate::fakes::meta_graph::MetaGraph;
use crate::helpers::{Backend, TestApp};

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
