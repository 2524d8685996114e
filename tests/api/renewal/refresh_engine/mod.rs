//! Grant safety in the refresh engine (issue 9): a deployment's mistake never
//! kills a grant, `renewed` means a valid stored token, and a rotated grant is
//! written only under the lease and never forgotten. Every test runs against
//! real HTTP networks (the sandbox, a local stub) with faults injected through
//! the networks or the database.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokenwarden::api::server::{AppParts, Application, prepare_with_clock};
use tokenwarden::config::Settings;
use tokenwarden::db::models::Credential;
use tokenwarden::domain::clock::Clock;
use tokenwarden::providers::{NetworkKind, NetworkSettings};

use crate::helpers::{TestApp, assert_problem, fail_writebacks};
use crate::on_both_backends;

/// Where the refresh engine keeps rotated grants it has not stored yet.
const JOURNAL_DIR: &str = "grant-journal";

// ------------------------------------------------------------------ harness

/// Another tokenwarden process on the test's database and data dir (a
/// restart, or a second instance behind the load balancer), on the test's
/// clock. Its `sandbox` network is the test app's sandbox over HTTP.
pub(crate) struct Instance {
    pub(crate) address: String,
    pub(crate) parts: AppParts,
}

impl Instance {
    pub(crate) async fn start(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> Self {
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
    app.post(format!("{base}/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(app.admin_token())
        .send()
        .await
}

/// A renew sent now and answered later.
fn renew_in_background(
    app: &TestApp,
    base: &str,
    brand: &str,
    account: &str,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let (client, url, token) = (
        app.client.clone(),
        format!("{base}/v1/brands/{brand}/accounts/{account}/renew"),
        app.admin_token(),
    );
    tokio::spawn(async move {
        client
            .post(url)
            .bearer(token)
            .raw(|r| r.timeout(Duration::from_secs(90)))
            .send()
            .await
    })
}

/// The credential row an account uses.
async fn credential_of(app: &TestApp, account: &str) -> Credential {
    let (org, account) = (crate::helpers::org_id(&app.org_id), account.to_string());
    tokenwarden::db::run(app.pool(), move |conn| {
        let credential = tokenwarden::db::accounts::find_account_by_id(
            conn,
            &org,
            crate::helpers::id(&account),
        )?
        .expect("the account exists")
        .2
        .id;
        Ok(
            tokenwarden::db::credentials::find_credential(conn, &org, credential)?
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

/// Runs SQL on the test's database (faults and other writers).
async fn sql(app: &TestApp, statement: String) {
    let pool = app.pool().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        diesel::sql_query(statement).execute(&mut conn).unwrap();
    })
    .await
    .unwrap();
}

/// Waits until a write-back of `parts`' process has failed at least once.
async fn until_a_writeback_failed(parts: &AppParts) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while parts.state.refresh.writeback_retries() == 0 {
        assert!(Instant::now() < deadline, "no write-back failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A renew at `base` (served by `parts`) whose write-back keeps failing
/// until another writer has stored first: the version moves under it (as
/// only a writer that took the lease after it ran out could do).
async fn renew_losing_a_version_race(
    app: &TestApp,
    base: &str,
    parts: &AppParts,
    brand: &str,
    account: &str,
) {
    fail_writebacks(app, true).await;
    let failed_before = parts.state.refresh.writeback_retries();
    let renewing = renew_in_background(app, base, brand, account);
    let deadline = Instant::now() + Duration::from_secs(20);
    while parts.state.refresh.writeback_retries() == failed_before {
        assert!(Instant::now() < deadline, "no write-back failed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = credential_of(app, account).await.id;
    sql(
        app,
        format!("UPDATE credentials SET version = version + 1 WHERE id = '{id}'"),
    )
    .await;
    fail_writebacks(app, false).await;
    renewing.await.unwrap();
}

/// Whether the stored tokens of `account` are the live grant at the sandbox:
/// a refresh with them succeeds (and rotates the grant).
async fn stored_grant_refreshes(app: &TestApp, account: &str) -> bool {
    let row = credential_of(app, account).await;
    let (access, refresh) =
        tokenwarden::db::credentials::open_tokens(&app.parts.state.keys, &row).unwrap();
    let provider = app.parts.state.providers.get("sandbox").unwrap();
    provider
        .refresh(&access, refresh.as_ref(), app.now())
        .await
        .is_ok()
}

pub(crate) fn journal_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(JOURNAL_DIR))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

async fn text_of(app: &TestApp, url: String) -> String {
    app.get(url).send().await.text().await.unwrap()
}

// ------------------------------------------------------------------ a non-rotating network

/// A network that never rotates its refresh token (it answers a refresh
/// without `refresh_token`, as Google does), over real HTTP: identity at
/// `/me`, refresh at `/token`, RFC 7009 revocation at `/revoke`.
#[derive(Clone, Default)]
struct SteadyNetwork {
    refreshes: Arc<AtomicU64>,
    revoked: Arc<Mutex<Vec<String>>>,
}

impl SteadyNetwork {
    fn start(&self) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let network = self.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let n = network.clone();
                    let (refreshes, revoked) = (n.refreshes.clone(), n.revoked.clone());
                    App::new()
                        .route(
                            "/me",
                            web::get().to(|| async {
                                HttpResponse::Ok()
                                    .json(json!({"id": "steady-7", "username": "steady"}))
                            }),
                        )
                        .route(
                            "/token",
                            web::post().to(move || {
                                let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                                async move {
                                    HttpResponse::Ok().json(json!({
                                        "access_token": format!("steady-at-{n}"),
                                        "token_type": "Bearer",
                                        "expires_in": 3600
                                    }))
                                }
                            }),
                        )
                        .route(
                            "/revoke",
                            web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                                let revoked = revoked.clone();
                                async move {
                                    let token = form
                                        .0
                                        .iter()
                                        .find(|(k, _)| k == "token")
                                        .map(|(_, v)| v.clone())
                                        .unwrap_or_default();
                                    revoked.lock().unwrap().push(token);
                                    HttpResponse::Ok().finish()
                                }
                            }),
                        )
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
            })
        });
        url::Url::parse(&format!("http://{addr}")).unwrap()
    }

    fn settings(base: &url::Url) -> NetworkSettings {
        let mut n = NetworkSettings::new(NetworkKind::OAuth2);
        let at = |p: &str| Some(base.join(p).unwrap().to_string());
        n.authorize_url = at("/authorize");
        n.token_url = at("/token");
        n.revoke_url = at("/revoke");
        n.identity_url = at("/me");
        n.identity_subject = Some("/id".into());
        n.identity_handle = Some("/username".into());
        n.client_id = Some("tw".into());
        n.client_secret = Some(SecretString::from("steady-secret".to_string()));
        n
    }
}

mod promises;
mod stale_grants;
