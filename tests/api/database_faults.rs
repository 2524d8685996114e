//! PostgreSQL stopped and started again under a running tokenwarden: on a
//! PostgreSQL this test starts itself in a temporary directory (with the
//! server binaries already on the machine, never the shared server).
//! `/readyz` goes red, requests answer 503 problems within the pool's
//! timeout, and everything recovers without restarting tokenwarden; an
//! outage in the middle of renewals leaves no propagation half-applied and no
//! grant lost.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{ALL_SCOPES, Backend, TestApp, assert_problem};
use crate::renewal::{brand_in, connect_in, expire_all, renew, renew_body, set_plan};

/// A PostgreSQL server of the test's own, in a temporary directory.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    /// `None` when the machine has no PostgreSQL server binaries.
    fn start() -> Option<Self> {
        let bin = [
            "/usr/lib/postgresql/17/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/15/bin",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|b| b.join("initdb").exists())?;
        let dir = tempfile::tempdir().unwrap();
        // PostgreSQL refuses to run as root: as root, its files belong to `postgres`.
        if is_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self { bin, dir, port };
        let data = server.data();
        assert!(server.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]
        ));
        server.up();
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> bool {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        assert!(self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start"
            ]
        ));
    }

    fn down(&self) {
        assert!(self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"]
        ));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/readyz").send().await.status().as_u16()
}

/// A PostgreSQL of the test's own and tokenwarden on it, with a one-second
/// pool timeout; `None` when the machine has no server binaries.
async fn on_own_postgres() -> Option<(Arc<OwnPostgres>, TestApp)> {
    let Some(postgres) = tokio::task::spawn_blocking(OwnPostgres::start)
        .await
        .unwrap()
    else {
        eprintln!("skipped: no PostgreSQL server binaries on this machine");
        return None;
    };
    let url = postgres.url();
    let app = TestApp::spawn_with(Backend::Sqlite, move |settings| {
        settings.database_url = Some(secrecy::SecretString::from(url));
        settings.database.connect_timeout_secs = 1;
        // The load below is one organization's: no budget to stop it.
        settings.rate_limit.requests = 0;
    })
    .await;
    Some((Arc::new(postgres), app))
}

async fn stop(postgres: &Arc<OwnPostgres>) {
    let server = postgres.clone();
    tokio::task::spawn_blocking(move || server.down())
        .await
        .unwrap();
}

