//! `/v1/webhooks/{webhook_id}/…`: a subscription's secret rotation, test
//! messages and delivery record.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paths::WebhookPath;
use super::responses::{OrganizationAuthErrors, QueryErrors};
use super::shared::PageQuery;
use crate::auth::{Principal, Scope};
use crate::db::webhooks::WebhookAttempt;
use crate::domain::from_db_time;
use crate::domain::webhooks::{AttemptOutcome, TEST_EVENT};
use crate::error::Error;
use crate::services::webhooks::{self, previous_secret_until};
use crate::state::AppState;

/// A new signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD7D1dJgBjEAA=",
    "previous_secret_expires_at": "2026-11-27T08:00:00Z"
}))]
pub struct WebhookSecret {
    /// The new secret (`whsec_` and base64). Shown only now.
    #[schema(max_length = 64, pattern = "^whsec_[A-Za-z0-9+/]{43}=$")]
    pub secret: String,
    /// Until when the replaced secret also signs every message (a second
    /// `v1,` entry in `webhook-signature`), so receivers can switch over.
    pub previous_secret_expires_at: DateTime<Utc>,
}

/// A queued test message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "message_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b31",
    "type": "webhook.test"
}))]
pub struct WebhookTestQueued {
    /// The message's id: the `webhook-id` header it is delivered with.
    pub message_id: Uuid,
    /// Always `webhook.test`: sent only by this operation, whatever events the subscription picked.
    #[serde(rename = "type")]
    #[schema(
        max_length = 32,
        pattern = "^webhook\\.test$",
        example = "webhook.test"
    )]
    pub event_type: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// The attempt's id.
    pub id: Uuid,
    /// The message delivered: its `webhook-id` header. Retries of one message share it.
    pub message_id: Uuid,
    /// The event type of the message, e.g. `token.expired` or `webhook.test`.
    #[schema(max_length = 64, example = "token.expired")]
    pub event_type: String,
    /// Which attempt at this message it was, from 1.
    #[schema(minimum = 1, maximum = 100, example = 1)]
    pub attempt: i32,
    /// Whether the receiver took it (a 2xx answer).
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status; `null` when no answer came.
    #[schema(minimum = 100, maximum = 599, example = 500)]
    pub response_status: Option<i32>,
    /// How long the attempt took, milliseconds.
    #[schema(minimum = 0, maximum = 600_000, example = 42)]
    pub latency_ms: i64,
    /// Why it failed; `null` when delivered.
    #[schema(max_length = 500, example = "HTTP 500")]
    pub error: Option<String>,
    /// When the attempt was made.
    pub attempted_at: DateTime<Utc>,
}

impl WebhookDelivery {
    fn from_row(row: WebhookAttempt) -> Result<Self, Error> {
        Ok(Self {
            id: Uuid::from(row.id),
            message_id: Uuid::from(row.message_id),
            outcome: AttemptOutcome::parse(&row.outcome).ok_or_else(|| {
                Error::internal(format!("attempt {}: outcome {:?}", row.id, row.outcome))
            })?,
            event_type: row.event_type,
            attempt: row.attempt,
            response_status: row.response_status,
            latency_ms: row.latency_ms,
            error: row.error,
            attempted_at: from_db_time(row.attempted_at),
        })
    }
}

/// A page of delivery attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::webhook_delivery_page)]
pub struct WebhookDeliveryPage {
    /// The attempts of this page, newest first.
    pub data: Vec<WebhookDelivery>,
    #[schema(schema_with = super::shared::older_cursor)]
    pub next_cursor: Option<String>,
}

/// Rotate a webhook's secret
///
/// Replaces the signing secret and answers the new one, shown only this once.
/// For 24 hours every message is signed with both secrets (two
/// space-separated `v1,` entries in `webhook-signature`), so the receiver can
/// switch to the new secret without losing a message. Needs `org:admin` and a
/// plan with webhooks.
#[utoipa::path(
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(WebhookPath),
    responses(
        (status = 200, description = "The new secret.", body = WebhookSecret,
            headers(("Cache-Control" = String, description = "`no-store`: the answer holds the signing secret"))),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks `org:admin` (`insufficient-scope`), is restricted to some brands (`organization-wide-token-required`), or the plan has no webhooks (`plan-limit-reached`)."),
        (status = 404, description = "No such subscription in the caller's organization.")
    )
)]
#[post("/webhooks/{webhook_id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let rotated = webhooks::rotate_secret(
        &state,
        principal.organization_id(),
        path.webhook_id,
        &principal.subject,
    )
    .await?;
    let until = previous_secret_until(&rotated.subscription, state.now())
        .ok_or_else(|| Error::internal("a rotation without an overlap"))?;
    // The answer holds the signing secret: no cache may keep it.
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(WebhookSecret {
            secret: rotated.secret,
            previous_secret_expires_at: until,
        }))
}

/// Send a test message
///
/// Queues a `webhook.test` message for this subscription, whatever events it
/// picked; the worker delivers it like any other (signed, retried). Needs
/// `org:admin` and a plan with webhooks.
#[utoipa::path(
    operation_id = "test_webhook",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(WebhookPath),
    responses(
        (status = 202, description = "The test message is queued.", body = WebhookTestQueued),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks `org:admin` (`insufficient-scope`), is restricted to some brands (`organization-wide-token-required`), or the plan has no webhooks (`plan-limit-reached`)."),
        (status = 404, description = "No such subscription in the caller's organization."),
        (status = 409, description = "The subscription is disabled.")
    )
)]
#[post("/webhooks/{webhook_id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let message = webhooks::send_test(
        &state,
        principal.organization_id(),
        path.webhook_id,
        &principal.subject,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(WebhookTestQueued {
        message_id: Uuid::from(message),
        event_type: TEST_EVENT.into(),
    }))
}

/// List a webhook's deliveries
///
/// Every delivery attempt of this subscription, newest first: the event, the
/// attempt number, the receiver's status, the latency and the error. Needs
/// `org:admin`.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(
        WebhookPath,
        PageQuery
    ),
    responses(
        (status = 200, description = "A page of delivery attempts.", body = WebhookDeliveryPage),
        OrganizationAuthErrors,
        QueryErrors,
        (status = 404, description = "No such subscription in the caller's organization.")
    )
)]
#[get("/webhooks/{webhook_id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<WebhookDeliveryPage>, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let (limit, before) = query.resolve()?;
    let id = path.into_inner().webhook_id;
    let page = webhooks::deliveries(&state, principal.organization_id(), id, limit, before).await?;
    Ok(web::Json(WebhookDeliveryPage {
        data: page
            .items
            .into_iter()
            .map(WebhookDelivery::from_row)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}
