//! Polling front ends: the dropdown, the badge and Manage Accounts answer a
//! strong `ETag`, and 304 with no body while it still is the answer — never
//! once a write or the clock has changed a status.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::Client;
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn poll(app: &TestApp, path: &str, etag: Option<&str>) -> (StatusCode, String, String) {
    let mut request = app.get(path).bearer(app.admin_token());
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

async fn a_poll_sees_every_change_and_nothing_else(app: TestApp) {
    // Arrange: one account, valid for now.
    let brand = app.new_brand("Polled").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let paths = [
        "/v1/expired-tokens".to_string(),
        "/v1/expired-tokens/summary".to_string(),
        format!("/v1/brands/{brand}/accounts"),
    ];
    for path in &paths {
        // Act + Assert: a strong tag, then 304 with no body while nothing changed.
        let (status, etag, _) = poll(&app, path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{path}: {etag}"
        );
        let (status, again, body) = poll(&app, path, Some(&etag)).await;
        assert_eq!(status, 304, "{path}");
        assert_eq!(again, etag, "{path}");
        assert!(body.is_empty(), "{path}: no body");
    }
    let (_, before, _) = poll(&app, "/v1/expired-tokens", None).await;

    // The clock passes the token's expiry: the next poll is a new answer.
    app.advance(chrono::Duration::hours(2));
    let (status, expired, body) = poll(&app, "/v1/expired-tokens", Some(&before)).await;
    assert_eq!(status, 200);
    assert_ne!(expired, before);
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["data"][0]["account_id"], account.as_str());

    // A write (disabling the account) is a new answer too.
    let (_, summary, _) = poll(&app, "/v1/expired-tokens/summary", None).await;
    let response = app
        .patch(format!("/v1/brands/{brand}/accounts/{account}"))
        .bearer(app.admin_token())
        .json(&json!({ "enabled": false }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let (status, after, body) = poll(&app, "/v1/expired-tokens/summary", Some(&summary)).await;
    assert_eq!(status, 200);
    assert_ne!(after, summary);
    let counts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(counts["total"], 0);
}

on_both_backends!(a_poll_sees_every_change_and_nothing_else);

async fn a_write_on_another_instance_is_seen_by_the_very_next_read(app: TestApp) {
    // Arrange: a connected account whose dropdown, badge and brand page this
    // instance has answered and keeps ready (the second poll is a 304).
    let brand = app.new_brand("Shared database").await;
    let connected = app.connect_sandbox(&brand, "sandbox-bob").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    app.advance(chrono::Duration::hours(2));
    let paths = [
        "/v1/expired-tokens".to_string(),
        "/v1/expired-tokens/summary".to_string(),
        format!("/v1/brands/{brand}/accounts"),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        let (_, etag, _) = poll(&app, path, None).await;
        let (status, _, _) = poll(&app, path, Some(&etag)).await;
        assert_eq!(status, 304, "{path}");
        tags.push(etag);
    }

    // Act: another instance on the same database disables the account.
    let other = crate::worker::instances::second_instance(&app).await;
    tokenwarden::services::accounts::set_enabled(
        &other,
        &tokenwarden::domain::audience::Audience::organization(crate::helpers::org_id(&app.org_id)),
        crate::helpers::id(&brand),
        crate::helpers::id(&account),
        "other-instance",
        false,
    )
    .await
    .unwrap();

    // Assert: the very next poll of each read here is the new answer.
    for (path, etag) in paths.iter().zip(&tags) {
        let (status, again, body) = poll(&app, path, Some(etag)).await;
        assert_eq!(status, 200, "{path}");
        assert_ne!(&again, etag, "{path}");
        let body: Value = serde_json::from_str(&body).unwrap();
        if path.ends_with("/summary") {
            assert_eq!(body["total"], 0);
        } else if path.starts_with("/v1/expired-tokens") {
            assert_eq!(body["data"], json!([]));
        } else {
            assert_eq!(body["data"][0]["enabled"], false);
        }
    }
}

on_both_backends!(a_write_on_another_instance_is_seen_by_the_very_next_read);

async fn version_of(app: &TestApp) -> i64 {
    let (pool, org) = (app.pool().clone(), app.org_id.clone());
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        tokenwarden::db::organizations::find_data_version(&mut conn, &crate::helpers::org_id(&org))
            .unwrap()
            .unwrap()
    })
    .await
    .unwrap()
}

