//! The lifecycle worker, driven tick by tick while the tests move the
//! application's clock, against the sandbox network over real HTTP, and the
//! `worker` command.

mod command;
mod due_scans;
pub mod instances;
mod refresh;
mod resilience;
mod transitions;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tokenwarden::db::models::Credential;
use tokenwarden::db::schema::accounts;
use tokenwarden::domain::from_db_time;
use tokenwarden::state::AppState;
use tokenwarden::worker::{TickReport, tick};

use crate::helpers::TestApp;

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
        tokenwarden::db::credentials::find_credential_by_id(conn, crate::helpers::id(&id))
    })
    .await
    .unwrap()
    .expect("credential")
}

/// `(action, actor)` of an account's audit events, oldest first.
async fn events(app: &TestApp, account: &str) -> Vec<(String, String)> {
    let (org, account) = (app.org_id.clone(), account.to_string());
    tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(
            conn,
            &crate::helpers::org_id(&org),
            Some(crate::helpers::id(&account)),
            None,
            100,
        )
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
