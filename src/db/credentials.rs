//! Credential rows and the sealing of their secrets. Plaintext tokens exist
//! only in memory, as `SecretString`s; what reaches the database is sealed
//! with the key ring and bound to the credential id and column name.

use crate::domain::ids::{CredentialId, OrganizationId, ProfileId};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};
use secrecy::SecretString;

use super::models::Credential;
use super::schema::credentials::dsl as c;
use super::{Backend, DbConnection};
use crate::crypto::{Binding, KeyRing};
use crate::domain::to_db_time;
use crate::domain::token_status::CredentialStatus as Stored;
use crate::error::{Error, Result};

pub const ACCESS_TOKEN_FIELD: &str = "access_token";
pub const REFRESH_TOKEN_FIELD: &str = "refresh_token";

/// What a fresh grant gives a new credential.
pub struct NewGrant {
    pub organization_id: OrganizationId,
    pub profile_id: ProfileId,
    pub network: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// Builds a credential row with its secrets sealed; the caller inserts it.
pub fn seal_new_credential(ring: &KeyRing, grant: NewGrant, now: DateTime<Utc>) -> Credential {
    let id = CredentialId::new();
    let access = ring.encrypt_secret(
        &grant.access_token,
        Binding {
            record_id: id.as_str(),
            field: ACCESS_TOKEN_FIELD,
        },
    );
    let refresh = grant.refresh_token.as_ref().map(|t| {
        ring.encrypt_secret(
            t,
            Binding {
                record_id: id.as_str(),
                field: REFRESH_TOKEN_FIELD,
            },
        )
    });
    let now_db = to_db_time(now);
    let fingerprint = grant_fingerprint(ring, &grant.access_token, grant.refresh_token.as_ref());
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
        status: Stored::Active.as_str().into(),
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
        token_fingerprint: Some(fingerprint),
        fingerprint_version: Some(1),
        derived_from_credential_id: None,
    }
}

/// The tokens of a credential, or why they do not open.
pub fn try_open_tokens(
    ring: &KeyRing,
    credential: &Credential,
) -> std::result::Result<(SecretString, Option<SecretString>), crate::crypto::CryptoError> {
    let access = ring.decrypt_secret(
        &credential.access_token_key_id,
        &credential.access_token,
        Binding {
            record_id: credential.id.as_str(),
            field: ACCESS_TOKEN_FIELD,
        },
    )?;
    let refresh = match (&credential.refresh_token, &credential.refresh_token_key_id) {
        (Some(bytes), Some(key_id)) => Some(ring.decrypt_secret(
            key_id,
            bytes,
            Binding {
                record_id: credential.id.as_str(),
                field: REFRESH_TOKEN_FIELD,
            },
        )?),
        _ => None,
    };
    Ok((access, refresh))
}

/// The tokens of a credential; one that does not open is an internal error
/// (the refresh engine and the vault tell the kinds apart, see
/// `try_open_tokens`).
pub fn open_tokens(
    ring: &KeyRing,
    credential: &Credential,
) -> Result<(SecretString, Option<SecretString>)> {
    try_open_tokens(ring, credential)
        .map_err(|e| Error::internal(format!("credential {}: {e}", credential.id)))
}

pub fn insert_credential(conn: &mut DbConnection, credential: &Credential) -> Result<()> {
    diesel::insert_into(c::credentials)
        .values(credential)
        .execute(conn)?;
    Ok(())
}

