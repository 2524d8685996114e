//! The lifecycle worker, driven tick by tick while the tests move the
//! application's clock, against the sandbox network over real HTTP, and the
//! `worker` command.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokenwarden::db::models::Credential;
use tokenwarden::db::schema::{accounts, credentials};
use tokenwarden::domain::{from_db_time, to_db_time};
use tokenwarden::sandbox::{Endpoint, FailureMode, SandboxIdentity};
use tokenwarden::state::AppState;
use tokenwarden::worker::{TickReport, tick};

use crate::helpers::TestApp;
use crate::on_both_backends;

/// The sandbox network's proactive-refresh lead.
const LEAD: chrono::Duration = chrono::Duration::seconds(60);

fn state(app: &TestApp) -> &AppState {
    app.parts.state.get_ref()
}

/// One tick at the application's clock; returns its report and the instant
/// it ran at.
async fn tick_now(app: &TestApp) -> (TickReport, DateTime<Utc>) {
    let at = app.now();
    (tick(state(app), at).await.expect("tick"), at)
}

/// Connects `subject` in `brand`; returns `(account_id, credential_id)`.
async fn connect(app: &TestApp, brand: &str, subject: &str) -> (String, String) {
    let answer = app.connect_sandbox(brand, subject).await;
    let account = answer["account"]["id"].as_str().unwrap().to_string();
    let credential = credential_of(app, &account).await;
    (account, credential)
}

async fn credential_of(app: &TestApp, account: &str) -> String {
    let account = account.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        Ok(accounts::table
            .filter(accounts::id.eq(account))
            .select(accounts::credential_id.assume_not_null())
            .first::<String>(conn)?)
    })
    .await
    .unwrap()
}

async fn credential(app: &TestApp, id: &str) -> Credential {
    let id = id.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::credentials::find_credential_by_id(conn, &id)
    })
    .await
    .unwrap()
    .expect("credential")
}

/// `(action, actor)` of an account's audit events, oldest first.
async fn events(app: &TestApp, account: &str) -> Vec<(String, String)> {
    let (org, account) = (app.org_id.clone(), account.to_string());
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(conn, &org, Some(&account), None, 100)
    })
    .await
    .unwrap()
    .into_iter()
    .rev()
    .map(|e| (e.action, e.actor))
    .collect()
}

async fn count(app: &TestApp, account: &str, action: &str) -> usize {
    events(app, account)
        .await
        .iter()
        .filter(|(a, _)| a == action)
        .count()
}

fn expiry(c: &Credential) -> DateTime<Utc> {
    from_db_time(c.expires_at.expect("expires"))
}

fn next_refresh(c: &Credential) -> DateTime<Utc> {
    from_db_time(c.next_refresh_at.expect("scheduled"))
}

async fn transitions_are_announced_once_per_account(app: TestApp) {
    let first = app.new_brand("First").await;
    let second = app.new_brand("Second").await;
    // A grant that expires in 10 days (the window is 7).
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(10 * 86_400));
    let (a, _) = connect(&app, &first, "sandbox-alice").await;
    let (b, cred) = connect(&app, &second, "sandbox-alice").await;
    assert_eq!(credential_of(&app, &a).await, cred, "one shared credential");
    // Only the user can renew it (no refresh token), so that the clock alone
    // moves it. The sandbox always issues a refresh token and no passing of
    // time takes one away, so this one state is written into the row.
    let id = cred.clone();
    tokenwarden::db::run(app.pool(), move |conn| {
        diesel::update(credentials::table.filter(credentials::id.eq(id)))
            .set((
                credentials::refresh_token.eq(None::<Vec<u8>>),
                credentials::refresh_token_key_id.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let expires_at = expiry(&credential(&app, &cred).await);
    app.sandbox().reset_calls();

    let (r, _) = tick_now(&app).await;
    assert_eq!((r.scheduled, r.expiring, r.expired), (1, 0, 0), "{r:?}");
    assert_eq!(credential(&app, &cred).await.status, "active");
    assert_eq!(
        next_refresh(&credential(&app, &cred).await),
        expires_at - LEAD,
        "scheduled a lead before expiry"
    );

    // Into the warning window (day 4): announced once on each account.
    app.advance(chrono::Duration::days(4));
    let (r, at) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired), (1, 0), "{r:?}");
    assert_eq!(r.oauth_states_deleted, 2, "the two used states, days old");
    let row = credential(&app, &cred).await;
    assert_eq!(row.status, "expiring");
    assert_eq!(from_db_time(row.status_changed_at), at);
    app.advance(chrono::Duration::days(1));
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired), (0, 0), "{r:?}");

    // Past expiry (day 11): announced once; not refreshable, so no network call.
    app.advance(chrono::Duration::days(6));
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.expiring, r.expired, r.refreshed), (0, 1, 0), "{r:?}");
    assert_eq!(credential(&app, &cred).await.status, "expired");
    // Days 11, 12 and 13.
    for _ in 0..3 {
        let (r, _) = tick_now(&app).await;
        assert_eq!((r.expiring, r.expired), (0, 0), "{r:?}");
        app.advance(chrono::Duration::days(1));
    }
    assert_eq!(app.sandbox().calls().refresh, 0);

    for account in [&a, &b] {
        assert_eq!(count(&app, account, "token.expiring").await, 1, "{account}");
        assert_eq!(count(&app, account, "token.expired").await, 1, "{account}");
        let announced: Vec<_> = events(&app, account)
            .await
            .into_iter()
            .filter(|(action, _)| action.starts_with("token."))
            .collect();
        assert!(announced.iter().all(|(_, actor)| actor == "worker"));
    }

    // The API agrees with what the worker stored.
    let body: serde_json::Value = app
        .get(
            &format!("/v1/brands/{first}/accounts/{a}"),
            &app.admin_token(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["id"], a.as_str());
}

