//! Connect round trips through the presets' grant flavours, against fakes
//! of their networks.

use serde_json::{Value, json};
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use super::query_of;
use crate::helpers::{Backend, TestApp};
use crate::providers::Fake;

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
    let response = app.get(callback).send().await;
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
