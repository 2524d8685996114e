//! Storing a fresh grant (connect, reconnect, import, re-authorization) with
//! its propagation (on cross-brand plans the profile's other enabled accounts
//! move onto the fresh grant; docs/rules.md, Propagation), and disconnecting.
//! Both run inside one database transaction and return the grants to revoke
//! after it commits.
//!
//! Every change of a profile's accounts and credentials takes the profile
//! first (`turns`): on PostgreSQL its credentials' rows and
//! then its own row, on SQLite the write lock. Changes of one profile so take
//! turns, and each ends by deleting the profile's credentials no account uses
//! any more (`orphans::sweep_unused`), so none is left behind.

use crate::domain::ids::{AccountId, BrandId, CredentialId, OrganizationId, ProfileId};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

mod assets;
mod orphans;
mod turns;

pub use self::assets::{AssetOf, store_manager_grant, sweep_profile};
pub use self::orphans::{Holders, holders};
pub use super::Orphan;
use super::webhooks::announce;
use crate::crypto::KeyRing;
use crate::db::accounts::InBrand;
use crate::db::audit::{Audit, insert_audit_event, insert_audit_events_for_accounts};
use crate::db::credentials::{NewGrant, grant_fingerprint, seal_new_credential};
use crate::db::models::Account;
use crate::db::{self, DbConnection};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::plan::Plan;
use crate::domain::propagation::{Sibling, decide};
use crate::domain::token_status::CredentialStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, Result};
use crate::providers::{Identity, TokenSet};
use crate::registry::Snapshot;

/// How the grant arrived, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantSource {
    Connect,
    Import,
    Reauthorize,
}

impl GrantSource {
    fn action(self, created: bool) -> AuditAction {
        match (self, created) {
            (GrantSource::Connect, true) => AuditAction::AccountConnected,
            (GrantSource::Connect, false) => AuditAction::AccountReconnected,
            (GrantSource::Import, _) => AuditAction::AccountImported,
            (GrantSource::Reauthorize, _) => AuditAction::AccountRenewed,
        }
    }
}

pub struct FreshGrant<'a> {
    pub organization_id: &'a OrganizationId,
    pub brand_id: BrandId,
    pub network: &'a str,
    pub identity: &'a Identity,
    pub tokens: &'a TokenSet,
    pub actor: &'a str,
    pub source: GrantSource,
    /// For a re-authorization: the account it must land on (its profile must be the identity).
    pub expected_account: Option<AccountId>,
    /// For an asset connected from a person's grant: its kind, manager and token model
    /// (docs/rules.md#assets); `None` for a person.
    pub asset: Option<AssetOf<'a>>,
}

/// Another brand's account of the same profile and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationEntry {
    pub account_id: AccountId,
    pub brand_id: BrandId,
}

#[derive(Debug)]
pub struct GrantApplied {
    pub account_id: AccountId,
    pub profile_id: ProfileId,
    pub credential_id: CredentialId,
    pub created: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// Other brands' accounts now on the fresh grant.
    pub propagated: Vec<PropagationEntry>,
    /// Replaced grants to revoke after commit.
    pub orphans: Vec<Orphan>,
    /// The organization and the profile's accounts as the change left them:
    /// the change's webhooks were built from it, and so is the answer
    /// (`account_view::report_from`), so both report the same propagation.
    pub snapshot: Snapshot,
}

fn plan_of(conn: &mut DbConnection, org: &OrganizationId) -> Result<Plan> {
    db::organizations::find_organization(conn, org)?
        .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))?
        .plan()
}

