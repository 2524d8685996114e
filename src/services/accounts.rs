//! Manage Accounts: a brand's accounts with their token status, connecting,
//! importing, enabling and disabling, disconnecting, and the audit trail.
//!
//! Every use case reads what its answer needs in the same trip to the pool as
//! its write: an account comes back as an [`AccountView`], the account with
//! its status worked out against the clock.

use crate::domain::ids::{AccountId, BrandId, OrganizationId};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::grants::{FreshGrant, GrantSource, apply_fresh_grant, disconnect as disconnect_grant};
use super::oauth::{Purpose, StartRequest, Started};
use super::{Page, reach, reach_or, revoke_later, upstream_error};
use crate::db::accounts::{AccountFilter, AccountRow};
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::{self, DbConnection, models};
use crate::domain::audience::Audience;
use crate::domain::audit::AuditAction;
use crate::domain::pagination::split_page;
use crate::domain::token_status::TokenStatus;
use crate::domain::{DATE_HORIZON, after_std, to_db_time};
use crate::error::{Error, FieldError, Result};
use crate::providers::{ProviderError, ProviderRegistry, TokenSet};
use crate::state::AppState;

pub use super::account_view::{
    AccountView, GrantOutcome, PropagationReport, StatusContext, account_with_report,
    find_organization, grant_info, report_from, window_of,
};

/// The brand of the organization, or 404.
pub fn require_brand(conn: &mut DbConnection, org: &OrganizationId, brand: BrandId) -> Result<()> {
    db::brands::find_brand(conn, org, brand)?
        .map(|_| ())
        .ok_or_else(|| Error::NotFound(format!("no brand with id {brand}")))
}

/// Which accounts of a brand to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub network: Option<String>,
    pub status: Option<TokenStatus>,
}

/// A page of the brand's accounts, in id order after `after`.
pub async fn list(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    filter: ListFilter,
    limit: u32,
    after: Option<String>,
) -> Result<super::ready::Fresh<Page<AccountView>>> {
    reach(audience, brand)?;
    let (o, providers, at) = (
        audience.organization_id().clone(),
        state.providers.clone(),
        state.now(),
    );
    db::run(&state.pool, move |conn| {
        super::ready::read_fresh(conn, &o, at, |conn, organization| {
            require_brand(conn, &o, brand)?;
            let ctx = StatusContext::for_organization(organization, &providers, at);
            let filter = AccountFilter {
                brand_id: Some(brand),
                brands: None,
                network: filter.network,
                statuses: filter.status.into_iter().collect(),
                now: Some(to_db_time(at)),
                window_end: Some(to_db_time(at + ctx.window)),
            };
            let rows = db::accounts::list_accounts(
                conn,
                &o,
                &filter,
                after.as_deref(),
                i64::from(limit) + 1,
            )?;
            let (rows, next_cursor) = split_page(rows, limit, |r| r.0.id.as_str());
            Ok(Page {
                items: rows
                    .into_iter()
                    .map(|r| ctx.view(r))
                    .collect::<Result<_>>()?,
                next_cursor,
            })
        })
    })
    .await
}

fn account_not_found(brand: BrandId, id: AccountId) -> Error {
    Error::NotFound(format!("no account with id {id} in brand {brand}"))
}

fn find_in_brand(
    conn: &mut DbConnection,
    org: &OrganizationId,
    brand: BrandId,
    id: AccountId,
) -> Result<AccountRow> {
    db::accounts::find_account(conn, org, brand, id)?.ok_or_else(|| account_not_found(brand, id))
}

fn view_in_brand(
    conn: &mut DbConnection,
    providers: &ProviderRegistry,
    org: &OrganizationId,
    brand: BrandId,
    id: AccountId,
    at: DateTime<Utc>,
) -> Result<AccountView> {
    let organization = find_organization(conn, org)?;
    let row = find_in_brand(conn, org, brand, id)?;
    StatusContext::for_organization(&organization, providers, at).view(row)
}

