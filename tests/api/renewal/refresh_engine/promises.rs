//! The promises of the refresh engine, each a test on both backends.

use super::*;

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
        .post(wrong.url(&format!("/v1/brands/{brand}/accounts/connect")))
        .bearer(app.admin_token())
        .json(&json!({ "network": "sandbox" }))
        .send()
        .await
        .json()
        .await
        .unwrap();
    let callback = app
        .approve_at_sandbox(
            started["authorization_url"].as_str().unwrap(),
            "sandbox-bob",
        )
        .await;
    let response = app.get(callback).send().await;
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
        .get(wrong.url("/readyz"))
        .send()
        .await
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
        .get(fixed.url("/readyz"))
        .send()
        .await
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
    let (account, before) = renew_refused_by_the_database(&app, "Restarted").await;
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
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 1, "the lost grant is revoked");
    app.revocations_settled().await;
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
        .post(instance.url(&format!("/v1/brands/{brand}/accounts")))
        .bearer(app.admin_token())
        .json(&json!({
            "network": "steady",
            "access_token": "steady-at-0",
            "refresh_token": "steady-rt",
            "expires_in": 3600
        }))
        .send()
        .await;
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

/// `tokenwarden worker` replays the journal where it starts, as the API does:
/// a grant renewed at the network that the database refused is stored when
/// the worker's process opens its state, before its first tick, without a
/// second refresh.
async fn a_rotated_grant_that_could_not_be_stored_is_stored_when_the_worker_starts(app: TestApp) {
    // Arrange: a renewed grant the database refused, kept in the journal.
    let (account, before) = renew_refused_by_the_database(&app, "Worker start").await;
    assert_eq!(journal_entries(app.dir.path()), 1);
    fail_writebacks(&app, false).await;

    // Act: the worker's process starts on the same database and data dir.
    let settings = app.settings.clone();
    let worker =
        tokio::task::spawn_blocking(move || tokenwarden::worker::state_from_settings(settings))
            .await
            .unwrap()
            .expect("the worker's state");

    // Assert
    let row = credential_of(&app, &account).await;
    assert_eq!(row.version, before.version + 1, "the kept grant was stored");
    assert_eq!(row.lease_owner, None, "the replay let its lease go");
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert_eq!(app.sandbox().calls().refresh, 1, "no second refresh");
    assert!(
        stored_grant_refreshes(&app, &account).await,
        "the stored grant is the live one"
    );
    worker.revocations.settled().await;
}

/// A renew in a new brand whose every write-back the database refuses (it
/// still does afterwards): the network renewed the grant, the caller got a
/// 503. The account, and its credential as it was before.
async fn renew_refused_by_the_database(app: &TestApp, brand: &str) -> (String, Credential) {
    let brand = app.new_brand(brand).await;
    let account = connect(app, &brand, "sandbox-alice").await;
    let before = credential_of(app, &account).await;
    app.sandbox().reset_calls();
    fail_writebacks(app, true).await;
    let response = renew_at(app, &app.address, &brand, &account).await;
    assert_problem(response, 503, "service-unavailable").await;
    (account, before)
}

/// A refresh that ends on an error with its credential's lease held — here
/// the database refuses to record the network's failure — lets the lease go
/// (`LeaseGuard`), instead of leaving the credential to wait the lease out.
async fn a_refresh_that_ends_on_an_error_lets_its_lease_go(app: TestApp) {
    // Arrange: the network fails once, and recording that failure fails.
    let brand = app.new_brand("Guarded").await;
    let account = connect(&app, &brand, "sandbox-alice").await;
    refuse_failure_records(&app).await;
    app.sandbox().queue_failure(
        tokenwarden::sandbox::Endpoint::Token,
        tokenwarden::sandbox::FailureMode::Status { status: 503 },
        1,
    );

    // Act
    let response = renew_at(&app, &app.address, &brand, &account).await;

    // Assert: the caller hears of the error; the lease goes all the same.
    assert_problem(response, 500, "internal-error").await;
    let mut row = credential_of(&app, &account).await;
    for _ in 0..400 {
        if row.lease_owner.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        row = credential_of(&app, &account).await;
    }
    assert_eq!(row.lease_owner, None, "the lease was let go");
    assert_eq!(row.last_failure_at, None, "the failure was not recorded");
}

/// Makes every write of a refresh failure (`last_failure_at`) fail.
async fn refuse_failure_records(app: &TestApp) {
    let pool = app.pool().clone();
    let postgres = app.backend == crate::helpers::Backend::Postgres;
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let statements: &[&str] = if postgres {
            &[
                "CREATE FUNCTION refuse_failure_record() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_failure_record BEFORE UPDATE OF last_failure_at \
                 ON credentials FOR EACH ROW EXECUTE FUNCTION refuse_failure_record()",
            ]
        } else {
            &[
                "CREATE TRIGGER refuse_failure_record BEFORE UPDATE OF last_failure_at \
               ON credentials BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ]
        };
        for statement in statements {
            diesel::sql_query(*statement).execute(&mut conn).unwrap();
        }
    })
    .await
    .unwrap();
}

on_both_backends!(
    a_wrong_client_secret_never_kills_a_grant,
    renewed_means_the_stored_token_is_valid,
    a_write_back_without_the_lease_changes_nothing,
    a_write_back_keeps_its_lease_by_the_database_clock,
    a_rotated_grant_that_could_not_be_stored_survives_a_restart,
    a_rotated_grant_that_could_not_be_stored_is_stored_when_the_worker_starts,
    a_refresh_that_ends_on_an_error_lets_its_lease_go,
    a_grant_that_lost_a_version_race_is_revoked_unless_stored,
);
