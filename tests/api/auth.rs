//! Every JWT failure mode answers 401 with `WWW-Authenticate`; scopes answer 403.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{Backend, HS256_SECRET, TestApp, assert_problem};
use crate::on_both_backends;

pub(crate) fn claims(app: &TestApp) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": app.settings.jwt.issuer,
        "aud": app.settings.jwt.audience,
        "sub": "user-1",
        "org": app.org_id,
        "scope": "accounts:read",
        "exp": now + 600,
        "iat": now,
    })
}

pub(crate) fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(HS256_SECRET.as_bytes()),
    )
    .unwrap()
}

pub(crate) async fn assert_unauthorized(app: &TestApp, token: &str, case: &str) {
    let response = app.get("/v1/brands").bearer(token).send().await;
    assert_eq!(response.status(), 401, "{case}");
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\"",
        "{case}"
    );
    assert_problem(response, 401, "unauthorized").await;
}

const RSA_PRIVATE: &str = include_str!("../fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../fixtures/rsa_public.pem");
const ED_PRIVATE: &str = include_str!("../fixtures/ed25519_private.pem");
const ED_PUBLIC: &str = include_str!("../fixtures/ed25519_public.pem");

async fn app_with_public_keys() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |s| {
        s.jwt.keys = vec![
            tokenwarden::config::JwtPublicKey {
                kid: "rsa-1".into(),
                algorithm: tokenwarden::config::JwtKeyAlgorithm::RS256,
                public_key_pem: Some(RSA_PUBLIC.into()),
                public_key_file: None,
            },
            tokenwarden::config::JwtPublicKey {
                kid: "ed-1".into(),
                algorithm: tokenwarden::config::JwtKeyAlgorithm::EdDSA,
                public_key_pem: Some(ED_PUBLIC.into()),
                public_key_file: None,
            },
        ];
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_jwt_failure_mode_is_401() {
    let app = app_with_public_keys().await;
    // Arrange: a valid token works, so each failure below is the one change.
    let good = hs256(&claims(&app));
    assert_eq!(
        app.get("/v1/brands").bearer(&good).send().await.status(),
        200
    );

    let mut expired = claims(&app);
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    assert_unauthorized(&app, &hs256(&expired), "expired").await;

    let mut wrong_aud = claims(&app);
    wrong_aud["aud"] = json!("someone-else");
    assert_unauthorized(&app, &hs256(&wrong_aud), "wrong aud").await;

    let mut wrong_iss = claims(&app);
    wrong_iss["iss"] = json!("https://evil.example");
    assert_unauthorized(&app, &hs256(&wrong_iss), "wrong iss").await;

    let mut no_org = claims(&app);
    no_org.as_object_mut().unwrap().remove("org");
    assert_unauthorized(&app, &hs256(&no_org), "missing org").await;

    let mut no_exp = claims(&app);
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_unauthorized(&app, &hs256(&no_exp), "missing exp").await;

    let mut not_yet = claims(&app);
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 600);
    assert_unauthorized(&app, &hs256(&not_yet), "nbf in the future").await;

    // alg: none, unsigned.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(&app).to_string())
    );
    assert_unauthorized(&app, &none, "alg none").await;

    // Algorithm confusion: HS256 "signed" with the server's RSA public key,
    // with and without the RSA key's kid.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = encode(
        &header,
        &claims(&app),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    assert_unauthorized(&app, &confused, "HS256 with RSA public key and kid").await;
    let confused_no_kid = encode(
        &Header::new(Algorithm::HS256),
        &claims(&app),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    assert_unauthorized(&app, &confused_no_kid, "HS256 with RSA public key").await;

    // Unknown kid.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-unknown".into());
    let unknown_kid = encode(
        &header,
        &claims(&app),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_unauthorized(&app, &unknown_kid, "unknown kid").await;

    // Garbage, a wrong scheme, and no header at all.
    assert_unauthorized(&app, "not.a.jwt", "garbage").await;
    let response = app
        .get("/v1/brands")
        .header("Authorization", format!("Basic {good}"))
        .send()
        .await;
    assert_problem(response, 401, "unauthorized").await;
    let response = app.get("/v1/brands").send().await;
    assert_problem(response, 401, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_eddsa_tokens_by_kid_are_accepted() {
    let app = app_with_public_keys().await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let rsa = encode(
        &header,
        &claims(&app),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        app.get("/v1/brands").bearer(&rsa).send().await.status(),
        200
    );

    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("ed-1".into());
    let ed = encode(
        &header,
        &claims(&app),
        &EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(app.get("/v1/brands").bearer(&ed).send().await.status(), 200);

    // An EdDSA token presented under the RSA key's kid is refused.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("rsa-1".into());
    let swapped = encode(
        &header,
        &claims(&app),
        &EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_unauthorized(&app, &swapped, "EdDSA under an RS256 kid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leeway_accepts_a_token_expired_seconds_ago() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut recent = claims(&app);
    recent["exp"] = json!(chrono::Utc::now().timestamp() - 5);
    assert_eq!(
        app.get("/v1/brands")
            .bearer(hs256(&recent))
            .send()
            .await
            .status(),
        200
    );
}

async fn missing_scope_is_403(app: TestApp) {
    let read_only = app.token(&app.org_id, "accounts:read");
    let response = app.create_brand(&read_only, "Nope").await;
    let body = assert_problem(response, 403, "insufficient-scope").await;
    assert_eq!(body["required_scope"], "org:admin");

    let no_scopes = app.token(&app.org_id, "");
    let response = app.get("/v1/brands").bearer(&no_scopes).send().await;
    assert_problem(response, 403, "insufficient-scope").await;

    // platform:admin does not stand in for tenant scopes.
    let platform = app.token(&app.org_id, "platform:admin");
    let response = app.get("/v1/brands").bearer(&platform).send().await;
    assert_problem(response, 403, "insufficient-scope").await;

    // Nothing was created.
    let body: serde_json::Value = app
        .get("/v1/brands")
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
}

on_both_backends!(missing_scope_is_403);
