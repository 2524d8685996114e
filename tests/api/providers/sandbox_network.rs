//! The sandbox network over real HTTP: the code flow, PKCE, scripted consent,
//! failure modes and the control API; and the generic OAuth2 provider against it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use tokenwarden::providers::{
    ClientAuth, HttpSettings, NetworkKind, NetworkSettings, ProviderRegistry, ReauthReason,
    RefreshFlavour, RefreshPlan, TransientKind, new_pkce_verifier, pkce_challenge_s256,
};
use tokenwarden::sandbox::{Endpoint, FailureMode, SandboxIdentity};
use url::Url;

// `sandbox` names both the harness's `sandbox()` and the `tokenwarden::sandbox` module.
use super::{assert_reauth, assert_transient, grant, query, sandbox, sandbox_with, secret};
use crate::client::Client;

#[actix_web::test]
async fn sandbox_code_flow_identity_refresh_rotation_and_reuse_kills_the_grant() {
    let sbx = sandbox();
    sbx.state.add_identity(SandboxIdentity {
        subject: "sbx-carol".into(),
        handle: "carol".into(),
        display_name: "Carol <script>alert(1)</script>".into(),
        avatar_url: Some("https://img.example/c.png".into()),
    });
    // The authorize page escapes what it shows.
    let url = sbx
        .provider
        .authorization_url("s", &pkce_challenge_s256(&new_pkce_verifier()));
    let q = query(&url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], sandbox::CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{}v1/oauth/callback/sandbox", sbx.base)
    );
    let html = sbx.browser.get(url).send().await.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("Carol &lt;script&gt;alert(1)&lt;/script&gt;"));

    let first = sbx.connect("sbx-carol").await;
    let rt1 = first
        .refresh_token
        .clone()
        .expect("sandbox issues a refresh token");
    let lifetime = first.expires_at - Utc::now();
    assert!(
        lifetime > chrono::Duration::seconds(3590) && lifetime <= chrono::Duration::seconds(3600)
    );
    assert_eq!(first.scopes, vec!["profile", "publish"]);

    let me = sbx.provider.identity(&first.access_token).await.unwrap();
    assert_eq!(me.subject, "sbx-carol");
    assert_eq!(me.handle, "carol");
    assert_eq!(me.avatar_url.as_deref(), Some("https://img.example/c.png"));

    // Rotation: a new refresh token each time.
    let second = sbx
        .provider
        .refresh(&first.access_token, Some(&rt1), Utc::now())
        .await
        .unwrap();
    let rt2 = second.refresh_token.clone().expect("rotated");
    assert_ne!(rt1.expose_secret(), rt2.expose_secret());
    assert_ne!(
        first.access_token.expose_secret(),
        second.access_token.expose_secret()
    );

    // Spending the old one again kills the whole grant, as real networks do.
    let reuse = sbx
        .provider
        .refresh(&second.access_token, Some(&rt1), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&reuse, "invalid_grant");
    assert!(reuse.is_reauth() && !reuse.is_transient());
    assert!(!format!("{reuse}").contains(rt1.expose_secret()));
    let after = sbx
        .provider
        .refresh(&second.access_token, Some(&rt2), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&after, "invalid_grant");
    let who = sbx
        .provider
        .identity(&second.access_token)
        .await
        .unwrap_err();
    assert_reauth(&who, "invalid_token");
    assert_eq!(sbx.state.live_grants("sbx-carol"), 0);

    let calls = sbx.state.calls();
    assert_eq!((calls.token, calls.refresh, calls.userinfo), (4, 3, 2));
}

