//! Recognizing a stored grant (its keyed fingerprint, the credentials of a
//! network identity) and taking a profile's credentials in turn.

use super::*;
use crate::db::DbConnection;
use crate::db::models::Credential;
use crate::db::schema::credentials::dsl as c;
use crate::domain::ids::{CredentialId, OrganizationId, ProfileId};

/// The fingerprint of a grant: of its refresh token when it has one (the
/// token that carries the grant, and that a rotation replaces), else of its
/// access token. Two credentials with equal fingerprints hold one grant.
pub fn grant_fingerprint(
    ring: &KeyRing,
    access: &SecretString,
    refresh: Option<&SecretString>,
) -> String {
    ring.fingerprint(refresh.unwrap_or(access))
}

/// Whether the stored fingerprint still describes the row: made at its
/// current `version` (every change of a token moves it) under the active key.
fn fingerprint_is_current(ring: &KeyRing, credential: &Credential) -> bool {
    credential.fingerprint_version == Some(credential.version)
        && credential
            .token_fingerprint
            .as_deref()
            .is_some_and(|f| ring.fingerprint_is_current(f))
}

/// A credential's fingerprint as it is now: the stored one while current,
/// else worked out from its sealed tokens (nothing is written). `None` for a
/// credential whose tokens are not its row's (see [`open_readable`]): it
/// holds no grant anyone can recognize.
fn current_fingerprint(ring: &KeyRing, credential: &Credential) -> Result<Option<String>> {
    if fingerprint_is_current(ring, credential)
        && let Some(fingerprint) = &credential.token_fingerprint
    {
        return Ok(Some(fingerprint.clone()));
    }
    Ok(open_readable(ring, credential)?
        .map(|(access, refresh)| grant_fingerprint(ring, &access, refresh.as_ref())))
}

/// The tokens of a credential, or `None` when its ciphertexts are not its
/// row's (moved from another row, or altered): such a credential is
/// `reauth_required (undecryptable)` and can only be replaced, so whatever
/// meets it on the way (a fresh grant's lookup, a sweep, a revocation's
/// judgement) goes on without its tokens instead of failing. A key missing
/// from the ring is the configuration's fault and stays an error.
pub fn open_readable(
    ring: &KeyRing,
    credential: &Credential,
) -> Result<Option<(SecretString, Option<SecretString>)>> {
    match try_open_tokens(ring, credential) {
        Ok(tokens) => Ok(Some(tokens)),
        Err(e) if e.is_not_this_records() => Ok(None),
        Err(e) => Err(Error::internal(format!(
            "credential {}: {e}",
            credential.id
        ))),
    }
}

