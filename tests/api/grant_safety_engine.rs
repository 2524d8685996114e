//! Grant safety in the refresh engine (issue 9): a deployment's mistake never
//! kills a grant, `renewed` means a valid stored token, and a rotated grant is
//! written only under the lease and never forgotten. Every test runs against
//! real HTTP networks (the sandbox, a local stub) with faults injected through
//! the networks or the database.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokenwarden::api::server::{AppParts, Application, prepare_with_clock};
use tokenwarden::config::Settings;
use tokenwarden::db::models::Credential;
use tokenwarden::domain::clock::Clock;
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;

// ------------------------------------------------------------------ harness

/// Another tokenwarden process on the test's database and data dir (a
/// restart, or a second instance behind the load balancer), on the test's
/// clock. Its `sandbox` network is the test app's sandbox over HTTP.
struct Instance {
    address: String,
    parts: AppParts,
}

impl Instance {
    async fn start(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = (*app.settings).clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        settings.bind = format!("127.0.0.1:{port}");
        settings.public_url = Some(url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        settings.sandbox = false;
        settings
            .networks
            .insert("sandbox".into(), sandbox_network(app, "sandbox-secret"));
        adjust(&mut settings);
        let settings = Arc::new(settings);
        let clock: Arc<dyn Clock> = app.clock.clone();
        let for_prepare = settings.clone();
        let parts = tokio::task::spawn_blocking(move || prepare_with_clock(for_prepare, clock))
            .await
            .unwrap()
            .expect("instance parts");
        let server = Application::with_listener(settings, parts.clone(), listener).expect("serve");
        tokio::spawn(server.run_until_stopped());
        Instance {
            address: format!("http://127.0.0.1:{port}"),
            parts,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// The test app's sandbox as a configured network, with `secret` as the
/// client secret (the sandbox's own is `sandbox-secret`).
fn sandbox_network(app: &TestApp, secret: &str) -> NetworkSettings {
    let mut n = NetworkSettings::new(NetworkKind::Sandbox);
    let at = |p: &str| Some(format!("{}/sandbox/{p}", app.address));
    n.authorize_url = at("authorize");
    n.token_url = at("token");
    n.identity_url = at("userinfo");
    n.revoke_url = at("revoke");
    n.client_id = Some("sandbox-client".into());
    n.client_secret = Some(SecretString::from(secret.to_string()));
    n
}

async fn connect(app: &TestApp, brand: &str, subject: &str) -> String {
    let body = app.connect_sandbox(brand, subject).await;
    body["account"]["id"].as_str().unwrap().to_string()
}

async fn renew_at(app: &TestApp, base: &str, brand: &str, account: &str) -> reqwest::Response {
    app.client
        .post(format!("{base}/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
}

/// The credential row an account uses.
async fn credential_of(app: &TestApp, account: &str) -> Credential {
    let (org, account) = (app.org_id.clone(), account.to_string());
    tokenwarden::db::run(app.pool(), move |conn| {
        let credential = tokenwarden::db::accounts::find_account_by_id(conn, &org, &account)?
            .expect("the account exists")
            .2
            .id;
        Ok(
            tokenwarden::db::credentials::find_credential(conn, &org, &credential)?
                .expect("the credential exists"),
        )
    })
    .await
    .unwrap()
}

/// What a credential holds that a refresh would change.
fn grant_of(row: &Credential) -> (Vec<u8>, Option<Vec<u8>>, i64, String, Option<String>) {
    (
        row.access_token.clone(),
        row.refresh_token.clone(),
        row.version,
        row.status.clone(),
        row.lease_owner.clone(),
    )
}

async fn text_of(app: &TestApp, url: String) -> String {
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

// ------------------------------------------------------------------ the promises

/// A wrong client secret is the deployment's mistake, not the grant's end:
/// the network refuses the client (`invalid_client`, 401), renew answers 503
/// `network-misconfigured` naming the network each time it is asked (calling
/// the network again), nothing of the credential changes — not through the
/// worker either — `/readyz` and `/metrics` show it, and once the secret is
/// fixed and the server restarted, renew works.
async fn a_wrong_client_secret_never_kills_a_grant(app: TestApp) {
    let brand = app.new_brand("Misconfigured").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    let before = grant_of(&credential_of(&app, &account).await);
    let wrong = Instance::start(&app, |s| {
        s.networks
            .insert("sandbox".into(), sandbox_network(&app, "not-the-secret"));
    })
    .await;
    app.sandbox().reset_calls();

    for attempt in 1..=2 {
        let response = renew_at(&app, &wrong.address, &brand, &account).await;
        let problem = assert_problem(response, 503, "network-misconfigured").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("sandbox"),
            "{problem}"
        );
        assert_eq!(problem["network"], "sandbox");
        assert_eq!(
            app.sandbox().calls().refresh,
            attempt,
            "the network is asked"
        );
    }
    // The worker, due to refresh it, leaves it as it is too.
    app.advance(chrono::Duration::minutes(59));
    tokenwarden::worker::tick(&wrong.parts.state, app.now())
        .await
        .unwrap();
    assert_eq!(app.sandbox().calls().refresh, 3, "the worker asked too");
    let row = credential_of(&app, &account).await;
    let (access, refresh, version, _, lease) = grant_of(&row);
    assert_eq!(
        (access, refresh, version, lease),
        (before.0, before.1, before.2, before.4),
        "the credential is untouched"
    );
    assert_eq!(row.failure_count, 0);
    // Only the clock moved it: an hour's token a minute before its expiry.
    assert_eq!(row.status, "expiring");

    let ready: Value = app
        .client
        .get(wrong.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["misconfigured_networks"][0]["network"], "sandbox");
    assert_eq!(ready["misconfigured_networks"][0]["code"], "invalid_client");
    let metrics = text_of(&app, wrong.url("/metrics")).await;
    assert!(
        metrics.contains(r#"tokenwarden_network_misconfigured{network="sandbox"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tokenwarden_network_client_rejections_total{network="sandbox"} 3"#),
        "{metrics}"
    );

    // The operator fixes the secret and restarts: nothing stored to undo.
    let fixed = Instance::start(&app, |_| {}).await;
    let response = renew_at(&app, &fixed.address, &brand, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(app.sandbox().calls().refresh, 4);
    let ready: Value = app
        .client
        .get(fixed.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ok");
    let metrics = text_of(&app, fixed.url("/metrics")).await;
    assert!(
        metrics.contains(r#"tokenwarden_network_misconfigured{network="sandbox"} 0"#),
        "{metrics}"
    );
}

/// A network with short-lived tokens: a renew within `JUST_RENEWED` of the
/// last refresh, after the stored token expired, refreshes again instead of
/// answering `renewed` for an expired token.
async fn renewed_means_the_stored_token_is_valid(app: TestApp) {
    let brand = app.new_brand("Short-lived").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(10));
    let account = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    let first = renew_at(&app, &app.address, &brand, &account).await;
    assert_eq!(first.status(), 200);
    assert_eq!(app.sandbox().calls().refresh, 1);

    app.advance(chrono::Duration::seconds(20));
    let response = renew_at(&app, &app.address, &brand, &account).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(app.sandbox().calls().refresh, 2, "the network was asked");
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires_at > app.now(), "{body}");
    // Valid, and (ten seconds long) inside the warning window.
    assert_eq!(body["account"]["token_status"], "expiring", "{body}");
}

on_both_backends!(
    a_wrong_client_secret_never_kills_a_grant,
    renewed_means_the_stored_token_is_valid,
);
