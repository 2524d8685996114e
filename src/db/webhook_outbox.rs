//! The webhook outbox: one message per event and subscription, written by
//! the transaction of the change it announces (so a change that rolls back
//! announces nothing, and one that commits cannot lose its announcement),
//! claimed by the worker and marked after each delivery attempt.

use crate::domain::ids::{
    AccountId, CredentialId, OrganizationId, ProfileId, WebhookId, WebhookMessageId,
};
use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::DbConnection;
use super::models::{Account, AuditEvent};
use super::schema::organizations::dsl as o;
use super::schema::webhook_attempts::dsl as t;
use super::schema::webhook_messages::dsl as m;
use super::schema::webhook_subscriptions::dsl as w;
use super::webhooks::{WebhookAttempt, WebhookSubscription};
use crate::domain::audit::AuditAction;
use crate::domain::plan::Plan;
use crate::domain::propagation::{self, Sibling, SiblingAfter};
use crate::domain::webhooks::{
    AttemptOutcome, MessageStatus, TEST_EVENT, WebhookEvent, events_from_text,
};
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, Result};

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

/// The enabled subscriptions of the organization that picked `event`, with
/// the organization's plan; none when the plan does not include webhooks (a
/// downgrade stops new announcements and deletes nothing). One query.
fn subscribers(
    conn: &mut DbConnection,
    org: &OrganizationId,
    event: WebhookEvent,
) -> Result<(Vec<WebhookId>, Option<Plan>)> {
    let plans: Vec<&str> = Plan::ALL
        .into_iter()
        .filter(|p| p.features().webhooks)
        .map(Plan::as_str)
        .collect();
    let rows: Vec<(WebhookId, String, String)> = w::webhook_subscriptions
        .inner_join(o::organizations)
        .filter(w::organization_id.eq(org))
        .filter(w::enabled.eq(true))
        .filter(o::plan.eq_any(plans))
        .select((w::id, w::events, o::plan))
        .order(w::id.asc())
        .load(conn)?;
    let plan = rows.first().and_then(|(_, _, p)| Plan::parse(p));
    let mut ids = Vec::new();
    for (id, events, _) in rows {
        let events = events_from_text(&events)
            .map_err(|e| Error::internal(format!("webhook subscription {id}: {e}")))?;
        if events.contains(&event) {
            ids.push(id);
        }
    }
    Ok((ids, plan))
}

fn insert_message(
    conn: &mut DbConnection,
    org: &OrganizationId,
    subscription: WebhookId,
    event_type: &str,
    data: &Value,
    at: DateTime<Utc>,
) -> Result<WebhookMessageId> {
    let row = message(org, subscription, event_type, data, at);
    diesel::insert_into(m::webhook_messages)
        .values(&row)
        .execute(conn)?;
    Ok(row.id)
}

fn message(
    org: &OrganizationId,
    subscription: WebhookId,
    event_type: &str,
    data: &Value,
    at: DateTime<Utc>,
) -> WebhookMessage {
    // Standard Webhooks' payload shape; `data` never holds a token.
    let payload = json!({ "type": event_type, "timestamp": at, "data": data });
    let now = to_db_time(at);
    WebhookMessage {
        id: WebhookMessageId::new(),
        organization_id: org.clone(),
        subscription_id: subscription,
        event_type: event_type.into(),
        payload: payload.to_string(),
        status: MessageStatus::Pending.as_str().into(),
        attempts: 0,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
    }
}

/// Queues `event` for every subscription of the organization that picked
/// it; `data` is built only when someone listens. Call inside the change's
/// write transaction.
pub fn enqueue(
    conn: &mut DbConnection,
    org: &OrganizationId,
    event: WebhookEvent,
    at: DateTime<Utc>,
    data: impl FnOnce(&mut DbConnection, Plan) -> Result<Value>,
) -> Result<usize> {
    let (subscriptions, plan) = subscribers(conn, org, event)?;
    let Some(plan) = plan.filter(|_| !subscriptions.is_empty()) else {
        return Ok(0);
    };
    let data = data(conn, plan)?;
    for subscription in &subscriptions {
        insert_message(conn, org, *subscription, event.as_str(), &data, at)?;
    }
    Ok(subscriptions.len())
}

