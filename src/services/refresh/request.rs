//! Who asked for a refresh, and the audit trail it leaves (and the webhooks
//! that announces) on every account that uses the credential.

use crate::domain::ids::{CredentialId, OrganizationId};
use chrono::{DateTime, Utc};

use crate::db::audit::{Audit, insert_audit_events_for_accounts};
use crate::db::{self, DbConnection};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::error::Error;
use crate::registry::Snapshot;
use crate::services::webhooks::announce;

/// Who asked, for the audit trail, and what the answer needs.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub organization_id: OrganizationId,
    pub credential_id: CredentialId,
    pub actor: String,
    /// Read the profile's accounts in the write-back's transaction.
    pub snapshot: bool,
}

/// Audits `action` on every account that uses the request's credential, and
/// announces it.
pub(super) fn audit_credential(
    conn: &mut DbConnection,
    request: &RefreshRequest,
    action: AuditAction,
    outcome: AuditOutcome,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    record(conn, request, action, outcome, detail, None, at)
}

/// Audits the renewal of every account that uses the request's credential,
/// and announces it with the propagation report read from `after` (the
/// profile as the write-back left it, which the answer is built from too).
pub(super) fn audit_renewal(
    conn: &mut DbConnection,
    request: &RefreshRequest,
    detail: serde_json::Value,
    after: Option<&Snapshot>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let (action, outcome) = (AuditAction::AccountRenewed, AuditOutcome::Success);
    record(conn, request, action, outcome, detail, after, at)
}

fn record(
    conn: &mut DbConnection,
    request: &RefreshRequest,
    action: AuditAction,
    outcome: AuditOutcome,
    detail: serde_json::Value,
    after: Option<&Snapshot>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let accounts = db::accounts::list_accounts_using_credential(conn, request.credential_id)?;
    let audit = Audit {
        organization_id: &request.organization_id,
        actor: &request.actor,
        action,
        outcome,
        brand_id: None,
        account_id: None,
        credential_id: Some(request.credential_id),
        detail: Some(detail),
    };
    insert_audit_events_for_accounts(conn, audit.clone(), &accounts, at)?;
    announce::audited_for_accounts(conn, &audit, &accounts, after, at)
}