/// Starts the server again and waits until `/readyz` is green.
async fn start_and_wait(postgres: &Arc<OwnPostgres>, app: &TestApp) {
    let server = postgres.clone();
    tokio::task::spawn_blocking(move || server.up())
        .await
        .unwrap();
    for _ in 0..100 {
        if ready(app).await == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz stayed red after the database came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_again_is_survived() {
    // Arrange: tokenwarden on a server of the test's own.
    let Some((postgres, app)) = on_own_postgres().await else {
        return;
    };
    let token = app.admin_token();
    let brand = app.new_brand("Through the outage").await;
    assert_eq!(ready(&app).await, 200);

    // Act: the database goes away.
    stop(&postgres).await;

    // Assert: red, and 503 problems — never a hang, never a 500.
    assert_eq!(ready(&app).await, 503);
    for path in ["/v1/brands", "/v1/expired-tokens"] {
        let response = app.get(path).bearer(&token).send().await;
        assert!(response.headers().contains_key("retry-after"), "{path}");
        assert_problem(response, 503, "service-unavailable").await;
    }

    // It comes back: the same process serves again, the data intact.
    start_and_wait(&postgres, &app).await;
    let listed: Value = app
        .get("/v1/brands")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert!(listed.to_string().contains(&brand), "{listed}");
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    assert_eq!(connected["status"], "connected", "{connected}");
}

/// What one request of the load saw: its path's kind, status and time.
type Seen = (&'static str, u16, Duration);

/// Reads of the dropdown and of Manage Accounts in a loop until `until`.
async fn read_until(
    app: Arc<TestApp>,
    token: String,
    brand: String,
    until: tokio::time::Instant,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let paths = [
        ("dropdown", "/v1/expired-tokens".to_string()),
        ("accounts", format!("/v1/brands/{brand}/accounts")),
    ];
    while tokio::time::Instant::now() < until {
        for (kind, path) in &paths {
            let started = std::time::Instant::now();
            let status = app.get(path).bearer(&token).send().await.status().as_u16();
            seen.push((*kind, status, started.elapsed()));
        }
    }
    seen
}

/// The credential each of `accounts` points at, as stored.
async fn credentials_of(app: &TestApp, accounts: &[String]) -> Vec<Option<String>> {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use tokenwarden::db::schema::accounts as table;
    let (pool, accounts) = (app.pool().clone(), accounts.to_vec());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        accounts
            .iter()
            .map(|id| {
                table::table
                    .filter(table::id.eq(id))
                    .select(table::credential_id)
                    .first(&mut conn)
                    .unwrap()
            })
            .collect()
    })
    .await
    .unwrap()
}

/// PostgreSQL stopped while readers poll and renewals propagate through a
/// slow network (each refresh takes 600 ms, and the database stops while
/// one is in flight): every answer is a 200 or a 503 problem within the pool's
/// timeout; afterwards every propagation is whole or absent, and the grant
/// renews again (a refresh token spent during the outage would have been
/// lost, and the network would refuse the old one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_load_leaves_no_propagation_half_applied() {
    // Arrange: one profile in eight brands, each on a grant of its own
    // (connected on Starter, which does not propagate), then Advanced,
    // which does.
    let Some((postgres, app)) = on_own_postgres().await else {
        return;
    };
    let org = app.create_org("Outage", "advanced").await;
    let token = app.token(&org, ALL_SCOPES);
    let mut brands = Vec::new();
    for i in 0..8 {
        brands.push(brand_in(&app, &token, &format!("Brand {i}")).await);
    }
    set_plan(&app, &org, "starter").await;
    let mut accounts = Vec::new();
    for brand in &brands {
        accounts.push(connect_in(&app, &token, brand, "sandbox-alice").await);
    }
    set_plan(&app, &org, "advanced").await;
    let before = credentials_of(&app, &accounts).await;
    let distinct = |c: &[Option<String>]| c.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(distinct(&before), 8, "a grant each");
    app.sandbox().queue_failure(
        tokenwarden::sandbox::Endpoint::Token,
        tokenwarden::sandbox::FailureMode::Slow { delay_ms: 600 },
        10_000,
    );
    let app = Arc::new(app);

    // Act: readers and renewals run; the database stops for two seconds in
    // their midst, then comes back.
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    let readers: Vec<_> = (0..3)
        .map(|i| {
            tokio::spawn(read_until(
                app.clone(),
                token.clone(),
                brands[i].clone(),
                until,
            ))
        })
        .collect();
    let started = Arc::new(tokio::sync::Notify::new());
    let renewer = {
        let (app, token, brands, accounts, started) = (
            app.clone(),
            token.clone(),
            brands.clone(),
            accounts.clone(),
            started.clone(),
        );
        tokio::spawn(async move {
            let mut seen: Vec<(&'static str, u16, Duration, String)> = Vec::new();
            let mut i = 0;
            while tokio::time::Instant::now() < until {
                // Each renewal finds the grant expired, so it calls the network.
                expire_all(&app);
                let began = std::time::Instant::now();
                let request = renew(&app, &token, &brands[i % 8], &accounts[i % 8]);
                started.notify_one();
                let response = request.await;
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                seen.push(("renew", status, began.elapsed(), body));
                i += 1;
            }
            seen
        })
    };
    // The database stops while a refresh waits on the network, so that its
    // grant comes back to a database that is gone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The first may be a renewal started earlier (a kept permit).
    started.notified().await;
    started.notified().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop(&postgres).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    start_and_wait(&postgres, &app).await;
    let mut seen: Vec<Seen> = Vec::new();
    for reader in readers {
        seen.extend(reader.await.unwrap());
    }
    let renewals = renewer.await.unwrap();

    // Assert: 200 or a 503 problem, each within the pool's timeout (1 s)
    // plus the network's 600 ms and the outage it may wait out; the outage was felt.
    for (kind, status, took, body) in &renewals {
        assert!(*status == 200 || *status == 503, "{kind}: {status} {body}");
        if *status == 200 {
            assert!(body.contains("\"renewed\""), "{body}");
        }
        assert!(*took < Duration::from_secs(5), "{kind}: {took:?}");
    }
    for (kind, status, took) in &seen {
        assert!(*status == 200 || *status == 503, "{kind}: {status}");
        assert!(*took < Duration::from_secs(3), "{kind}: {took:?}");
    }
    let count = |s: u16| {
        seen.iter().filter(|r| r.1 == s).count() + renewals.iter().filter(|r| r.1 == s).count()
    };
    assert!(count(503) > 0, "the outage was not felt");
    assert!(
        renewals.iter().any(|r| r.2 > Duration::from_secs(2)),
        "no refresh met the outage"
    );
    assert!(
        renewals.iter().any(|r| r.1 == 200),
        "no renewal succeeded around the outage"
    );
    eprintln!(
        "outage under load: {} reads, {} renewals ({:?}), {} answered 200, {} answered 503",
        seen.len(),
        renewals.len(),
        renewals
            .iter()
            .map(|r| (r.1, r.2.as_millis()))
            .collect::<Vec<_>>(),
        count(200),
        count(503)
    );

    // Every propagation is whole: the eight accounts share one grant.
    let after = credentials_of(&app, &accounts).await;
    assert_eq!(distinct(&after), 1, "half-applied: {after:?}");
    // Nothing was lost: the stored grant renews at the network, and once
    // the unused grants are revoked the person has exactly one live grant.
    app.sandbox().clear_failures();
    expire_all(&app);
    let last: Value = renew_body(&app, &token, &brands[3], &accounts[3]).await;
    assert_eq!(last["outcome"], "renewed", "{last}");
    assert_eq!(last["account"]["token_status"], "expiring", "{last}");
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-alice"), 1);
}
