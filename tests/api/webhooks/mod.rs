//! Lifecycle webhooks: the subscriptions API, the outbox written with each
//! change, and delivery by the worker to a real HTTP receiver, with the
//! signatures checked by an independent Standard Webhooks implementation
//! (the `standardwebhooks` crate) and by HMAC computed here.

mod delivery;
mod key_rotation;
mod outbox;
mod reauth;
mod subscriptions;
mod targets;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokenwarden::state::AppState;
use tokenwarden::worker::tick;

use crate::helpers::{Backend, TestApp};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_string()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer, in order; 204 once they run out.
    script: VecDeque<u16>,
}

/// A webhook receiver on a loopback port that records every request and
/// answers scripted statuses.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let base = crate::providers::start(move |cfg| {
            let shared = shared.clone();
            cfg.route(
                "/hooks",
                web::route().to(move |req: HttpRequest, body: web::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let mut headers = reqwest::header::HeaderMap::new();
                        for (name, value) in req.headers() {
                            headers.insert(
                                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes())
                                    .unwrap(),
                                reqwest::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
                            );
                        }
                        let mut state = shared.lock().unwrap();
                        state.received.push(Received {
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let status = state.script.pop_front().unwrap_or(204);
                        let mut answer = HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        );
                        if (300..400).contains(&status) {
                            answer.insert_header(("location", "http://127.0.0.1:1/elsewhere"));
                        }
                        answer.finish()
                    }
                }),
            );
        });
        Self {
            url: format!("{base}hooks"),
            state,
        }
    }

    /// Answers these statuses to the next requests, in order.
    pub fn script(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

/// A test instance outside development mode (no sandbox), where only
/// public https targets are allowed.
pub async fn production_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.dev = false;
        settings.sandbox = false;
    })
    .await
}

/// A test instance in development mode, where loopback http targets (the
/// local receiver) are allowed.
pub async fn dev_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| settings.dev = true).await
}

pub fn state(app: &TestApp) -> &AppState {
    app.parts.state.get_ref()
}

/// One worker tick at the application's clock.
pub async fn tick_now(app: &TestApp) {
    tick(state(app), app.now()).await.expect("tick");
}

/// Creates a subscription; returns `(id, secret)`.
pub async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let response = app
        .post("/v1/webhooks")
        .bearer(app.admin_token())
        .json(&json!({ "url": url, "events": events }))
        .send()
        .await;
    assert_eq!(response.status(), 201, "creating a webhook");
    let body: Value = response.json().await.unwrap();
    (
        body["webhook"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

pub async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.post(path).bearer(app.admin_token()).send().await
}

pub async fn fetch_webhook(app: &TestApp, id: &str) -> Value {
    let response = app
        .get(format!("/v1/webhooks/{id}"))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The subscription's delivery attempts, newest first.
pub async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let page: Value = app
        .get(format!("/v1/webhooks/{id}/deliveries?limit=100"))
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// Verifies a delivery with the `standardwebhooks` crate, an independent
/// implementation of the scheme (it also holds the timestamp to ±5 minutes of
/// the system's time).
pub fn verify_with_library(secret: &str, received: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(received.body.as_bytes(), &received.headers)
        .is_ok()
}

/// The same check computed here with HMAC-SHA256, for deliveries whose
/// timestamp is the moved application clock: which `v1,` entries of the
/// signature header `secret` produced.
pub fn signed_by(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            received.header("webhook-id"),
            received.header("webhook-timestamp"),
            received.body
        )
        .as_bytes(),
    );
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    received
        .header("webhook-signature")
        .split(' ')
        .any(|entry| entry == expected)
}
