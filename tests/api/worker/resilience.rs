//! No piece of data may kill, strand or stick what keeps grants alive: the
//! worker outlives a network's absurd `Retry-After` and a failing tick, says
//! in `/readyz` when it last succeeded, imported dates stay near now, an
//! `Idempotency-Key` whose client went away still gets its answer, and the
//! vault hands out every token that still works.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::{Value, json};
use tokenwarden::db::schema::{accounts, idempotency_records};
use tokenwarden::sandbox::{Endpoint, FailureMode};
use tokenwarden::state::AppState;

use crate::helpers::{TestApp, assert_problem};
use crate::on_both_backends;
use crate::revocation::sandbox_grant;

/// The longest pause a network (or this service) may impose: a day.
const DAY_SECS: u64 = 86_400;

/// A `Retry-After` whose instant lies past the last date chrono can represent.
const ABSURD_RETRY_AFTER: u64 = 10_000_000_000_000;

fn state(app: &TestApp) -> &AppState {
    app.parts.state.get_ref()
}

async fn connect(app: &TestApp, brand: &str, subject: &str) -> String {
    let answer = app.connect_sandbox(brand, subject).await;
    answer["account"]["id"].as_str().unwrap().to_string()
}

async fn expiry_of(app: &TestApp, account: &str) -> chrono::DateTime<chrono::Utc> {
    let account = account.to_string();
    tokenwarden::db::run(app.pool(), move |conn| {
        let id: String = accounts::table
            .filter(accounts::id.eq(account))
            .select(accounts::credential_id.assume_not_null())
            .first(conn)?;
        tokenwarden::db::credentials::find_credential_by_id(conn, crate::helpers::id(&id))
    })
    .await
    .unwrap()
    .and_then(|c| c.expires_at)
    .map(tokenwarden::domain::from_db_time)
    .expect("an expiry")
}

async fn renew(app: &TestApp, brand: &str, account: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(app.admin_token());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await
}

