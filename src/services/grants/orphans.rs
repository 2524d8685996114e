//! The grants a change of a profile leaves unused: deleted in the change's
//! transaction, and judged there, by what stays stored, for the revocation
//! that follows the commit (docs/rules.md#propagation).

use crate::domain::ids::{CredentialId, ProfileId};
use secrecy::SecretString;

use super::Orphan;
use crate::crypto::KeyRing;
use crate::db::credentials as creds;
use crate::db::models::Credential;
use crate::db::{self, DbConnection};
use crate::error::Result;

/// What a sweep deleted: the grants to revoke, and the credentials whose
/// tokens could not be read (nothing of them can be revoked).
#[derive(Debug, Default)]
pub(super) struct Swept {
    pub orphans: Vec<Orphan>,
    pub unreadable: Vec<CredentialId>,
}

/// Deletes every credential of the profile that no account uses and returns
/// them for revocation, each with what a revocation would reach. Call with
/// the profile taken (`super::turns`). A row another transaction holds is left to it, so that
/// nothing here waits on a row while holding the profile: such a holder is a
/// refresh of that credential, whose write-back finds it unused and removes
/// it (`switch_profile_to_credential`), or a change that sweeps after this one.
/// A credential whose tokens are not its row's goes too, unrevoked: there is
/// no token to send, and keeping it would only keep its owner's way out shut.
/// A credential whose refresh holds its lease is left to that refresh too
/// (docs/rules.md#single-flight-refresh): deleted from under it, the grant the
/// network is returning would be stored nowhere. The refresh's end removes it
/// (`switch_profile_to_credential`, `super::sweep_if_unused`).
///
/// A manager's credential that an asset's credential came from, or that a
/// connection waits on, is in use (docs/rules.md#assets). An asset's own
/// credential goes unrevoked: a derived Page token is never revoked alone, and
/// a shared one is its manager's grant. Its manager's credential may be left
/// unused by it, and is swept after it, by the same rules.
pub(super) fn sweep_unused(
    conn: &mut DbConnection,
    keys: &KeyRing,
    profile: ProfileId,
) -> Result<Swept> {
    // A consolidation sweeps one credential per brand: the rows come in one
    // read and go in one DELETE, and what stays stored of the identity is
    // read and opened once for all of them.
    let unused = creds::lock_unused_credentials_of_profile(conn, profile)?;
    let Some(first) = unused.first() else {
        return Ok(Swept::default());
    };
    let owner = (first.organization_id.clone(), first.profile_id);
    let mut opened = Vec::with_capacity(unused.len());
    for row in unused {
        let tokens = creds::open_readable(keys, &row)?;
        opened.push((row, tokens));
    }
    let ids: Vec<CredentialId> = opened.iter().map(|(row, _)| row.id).collect();
    creds::delete_credentials(conn, &ids)?;
    let mut removed = Vec::new();
    let mut unreadable = Vec::new();
    let mut managers = Vec::new();
    for (row, tokens) in opened {
        if let Some(manager_credential) = row.derived_from_credential_id {
            tracing::info!(credential = %row.id, network = %row.network,
                "an asset's unused credential was deleted; not revoked (it is its manager's grant's)");
            managers.push(manager_credential);
            continue;
        }
        match tokens {
            Some((access, refresh)) => removed.push((row, access, refresh)),
            None => {
                tracing::warn!(credential = %row.id, network = %row.network,
                    "an unused credential whose tokens cannot be read was deleted; not revoked (its grant cannot be read)");
                unreadable.push(row.id);
            }
        }
    }
    // Every row is the profile's: one identity, judged after every delete.
    let stored = match db::profiles::find_profile(conn, &owner.0, owner.1)? {
        Some(p) if !removed.is_empty() => Some(StoredGrants::of_identity(
            conn,
            keys,
            &p.network,
            &p.external_id,
        )?),
        // The profile went with the rows, or nothing of it needs judging.
        _ => None,
    };
    let mut orphans = Vec::with_capacity(removed.len());
    for (row, access, refresh) in removed {
        let held = match &stored {
            Some(stored) => stored.holders(keys, &access, refresh.as_ref())?,
            None => Holders::default(),
        };
        orphans.push(Orphan {
            credential_id: row.id,
            network: row.network,
            token: refresh.unwrap_or(access),
            token_held_elsewhere: held.token,
            identity_held_elsewhere: held.identity,
        });
    }
    // A person's Pages share one manager credential: each is read once, not once per Page.
    managers.sort();
    managers.dedup();
    let mut manager_profiles = Vec::with_capacity(managers.len());
    for credential in managers {
        if let Some(manager) = creds::find_credential_by_id(conn, credential)? {
            manager_profiles.push(manager.profile_id);
        }
    }
    manager_profiles.sort();
    manager_profiles.dedup();
    for manager in manager_profiles.into_iter().filter(|m| *m != profile) {
        super::turns::take_existing_profile(conn, manager)?;
        let swept = sweep_unused(conn, keys, manager)?;
        orphans.extend(swept.orphans);
        unreadable.extend(swept.unreadable);
    }
    Ok(Swept {
        orphans,
        unreadable,
    })
}

