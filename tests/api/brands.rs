use serde_json::{Value, json};

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

async fn brand_crud_round_trip(app: TestApp) {
    let token = app.admin_token();
    // Create.
    let response = app.create_brand(&token, "  Northwind Coffee ").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "Northwind Coffee", "names are trimmed");
    assert_eq!(location, format!("/v1/brands/{id}"));

    // Read.
    let fetched: Value = app
        .get(&location)
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created);

    // Rename.
    let response = app
        .patch(&location)
        .bearer(&token)
        .json(&json!({ "name": "Northwind Roasters" }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["name"], "Northwind Roasters");
    assert_eq!(renamed["created_at"], created["created_at"]);

    // Duplicate names conflict.
    let response = app.create_brand(&token, "Northwind Roasters").await;
    assert_problem(response, 409, "conflict").await;

    // Delete, then it is gone.
    let response = app.delete(&location).bearer(&token).send().await;
    assert_eq!(response.status(), 204);
    assert_problem(
        app.get(&location).bearer(&token).send().await,
        404,
        "not-found",
    )
    .await;
    let response = app.delete(&location).bearer(&token).send().await;
    assert_problem(response, 404, "not-found").await;

    // Every change left an audit event, in order.
    let org = app.org_id.clone();
    let actions = tokenwarden::db::run(app.pool(), move |conn| {
        tokenwarden::db::audit::list_audit_events(
            conn,
            &crate::helpers::org_id(&org),
            None,
            None,
            100,
        )
    })
    .await
    .unwrap()
    .into_iter()
    .filter(|e| e.brand_id.is_some_and(|b| b.as_str() == id))
    .map(|e| (e.action, e.actor))
    .collect::<Vec<_>>();
    assert_eq!(
        actions,
        vec![
            ("brand.deleted".to_string(), "user-1".to_string()),
            ("brand.renamed".to_string(), "user-1".to_string()),
            ("brand.created".to_string(), "user-1".to_string()),
        ]
    );
}

async fn brands_paginate_with_cursors(app: TestApp) {
    let token = app.admin_token();
    let mut names = Vec::new();
    for i in 0..7 {
        let name = format!("Brand {i}");
        assert_eq!(app.create_brand(&token, &name).await.status(), 201);
        names.push(name);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/brands?limit=3&cursor={c}"),
            None => "/v1/brands?limit=3".to_string(),
        };
        let page: Value = app
            .get(&path)
            .bearer(&token)
            .send()
            .await
            .json()
            .await
            .unwrap();
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 3);
        seen.extend(data.iter().map(|b| b["name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names, "every brand once, in creation order");

    let response = app
        .get("/v1/brands?cursor=bogus")
        .bearer(&token)
        .send()
        .await;
    let body = assert_problem(response, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["parameter"], "cursor");
}

async fn plan_limits_brand_count(app: TestApp) {
    let org = app.create_org("Tiny Co", "free").await;
    let token = app.token(&org, ALL_SCOPES);
    assert_eq!(app.create_brand(&token, "Only").await.status(), 201);
    let response = app.create_brand(&token, "Second").await;
    let body = assert_problem(response, 403, "plan-limit-reached").await;
    assert_eq!(body["required_plan"], "starter");

    // The billing system upgrades; the second brand is now allowed.
    let response = app
        .patch(format!("/v1/organizations/{org}"))
        .bearer(app.platform_token())
        .json(&json!({ "plan": "starter" }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.create_brand(&token, "Second").await.status(), 201);

    // A downgrade deletes nothing but stops new brands.
    let response = app
        .patch(format!("/v1/organizations/{org}"))
        .bearer(app.platform_token())
        .json(&json!({ "plan": "free" }))
        .send()
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = app
        .get("/v1/brands")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_problem(
        app.create_brand(&token, "Third").await,
        403,
        "plan-limit-reached",
    )
    .await;
}

async fn other_organizations_brands_are_404(app: TestApp) {
    let other_org = app.create_org("Other Agency", "advanced").await;
    let other_token = app.token(&other_org, ALL_SCOPES);
    let response = app.create_brand(&other_token, "Theirs").await;
    let theirs: Value = response.json().await.unwrap();
    let path = format!("/v1/brands/{}", theirs["id"].as_str().unwrap());

    let mine = app.admin_token();
    assert_problem(app.get(&path).bearer(&mine).send().await, 404, "not-found").await;
    let response = app
        .patch(&path)
        .bearer(&mine)
        .json(&json!({ "name": "Hijacked" }))
        .send()
        .await;
    assert_problem(response, 404, "not-found").await;
    let response = app.delete(&path).bearer(&mine).send().await;
    assert_problem(response, 404, "not-found").await;
    let page: Value = app
        .get("/v1/brands")
        .bearer(&mine)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"], json!([]));

    // Untouched for its owner.
    let still: Value = app
        .get(&path)
        .bearer(&other_token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["name"], "Theirs");
}

on_both_backends!(
    brand_crud_round_trip,
    brands_paginate_with_cursors,
    plan_limits_brand_count,
    other_organizations_brands_are_404,
);