/// Queues a test message for one subscription; returns the message id.
pub fn enqueue_test(
    conn: &mut DbConnection,
    subscription: &WebhookSubscription,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<WebhookMessageId> {
    let data = json!({
        "organization_id": subscription.organization_id,
        "webhook_id": subscription.id,
        "requested_by": actor,
    });
    insert_message(
        conn,
        &subscription.organization_id,
        subscription.id,
        TEST_EVENT,
        &data,
        at,
    )
}

/// Announces audit events of one action that map to a webhook event (see
/// `WebhookEvent::for_audit`). Called by `insert_audit_event`, so every
/// change that is audited is announced in its own transaction. The
/// subscriptions are read once for all the events, a renewal's siblings once
/// per grant, and the messages go in one INSERT per thousand.
pub fn announce_audits(
    conn: &mut DbConnection,
    action: AuditAction,
    rows: &[AuditEvent],
    detail: Option<&Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(event) = WebhookEvent::for_audit(action) else {
        return Ok(());
    };
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let (subscriptions, plan) = subscribers(conn, &first.organization_id, event)?;
    let Some(plan) = plan.filter(|_| !subscriptions.is_empty()) else {
        return Ok(());
    };
    let mut siblings: HashMap<CredentialId, Vec<Account>> = HashMap::new();
    let mut messages = Vec::new();
    for row in rows {
        let mut data = json!({
            "organization_id": row.organization_id,
            "brand_id": row.brand_id,
            "account_id": row.account_id,
        });
        if let Some(Value::Object(detail)) = detail {
            for (key, value) in detail {
                data[key] = value.clone();
            }
        }
        if event == WebhookEvent::TokenRenewed
            && let (Some(account), Some(credential)) = (row.account_id, row.credential_id)
        {
            if let std::collections::hash_map::Entry::Vacant(e) = siblings.entry(credential) {
                let accounts = accounts_sharing_profile(conn, &row.organization_id, credential)?;
                e.insert(accounts);
            }
            data["propagation"] =
                propagation_report(plan, &siblings[&credential], account, credential);
        }
        for subscription in &subscriptions {
            messages.push(message(
                &row.organization_id,
                *subscription,
                event.as_str(),
                &data,
                at,
            ));
        }
    }
    super::insert_all::<WebhookMessage, _>(conn, m::webhook_messages, &messages)?;
    Ok(())
}

/// The accounts of the profile a credential belongs to (none when the
/// credential is gone).
fn accounts_sharing_profile(
    conn: &mut DbConnection,
    org: &OrganizationId,
    credential: CredentialId,
) -> Result<Vec<Account>> {
    use super::schema::credentials::dsl as c;
    let Some(profile) = c::credentials
        .filter(c::id.eq(credential))
        .select(c::profile_id)
        .first::<ProfileId>(conn)
        .optional()?
    else {
        return Ok(Vec::new());
    };
    super::accounts::list_accounts_of_profile(conn, org, profile)
}

/// Which other brands' accounts of the profile share the fresh grant, and
/// which were left and why. Read from this transaction's rows and the
/// propagation rule: an event may be written before the transaction has
/// moved every sibling onto the grant, and the rule says where each ends.
fn propagation_report(
    plan: Plan,
    accounts: &[Account],
    account: AccountId,
    credential: CredentialId,
) -> Value {
    let cross_brand = plan.features().cross_brand_renewal;
    let siblings = accounts
        .iter()
        .filter(|a| a.id != account)
        .map(|a| SiblingAfter {
            shares_grant: a.credential_id == Some(credential) || (a.enabled && cross_brand),
            sibling: Sibling {
                account_id: a.id,
                brand_id: a.brand_id,
                enabled: a.enabled,
            },
            status: (),
        })
        .collect();
    let report = propagation::report(plan, siblings);
    json!({
        "renewed": report.renewed.iter().map(|s| json!({
            "brand_id": s.brand_id, "account_id": s.account_id,
        })).collect::<Vec<_>>(),
        "left": report.left.iter().map(|(s, reason, ())| json!({
            "brand_id": s.brand_id, "account_id": s.account_id, "reason": reason,
        })).collect::<Vec<_>>(),
    })
}

/// Announces that a credential's stored status became `refresh_failing`, on
/// every enabled account that uses it.
pub fn announce_refresh_failing(
    conn: &mut DbConnection,
    credential: &super::models::Credential,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let accounts = super::accounts::list_enabled_accounts_using_credential(conn, credential.id)?;
    for (account, brand) in accounts {
        enqueue(
            conn,
            &credential.organization_id,
            WebhookEvent::TokenRefreshFailing,
            at,
            |_, _| {
                Ok(json!({
                    "organization_id": credential.organization_id,
                    "brand_id": brand,
                    "account_id": account,
                    "network": credential.network,
                    "reason": reason,
                    "failure_count": credential.failure_count + 1,
                    "expires_at": credential.expires_at.map(from_db_time),
                }))
            },
        )?;
    }
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
