//! Storing a fresh grant (connect, reconnect, import, re-authorization) with
//! its propagation (on cross-brand plans the profile's other enabled accounts
//! move onto the fresh grant; docs/rules.md, Propagation), and disconnecting.
//! Both run inside one database transaction and return the grants to revoke
//! after it commits.

use chrono::{DateTime, Utc};
use serde_json::json;

pub use super::Orphan;
use crate::crypto::KeyRing;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::credentials::{NewGrant, open_tokens, seal_new_credential};
use crate::db::models::{Account, Profile};
use crate::db::{self, DbConnection};
use crate::domain::audit::{AuditAction, AuditOutcome};
use crate::domain::plan::Plan;
use crate::domain::propagation::{Sibling, decide};
use crate::domain::{new_id, to_db_time};
use crate::error::{Error, Result};
use crate::providers::{Identity, TokenSet};

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
    pub organization_id: &'a str,
    pub brand_id: &'a str,
    pub network: &'a str,
    pub identity: &'a Identity,
    pub tokens: &'a TokenSet,
    pub actor: &'a str,
    pub source: GrantSource,
    /// For a re-authorization: the account it must land on (its profile must be the identity).
    pub expected_account: Option<&'a str>,
}

/// Another brand's account of the same profile and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationEntry {
    pub account_id: String,
    pub brand_id: String,
}

#[derive(Debug)]
pub struct GrantApplied {
    pub account_id: String,
    pub profile_id: String,
    pub credential_id: String,
    pub created: bool,
    pub expires_at: DateTime<Utc>,
    /// Other brands' accounts now on the fresh grant.
    pub propagated: Vec<PropagationEntry>,
    /// Replaced grants to revoke after commit.
    pub orphans: Vec<Orphan>,
}

fn plan_of(conn: &mut DbConnection, org: &str) -> Result<Plan> {
    db::organizations::find_organization(conn, org)?
        .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))?
        .plan()
}

/// Deletes each credential that no account uses any more; returns what to revoke.
fn collect_orphans(
    conn: &mut DbConnection,
    keys: &KeyRing,
    candidates: impl IntoIterator<Item = String>,
) -> Result<Vec<Orphan>> {
    let mut orphans = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in candidates {
        if !seen.insert(id.clone()) || db::accounts::count_accounts_using_credential(conn, &id)? > 0
        {
            continue;
        }
        let Some(row) = db::credentials::list_credentials(conn, std::slice::from_ref(&id))?.pop()
        else {
            continue;
        };
        let (access, refresh) = open_tokens(keys, &row)?;
        db::credentials::delete_credential(conn, &id)?;
        orphans.push(Orphan {
            credential_id: id,
            network: row.network,
            token: refresh.unwrap_or(access),
        });
    }
    Ok(orphans)
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
/// accounts move onto the fresh grant. Call inside a write transaction.
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

    // The profile: one per (organization, network, subject).
    let identity = &normalize_identity(grant.identity)?;
    let profile = match db::profiles::find_profile_by_identity(
        conn,
        org,
        grant.network,
        &identity.subject,
    )? {
        Some(profile) => {
            db::profiles::update_profile_identity(
                conn,
                &profile.id,
                &identity.handle,
                identity.display_name.as_deref(),
                identity.avatar_url.as_deref(),
                at,
            )?;
            profile
        }
        None => {
            if grant.expected_account.is_some() {
                return Err(Error::IdentityMismatch(
                    "the network authorized a different identity than this account's profile"
                        .into(),
                ));
            }
            let profile = Profile {
                id: new_id(),
                organization_id: org.into(),
                network: grant.network.into(),
                external_id: identity.subject.clone(),
                handle: identity.handle.clone(),
                display_name: identity.display_name.clone(),
                avatar_url: identity.avatar_url.clone(),
                created_at: at,
                updated_at: at,
            };
            db::profiles::insert_profile(conn, &profile)?;
            profile
        }
    };

    let existing =
        db::accounts::find_account_in_brand_by_profile(conn, grant.brand_id, &profile.id)?;
    if let Some(expected) = grant.expected_account
        && existing.as_ref().map(|a| a.id.as_str()) != Some(expected)
    {
        return Err(Error::IdentityMismatch(
            "the network authorized a different identity than this account's profile".into(),
        ));
    }

    let credential = seal_new_credential(
        keys,
        NewGrant {
            organization_id: org.into(),
            profile_id: profile.id.clone(),
            network: grant.network.into(),
            access_token: grant.tokens.access_token.clone(),
            refresh_token: grant.tokens.refresh_token.clone(),
            scopes: grant.tokens.scopes.clone(),
            expires_at: Some(grant.tokens.expires_at),
            refresh_expires_at: grant.tokens.refresh_expires_at,
        },
        now,
    );
    db::credentials::insert_credential(conn, &credential)?;

    let mut replaced = Vec::new();
    let created = existing.is_none();
    let account_id = match existing {
        Some(account) => {
            replaced.extend(account.credential_id.clone());
            db::accounts::set_account_credential(
                conn,
                &account.id,
                &credential.id,
                at,
                grant.source == GrantSource::Connect,
            )?;
            account.id
        }
        None => {
            let account = Account {
                id: new_id(),
                organization_id: org.into(),
                brand_id: grant.brand_id.into(),
                profile_id: profile.id.clone(),
                credential_id: Some(credential.id.clone()),
                enabled: true,
                connected_at: at,
                last_renewed_at: None,
                created_at: at,
                updated_at: at,
            };
            db::accounts::insert_account(conn, &account)?;
            account.id
        }
    };
    insert_audit_event(
        conn,
        Audit {
            organization_id: org,
            actor: grant.actor,
            action: grant.source.action(created),
            outcome: AuditOutcome::Success,
            brand_id: Some(grant.brand_id),
            account_id: Some(&account_id),
            credential_id: Some(&credential.id),
            detail: Some(json!({
                "network": grant.network,
                "profile_id": profile.id,
                "handle": identity.handle,
                "expires_at": grant.tokens.expires_at,
            })),
        },
        now,
    )?;

    // Propagation: the profile's other accounts in this organization.
    let siblings: Vec<(Account, Sibling)> =
        db::accounts::list_accounts_of_profile(conn, org, &profile.id)?
            .into_iter()
            .filter(|a| a.id != account_id)
            .map(|a| {
                let sibling = Sibling {
                    account_id: a.id.clone(),
                    brand_id: a.brand_id.clone(),
                    enabled: a.enabled,
                };
                (a, sibling)
            })
            .collect();
    let mut old_credentials = std::collections::HashMap::new();
    for (account, _) in &siblings {
        old_credentials.insert(account.id.clone(), account.credential_id.clone());
    }
    let decision = decide(plan, siblings.into_iter().map(|(_, s)| s).collect());
    let mut propagated = Vec::new();
    for sibling in &decision.switch {
        db::accounts::set_account_credential(conn, &sibling.account_id, &credential.id, at, false)?;
        if let Some(Some(old)) = old_credentials.get(&sibling.account_id) {
            replaced.push(old.clone());
        }
        insert_audit_event(
            conn,
            Audit {
                organization_id: org,
                actor: grant.actor,
                action: AuditAction::AccountRenewed,
                outcome: AuditOutcome::Success,
                brand_id: Some(&sibling.brand_id),
                account_id: Some(&sibling.account_id),
                credential_id: Some(&credential.id),
                detail: Some(
                    json!({ "propagated_from_account": account_id, "propagated_from_brand": grant.brand_id }),
                ),
            },
            now,
        )?;
        propagated.push(PropagationEntry {
            account_id: sibling.account_id.clone(),
            brand_id: sibling.brand_id.clone(),
        });
    }
    let orphans = collect_orphans(conn, keys, replaced)?;
    Ok(GrantApplied {
        account_id,
        profile_id: profile.id,
        credential_id: credential.id,
        created,
        expires_at: grant.tokens.expires_at,
        propagated,
        orphans,
    })
}

