//! `serve` stopped by SIGTERM lets what it started after an answer finish: a
//! revocation still on its way to the network when the signal comes is sent
//! and answered before the process exits.

use std::process::{Command, Stdio};
use std::time::Duration;

use actix_web::web;
use serde_json::{Value, json};
use tokenwarden::sandbox::{self, Endpoint, FailureMode, SandboxOptions, SandboxState};
use url::Url;

use crate::cli::tokenwarden;
use crate::client::Client;

fn mint(dir: &std::path::Path, org: &str, scope: &str) -> String {
    let output = tokenwarden(dir)
        .args(["--dev", "--data-dir", ".", "token", "mint"])
        .args(["--org", org, "--sub", "ops", "--scope", scope])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_under_way_at_sigterm_is_still_sent() {
    // Arrange: a network on a server of its own (the sandbox), and `serve`
    // on it as a process, with one account connected over the OAuth flow.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let network = web::Data::new(SandboxState::new(SandboxOptions::for_public_url(&public)));
    let served = network.clone();
    let base = crate::providers::start(move |cfg| {
        cfg.service(sandbox::scope(served.clone()));
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokenwarden.toml"),
        format!(
            "[networks.sandbox]\nkind = \"sandbox\"\n\
             authorize_url = \"{base}sandbox/authorize\"\ntoken_url = \"{base}sandbox/token\"\n\
             revoke_url = \"{base}sandbox/revoke\"\nidentity_url = \"{base}sandbox/userinfo\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut serve = tokenwarden(dir.path())
        .args(["--dev", "--data-dir", ".", "--config", "tokenwarden.toml"])
        .args([
            "serve",
            "--no-worker",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TOKENWARDEN_PUBLIC_URL", public.as_str())
        .env("TOKENWARDEN_LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = Client::new(http, format!("http://127.0.0.1:{port}"));
    let mut up = false;
    for _ in 0..200 {
        if let Ok(r) = client.get("/readyz").try_send().await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve did not become ready");
    let platform = mint(dir.path(), "platform", "platform:admin");
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let request = client.request(method, path).bearer(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { request.send().await.json::<Value>().await.unwrap() }
    };
    let org = call(
        reqwest::Method::POST,
        "/v1/organizations",
        &platform,
        Some(json!({"name": "Leaving", "plan": "starter"})),
    )
    .await;
    let token = mint(
        dir.path(),
        org["id"].as_str().unwrap(),
        "accounts:read accounts:write org:admin",
    );
    let brand = call(
        reqwest::Method::POST,
        "/v1/brands",
        &token,
        Some(json!({"name": "Leaving"})),
    )
    .await;
    let brand = brand["id"].as_str().unwrap();
    let started = call(
        reqwest::Method::POST,
        &format!("/v1/brands/{brand}/accounts/connect"),
        &token,
        Some(json!({"network": "sandbox"})),
    )
    .await;
    let approve = format!(
        "{}&auto_approve=sandbox-alice",
        started["authorization_url"].as_str().unwrap()
    );
    let approved = client.get(approve).send().await;
    let callback = approved.headers()["location"].to_str().unwrap().to_string();
    let response = client.get(callback).send().await;
    let connected: Value = response.json().await.unwrap();
    let account = connected["account"]["id"].as_str().unwrap();
    assert_eq!(network.live_grants("sandbox-alice"), 1);
    // The network takes a second and a half to answer the revocation.
    network.queue_failure(Endpoint::Revoke, FailureMode::Slow { delay_ms: 1500 }, 1);

    // Act: a disconnect (answered at once, its revocation sent after), and
    // SIGTERM right behind it.
    let path = format!("/v1/brands/{brand}/accounts/{account}");
    let gone = client.delete(&path).bearer(&token).send().await;
    assert_eq!(gone.status(), 204);
    let terminated = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = tokio::task::spawn_blocking(move || serve.wait())
        .await
        .unwrap()
        .unwrap();

    // Assert: the process waited for the network's answer before it exited.
    assert!(status.success(), "{status}");
    let logs = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        logs.contains("revoked replaced grant at the network"),
        "the revocation was not answered before exit:\n{logs}"
    );
    assert_eq!(network.calls().revoke, 1);
    assert_eq!(network.live_grants("sandbox-alice"), 0);
}