async fn readiness(app: &TestApp) -> Value {
    let response = app.get("/readyz").send().await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_huge_retry_after_never_stops_the_worker(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    // Issued for 30 s: within the sandbox's 60 s lead, so both are due now.
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let alice = connect(&app, &brand, "sandbox-alice").await;
    let bob = connect(&app, &brand, "sandbox-bob").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    let (alice_before, bob_before) = (expiry_of(&app, &alice).await, expiry_of(&app, &bob).await);
    let absurd = FailureMode::RateLimited {
        retry_after_secs: ABSURD_RETRY_AFTER,
    };
    app.sandbox()
        .queue_failure(Endpoint::Token, absurd.clone(), 1);

    let report = tokenwarden::worker::tick(state(&app), app.now())
        .await
        .expect("the tick survives the network's answer");
    assert_eq!(
        (report.claimed, report.refreshed, report.transient),
        (2, 1, 1),
        "{report:?}"
    );

    // The rate-limited one is retried after at most a day, not never.
    app.advance(chrono::Duration::seconds(DAY_SECS as i64 + 60));
    let report = tokenwarden::worker::tick(state(&app), app.now())
        .await
        .expect("tick");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let month = chrono::Duration::days(29);
    assert!(expiry_of(&app, &alice).await > alice_before + month);
    assert!(expiry_of(&app, &bob).await > bob_before + month);

    // A client is never told to wait longer than a day either. (Past the
    // 30 s in which a renew trusts a refresh that just happened.)
    app.advance(chrono::Duration::minutes(1));
    app.sandbox().queue_failure(Endpoint::Token, absurd, 1);
    let response = renew(&app, &brand, &alice, None).await;
    assert_eq!(
        response.headers()["retry-after"],
        DAY_SECS.to_string().as_str()
    );
    let problem = assert_problem(response, 503, "network-unavailable").await;
    assert_eq!(problem["retry_after"], DAY_SECS);
}

async fn imported_dates_far_from_now_are_refused(app: TestApp) {
    let brand = app.new_brand("Imports").await;
    let (access, refresh) = sandbox_grant(&app, "sandbox-alice").await;
    let import = |expires_at: String| {
        app.post(format!("/v1/brands/{brand}/accounts"))
            .bearer(app.admin_token())
            .json(&json!({
                "network": "sandbox",
                "access_token": access,
                "refresh_token": refresh,
                "expires_at": expires_at,
            }))
            .send()
    };
    let eleven_years = app.now() + chrono::Duration::days(11 * 366);
    let eleven_years_ago = app.now() - chrono::Duration::days(11 * 366);
    for far in [
        "-262143-01-01T00:00:00Z".to_string(),
        "+10000-01-01T00:00:00Z".to_string(),
        eleven_years.to_rfc3339(),
        eleven_years_ago.to_rfc3339(),
    ] {
        let problem = assert_problem(import(far.clone()).await, 422, "validation-failed").await;
        assert_eq!(
            problem["errors"][0]["pointer"], "/expires_at",
            "{far}: {problem}"
        );
    }
    assert_eq!(app.counts().await.2, 0, "nothing stored");
    // Nothing stored, so the worker has nothing to choke on.
    tokenwarden::worker::tick(state(&app), app.now())
        .await
        .expect("tick");

    // Near now is fine, and sorts as the date it is.
    let near = app.now() + chrono::Duration::days(9 * 365);
    let response = import(near.to_rfc3339()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let account = body["account"]["id"].as_str().unwrap();
    let stored = expiry_of(&app, account).await;
    assert!(
        (stored - near).num_seconds().abs() < 1,
        "{stored} vs {near}"
    );
    tokenwarden::worker::tick(state(&app), app.now())
        .await
        .expect("tick");
}

/// Takes a table the tick needs away (the last step's), as a database
/// outage mid-tick would; `back` puts it back.
async fn hide_oauth_states(app: &TestApp, back: bool) {
    let (from, to) = if back {
        ("oauth_states_hidden", "oauth_states")
    } else {
        ("oauth_states", "oauth_states_hidden")
    };
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    tokenwarden::db::run(app.pool(), move |conn| {
        diesel::sql_query(sql).execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
}

async fn a_failing_tick_is_counted_and_the_worker_goes_on(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30));
    let alice = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox()
        .set_access_token_lifetime(Duration::from_secs(30 * 86_400));
    let before = expiry_of(&app, &alice).await;
    hide_oauth_states(&app, false).await;

    let failed = tokenwarden::worker::tick_and_log(state(&app)).await;
    assert!(failed.is_none(), "the tick failed");
    // What the tick could do before its failure it did.
    assert!(expiry_of(&app, &alice).await > before + chrono::Duration::days(29));
    let health = state(&app).worker_health.snapshot();
    assert_eq!(
        (health.failed_ticks, health.last_successful_tick),
        (1, None)
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("tokenwarden_worker_failed_ticks_total 1"),
        "{metrics}"
    );
    assert!(
        crate::helpers::captured_logs().contains("worker tick failed"),
        "logged"
    );

    // The loop goes on: the next tick runs, and succeeds once the database is back.
    hide_oauth_states(&app, true).await;
    let at = app.now();
    assert!(
        tokenwarden::worker::tick_and_log(state(&app))
            .await
            .is_some()
    );
    let health = state(&app).worker_health.snapshot();
    assert_eq!(health.failed_ticks, 1);
    assert!(health.last_successful_tick.is_some_and(|t| t >= at));
}

async fn readiness_reports_the_last_successful_tick(app: TestApp) {
    let body = readiness(&app).await;
    assert_eq!(
        body["worker"]["last_successful_tick"],
        Value::Null,
        "{body}"
    );
    assert_eq!(body["worker"]["failed_ticks"], 0, "{body}");

    let at = app.now();
    tokenwarden::worker::tick(state(&app), at)
        .await
        .expect("tick");
    let body = readiness(&app).await;
    let seen = chrono::DateTime::parse_from_rfc3339(
        body["worker"]["last_successful_tick"]
            .as_str()
            .expect("a time"),
    )
    .unwrap();
    assert_eq!(seen, at, "{body}");
    assert_eq!(body["status"], "ok");
}

async fn idempotency_rows(app: &TestApp) -> i64 {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok(idempotency_records::table.count().get_result::<i64>(conn)?)
    })
    .await
    .unwrap()
}

