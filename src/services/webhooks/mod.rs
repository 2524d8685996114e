//! Lifecycle webhooks (docs/rules.md#webhooks): an organization's
//! subscriptions, their secrets (shown once, rotated with an overlap), test
//! messages and the record of delivery attempts. The outbox is written by the
//! changes themselves (`db::webhook_outbox`); the worker delivers it through
//! [`delivery`].

pub mod delivery;
pub mod target;

use crate::domain::ids::{OrganizationId, WebhookId, WebhookMessageId};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::Page;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::webhooks::{
    self as store, PREVIOUS_SECRET_FIELD, SECRET_FIELD, SubscriptionChanges, WebhookAttempt,
    WebhookSubscription, seal_secret,
};
use crate::db::{self, DbConnection};
use crate::domain::audit::AuditAction;
use crate::domain::pagination::split_page;
use crate::domain::plan::Plan;
use crate::domain::webhooks::{
    MAX_SUBSCRIPTIONS, SECRET_OVERLAP, SECRET_PREFIX, WebhookEvent, events_to_text,
};
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, FieldError, Result};
use crate::state::AppState;
use target::{TargetPolicy, resolve};

/// A new subscription as the client asked for it.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub description: Option<String>,
    pub enabled: bool,
}

/// A PATCH: `None` leaves a field as it is; an empty description clears it.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// A secret shown once, with the subscription it signs for.
#[derive(Debug)]
pub struct WithSecret {
    pub subscription: WebhookSubscription,
    pub secret: String,
}

/// A fresh signing secret: `whsec_` and the base64 of 32 random bytes from
/// the operating system's RNG.
pub fn new_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(raw.as_mut());
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_ref());
    format!("{SECRET_PREFIX}{encoded}")
}

fn not_found(id: WebhookId) -> Error {
    Error::not_found("webhook", id)
}

/// Webhooks are a plan feature; an organization without it is told which
/// plan has it. Reading and deleting what it has stays possible.
fn require_plan(conn: &mut DbConnection, org: &OrganizationId) -> Result<()> {
    let plan = db::organizations::find_organization(conn, org)?
        .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))?
        .plan()?;
    if plan.features().webhooks {
        return Ok(());
    }
    let required = Plan::cheapest_where(|p| p.features().webhooks);
    Err(Error::PlanLimit {
        detail: format!(
            "the {plan} plan does not include webhooks; the {} plan does",
            required.map_or("enterprise", Plan::as_str)
        ),
        required_plan: required,
    })
}

/// Checks the plan, then a target URL with DNS (a 422 on `/url`): an
/// organization without webhooks must learn nothing of what a name resolves
/// to. The write checks the plan again, in its transaction.
async fn check_target(state: &AppState, org: &OrganizationId, url: &str) -> Result<()> {
    let owner = org.clone();
    db::run(&state.pool, move |conn| require_plan(conn, &owner)).await?;
    resolve(url, TargetPolicy::from_settings(&state.settings))
        .await
        .map(drop)
        .map_err(|reason| {
            Error::Validation(vec![FieldError::body("/url", format!("the URL {reason}"))])
        })
}

fn audit_webhook(
    conn: &mut DbConnection,
    org: &OrganizationId,
    actor: &str,
    action: AuditAction,
    subscription: WebhookId,
    at: DateTime<Utc>,
) -> Result<()> {
    insert_audit_event(
        conn,
        Audit {
            detail: Some(json!({ "webhook_id": subscription })),
            ..Audit::new(org, actor, action)
        },
        at,
    )
}

pub async fn list(
    state: &AppState,
    org: &OrganizationId,
    limit: u32,
    after: Option<String>,
) -> Result<Page<WebhookSubscription>> {
    let org = org.clone();
    let rows = db::run(&state.pool, move |conn| {
        store::list_subscriptions(conn, &org, after.as_deref(), i64::from(limit) + 1)
    })
    .await?;
    let (items, next_cursor) = split_page(rows, limit, |s| s.id.as_str());
    Ok(Page { items, next_cursor })
}

pub async fn get(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
) -> Result<WebhookSubscription> {
    let org = org.clone();
    db::run(&state.pool, move |conn| {
        store::find_subscription(conn, &org, id)?.ok_or_else(|| not_found(id))
    })
    .await
}

/// Creates a subscription with a fresh secret, returned this once.
pub async fn create(
    state: &AppState,
    org: &OrganizationId,
    actor: &str,
    input: NewSubscription,
) -> Result<WithSecret> {
    check_target(state, org, &input.url).await?;
    let now = state.now();
    let at = to_db_time(now);
    let (org, actor, keys) = (org.clone(), actor.to_string(), state.keys.clone());
    db::run_write(&state.pool, move |conn| {
        require_plan(conn, &org)?;
        if store::count_subscriptions(conn, &org)? >= MAX_SUBSCRIPTIONS {
            return Err(Error::Conflict(format!(
                "an organization may have at most {MAX_SUBSCRIPTIONS} webhooks"
            )));
        }
        let id = WebhookId::new();
        let secret = new_secret();
        let sealed = seal_secret(&keys, id, SECRET_FIELD, &secret);
        let row = WebhookSubscription {
            id,
            organization_id: org.clone(),
            url: input.url,
            description: input.description.filter(|d| !d.is_empty()),
            events: events_to_text(&input.events),
            enabled: input.enabled,
            disabled_reason: None,
            secret: sealed.bytes,
            secret_key_id: sealed.key_id,
            previous_secret: None,
            previous_secret_key_id: None,
            previous_secret_expires_at: None,
            failing_since: None,
            created_by: actor.clone(),
            created_at: at,
            updated_at: at,
        };
        store::insert_subscription(conn, &row)?;
        audit_webhook(conn, &org, &actor, AuditAction::WebhookCreated, id, now)?;
        Ok(WithSecret {
            subscription: row,
            secret,
        })
    })
    .await
}