/// The profile's credential holding this grant, or a new one: one grant, one
/// credential (docs/rules.md#propagation). A grant is recognized by the keyed
/// fingerprint of its refresh token (its access token without one), so a
/// rotating refresh token is never stored twice, where two copies would spend
/// it twice and kill the grant. A grant already stored is kept as stored: its
/// row may be in the middle of a refresh, and the refresh lease guards it.
/// Only a copy marked `reauth_required` (which no refresh touches) takes the
/// fresh tokens: the network has just accepted the grant, so that mark is out
/// of date.
/// `true` with the id when the grant was already stored.
pub(super) fn credential_for(
    conn: &mut DbConnection,
    keys: &KeyRing,
    grant: &FreshGrant<'_>,
    profile: ProfileId,
    now: DateTime<Utc>,
) -> Result<(CredentialId, Option<DateTime<Utc>>, bool)> {
    let fresh_expiry = match &grant.asset {
        Some(asset) => asset.expires_at,
        None => Some(grant.tokens.expires_at),
    };
    let fresh = NewGrant {
        organization_id: grant.organization_id.clone(),
        profile_id: profile,
        network: grant.network.into(),
        access_token: grant.tokens.access_token.clone(),
        refresh_token: grant.tokens.refresh_token.clone(),
        scopes: grant.tokens.scopes.clone(),
        expires_at: fresh_expiry,
        refresh_expires_at: grant.tokens.refresh_expires_at,
    };
    let fingerprint = grant_fingerprint(keys, &fresh.access_token, fresh.refresh_token.as_ref());
    db::credentials::refresh_fingerprints(conn, keys, profile)?;
    if let Some(stored) = db::credentials::find_credential_by_fingerprint(
        conn,
        grant.organization_id,
        profile,
        &fingerprint,
    )? {
        if stored.stored_status()? == CredentialStatus::ReauthRequired {
            db::credentials::revive_credential(conn, keys, stored.id, &fresh, now)?;
            return Ok((stored.id, fresh_expiry, true));
        }
        let expires_at = stored.expires_at.map(from_db_time).or(fresh_expiry);
        return Ok((stored.id, expires_at, true));
    }
    let mut credential = seal_new_credential(keys, fresh, now);
    credential.derived_from_credential_id = grant.asset.as_ref().map(|a| a.manager_credential_id);
    db::credentials::insert_credential(conn, &credential)?;
    Ok((credential.id, fresh_expiry, false))
}

/// Holds what a network says about an identity to the bounds the API
/// documents: ids of at most 255 characters, names cut to 255, avatars only
/// as http(s) URLs of at most 2048 characters.
pub fn normalize_identity(identity: &Identity) -> Result<Identity> {
    fn clip(s: &str, max: usize) -> String {
        s.trim().chars().take(max).collect()
    }
    let subject = identity.subject.trim();
    if subject.is_empty() || subject.chars().count() > 255 {
        return Err(Error::GrantRejected(
            "the network's identity has an empty or over-long id (more than 255 characters)".into(),
        ));
    }
    let handle = match clip(&identity.handle, 255) {
        h if h.is_empty() => clip(subject, 255),
        h => h,
    };
    let avatar_url = identity.avatar_url.as_deref().and_then(|u| {
        let parsed = url::Url::parse(u).ok()?;
        (matches!(parsed.scheme(), "http" | "https") && u.len() <= 2048).then(|| u.to_string())
    });
    Ok(Identity {
        subject: subject.to_string(),
        handle,
        display_name: identity
            .display_name
            .as_deref()
            .map(|d| clip(d, 255))
            .filter(|d| !d.is_empty()),
        avatar_url,
    })
}

