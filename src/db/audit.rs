use crate::domain::ids::{AccountId, AuditEventId, BrandId, CredentialId, OrganizationId};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::DbConnection;
use super::models::AuditEvent;
use super::schema::audit_events::dsl as e;
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::to_db_time;
use crate::error::Result;
use crate::telemetry::current_request_id;

/// What happened, to whom; the id and request id are filled in, the time is
/// the caller's (the application's clock).
#[derive(Debug)]
pub struct Audit<'a> {
    pub organization_id: &'a OrganizationId,
    pub actor: &'a str,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    pub brand_id: Option<BrandId>,
    pub account_id: Option<AccountId>,
    pub credential_id: Option<CredentialId>,
    pub detail: Option<serde_json::Value>,
}

impl<'a> Audit<'a> {
    /// A successful `action` on the organization itself (no brand, account or
    /// credential).
    pub fn new(organization_id: &'a OrganizationId, actor: &'a str, action: AuditAction) -> Self {
        Self {
            organization_id,
            actor,
            action,
            outcome: AuditOutcome::Success,
            brand_id: None,
            account_id: None,
            credential_id: None,
            detail: None,
        }
    }
}

fn row_of(
    audit: &Audit<'_>,
    brand: Option<BrandId>,
    account: Option<AccountId>,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::new(),
        organization_id: audit.organization_id.clone(),
        actor: audit.actor.into(),
        action: audit.action.as_str().into(),
        outcome: audit.outcome.as_str().into(),
        brand_id: brand,
        account_id: account,
        credential_id: audit.credential_id,
        detail: audit.detail.as_ref().map(|d| d.to_string()),
        request_id: current_request_id(),
        created_at: to_db_time(at),
    }
}

/// Stores the event as having happened `at`.
pub fn insert_audit_event(
    conn: &mut DbConnection,
    audit: Audit<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    let row = row_of(&audit, audit.brand_id, audit.account_id, at);
    store(conn, &audit, &[row], at)
}

/// Stores the event once for each `(account, brand)` — a change of a grant
/// that many brands' accounts share — in one INSERT per thousand accounts (`db::insert_all`),
/// so the statements do not grow with the number of brands. The
/// `account_id` and `brand_id` of `audit` are not read.
pub fn insert_audit_events_for_accounts(
    conn: &mut DbConnection,
    audit: Audit<'_>,
    accounts: &[(AccountId, BrandId)],
    at: DateTime<Utc>,
) -> Result<()> {
    let rows: Vec<AuditEvent> = accounts
        .iter()
        .map(|&(account, brand)| row_of(&audit, Some(brand), Some(account), at))
        .collect();
    store(conn, &audit, &rows, at)
}

fn store(
    conn: &mut DbConnection,
    audit: &Audit<'_>,
    rows: &[AuditEvent],
    at: DateTime<Utc>,
) -> Result<()> {
    super::insert_all::<AuditEvent, _>(conn, e::audit_events, rows)?;
    // Every audited change is announced to webhook subscribers by the same
    // transaction (docs/rules.md#webhooks).
    super::webhook_outbox::announce_audits(conn, audit.action, rows, audit.detail.as_ref(), at)
}

/// Audit events of the organization, optionally of one account, newest first.
pub fn list_audit_events(
    conn: &mut DbConnection,
    org: &OrganizationId,
    account: Option<AccountId>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let mut query = e::audit_events
        .filter(e::organization_id.eq(org))
        .select(AuditEvent::as_select())
        .order(e::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(account) = account {
        query = query.filter(e::account_id.eq(account));
    }
    if let Some(before) = before {
        query = query.filter(e::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?)
}

/// Audit events of one account in one brand, newest first: an account id
/// of another brand reads nothing.
pub fn list_account_audit_events(
    conn: &mut DbConnection,
    org: &OrganizationId,
    brand: BrandId,
    account: AccountId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let mut query = e::audit_events
        .filter(e::organization_id.eq(org))
        .filter(e::brand_id.eq(brand))
        .filter(e::account_id.eq(account))
        .select(AuditEvent::as_select())
        .order(e::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(e::id.lt(before.to_string()));
    }
    Ok(query.load(conn)?)
}
