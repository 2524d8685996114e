//! The test harness: a `TestApp` serving the real application on a fresh
//! database (a temporary SQLite file, or a fresh PostgreSQL database when
//! `TOKENWARDEN_TEST_POSTGRES_URL` is set), dropped afterwards.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{Connection, RunQueryDsl};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokenwarden::api::server::{AppParts, Application};
use tokenwarden::auth::TokenMinter;
use tokenwarden::config::Settings;
use tokenwarden::crypto::KeyRing;
use tokenwarden::db::Pool;
use tokenwarden::domain::clock::{Clock, ShiftedClock};

pub const PG_ENV: &str = "TOKENWARDEN_TEST_POSTGRES_URL";
/// The front end's return URL prefix the test instances allow.
pub const RETURN_URL: &str = "https://app.example.test/after-oauth";
pub const HS256_SECRET: &str = "test-secret-0123456789-0123456789-0123456789";
pub const ALL_SCOPES: &str =
    "accounts:read accounts:write accounts:import tokens:renew tokens:read org:admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(TestApp)`:
/// `name::sqlite` always runs; `name::postgres` runs when
/// `TOKENWARDEN_TEST_POSTGRES_URL` is set (as `.ci/run` does) and otherwise
/// says it was skipped.
///
/// `on_both_backends!(spawn = path; name, …)` hands each test what
/// `path(backend).await` returns instead: an instance set up otherwise
/// (`crate::webhooks::dev_app`) or a fixture around one (`super::Meta::spawn`).
/// The path is read inside the generated `mod name`, so it starts at `crate`
/// or `super`.
#[macro_export]
macro_rules! on_both_backends {
    (spawn = $spawn:path; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $spawn($crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if !$crate::helpers::postgres_enabled() {
                        eprintln!("skipped: {} is not set", $crate::helpers::PG_ENV);
                        return;
                    }
                    let app = $spawn($crate::helpers::Backend::Postgres).await;
                    super::$name(app).await;
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(spawn = $crate::helpers::TestApp::spawn; $($name),*);
    };
}

/// The network fault matrix of README.md ("Reliability and abuse"): one
/// `#[tokio::test]` per row and backend, each calling
/// `super::$runner(backend, fault, status, slug)` with the fault the network
/// answers and the problem a call that meets it answers with.
#[macro_export]
macro_rules! network_fault_matrix {
    ($runner:ident) => {
        $crate::network_fault_matrix!(@rows $runner;
            a_delay_past_the_timeout: FailureMode::Slow { delay_ms: 2000 } => 504, "network-timeout";
            a_500: FailureMode::Status { status: 500 } => 502, "network-error";
            a_502: FailureMode::Status { status: 502 } => 502, "network-error";
            a_503: FailureMode::Status { status: 503 } => 503, "network-unavailable";
            a_429_with_retry_after: FailureMode::RateLimited { retry_after_secs: 7 } => 503, "network-unavailable";
            truncated_json: FailureMode::Malformed => 502, "network-error";
            a_10_mb_body: FailureMode::Huge { bytes: 10 * 1024 * 1024 } => 502, "network-error";
            an_html_200: FailureMode::Html => 502, "network-error";
            a_connection_reset: FailureMode::Reset => 502, "network-error";
            a_302_to_another_host: FailureMode::Redirect { location: "https://evil.example/elsewhere".into() } => 502, "network-error";
        );
    };
    (@rows $runner:ident; $($name:ident: $fault:expr => $status:expr, $slug:expr;)*) => {$(
        mod $name {
            use tokenwarden::sandbox::FailureMode;

            use $crate::helpers::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$runner(Backend::Sqlite, $fault, $status, $slug).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_enabled() {
                    eprintln!("skipped: {} is not set", $crate::helpers::PG_ENV);
                    return;
                }
                super::$runner(Backend::Postgres, $fault, $status, $slug).await;
            }
        }
    )*};
}

/// Every log line any test instance writes (one global subscriber per test
/// binary), so tests can search them for leaked secrets.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<std::sync::Mutex<Vec<u8>>> {
    static BUFFER: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter("tokenwarden=trace,actix_web=info")
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    })
}

#[derive(Clone)]
struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The organization an id the API answered with names, as the library takes it.
pub fn org_id(text: &str) -> tokenwarden::domain::ids::OrganizationId {
    tokenwarden::domain::ids::OrganizationId::named(text)
}

