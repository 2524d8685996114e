//! The quirks that `tests/api/providers/` does not reach, against a bare HTTP fake: answers
//! that `oauth2` alone would refuse or accept wrongly, RFC 7009 revocation requests, and the
//! long-lived upgrade that fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::OAuthProvider;
use crate::providers::{
    HttpSettings, NetworkKind, NetworkSettings, Provider, ProviderError, TransientKind,
};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    form: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A canned answer: status, content type, extra headers, body.
type Canned = (u16, &'static str, Vec<(&'static str, &'static str)>, String);

/// Serve `answers` in order, one connection each, on a loopback port.
fn fake(answers: Vec<Canned>) -> (Url, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, media, headers, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let target = parts.next().unwrap_or("").to_owned();
            let mut request_headers = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let Some((k, v)) = h.trim_end().split_once(':') else {
                    break;
                };
                request_headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
            }
            let len = request_headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut raw = vec![0; len];
            reader.read_exact(&mut raw).unwrap();
            log.lock().unwrap().push(Seen {
                method,
                target,
                headers: request_headers,
                form: url::form_urlencoded::parse(&raw).into_owned().collect(),
            });
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: {media}\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let mut stream = reader.into_inner();
            stream
                .write_all(format!("{head}\r\n{body}").as_bytes())
                .unwrap();
        }
    });
    (url, seen)
}

fn json(status: u16, body: serde_json::Value) -> Canned {
    (status, "application/json", vec![], body.to_string())
}

fn provider(kind: NetworkKind, base: &Url) -> OAuthProvider {
    let at = |p: &str| Some(base.join(p).unwrap().to_string());
    let mut s = NetworkSettings::new(kind);
    s.client_id = Some("cid".into());
    s.client_secret = Some(SecretString::from("csecret-value"));
    s.authorize_url = at("/authorize");
    s.token_url = at("/token");
    s.identity_url = at("/me");
    s.revoke_url = at("/revoke");
    s.exchange_url = at("/access_token");
    s.refresh_url = at("/refresh_access_token");
    let public = Url::parse("https://tokens.example.com").unwrap();
    OAuthProvider::from_settings(kind.as_str(), &s, &public, &HttpSettings::default()).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

#[tokio::test]
async fn token_answers_count_on_any_2xx_whatever_their_media_type() {
    let (base, _) = fake(vec![
        (
            201,
            "text/javascript; charset=UTF-8",
            vec![],
            r#"{"access_token": "a-2", "expires_in": "3600", "refresh_token": "r-2"}"#.into(),
        ),
        (
            200,
            "text/plain",
            vec![],
            r#"{"access_token": "a-3"}"#.into(),
        ),
    ]);
    let x = provider(NetworkKind::X, &base);
    let set = x
        .refresh(&secret("a-1"), Some(&secret("r-1")), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "a-2");
    let life = (set.expires_at - Utc::now()).num_seconds();
    assert!((3590..=3600).contains(&life), "{life}");
    let set = x
        .refresh(&secret("a-2"), Some(&secret("r-2")), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "a-3");
}

#[tokio::test]
async fn a_success_status_does_not_make_a_token_answer() {
    let (base, _) = fake(vec![
        json(
            200,
            serde_json::json!({"access_token": "a", "error": "invalid_grant"}),
        ),
        (200, "application/json", vec![], "ok".into()),
        json(200, serde_json::json!({"token": "a"})),
        (202, "application/json", vec![], String::new()),
    ]);
    let pin = provider(NetworkKind::Pinterest, &base);
    let (access, rt) = (secret("a"), secret("r"));
    let refresh = || pin.refresh(&access, Some(&rt), Utc::now());
    match refresh().await.unwrap_err() {
        ProviderError::ReauthRequired { code, .. } => assert_eq!(code, "invalid_grant"),
        e => panic!("{e:?}"),
    }
    for detail in [
        "HTTP 200: token answer is not JSON",
        "token answer has no access_token",
        "HTTP 202: token answer is not JSON",
    ] {
        match refresh().await.unwrap_err() {
            ProviderError::Transient {
                kind: TransientKind::Malformed,
                detail: d,
                ..
            } => assert_eq!(d, detail),
            e => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn rfc7009_revocation_sends_the_token_alone_with_the_networks_client_auth() {
    let (base, seen) = fake(vec![
        (200, "text/html", vec![], String::new()),
        json(400, serde_json::json!({"error": "invalid_token"})),
        json(200, serde_json::json!({"error": "invalid_request"})),
        json(503, serde_json::json!({})),
        json(200, serde_json::json!({})),
    ]);
    let tt = provider(NetworkKind::TikTok, &base);
    assert!(tt.supports_revocation());
    tt.revoke(&secret("act.1")).await.unwrap();
    // Already invalid at the network: that is revoked.
    tt.revoke(&secret("act.1")).await.unwrap();
    assert!(matches!(
        tt.revoke(&secret("act.1")).await.unwrap_err(),
        ProviderError::Rejected { code, status: Some(200), .. } if code == "invalid_request"
    ));
    assert!(matches!(
        tt.revoke(&secret("act.1")).await.unwrap_err(),
        ProviderError::Transient {
            kind: TransientKind::Unavailable(503),
            ..
        }
    ));
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!((s.method.as_str(), s.target.as_str()), ("POST", "/revoke"));
    assert_eq!(s.field("token"), Some("act.1"));
    assert_eq!(s.field("client_key"), Some("cid"));
    assert_eq!(s.field("client_secret"), Some("csecret-value"));
    assert_eq!(s.field("client_id"), None);
    assert_eq!(s.field("token_type_hint"), None);

    let x = provider(NetworkKind::X, &base);
    x.revoke(&secret("x-rt")).await.unwrap();
    let s = seen.lock().unwrap()[4].clone();
    assert_eq!(s.form, vec![("token".to_owned(), "x-rt".to_owned())]);
    assert!(s.header("authorization").unwrap().starts_with("Basic "));
}

#[tokio::test]
async fn a_failed_long_lived_upgrade_keeps_the_short_lived_token() {
    let (base, seen) = fake(vec![
        json(
            200,
            serde_json::json!({"access_token": "TH-short", "user_id": 7, "expires_in": 3600}),
        ),
        (
            429,
            "application/json",
            vec![("retry-after", "30")],
            r#"{"error": {"message": "slow down", "code": 4}}"#.into(),
        ),
    ]);
    let th = provider(NetworkKind::Threads, &base);
    let set = th
        .exchange_code("code-1", &"v".repeat(43), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "TH-short");
    assert_eq!(set.scopes, vec!["threads_basic", "threads_content_publish"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].field("client_id"), Some("cid"));
    assert_eq!(seen[0].field("code"), Some("code-1"));
    assert_eq!(seen[1].method, "GET");
    let q: Vec<(String, String)> = Url::parse(&format!("http://h{}", seen[1].target))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        q,
        [
            ("grant_type", "th_exchange_token"),
            ("client_secret", "csecret-value"),
            ("access_token", "TH-short"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[tokio::test]
async fn the_authorization_url_is_the_crates_with_the_networks_spelling() {
    let (base, _) = fake(vec![]);
    let fb = provider(NetworkKind::Facebook, &base);
    let u = fb.authorization_url("st-1", "ch-1");
    let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("client_id"), Some("cid"));
    assert_eq!(get("state"), Some("st-1"));
    assert_eq!(get("code_challenge"), Some("ch-1"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(
        get("redirect_uri"),
        Some("https://tokens.example.com/v1/oauth/callback/facebook")
    );
    assert_eq!(u.path(), "/authorize");
}