/// What the API binds a key to for a renew without a body: its method and path.
fn renew_fingerprint(brand: &str, account: &str) -> String {
    use sha2::Digest;
    let asked = format!("POST /v1/brands/{brand}/accounts/{account}/renew\n");
    sha2::Sha256::digest(asked.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn a_dropped_renew_never_sticks_its_idempotency_key(app: TestApp) {
    let brand = app.new_brand("Northwind").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    app.sandbox().reset_calls();
    // The network takes its time; the client gives up long before.
    app.sandbox()
        .queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);
    let dropped = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(app.admin_token())
        .header("Idempotency-Key", "renew-once")
        .raw(|r| r.timeout(Duration::from_millis(300)))
        .try_send()
        .await;
    assert!(dropped.is_err(), "the client went away");

    // Once the renewal finished, the retry gets its answer, not a 409.
    let mut last = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let response = renew(&app, &brand, &account, Some("renew-once")).await;
        if response.status() != 409 {
            last = Some(response);
            break;
        }
    }
    let response = last.expect("the key was still in flight after 10 s");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "renewed");
    assert_eq!(app.sandbox().calls().refresh, 1, "renewed once");

    // A claim whose process died never answers: it lasts as long as a refresh
    // lease, after which the key works again.
    let (org, subject) = (app.org_id.clone(), "user-1");
    let claim = tokenwarden::services::idempotency::claim(
        state(&app),
        &crate::helpers::org_id(&org),
        "crashed",
        subject,
        renew_fingerprint(&brand, &account),
    )
    .await
    .unwrap();
    assert_eq!(claim, tokenwarden::services::idempotency::Claim::Claimed);
    assert_problem(
        renew(&app, &brand, &account, Some("crashed")).await,
        409,
        "idempotency-key-in-flight",
    )
    .await;
    app.advance(chrono::Duration::minutes(10));
    let response = renew(&app, &brand, &account, Some("crashed")).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("idempotent-replayed"));

    // The worker purges claims that ran out.
    tokenwarden::services::idempotency::claim(
        state(&app),
        &crate::helpers::org_id(&org),
        "orphan",
        subject,
        "x".into(),
    )
    .await
    .unwrap();
    let rows = idempotency_rows(&app).await;
    app.advance(chrono::Duration::minutes(10));
    tokenwarden::worker::tick(state(&app), app.now())
        .await
        .expect("tick");
    assert_eq!(idempotency_rows(&app).await, rows - 1, "the orphan is gone");
}

async fn the_vault_hands_out_a_token_that_still_works(app: TestApp) {
    let brand = app.new_brand("Publishing").await;
    // A grant without a refresh token: only its owner can renew it.
    let (access, _) = sandbox_grant(&app, "sandbox-alice").await;
    let response = app
        .post(format!("/v1/brands/{brand}/accounts"))
        .bearer(app.admin_token())
        .json(&json!({"network": "sandbox", "access_token": access, "expires_in": 3600}))
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let account = body["account"]["id"].as_str().unwrap().to_string();
    let worker = app.token(&app.org_id, "tokens:read");
    let read = || {
        app.post(format!("/v1/accounts/{account}/access-token"))
            .bearer(&worker)
            .send()
    };

    let body: Value = read().await.json().await.unwrap();
    assert_eq!(
        (body["access_token"].as_str(), &body["needs_renewal"]),
        (Some(access.as_str()), &json!(false))
    );

    // Within the sandbox's 60 s lead: it still works, and says it needs renewal.
    app.advance(chrono::Duration::seconds(3600 - 30));
    let response = read().await;
    assert_eq!(
        response.status(),
        200,
        "a token that still works is handed out"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["access_token"], access.as_str());
    assert_eq!(body["needs_renewal"], true);
    assert!(body["expires_at"].is_string());
    assert_eq!(app.sandbox().calls().refresh, 0, "nothing to refresh with");

    // Expired: nothing valid is left.
    app.advance(chrono::Duration::seconds(60));
    let problem = assert_problem(read().await, 409, "reauthorization-required").await;
    assert!(problem["renew_href"].is_string());
}

on_both_backends!(
    a_huge_retry_after_never_stops_the_worker,
    imported_dates_far_from_now_are_refused,
    a_failing_tick_is_counted_and_the_worker_goes_on,
    readiness_reports_the_last_successful_tick,
    a_dropped_renew_never_sticks_its_idempotency_key,
    the_vault_hands_out_a_token_that_still_works,
);
