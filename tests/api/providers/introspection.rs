//! Asking networks about tokens over real HTTP (issue 19, the network side): RFC 7662 at the
//! sandbox and at a local fake with both client authentications, Graph's `debug_token`, Google's
//! `tokeninfo`, the fault rows that must never read as "invalid", and the re-authorization URL
//! that asks for missing scopes.

use std::time::Duration;

use chrono::DateTime;
use serde_json::json;
use tokenwarden::providers::{
    HttpSettings, Introspection, NetworkKind, NetworkSettings, ProviderError, ProviderRegistry,
    TransientKind,
};
use tokenwarden::sandbox::{Endpoint, FailureMode};
use url::Url;

use super::{Fake, PUBLIC, assert_transient, preset_at, query, sandbox, sandbox_with, secret};

fn valid_scopes(i: &Introspection) -> Vec<String> {
    match i {
        Introspection::Valid { scopes, .. } => scopes.clone().expect("the network named scopes"),
        other => panic!("expected Valid, got {other:?}"),
    }
}

fn assert_invalid(i: &Introspection, reason: &str) {
    match i {
        Introspection::Invalid { reason: r, .. } => assert_eq!(r, reason, "{i:?}"),
        other => panic!("expected Invalid({reason}), got {other:?}"),
    }
}

#[actix_web::test]
async fn the_sandbox_answers_rfc_7662_for_a_live_token_and_inactive_once_its_grant_is_revoked() {
    let sb = sandbox();
    let set = sb.connect("sandbox-alice").await;
    assert_eq!(
        set.granted_scopes.as_deref(),
        Some(&["profile".to_owned(), "publish".to_owned()][..]),
        "the token answer's scope is what the network granted"
    );
    assert!(sb.provider.supports_introspection());

    let live = sb.provider.introspect(&set.access_token).await.unwrap();
    assert_eq!(valid_scopes(&live), ["profile", "publish"]);
    let Introspection::Valid { expires_at, .. } = live else {
        unreachable!()
    };
    let exp = expires_at.expect("the sandbox says exp");
    assert!(
        (exp - set.expires_at).num_seconds().abs() <= 2,
        "{exp} vs {}",
        set.expires_at
    );
    assert_eq!(sb.state.calls().introspect, 1);

    // What a password change does at a real network: every token of the person dies there.
    assert_eq!(sb.state.revoke_grants("sandbox-alice"), 1);
    let dead = sb.provider.introspect(&set.access_token).await.unwrap();
    assert_invalid(&dead, "inactive");
    let unknown = sb
        .provider
        .introspect(&secret("sbx_at_never-issued"))
        .await
        .unwrap();
    assert_invalid(&unknown, "inactive");
}

/// The fault matrix's rows for introspection: none of them is a verdict on the token.
#[actix_web::test]
async fn timeouts_5xx_429_and_malformed_answers_are_transient_never_invalid() {
    let sb = sandbox_with(HttpSettings {
        request_timeout: Duration::from_millis(400),
        ..HttpSettings::default()
    });
    let set = sb.connect("sandbox-bob").await;
    let introspect = || sb.provider.introspect(&set.access_token);

    sb.state.queue_failure(
        Endpoint::Introspect,
        FailureMode::Slow { delay_ms: 2000 },
        1,
    );
    assert_transient(&introspect().await.unwrap_err(), TransientKind::Timeout);

    sb.state
        .queue_failure(Endpoint::Introspect, FailureMode::Status { status: 500 }, 1);
    assert_transient(
        &introspect().await.unwrap_err(),
        TransientKind::Unavailable(500),
    );

    sb.state.queue_failure(
        Endpoint::Introspect,
        FailureMode::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let limited = introspect().await.unwrap_err();
    assert_transient(&limited, TransientKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));

    sb.state
        .queue_failure(Endpoint::Introspect, FailureMode::Malformed, 1);
    assert_transient(&introspect().await.unwrap_err(), TransientKind::Malformed);

    sb.state
        .queue_failure(Endpoint::Introspect, FailureMode::Html, 1);
    assert_transient(&introspect().await.unwrap_err(), TransientKind::Malformed);

    // The token was never in question: asked again, the network says it works.
    assert_eq!(
        valid_scopes(&introspect().await.unwrap()),
        ["profile", "publish"]
    );
}