/// One account of the brand.
pub async fn get(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    id: AccountId,
) -> Result<AccountView> {
    reach_or(audience, brand, || account_not_found(brand, id))?;
    let (o, providers, at) = (
        audience.organization_id().clone(),
        state.providers.clone(),
        state.now(),
    );
    db::run(&state.pool, move |conn| {
        view_in_brand(conn, &providers, &o, brand, id, at)
    })
    .await
}

/// Starts connecting a profile to the brand: the network's authorization URL.
pub async fn connect(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    actor: &str,
    network: &str,
    return_url: Option<&str>,
) -> Result<Started> {
    reach(audience, brand)?;
    let o = audience.organization_id().clone();
    db::run(&state.pool, move |conn| require_brand(conn, &o, brand)).await?;
    super::oauth::start(
        state,
        StartRequest {
            audience,
            brand_id: brand,
            account_id: None,
            network,
            purpose: Purpose::Connect,
            return_url,
            actor,
        },
    )
    .await
}

/// A grant the client already holds.
pub struct Import {
    pub network: String,
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// Stores an imported grant after the network's identity endpoint accepted it.
pub async fn import(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    actor: &str,
    import: Import,
) -> Result<GrantOutcome> {
    reach(audience, brand)?;
    let org = audience.organization_id();
    let o = org.clone();
    db::run(&state.pool, move |conn| require_brand(conn, &o, brand)).await?;
    let provider = state.providers.get(&import.network).ok_or_else(|| {
        Error::Validation(vec![FieldError::body(
            "/network",
            format!("no network named {:?} is configured", import.network),
        )])
    })?;
    let at = state.now();
    // Far off, a date is a mistake the worker would choke on (DATE_HORIZON).
    if let Some(expires_at) = import.expires_at
        && (expires_at - at).abs() > DATE_HORIZON
    {
        return Err(Error::Validation(vec![FieldError::body(
            "/expires_at",
            "must be within ten years of now",
        )]));
    }
    // Verify the grant with the network before storing anything.
    let identity = provider
        .identity(&import.access_token)
        .await
        .map_err(|e| match e {
            ProviderError::ReauthRequired { .. } => Error::GrantRejected(format!(
                "{} does not accept this access token ({})",
                import.network,
                e.code()
            )),
            other => upstream_error(&import.network, &other),
        })?;
    let expires_at = match (import.expires_at, import.expires_in) {
        (Some(t), _) => t,
        (None, Some(secs)) => after_std(at, std::time::Duration::from_secs(secs)),
        (None, None) => after_std(at, provider.default_access_lifetime()),
    };
    let tokens = TokenSet {
        access_token: import.access_token,
        refresh_token: import.refresh_token,
        expires_at,
        refresh_expires_at: None,
        scopes: import.scopes,
        // What the importer says was granted is not the network's word.
        granted_scopes: None,
    };
    let (keys, providers) = (state.keys.clone(), state.providers.clone());
    let (o, n, actor) = (org.clone(), import.network, actor.to_string());
    let (mut applied, outcome) = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let applied = apply_fresh_grant(
                conn,
                &keys,
                FreshGrant {
                    organization_id: &o,
                    brand_id: brand,
                    network: &n,
                    identity: &identity,
                    tokens: &tokens,
                    actor: &actor,
                    source: GrantSource::Import,
                    expected_account: None,
                    asset: None,
                },
                at,
            )?;
            let (account, propagation) = report_from(
                &applied.snapshot.organization,
                &providers,
                applied.snapshot.accounts.clone(),
                applied.account_id,
                at,
            )?;
            let outcome = GrantOutcome {
                created: applied.created,
                account,
                propagation,
            };
            Ok((applied, outcome))
        })
    })
    .await?;
    revoke_later(state, std::mem::take(&mut applied.orphans));
    Ok(GrantOutcome {
        propagation: audience.report(outcome.propagation),
        ..outcome
    })
}

