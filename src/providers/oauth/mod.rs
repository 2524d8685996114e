//! The one implementation of [`Provider`]: RFC 6749 through the `oauth2` crate, plus each
//! preset's flavour.
//!
//! * `config` checks a `[networks.<name>]` table and builds the provider.
//! * `client` drives the protocol with `oauth2`'s typed client: authorization URL (PKCE S256,
//!   state), code exchange, refresh, RFC 7009 revocation.
//! * `transport` is the HTTP client the crate is given: everything goes out through `Outbound`
//!   (configured URLs only, no redirects, timeouts, capped bodies, redacted log lines), and the
//!   crate's errors are classified from the raw answer, as `error.rs` says.
//! * `token_answer` reads the networks' token answers, in all their shapes.
//! * `quirks` holds what the crate cannot express: Meta's GET extension grants and permission
//!   revocation; `spelling` what it builds respelled: TikTok's `client_key`, RFC 7009 on
//!   loopback `http`.
//! * `identity` reads who a token belongs to; `assets` lists what the person manages.

mod assets;
mod client;
mod config;
mod identity;
mod quirks;
mod spelling;
#[cfg(test)]
mod tests;
mod token_answer;
mod transport;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use self::token_answer::{Defaults, TokenAnswer};
use super::error::{CallSite, ProviderError};
use super::http::Outbound;
use super::presets::{Preset, RefreshStyle, Revocation, Upgrade};
use super::settings::NetworkKind;
use super::{
    GrantInfo, Identity, Provider, ProviderFuture, ReauthReason, RefreshFlavour, RefreshPlan,
    RevocationScope, TokenSet,
};

/// The well-known client of the sandbox network.
pub(crate) const SANDBOX_CLIENT_ID: &str = "sandbox-client";
pub(crate) const SANDBOX_CLIENT_SECRET: &str = "sandbox-secret";

/// A configured network: the generic `oauth2` provider, a preset or the sandbox.
#[derive(Debug)]
pub struct OAuthProvider {
    name: String,
    kind: NetworkKind,
    preset: Preset,
    /// Client credentials and authentication, the authorization, token and RFC 7009 endpoints
    /// and the callback, as `oauth2` holds them.
    client: client::Protocol,
    /// The revocation endpoint as configured (RFC 7009 or Meta's permissions endpoint).
    revoke_url: Option<Url>,
    identity_url: Url,
    exchange_url: Option<Url>,
    refresh_url: Option<Url>,
    /// Where the assets the person manages are listed; `None`: profiles are people.
    assets_url: Option<Url>,
    /// LinkedIn's organization lookup, Google's Business Information API base.
    asset_details_url: Option<Url>,
    #[expect(
        dead_code,
        reason = "issue 19's introspection reads it; checked at start-up now"
    )]
    introspection_url: Option<Url>,
    subject_ptr: String,
    handle_ptr: String,
    display_ptr: Option<String>,
    avatar_ptr: Option<String>,
    scopes: Vec<String>,
    authorize_params: Vec<(String, String)>,
    /// Also inside `client`, which does not lend it out: Meta's grants carry it in the query,
    /// and every error detail is scrubbed of it.
    client_secret: SecretString,
    callback: Url,
    access_lifetime: Duration,
    lead: Duration,
    partner: bool,
    outbound: Outbound,
}

impl OAuthProvider {
    fn meta(&self) -> bool {
        self.kind.is_meta()
    }

    /// LinkedIn issues refresh tokens to partner apps only.
    fn refresh_not_offered(&self) -> bool {
        self.kind == NetworkKind::LinkedIn && !self.partner
    }

    fn token_set(&self, answer: TokenAnswer, now: DateTime<Utc>) -> TokenSet {
        let refresh_lifetime = self
            .preset
            .refresh_lifetime_secs
            .filter(|_| !self.refresh_not_offered())
            .map(Duration::from_secs);
        answer.into_token_set(
            now,
            &Defaults {
                access_lifetime: self.access_lifetime,
                refresh_lifetime,
                scopes: &self.scopes,
            },
        )
    }