fn oauth2_at(
    fake: &Url,
    client_auth: &str,
) -> std::sync::Arc<dyn tokenwarden::providers::Provider> {
    let auth = serde_json::from_value(json!(client_auth)).unwrap();
    preset_at(NetworkKind::OAuth2, fake, &HttpSettings::default(), |s| {
        s.identity_subject = Some("/sub".into());
        s.identity_handle = Some("/name".into());
        s.introspection_url = Some(fake.join("/introspect").unwrap().to_string());
        s.client_auth = Some(auth);
    })
}

#[actix_web::test]
async fn an_oauth2_network_is_introspected_with_basic_client_authentication() {
    let fake = Fake::default();
    let base = fake.start();
    let net = oauth2_at(&base, "basic");
    assert!(net.supports_introspection());
    fake.on(
        "/introspect",
        200,
        json!({"active": true, "scope": "read write", "exp": 1_900_000_000, "token_type": "Bearer"}),
    )
    .on("/introspect", 200, json!({"active": false}));

    let live = net.introspect(&secret("at-1")).await.unwrap();
    assert_eq!(
        live,
        Introspection::Valid {
            expires_at: DateTime::from_timestamp(1_900_000_000, 0),
            scopes: Some(vec!["read".into(), "write".into()]),
            data_access_expires_at: None,
        }
    );
    assert_invalid(&net.introspect(&secret("at-2")).await.unwrap(), "inactive");

    let seen = fake.seen_on("/introspect");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].form["token"], "at-1");
    assert_eq!(seen[0].form["token_type_hint"], "access_token");
    assert!(
        !seen[0].form.contains_key("client_secret"),
        "{:?}",
        seen[0].form
    );
    let basic = seen[0].authorization.as_deref().expect("HTTP Basic");
    assert!(basic.starts_with("Basic "), "{basic}");
}

#[actix_web::test]
async fn an_oauth2_network_is_introspected_with_client_credentials_in_the_body() {
    let fake = Fake::default();
    let base = fake.start();
    let net = oauth2_at(&base, "post");
    fake.on("/introspect", 200, json!({"active": true}));
    let live = net.introspect(&secret("at-1")).await.unwrap();
    assert_eq!(
        live,
        Introspection::Valid {
            expires_at: None,
            scopes: None,
            data_access_expires_at: None,
        }
    );
    let seen = &fake.seen_on("/introspect")[0];
    assert_eq!(seen.form["client_id"], "cid");
    assert_eq!(seen.form["client_secret"], "csecret-value");
    assert!(seen.authorization.is_none());
}

