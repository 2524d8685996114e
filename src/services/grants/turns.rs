//! Changes of one profile take turns (docs/rules.md#propagation): a connect,
//! import, propagation or disconnect takes the profile before it reads the
//! profile's accounts, and keeps it until it commits. On PostgreSQL that is a
//! row lock on the profile, after the row locks of its credentials; on SQLite
//! the write lock `db::write_transaction` takes.

use crate::db::models::Profile;
use crate::db::{self, DbConnection};
use crate::domain::ids::{OrganizationId, ProfileId};
use crate::domain::profile_kind::ProfileKind;
use crate::error::{Error, Result};
use crate::providers::Identity;

/// Takes the profile for a change (see the module's comment): its
/// credentials' rows, then its own, on PostgreSQL. A refresh's write-back
/// holds its credential before it takes the profile, so the credentials come
/// first here. `false` when the profile is gone.
pub(super) fn take_existing_profile(conn: &mut DbConnection, profile: ProfileId) -> Result<bool> {
    db::credentials::lock_credentials_of_profile(conn, profile)?;
    db::profiles::lock_profile(conn, profile)
}

/// The identity's profile in the organization, taken for a change, created
/// first if it is not stored yet: a first connect inserts it unless a
/// concurrent one just did, then locks it, so concurrent first connects of
/// one identity take turns instead of failing on the unique identity.
pub(super) fn take_profile(
    conn: &mut DbConnection,
    org: &OrganizationId,
    network: &str,
    identity: &Identity,
    expected_account: bool,
    asset: Option<&super::AssetOf<'_>>,
    at: chrono::NaiveDateTime,
) -> Result<Profile> {
    let kind = asset.map_or(ProfileKind::Person, |a| a.kind);
    match db::profiles::find_profile_by_identity(conn, org, network, &identity.subject)? {
        Some(found) => {
            db::credentials::lock_credentials_of_profile(conn, found.id)?;
        }
        None if expected_account => {
            return Err(Error::IdentityMismatch(
                "the network authorized a different identity than this account's profile".into(),
            ));
        }
        None => db::profiles::insert_profile_if_absent(
            conn,
            &Profile {
                id: ProfileId::new(),
                organization_id: org.clone(),
                network: network.into(),
                external_id: identity.subject.clone(),
                handle: identity.handle.clone(),
                display_name: identity.display_name.clone(),
                avatar_url: identity.avatar_url.clone(),
                created_at: at,
                updated_at: at,
                kind: kind.as_str().into(),
                manager_profile_id: asset.map(|a| a.manager.id),
                manager_external_id: asset.map(|a| a.manager.external_id.clone()),
                manager_name: asset.and_then(|a| manager_name(a.manager)),
            },
        )?,
    }
    let profile = db::profiles::lock_profile_by_identity(conn, org, network, &identity.subject)?
        .ok_or_else(|| Error::internal("a profile vanished while it was being stored"))?;
    db::profiles::update_profile_identity(
        conn,
        profile.id,
        &identity.handle,
        identity.display_name.as_deref(),
        identity.avatar_url.as_deref(),
        at,
    )?;
    if let Some(asset) = asset {
        // The person who connected the asset last is the one whose grant reaches it now.
        db::profiles::update_profile_manager(
            conn,
            profile.id,
            asset.kind,
            asset.manager.id,
            &asset.manager.external_id,
            manager_name(asset.manager).as_deref(),
        )?;
    }
    Ok(profile)
}

/// How an answer names a manager: the person's display name, else their handle.
fn manager_name(manager: &Profile) -> Option<String> {
    manager
        .display_name
        .clone()
        .or_else(|| Some(manager.handle.clone()))
}
