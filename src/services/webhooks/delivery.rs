//! One delivery attempt of an outbox message: the target is checked again
//! (DNS may have changed since the subscription was saved), the body is
//! signed Standard Webhooks style with every live secret, and the request is
//! bounded in time and in how much of the answer is read. No connection is
//! held while the receiver is called.

use crate::domain::ids::{WebhookAttemptId, WebhookMessageId};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::target::{TargetPolicy, resolve};
use crate::db::webhook_outbox::{AttemptRecord, WebhookMessage, record_attempt};
use crate::db::webhooks::{WebhookAttempt, WebhookSubscription, open_secrets};
use crate::db::{self};
use crate::domain::to_db_time;
use crate::domain::webhooks::{AttemptOutcome, DISABLE_AFTER, retry_delay, secret_key, sign};
use crate::error::{Error, clip};
use crate::state::AppState;

/// How much of a receiver's answer is read; the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 4096;
/// Longest stored error text of an attempt.
const MAX_ERROR: usize = 500;

/// What the receiver did with one attempt.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl Sent {
    /// The attempt as recorded: a non-2xx status is an error too.
    fn new(result: Result<u16, String>, latency: Duration) -> Self {
        let latency_ms = i64::try_from(latency.as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok(status) if (200..300).contains(&status) => Sent {
                status: Some(status),
                error: None,
                latency_ms,
            },
            Ok(status) => Sent {
                status: Some(status),
                error: Some(if (300..400).contains(&status) {
                    format!("HTTP {status}: redirects are not followed")
                } else {
                    format!("HTTP {status}")
                }),
                latency_ms,
            },
            Err(error) => Sent {
                status: None,
                error: Some(clip(error, MAX_ERROR)),
                latency_ms,
            },
        }
    }

    pub fn delivered(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The `webhook-signature` header: one `v1,…` entry per live secret,
/// space-separated, so a receiver holding either secret of a rotation
/// accepts the message.
pub fn signature_header(
    secrets: &[SecretString],
    id: WebhookMessageId,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .filter_map(|s| secret_key(s.expose_secret()))
        .map(|key| sign(&key, id.as_str(), timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends one signed message to `url` at `now`: the receiver's status, or why
/// no answer came.
async fn send(
    app: &AppState,
    url: &str,
    id: WebhookMessageId,
    body: &str,
    secrets: &[SecretString],
    now: DateTime<Utc>,
) -> Result<u16, String> {
    let policy = TargetPolicy::from_settings(&app.settings);
    let target = resolve(url, policy)
        .await
        .map_err(|reason| format!("target refused: the URL {reason}"))?;
    let timeout = Duration::from_secs(app.settings.webhooks.timeout_secs);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .resolve_to_addrs(&target.host, &target.addresses)
        .user_agent(concat!("tokenwarden-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let timestamp = now.timestamp();
    let mut response = client
        .post(target.url)
        .header("content-type", "application/json")
        .header("webhook-id", id.as_str())
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature_header(secrets, id, timestamp, body),
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(describe)?;
    let status = response.status().as_u16();
    // Read a little of the answer so the receiver sees a clean close, and no
    // more: its content is not ours to keep.
    let mut read = 0;
    while read < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    Ok(status)
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        // Without the URL: it is the subscriber's and may carry a token of theirs.
        error.without_url().to_string()
    }
}

/// Delivers one claimed message and records the attempt; `true` when delivered.
pub async fn deliver(
    app: &AppState,
    message: WebhookMessage,
    subscription: WebhookSubscription,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let secrets = open_secrets(&app.keys, &subscription, to_db_time(now))?;
    let started = Instant::now();
    let result = send(
        app,
        &subscription.url,
        message.id,
        &message.payload,
        &secrets,
        now,
    )
    .await;
    let sent = Sent::new(result, started.elapsed());
    let attempt = message.attempts + 1;
    let delivered = sent.delivered();
    let next_attempt_at = if delivered {
        None
    } else {
        retry_delay(attempt, rand::random::<f64>()).map(|d| to_db_time(now + d))
    };
    let record = AttemptRecord {
        attempt: WebhookAttempt {
            id: WebhookAttemptId::new(),
            organization_id: message.organization_id.clone(),
            subscription_id: subscription.id,
            message_id: message.id,
            event_type: message.event_type.clone(),
            attempt,
            outcome: if delivered {
                AttemptOutcome::Delivered
            } else {
                AttemptOutcome::Failed
            }
            .as_str()
            .into(),
            response_status: sent.status.map(i32::from),
            latency_ms: sent.latency_ms,
            error: sent.error.clone(),
            attempted_at: to_db_time(now),
        },
        next_attempt_at,
    };
    let reason = format!(
        "deliveries failed for more than {} hours; last error: {}",
        DISABLE_AFTER.num_hours(),
        sent.error.as_deref().unwrap_or("none")
    );
    let disable_before = to_db_time(now - DISABLE_AFTER);
    let disabled = db::run(&app.pool, move |conn| {
        record_attempt(conn, &record, disable_before, &reason)
    })
    .await?;
    tracing::info!(
        webhook = %subscription.id, message = %message.id, event = %message.event_type,
        attempt, status = sent.status, delivered, latency_ms = sent.latency_ms,
        error = sent.error.as_deref().unwrap_or(""), "webhook delivery"
    );
    if disabled {
        tracing::warn!(webhook = %subscription.id, "webhook subscription disabled after failing for too long");
    }
    Ok(delivered)
}