/// Upserts the profile, stores the credential, creates or reconnects the
/// account in place, and lets the plan decide which of the profile's other
/// accounts move onto the fresh grant, each change audited; then reads the
/// profile as it now is and announces the audited changes from it. Call
/// inside a write transaction.
pub fn apply_fresh_grant(
    conn: &mut DbConnection,
    keys: &KeyRing,
    grant: FreshGrant<'_>,
    now: DateTime<Utc>,
) -> Result<GrantApplied> {
    let org = grant.organization_id;
    let at = to_db_time(now);
    let plan = plan_of(conn, org)?;
    if db::brands::find_brand(conn, org, grant.brand_id)?.is_none() {
        return Err(Error::NotFound(format!(
            "no brand with id {}",
            grant.brand_id
        )));
    }

    // The profile: one per (organization, network, subject), taken for the change.
    let identity = &normalize_identity(grant.identity)?;
    let profile = turns::take_profile(
        conn,
        org,
        grant.network,
        identity,
        grant.expected_account.is_some(),
        grant.asset.as_ref(),
        at,
    )?;

    let existing =
        db::accounts::find_account_in_brand(conn, grant.brand_id, InBrand::OfProfile(profile.id))?;
    if let Some(expected) = grant.expected_account
        && existing.as_ref().map(|a| a.id) != Some(expected)
    {
        return Err(Error::IdentityMismatch(
            "the network authorized a different identity than this account's profile".into(),
        ));
    }

    let (credential_id, expires_at, already_stored) =
        credential_for(conn, keys, &grant, profile.id, now)?;
    let created = existing.is_none();
    let account_id = reconnect_or_create(conn, &grant, existing, profile.id, credential_id, at)?;
    let audit = Audit {
        organization_id: org,
        actor: grant.actor,
        action: grant.source.action(created),
        outcome: AuditOutcome::Success,
        brand_id: Some(grant.brand_id),
        account_id: Some(account_id),
        credential_id: Some(credential_id),
        detail: Some({
            let mut detail = json!({
                "network": grant.network,
                "profile_id": profile.id,
                "handle": identity.handle,
                "expires_at": expires_at,
            });
            if already_stored {
                detail["grant_already_stored"] = json!(true);
            }
            if let Some(asset) = &grant.asset {
                // The audit trail and webhooks name the asset and whom to ask.
                detail["kind"] = json!(asset.kind);
                detail["name"] = json!(identity.display_name);
                detail["manager"] = json!({
                    "name": asset.manager.display_name.as_deref().unwrap_or(&asset.manager.handle),
                    "external_id": asset.manager.external_id,
                });
            }
            detail
        }),
    };
    insert_audit_event(conn, audit.clone(), now)?;

    let propagated = propagate(
        conn,
        plan,
        &grant,
        profile.id,
        account_id,
        credential_id,
        now,
    )?;
    let orphans = orphans::sweep_unused(conn, keys, profile.id)?.orphans;
    let snapshot = Snapshot {
        organization: super::account_view::find_organization(conn, org)?,
        accounts: db::accounts::list_account_rows_of_profile(conn, org, profile.id)?,
    };
    announce::audited(conn, &audit, Some(&snapshot), now)?;
    let moved: Vec<(AccountId, BrandId)> = propagated
        .iter()
        .map(|p| (p.account_id, p.brand_id))
        .collect();
    announce::audited_for_accounts(
        conn,
        &propagated_audit(&grant, account_id, credential_id),
        &moved,
        Some(&snapshot),
        now,
    )?;
    Ok(GrantApplied {
        account_id,
        profile_id: profile.id,
        credential_id,
        created,
        expires_at,
        propagated,
        orphans,
        snapshot,
    })
}

/// The account on the fresh grant: the brand's account of the profile
/// reconnected in place, or a new one. Returns its id.
fn reconnect_or_create(
    conn: &mut DbConnection,
    grant: &FreshGrant<'_>,
    existing: Option<Account>,
    profile_id: ProfileId,
    credential_id: CredentialId,
    at: NaiveDateTime,
) -> Result<AccountId> {
    if let Some(account) = existing {
        db::accounts::set_account_credential(
            conn,
            account.id,
            credential_id,
            at,
            grant.source == GrantSource::Connect,
        )?;
        return Ok(account.id);
    }
    let account = Account {
        id: AccountId::new(),
        organization_id: grant.organization_id.clone(),
        brand_id: grant.brand_id,
        profile_id,
        credential_id: Some(credential_id),
        enabled: true,
        connected_at: at,
        last_renewed_at: None,
        created_at: at,
        updated_at: at,
    };
    db::accounts::insert_account(conn, &account)?;
    Ok(account.id)
}