    async fn do_exchange(
        &self,
        code: &str,
        verifier: &str,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, ProviderError> {
        let set = self.token_set(self.code_grant(code, verifier).await?, now);
        let short = set.access_token.expose_secret();
        let upgraded = match self.preset.upgrade {
            Upgrade::None => return Ok(set),
            Upgrade::FbExchange => {
                self.fb_exchange_token("upgrade_token", CallSite::Token, self.token_url(), short)
                    .await
            }
            Upgrade::Meta { grant } => {
                let Some(url) = &self.exchange_url else {
                    return Ok(set);
                };
                self.meta_exchange(url, grant, short).await
            }
        };
        match upgraded.map(|a| self.token_set(a, now)) {
            Ok(mut long) => {
                // The long-lived answer rarely repeats the scopes; the code answer said them.
                if long.scopes == self.scopes {
                    long.scopes = set.scopes.clone();
                }
                Ok(long)
            }
            Err(e) => {
                tracing::warn!(network = %self.name, error = %e,
                    "long-lived token upgrade failed; keeping the short-lived token");
                Ok(set)
            }
        }
    }

    async fn do_refresh(
        &self,
        access: &SecretString,
        refresh: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, ProviderError> {
        let access = access.expose_secret();
        let answer = match self.preset.refresh {
            RefreshStyle::RefreshToken { .. } | RefreshStyle::LinkedIn => {
                let Some(rt) = refresh
                    .map(ExposeSecret::expose_secret)
                    .filter(|s| !s.is_empty())
                else {
                    let code = if self.refresh_not_offered() {
                        "refresh_not_offered"
                    } else {
                        "no_refresh_token"
                    };
                    return Err(ProviderError::reauth(code, "no refresh token to spend"));
                };
                self.refresh_grant(rt, access).await
            }
            RefreshStyle::FbExchange => {
                let url = self.refresh_url.as_ref().unwrap_or(self.token_url());
                self.fb_exchange_token("refresh", CallSite::Refresh, url, access)
                    .await
            }
            RefreshStyle::MetaRefresh { grant } => {
                let url = self.refresh_url.as_ref().unwrap_or(self.token_url());
                self.meta_refresh(url, grant, access).await
            }
        };
        answer.map(|a| self.token_set(a, now))
    }

    async fn do_revoke(&self, token: &SecretString) -> Result<(), ProviderError> {
        let Some(url) = &self.revoke_url else {
            return Ok(());
        };
        let revoked = match self.preset.revocation {
            Revocation::None => return Ok(()),
            Revocation::Rfc7009(_) => self.rfc7009_revoke(url, token).await,
            Revocation::MetaPermissions => self.revoke_permissions(url, token).await,
        };
        match revoked {
            // The token is already dead at the network: that is what we wanted.
            Err(ProviderError::ReauthRequired { code, .. })
                if code == "invalid_token"
                    || code == "invalid_grant"
                    || code.starts_with("meta_") =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

impl Provider for OAuthProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> NetworkKind {
        self.kind
    }

    fn callback_url(&self) -> &Url {
        &self.callback
    }

    fn authorization_url(&self, state: &str, pkce_challenge_s256: &str) -> Url {
        self.authorize(state, pkce_challenge_s256)
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet> {
        Box::pin(self.do_exchange(code, pkce_verifier, now))
    }

    fn refresh_plan(&self, grant: &GrantInfo, now: DateTime<Utc>) -> RefreshPlan {
        let expired = grant.expires_at <= now;
        match self.preset.refresh {
            RefreshStyle::RefreshToken { .. } | RefreshStyle::LinkedIn => {
                let rotating = matches!(
                    self.preset.refresh,
                    RefreshStyle::RefreshToken { rotating: true }
                );
                if !grant.has_refresh_token {
                    let reason = if self.refresh_not_offered() {
                        ReauthReason::RefreshNotOffered
                    } else {
                        ReauthReason::NoRefreshToken
                    };
                    return RefreshPlan::NeedsReauthorization(reason);
                }
                if grant.refresh_expires_at.is_some_and(|t| t <= now) {
                    return RefreshPlan::NeedsReauthorization(ReauthReason::RefreshTokenExpired);
                }
                RefreshPlan::Silent(RefreshFlavour::RefreshToken { rotating })
            }
            RefreshStyle::FbExchange => {
                if expired {
                    RefreshPlan::NeedsReauthorization(ReauthReason::AccessTokenExpired)
                } else {
                    RefreshPlan::Silent(RefreshFlavour::FbExchangeToken)
                }
            }
            RefreshStyle::MetaRefresh { grant: g } => {
                let flavour = if g == "th_refresh_token" {
                    RefreshFlavour::ThRefreshToken
                } else {
                    RefreshFlavour::IgRefreshToken
                };
                if expired {
                    return RefreshPlan::NeedsReauthorization(ReauthReason::AccessTokenExpired);
                }
                let earliest = grant.issued_at + chrono::Duration::hours(24);
                if now < earliest {
                    RefreshPlan::NotYet { earliest, flavour }
                } else {
                    RefreshPlan::Silent(flavour)
                }
            }
        }
    }

    fn refresh<'a>(
        &'a self,
        access_token: &'a SecretString,
        refresh_token: Option<&'a SecretString>,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet> {
        Box::pin(self.do_refresh(access_token, refresh_token, now))
    }

    fn identity<'a>(&'a self, access_token: &'a SecretString) -> ProviderFuture<'a, Identity> {
        Box::pin(self.do_identity(access_token))
    }

    fn supports_revocation(&self) -> bool {
        self.revocation_scope().is_some()
    }

    fn revocation_scope(&self) -> Option<RevocationScope> {
        self.revoke_url.as_ref()?;
        self.preset.revocation.scope()
    }

    fn revoke<'a>(&'a self, token: &'a SecretString) -> ProviderFuture<'a, ()> {
        Box::pin(self.do_revoke(token))
    }

    fn default_access_lifetime(&self) -> Duration {
        self.access_lifetime
    }

    fn refresh_lead(&self) -> Duration {
        self.lead
    }

    fn assets(&self) -> Option<super::AssetTokens> {
        self.assets_url.as_ref()?;
        self.preset.assets.tokens()
    }

    fn list_assets<'a>(
        &'a self,
        access_token: &'a SecretString,
    ) -> ProviderFuture<'a, Vec<super::ManagedAsset>> {
        Box::pin(self.do_list_assets(access_token))
    }
}