/// Changes what the PATCH names. Enabling a subscription that was disabled
/// for failing clears its reason and gives it a fresh start.
pub async fn update(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
    actor: &str,
    update: SubscriptionUpdate,
) -> Result<WebhookSubscription> {
    if let Some(url) = &update.url {
        check_target(state, org, url).await?;
    }
    let now = state.now();
    let at = to_db_time(now);
    let (org, actor) = (org.clone(), actor.to_string());
    db::run_write(&state.pool, move |conn| {
        require_plan(conn, &org)?;
        let changes = SubscriptionChanges {
            url: update.url,
            description: update
                .description
                .map(|d| Some(d).filter(|d| !d.is_empty())),
            events: update.events.as_deref().map(events_to_text),
            enabled: update.enabled,
            disabled_reason: update.enabled.filter(|e| *e).map(|_| None),
            failing_since: update.enabled.filter(|e| *e).map(|_| None),
            updated_at: Some(at),
        };
        if !store::update_subscription(conn, &org, id, &changes)? {
            return Err(not_found(id));
        }
        audit_webhook(conn, &org, &actor, AuditAction::WebhookUpdated, id, now)?;
        store::find_subscription(conn, &org, id)?.ok_or_else(|| not_found(id))
    })
    .await
}

/// Deletes a subscription with its queued messages and attempts.
pub async fn delete(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
    actor: &str,
) -> Result<()> {
    let now = state.now();
    let (org, actor) = (org.clone(), actor.to_string());
    db::run_write(&state.pool, move |conn| {
        if !store::delete_subscription(conn, &org, id)? {
            return Err(not_found(id));
        }
        audit_webhook(conn, &org, &actor, AuditAction::WebhookDeleted, id, now)
    })
    .await
}

/// Replaces the secret; the one it replaces keeps signing (beside the new
/// one) for [`SECRET_OVERLAP`], so receivers can switch without losing a
/// message. Returns the new secret, shown this once, and the subscription.
pub async fn rotate_secret(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
    actor: &str,
) -> Result<WithSecret> {
    let now = state.now();
    let at = to_db_time(now);
    let (org, actor, keys) = (org.clone(), actor.to_string(), state.keys.clone());
    db::run_write(&state.pool, move |conn| {
        require_plan(conn, &org)?;
        let row = store::find_subscription(conn, &org, id)?.ok_or_else(|| not_found(id))?;
        let current = keys
            .decrypt(
                &row.secret_key_id,
                &row.secret,
                crate::crypto::Binding {
                    record_id: row.id.as_str(),
                    field: SECRET_FIELD,
                },
            )
            .map_err(|e| Error::internal(format!("webhook subscription {id}: {e}")))?;
        let previous = keys.encrypt(
            &current,
            crate::crypto::Binding {
                record_id: row.id.as_str(),
                field: PREVIOUS_SECRET_FIELD,
            },
        );
        let secret = new_secret();
        let sealed = seal_secret(&keys, id, SECRET_FIELD, &secret);
        store::rotate_secret(
            conn,
            &org,
            id,
            &sealed,
            &previous,
            to_db_time(now + SECRET_OVERLAP),
            at,
        )?;
        audit_webhook(
            conn,
            &org,
            &actor,
            AuditAction::WebhookSecretRotated,
            id,
            now,
        )?;
        let subscription =
            store::find_subscription(conn, &org, id)?.ok_or_else(|| not_found(id))?;
        Ok(WithSecret {
            subscription,
            secret,
        })
    })
    .await
}

/// Queues a `webhook.test` message for the subscription; returns its id
/// (the `webhook-id` it will be delivered with).
pub async fn send_test(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
    actor: &str,
) -> Result<WebhookMessageId> {
    let now = state.now();
    let (org, actor) = (org.clone(), actor.to_string());
    db::run_write(&state.pool, move |conn| {
        require_plan(conn, &org)?;
        let row = store::find_subscription(conn, &org, id)?.ok_or_else(|| not_found(id))?;
        if !row.enabled {
            return Err(Error::Conflict(
                "the webhook is disabled; enable it first".into(),
            ));
        }
        db::webhook_outbox::enqueue_test(conn, &row, &actor, now)
    })
    .await
}

/// A page of a subscription's delivery attempts, newest first.
pub async fn deliveries(
    state: &AppState,
    org: &OrganizationId,
    id: WebhookId,
    limit: u32,
    before: Option<String>,
) -> Result<Page<WebhookAttempt>> {
    let org = org.clone();
    let rows = db::run(&state.pool, move |conn| {
        if store::find_subscription(conn, &org, id)?.is_none() {
            return Err(not_found(id));
        }
        store::list_attempts(conn, &org, id, before.as_deref(), i64::from(limit) + 1)
    })
    .await?;
    let (items, next_cursor) = split_page(rows, limit, |a| a.id.as_str());
    Ok(Page { items, next_cursor })
}

/// When the replaced secret stops signing, if a rotation is in its overlap.
pub fn previous_secret_until(
    row: &WebhookSubscription,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    row.previous_secret_expires_at
        .map(from_db_time)
        .filter(|until| *until > now)
}