async fn every_shown_change_moves_the_data_version_and_a_lease_does_not(app: TestApp) {
    // Each write a client can see moves the organization's data version.
    let start = version_of(&app).await;
    let brand = app.new_brand("Versioned").await;
    let after_brand = version_of(&app).await;
    assert!(after_brand > start, "a new brand");
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap().to_string();
    let after_connect = version_of(&app).await;
    assert!(after_connect > after_brand, "a connect");
    let response = app
        .post(format!("/v1/brands/{brand}/accounts/{account}/renew"))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let after_renew = version_of(&app).await;
    assert!(after_renew > after_connect, "a renewal");
    let response = app
        .patch("/v1/organization")
        .bearer(app.admin_token())
        .json(&json!({ "warning_window_days": 3 }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let after_window = version_of(&app).await;
    assert!(after_window > after_renew, "the warning window");

    // A refresh lease taken and given back changes nothing shown.
    let (pool, org, id) = (app.pool().clone(), app.org_id.clone(), account.clone());
    let credential = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let row = tokenwarden::db::accounts::find_account_by_id(
            &mut conn,
            &crate::helpers::org_id(&org),
            crate::helpers::id(&id),
        )
        .unwrap()
        .unwrap();
        row.2.id
    })
    .await
    .unwrap();
    let pool = app.pool().clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        assert!(
            tokenwarden::db::credentials::take_lease(&mut conn, credential, "probe", 30).unwrap()
        );
        tokenwarden::db::credentials::release_lease(&mut conn, credential, "probe").unwrap();
    })
    .await
    .unwrap();
    assert_eq!(version_of(&app).await, after_window, "a lease alone");
}

on_both_backends!(every_shown_change_moves_the_data_version_and_a_lease_does_not);

async fn a_front_end_that_takes_gzip_gets_it_under_its_own_tag(app: TestApp) {
    // Arrange: a Manage Accounts page of more than a kilobyte.
    let brand = app.new_brand("Zipped").await;
    app.connect_sandbox(&brand, "sandbox-alice").await;
    app.connect_sandbox(&brand, "sandbox-bob").await;
    // A client that leaves the body as it came, to see the gzipped bytes.
    let raw = Client::new(
        reqwest::Client::builder().no_gzip().build().unwrap(),
        app.address.clone(),
    );
    let path = format!("/v1/brands/{brand}/accounts");
    let ask = |coding: &'static str, tag: Option<&str>| {
        let mut request = raw
            .get(&path)
            .bearer(app.admin_token())
            .header("accept-encoding", coding);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag.to_string());
        }
        request.send()
    };
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };

    // Act
    let plain = ask("identity", None).await;
    let zipped = ask("gzip, deflate, br", None).await;

    // Assert: the same JSON, gzipped under a tag of its own, varying by coding.
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&zipped, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(header(&zipped, "vary").as_deref(), Some("accept-encoding"));
    let (plain_tag, zipped_tag) = (
        header(&plain, "etag").unwrap(),
        header(&zipped, "etag").unwrap(),
    );
    assert_ne!(plain_tag, zipped_tag);
    let plain_body = plain.bytes().await.unwrap();
    assert!(plain_body.len() > 1024, "{} bytes", plain_body.len());
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&zipped.bytes().await.unwrap()[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain_body);
    // Each tag answers 304 for its own coding only.
    assert_eq!(ask("gzip", Some(&zipped_tag)).await.status(), 304);
    assert_eq!(ask("identity", Some(&zipped_tag)).await.status(), 200);
    assert_eq!(ask("identity", Some(&plain_tag)).await.status(), 304);
}

on_both_backends!(a_front_end_that_takes_gzip_gets_it_under_its_own_tag);
