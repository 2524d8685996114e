//! `/v1/webhooks`: the organization's lifecycle webhook subscriptions.
//! Rotation, test messages and the delivery record are in `webhook_deliveries`.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::extractors::Json;
use super::paths::WebhookPath;
use super::responses::{BodyErrors, OrganizationAuthErrors, QueryErrors};
use super::shared::PageQuery;
use crate::auth::{Principal, Scope};
use crate::db::webhooks::WebhookSubscription;
use crate::domain::from_db_time;
use crate::domain::webhooks::{WebhookEvent, events_from_text};
use crate::error::Error;
use crate::services::webhooks::{self, NewSubscription, SubscriptionUpdate, previous_secret_until};
use crate::state::AppState;

/// A webhook subscription: where tokenwarden POSTs the lifecycle events it picked.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::webhook)]
pub struct Webhook {
    /// The subscription's id.
    pub id: Uuid,
    /// Where events are POSTed: https (plain http only to a loopback host in development mode).
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://hooks.example.com/tokenwarden"
    )]
    pub url: String,
    /// What the subscription is for, free text.
    #[schema(max_length = 500, example = "Pause publishing when a token dies")]
    pub description: Option<String>,
    /// The events delivered to this URL.
    #[schema(min_items = 1, max_items = 7)]
    pub events: Vec<WebhookEvent>,
    /// Whether events are delivered. Turned off by the server when deliveries
    /// have failed for more than a day (see `disabled_reason`).
    pub enabled: bool,
    /// Why the server disabled the subscription; `null` otherwise.
    #[schema(
        max_length = 1000,
        example = "deliveries failed for more than 24 hours; last error: HTTP 500"
    )]
    pub disabled_reason: Option<String>,
    /// While a secret rotation's overlap lasts, when the replaced secret
    /// stops signing (until then every message carries both signatures).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When the subscription was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    pub fn from_row(row: WebhookSubscription, now: DateTime<Utc>) -> Result<Self, Error> {
        Ok(Self {
            id: Uuid::from(row.id),
            events: events_from_text(&row.events)
                .map_err(|e| Error::internal(format!("webhook {}: {e}", row.id)))?,
            previous_secret_expires_at: previous_secret_until(&row, now),
            url: row.url,
            description: row.description,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            created_at: from_db_time(row.created_at),
            updated_at: from_db_time(row.updated_at),
        })
    }
}

/// A page of webhook subscriptions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::webhook_page)]
pub struct WebhookPage {
    /// The subscriptions of this page, oldest first.
    pub data: Vec<Webhook>,
    #[schema(schema_with = super::shared::next_cursor)]
    pub next_cursor: Option<String>,
}

/// A new subscription and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::webhook_created)]
pub struct WebhookCreated {
    /// The subscription.
    pub webhook: Webhook,
    /// The signing secret (Standard Webhooks: `whsec_` and base64). Shown only
    /// now; keep it to verify the `webhook-signature` header.
    #[schema(max_length = 64, pattern = "^whsec_[A-Za-z0-9+/]{43}=$")]
    pub secret: String,
}

/// A new subscription.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/tokenwarden",
    "events": ["token.expired", "token.reauth_required", "account.connected"],
    "description": "Pause publishing when a token dies"
}))]
pub struct WebhookInput {
    /// Where to POST events: an https URL (1–2048 characters) whose host does
    /// not resolve to a private, loopback, link-local or reserved address
    /// (nor to an IPv6 address translated to one: NAT64, 6to4, Teredo).
    #[validate(length(min = 1, max = 2048))]
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    pub url: String,
    /// The events to deliver: 1–7 event types (one named twice counts once).
    #[validate(length(min = 1, max = 7))]
    #[schema(min_items = 1, max_items = 7)]
    pub events: Vec<WebhookEvent>,
    /// What the subscription is for, at most 500 characters.
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Whether to deliver events from now on (default `true`).
    pub enabled: Option<bool>,
}

/// Changes to a subscription; members left out stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"events": ["token.expired", "token.renewed"], "enabled": true}))]
pub struct WebhookPatch {
    /// A new target URL, checked like on creation.
    #[validate(length(min = 1, max = 2048))]
    #[schema(format = "uri", min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    /// The new set of events: 1–7 event types (one named twice counts once).
    #[validate(length(min = 1, max = 7))]
    #[schema(min_items = 1, max_items = 7)]
    pub events: Option<Vec<WebhookEvent>>,
    /// A new description; an empty string removes it.
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// `false` pauses deliveries (queued messages wait); `true` resumes them
    /// and clears a `disabled_reason`.
    pub enabled: Option<bool>,
}

/// The events without repeats, in the order first named.
fn distinct(events: Vec<WebhookEvent>) -> Vec<WebhookEvent> {
    let mut seen = std::collections::HashSet::new();
    events.into_iter().filter(|e| seen.insert(*e)).collect()
}

