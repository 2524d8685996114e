//! Who asked for a refresh, and the audit trail it leaves on every account
//! that uses the credential.

use crate::domain::ids::{CredentialId, OrganizationId};
use chrono::{DateTime, Utc};

use crate::db::audit::{Audit, insert_audit_events_for_accounts};
use crate::db::{self, DbConnection};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::error::Error;

/// Who asked, for the audit trail, and what the answer needs.
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub organization_id: OrganizationId,
    pub credential_id: CredentialId,
    pub actor: String,
    /// Read the profile's accounts in the write-back's transaction.
    pub snapshot: bool,
}

/// Audits `action` on every account that uses the request's credential.
pub(super) fn audit_credential(
    conn: &mut DbConnection,
    request: &RefreshRequest,
    action: AuditAction,
    outcome: AuditOutcome,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let accounts = db::accounts::list_accounts_using_credential(conn, request.credential_id)?;
    insert_audit_events_for_accounts(
        conn,
        Audit {
            organization_id: &request.organization_id,
            actor: &request.actor,
            action,
            outcome,
            brand_id: None,
            account_id: None,
            credential_id: Some(request.credential_id),
            detail: Some(detail),
        },
        &accounts,
        at,
    )?;
    Ok(())
}
