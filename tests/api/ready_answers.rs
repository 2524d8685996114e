//! Ready answers at SaaS scale (docs/rules.md#ready-answers): a poll reads
//! no database while nothing changed, yet sees every committed write — also
//! one the watch of data versions never heard of (written while its
//! connection was down) — and the kept answers let the least recently used
//! go, one at a time, within their budget.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ALL_SCOPES, Backend, TestApp};
use crate::on_both_backends;

const BADGE: &str = "/v1/expired-tokens/summary";
const DROPDOWN: &str = "/v1/expired-tokens";

/// A poll of `path` as `token`'s front end makes it: status, tag, body.
async fn poll(
    app: &TestApp,
    token: &str,
    path: &str,
    etag: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = app.get(path).bearer(token);
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    let response = request.send().await;
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, etag, response.text().await.unwrap())
}

/// The value of an unlabelled series in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the instance learns data versions from its `opened`-th watch
/// connection. A wait for a state, not a timed assertion: the bound is
/// only there so that a watch that never comes fails the test.
async fn watching(app: &TestApp, opened: u64) {
    for _ in 0..300 {
        if metric(app, "tokenwarden_ready_version_watch_up").await == 1
            && metric(app, "tokenwarden_ready_version_watches_opened_total").await >= opened
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the watch of data versions never came up (connection {opened})");
}

async fn disable(state: &tokenwarden::state::AppState, org: &str, brand: &str, account: &str) {
    let audience =
        tokenwarden::domain::audience::Audience::organization(crate::helpers::org_id(org));
    let (brand, account) = (crate::helpers::id(brand), crate::helpers::id(account));
    tokenwarden::services::accounts::set_enabled(state, &audience, brand, account, "test", false)
        .await
        .unwrap();
}

async fn a_poll_reads_no_database_while_nothing_changed(app: TestApp) {
    // Arrange: two expired accounts, the badge answered once and the watch up.
    let brand = app.new_brand("Polled").await;
    let mut accounts = Vec::new();
    for subject in ["sandbox-alice", "sandbox-bob"] {
        let connected = app.connect_sandbox(&brand, subject).await;
        accounts.push(connected["account"]["id"].as_str().unwrap().to_string());
    }
    app.advance(chrono::Duration::hours(2));
    let token = app.admin_token();
    poll(&app, &token, BADGE, None).await;
    watching(&app, 1).await;
    let (_, etag, body) = poll(&app, &token, BADGE, None).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 2);
    let reads = metric(&app, "tokenwarden_ready_version_reads_total").await;
    let hits = metric(&app, "tokenwarden_ready_answers_hits_total").await;

    // Act + Assert: polls while nothing changes are 304s that read nothing.
    for _ in 0..5 {
        let (status, again, _) = poll(&app, &token, BADGE, Some(&etag)).await;
        assert_eq!(status, 304);
        assert_eq!(again, etag);
    }
    assert_eq!(
        metric(&app, "tokenwarden_ready_version_reads_total").await,
        reads
    );
    assert_eq!(
        metric(&app, "tokenwarden_ready_answers_hits_total").await,
        hits + 5
    );

    // A write through this instance's API is the very next poll's answer,
    // learned from the watch rather than read.
    let response = app
        .patch(format!("/v1/brands/{brand}/accounts/{}", accounts[0]))
        .bearer(&token)
        .json(&json!({ "enabled": false }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let (status, after_api, body) = poll(&app, &token, BADGE, Some(&etag)).await;
    assert_eq!(status, 200);
    assert_ne!(after_api, etag);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 1);

    // So is a write by another instance (its own pool and connections).
    let other = crate::worker::instances::second_instance(&app).await;
    disable(&other, &app.org_id, &brand, &accounts[1]).await;
    let (status, after_other, body) = poll(&app, &token, BADGE, Some(&after_api)).await;
    assert_eq!(status, 200);
    assert_ne!(after_other, after_api);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 0);
    assert_eq!(
        metric(&app, "tokenwarden_ready_version_reads_total").await,
        reads,
        "both writes were learned without a read"
    );
    // Stored state: both accounts are disabled.
    let (pool, org) = (app.pool().clone(), app.org_id.clone());
    let enabled: Vec<bool> = tokenwarden::db::run(&pool, move |conn| {
        use diesel::prelude::*;
        use tokenwarden::db::schema::accounts::dsl as a;
        Ok(a::accounts
            .filter(a::organization_id.eq(org))
            .select(a::enabled)
            .load(conn)?)
    })
    .await
    .unwrap();
    assert_eq!(enabled, [false, false]);
}

on_both_backends!(a_poll_reads_no_database_while_nothing_changed);

