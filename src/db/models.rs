//! Rows as stored. Times are UTC without zone (see `domain::to_db_time`).

use crate::domain::ids::{
    AccountId, AuditEventId, BrandId, ConnectionId, CredentialId, OAuthStateId, OrganizationId,
    ProfileId,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{brands, credentials, organizations};
use crate::domain::plan::Plan;
use crate::domain::token_status::CredentialStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub plan: String,
    pub warning_window_days: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Organization {
    /// The organization's plan. Stored text that names no plan is a fault to
    /// report, never a reason to fall back to some plan: guessing could grant
    /// features nobody paid for, or take away ones they did.
    pub fn plan(&self) -> crate::error::Result<Plan> {
        Plan::parse(&self.plan).ok_or_else(|| {
            crate::error::Error::internal(format!(
                "organization {} has an unknown plan {:?}",
                self.id, self.plan
            ))
        })
    }
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub warning_window_days: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = brands)]
pub struct Brand {
    pub id: BrandId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A credential row. The token columns hold AES-256-GCM ciphertexts, each
/// beside the id of the key that sealed it.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct Credential {
    pub id: CredentialId,
    pub organization_id: OrganizationId,
    pub profile_id: ProfileId,
    pub network: String,
    pub access_token: Vec<u8>,
    pub access_token_key_id: String,
    pub refresh_token: Option<Vec<u8>>,
    pub refresh_token_key_id: Option<String>,
    pub scopes: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub refresh_expires_at: Option<NaiveDateTime>,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_changed_at: NaiveDateTime,
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub last_refreshed_at: Option<NaiveDateTime>,
    pub next_refresh_at: Option<NaiveDateTime>,
    pub failure_count: i32,
    pub last_failure_at: Option<NaiveDateTime>,
    pub last_failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The keyed fingerprint of the grant's identifying token (see
    /// `db::credentials::grant_fingerprint`), current while
    /// `fingerprint_version` equals `version`.
    pub token_fingerprint: Option<String>,
    pub fingerprint_version: Option<i64>,
    /// For an asset's credential: the manager's credential it came from
    /// (docs/rules.md#assets), which stays stored while this one does.
    pub derived_from_credential_id: Option<CredentialId>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("network", &self.network)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::profiles)]
pub struct Profile {
    pub id: ProfileId,
    pub organization_id: OrganizationId,
    pub network: String,
    pub external_id: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What the profile is at its network (`ProfileKind`'s text).
    pub kind: String,
    /// For an asset: the person profile whose grant reaches it.
    pub manager_profile_id: Option<ProfileId>,
    /// The manager's network id and name, as they were when the asset was last connected.
    pub manager_external_id: Option<String>,
    pub manager_name: Option<String>,
}

impl Profile {
    /// The stored kind; a value that does not parse is an error, never a default.
    pub fn kind(&self) -> crate::error::Result<crate::domain::profile_kind::ProfileKind> {
        self.kind
            .parse()
            .map_err(|e| crate::error::Error::internal(format!("profile {}: {e}", self.id)))
    }
}

/// One audit event. Read-only through the API; never holds a token.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::audit_events)]
// `None` is NULL, never SQL's DEFAULT: that is what lets SQLite take many
// rows in one INSERT (`db::insert_all`) instead of one statement per row.
#[diesel(treat_none_as_default_value = false)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub organization_id: OrganizationId,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub brand_id: Option<BrandId>,
    pub account_id: Option<AccountId>,
    pub credential_id: Option<CredentialId>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::accounts)]
pub struct Account {
    pub id: AccountId,
    pub organization_id: OrganizationId,
    pub brand_id: BrandId,
    pub profile_id: ProfileId,
    pub credential_id: Option<CredentialId>,
    pub enabled: bool,
    pub connected_at: NaiveDateTime,
    pub last_renewed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The non-secret part of a credential: what status, listings and renewal
/// planning need, never a ciphertext.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = credentials)]
pub struct CredentialState {
    pub id: CredentialId,
    pub network: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_changed_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub refresh_expires_at: Option<NaiveDateTime>,
    pub refresh_token_key_id: Option<String>,
    pub scopes: String,
    pub issued_at: NaiveDateTime,
    pub last_refreshed_at: Option<NaiveDateTime>,
    pub version: i64,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::oauth_states)]
pub struct OAuthState {
    pub id: OAuthStateId,
    pub state_hash: String,
    pub organization_id: OrganizationId,
    pub brand_id: BrandId,
    pub account_id: Option<AccountId>,
    pub network: String,
    pub purpose: String,
    pub pkce_verifier: Vec<u8>,
    pub pkce_verifier_key_id: String,
    pub return_url: Option<String>,
    pub actor: String,
    pub request_id: Option<String>,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The brands the starter reaches, space-separated; `None`: every brand.
    pub brands: Option<String>,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("id", &self.id)
            .field("network", &self.network)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// A stored status that names no [`CredentialStatus`] is a fault in the
/// data, reported as such rather than read as some default.
pub(super) fn parse_status(
    id: CredentialId,
    status: &str,
) -> crate::error::Result<CredentialStatus> {
    status
        .parse()
        .map_err(|e| crate::error::Error::internal(format!("credential {id}: {e}")))
}

impl Credential {
    pub fn stored_status(&self) -> crate::error::Result<CredentialStatus> {
        parse_status(self.id, &self.status)
    }
}

impl CredentialState {
    pub fn stored_status(&self) -> crate::error::Result<CredentialStatus> {
        parse_status(self.id, &self.status)
    }
}

/// A person's grant just authorized, waiting for the assets to connect to be
/// chosen (docs/rules.md#assets). Holds no secret: the grant is the credential.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::connections)]
pub struct Connection {
    pub id: ConnectionId,
    pub organization_id: OrganizationId,
    /// The brand the connect started in, where the chosen assets are connected.
    pub brand_id: BrandId,
    pub network: String,
    /// The person's profile and credential.
    pub profile_id: ProfileId,
    pub credential_id: CredentialId,
    pub scopes: String,
    pub return_url: Option<String>,
    pub actor: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}