/// Propagation: the profile's other accounts in this organization not on the
/// grant already move onto it as the plan decides, each with its audit event.
fn propagate(
    conn: &mut DbConnection,
    plan: Plan,
    grant: &FreshGrant<'_>,
    profile_id: ProfileId,
    account_id: AccountId,
    credential_id: CredentialId,
    now: DateTime<Utc>,
) -> Result<Vec<PropagationEntry>> {
    let org = grant.organization_id;
    let at = to_db_time(now);
    let siblings: Vec<Sibling> = db::accounts::list_accounts_of_profile(conn, org, profile_id)?
        .into_iter()
        .filter(|a| a.id != account_id && a.credential_id != Some(credential_id))
        .map(|a| Sibling {
            account_id: a.id,
            brand_id: a.brand_id,
            enabled: a.enabled,
        })
        .collect();
    let decision = decide(plan, siblings);
    // One UPDATE and one INSERT for the siblings, whatever their number.
    let switched: Vec<AccountId> = decision.switch.iter().map(|s| s.account_id).collect();
    db::accounts::move_accounts_to_credential(conn, &switched, credential_id, at)?;
    let moved: Vec<(AccountId, BrandId)> = decision
        .switch
        .iter()
        .map(|s| (s.account_id, s.brand_id))
        .collect();
    insert_audit_events_for_accounts(
        conn,
        propagated_audit(grant, account_id, credential_id),
        &moved,
        now,
    )?;
    Ok(moved
        .into_iter()
        .map(|(account_id, brand_id)| PropagationEntry {
            account_id,
            brand_id,
        })
        .collect())
}

/// The audit event of each account a fresh grant reached by propagation.
fn propagated_audit<'a>(
    grant: &FreshGrant<'a>,
    account_id: AccountId,
    credential_id: CredentialId,
) -> Audit<'a> {
    Audit {
        organization_id: grant.organization_id,
        actor: grant.actor,
        action: AuditAction::AccountRenewed,
        outcome: AuditOutcome::Success,
        brand_id: None,
        account_id: None,
        credential_id: Some(credential_id),
        detail: Some(
            json!({ "propagated_from_account": account_id, "propagated_from_brand": grant.brand_id }),
        ),
    }
}