/// Ends the watch's connection from the server side, as a restart or a
/// network failure would; the number of connections ended.
async fn kill_the_watch(app: &TestApp) -> usize {
    tokenwarden::db::run(app.pool(), |conn| {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Ended {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ended: bool,
        }
        let ended: Vec<Ended> = diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE application_name = '{}' AND datname = current_database()",
            tokenwarden::db::versions::APPLICATION_NAME
        ))
        .load(conn)?;
        Ok(ended.into_iter().filter(|e| e.ended).count())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_announced_to_no_one_while_the_watch_was_down_is_seen() {
    if !crate::helpers::postgres_enabled() {
        eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
        return;
    }
    // Arrange: two expired accounts, the badge kept, the watch up.
    let app = TestApp::spawn(Backend::Postgres).await;
    let brand = app.new_brand("Dropped").await;
    let mut accounts = Vec::new();
    for subject in ["sandbox-alice", "sandbox-bob"] {
        let connected = app.connect_sandbox(&brand, subject).await;
        accounts.push(connected["account"]["id"].as_str().unwrap().to_string());
    }
    app.advance(chrono::Duration::hours(2));
    let token = app.admin_token();
    poll(&app, &token, BADGE, None).await;
    watching(&app, 1).await;
    let (_, etag, _) = poll(&app, &token, BADGE, None).await;
    assert_eq!(poll(&app, &token, BADGE, Some(&etag)).await.0, 304);
    // The dropdown is kept too, and not polled again until the watch is back.
    let (_, dropdown_tag, _) = poll(&app, &token, DROPDOWN, None).await;
    assert_eq!(
        poll(&app, &token, DROPDOWN, Some(&dropdown_tag)).await.0,
        304
    );

    // Act: the watch's connection is ended, and another instance writes
    // while nothing listens, so the announcement reaches no one.
    assert_eq!(kill_the_watch(&app).await, 1, "one watch connection");
    let other = crate::worker::instances::second_instance(&app).await;
    disable(&other, &app.org_id, &brand, &accounts[0]).await;

    // Assert: the very next poll is the new answer (read, the watch being lost).
    let (status, after_loss, body) = poll(&app, &token, BADGE, Some(&etag)).await;
    assert_eq!(status, 200);
    assert_ne!(after_loss, etag);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 1);

    // A new watch comes up and forgets what the lost one taught: still the
    // new answer, kept again, and the next write is learned without a read.
    watching(&app, 2).await;
    let (status, again, _) = poll(&app, &token, BADGE, Some(&after_loss)).await;
    assert_eq!(status, 304);
    assert_eq!(again, after_loss);
    let (status, _, body) = poll(&app, &token, DROPDOWN, Some(&dropdown_tag)).await;
    assert_eq!(
        status, 200,
        "the dropdown kept before the loss is not given again"
    );
    let listed = serde_json::from_str::<Value>(&body).unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let reads = metric(&app, "tokenwarden_ready_version_reads_total").await;
    disable(&other, &app.org_id, &brand, &accounts[1]).await;
    let (status, after_reconnect, body) = poll(&app, &token, BADGE, Some(&after_loss)).await;
    assert_eq!(status, 200);
    assert_ne!(after_reconnect, after_loss);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 0);
    assert_eq!(
        metric(&app, "tokenwarden_ready_version_reads_total").await,
        reads
    );
    assert_eq!(
        metric(&app, "tokenwarden_ready_version_watches_opened_total").await,
        2
    );
}

/// A budget of a few answers, so that polling many organizations overflows it.
const SMALL_BUDGET: usize = 4096;

async fn an_eviction_under_load_lets_only_the_least_recently_used_go(backend: Backend) {
    // Arrange: a hot organization with an expired account, and 40 others
    // whose front ends poll once each, more than the budget holds.
    let app = TestApp::spawn_with(backend, |settings| {
        settings.ready_answers.budget_bytes = SMALL_BUDGET;
    })
    .await;
    let brand = app.new_brand("Hot").await;
    app.connect_sandbox(&brand, "sandbox-alice").await;
    app.advance(chrono::Duration::hours(2));
    let hot = app.admin_token();
    let mut others = Vec::new();
    for i in 0..40 {
        let org = app.create_org(&format!("Tenant {i}"), "advanced").await;
        others.push(app.token(&org, ALL_SCOPES));
    }
    let (_, hot_tag, _) = poll(&app, &hot, BADGE, None).await;
    let (hits, misses) = (
        metric(&app, "tokenwarden_ready_answers_hits_total").await,
        metric(&app, "tokenwarden_ready_answers_misses_total").await,
    );

    // Act: the hot front end polls between every other organization's poll.
    for token in &others {
        let (status, _, body) = poll(&app, token, BADGE, None).await;
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 0);
        let (status, again, _) = poll(&app, &hot, BADGE, Some(&hot_tag)).await;
        assert_eq!(status, 304);
        assert_eq!(again, hot_tag);
    }

    // Assert: the others' answers were let go to make room, one at a time,
    // never the hot one: each of its 40 polls was a hit, each other's a miss.
    assert!(metric(&app, "tokenwarden_ready_answers_evictions_total").await > 0);
    assert!(metric(&app, "tokenwarden_ready_answers_bytes").await <= SMALL_BUDGET as u64);
    assert_eq!(
        metric(&app, "tokenwarden_ready_answers_hits_total").await,
        hits + 40
    );
    assert_eq!(
        metric(&app, "tokenwarden_ready_answers_misses_total").await,
        misses + 40
    );
    // The most recently polled others are still kept: a poll of each is a hit.
    let last = others.len() - 3;
    for token in &others[last..] {
        assert_eq!(poll(&app, token, BADGE, None).await.0, 200);
    }
    assert_eq!(
        metric(&app, "tokenwarden_ready_answers_hits_total").await,
        hits + 43
    );
    // The hot answer is still its own organization's.
    let (_, _, body) = poll(&app, &hot, BADGE, None).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["total"], 1);
}

mod an_eviction_under_load_lets_only_the_least_recently_used_go {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_eviction_under_load_lets_only_the_least_recently_used_go(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if !crate::helpers::postgres_enabled() {
            eprintln!("skipped: {} is not set", crate::helpers::PG_ENV);
            return;
        }
        super::an_eviction_under_load_lets_only_the_least_recently_used_go(Backend::Postgres).await;
    }
}
