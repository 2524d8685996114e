//! The use cases, one module each. Handlers in `api` parse and authorize,
//! call one of these, and shape the answer; nothing here knows HTTP.
//!
//! The rule for every use case: network calls happen with no database
//! connection held; each database step is one short transaction through
//! `db::run` that also reads what the answer needs.

pub mod accounts;
pub mod brands;
pub mod expired;
pub mod grants;
pub mod health;
pub mod idempotency;
pub mod oauth;
pub mod organizations;
pub mod profiles;
pub mod reconnect_links;
pub mod refresh;
pub mod renewal;
pub mod vault;
pub mod webhooks;

/// One page of a listing and the cursor of the next.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

use std::time::Duration;

use secrecy::SecretString;

use crate::error::{Error, UpstreamKind};
use crate::providers::{Provider, ProviderError, TransientKind};

/// What a network's refresh plan needs to know of a stored grant, from the
/// columns every credential row type carries. A grant without an expiry
/// never expires; one never refreshed was issued when it was stored.
pub fn grant_info(
    has_refresh_token: bool,
    expires_at: Option<chrono::NaiveDateTime>,
    issued_at: chrono::NaiveDateTime,
    last_refreshed_at: Option<chrono::NaiveDateTime>,
    refresh_expires_at: Option<chrono::NaiveDateTime>,
) -> crate::providers::GrantInfo {
    use crate::domain::from_db_time;
    crate::providers::GrantInfo {
        has_refresh_token,
        expires_at: expires_at
            .map(from_db_time)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        issued_at: from_db_time(last_refreshed_at.unwrap_or(issued_at)),
        refresh_expires_at: refresh_expires_at.map(from_db_time),
    }
}

/// How a network failure that is not a verdict on the grant is answered:
/// 502, 503 or 504, and the pause before a retry.
pub fn upstream_kind(error: &ProviderError) -> (UpstreamKind, Duration) {
    let (kind, default_retry) = match error {
        ProviderError::Transient { kind, .. } => match kind {
            TransientKind::Timeout => (UpstreamKind::Timeout, 5),
            TransientKind::RateLimited => (UpstreamKind::Unavailable, 30),
            TransientKind::Unavailable(503) => (UpstreamKind::Unavailable, 10),
            TransientKind::Unavailable(_) | TransientKind::Malformed | TransientKind::Connect => {
                (UpstreamKind::BadGateway, 10)
            }
        },
        ProviderError::Rejected { .. } | ProviderError::ReauthRequired { .. } => {
            (UpstreamKind::BadGateway, 60)
        }
    };
    (
        kind,
        error
            .retry_after()
            .unwrap_or(Duration::from_secs(default_retry)),
    )
}

/// Maps a network failure that is not a verdict on the grant to 502/503/504.
pub fn upstream_error(network: &str, error: &ProviderError) -> Error {
    let (kind, retry_after) = upstream_kind(error);
    Error::Upstream {
        network: network.to_string(),
        kind,
        detail: error.to_string(),
        retry_after,
    }
}

/// A credential removed from the database whose grant should be revoked at
/// the network after the transaction committed.
pub struct Orphan {
    pub credential_id: String,
    pub network: String,
    /// The refresh token when there was one (revoking it ends the grant), else the access token.
    pub token: SecretString,
}

impl std::fmt::Debug for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orphan")
            .field("credential_id", &self.credential_id)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

/// Revokes orphaned grants at their networks: best effort, after commit,
/// each failure logged and nothing retried (the grant is already gone here).
pub async fn revoke_orphans(providers: &crate::providers::ProviderRegistry, orphans: Vec<Orphan>) {
    for orphan in orphans {
        let Some(provider) = providers.get(&orphan.network) else {
            tracing::warn!(credential = %orphan.credential_id, network = %orphan.network,
                "cannot revoke: network no longer configured");
            continue;
        };
        revoke_one(provider.as_ref(), &orphan).await;
    }
}

async fn revoke_one(provider: &dyn Provider, orphan: &Orphan) {
    if !provider.supports_revocation() {
        tracing::info!(credential = %orphan.credential_id, network = %orphan.network,
            "network has no revocation; grant dropped");
        return;
    }
    match provider.revoke(&orphan.token).await {
        Ok(()) => tracing::info!(credential = %orphan.credential_id, network = %orphan.network,
            "revoked replaced grant at the network"),
        Err(error) => tracing::warn!(credential = %orphan.credential_id, network = %orphan.network,
            code = %error.code(), "revocation failed (best effort)"),
    }
}