/// Removes an account; its credential goes too when no other account uses
/// it (returned for revocation). The audit trail stays; its event is dated `at`.
pub fn disconnect(
    conn: &mut DbConnection,
    keys: &KeyRing,
    org: &OrganizationId,
    brand: BrandId,
    account_id: AccountId,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Orphan>> {
    let not_found = || Error::NotFound(format!("no account with id {account_id} in brand {brand}"));
    let which = InBrand::Id {
        org,
        id: account_id,
    };
    let account = db::accounts::find_account_in_brand(conn, brand, which)?.ok_or_else(not_found)?;
    turns::take_existing_profile(conn, account.profile_id)?;
    // Read again now that the profile is taken: a fresh grant or a
    // propagation may have moved the account, or a disconnect removed it.
    let account = db::accounts::find_account_in_brand(conn, brand, which)?.ok_or_else(not_found)?;
    let profile = db::profiles::find_profile(conn, org, account.profile_id)?
        .ok_or_else(|| Error::internal(format!("account {account_id} has no profile")))?;
    db::accounts::delete_account(conn, account.id)?;
    let swept = orphans::sweep_unused(conn, keys, profile.id)?;
    let mine = |id: CredentialId| account.credential_id == Some(id);
    let unreadable = swept.unreadable.iter().any(|&c| mine(c));
    let released = unreadable || swept.orphans.iter().any(|o| mine(o.credential_id));
    announce::record(
        conn,
        Audit {
            organization_id: org,
            actor,
            action: AuditAction::AccountDisconnected,
            outcome: AuditOutcome::Success,
            brand_id: Some(brand),
            account_id: Some(account.id),
            credential_id: account.credential_id,
            detail: Some({
                let mut detail = json!({
                    "network": profile.network,
                    "profile_id": profile.id,
                    "handle": profile.handle,
                    // Whether the grant went with the account (no other account used
                    // it); it is then revoked unless that would reach a stored grant.
                    // `false` too for a grant being refreshed: it goes when its
                    // refresh ends.
                    "credential_deleted": released,
                });
                if unreadable {
                    // Its tokens are not its row's: there is nothing to revoke.
                    detail["revocation_skipped"] =
                        json!(crate::domain::token_status::UNDECRYPTABLE);
                }
                detail
            }),
        },
        at,
    )?;
    Ok(swept.orphans)
}

/// Deletes `credential` once no account uses it, returning it for
/// revocation: for a refresh that ends in this transaction, its lease just
/// released. A change of the profile leaves a credential whose refresh holds
/// the lease to that refresh (`orphans::sweep_unused`), so the refresh's end
/// removes it when the change took its accounts, whatever the refresh's
/// outcome. Takes the profile first, so a change that is moving the last
/// accounts off the credential commits before the count.
pub fn sweep_if_unused(
    conn: &mut DbConnection,
    keys: &KeyRing,
    credential: CredentialId,
) -> Result<Vec<Orphan>> {
    let Some(row) = db::credentials::find_credential_by_id(conn, credential)? else {
        return Ok(Vec::new());
    };
    db::profiles::lock_profile(conn, row.profile_id)?;
    if db::accounts::count_accounts_using_credential(conn, credential)? > 0 {
        return Ok(Vec::new());
    }
    Ok(orphans::sweep_unused(conn, keys, row.profile_id)?.orphans)
}

/// Propagation after a refresh in place: on plans with cross-brand renewal, every
/// other enabled account of the profile moves onto the refreshed credential;
/// the credentials left unused are deleted and returned for revocation. Every
/// account on the credential is marked renewed.
pub fn switch_profile_to_credential(
    conn: &mut DbConnection,
    keys: &KeyRing,
    org: &OrganizationId,
    profile: ProfileId,
    credential: CredentialId,
    at: DateTime<Utc>,
) -> Result<Vec<Orphan>> {
    // The write-back already holds the credential's row; the profile comes
    // after it, and no row another transaction holds is waited for below.
    db::profiles::lock_profile(conn, profile)?;
    if db::accounts::count_accounts_using_credential(conn, credential)? == 0 {
        // A fresh grant, a disconnect or another refresh's propagation took
        // every account off this credential while it was being refreshed
        // (leaving it to this refresh): it is left over, not a source of
        // propagation, and goes like any unused credential, its fresh grant
        // judged like every orphan.
        return Ok(orphans::sweep_unused(conn, keys, profile)?.orphans);
    }
    let plan = plan_of(conn, org)?;
    let others: Vec<Account> = db::accounts::list_accounts_of_profile(conn, org, profile)?
        .into_iter()
        .filter(|a| a.credential_id != Some(credential))
        .collect();
    let decision = decide(
        plan,
        others
            .iter()
            .map(|a| Sibling {
                account_id: a.id,
                brand_id: a.brand_id,
                enabled: a.enabled,
            })
            .collect(),
    );
    let switched: Vec<AccountId> = decision.switch.iter().map(|s| s.account_id).collect();
    db::accounts::move_accounts_to_credential(conn, &switched, credential, to_db_time(at))?;
    db::accounts::touch_renewed(conn, credential, to_db_time(at))?;
    Ok(orphans::sweep_unused(conn, keys, profile)?.orphans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_held_to_the_documented_bounds() {
        let id = |subject: &str, handle: &str, avatar: Option<&str>| Identity {
            subject: subject.into(),
            handle: handle.into(),
            display_name: Some("x".repeat(300)),
            avatar_url: avatar.map(Into::into),
        };
        let n = normalize_identity(&id("42", "", Some("javascript:alert(1)"))).unwrap();
        assert_eq!(n.handle, "42", "empty handle falls back to the id");
        assert_eq!(n.display_name.unwrap().chars().count(), 255);
        assert_eq!(n.avatar_url, None);
        let n = normalize_identity(&id(
            "42",
            &"h".repeat(400),
            Some("https://cdn.example/a.png"),
        ))
        .unwrap();
        assert_eq!(n.handle.len(), 255);
        assert_eq!(n.avatar_url.as_deref(), Some("https://cdn.example/a.png"));
        assert!(normalize_identity(&id(&"9".repeat(256), "h", None)).is_err());
        assert!(normalize_identity(&id("  ", "h", None)).is_err());
    }
}