/// A typed id (`BrandId`, `AccountId`, …) from the text the API answered with.
pub fn id<T: std::str::FromStr<Err = uuid::Error>>(text: &str) -> T {
    text.parse().expect("the API answers ids as UUIDs")
}

pub fn postgres_enabled() -> bool {
    std::env::var(PG_ENV).is_ok_and(|v| !v.is_empty())
}

/// A fresh, empty PostgreSQL database, dropped when this is dropped.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let admin_url = std::env::var(PG_ENV).expect("TOKENWARDEN_TEST_POSTGRES_URL");
        let name = format!("tw_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = diesel::PgConnection::establish(&admin_url).expect("connect to PostgreSQL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("postgres URL");
        url.set_path(&format!("/{name}"));
        Self {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// Settings for a test instance on `database_url`, in `dir`.
pub fn test_settings(dir: &std::path::Path, database_url: &str, keys: &SecretString) -> Settings {
    let mut settings = Settings::defaults();
    settings.data_dir = dir.to_path_buf();
    settings.database_url = Some(SecretString::from(database_url.to_string()));
    settings.bind = "127.0.0.1:0".into();
    settings.encryption_keys = Some(keys.clone());
    settings.jwt.hs256_secret = Some(SecretString::from(HS256_SECRET.to_string()));
    settings.http.workers = Some(1);
    settings.database.pool_size = 4;
    // The sandbox and the local stub networks (plain http on loopback) are
    // development-mode features; tests of production defaults turn it off.
    settings.dev = true;
    settings
}

pub struct TestApp {
    pub backend: Backend,
    pub address: String,
    pub client: crate::client::Client,
    pub parts: AppParts,
    pub settings: Arc<Settings>,
    pub minter: TokenMinter,
    /// The application's clock: tests let time pass by moving it
    /// ([`TestApp::advance`]). The bearer tokens the tests mint and the
    /// sandbox network keep the system's time.
    pub clock: Arc<ShiftedClock>,
    pub dir: tempfile::TempDir,
    /// An organization on the Advanced plan, created through the API.
    pub org_id: String,
    // Dropped last: the database outlives the server's connections.
    _pg: Option<PgDatabase>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_with_networks(backend, adjust, |_| {}).await
    }

    /// [`TestApp::spawn_with`], then `networks` may add providers built in the test (a
    /// network's behaviour the presets do not have yet, against a local fake).
    pub async fn spawn_with_networks(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
        networks: impl FnOnce(&mut tokenwarden::providers::ProviderRegistry),
    ) -> Self {
        log_buffer();
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                tokio::task::spawn_blocking(PgDatabase::create)
                    .await
                    .unwrap(),
            ),
        };
        let database_url = match &pg {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", dir.path().join("tokenwarden.db").display()),
        };
        let keys = KeyRing::generate_entry();
        let mut settings = test_settings(dir.path(), &database_url, &keys);
        // Bind first: the public URL (and so the OAuth callback URLs) needs the port.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        settings.bind = format!("127.0.0.1:{port}");
        settings.public_url = Some(url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        settings.sandbox = true;
        settings.return_urls = vec![RETURN_URL.to_string()];
        adjust(&mut settings);
        let settings = Arc::new(settings);
        let for_prepare = settings.clone();
        let clock = Arc::new(ShiftedClock::default());
        let app_clock: Arc<dyn Clock> = clock.clone();
        let parts = tokio::task::spawn_blocking(move || {
            tokenwarden::api::server::prepare_with_clock(for_prepare, app_clock)
        })
        .await
        .unwrap()
        .expect("application parts");
        let mut parts = parts;
        let mut state = parts.state.get_ref().clone();
        let mut registry = (*state.providers).clone();
        networks(&mut registry);
        state.providers = Arc::new(registry);
        parts.state = actix_web::web::Data::new(state);
        let app =
            Application::with_listener(settings.clone(), parts.clone(), listener).expect("serve");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let minter = TokenMinter::new(
            &settings.jwt.issuer,
            &settings.jwt.audience,
            &SecretString::from(HS256_SECRET.to_string()),
        );
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let client = crate::client::Client::new(http, address.clone());
        let mut app = TestApp {
            backend,
            address,
            client,
            parts,
            settings,
            minter,
            clock,
            dir,
            org_id: String::new(),
            _pg: pg,
        };
        app.org_id = app.create_org("Acme Agency", "advanced").await;
        app
    }

    pub fn pool(&self) -> &Pool {
        &self.parts.state.pool
    }

    /// The time by the application's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Lets `by` pass on the application's clock.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Waits for the revocations the application runs after its answers.
    pub async fn revocations_settled(&self) {
        self.parts.state.revocations.settled().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn token(&self, org: &str, scopes: &str) -> String {
        self.minter
            .mint(org, "user-1", scopes, Duration::from_secs(3600))
    }

    /// A token of the test organization with every tenant scope.
    pub fn admin_token(&self) -> String {
        self.token(&self.org_id, ALL_SCOPES)
    }

    pub fn platform_token(&self) -> String {
        self.minter.mint(
            "platform",
            "billing",
            "platform:admin",
            Duration::from_secs(3600),
        )
    }

    /// Creates an organization through the billing route; returns its id.
    pub async fn create_org(&self, name: &str, plan: &str) -> String {
        let response = self
            .post("/v1/organizations")
            .bearer(self.platform_token())
            .json(&json!({ "name": name, "plan": plan }))
            .send()
            .await;
        assert_eq!(response.status(), 201, "creating an organization");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn create_brand(&self, token: &str, name: &str) -> reqwest::Response {
        self.post("/v1/brands")
            .bearer(token)
            .json(&json!({ "name": name }))
            .send()
            .await
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").send().await;
        response.text().await.unwrap()
    }

    pub fn sandbox(&self) -> &tokenwarden::sandbox::SandboxState {
        self.parts
            .sandbox
            .as_ref()
            .expect("sandbox enabled in tests")
    }

    /// Starts an authorization for `network` in `brand`; returns the authorization URL.
    pub async fn start_connect(
        &self,
        token: &str,
        brand: &str,
        network: &str,
        return_url: Option<&str>,
    ) -> String {
        let mut body = json!({ "network": network });
        if let Some(url) = return_url {
            body["return_url"] = json!(url);
        }
        let response = self
            .post(format!("/v1/brands/{brand}/accounts/connect"))
            .bearer(token)
            .json(&body)
            .send()
            .await;
        assert_eq!(response.status(), 201, "connect");
        let body: Value = response.json().await.unwrap();
        body["authorization_url"].as_str().unwrap().to_string()
    }

    /// Approves at the sandbox as `subject`; returns the callback URL it redirects to.
    pub async fn approve_at_sandbox(&self, authorization_url: &str, subject: &str) -> String {
        let response = self
            .get(format!("{authorization_url}&auto_approve={subject}"))
            .send()
            .await;
        assert_eq!(response.status(), 303, "sandbox approval");
        response.headers()["location"].to_str().unwrap().to_string()
    }

    /// The whole round trip against the sandbox; returns the callback's answer.
    pub async fn connect_sandbox(&self, brand: &str, subject: &str) -> Value {
        let token = self.admin_token();
        let url = self.start_connect(&token, brand, "sandbox", None).await;
        let callback = self.approve_at_sandbox(&url, subject).await;
        let response = self.get(callback).send().await;
        assert_eq!(response.status(), 200, "callback");
        response.json().await.unwrap()
    }

    pub async fn new_brand(&self, name: &str) -> String {
        let response = self.create_brand(&self.admin_token(), name).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// Row counts `(profiles, accounts, credentials)` of every organization.
    pub async fn counts(&self) -> (i64, i64, i64) {
        use diesel::QueryDsl;
        use tokenwarden::db::schema::{accounts, credentials, profiles};
        let pool = self.pool().clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            (
                profiles::table.count().get_result(&mut conn).unwrap(),
                accounts::table.count().get_result(&mut conn).unwrap(),
                credentials::table.count().get_result(&mut conn).unwrap(),
            )
        })
        .await
        .unwrap()
    }

    pub fn sqlite_file(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| self.dir.path().join("tokenwarden.db"))
    }
}

/// Asserts a problem+json answer with `status` and type slug; returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("https://tokenwarden.dev/problems/{slug}")
    );
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert_eq!(body["request_id"].as_str(), request_id.as_deref());
    body
}

/// Makes every write-back of a refreshed grant fail (or stop failing), with
/// a trigger on `credentials.access_token` (the column only a stored grant
/// sets; leases are taken and extended without it) that reads a flag.
pub async fn fail_writebacks(app: &TestApp, on: bool) {
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