/// Enables or disables an account; a change is audited.
pub async fn set_enabled(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    id: AccountId,
    actor: &str,
    enabled: bool,
) -> Result<AccountView> {
    reach_or(audience, brand, || account_not_found(brand, id))?;
    let (o, actor, providers, at) = (
        audience.organization_id().clone(),
        actor.to_string(),
        state.providers.clone(),
        state.now(),
    );
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let (row, _, credential) = find_in_brand(conn, &o, brand, id)?;
            if row.enabled != enabled {
                db::accounts::set_account_enabled(conn, id, enabled, to_db_time(at))?;
                let action = if enabled {
                    AuditAction::AccountEnabled
                } else {
                    AuditAction::AccountDisabled
                };
                insert_audit_event(
                    conn,
                    Audit {
                        brand_id: Some(brand),
                        account_id: Some(id),
                        credential_id: Some(credential.id),
                        ..Audit::new(&o, &actor, action)
                    },
                    at,
                )?;
            }
            view_in_brand(conn, &providers, &o, brand, id, at)
        })
    })
    .await
}

/// Removes the account from the brand; a grant no account uses any more is
/// revoked at the network after the transaction committed.
pub async fn disconnect(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    id: AccountId,
    actor: &str,
) -> Result<()> {
    reach_or(audience, brand, || account_not_found(brand, id))?;
    let (o, actor, keys, at) = (
        audience.organization_id().clone(),
        actor.to_string(),
        state.keys.clone(),
        state.now(),
    );
    let orphans = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            disconnect_grant(conn, &keys, &o, brand, id, &actor, at)
        })
    })
    .await?;
    revoke_later(state, orphans);
    Ok(())
}

/// A page of the account's audit trail, newest first; readable after the
/// account was disconnected.
pub async fn events(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    id: AccountId,
    limit: u32,
    before: Option<String>,
) -> Result<Page<models::AuditEvent>> {
    reach_or(audience, brand, || account_not_found(brand, id))?;
    let o = audience.organization_id().clone();
    let audience = audience.clone();
    db::run(&state.pool, move |conn| {
        // Only the brand's events: an account id of another brand, with or
        // without id cursor, reads nothing of that brand.
        let rows = db::audit::list_account_audit_events(
            conn,
            &o,
            brand,
            id,
            before.as_deref(),
            i64::from(limit) + 1,
        )?;
        let exists = db::accounts::find_account(conn, &o, brand, id)?.is_some();
        if !exists && rows.is_empty() && before.is_none() {
            return Err(account_not_found(brand, id));
        }
        let (items, next_cursor) = split_page(rows, limit, |r| r.id.as_str());
        Ok(Page {
            items: items
                .into_iter()
                .map(|event| unnamed_elsewhere(&audience, event))
                .collect(),
            next_cursor,
        })
    })
    .await
}

/// An audit event as the audience may read it: an event that came to its
/// account by propagation from a brand it does not reach says so without
/// naming that brand or its account. The stored event is unchanged.
fn unnamed_elsewhere(audience: &Audience, mut event: models::AuditEvent) -> models::AuditEvent {
    let Some(mut detail) = event
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(d).ok())
    else {
        return event;
    };
    let from = detail
        .get("propagated_from_brand")
        .and_then(serde_json::Value::as_str);
    // A brand that is no id names no brand the audience reaches.
    let hidden = |brand: &str| {
        BrandId::parse(brand).map_or(!audience.is_whole_organization(), |b| !audience.reaches(b))
    };
    if from.is_some_and(hidden) {
        detail.remove("propagated_from_brand");
        detail.remove("propagated_from_account");
        detail.insert("propagated_from_elsewhere".into(), true.into());
        event.detail = Some(serde_json::Value::Object(detail).to_string());
    }
    event
}
