//! Webhook subscriptions and their delivery attempts. The signing secrets
//! are sealed with the key ring, bound to the subscription id and the column,
//! like a credential's tokens; the outbox lives in `webhook_outbox`.

use crate::domain::ids::{OrganizationId, WebhookAttemptId, WebhookId, WebhookMessageId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use secrecy::SecretString;

use super::DbConnection;
use super::schema::webhook_attempts::dsl as t;
use super::schema::webhook_subscriptions::dsl as w;
use crate::crypto::{Binding, KeyRing, Sealed};
use crate::error::{Error, Result};

pub const SECRET_FIELD: &str = "webhook_secret";
pub const PREVIOUS_SECRET_FIELD: &str = "webhook_previous_secret";

/// A subscription as stored. `events` holds the event names, space-separated.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::webhook_subscriptions)]
pub struct WebhookSubscription {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: String,
    pub description: Option<String>,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: Vec<u8>,
    pub secret_key_id: String,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_key_id: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for WebhookSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSubscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// What a PATCH changes; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = super::schema::webhook_subscriptions)]
pub struct SubscriptionChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub events: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// One delivery attempt as recorded.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::webhook_attempts)]
pub struct WebhookAttempt {
    pub id: WebhookAttemptId,
    pub organization_id: OrganizationId,
    pub subscription_id: WebhookId,
    pub message_id: WebhookMessageId,
    pub event_type: String,
    pub attempt: i32,
    pub outcome: String,
    pub response_status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub attempted_at: NaiveDateTime,
}

/// Seals a subscription's secret for `field` of the row `id`.
pub fn seal_secret(keys: &KeyRing, id: WebhookId, field: &str, secret: &str) -> Sealed {
    keys.encrypt(
        secret.as_bytes(),
        Binding {
            record_id: id.as_str(),
            field,
        },
    )
}

/// The secrets that sign a delivery at `now`: the current one, and the one a
/// rotation replaced while its overlap lasts.
pub fn open_secrets(
    keys: &KeyRing,
    row: &WebhookSubscription,
    now: NaiveDateTime,
) -> Result<Vec<SecretString>> {
    let open = |key_id: &str, bytes: &[u8], field| {
        keys.decrypt_secret(
            key_id,
            bytes,
            Binding {
                record_id: row.id.as_str(),
                field,
            },
        )
        .map_err(|e| Error::internal(format!("webhook subscription {}: {e}", row.id)))
    };
    let mut secrets = vec![open(&row.secret_key_id, &row.secret, SECRET_FIELD)?];
    if let (Some(bytes), Some(key_id), Some(until)) = (
        &row.previous_secret,
        &row.previous_secret_key_id,
        row.previous_secret_expires_at,
    ) && until > now
    {
        secrets.push(open(key_id, bytes, PREVIOUS_SECRET_FIELD)?);
    }
    Ok(secrets)
}

pub fn insert_subscription(conn: &mut DbConnection, row: &WebhookSubscription) -> Result<()> {
    diesel::insert_into(w::webhook_subscriptions)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn count_subscriptions(conn: &mut DbConnection, org: &OrganizationId) -> Result<i64> {
    Ok(w::webhook_subscriptions
        .filter(w::organization_id.eq(org))
        .count()
        .get_result(conn)?)
}

pub fn find_subscription(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: WebhookId,
) -> Result<Option<WebhookSubscription>> {
    Ok(w::webhook_subscriptions
        .filter(w::organization_id.eq(org))
        .filter(w::id.eq(id))
        .select(WebhookSubscription::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `limit` subscriptions of the organization with ids after `after`, oldest first.
pub fn list_subscriptions(
    conn: &mut DbConnection,
    org: &OrganizationId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<WebhookSubscription>> {
    let mut query = w::webhook_subscriptions
        .filter(w::organization_id.eq(org))
        .select(WebhookSubscription::as_select())
        .order(w::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(w::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn update_subscription(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: WebhookId,
    changes: &SubscriptionChanges,
) -> Result<bool> {
    let n = diesel::update(
        w::webhook_subscriptions
            .filter(w::organization_id.eq(org))
            .filter(w::id.eq(id)),
    )
    .set(changes)
    .execute(conn)?;
    Ok(n == 1)
}

/// Replaces the secret; the old one keeps signing until `previous_until`.
pub fn rotate_secret(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: WebhookId,
    secret: &Sealed,
    previous: &Sealed,
    previous_until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        w::webhook_subscriptions
            .filter(w::organization_id.eq(org))
            .filter(w::id.eq(id)),
    )
    .set((
        w::secret.eq(&secret.bytes),
        w::secret_key_id.eq(&secret.key_id),
        w::previous_secret.eq(Some(&previous.bytes)),
        w::previous_secret_key_id.eq(Some(&previous.key_id)),
        w::previous_secret_expires_at.eq(Some(previous_until)),
        w::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes a subscription with its queued messages and recorded attempts.
pub fn delete_subscription(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: WebhookId,
) -> Result<bool> {
    use super::schema::webhook_messages::dsl as m;
    // Children first and explicitly, rather than trusting every connection
    // to have SQLite's foreign keys (and so its cascades) turned on.
    diesel::delete(
        t::webhook_attempts
            .filter(t::organization_id.eq(org))
            .filter(t::subscription_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(
        m::webhook_messages
            .filter(m::organization_id.eq(org))
            .filter(m::subscription_id.eq(id)),
    )
    .execute(conn)?;
    let n = diesel::delete(
        w::webhook_subscriptions
            .filter(w::organization_id.eq(org))
            .filter(w::id.eq(id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Attempts of one subscription with ids before `before`, newest first.
pub fn list_attempts(
    conn: &mut DbConnection,
    org: &OrganizationId,
    subscription: WebhookId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<WebhookAttempt>> {
    let mut query = t::webhook_attempts
        .filter(t::organization_id.eq(org))
        .filter(t::subscription_id.eq(subscription))
        .select(WebhookAttempt::as_select())
        .order(t::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(t::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?)
}
