//! Grants of people who manage assets (docs/rules.md#assets): an asset's
//! fresh grant names its kind, manager and the manager's credential; a
//! person's grant can be stored with no account (a connection holds it); and
//! a profile can be swept on its own (a connection that went).

use chrono::{DateTime, Utc};

use super::{FreshGrant, Orphan, credential_for, normalize_identity, orphans, turns};
use crate::crypto::KeyRing;
use crate::db::models::Profile;
use crate::db::{self, DbConnection};
use crate::domain::ids::{CredentialId, ProfileId};
use crate::domain::profile_kind::ProfileKind;
use crate::domain::to_db_time;
use crate::error::{Error, Result};

/// What makes a fresh grant an asset's: the identity is the asset, the tokens are its own
/// (a derived Page token) or a copy of its manager's (shared), and the credential names the
/// manager's credential it came from.
pub struct AssetOf<'a> {
    pub kind: ProfileKind,
    pub manager: &'a Profile,
    pub manager_credential_id: CredentialId,
    /// The asset token's expiry: `None` for a Page token, which has none on the clock.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a person's grant without connecting them in a brand (a network
/// with assets: docs/rules.md#assets): the person's profile, taken for the
/// change, and the credential holding the grant (one grant, one credential).
/// Returns both; the caller keeps the credential in use (a connection).
pub fn store_manager_grant(
    conn: &mut DbConnection,
    keys: &KeyRing,
    grant: &FreshGrant<'_>,
    now: DateTime<Utc>,
) -> Result<(Profile, CredentialId)> {
    let identity = &normalize_identity(grant.identity)?;
    let profile = turns::take_profile(
        conn,
        grant.organization_id,
        grant.network,
        identity,
        false,
        None,
        to_db_time(now),
    )?;
    let (credential_id, _, _) = credential_for(conn, keys, grant, profile.id, now)?;
    let profile = db::profiles::find_profile(conn, grant.organization_id, profile.id)?
        .ok_or_else(|| Error::internal("a profile vanished while it was being stored"))?;
    Ok((profile, credential_id))
}

/// Takes the profile and deletes its credentials nothing uses any more,
/// returning them for revocation (a connection that expired, say).
pub fn sweep_profile(
    conn: &mut DbConnection,
    keys: &KeyRing,
    profile: ProfileId,
) -> Result<Vec<Orphan>> {
    if !turns::take_existing_profile(conn, profile)? {
        return Ok(Vec::new());
    }
    Ok(orphans::sweep_unused(conn, keys, profile)?.orphans)
}