/// What a revocation of a grant would reach among the stored credentials.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Holders {
    /// A stored credential holds one of the grant's tokens (the one a
    /// revocation would send, or its companion: revoking either may end both).
    pub token: bool,
    /// A credential of the same network identity is stored, in any organization.
    pub identity: bool,
}

/// Who, among the credentials stored in any organization, holds the tokens of
/// a grant or its network identity. Only the identity's credentials can hold
/// its tokens, so only they are opened; their tokens are compared by keyed
/// fingerprint. A credential whose tokens are not its row's holds no token
/// anyone can use (it is never sent anywhere), but it is still the identity's.
pub fn holders(
    conn: &mut DbConnection,
    keys: &KeyRing,
    network: &str,
    external_id: &str,
    access: &SecretString,
    refresh: Option<&SecretString>,
) -> Result<Holders> {
    StoredGrants::of_identity(conn, keys, network, external_id)?.holders(keys, access, refresh)
}

/// What is stored of a network identity, in every organization, opened once
/// to judge any number of grants by (see [`holders`]).
struct StoredGrants {
    /// Each stored credential in the order read: the fingerprints of its
    /// tokens, `None` when they are not its row's, or the row when opening
    /// it failed otherwise (an error only when a judgement reaches it).
    rows: Vec<Opened>,
}

enum Opened {
    Fingerprints(Vec<String>),
    Unreadable,
    Failed(Box<Credential>),
}

impl StoredGrants {
    fn of_identity(
        conn: &mut DbConnection,
        keys: &KeyRing,
        network: &str,
        external_id: &str,
    ) -> Result<Self> {
        let rows = creds::list_credentials_of_identity(conn, network, external_id)?
            .into_iter()
            .map(|row| match creds::open_readable(keys, &row) {
                Ok(Some((a, r))) => Opened::Fingerprints(
                    std::iter::once(&a)
                        .chain(r.as_ref())
                        .map(|t| keys.fingerprint(t))
                        .collect(),
                ),
                Ok(None) => Opened::Unreadable,
                Err(_) => Opened::Failed(Box::new(row)),
            })
            .collect();
        Ok(Self { rows })
    }

    /// The judgement of one grant, row by row as a single lookup makes it: the
    /// first row holding one of its tokens settles it, and a row that fails to
    /// open before that fails it.
    fn holders(
        &self,
        keys: &KeyRing,
        access: &SecretString,
        refresh: Option<&SecretString>,
    ) -> Result<Holders> {
        let mine: Vec<String> = std::iter::once(access)
            .chain(refresh)
            .map(|t| keys.fingerprint(t))
            .collect();
        let mut token = false;
        for row in &self.rows {
            match row {
                Opened::Fingerprints(theirs) => {
                    if theirs.iter().any(|f| mine.contains(f)) {
                        token = true;
                        break;
                    }
                }
                Opened::Unreadable => {}
                Opened::Failed(row) => {
                    creds::open_readable(keys, row)?;
                }
            }
        }
        Ok(Holders {
            token,
            identity: !self.rows.is_empty(),
        })
    }
}