/// Stores a current fingerprint on each of the profile's credentials that
/// lacks one: rows from before fingerprints existed, rows refreshed since
/// (the write-back moves `version`), rows fingerprinted under a key that is no
/// longer the active one. Each write is guarded by the `version` it was worked
/// out from. Run it with the profile's credentials locked, before looking a
/// grant up by its fingerprint.
pub fn refresh_fingerprints(
    conn: &mut DbConnection,
    ring: &KeyRing,
    profile: ProfileId,
) -> Result<()> {
    let rows: Vec<Credential> = c::credentials
        .filter(c::profile_id.eq(profile))
        .select(Credential::as_select())
        .load(conn)?;
    for row in rows.iter().filter(|r| !fingerprint_is_current(ring, r)) {
        // An unreadable row keeps its stale fingerprint, which no lookup matches.
        let Some(fingerprint) = current_fingerprint(ring, row)? else {
            continue;
        };
        diesel::update(
            c::credentials
                .filter(c::id.eq(&row.id))
                .filter(c::version.eq(row.version)),
        )
        .set((
            c::token_fingerprint.eq(Some(fingerprint)),
            c::fingerprint_version.eq(Some(row.version)),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The profile's credential that holds the grant with this fingerprint, if
/// its fingerprint is current (see [`refresh_fingerprints`]).
pub fn find_credential_by_fingerprint(
    conn: &mut DbConnection,
    org: &OrganizationId,
    profile: ProfileId,
    fingerprint: &str,
) -> Result<Option<Credential>> {
    Ok(c::credentials
        .filter(c::token_fingerprint.eq(fingerprint))
        .filter(c::fingerprint_version.eq(c::version.nullable()))
        .filter(c::organization_id.eq(org))
        .filter(c::profile_id.eq(profile))
        .select(Credential::as_select())
        .order(c::id.asc())
        .first(conn)
        .optional()?)
}

/// Every stored credential of a network identity, in every organization: the
/// grants a revocation at that network could reach.
pub fn list_credentials_of_identity(
    conn: &mut DbConnection,
    network: &str,
    external_id: &str,
) -> Result<Vec<Credential>> {
    use crate::db::schema::profiles::dsl as p;
    Ok(c::credentials
        .inner_join(p::profiles)
        .filter(p::network.eq(network))
        .filter(p::external_id.eq(external_id))
        .select(Credential::as_select())
        .load(conn)?)
}

/// Locks the rows of the profile's credentials until the transaction ends, on
/// PostgreSQL (SQLite's write lock already serializes writers). A refresh's
/// write-back holds its credential's row before it takes the profile, so a
/// change of the profile waits for these rows before it locks the profile:
/// the two then never wait on each other.
pub fn lock_credentials_of_profile(conn: &mut DbConnection, profile: ProfileId) -> Result<()> {
    if let DbConnection::Postgresql(pg) = conn {
        c::credentials
            .filter(c::profile_id.eq(profile))
            .select(c::id)
            .order(c::id.asc())
            .for_update()
            .load::<CredentialId>(pg)?;
    }
    Ok(())
}

/// The profile's credentials no account uses, their rows locked on
/// PostgreSQL, leaving out rows another transaction holds: the caller holds
/// the profile, and a refresh's write-back holds its credential before it
/// takes the profile, so waiting here could deadlock. Leaves out, too, every
/// credential whose refresh lease is held (by the database's clock): its
/// refresh is at the network, and the grant it brings back must find its row.
/// The rows come whole, so that a sweep of many makes no read per row.
pub fn lock_unused_credentials_of_profile(
    conn: &mut DbConnection,
    profile: ProfileId,
) -> Result<Vec<Credential>> {
    use crate::db::schema::accounts::dsl as a;
    use crate::db::schema::connections::dsl as k;
    // Built once per backend: the whole row's selection is typed by it.
    macro_rules! unused {
        ($unleased:expr) => {
            c::credentials
                .filter(c::profile_id.eq(profile))
                .filter($unleased)
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    a::accounts.filter(a::credential_id.eq(c::id.nullable())),
                )))
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    k::connections.filter(k::credential_id.eq(c::id)),
                )))
                .select(Credential::as_select())
                .order(c::id.asc())
        };
    }
    let unleased = lease_free(conn);
    let unused: Vec<Credential> = match conn {
        DbConnection::Postgresql(pg) => unused!(unleased).for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(lite) => unused!(unleased).load(lite)?,
    };
    // A manager's credential is in use while an asset's credential came from it
    // (docs/rules.md#assets).
    let ids: Vec<CredentialId> = unused.iter().map(|row| row.id).collect();
    let sources: Vec<Option<CredentialId>> = c::credentials
        .filter(c::derived_from_credential_id.eq_any(&ids))
        .select(c::derived_from_credential_id)
        .load(conn)?;
    Ok(unused
        .into_iter()
        .filter(|row| !sources.iter().flatten().any(|s| *s == row.id))
        .collect())
}

/// Stores a fresh grant over the credential that holds the same grant but
/// was marked `reauth_required`: the network has just accepted the grant
/// again (code exchange, or the identity call of an import), so the mark is
/// out of date. No refresh runs on such a credential (a refresh that takes
/// its lease finds it dead and stops), so nothing races this write; `version`
/// moves as with any new token, and the fingerprint with it.
pub fn revive_credential(
    conn: &mut DbConnection,
    ring: &KeyRing,
    id: CredentialId,
    grant: &NewGrant,
    now: DateTime<Utc>,
) -> Result<()> {
    let seal = |token, field| {
        ring.encrypt_secret(
            token,
            Binding {
                record_id: id.as_str(),
                field,
            },
        )
    };
    let access = seal(&grant.access_token, ACCESS_TOKEN_FIELD);
    let refresh = grant
        .refresh_token
        .as_ref()
        .map(|t| seal(t, REFRESH_TOKEN_FIELD));
    let fingerprint = grant_fingerprint(ring, &grant.access_token, grant.refresh_token.as_ref());
    let now = to_db_time(now);
    diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::status.eq(Stored::ReauthRequired.as_str())),
    )
    .set((
        (
            c::access_token.eq(&access.bytes),
            c::access_token_key_id.eq(&access.key_id),
            c::expires_at.eq(grant.expires_at.map(to_db_time)),
            c::scopes.eq(grant.scopes.join(" ")),
            c::status.eq(Stored::Active.as_str()),
            c::status_reason.eq(None::<String>),
            c::status_changed_at.eq(now),
            c::version.eq(c::version + 1),
            c::failure_count.eq(0),
            c::next_refresh_at.eq(None::<chrono::NaiveDateTime>),
            c::updated_at.eq(now),
        ),
        (
            c::token_fingerprint.eq(Some(fingerprint)),
            c::fingerprint_version.eq((c::version + 1).nullable()),
            refresh.as_ref().map(|r| {
                (
                    c::refresh_token.eq(Some(&r.bytes)),
                    c::refresh_token_key_id.eq(Some(&r.key_id)),
                )
            }),
            grant
                .refresh_expires_at
                .map(|at| c::refresh_expires_at.eq(Some(to_db_time(at)))),
        ),
    ))
    .execute(conn)?;
    Ok(())
}