#[actix_web::test]
async fn sandbox_checks_pkce_single_use_codes_and_denial() {
    let sbx = sandbox();
    let (code, verifier) = sbx.authorize(sbx.provider.as_ref(), "sandbox-alice").await;
    let wrong = sbx
        .provider
        .exchange_code(&code, &new_pkce_verifier(), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&wrong, "invalid_grant");

    let (code, verifier2) = sbx.authorize(sbx.provider.as_ref(), "sandbox-alice").await;
    let set = sbx
        .provider
        .exchange_code(&code, &verifier2, Utc::now())
        .await
        .unwrap();
    // A code is single use; its reuse revokes what it produced.
    let again = sbx
        .provider
        .exchange_code(&code, &verifier2, Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&again, "invalid_grant");
    assert_reauth(
        &sbx.provider.identity(&set.access_token).await.unwrap_err(),
        "invalid_token",
    );
    let _ = verifier;

    // Deny, scripted.
    let url = sbx
        .provider
        .authorization_url("st-deny", &pkce_challenge_s256(&verifier2));
    let resp = sbx.browser.get(format!("{url}&auto_deny=1")).send().await;
    assert_eq!(resp.status(), 303);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q = query(&loc);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-deny");

    // An unregistered redirect_uri gets an error page, never a redirect.
    let mut bad = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "redirect_uri" {
                (k, "https://evil.example/cb".into())
            } else {
                (k, v)
            }
        })
        .collect();
    bad.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = sbx.browser.get(bad).send().await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[actix_web::test]
async fn sandbox_auto_approve_is_scriptable() {
    let sbx = sandbox();
    let verifier = new_pkce_verifier();
    let url = sbx
        .provider
        .authorization_url("st", &pkce_challenge_s256(&verifier));
    let resp = sbx
        .browser
        .get(format!("{url}&auto_approve=sandbox-bob"))
        .send()
        .await;
    assert_eq!(resp.status(), 303);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = query(&loc)["code"].clone();
    let set = sbx
        .provider
        .exchange_code(&code, &verifier, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        sbx.provider
            .identity(&set.access_token)
            .await
            .unwrap()
            .handle,
        "bob"
    );
}

