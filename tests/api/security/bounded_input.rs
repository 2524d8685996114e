//! Safe defaults and bounded input: what a careless or hostile client sends
//! is refused as input, secrets stay out of caches, and metrics cannot be
//! grown without bound.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, RETURN_URL, TestApp, assert_problem};

#[tokio::test]
async fn a_token_that_cannot_travel_in_a_header_is_refused_before_any_call() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Imports").await;
    app.sandbox().reset_calls();

    for (pointer, body) in [
        (
            "/access_token",
            json!({ "network": "sandbox", "access_token": "abc\u{1}def" }),
        ),
        (
            "/access_token",
            json!({ "network": "sandbox", "access_token": "two words" }),
        ),
        (
            "/refresh_token",
            json!({ "network": "sandbox", "access_token": "ok", "refresh_token": "caf\u{e9}" }),
        ),
    ] {
        let response = app
            .post(format!("/v1/brands/{brand}/accounts"))
            .bearer(app.admin_token())
            .json(&body)
            .send()
            .await;
        let problem = assert_problem(response, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["pointer"], pointer);
    }
    let calls = app.sandbox().calls();
    assert_eq!(calls.userinfo + calls.token, 0, "no outbound call");
}

#[tokio::test]
async fn return_url_prefixes_match_on_path_segments() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Returns").await;
    let connect = |return_url: String| {
        app.post(format!("/v1/brands/{brand}/accounts/connect"))
            .bearer(app.admin_token())
            .json(&json!({ "network": "sandbox", "return_url": return_url }))
            .send()
    };

    let below = connect(format!("{RETURN_URL}/done")).await;
    let beside = connect(format!("{RETURN_URL}-evil")).await;

    assert_eq!(below.status(), 201);
    let problem = assert_problem(beside, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["pointer"], "/return_url");
}

#[tokio::test]
async fn answers_holding_a_secret_are_never_cached() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let brand = app.new_brand("Secrets").await;
    let connected = app.connect_sandbox(&brand, "sandbox-alice").await;
    let account = connected["account"]["id"].as_str().unwrap();

    let vault = app
        .post(format!("/v1/accounts/{account}/access-token"))
        .bearer(app.admin_token())
        .send()
        .await;
    let link = app
        .post(format!(
            "/v1/brands/{brand}/accounts/{account}/reconnect-link"
        ))
        .bearer(app.admin_token())
        .send()
        .await;

    assert_eq!(vault.status(), 200);
    assert_eq!(vault.headers()["cache-control"], "no-store");
    assert_eq!(link.status(), 201);
    assert_eq!(link.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn invented_methods_share_one_metrics_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for method in ["FROB", "XYZZY", "PLUGH"] {
        app.request(Method::from_bytes(method.as_bytes()).unwrap(), "/v1/brands")
            .send()
            .await;
    }

    let metrics = app.metrics().await;

    assert!(metrics.contains("method=\"other\""), "{metrics}");
    for method in ["FROB", "XYZZY", "PLUGH"] {
        assert!(!metrics.contains(method), "{method} is no label");
    }
}

#[tokio::test]
async fn unknown_paths_share_one_metrics_label() {
    // Arrange: paths no route matches, each new, as a scanner sends them.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let paths: Vec<String> = (0..20)
        .map(|i| format!("/wp-admin/probe-{i}-{}", uuid::Uuid::new_v4()))
        .collect();

    // Act
    for path in &paths {
        let response = app.get(path).send().await;
        assert_eq!(response.status(), 404);
    }

    // Assert: one series for all of them, none naming a path.
    let metrics = app.metrics().await;
    let unmatched: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tokenwarden_http_requests_total") && l.contains("<unmatched>"))
        .collect();
    assert_eq!(unmatched.len(), 1, "{metrics}");
    assert!(unmatched[0].ends_with(" 20"), "{}", unmatched[0]);
    assert!(!metrics.contains("wp-admin"), "a path became a label");
}

/// A pool whose every connection is taken answers 503 with `Retry-After`
/// within the pool's timeout — never a hang, never a 500 — and serves again
/// as soon as a connection is back.
#[tokio::test]
async fn an_exhausted_pool_answers_503_within_its_timeout_and_recovers() {
    // Arrange: one connection, a one-second wait for it, held by the test.
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.database.pool_size = 1;
        settings.database.connect_timeout_secs = 1;
    })
    .await;
    let token = app.admin_token();
    let pool = app.pool().clone();
    let held = tokio::task::spawn_blocking(move || pool.get().unwrap())
        .await
        .unwrap();

    // Act
    let response = app.get("/v1/brands").bearer(&token).send().await;

    // Assert: a 503 problem (a hang would meet the client's own timeout).
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "service-unavailable").await;
    drop(held);
    assert_eq!(
        app.get("/v1/brands").bearer(&token).send().await.status(),
        200
    );
}

/// The OAuth callback is the one route anyone on the internet can call with
/// any query: whatever it carries, the answer is a client error, never a
/// server fault (64 generated queries, from proptest's generator).
#[tokio::test]
async fn any_callback_query_is_refused_as_input() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let app = TestApp::spawn(Backend::Sqlite).await;
    let pair = (
        proptest::prop_oneof![
            proptest::strategy::Just("state".to_string()),
            proptest::strategy::Just("code".to_string()),
            proptest::strategy::Just("error".to_string()),
            proptest::strategy::Just("error_description".to_string()),
            "[a-z_]{1,10}",
        ],
        "[ -~]{0,80}",
    );
    let query = proptest::collection::vec(pair, 0..5);
    let mut runner = TestRunner::deterministic();
    for _ in 0..64 {
        let pairs = query.new_tree(&mut runner).unwrap().current();
        let mut url = reqwest::Url::parse(&app.url("/v1/oauth/callback/sandbox")).unwrap();
        for (key, value) in &pairs {
            url.query_pairs_mut().append_pair(key, value);
        }
        let response = app.get(url.clone()).send().await;
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{url}: {status}");
    }
}

/// While a connect waits at the network, guessed `state` values carrying
/// the network's genuine code get nothing: each is refused, nothing is
/// stored, the code is not spent, and the genuine callback still connects.
#[tokio::test]
async fn guessing_the_oauth_state_gets_nothing() {
    use base64::Engine as _;

    // Arrange: a connect approved at the network, its callback not yet used.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.admin_token();
    let brand = app.new_brand("Guessed").await;
    let authorize = app.start_connect(&token, &brand, "sandbox", None).await;
    let callback =
        reqwest::Url::parse(&app.approve_at_sandbox(&authorize, "sandbox-alice").await).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    for _ in 0..50 {
        // A state of the genuine one's shape: 32 random bytes, base64url.
        let guess =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let mut url = callback.clone();
        url.query_pairs_mut()
            .clear()
            .append_pair("code", &code)
            .append_pair("state", &guess);

        // Act
        let response = app.get(url).send().await;

        // Assert: a state that names no authorization is not found.
        assert_problem(response, 404, "not-found").await;
    }
    assert_eq!(app.counts().await, (0, 0, 0), "nothing stored");
    assert_eq!(app.sandbox().calls().token, 0, "the code was never sent");
    let genuine = app.get(callback).send().await;
    assert_eq!(genuine.status(), 200);
}