pub fn find_credential(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: CredentialId,
) -> Result<Option<Credential>> {
    Ok(c::credentials
        .filter(c::organization_id.eq(org))
        .filter(c::id.eq(id))
        .select(Credential::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes a credential (its secrets go with the row).
pub fn delete_credential(conn: &mut DbConnection, id: CredentialId) -> Result<()> {
    diesel::delete(c::credentials.filter(c::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Deletes credentials, one DELETE per thousand (a sweep's statements do
/// not grow with the number of brands it consolidates).
pub fn delete_credentials(conn: &mut DbConnection, ids: &[CredentialId]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        diesel::delete(c::credentials.filter(c::id.eq_any(chunk))).execute(conn)?;
    }
    Ok(())
}

/// Credentials of the organization with ids in `ids`.
pub fn list_credentials(conn: &mut DbConnection, ids: &[CredentialId]) -> Result<Vec<Credential>> {
    Ok(c::credentials
        .filter(c::id.eq_any(ids))
        .select(Credential::as_select())
        .load(conn)?)
}

/// The database's clock, `seconds` from now, as an SQL expression in the
/// form its backend stores timestamps: on SQLite the text
/// `YYYY-MM-DD HH:MM:SS.SSS`, which sorts against diesel's `%F %T%.f`
/// (whole seconds, then any fraction) as the instants do; on PostgreSQL a
/// `timestamp` in UTC. Leases are the one rule that reads this clock
/// instead of the application's: instances' clocks differ, and a lease
/// must mean the same to all of them (docs/rules.md#single-flight-refresh).
pub fn database_clock(conn: &DbConnection, seconds: i64) -> SqlLiteral<Nullable<Timestamp>> {
    sql(&match super::backend_of(conn) {
        Backend::Sqlite => format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{seconds:+} seconds')"),
        Backend::Postgres => {
            format!("((clock_timestamp() AT TIME ZONE 'UTC') + make_interval(secs => {seconds}))")
        }
    })
}

/// No refresh holds the credential's lease: none was taken, or the one taken
/// ran out by the database's clock.
#[diesel::dsl::auto_type]
pub fn lease_free(conn: &DbConnection) -> _ {
    let now: SqlLiteral<Nullable<Timestamp>> = database_clock(conn, 0);
    c::lease_owner.is_null().or(c::lease_expires_at.lt(now))
}

/// Takes the refresh lease on a credential for `seconds` by the database's
/// clock, with one atomic conditional UPDATE: `true` for exactly one caller
/// while the lease is free or expired.
pub fn take_lease(
    conn: &mut DbConnection,
    id: CredentialId,
    owner: &str,
    seconds: i64,
) -> Result<bool> {
    let (free, until) = (lease_free(conn), database_clock(conn, seconds));
    let n = diesel::update(c::credentials.filter(c::id.eq(id)).filter(free))
        .set((
            c::lease_owner.eq(Some(owner)),
            c::lease_expires_at.eq(until),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Moves the end of a lease this owner still holds to `seconds` from now by
/// the database's clock; `false` when the lease is someone else's (or none).
pub fn extend_lease(
    conn: &mut DbConnection,
    id: CredentialId,
    owner: &str,
    seconds: i64,
) -> Result<bool> {
    let until = database_clock(conn, seconds);
    let n = diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::lease_owner.eq(owner)),
    )
    .set(c::lease_expires_at.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}

/// Releases a lease this owner holds (no-op otherwise).
pub fn release_lease(conn: &mut DbConnection, id: CredentialId, owner: &str) -> Result<()> {
    diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::lease_owner.eq(owner)),
    )
    .set((
        c::lease_owner.eq(None::<String>),
        c::lease_expires_at.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn find_credential_by_id(
    conn: &mut DbConnection,
    id: CredentialId,
) -> Result<Option<Credential>> {
    Ok(c::credentials
        .filter(c::id.eq(id))
        .select(Credential::as_select())
        .first(conn)
        .optional()?)
}

/// What a successful refresh writes back.
pub struct RefreshedSecrets {
    pub access: crate::crypto::Sealed,
    /// `None`: the network sent no (or a blank) refresh token; keep the stored one.
    pub refresh: Option<crate::crypto::Sealed>,
    pub expires_at: chrono::NaiveDateTime,
    pub refresh_expires_at: Option<chrono::NaiveDateTime>,
    pub scopes: Option<String>,
}

/// What became of a refreshed grant's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored, and the lease released.
    Stored,
    /// Someone else wrote first: the `version` moved, or the credential is gone.
    Superseded,
    /// The version is the same but the lease is another owner's (or nobody's):
    /// nothing was written.
    LeaseLost,
}

/// Stores a refreshed grant — only while `owner` holds the lease and the
/// row still has `version` — and releases the lease.
pub fn write_refreshed(
    conn: &mut DbConnection,
    id: CredentialId,
    version: i64,
    owner: &str,
    secrets: &RefreshedSecrets,
    now: chrono::NaiveDateTime,
) -> Result<Written> {
    let target = c::credentials
        .filter(c::id.eq(id))
        .filter(c::version.eq(version))
        .filter(c::lease_owner.eq(owner));
    let n = diesel::update(target)
        .set((
            c::access_token.eq(&secrets.access.bytes),
            c::access_token_key_id.eq(&secrets.access.key_id),
            c::expires_at.eq(Some(secrets.expires_at)),
            c::status.eq(Stored::Active.as_str()),
            c::status_reason.eq(None::<String>),
            c::status_changed_at.eq(now),
            c::version.eq(version + 1),
            c::lease_owner.eq(None::<String>),
            c::lease_expires_at.eq(None::<chrono::NaiveDateTime>),
            c::last_refreshed_at.eq(Some(now)),
            c::failure_count.eq(0),
            c::updated_at.eq(now),
            // `None` leaves the stored value: the old refresh token is kept
            // when the network sends no new one.
            secrets.refresh.as_ref().map(|r| {
                (
                    c::refresh_token.eq(Some(&r.bytes)),
                    c::refresh_token_key_id.eq(Some(&r.key_id)),
                )
            }),
            secrets
                .refresh_expires_at
                .map(|at| c::refresh_expires_at.eq(Some(at))),
            secrets.scopes.as_ref().map(|s| c::scopes.eq(s)),
        ))
        .execute(conn)?;
    if n == 1 {
        return Ok(Written::Stored);
    }
    Ok(match find_credential_by_id(conn, id)? {
        Some(row) if row.version == version => Written::LeaseLost,
        _ => Written::Superseded,
    })
}

/// The network refused the grant: `reauth_required`, lease released.
pub fn mark_reauth_required(
    conn: &mut DbConnection,
    id: CredentialId,
    reason: &str,
    now: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(c::credentials.filter(c::id.eq(id)))
        .set((
            c::status.eq(Stored::ReauthRequired.as_str()),
            c::status_reason.eq(Some(reason)),
            c::status_changed_at.eq(now),
            c::version.eq(c::version + 1),
            c::lease_owner.eq(None::<String>),
            c::lease_expires_at.eq(None::<chrono::NaiveDateTime>),
            c::last_failure_at.eq(Some(now)),
            c::last_failure_reason.eq(Some(reason)),
            c::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A transient failure: counted; after `failing_after` in a row a still-valid
/// credential reports `refresh_failing`. The lease is released. Returns the
/// row as it was before when this failure turned its stored status into
/// `refresh_failing`, which the caller announces
/// (`services::webhooks::announce::refresh_failing`).
pub fn record_transient_failure(
    conn: &mut DbConnection,
    id: CredentialId,
    reason: &str,
    now: chrono::NaiveDateTime,
    failing_after: i32,
) -> Result<Option<Credential>> {
    let row = find_credential_by_id(conn, id)?;
    let Some(row) = row else { return Ok(None) };
    let failures = row.failure_count + 1;
    let still_valid = row.expires_at.is_none_or(|e| e > now);
    let status = if failures >= failing_after
        && still_valid
        && row.status != Stored::ReauthRequired.as_str()
    {
        Stored::RefreshFailing.as_str().to_string()
    } else {
        row.status.clone()
    };
    let changed = status != row.status;
    diesel::update(c::credentials.filter(c::id.eq(id)))
        .set((
            c::failure_count.eq(failures),
            c::last_failure_at.eq(Some(now)),
            c::last_failure_reason.eq(Some(reason)),
            c::status.eq(&status),
            c::status_reason.eq(if changed {
                Some(reason.to_string())
            } else {
                row.status_reason.clone()
            }),
            c::status_changed_at.eq(if changed { now } else { row.status_changed_at }),
            c::lease_owner.eq(None::<String>),
            c::lease_expires_at.eq(None::<chrono::NaiveDateTime>),
            c::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((changed && status == Stored::RefreshFailing.as_str()).then_some(row))
}

/// Moves a credential's issue and expiry times without a new grant (status
/// and `version` untouched), so the demo can stage tokens as if time had
/// passed: their status is read against the clock.
pub fn update_credential_expiry(
    conn: &mut DbConnection,
    id: CredentialId,
    expires_at: chrono::NaiveDateTime,
    issued_at: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(c::credentials.filter(c::id.eq(id)))
        .set((
            c::expires_at.eq(Some(expires_at)),
            c::issued_at.eq(issued_at),
        ))
        .execute(conn)?;
    Ok(())
}

mod lookup;
pub use lookup::*;

/// The first instant after `now` at which the clock alone changes what one
/// of the organization's credentials shows: an expiry passes, an expiry
/// enters the warning window (`window` before it), or a refresh token's
/// expiry passes (which may change how it is renewed). Three seeks on the
/// organization's expiry indexes, whatever the number of credentials.
pub fn next_clock_edge(
    conn: &mut DbConnection,
    org: &OrganizationId,
    now: chrono::NaiveDateTime,
    window: chrono::Duration,
) -> Result<Option<chrono::NaiveDateTime>> {
    let first_after = |conn: &mut DbConnection, at: chrono::NaiveDateTime| -> Result<_> {
        Ok(c::credentials
            .filter(c::organization_id.eq(org))
            .filter(c::expires_at.gt(at))
            .select(c::expires_at)
            .order(c::expires_at.asc())
            .first::<Option<chrono::NaiveDateTime>>(conn)
            .optional()?
            .flatten())
    };
    let expiry = first_after(conn, now)?;
    let warning = first_after(conn, now + window)?.map(|e| e - window);
    let refresh = c::credentials
        .filter(c::organization_id.eq(org))
        .filter(c::refresh_expires_at.gt(now))
        .select(c::refresh_expires_at)
        .order(c::refresh_expires_at.asc())
        .first::<Option<chrono::NaiveDateTime>>(conn)
        .optional()?
        .flatten();
    Ok([expiry, warning, refresh].into_iter().flatten().min())
}