async fn a_due_credential_is_refreshed_once(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    // Issued for 30 s: within the sandbox's 60 s lead, so due right away.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let (account, cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    app.sandbox().reset_calls();
    let before = credential(&app, &cred).await;

    let (r, at) = tick_now(&app).await;
    assert_eq!((r.scheduled, r.claimed, r.refreshed), (1, 1, 1), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    let after = credential(&app, &cred).await;
    let old_expiry = from_db_time(before.expires_at.unwrap());
    let new_expiry = from_db_time(after.expires_at.unwrap());
    assert!(
        new_expiry > old_expiry + chrono::Duration::days(29),
        "{old_expiry} -> {new_expiry}"
    );
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.status, "active");
    assert_eq!(next_refresh(&after), new_expiry - LEAD);
    assert_eq!(
        events(&app, &account).await.last().unwrap(),
        &("account.renewed".to_string(), "worker".to_string())
    );

    // Not due again: later ticks leave it alone.
    for _ in 0..3 {
        let (r, _) = tick_now(&app).await;
        assert_eq!((r.claimed, r.refreshed), (0, 0), "{r:?}");
    }
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(credential(&app, &cred).await.version, after.version);

    // A stale hint (renewed through the API meanwhile) is rescheduled
    // without a network call. The hint is written, not produced by renewing,
    // so that the network's refresh count stays the worker's: it is the
    // schedule an API renew leaves behind, not a time.
    let id = cred.clone();
    let stale = to_db_time(at);
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::schedule::schedule_refresh(conn, &id, stale)
    })
    .await
    .unwrap();
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.claimed, r.rescheduled, r.refreshed), (1, 1, 0), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    assert_eq!(
        next_refresh(&credential(&app, &cred).await),
        new_expiry - LEAD
    );
}

async fn a_transient_failure_is_retried_later_with_backoff(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let (_, cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 1);

    let (r, at) = tick_now(&app).await;
    assert_eq!((r.claimed, r.transient, r.refreshed), (1, 1, 0), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);
    let row = credential(&app, &cred).await;
    assert!(
        ["active", "expiring"].contains(&row.status.as_str()),
        "{}",
        row.status
    );
    assert_eq!(row.failure_count, 1);
    assert!(row.lease_owner.is_none(), "lease released");
    let retry = next_refresh(&row);
    assert!(
        retry >= at + chrono::Duration::seconds(45) && retry <= at + chrono::Duration::seconds(60),
        "first retry after about a minute, jittered: {}",
        retry - at
    );

    // Not before the retry time.
    app.advance(chrono::Duration::seconds(30));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.claimed, 0, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 1);

    // Two more failures double the pause; the still-valid credential is
    // `refresh_failing`, never `reauth_required`.
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 2);
    app.advance(chrono::Duration::seconds(31));
    let (r, second) = tick_now(&app).await;
    assert!(second >= at + chrono::Duration::seconds(61));
    assert_eq!(r.transient, 1, "{r:?}");
    let retry = next_refresh(&credential(&app, &cred).await);
    assert!(
        retry >= second + chrono::Duration::seconds(90)
            && retry <= second + chrono::Duration::seconds(120),
        "second retry after about two minutes: {}",
        retry - second
    );
    app.advance(chrono::Duration::seconds(121));
    let (r, third) = tick_now(&app).await;
    assert_eq!(r.transient, 1, "{r:?}");
    let row = credential(&app, &cred).await;
    assert_eq!(row.failure_count, 3);
    assert_ne!(row.status, "reauth_required");
    assert!(next_refresh(&row) >= third + chrono::Duration::seconds(180));

    // The network is back: the next attempt renews.
    app.advance(chrono::Duration::seconds(241));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.refreshed, 1, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 4);
    let row = credential(&app, &cred).await;
    assert_eq!((row.status.as_str(), row.failure_count), ("active", 0));
}

