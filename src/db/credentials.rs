//! Credential rows and the sealing of their secrets. Plaintext tokens exist
//! only in memory, as `SecretString`s; what reaches the database is sealed
//! with the key ring and bound to the credential id and column name.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use secrecy::SecretString;

use super::DbConnection;
use super::models::Credential;
use super::schema::credentials::dsl as c;
use crate::crypto::{Binding, KeyRing};
use crate::domain::{new_id, to_db_time};
use crate::error::{Error, Result};

pub const ACCESS_TOKEN_FIELD: &str = "access_token";
pub const REFRESH_TOKEN_FIELD: &str = "refresh_token";

/// What a fresh grant gives a new credential.
pub struct NewGrant {
    pub organization_id: String,
    pub profile_id: String,
    pub network: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Builds a credential row with its secrets sealed; the caller inserts it.
pub fn seal_new_credential(ring: &KeyRing, grant: NewGrant, now: DateTime<Utc>) -> Credential {
    let id = new_id();
    let access = ring.encrypt_secret(
        &grant.access_token,
        Binding {
            record_id: &id,
            field: ACCESS_TOKEN_FIELD,
        },
    );
    let refresh = grant.refresh_token.as_ref().map(|t| {
        ring.encrypt_secret(
            t,
            Binding {
                record_id: &id,
                field: REFRESH_TOKEN_FIELD,
            },
        )
    });
    let now_db = to_db_time(now);
    Credential {
        id,
        organization_id: grant.organization_id,
        profile_id: grant.profile_id,
        network: grant.network,
        access_token: access.bytes,
        access_token_key_id: access.key_id,
        refresh_token_key_id: refresh.as_ref().map(|s| s.key_id.clone()),
        refresh_token: refresh.map(|s| s.bytes),
        scopes: grant.scopes.join(" "),
        issued_at: now_db,
        expires_at: grant.expires_at.map(to_db_time),
        refresh_expires_at: grant.refresh_expires_at.map(to_db_time),
        status: "active".into(),
        status_reason: None,
        status_changed_at: now_db,
        version: 1,
        lease_owner: None,
        lease_expires_at: None,
        last_refreshed_at: None,
        next_refresh_at: None,
        failure_count: 0,
        last_failure_at: None,
        last_failure_reason: None,
        created_at: now_db,
        updated_at: now_db,
    }
}

/// The plaintext tokens of a credential.
pub fn open_tokens(
    ring: &KeyRing,
    credential: &Credential,
) -> Result<(SecretString, Option<SecretString>)> {
    let access = ring
        .decrypt_secret(
            &credential.access_token_key_id,
            &credential.access_token,
            Binding {
                record_id: &credential.id,
                field: ACCESS_TOKEN_FIELD,
            },
        )
        .map_err(|e| Error::internal(format!("credential {}: {e}", credential.id)))?;
    let refresh = match (&credential.refresh_token, &credential.refresh_token_key_id) {
        (Some(bytes), Some(key_id)) => Some(
            ring.decrypt_secret(
                key_id,
                bytes,
                Binding {
                    record_id: &credential.id,
                    field: REFRESH_TOKEN_FIELD,
                },
            )
            .map_err(|e| Error::internal(format!("credential {}: {e}", credential.id)))?,
        ),
        _ => None,
    };
    Ok((access, refresh))
}

pub fn insert_credential(conn: &mut DbConnection, credential: &Credential) -> Result<()> {
    diesel::insert_into(c::credentials)
        .values(credential)
        .execute(conn)?;
    Ok(())
}

pub fn find_credential(conn: &mut DbConnection, org: &str, id: &str) -> Result<Option<Credential>> {
    Ok(c::credentials
        .filter(c::organization_id.eq(org))
        .filter(c::id.eq(id))
        .select(Credential::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes a credential (its secrets go with the row).
pub fn delete_credential(conn: &mut DbConnection, id: &str) -> Result<()> {
    diesel::delete(c::credentials.filter(c::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Credentials of the organization with ids in `ids`.
pub fn list_credentials(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<Credential>> {
    Ok(c::credentials
        .filter(c::id.eq_any(ids))
        .select(Credential::as_select())
        .load(conn)?)
}
