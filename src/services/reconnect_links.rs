//! Reconnect links: a single-use, expiring link a profile's owner (who has no
//! login) opens to re-authorize. Only the hash of the link's secret is
//! stored.

use crate::domain::ids::{AccountId, BrandId, ReconnectLinkId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;

use super::oauth::{Prepared, Purpose, StartRequest, Started, check_return_url, hash_state};
use super::renewal::find_account;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::reconnect_links::{self, ReconnectLink};
use crate::db::{self};
use crate::domain::audience::Audience;
use crate::domain::audit::AuditAction;
use crate::domain::to_db_time;
use crate::error::{Error, Result};
use crate::state::AppState;

/// A new link: its URL (holding the secret) and expiry.
#[derive(Debug)]
pub struct Created {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates a link for the brand's account.
pub async fn create(
    state: &AppState,
    audience: &Audience,
    brand: BrandId,
    account: AccountId,
    actor: &str,
    return_url: Option<String>,
    expires_in: Option<u64>,
) -> Result<Created> {
    check_return_url(state, return_url.as_deref())?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let created = state.now();
    let ttl = expires_in.unwrap_or(state.settings.reconnect_link_ttl_secs);
    let expires_at = created + chrono::Duration::seconds(i64::try_from(ttl).unwrap_or(604_800));
    let (audience, actor, hash) = (audience.clone(), actor.to_string(), hash_state(&token));
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let (account, profile, _) = find_account(conn, &audience, Some(brand), account)?;
            let o = audience.organization_id();
            let link = ReconnectLink {
                id: ReconnectLinkId::new(),
                token_hash: hash,
                organization_id: o.clone(),
                brand_id: account.brand_id,
                account_id: account.id,
                network: profile.network,
                return_url,
                created_by: actor.clone(),
                expires_at: to_db_time(expires_at),
                used_at: None,
                created_at: to_db_time(created),
            };
            reconnect_links::insert_reconnect_link(conn, &link)?;
            insert_audit_event(
                conn,
                Audit {
                    brand_id: Some(link.brand_id),
                    account_id: Some(link.account_id),
                    detail: Some(serde_json::json!({ "expires_at": expires_at })),
                    ..Audit::new(o, &actor, AuditAction::ReconnectLinkCreated)
                },
                created,
            )
        })
    })
    .await?;
    let base = state.settings.public_url();
    Ok(Created {
        url: format!(
            "{}/v1/reconnect/{token}",
            base.as_str().trim_end_matches('/')
        ),
        expires_at,
    })
}

/// A link's secret is 43 characters of base64url; anything else names no link.
fn hash_of(token: &str) -> Result<String> {
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(Error::NotFound("no such reconnect link".into()));
    }
    Ok(hash_state(token))
}

fn gone(link: &ReconnectLink) -> Error {
    Error::Gone(if link.used_at.is_some() {
        "this reconnect link was already used; ask for a new one".into()
    } else {
        "this reconnect link has expired; ask for a new one".into()
    })
}

/// What the page a profile's owner opens shows about a link.
#[derive(Debug)]
pub struct Preview {
    pub organization_name: String,
    pub network: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What a usable link stands for, without spending it: opening the page
/// (or a link preview fetching it) changes nothing.
pub async fn preview(state: &AppState, token: &str) -> Result<Preview> {
    let (hash, at) = (hash_of(token)?, to_db_time(state.now()));
    db::run(&state.pool, move |conn| {
        let link = reconnect_links::find_reconnect_link_by_hash(conn, &hash)?
            .ok_or_else(|| Error::NotFound("no such reconnect link".into()))?;
        if link.used_at.is_some() || link.expires_at <= at {
            return Err(gone(&link));
        }
        let organization = db::organizations::find_organization(conn, &link.organization_id)?
            .ok_or_else(|| Error::NotFound("no such reconnect link".into()))?;
        let (_, profile, _) =
            db::accounts::find_account_by_id(conn, &link.organization_id, link.account_id)?
                .ok_or_else(|| Error::Gone("the account of this link was disconnected".into()))?;
        Ok(Preview {
            organization_name: organization.name,
            network: link.network,
            handle: profile.handle,
            display_name: profile.display_name,
            expires_at: crate::domain::from_db_time(link.expires_at),
        })
    })
    .await
}

/// Spends a link and starts the authorization it stands for, both or
/// neither: the start is prepared first (a network no longer configured, a
/// return URL no longer allowed fail there), then the link is spent and the
/// authorization's state stored in one transaction, so a start that fails
/// leaves the owner's link as it was. The spending is one conditional
/// UPDATE: of concurrent uses, one starts an authorization and the others
/// find the link spent.
pub async fn open(state: &AppState, token: &str) -> Result<Started> {
    let (hash, at) = (hash_of(token)?, to_db_time(state.now()));
    let again = hash.clone();
    let link = db::run(&state.pool, move |conn| {
        let link = reconnect_links::find_reconnect_link_by_hash(conn, &hash)?
            .ok_or_else(|| Error::NotFound("no such reconnect link".into()))?;
        if link.used_at.is_some() || link.expires_at <= at {
            return Err(gone(&link));
        }
        Ok(link)
    })
    .await?;
    // Whoever opens the link has no login: the callback's answer names no
    // brand but the link's own.
    let audience = Audience::brands(link.organization_id.clone(), [link.brand_id]);
    let Prepared {
        state: oauth_state,
        started,
    } = super::oauth::prepare(
        state,
        StartRequest {
            audience: &audience,
            brand_id: link.brand_id,
            account_id: Some(link.account_id),
            network: &link.network,
            purpose: Purpose::ReconnectLink,
            return_url: link.return_url.as_deref(),
            actor: &format!("reconnect-link:{}", link.id),
        },
    )?;
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if !reconnect_links::use_reconnect_link(conn, link.id, at)? {
                // Spent (or expired) since it was read: say which.
                let now = reconnect_links::find_reconnect_link_by_hash(conn, &again)?;
                return Err(gone(now.as_ref().unwrap_or(&link)));
            }
            crate::db::oauth_states::insert_oauth_state(conn, &oauth_state)
        })
    })
    .await?;
    Ok(started)
}
