//! Which webhook messages a change announces (docs/rules.md#webhooks),
//! decided here inside the change's own transaction and handed to
//! `db::webhook_outbox` to store, so a change that rolls back announces
//! nothing and one that commits cannot lose its messages: the event an audit
//! action means (`WebhookEvent::for_audit`), the enabled subscriptions that
//! picked it when the organization's plan includes webhooks (a stored plan
//! that names no plan is an error, never "no webhooks"), and each message's
//! body. A renewal's propagation report comes from
//! `account_view::propagation_report` over the snapshot the API's answer is
//! built from, so the webhook and the answer say the same of one change.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::db::audit::{Audit, insert_audit_event};
use crate::db::webhook_outbox::{WebhookMessage, insert_messages};
use crate::db::webhooks::WebhookSubscription;
use crate::db::{self, DbConnection, models};
use crate::domain::ids::{AccountId, BrandId, OrganizationId, WebhookId, WebhookMessageId};
use crate::domain::to_db_time;
use crate::domain::webhooks::{MessageStatus, TEST_EVENT, WebhookEvent, events_from_text};
use crate::error::{Error, Result};
use crate::registry::Snapshot;
use crate::services::account_view::{PropagationReport, find_organization, propagation_report};

/// Stores `audit` and announces the event its action means, if any, for the
/// audit's own brand and account. A renewal announced this way reads its
/// profile's snapshot itself; a change that builds an answer from one passes
/// it to [`audited`] instead.
pub fn record(conn: &mut DbConnection, audit: Audit<'_>, at: DateTime<Utc>) -> Result<()> {
    insert_audit_event(conn, audit.clone(), at)?;
    audited(conn, &audit, None, at)
}

/// Announces an audit event already stored, for its own brand and account;
/// `after` is the profile as the change left it, when the caller read it.
pub fn audited(
    conn: &mut DbConnection,
    audit: &Audit<'_>,
    after: Option<&Snapshot>,
    at: DateTime<Utc>,
) -> Result<()> {
    let target = Target {
        brand: audit.brand_id,
        account: audit.account_id,
    };
    announce(conn, audit, &[target], after, at)
}

/// Announces an audit event already stored once for each `(account, brand)`
/// (`db::audit::insert_audit_events_for_accounts`).
pub fn audited_for_accounts(
    conn: &mut DbConnection,
    audit: &Audit<'_>,
    accounts: &[(AccountId, BrandId)],
    after: Option<&Snapshot>,
    at: DateTime<Utc>,
) -> Result<()> {
    let targets: Vec<Target> = accounts
        .iter()
        .map(|&(account, brand)| Target {
            brand: Some(brand),
            account: Some(account),
        })
        .collect();
    announce(conn, audit, &targets, after, at)
}

/// Whom one announcement is about.
struct Target {
    brand: Option<BrandId>,
    account: Option<AccountId>,
}

/// The messages of one audited change: one per target and subscription that
/// picked its event, in one INSERT per thousand. The subscriptions are read
/// once, the organization (for its plan) only when someone listens.
fn announce(
    conn: &mut DbConnection,
    audit: &Audit<'_>,
    targets: &[Target],
    after: Option<&Snapshot>,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(event) = WebhookEvent::for_audit(audit.action) else {
        return Ok(());
    };
    let org = audit.organization_id;
    let Some(first) = targets.first() else {
        return Ok(());
    };
    let subscriptions = picked(conn, org, event)?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let read;
    let after = match (event, after) {
        (_, Some(after)) => Some(after),
        (WebhookEvent::TokenRenewed, None) => {
            read = snapshot_of(conn, org, first.account)?;
            Some(&read)
        }
        (_, None) => None,
    };
    let organization = match after {
        Some(after) => &after.organization,
        None => &find_organization(conn, org)?,
    };
    if !organization.plan()?.features().webhooks {
        return Ok(());
    }
    let mut messages = Vec::new();
    for target in targets {
        let mut data = json!({
            "organization_id": org,
            "brand_id": target.brand,
            "account_id": target.account,
        });
        if let Some(Value::Object(detail)) = &audit.detail {
            for (key, value) in detail {
                data[key] = value.clone();
            }
        }
        if let (WebhookEvent::TokenRenewed, Some(account), Some(after)) =
            (event, target.account, after)
        {
            data["propagation"] = report_body(&renewal_report(after, account, at)?);
        }
        for subscription in &subscriptions {
            messages.push(message(org, *subscription, event.as_str(), &data, at));
        }
    }
    insert_messages(conn, &messages)
}