async fn failures_give_up_only_after_days_expired(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    // One expired four days ago, one a day ago (the sandbox's tokens live an
    // hour): connected three days apart, then a day and an hour pass. Every
    // refresh fails.
    let (_, old) = connect(&app, &brand, "sandbox-bob").await;
    app.advance(chrono::Duration::days(3));
    let (_, recent) = connect(&app, &brand, "sandbox-alice").await;
    app.advance(chrono::Duration::days(1) + chrono::Duration::hours(1));
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 2);
    app.sandbox().reset_calls();

    let (r, at) = tick_now(&app).await;
    assert!(expiry(&credential(&app, &old).await) <= at - chrono::Duration::days(4));
    assert!(expiry(&credential(&app, &recent).await) <= at - chrono::Duration::days(1));
    assert_eq!((r.claimed, r.transient, r.gave_up), (2, 1, 1), "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 2);
    let recent_row = credential(&app, &recent).await;
    assert_eq!(recent_row.status, "expired", "still only expired");
    assert!(next_refresh(&recent_row) > at);
    let old_row = credential(&app, &old).await;
    assert_eq!(old_row.status, "reauth_required");
    assert_eq!(
        old_row.status_reason.as_deref(),
        Some("refresh_failing_for_days")
    );
}

async fn a_refused_grant_becomes_reauth_required(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));

    // The network answers invalid_grant.
    let (alice, alice_cred) = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);
    let (r, at) = tick_now(&app).await;
    assert_eq!((r.claimed, r.reauth_required), (1, 1), "{r:?}");
    let row = credential(&app, &alice_cred).await;
    assert_eq!(row.status, "reauth_required");
    assert_eq!(row.failure_count, 0, "not a transient failure");
    assert!(next_refresh(&row) >= at + chrono::Duration::hours(23));
    assert_eq!(count(&app, &alice, "token.reauth_required").await, 1);

    // The user revoked the grant at the network.
    let (bob, bob_cred) = connect(&app, &brand, "sandbox-bob").await;
    assert_eq!(app.sandbox().revoke_grants("sandbox-bob"), 1);
    let (r, _) = tick_now(&app).await;
    assert_eq!((r.claimed, r.reauth_required), (1, 1), "{r:?}");
    assert_eq!(credential(&app, &bob_cred).await.status, "reauth_required");
    assert_eq!(count(&app, &bob, "token.reauth_required").await, 1);

    // Neither is tried again.
    app.advance(chrono::Duration::minutes(5));
    let (r, _) = tick_now(&app).await;
    assert_eq!(r.claimed, 0, "{r:?}");
    assert_eq!(app.sandbox().calls().refresh, 2);
}

/// A second instance on the same database: its own pool, lease owner and
/// single-flight map; the same networks.
async fn second_instance(app: &TestApp) -> AppState {
    let first = state(app).clone();
    let url = app.settings.database_url();
    let pool = tokio::task::spawn_blocking(move || {
        tokenwarden::db::connect(&url, &tokenwarden::db::PoolOptions::default())
    })
    .await
    .unwrap()
    .unwrap();
    AppState {
        pool,
        refresh: Arc::default(),
        instance_id: "second-instance".into(),
        ..first
    }
}

async fn concurrent_ticks_refresh_each_due_credential_once(app: TestApp) {
    let subjects = [
        "sandbox-alice",
        "sandbox-bob",
        "sandbox-carol",
        "sandbox-dave",
        "sandbox-erin",
        "sandbox-frank",
    ];
    for s in &subjects[2..] {
        app.sandbox()
            .add_identity(SandboxIdentity::new(s, &s[8..], s));
    }
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let mut creds = Vec::new();
    for (i, subject) in subjects.iter().enumerate() {
        let brand = app.new_brand(&format!("Brand {i}")).await;
        creds.push(connect(&app, &brand, subject).await.1);
    }
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    app.sandbox().reset_calls();
    let other = second_instance(&app).await;

    let at = app.now();
    let (one, two) = tokio::join!(tick(state(&app), at), tick(&other, at));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.claimed + two.claimed, subjects.len(), "{one:?} {two:?}");
    assert_eq!(one.refreshed + two.refreshed, subjects.len());
    assert_eq!(app.sandbox().calls().refresh, subjects.len() as u64);
    for id in &creds {
        assert_eq!(credential(&app, id).await.version, 2, "refreshed once");
    }
    // And again: nothing left to do for either.
    let at = app.now();
    let (one, two) = tokio::join!(tick(state(&app), at), tick(&other, at));
    assert_eq!(one.unwrap().claimed + two.unwrap().claimed, 0);
    assert_eq!(app.sandbox().calls().refresh, subjects.len() as u64);
}

