//! Outbound HTTP: redirects not followed, bodies capped, unreachable networks
//! transient, no token in any log line, secrets redacted, `Retry-After` read.

use std::time::Duration;

use chrono::Utc;
use tokenwarden::providers::{
    HttpSettings, NetworkKind, ProviderError, TransientKind, redact_text, redact_url,
};
use url::Url;

use super::{Fake, assert_transient, preset_at, secret};

#[actix_web::test]
async fn redirects_are_not_followed_and_bodies_are_capped() {
    let target = Fake::default();
    let target_url = target.start();
    target.on("/token", 200, serde_json::json!({"access_token": "stolen"}));
    let fake = Fake::default();
    let base = fake.start();
    let x = preset_at(NetworkKind::X, &base, &HttpSettings::default(), |_| {});
    let to = target_url.join("/token").unwrap().to_string();
    fake.on_raw("/token", 302, &[("location", to.as_str())], "");
    let e = x
        .refresh(&secret("a"), Some(&secret("r")), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { code, status: Some(302), .. } if code == "redirect"),
        "{e:?}"
    );
    assert!(
        target.seen().is_empty(),
        "the redirect target must not be called"
    );

    let small = preset_at(
        NetworkKind::X,
        &base,
        &HttpSettings {
            max_body_bytes: 1024,
            ..HttpSettings::default()
        },
        |_| {},
    );
    let big = format!("{{\"access_token\": \"{}\"}}", "a".repeat(4096));
    fake.on_raw("/token", 200, &[], &big);
    assert_transient(
        &small
            .refresh(&secret("a"), Some(&secret("r")), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Malformed,
    );

    // Nothing listening: a connection failure is transient.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dead = preset_at(
        NetworkKind::X,
        &Url::parse(&format!("http://{closed}")).unwrap(),
        &HttpSettings::default(),
        |_| {},
    );
    assert_transient(
        &dead
            .refresh(&secret("a"), Some(&secret("r")), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Connect,
    );
}

#[actix_web::test]
async fn outbound_log_lines_never_contain_tokens() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = preset_at(
        NetworkKind::Facebook,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    // The binary's one global subscriber captures every test's lines; the
    // other tests' outbound lines are searched too and must not leak either.
    crate::helpers::captured_logs();
    fake.on(
        "/token",
        200,
        serde_json::json!({"access_token": "EAA-new-secret", "expires_in": 5184000}),
    );
    fb.refresh(&secret("EAA-old-secret"), None, Utc::now())
        .await
        .unwrap();
    fake.on(
        "/me",
        500,
        serde_json::json!({"error": {"message": "boom for EAA-old-secret", "code": 2}}),
    );
    let e = fb.identity(&secret("EAA-old-secret")).await.unwrap_err();
    assert_transient(&e, TransientKind::Unavailable(500));
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.contains("outbound request") && logs.contains("fb_exchange_token=REDACTED"),
        "{logs}"
    );
    assert!(logs.contains("access_token=REDACTED"), "{logs}");
    for leak in ["EAA-old-secret", "EAA-new-secret", "csecret-value"] {
        assert!(!logs.contains(leak), "{leak} leaked: {logs}");
    }
    assert!(!format!("{e}").contains("EAA-old-secret"));
}

#[test]
fn redaction_functions() {
    let u = Url::parse(
        "https://graph.facebook.com/v21.0/me?fields=id&access_token=EAAB123&appsecret_proof=abc",
    )
    .unwrap();
    assert_eq!(
        redact_url(&u),
        "https://graph.facebook.com/v21.0/me?fields=id&access_token=REDACTED&appsecret_proof=REDACTED"
    );
    let t = redact_text(
        "POST body refresh_token=rt1&grant_type=refresh_token {\"access_token\":\"at1\"} Bearer at2",
    );
    assert!(
        !t.contains("rt1") && !t.contains("at1") && !t.contains("at2"),
        "{t}"
    );
    assert!(t.contains("grant_type=refresh_token"));
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
    assert_eq!(
        tokenwarden::providers::parse_retry_after(&h, now),
        Some(Duration::from_secs(120))
    );
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:29:30 GMT"),
    );
    assert_eq!(
        tokenwarden::providers::parse_retry_after(&h, now),
        Some(Duration::from_secs(90))
    );
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(tokenwarden::providers::parse_retry_after(&h, now), None);
}