/// The enabled subscriptions of the organization that picked `event`, the
/// plan not yet judged. One query.
fn picked(
    conn: &mut DbConnection,
    org: &OrganizationId,
    event: WebhookEvent,
) -> Result<Vec<WebhookId>> {
    let mut ids = Vec::new();
    for (id, events) in db::webhooks::list_enabled_subscription_events(conn, org)? {
        let events = events_from_text(&events)
            .map_err(|e| Error::internal(format!("webhook subscription {id}: {e}")))?;
        if events.contains(&event) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The organization and the renewed account's profile as they are now, for a
/// renewal whose caller read no snapshot (no answer is built from it).
fn snapshot_of(
    conn: &mut DbConnection,
    org: &OrganizationId,
    account: Option<AccountId>,
) -> Result<Snapshot> {
    let account = account.ok_or_else(|| Error::internal("a renewal names no account"))?;
    let organization = find_organization(conn, org)?;
    let (_, profile, _) = db::accounts::find_account_by_id(conn, org, account)?
        .ok_or_else(|| Error::internal(format!("the renewed account {account} is not stored")))?;
    let accounts = db::accounts::list_account_rows_of_profile(conn, org, profile.id)?;
    Ok(Snapshot {
        organization,
        accounts,
    })
}

/// The report the API's answer shows for `account`, from the same snapshot.
fn renewal_report(
    after: &Snapshot,
    account: AccountId,
    at: DateTime<Utc>,
) -> Result<PropagationReport> {
    if !after.accounts.iter().any(|(a, _, _)| a.id == account) {
        return Err(Error::internal(format!(
            "the renewed account {account} is not in its profile's snapshot"
        )));
    }
    propagation_report(&after.organization, &after.accounts, account, at)
}

/// The report as a webhook carries it: every account, named (a subscription
/// belongs to the whole organization), without their token status.
fn report_body(report: &PropagationReport) -> Value {
    json!({
        "renewed": report.renewed.iter().map(|s| json!({
            "brand_id": s.brand_id, "account_id": s.account_id,
        })).collect::<Vec<_>>(),
        "left": report.left.iter().map(|(s, reason, _)| json!({
            "brand_id": s.brand_id, "account_id": s.account_id, "reason": reason,
        })).collect::<Vec<_>>(),
    })
}

/// Announces that a transient failure turned a credential's stored status
/// into `refresh_failing` (`db::credentials::record_transient_failure` hands
/// back the row as it was), on every enabled account that uses it.
pub fn refresh_failing(
    conn: &mut DbConnection,
    credential: &models::Credential,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    let event = WebhookEvent::TokenRefreshFailing;
    let org = &credential.organization_id;
    let subscriptions = picked(conn, org, event)?;
    if subscriptions.is_empty() || !find_organization(conn, org)?.plan()?.features().webhooks {
        return Ok(());
    }
    let mut messages = Vec::new();
    for (account, brand) in
        db::accounts::list_enabled_accounts_using_credential(conn, credential.id)?
    {
        let data = json!({
            "organization_id": org,
            "brand_id": brand,
            "account_id": account,
            "network": credential.network,
            "reason": reason,
            "failure_count": credential.failure_count + 1,
            "expires_at": credential.expires_at.map(crate::domain::from_db_time),
        });
        for subscription in &subscriptions {
            messages.push(message(org, *subscription, event.as_str(), &data, at));
        }
    }
    insert_messages(conn, &messages)
}

/// Queues a `webhook.test` message for one subscription, whatever events it
/// picked; returns the message id.
pub fn test_message(
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
    let row = message(
        &subscription.organization_id,
        subscription.id,
        TEST_EVENT,
        &data,
        at,
    );
    insert_messages(conn, std::slice::from_ref(&row))?;
    Ok(row.id)
}

/// One message in Standard Webhooks' payload shape; `data` never holds a token.
fn message(
    org: &OrganizationId,
    subscription: WebhookId,
    event_type: &str,
    data: &Value,
    at: DateTime<Utc>,
) -> WebhookMessage {
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
