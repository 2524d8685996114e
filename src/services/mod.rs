//! The use cases, one module each. Handlers in `api` parse and authorize,
//! call one of these, and shape the answer; nothing here knows HTTP.
//!
//! The rule for every use case: network calls happen with no database
//! connection held; each database step is one short transaction through
//! `db::run` that also reads what the answer needs.

pub mod account_view;
pub mod accounts;
pub mod brands;
pub mod connections;
pub mod data_versions;
pub mod expired;
pub mod grants;
pub mod health;
pub mod idempotency;
pub mod oauth;
pub mod organizations;
pub mod profiles;
pub mod ready;
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

/// Checks that the audience reaches `brand`: a brand its token's `brands`
/// claim does not list answers the same 404 as another organization's
/// (docs/rules.md#tenant-scoping). Every use case addressed by a brand id
/// passes here before its first query.
pub fn reach(audience: &crate::domain::audience::Audience, brand: BrandId) -> Result<(), Error> {
    reach_or(audience, brand, || {
        Error::NotFound(format!("no brand with id {brand}"))
    })
}

/// [`reach`], answering `not_found`: the very 404 the use case gives for
/// another organization's ids, so that the two cannot be told apart.
pub fn reach_or(
    audience: &crate::domain::audience::Audience,
    brand: BrandId,
    not_found: impl FnOnce() -> Error,
) -> Result<(), Error> {
    if audience.reaches(brand) {
        Ok(())
    } else {
        Err(not_found())
    }
}

use crate::domain::ids::{BrandId, CredentialId};
use std::time::Duration;

use secrecy::SecretString;

use crate::error::{Error, UpstreamKind};
use crate::providers::{Provider, ProviderError, RevocationScope, TransientKind};
use crate::state::AppState;

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
        ProviderError::Rejected { .. }
        | ProviderError::ReauthRequired { .. }
        | ProviderError::Misconfigured { .. } => (UpstreamKind::BadGateway, 60),
    };
    (
        kind,
        error
            .retry_after()
            .unwrap_or(Duration::from_secs(default_retry)),
    )
}

/// Maps a network failure that is not a verdict on the grant to 502/503/504,
/// or to `NetworkMisconfigured` when the network refuses the client.
pub fn upstream_error(network: &str, error: &ProviderError) -> Error {
    if error.is_misconfigured() {
        return misconfigured(network, error);
    }
    let (kind, retry_after) = upstream_kind(error);
    Error::Upstream {
        network: network.to_string(),
        kind,
        detail: error.to_string(),
        retry_after,
    }
}

/// The answer for a network that refuses the client
/// (docs/rules.md#failure-classification).
pub fn misconfigured(network: &str, error: &ProviderError) -> Error {
    Error::NetworkMisconfigured {
        network: network.to_string(),
        code: error.code(),
        detail: error.to_string(),
    }
}

/// A credential removed from the database whose grant may be revoked at the
/// network after the transaction committed. Whether it may is decided from
/// what is stored when it was removed (docs/rules.md#propagation).
pub struct Orphan {
    pub credential_id: CredentialId,
    pub network: String,
    /// The refresh token when there was one (revoking it ends the grant), else the access token.
    pub token: SecretString,
    /// Another stored credential, in any organization, holds one of the
    /// grant's tokens (this one or its companion; see `grants::holders`).
    pub token_held_elsewhere: bool,
    /// A credential of the same network identity (network and external id)
    /// is stored in some organization.
    pub identity_held_elsewhere: bool,
}

impl std::fmt::Debug for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orphan")
            .field("credential_id", &self.credential_id)
            .field("network", &self.network)
            .field("token_held_elsewhere", &self.token_held_elsewhere)
            .field("identity_held_elsewhere", &self.identity_held_elsewhere)
            .finish_non_exhaustive()
    }
}

/// Why an orphan's grant must not be revoked, when it must not: a revocation
/// may end only what no stored credential relies on. `None`: revoke it.
pub fn revocation_forbidden(scope: RevocationScope, orphan: &Orphan) -> Option<&'static str> {
    if orphan.token_held_elsewhere {
        return Some("another stored credential holds this token");
    }
    if scope == RevocationScope::App && orphan.identity_held_elsewhere {
        return Some(
            "the network's revocation de-authorizes the app for the person, whose grants are stored elsewhere",
        );
    }
    None
}

/// Revokes `orphans` in the background (see [`revoke_orphans`]); the caller
/// answers at once.
pub fn revoke_later(state: &AppState, orphans: Vec<Orphan>) {
    if orphans.is_empty() {
        return;
    }
    let (grants, providers) = (orphans.len(), state.providers.clone());
    let spawned = state
        .revocations
        .spawn(async move { revoke_orphans(&providers, orphans).await });
    if !spawned {
        tracing::warn!(
            grants,
            "no runtime to revoke replaced grants at their networks"
        );
    }
}

/// Revokes orphaned grants at their networks: best effort, after commit,
/// each failure logged and nothing retried (the grant is already gone here).
/// A revocation that would reach a stored grant is skipped, and logged.
async fn revoke_orphans(providers: &crate::providers::ProviderRegistry, orphans: Vec<Orphan>) {
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
    let Some(scope) = provider.revocation_scope() else {
        tracing::info!(credential = %orphan.credential_id, network = %orphan.network,
            "network has no revocation; grant dropped");
        return;
    };
    if let Some(why) = revocation_forbidden(scope, orphan) {
        tracing::info!(credential = %orphan.credential_id, network = %orphan.network,
            reason = why, "not revoked: the revocation would reach a stored grant");
        return;
    }
    match provider.revoke(&orphan.token).await {
        Ok(()) => tracing::info!(credential = %orphan.credential_id, network = %orphan.network,
            "revoked replaced grant at the network"),
        Err(error) => tracing::warn!(credential = %orphan.credential_id, network = %orphan.network,
            code = %error.code(), "revocation failed (best effort)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orphan(token_held_elsewhere: bool, identity_held_elsewhere: bool) -> Orphan {
        Orphan {
            credential_id: crate::domain::ids::CredentialId::new(),
            network: "n".into(),
            token: SecretString::from("t".to_string()),
            token_held_elsewhere,
            identity_held_elsewhere,
        }
    }

    #[test]
    fn a_revocation_never_reaches_a_stored_grant() {
        use RevocationScope::{App, Grant, Token};
        for scope in [Token, Grant, App] {
            assert!(revocation_forbidden(scope, &orphan(true, true)).is_some());
            assert!(revocation_forbidden(scope, &orphan(true, false)).is_some());
            assert!(revocation_forbidden(scope, &orphan(false, false)).is_none());
        }
        // The person's other grants live on: only an app-wide revocation reaches them.
        assert!(revocation_forbidden(Token, &orphan(false, true)).is_none());
        assert!(revocation_forbidden(Grant, &orphan(false, true)).is_none());
        assert!(revocation_forbidden(App, &orphan(false, true)).is_some());
    }
}
