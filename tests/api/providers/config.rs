//! Network configuration: the settings accepted and the ones refused.

use std::collections::BTreeMap;
use std::time::Duration;

use tokenwarden::providers::{HttpSettings, NetworkKind, NetworkSettings, ProviderRegistry};
use url::Url;

use super::{PUBLIC, secret};

fn build(
    name: &str,
    s: NetworkSettings,
    http: &HttpSettings,
) -> Result<ProviderRegistry, tokenwarden::providers::ConfigError> {
    ProviderRegistry::from_settings(
        &BTreeMap::from([(name.to_owned(), s)]),
        &Url::parse(PUBLIC).unwrap(),
        http,
    )
}

fn x_with_token_url(u: &str) -> NetworkSettings {
    let mut s = NetworkSettings::new(NetworkKind::X);
    s.client_id = Some("cid".into());
    s.client_secret = Some(secret("sec"));
    s.token_url = Some(u.into());
    s
}

#[test]
fn config_rejects_plain_http_off_loopback() {
    let http = HttpSettings::default();
    let e = build("x", x_with_token_url("http://api.example.com/token"), &http).unwrap_err();
    assert_eq!(e.network, "x");
    assert!(e.message.contains("token_url must use https"), "{e}");
    assert!(build("x", x_with_token_url("http://127.0.0.9:8080/token"), &http).is_ok());
    assert!(build("x", x_with_token_url("http://[::1]:8080/token"), &http).is_ok());
    assert!(build("x", x_with_token_url("http://localhost/token"), &http).is_ok());
    let strict = HttpSettings {
        allow_insecure_loopback: false,
        ..HttpSettings::default()
    };
    assert!(build("x", x_with_token_url("http://127.0.0.1/token"), &strict).is_err());
    assert!(build("x", x_with_token_url("ftp://api.example.com/token"), &http).is_err());
    assert!(
        build(
            "x",
            x_with_token_url("https://user:pw@api.example.com/token"),
            &http
        )
        .is_err()
    );
}

#[test]
fn config_validates_generic_networks_and_credentials() {
    let http = HttpSettings::default();
    let toml_like = serde_json::json!({
        "kind": "oauth2",
        "authorize_url": "https://id.acme.test/auth",
        "token_url": "https://id.acme.test/token",
        "identity_url": "https://id.acme.test/me",
        "identity_subject": "/sub",
        "identity_handle": "/preferred_username",
        "scopes": ["openid"],
        "client_id": "tokenwarden",
        "client_secret": "s3cret",
        "client_auth": "post"
    });
    let s: NetworkSettings = serde_json::from_value(toml_like.clone()).unwrap();
    let reg = build("acme", s, &http).unwrap();
    let acme = reg.get("acme").unwrap();
    assert_eq!(
        acme.callback_url().as_str(),
        "https://tokens.example.com/v1/oauth/callback/acme"
    );
    assert!(!acme.supports_revocation());
    assert!(!format!("{acme:?}").contains("s3cret"));

    let mut missing = toml_like.clone();
    missing.as_object_mut().unwrap().remove("token_url");
    let e = build("acme", serde_json::from_value(missing).unwrap(), &http).unwrap_err();
    assert!(e.message.contains("token_url is required"), "{e}");

    let mut no_secret = toml_like.clone();
    no_secret.as_object_mut().unwrap().remove("client_secret");
    let e = build("acme", serde_json::from_value(no_secret).unwrap(), &http).unwrap_err();
    assert!(e.message.contains("client_secret"), "{e}");

    let mut bad_ptr = toml_like.clone();
    bad_ptr["identity_subject"] = "sub".into();
    assert!(build("acme", serde_json::from_value(bad_ptr).unwrap(), &http).is_err());

    let mut unknown = toml_like.clone();
    unknown["kind"] = "myspace".into();
    assert!(serde_json::from_value::<NetworkSettings>(unknown).is_err());
    let mut extra = toml_like;
    extra["client_sekret"] = "typo".into();
    assert!(serde_json::from_value::<NetworkSettings>(extra).is_err());

    // A preset needs only credentials; one from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-file\n").unwrap();
    let mut tt = NetworkSettings::new(NetworkKind::TikTok);
    tt.client_id = Some("ck".into());
    tt.client_secret_file = Some(path);
    let reg = build("tiktok", tt, &http).unwrap();
    assert_eq!(
        reg.get("tiktok").unwrap().refresh_lead(),
        Duration::from_secs(3600)
    );
    let mut none = NetworkSettings::new(NetworkKind::Pinterest);
    none.client_id = Some("p".into());
    assert!(build("pinterest", none, &http).is_err());
    assert!(build("Bad Name", x_with_token_url("https://a.example/t"), &http).is_err());
}

#[test]
fn http_settings_deserialize_with_defaults_and_humantime() {
    let h: HttpSettings =
        serde_json::from_value(serde_json::json!({"connect_timeout": "2s", "request_timeout": 9}))
            .unwrap();
    assert_eq!(h.connect_timeout, Duration::from_secs(2));
    assert_eq!(h.request_timeout, Duration::from_secs(9));
    assert_eq!(h.max_body_bytes, 1024 * 1024);
    assert!(h.allow_insecure_loopback);
    assert!(serde_json::from_value::<HttpSettings>(serde_json::json!({"timeout": 1})).is_err());
}

/// Outside development mode the sandbox and plain-http networks are refused
/// at start, with an error that says why and what to do.
#[test]
fn production_refuses_the_sandbox_and_plain_http_networks() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tokenwarden::crypto::KeyRing::generate_entry();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut settings = crate::helpers::test_settings(dir.path(), &url, &keys);
    settings.dev = false;

    // The sandbox signs anyone in as anyone: development only.
    settings.sandbox = true;
    let refused = settings.validate().unwrap_err().to_string();
    assert!(
        refused.contains("sandbox") && refused.contains("--dev"),
        "{refused}"
    );
    settings.dev = true;
    assert!(settings.validate().is_ok());

    // A network on plain http, even on loopback, is honoured in development mode only.
    settings.sandbox = false;
    settings
        .networks
        .insert("x".into(), x_with_token_url("http://127.0.0.1:9/token"));
    let public = Url::parse(PUBLIC).unwrap();
    assert!(
        ProviderRegistry::from_settings(&settings.networks, &public, &settings.outbound_calls())
            .is_ok()
    );
    settings.dev = false;
    let refused =
        ProviderRegistry::from_settings(&settings.networks, &public, &settings.outbound_calls())
            .unwrap_err()
            .to_string();
    assert!(
        refused.contains("must use https") && refused.contains("--dev"),
        "{refused}"
    );
}
