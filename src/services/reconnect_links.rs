//! Reconnect links: a single-use, expiring link a profile's owner (who has no
//! login) opens to re-authorize. Only the hash of the link's secret is
//! stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;

use super::oauth::{Purpose, StartRequest, Started, check_return_url, hash_state};
use super::renewal::find_account;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::reconnect_links::{self, ReconnectLink};
use crate::db::{self};
use crate::domain::audit::AuditAction;
use crate::domain::{new_id, to_db_time};
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
    org: &str,
    brand: &str,
    account: &str,
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
    let (o, b, a, actor, hash) = (
        org.to_string(),
        brand.to_string(),
        account.to_string(),
        actor.to_string(),
        hash_state(&token),
    );
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let (account, profile, _) = find_account(conn, &o, Some(&b), &a)?;
            let link = ReconnectLink {
                id: new_id(),
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
                    brand_id: Some(&link.brand_id),
                    account_id: Some(&link.account_id),
                    detail: Some(serde_json::json!({ "expires_at": expires_at })),
                    ..Audit::new(&o, &actor, AuditAction::ReconnectLinkCreated)
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

/// Spends a link and starts the authorization it stands for.
pub async fn open(state: &AppState, token: &str) -> Result<Started> {
    let well_formed = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(Error::NotFound("no such reconnect link".into()));
    }
    let (hash, at) = (hash_state(token), to_db_time(state.now()));
    let link = db::run(&state.pool, move |conn| {
        let link = reconnect_links::find_reconnect_link_by_hash(conn, &hash)?
            .ok_or_else(|| Error::NotFound("no such reconnect link".into()))?;
        let fresh = reconnect_links::use_reconnect_link(conn, &link.id, at)?;
        if !fresh {
            return Err(Error::Gone(if link.used_at.is_some() {
                "this reconnect link was already used; ask for a new one".into()
            } else {
                "this reconnect link has expired; ask for a new one".into()
            }));
        }
        Ok(link)
    })
    .await?;
    super::oauth::start(
        state,
        StartRequest {
            organization_id: &link.organization_id,
            brand_id: &link.brand_id,
            account_id: Some(&link.account_id),
            network: &link.network,
            purpose: Purpose::ReconnectLink,
            return_url: link.return_url.as_deref(),
            actor: &format!("reconnect-link:{}", link.id),
        },
    )
    .await
}
