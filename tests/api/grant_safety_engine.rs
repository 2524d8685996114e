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

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

/// Where the refresh engine keeps rotated grants it has not stored yet.
const JOURNAL_DIR: &str = "grant-journal";

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
            .bearer_auth(token)
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .unwrap()
    })
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

/// Makes every write-back fail (or succeed again): a trigger on the column
/// only a stored grant sets — the lease is taken and extended without it.
async fn fail_writebacks(app: &TestApp, on: bool) {
    let pool = app.pool().clone();
    let postgres = app.backend == Backend::Postgres;
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let exists = diesel::sql_query("SELECT n FROM test_faults")
            .execute(&mut conn)
            .is_ok();
        if !exists {
            let statements: &[&str] = if postgres {
                &[
                    "CREATE TABLE test_faults (n INTEGER NOT NULL)",
                    "INSERT INTO test_faults VALUES (0)",
                    "CREATE FUNCTION fail_writeback() RETURNS trigger AS $$ BEGIN \
                     IF (SELECT n FROM test_faults) > 0 THEN \
                     RAISE EXCEPTION 'injected write-back fault'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER fail_writeback BEFORE UPDATE OF access_token ON credentials \
                     FOR EACH ROW EXECUTE FUNCTION fail_writeback()",
                ]
            } else {
                &[
                    "CREATE TABLE test_faults (n INTEGER NOT NULL)",
                    "INSERT INTO test_faults VALUES (0)",
                    "CREATE TRIGGER fail_writeback BEFORE UPDATE OF access_token ON credentials \
                     WHEN (SELECT n FROM test_faults) > 0 \
                     BEGIN SELECT RAISE(ABORT, 'injected write-back fault'); END",
                ]
            };
            for statement in statements {
                diesel::sql_query(*statement).execute(&mut conn).unwrap();
            }
        }
        diesel::sql_query(format!("UPDATE test_faults SET n = {}", i32::from(on)))
            .execute(&mut conn)
            .unwrap();
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

fn journal_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(JOURNAL_DIR))
        .map(|entries| entries.count())
        .unwrap_or(0)
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
    // A new connection through the misconfigured client says the same.
    app.sandbox()
        .register_redirect_uri(&wrong.url("/v1/oauth/callback/sandbox"));
    let started: Value = app
        .client
        .post(wrong.url(&format!("/v1/brands/{brand}/accounts/connect")))
        .bearer_auth(app.admin_token())
        .json(&json!({ "network": "sandbox" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let callback = app
        .approve_at_sandbox(
            started["authorization_url"].as_str().unwrap(),
            "sandbox-bob",
        )
        .await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_problem(response, 503, "network-misconfigured").await;
    assert_eq!(
        app.counts().await.0,
        1,
        "nothing stored for the new profile"
    );

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
        metrics.contains(r#"tokenwarden_network_client_rejections_total{network="sandbox"} 4"#),
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

/// While a write-back fails, the lease is taken over (as another instance
/// does once a lease ran out): the write-back stores nothing, the other
/// holder's lease stays, and the rotated grant is kept — the next renew
/// stores it without spending a refresh token again.
async fn a_write_back_without_the_lease_changes_nothing(app: TestApp) {
    let brand = app.new_brand("Leased").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    fail_writebacks(&app, true).await;
    let renewing = renew_in_background(&app, &app.address, &brand, &account);
    until_a_writeback_failed(&app.parts).await;
    let before = credential_of(&app, &account).await;
    sql(
        &app,
        format!(
            "UPDATE credentials SET lease_owner = 'another-instance' WHERE id = '{}'",
            before.id
        ),
    )
    .await;
    let before = grant_of(&credential_of(&app, &account).await);

    fail_writebacks(&app, false).await;
    let response = renewing.await.unwrap();

    assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(
        grant_of(&credential_of(&app, &account).await),
        before,
        "nothing was written without the lease"
    );
    assert_eq!(journal_entries(app.dir.path()), 1, "the grant is kept");

    // The other holder goes away without writing: the kept grant is stored
    // by the next renew, with no second refresh at the network.
    sql(
        &app,
        format!(
            "UPDATE credentials SET lease_owner = NULL, lease_expires_at = NULL WHERE id = '{}'",
            credential_of(&app, &account).await.id
        ),
    )
    .await;
    let response = renew_at(&app, &app.address, &brand, &account).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed", "{body}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(credential_of(&app, &account).await.version, before.2 + 1);
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert!(stored_grant_refreshes(&app, &account).await);
}

/// A write-back that keeps failing for longer than a lease keeps its lease,
/// by the database's clock: another instance whose clock runs ten minutes
/// ahead, asked to renew meanwhile, waits for the outcome instead of
/// spending the refresh token the leader already spent.
async fn a_write_back_keeps_its_lease_by_the_database_clock(app: TestApp) {
    let brand = app.new_brand("Patient").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    // A lease of 6 s (twice the request timeout plus 5 s).
    let leader = Instance::start(&app, |s| {
        s.outbound.request_timeout = Duration::from_millis(500);
    })
    .await;
    let other = Instance::start(&app, |_| {}).await;
    app.sandbox().reset_calls();
    fail_writebacks(&app, true).await;

    let leading = renew_in_background(&app, &leader.address, &brand, &account);
    until_a_writeback_failed(&leader.parts).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    app.advance(chrono::Duration::minutes(10));
    // Longer than a lease has passed, and the lease is still held: extended,
    // by the database's clock (the system's), not the application's.
    let lease = credential_of(&app, &account)
        .await
        .lease_expires_at
        .expect("the lease is held")
        .and_utc();
    assert!(lease > chrono::Utc::now(), "extended: {lease}");
    assert!(lease < app.now(), "not by the application's clock: {lease}");
    let waiting = renew_in_background(&app, &other.address, &brand, &account);
    tokio::time::sleep(Duration::from_millis(500)).await;
    fail_writebacks(&app, false).await;
    let (led, waited) = (leading.await.unwrap(), waiting.await.unwrap());

    assert_eq!(led.status(), 200);
    let led: Value = led.json().await.unwrap();
    assert_eq!(led["outcome"], "renewed", "{led}");
    assert_eq!(waited.status(), 200);
    let waited: Value = waited.json().await.unwrap();
    assert_eq!(waited["outcome"], "renewed", "{waited}");
    assert_eq!(
        app.sandbox().calls().refresh,
        1,
        "one refresh at the network"
    );
    let row = credential_of(&app, &account).await;
    assert_eq!(row.status, "active");
    assert!(row.lease_owner.is_none(), "lease released");
    assert!(stored_grant_refreshes(&app, &account).await);
}

/// Every write-back of a rotated grant fails until the leader gives up: the
/// caller gets a 503, and the grant — whose old refresh token the network
/// already spent — is in the sealed journal, not in the database. A restart
/// replays it: the stored grant is the live one, and the journal is empty.
async fn a_rotated_grant_that_could_not_be_stored_survives_a_restart(app: TestApp) {
    let brand = app.new_brand("Restarted").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    let before = credential_of(&app, &account).await;
    app.sandbox().reset_calls();
    fail_writebacks(&app, true).await;

    let response = renew_at(&app, &app.address, &brand, &account).await;
    assert_problem(response, 503, "service-unavailable").await;
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(credential_of(&app, &account).await.version, before.version);
    assert_eq!(journal_entries(app.dir.path()), 1);
    let journal = std::fs::read_dir(app.dir.path().join(JOURNAL_DIR))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .next()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&journal).contains("sbx_"),
        "the journal holds no plaintext token"
    );

    // The database is back; the process restarts.
    fail_writebacks(&app, false).await;
    let _restarted = Instance::start(&app, |_| {}).await;

    let row = credential_of(&app, &account).await;
    assert_eq!(row.version, before.version + 1, "the kept grant was stored");
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert_eq!(app.sandbox().calls().refresh, 1, "no second refresh");
    assert!(
        stored_grant_refreshes(&app, &account).await,
        "the stored grant is the live one"
    );
}

/// While a write-back fails, another writer stores first (the version moves).
/// A rotated grant that is not the stored one is revoked at the network
/// instead of being left alive and stored nowhere; a grant that is the stored
/// one (a network that does not rotate refresh tokens) is not revoked.
async fn a_grant_that_lost_a_version_race_is_revoked_unless_stored(app: TestApp) {
    // The sandbox rotates: the lost grant is not the stored one.
    let brand = app.new_brand("Raced").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    renew_losing_a_version_race(&app, &app.address, &app.parts, &brand, &account).await;

    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(app.sandbox().calls().revoke, 1, "the lost grant is revoked");
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 0);
    assert_eq!(journal_entries(app.dir.path()), 0);

    // A network that does not rotate: the lost grant's refresh token is the
    // stored one, and revoking it would end the stored grant.
    let steady = SteadyNetwork::default();
    let base = steady.start();
    let instance = Instance::start(&app, |s| {
        s.networks
            .insert("steady".into(), SteadyNetwork::settings(&base));
    })
    .await;
    let response = app
        .client
        .post(instance.url(&format!("/v1/brands/{brand}/accounts")))
        .bearer_auth(app.admin_token())
        .json(&json!({
            "network": "steady",
            "access_token": "steady-at-0",
            "refresh_token": "steady-rt",
            "expires_in": 3600
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let imported: Value = response.json().await.unwrap();
    let steady_account = imported["account"]["id"].as_str().unwrap().to_string();
    renew_losing_a_version_race(
        &app,
        &instance.address,
        &instance.parts,
        &brand,
        &steady_account,
    )
    .await;

    assert_eq!(steady.refreshes.load(Ordering::SeqCst), 1);
    assert!(
        steady.revoked.lock().unwrap().is_empty(),
        "the stored grant was not revoked: {:?}",
        steady.revoked.lock().unwrap()
    );
    let row = credential_of(&app, &steady_account).await;
    let (_, refresh) =
        tokenwarden::db::credentials::open_tokens(&app.parts.state.keys, &row).unwrap();
    assert_eq!(refresh.unwrap().expose_secret(), "steady-rt");
    assert_eq!(journal_entries(app.dir.path()), 0);
}

on_both_backends!(
    a_wrong_client_secret_never_kills_a_grant,
    renewed_means_the_stored_token_is_valid,
    a_write_back_without_the_lease_changes_nothing,
    a_write_back_keeps_its_lease_by_the_database_clock,
    a_rotated_grant_that_could_not_be_stored_survives_a_restart,
    a_grant_that_lost_a_version_race_is_revoked_unless_stored,
);