#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The worker's scans (the SQL of `claim_due` and `list_unscheduled`) are
/// index scans on `credentials_due`, whatever the table's size.
async fn the_due_scans_use_the_index(app: TestApp) {
    let plans = tokenwarden::db::run(app.pool(), |conn| {
        let due = "SELECT id FROM credentials WHERE next_refresh_at <= '2030-01-01 00:00:00' \
                   AND (lease_owner IS NULL OR lease_expires_at < '2030-01-01 00:00:00') \
                   ORDER BY next_refresh_at ASC LIMIT 100";
        let unscheduled = "SELECT id FROM credentials WHERE next_refresh_at IS NULL LIMIT 100";
        let mut plans = Vec::new();
        for query in [due, unscheduled] {
            let plan = match conn {
                tokenwarden::db::DbConnection::Sqlite(c) => {
                    diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}"))
                        .load::<SqlitePlan>(c)?
                        .into_iter()
                        .map(|p| p.detail)
                        .collect::<Vec<_>>()
                }
                tokenwarden::db::DbConnection::Postgresql(c) => {
                    // An empty table makes any plan cheap: forbid the
                    // sequential scan to see whether the index serves it.
                    diesel::sql_query("SET enable_seqscan = off").execute(c)?;
                    let plan = diesel::sql_query(format!("EXPLAIN {query}"))
                        .load::<PgPlan>(c)?
                        .into_iter()
                        .map(|p| p.line)
                        .collect();
                    diesel::sql_query("RESET enable_seqscan").execute(c)?;
                    plan
                }
            };
            plans.push(plan.join("\n"));
        }
        Ok(plans)
    })
    .await
    .unwrap();
    for plan in plans {
        assert!(plan.contains("credentials_due"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(!plan.contains("SCAN credentials"), "{plan}");
    }
}

on_both_backends!(
    the_due_scans_use_the_index,
    transitions_are_announced_once_per_account,
    a_due_credential_is_refreshed_once,
    a_transient_failure_is_retried_later_with_backoff,
    failures_give_up_only_after_days_expired,
    a_refused_grant_becomes_reauth_required,
    concurrent_ticks_refresh_each_due_credential_once,
);

// ---------------------------------------------------------------------------
// The command line

fn tokenwarden(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwarden"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("TOKENWARDEN_LOG__FORMAT", "text")
        .env("TOKENWARDEN_LOG__LEVEL", "info")
        .env("NO_COLOR", "1")
        .args(["--dev", "--data-dir", "."]);
    cmd
}

#[test]
fn worker_once_runs_one_tick_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenwarden(dir.path())
        .args(["worker", "--once"])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{logs}");
    assert_eq!(logs.matches("worker tick").count(), 1, "{logs}");
    assert!(dir.path().join("tokenwarden.db").exists());
}

/// Starts `args`, waits until its log shows `wanted`, sends SIGTERM, and
/// returns the whole log after a clean exit.
#[cfg(unix)]
fn run_until_logged_then_terminate(args: &[&str], env: &[(&str, &str)], wanted: &str) -> String {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokenwarden(dir.path());
    cmd.args(args).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(log) if log.contains(wanted) => {
                // Let the server finish installing its signal handlers.
                std::thread::sleep(Duration::from_millis(500));
                break;
            }
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("{wanted:?} never logged");
            }
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(exit.success(), "exit {exit:?}: {log}");
    log
}

#[cfg(unix)]
#[test]
fn worker_ticks_until_sigterm() {
    let log = run_until_logged_then_terminate(
        &["worker"],
        &[("TOKENWARDEN_WORKER__TICK_SECS", "1")],
        "worker tick",
    );
    assert!(log.contains("lifecycle worker started"), "{log}");
    assert!(log.contains("lifecycle worker stopped"), "{log}");
}

#[cfg(unix)]
#[test]
fn serve_runs_the_worker_unless_told_not_to() {
    let log =
        run_until_logged_then_terminate(&["serve", "--bind", "127.0.0.1:0"], &[], "worker tick");
    assert!(log.contains("lifecycle worker stopped"), "{log}");

    let log = run_until_logged_then_terminate(
        &["serve", "--bind", "127.0.0.1:0", "--no-worker"],
        &[],
        "listening",
    );
    assert!(log.contains("lifecycle worker disabled"), "{log}");
    assert!(!log.contains("worker tick"), "{log}");

    let log = run_until_logged_then_terminate(
        &["serve", "--bind", "127.0.0.1:0"],
        &[("TOKENWARDEN_WORKER__ENABLED", "false")],
        "listening",
    );
    assert!(!log.contains("worker tick"), "{log}");
}
