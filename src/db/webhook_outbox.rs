//! The webhook outbox: one message per event and subscription, stored by
//! the transaction of the change it announces (so a change that rolls back
//! announces nothing, and one that commits cannot lose its announcement),
//! claimed by the worker and marked after each delivery attempt. Which
//! messages a change announces, and what they say, is decided by
//! `services::webhooks::announce`; this module only stores them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::webhook_attempts::dsl as t;
use super::schema::webhook_messages::dsl as m;
use super::schema::webhook_subscriptions::dsl as w;
use super::webhooks::{WebhookAttempt, WebhookSubscription};
use crate::domain::ids::{OrganizationId, WebhookId, WebhookMessageId};
use crate::domain::webhooks::{AttemptOutcome, MessageStatus};
use crate::error::Result;

/// A queued message: one event for one subscription.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::webhook_messages)]
// `None` is NULL, never SQL's DEFAULT: that is what lets SQLite take many
// rows in one INSERT (`db::insert_all`) instead of one statement per row.
#[diesel(treat_none_as_default_value = false)]
pub struct WebhookMessage {
    pub id: WebhookMessageId,
    pub organization_id: OrganizationId,
    pub subscription_id: WebhookId,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Stores messages a change's transaction decided on
/// (`services::webhooks::announce`), in one INSERT per thousand: call inside
/// that transaction, so the messages commit or roll back with the change.
pub fn insert_messages(conn: &mut DbConnection, messages: &[WebhookMessage]) -> Result<()> {
    super::insert_all::<WebhookMessage, _>(conn, m::webhook_messages, messages)?;
    Ok(())
}

/// Claims up to `limit` messages due by `now` whose subscription is enabled,
/// by moving their `next_attempt_at` to `hold_until` in the same transaction,
/// so no other instance sends them meanwhile (a crashed sender's messages
/// come back after it). On PostgreSQL the rows are selected `FOR UPDATE SKIP
/// LOCKED`, so concurrent instances claim disjoint sets without waiting.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    hold_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(WebhookMessage, WebhookSubscription)>> {
    let enabled = w::webhook_subscriptions
        .filter(w::enabled.eq(true))
        .select(w::id);
    let due = m::webhook_messages
        .filter(m::next_attempt_at.assume_not_null().le(now))
        .filter(m::subscription_id.eq_any(enabled))
        .order(m::next_attempt_at.asc())
        .limit(limit);
    let messages = super::write_transaction(conn, |conn| {
        let rows: Vec<WebhookMessage> = match conn {
            DbConnection::Postgresql(pg) => due
                .select(WebhookMessage::as_select())
                .for_update()
                .skip_locked()
                .load(pg)?,
            DbConnection::Sqlite(lite) => due.select(WebhookMessage::as_select()).load(lite)?,
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        diesel::update(m::webhook_messages.filter(m::id.eq_any(ids)))
            .set(m::next_attempt_at.eq(Some(hold_until)))
            .execute(conn)?;
        Ok(rows)
    })?;
    let ids: Vec<&str> = messages
        .iter()
        .map(|r| r.subscription_id.as_str())
        .collect();
    let subscriptions: Vec<WebhookSubscription> = w::webhook_subscriptions
        .filter(w::id.eq_any(ids))
        .select(WebhookSubscription::as_select())
        .load(conn)?;
    Ok(messages
        .into_iter()
        .filter_map(|message| {
            let subscription = subscriptions
                .iter()
                .find(|s| s.id == message.subscription_id)?
                .clone();
            Some((message, subscription))
        })
        .collect())
}

/// What one delivery attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub attempt: WebhookAttempt,
    /// When to try again; `None` when delivered or out of attempts.
    pub next_attempt_at: Option<NaiveDateTime>,
}

/// Records an attempt and its consequences in one transaction: the attempt
/// row, the message's state, and the subscription's failing streak. When a
/// message runs out of attempts and the subscription has not had a success
/// since `disable_before`, the subscription is disabled with `reason`;
/// returns whether it was.
pub fn record_attempt(
    conn: &mut DbConnection,
    record: &AttemptRecord,
    disable_before: NaiveDateTime,
    reason: &str,
) -> Result<bool> {
    super::write_transaction(conn, |conn| {
        let a = &record.attempt;
        diesel::insert_into(t::webhook_attempts)
            .values(a)
            .execute(conn)?;
        let delivered = a.outcome == AttemptOutcome::Delivered.as_str();
        let status = match (delivered, record.next_attempt_at) {
            (true, _) => MessageStatus::Delivered,
            (false, Some(_)) => MessageStatus::Pending,
            (false, None) => MessageStatus::Failed,
        };
        diesel::update(m::webhook_messages.filter(m::id.eq(&a.message_id)))
            .set((
                m::attempts.eq(a.attempt),
                m::status.eq(status.as_str()),
                m::next_attempt_at.eq(record.next_attempt_at),
                m::updated_at.eq(a.attempted_at),
            ))
            .execute(conn)?;
        let subscription = w::webhook_subscriptions.filter(w::id.eq(&a.subscription_id));
        if delivered {
            diesel::update(subscription.filter(w::failing_since.is_not_null()))
                .set(w::failing_since.eq(None::<NaiveDateTime>))
                .execute(conn)?;
            return Ok(false);
        }
        diesel::update(subscription.filter(w::failing_since.is_null()))
            .set(w::failing_since.eq(Some(a.attempted_at)))
            .execute(conn)?;
        if status != MessageStatus::Failed {
            return Ok(false);
        }
        let n = diesel::update(
            subscription
                .filter(w::enabled.eq(true))
                .filter(w::failing_since.assume_not_null().le(disable_before)),
        )
        .set((
            w::enabled.eq(false),
            w::disabled_reason.eq(Some(reason)),
            w::updated_at.eq(a.attempted_at),
        ))
        .execute(conn)?;
        Ok(n == 1)
    })
}