/// Removes an account; its credential goes too when no other account uses
/// it (returned for revocation). The audit trail stays; its event is dated `at`.
pub fn disconnect(
    conn: &mut DbConnection,
    keys: &KeyRing,
    org: &str,
    brand: &str,
    account_id: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Orphan>> {
    let (account, profile, credential) = db::accounts::find_account(conn, org, brand, account_id)?
        .ok_or_else(|| {
            Error::NotFound(format!("no account with id {account_id} in brand {brand}"))
        })?;
    db::accounts::delete_account(conn, &account.id)?;
    let orphans = collect_orphans(conn, keys, [credential.id.clone()])?;
    insert_audit_event(
        conn,
        Audit {
            organization_id: org,
            actor,
            action: AuditAction::AccountDisconnected,
            outcome: AuditOutcome::Success,
            brand_id: Some(brand),
            account_id: Some(&account.id),
            credential_id: Some(&credential.id),
            detail: Some(json!({
                "network": profile.network,
                "profile_id": profile.id,
                "handle": profile.handle,
                "grant_revoked": !orphans.is_empty(),
            })),
        },
        at,
    )?;
    Ok(orphans)
}

/// Propagation after a refresh in place: on plans with cross-brand renewal, every
/// other enabled account of the profile moves onto the refreshed credential;
/// the credentials left unused are deleted and returned for revocation. Every
/// account on the credential is marked renewed.
pub fn switch_profile_to_credential(
    conn: &mut DbConnection,
    keys: &KeyRing,
    org: &str,
    profile: &str,
    credential: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Orphan>> {
    let plan = plan_of(conn, org)?;
    let others: Vec<Account> = db::accounts::list_accounts_of_profile(conn, org, profile)?
        .into_iter()
        .filter(|a| a.credential_id.as_deref() != Some(credential))
        .collect();
    let decision = decide(
        plan,
        others
            .iter()
            .map(|a| Sibling {
                account_id: a.id.clone(),
                brand_id: a.brand_id.clone(),
                enabled: a.enabled,
            })
            .collect(),
    );
    let mut replaced = Vec::new();
    for sibling in &decision.switch {
        if let Some(old) = others
            .iter()
            .find(|a| a.id == sibling.account_id)
            .and_then(|a| a.credential_id.clone())
        {
            replaced.push(old);
        }
        db::accounts::set_account_credential(
            conn,
            &sibling.account_id,
            credential,
            to_db_time(at),
            false,
        )?;
    }
    db::accounts::touch_renewed(conn, credential, to_db_time(at))?;
    collect_orphans(conn, keys, replaced)
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
