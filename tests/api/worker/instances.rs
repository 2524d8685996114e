//! Several instances on one database share the work: each due credential is
//! claimed and refreshed by one of them, once.

use std::sync::Arc;
use std::time::Duration;

use tokenwarden::sandbox::SandboxIdentity;
use tokenwarden::state::AppState;
use tokenwarden::worker::tick;

use super::{connect, credential, state};
use crate::helpers::TestApp;
use crate::on_both_backends;

/// A second instance on the same database: its own pool, lease owner and
/// single-flight map; the same networks.
pub async fn second_instance(app: &TestApp) -> AppState {
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

on_both_backends!(concurrent_ticks_refresh_each_due_credential_once);
