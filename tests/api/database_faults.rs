//! PostgreSQL stopped and started again under a running tokenwarden: on a
//! PostgreSQL this test starts itself in a temporary directory (with the
//! server binaries already on the machine, never the shared server).
//! `/readyz` goes red, requests answer 503 problems within the pool's
//! timeout, and everything recovers without restarting tokenwarden.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, assert_problem};

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
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_again_is_survived() {
    let Some(postgres) = tokio::task::spawn_blocking(OwnPostgres::start)
        .await
        .unwrap()
    else {
        eprintln!("skipped: no PostgreSQL server binaries on this machine");
        return;
    };
    let postgres = Arc::new(postgres);
    // Arrange: tokenwarden on that server, with a one-second pool timeout.
    let url = postgres.url();
    let app = TestApp::spawn_with(Backend::Sqlite, move |settings| {
        settings.database_url = Some(secrecy::SecretString::from(url));
        settings.database.connect_timeout_secs = 1;
    })
    .await;
    let token = app.admin_token();
    let brand = app.new_brand("Through the outage").await;
    assert_eq!(ready(&app).await, 200);

    // Act: the database goes away.
    let server = postgres.clone();
    tokio::task::spawn_blocking(move || server.down())
        .await
        .unwrap();

    // Assert: red, and 503 problems — never a hang, never a 500.
    assert_eq!(ready(&app).await, 503);
    for path in ["/v1/brands", "/v1/expired-tokens"] {
        let response = app.get(path, &token).await;
        assert!(response.headers().contains_key("retry-after"), "{path}");
        assert_problem(response, 503, "service-unavailable").await;
    }

    // It comes back: the same process serves again, the data intact.
    let server = postgres.clone();
    tokio::task::spawn_blocking(move || server.up())
        .await
        .unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        if ready(&app).await == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "/readyz stayed red after the database came back");
    let listed: Value = app.get("/v1/brands", &token).await.json().await.unwrap();
    assert!(listed.to_string().contains(&brand), "{listed}");
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    assert_eq!(connected["status"], "connected", "{connected}");
}