/// List webhooks
///
/// The organization's webhook subscriptions, oldest first. Needs `org:admin`.
#[utoipa::path(
    operation_id = "list_webhooks",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of webhook subscriptions.", body = WebhookPage),
        OrganizationAuthErrors,
        QueryErrors
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<WebhookPage>, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let (limit, after) = query.resolve()?;
    let page = webhooks::list(&state, principal.organization_id(), limit, after).await?;
    let now = state.now();
    Ok(web::Json(WebhookPage {
        data: page
            .items
            .into_iter()
            .map(|row| Webhook::from_row(row, now))
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Create a webhook
///
/// Subscribes a URL to lifecycle events. Needs `org:admin` and a plan with
/// webhooks (Advanced and up; others answer 403 `plan-limit-reached`). The
/// answer carries the signing secret, shown only this once. Every delivery is
/// a POST signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) with a JSON body `{type, timestamp, data}`; failed
/// deliveries are retried with exponential backoff for more than a day.
#[utoipa::path(
    operation_id = "create_webhook",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    request_body = WebhookInput,
    responses(
        (status = 201, description = "The new subscription and its secret.", body = WebhookCreated,
            headers(
                ("Location" = String, description = "URL of the new subscription"),
                ("Cache-Control" = String, description = "`no-store`: the answer holds the signing secret")
            )),
        BodyErrors,
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks `org:admin` (`insufficient-scope`), is restricted to some brands (`organization-wide-token-required`), or the plan has no webhooks (`plan-limit-reached`)."),
        (status = 404, description = "The token's organization does not exist."),
        (status = 409, description = "The organization has the most webhooks it may have (20)."),
        (status = 422, description = "Invalid or unknown members, or a target URL that is refused (`/url`).")
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<WebhookInput>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let input = body.0;
    let created = webhooks::create(
        &state,
        principal.organization_id(),
        &principal.subject,
        NewSubscription {
            url: input.url,
            events: distinct(input.events),
            description: input.description,
            enabled: input.enabled.unwrap_or(true),
        },
    )
    .await?;
    let webhook = Webhook::from_row(created.subscription, state.now())?;
    // The answer holds the signing secret: no cache may keep it.
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/webhooks/{}", webhook.id)))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(WebhookCreated {
            webhook,
            secret: created.secret,
        }))
}

/// Get a webhook
///
/// Needs `org:admin`. Another organization's subscription answers 404.
#[utoipa::path(
    operation_id = "get_webhook",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(WebhookPath),
    responses(
        (status = 200, description = "The subscription.", body = Webhook),
        OrganizationAuthErrors,
        (status = 404, description = "No such subscription in the caller's organization.")
    )
)]
#[get("/webhooks/{webhook_id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
) -> Result<web::Json<Webhook>, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let id = path.into_inner().webhook_id;
    let row = webhooks::get(&state, principal.organization_id(), id).await?;
    Ok(web::Json(Webhook::from_row(row, state.now())?))
}

/// Update a webhook
///
/// Changes the URL, events, description or `enabled`. Needs `org:admin` and a
/// plan with webhooks. Enabling a subscription the server disabled clears its
/// `disabled_reason`; its queued messages are then delivered.
#[utoipa::path(
    operation_id = "update_webhook",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(WebhookPath),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The changed subscription.", body = Webhook),
        BodyErrors,
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks `org:admin` (`insufficient-scope`), is restricted to some brands (`organization-wide-token-required`), or the plan has no webhooks (`plan-limit-reached`)."),
        (status = 404, description = "No such subscription in the caller's organization."),
        (status = 422, description = "Invalid or unknown members, or a target URL that is refused (`/url`).")
    )
)]
#[patch("/webhooks/{webhook_id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
    body: Json<WebhookPatch>,
) -> Result<web::Json<Webhook>, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let id = path.into_inner().webhook_id;
    let patch = body.0;
    let row = webhooks::update(
        &state,
        principal.organization_id(),
        id,
        &principal.subject,
        SubscriptionUpdate {
            url: patch.url,
            events: patch.events.map(distinct),
            description: patch.description,
            enabled: patch.enabled,
        },
    )
    .await?;
    Ok(web::Json(Webhook::from_row(row, state.now())?))
}

/// Delete a webhook
///
/// Needs `org:admin`. Its queued messages and delivery record go with it.
#[utoipa::path(
    operation_id = "delete_webhook",
    tag = "webhooks",
    security(("bearer" = ["org:admin"])),
    params(WebhookPath),
    responses(
        (status = 204, description = "The subscription is deleted."),
        OrganizationAuthErrors,
        (status = 404, description = "No such subscription in the caller's organization.")
    )
)]
#[delete("/webhooks/{webhook_id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let webhook = path.into_inner().webhook_id;
    webhooks::delete(
        &state,
        principal.organization_id(),
        webhook,
        &principal.subject,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