#[actix_web::test]
async fn sandbox_failure_modes_are_classified() {
    let sbx = sandbox_with(HttpSettings {
        request_timeout: Duration::from_millis(400),
        ..HttpSettings::default()
    });
    let set = sbx.connect("sandbox-alice").await;
    let rt = set.refresh_token.clone().unwrap();
    let at = &set.access_token;
    let st = &sbx.state;

    st.queue_failure(Endpoint::Token, FailureMode::Status { status: 500 }, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Unavailable(500),
    );

    st.queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Unavailable(503),
    );

    st.queue_failure(
        Endpoint::Token,
        FailureMode::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let e = sbx
        .provider
        .refresh(at, Some(&rt), Utc::now())
        .await
        .unwrap_err();
    assert_transient(&e, TransientKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

    st.queue_failure(Endpoint::Token, FailureMode::Malformed, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Malformed,
    );

    st.queue_failure(Endpoint::Userinfo, FailureMode::Status { status: 502 }, 1);
    assert_transient(
        &sbx.provider.identity(at).await.unwrap_err(),
        TransientKind::Unavailable(502),
    );

    st.queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);
    assert_reauth(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    // Every attempt reached the network exactly once, and none spent the refresh token.
    let calls = st.calls();
    assert_eq!((calls.refresh, calls.userinfo), (5, 1), "{calls:?}");
    let renewed = sbx
        .provider
        .refresh(at, Some(&rt), Utc::now())
        .await
        .unwrap();
    assert_eq!(st.calls().refresh, 6);

    // A slow network: the configured 400 ms request timeout fires (the
    // answer would have come, and succeeded, after 1,500 ms).
    st.queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);
    let e = sbx
        .provider
        .refresh(
            &renewed.access_token,
            renewed.refresh_token.as_ref(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert_transient(&e, TransientKind::Timeout);
}

#[actix_web::test]
async fn sandbox_control_api_over_http_and_revocation_counted_once() {
    let sbx = sandbox();
    let client = Client::new(
        reqwest::Client::new(),
        sbx.base.as_str().trim_end_matches('/').to_string(),
    );
    let ctl = |p: &str| sbx.base.join(&format!("/sandbox/control/{p}")).unwrap();
    let r = client
        .post(ctl("identities"))
        .json(&serde_json::json!({"subject": "sbx-dave", "handle": "dave", "display_name": "Dave"}))
        .send()
        .await;
    assert_eq!(r.status(), 201);
    let r = client
        .request(reqwest::Method::PUT, ctl("settings"))
        .json(&serde_json::json!({"access_token_lifetime_secs": 120}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let set = sbx.connect("sbx-dave").await;
    let life = (set.expires_at - Utc::now()).num_seconds();
    assert!((110..=120).contains(&life), "{life}");

    // Expire: the access token dies, the refresh token still works.
    let r = client.post(ctl("grants/sbx-dave/expire")).send().await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["affected"], 1);
    assert_reauth(
        &sbx.provider.identity(&set.access_token).await.unwrap_err(),
        "invalid_token",
    );
    let renewed = sbx
        .provider
        .refresh(&set.access_token, set.refresh_token.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        sbx.provider
            .identity(&renewed.access_token)
            .await
            .unwrap()
            .subject,
        "sbx-dave"
    );

    // Queue a 429 through HTTP.
    let r = client.post(ctl("failures")).json(&serde_json::json!({"endpoint": "token", "mode": {"type": "rate_limited", "retry_after_secs": 3}, "count": 1})).send().await;
    assert_eq!(r.status(), 204);
    let e = sbx
        .provider
        .refresh(
            &renewed.access_token,
            renewed.refresh_token.as_ref(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

    // Revocation: exactly one call reaches the network, and the grant is dead.
    assert!(sbx.provider.supports_revocation());
    client.delete(ctl("calls")).send().await;
    sbx.provider
        .revoke(renewed.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let calls: serde_json::Value = client.get(ctl("calls")).send().await.json().await.unwrap();
    assert_eq!(calls["revoke"], 1);
    assert_eq!(calls["token"], 0);
    assert_reauth(
        &sbx.provider
            .refresh(
                &renewed.access_token,
                renewed.refresh_token.as_ref(),
                Utc::now(),
            )
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    // Revoke by subject through the control API.
    let other = sbx.connect("sandbox-alice").await;
    let r = client.post(ctl("grants/sandbox-alice/revoke")).send().await;
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["affected"], 1);
    assert_reauth(
        &sbx.provider
            .identity(&other.access_token)
            .await
            .unwrap_err(),
        "invalid_token",
    );
}

#[actix_web::test]
async fn generic_oauth2_provider_against_the_sandbox_with_post_auth() {
    let sbx = sandbox();
    let mut s = NetworkSettings::new(NetworkKind::OAuth2);
    let j = |p: &str| Some(sbx.base.join(p).unwrap().to_string());
    s.authorize_url = j("/sandbox/authorize");
    s.token_url = j("/sandbox/token");
    s.revoke_url = j("/sandbox/revoke");
    s.identity_url = j("/sandbox/userinfo");
    s.identity_subject = Some("/sub".into());
    s.identity_handle = Some("/preferred_username".into());
    s.identity_display_name = Some("/name".into());
    s.scopes = Some(vec!["openid".into(), "offline_access".into()]);
    s.client_id = Some(sandbox::CLIENT_ID.into());
    s.client_secret = Some(secret(sandbox::CLIENT_SECRET));
    s.client_auth = Some(ClientAuth::Post);
    let reg = ProviderRegistry::from_settings(
        &BTreeMap::from([("acme".to_owned(), s)]),
        &sbx.base,
        &HttpSettings::default(),
    )
    .unwrap();
    let acme = reg.get("acme").unwrap();
    assert_eq!(reg.names().collect::<Vec<_>>(), vec!["acme"]);
    sbx.state
        .register_redirect_uri(acme.callback_url().as_str());
    let (code, verifier) = sbx.authorize(acme.as_ref(), "sandbox-bob").await;
    let set = acme
        .exchange_code(&code, &verifier, Utc::now())
        .await
        .unwrap();
    assert_eq!(set.scopes, vec!["openid", "offline_access"]);
    let me = acme.identity(&set.access_token).await.unwrap();
    assert_eq!(
        (me.subject.as_str(), me.handle.as_str()),
        ("sandbox-bob", "bob")
    );
    assert_eq!(me.display_name.as_deref(), Some("Bob Sandbox"));
    assert_eq!(
        acme.refresh_plan(&grant(true, 1, 1), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::RefreshToken { rotating: false })
    );
    assert_eq!(
        acme.refresh_plan(&grant(false, 1, 1), Utc::now()),
        RefreshPlan::NeedsReauthorization(ReauthReason::NoRefreshToken)
    );
}