/// A refusal of the client is the deployment's fault, never a dead token.
#[actix_web::test]
async fn a_refused_client_or_app_token_is_misconfiguration_not_an_invalid_token() {
    let fake = Fake::default();
    let base = fake.start();
    let net = oauth2_at(&base, "basic");
    fake.on("/introspect", 401, json!({"error": "invalid_client"}))
        .on("/introspect", 401, json!({}));
    for _ in 0..2 {
        let e = net.introspect(&secret("at-1")).await.unwrap_err();
        assert!(e.is_misconfigured(), "{e:?}");
    }

    let fb = facebook_at(&base);
    fake.on("/debug_token", 400, json!({"error": {"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190}}));
    let e = fb.introspect(&secret("EAA-person")).await.unwrap_err();
    assert!(e.is_misconfigured(), "{e:?}");
    assert!(!format!("{e:?}").contains("csecret-value"), "{e:?}");
}

fn facebook_at(fake: &Url) -> std::sync::Arc<dyn tokenwarden::providers::Provider> {
    preset_at(NetworkKind::Facebook, fake, &HttpSettings::default(), |s| {
        s.introspection_url = Some(fake.join("/debug_token").unwrap().to_string());
    })
}

#[actix_web::test]
async fn graph_debug_token_reads_valid_never_expiring_and_dead_tokens_with_the_app_token() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = facebook_at(&base);
    assert!(fb.supports_introspection());

    // A person's long-lived token: an expiry, data access for 90 days, granular scopes.
    fake.on(
        "/debug_token",
        200,
        json!({"data": {
            "app_id": "cid", "type": "USER", "application": "Suite", "is_valid": true,
            "expires_at": 1_800_000_000, "data_access_expires_at": 1_790_000_000,
            "issued_at": 1_780_000_000, "user_id": "10001",
            "scopes": ["public_profile", "pages_show_list"],
            "granular_scopes": [{"scope": "pages_show_list", "target_ids": ["55"]},
                                {"scope": "pages_read_engagement", "target_ids": ["55"]}]
        }}),
    );
    let person = fb.introspect(&secret("EAA-person")).await.unwrap();
    assert_eq!(
        person,
        Introspection::Valid {
            expires_at: DateTime::from_timestamp(1_800_000_000, 0),
            scopes: Some(vec![
                "public_profile".into(),
                "pages_show_list".into(),
                "pages_read_engagement".into()
            ]),
            data_access_expires_at: DateTime::from_timestamp(1_790_000_000, 0),
        }
    );
    let seen = &fake.seen_on("/debug_token")[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.query["input_token"], "EAA-person");
    assert_eq!(seen.query["access_token"], "cid|csecret-value");

    // A Page token from a long-lived user token: `expires_at: 0`, it never expires on the clock.
    fake.on(
        "/debug_token",
        200,
        json!({"data": {
            "app_id": "cid", "type": "PAGE", "is_valid": true, "expires_at": 0,
            "data_access_expires_at": 0, "profile_id": "55", "scopes": ["pages_manage_posts"]
        }}),
    );
    let page = fb.introspect(&secret("EAA-page")).await.unwrap();
    assert_eq!(
        page,
        Introspection::Valid {
            expires_at: None,
            scopes: Some(vec!["pages_manage_posts".into()]),
            data_access_expires_at: None,
        }
    );

    // Dead tokens: Graph's 190 with the subcode that says why.
    for (subcode, reason) in [
        (460, "password_changed"),
        (458, "app_removed"),
        (492, "session_invalidated"),
        (463, "token_expired"),
    ] {
        fake.on(
            "/debug_token",
            200,
            json!({"data": {
                "app_id": "cid", "is_valid": false, "scopes": [],
                "error": {"code": 190, "subcode": subcode,
                          "message": "Error validating access token: EAA-page is dead"}
            }}),
        );
        let dead = fb.introspect(&secret("EAA-page")).await.unwrap();
        assert_invalid(&dead, reason);
        let Introspection::Invalid { detail, .. } = dead else {
            unreachable!()
        };
        assert!(detail.contains("Error validating access token"), "{detail}");
        assert!(
            !detail.contains("EAA-page"),
            "the token is scrubbed: {detail}"
        );
    }

    // Graph's own trouble is transient, with its Retry-After.
    fake.on_raw(
        "/debug_token",
        429,
        &[("Retry-After", "11")],
        &json!({"error": {"message": "(#4) Application request limit reached", "code": 4}})
            .to_string(),
    );
    let limited = fb.introspect(&secret("EAA-page")).await.unwrap_err();
    assert_transient(&limited, TransientKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(11)));
    fake.on(
        "/debug_token",
        500,
        json!({"error": {"message": "An unknown error occurred", "code": 1}}),
    );
    assert!(
        fb.introspect(&secret("EAA-page"))
            .await
            .unwrap_err()
            .is_transient()
    );
    fake.on("/debug_token", 200, json!({"data": {"app_id": "cid"}}));
    assert_transient(
        &fb.introspect(&secret("EAA-page")).await.unwrap_err(),
        TransientKind::Malformed,
    );
}

#[actix_web::test]
async fn google_tokeninfo_reads_scopes_and_a_dead_token() {
    let fake = Fake::default();
    let base = fake.start();
    let yt = preset_at(NetworkKind::YouTube, &base, &HttpSettings::default(), |s| {
        s.introspection_url = Some(base.join("/tokeninfo").unwrap().to_string());
    });
    assert!(yt.supports_introspection());
    fake.on("/tokeninfo", 200, json!({
        "azp": "cid", "aud": "cid", "sub": "1234",
        "scope": "https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/youtube.upload",
        "exp": "1900000000", "expires_in": "3599", "access_type": "offline"
    }))
    .on("/tokeninfo", 400, json!({"error": "invalid_token", "error_description": "Invalid Value"}))
    .on("/tokeninfo", 503, json!({"error": "backendError"}));
    let live = yt.introspect(&secret("ya29.live")).await.unwrap();
    assert_eq!(
        live,
        Introspection::Valid {
            expires_at: DateTime::from_timestamp(1_900_000_000, 0),
            scopes: Some(vec![
                "https://www.googleapis.com/auth/youtube.readonly".into(),
                "https://www.googleapis.com/auth/youtube.upload".into()
            ]),
            data_access_expires_at: None,
        }
    );
    assert_eq!(
        fake.seen_on("/tokeninfo")[0].query["access_token"],
        "ya29.live"
    );
    assert_invalid(
        &yt.introspect(&secret("ya29.dead")).await.unwrap(),
        "invalid_token",
    );
    assert!(
        yt.introspect(&secret("ya29.x"))
            .await
            .unwrap_err()
            .is_transient()
    );
}

#[actix_web::test]
async fn networks_without_introspection_send_nothing_and_refuse_the_setting() {
    let fake = Fake::default();
    let base = fake.start();
    for kind in [
        NetworkKind::X,
        NetworkKind::TikTok,
        NetworkKind::LinkedIn,
        NetworkKind::Pinterest,
    ] {
        let net = preset_at(kind, &base, &HttpSettings::default(), |_| {});
        assert!(!net.supports_introspection(), "{kind}");
        let e = net.introspect(&secret("t")).await.unwrap_err();
        assert!(
            matches!(&e, ProviderError::Rejected { code, .. } if code == "introspection_unsupported"),
            "{e:?}"
        );
    }
    // Instagram documents no introspection of its own: only a configured `debug_token` is asked.
    let ig = preset_at(
        NetworkKind::Instagram,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    assert!(!ig.supports_introspection());
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());

    let mut s = NetworkSettings::new(NetworkKind::X);
    s.client_id = Some("cid".into());
    s.client_secret = Some(secret("csecret-value"));
    s.introspection_url = Some("https://api.x.com/introspect".into());
    let e = ProviderRegistry::from_settings(
        &std::collections::BTreeMap::from([("x".to_owned(), s)]),
        &Url::parse(PUBLIC).unwrap(),
        &HttpSettings::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("introspection_url does not apply"),
        "{e}"
    );
}

#[actix_web::test]
async fn a_reauthorization_asks_for_the_missing_scopes_in_each_network_s_way() {
    let fake = Fake::default();
    let base = fake.start();
    let missing = vec!["read_insights".to_owned(), "pages_manage_posts".to_owned()];

    let fb = facebook_at(&base);
    let plain = query(&fb.authorization_url("st", "challenge"));
    assert!(
        !plain.contains_key("auth_type"),
        "existing callers are unchanged"
    );
    let again = query(&fb.reauthorization_url("st", "challenge", &missing));
    assert_eq!(again["auth_type"], "rerequest");
    assert_eq!(
        again["scope"],
        "public_profile,pages_show_list,pages_read_engagement,pages_manage_posts,read_insights"
    );
    assert_eq!(again["state"], "st");
    assert_eq!(again["code_challenge"], "challenge");
    assert_eq!(again["redirect_uri"], plain["redirect_uri"]);

    let yt = preset_at(
        NetworkKind::YouTube,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    let upload = vec!["https://www.googleapis.com/auth/yt-analytics.readonly".to_owned()];
    let url = yt.reauthorization_url("st", "challenge", &upload);
    let q = query(&url);
    assert_eq!(q["include_granted_scopes"], "true");
    assert_eq!(
        url.query_pairs()
            .filter(|(k, _)| k == "include_granted_scopes")
            .count(),
        1
    );
    assert!(
        q["scope"].ends_with(" https://www.googleapis.com/auth/yt-analytics.readonly"),
        "{}",
        q["scope"]
    );
    assert!(!q.contains_key("auth_type"));

    let x = preset_at(NetworkKind::X, &base, &HttpSettings::default(), |_| {});
    let q = query(&x.reauthorization_url("st", "challenge", &["dm.read".to_owned()]));
    assert_eq!(
        q["scope"],
        "tweet.read tweet.write users.read offline.access dm.read"
    );
    assert!(!q.contains_key("auth_type") && !q.contains_key("include_granted_scopes"));

    // Nothing missing: the plain authorization URL.
    assert_eq!(
        x.reauthorization_url("st", "challenge", &[]),
        x.authorization_url("st", "challenge")
    );
}
