//! Changes of one profile take turns (docs/rules.md#propagation): a connect,
//! import, propagation or disconnect takes the profile before it reads the
//! profile's accounts, and keeps it until it commits. On PostgreSQL that is a
//! row lock on the profile, after the row locks of its credentials; on SQLite
//! the write lock `db::write_transaction` takes.

use crate::db::models::Profile;
use crate::db::{self, DbConnection};
use crate::domain::ids::{OrganizationId, ProfileId};
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
    at: chrono::NaiveDateTime,
) -> Result<Profile> {
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
    Ok(profile)
}
