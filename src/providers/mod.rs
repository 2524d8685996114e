//! The network layer: what tokenwarden asks of a social network.
//!
//! # Shape
//!
//! * [`NetworkSettings`] — one `[networks.<name>]` table of the configuration file; the config
//!   module embeds `networks: BTreeMap<String, NetworkSettings>`. [`HttpSettings`] — outbound
//!   limits.
//! * [`ProviderRegistry::from_settings`] validates every network at start-up (known kind, the
//!   URLs a generic `oauth2` network needs, client credentials, `https` except on loopback hosts)
//!   and builds one [`Provider`] per network; [`ProviderRegistry::get`] hands them out as
//!   `Arc<dyn Provider>`. [`ProviderRegistry::add_sandbox`] registers the `sandbox` network at
//!   `{public_url}/sandbox/...`. The callback URL of network `name` is
//!   `{public_url}/v1/oauth/callback/{name}` ([`callback_url`]).
//!   [`ProviderRegistry::add_sandbox_pages`] registers it again as `sandbox_pages`, whose
//!   profiles are the Pages the sandbox's people manage.
//! * [`Provider::assets`] / [`Provider::list_assets`] — what a person manages (SPEC 4a): Graph
//!   Pages with their Page tokens (`facebook`, a sandbox network with `assets_url`), LinkedIn
//!   organizations, YouTube channels, Google Business Profile locations (`oauth/assets.rs`).
//! * [`Provider`] — dyn-compatible (boxed futures): authorization URL (PKCE S256 always), code
//!   exchange, [`Provider::refresh_plan`] (can this grant be renewed without the user, and how),
//!   refresh in the network's flavour, identity, revocation. Every failure is a
//!   [`ProviderError`], already classified by what it means for the grant:
//!   [`ProviderError::ReauthRequired`] (grant dead: status `reauth_required`, no retry),
//!   [`ProviderError::Misconfigured`] (the network refuses this deployment's client: no
//!   credential changes; API 503 `network-misconfigured`),
//!   [`ProviderError::Transient`] (keep status, retry after `retry_after`; API 502/503/504),
//!   [`ProviderError::Rejected`] (a 4xx that says nothing about the grant — configuration; 502).
//! * [`TokenSet`] — what the network returned. `refresh_token` is `None` when the answer had
//!   none or a blank one: the caller keeps the refresh token it has. `expires_at` comes
//!   from `expires_in`, else from the network's default lifetime.
//! * The `sandbox` network is served by [`crate::sandbox`], a real OAuth 2.0 authorization
//!   server for demos and tests.
//!
//! Outbound HTTP goes only to configured URLs, follows no redirects (a 3xx is
//! [`ProviderError::Rejected`] with code `redirect`), has connect and request timeouts, reads at
//! most `max_body_bytes`, and logs each call at `info` with the URL passed through
//! [`redact_url`]; error details go through [`redact::sanitize_detail`]. No type here prints a
//! token in `Debug`.

mod error;
mod http;
mod oauth;
mod presets;
pub mod redact;
mod registry;
mod retry_after;
mod settings;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use url::Url;

pub use error::{ProviderError, TransientKind};
pub use oauth::OAuthProvider;
pub(crate) use oauth::{SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET};
pub use redact::{redact_text, redact_url};
pub use registry::{ProviderRegistry, SANDBOX_PAGES_NETWORK, callback_url, sandbox_assets_url};
pub use retry_after::{MAX_RETRY_AFTER, parse_retry_after};
pub use settings::{
    ClientAuth, ConfigError, HttpSettings, NetworkKind, NetworkSettings, check_outbound_url,
    is_loopback_host,
};

/// A boxed future answering a network call.
pub type ProviderFuture<'a, T> = BoxFuture<'a, Result<T, ProviderError>>;

/// What a network returned from a code exchange or a refresh.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// `None` when the answer had no refresh token or a blank one: keep the old one.
    pub refresh_token: Option<SecretString>,
    /// From `expires_in`, else `now + default_access_lifetime()`.
    pub expires_at: DateTime<Utc>,
    /// From `refresh_token_expires_in` / `refresh_expires_in`, when the network says.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Granted scopes (the answer's `scope`, else the requested ones).
    pub scopes: Vec<String>,
}

/// Who the access token belongs to at the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The network's stable id of the person or page (the profile's `external_id`).
    pub subject: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
}

/// What the caller knows of a stored grant, for [`Provider::refresh_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantInfo {
    pub has_refresh_token: bool,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// When the current access token was issued (connect or last refresh). Instagram and
    /// Threads refuse to extend a token younger than 24 h.
    pub issued_at: DateTime<Utc>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

/// How a grant is renewed without the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFlavour {
    /// RFC 6749 §6 `grant_type=refresh_token`; `rotating`: the network issues a new refresh
    /// token each time and spending an old one kills the grant (X, TikTok, sandbox).
    RefreshToken { rotating: bool },
    /// Facebook: `grant_type=fb_exchange_token` on the still-valid access token.
    FbExchangeToken,
    /// Instagram: `grant_type=ig_refresh_token` on a valid token at least 24 h old.
    IgRefreshToken,
    /// Threads: `grant_type=th_refresh_token` on a valid token at least 24 h old.
    ThRefreshToken,
}

/// Why a grant cannot be renewed without the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReauthReason {
    /// No refresh token is stored (and the network has no extension grant).
    NoRefreshToken,
    /// The network does not give this app refresh tokens (LinkedIn without partner status).
    RefreshNotOffered,
    /// The refresh token's own lifetime has passed.
    RefreshTokenExpired,
    /// The extension grant needs a still-valid access token and this one expired.
    AccessTokenExpired,
}

impl ReauthReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReauthReason::NoRefreshToken => "no_refresh_token",
            ReauthReason::RefreshNotOffered => "refresh_not_offered",
            ReauthReason::RefreshTokenExpired => "refresh_token_expired",
            ReauthReason::AccessTokenExpired => "access_token_expired",
        }
    }
}

/// What a network's revocation call ends (docs/rules.md#networks). A
/// revocation is never sent while another stored credential holds the token,
/// and one that ends the app's authorization for the person is never sent
/// while any credential of that network identity is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationScope {
    /// Only the token sent.
    Token,
    /// Every token of the grant the token belongs to (RFC 7009 §2.1 for a
    /// refresh token).
    Grant,
    /// Every grant the person gave this app: the app is de-authorized for
    /// them, whoever holds their tokens.
    App,
}

/// The answer of [`Provider::refresh_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshPlan {
    /// Call [`Provider::refresh`] now.
    Silent(RefreshFlavour),
    /// The token is still valid but too young for the network's extension grant
    /// (`ig_refresh_token`, `th_refresh_token`); it can be renewed silently from `earliest`.
    NotYet {
        earliest: DateTime<Utc>,
        flavour: RefreshFlavour,
    },
    /// Send the user through the authorization URL.
    NeedsReauthorization(ReauthReason),
}

/// What a person manages at a network, and publishes as (SPEC 4a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// A Facebook Page (or the Instagram professional account linked to it).
    Page,
    /// A LinkedIn organization page the member administers.
    Organization,
    /// A YouTube channel.
    Channel,
    /// A Google Business Profile location.
    Location,
}

/// How an asset's token comes from its manager's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetTokens {
    /// The network hands out a token per asset, derived from the person's token (Facebook Page
    /// tokens from `/me/accounts`); it is stored sealed per asset.
    Derived,
    /// The person's grant itself is used with the asset's id (LinkedIn organizations, YouTube
    /// channels, Google locations).
    Shared,
}

/// One asset the person manages, as the network listed it.
#[derive(Clone)]
pub struct ManagedAsset {
    /// The asset's id at the network (a Page id, an organization URN's id, a channel id).
    pub external_id: String,
    pub kind: AssetKind,
    pub name: String,
    pub handle: Option<String>,
    pub picture_url: Option<String>,
    /// The asset's own token when [`AssetTokens::Derived`]; `None` for shared assets.
    pub token: Option<SecretString>,
}

impl std::fmt::Debug for ManagedAsset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedAsset")
            .field("external_id", &self.external_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("handle", &self.handle)
            .field("picture_url", &self.picture_url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What tokenwarden asks of a network. Implemented by [`OAuthProvider`] for every kind.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The network's configured name (`[networks.<name>]`).
    fn name(&self) -> &str;
    fn kind(&self) -> NetworkKind;
    /// `{public_url}/v1/oauth/callback/{name}`, the `redirect_uri` given to the network.
    fn callback_url(&self) -> &Url;
    /// The URL to send the user to: `response_type=code`, client id, the callback as
    /// `redirect_uri`, scopes, `state`, `code_challenge` + `code_challenge_method=S256`.
    fn authorization_url(&self, state: &str, pkce_challenge_s256: &str) -> Url;
    /// Exchange the callback's code. Meta presets also upgrade the short-lived token to a
    /// long-lived one (if that upgrade fails the short-lived token is returned, never lost).
    /// `now` is the caller's clock when the call starts: the answer's `expires_in` counts
    /// from it (a little before the network answered, so never too late).
    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet>;
    /// Can the grant be renewed without the user, and how.
    fn refresh_plan(&self, grant: &GrantInfo, now: DateTime<Utc>) -> RefreshPlan;
    /// Renew in the network's flavour. A flavour that needs a refresh token and gets `None`
    /// answers `ReauthRequired { code: "no_refresh_token" }`. Expiries count from `now`, as
    /// in [`Provider::exchange_code`].
    fn refresh<'a>(
        &'a self,
        access_token: &'a SecretString,
        refresh_token: Option<&'a SecretString>,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet>;
    /// Read who the token belongs to.
    fn identity<'a>(&'a self, access_token: &'a SecretString) -> ProviderFuture<'a, Identity>;
    fn supports_revocation(&self) -> bool;
    /// What [`Provider::revoke`] ends; `None` when the network has no revocation.
    fn revocation_scope(&self) -> Option<RevocationScope>;
    /// Revoke a token (RFC 7009, or the network's way). A token the network already considers
    /// invalid counts as revoked. Without revocation support: `Ok(())` and nothing is sent.
    fn revoke<'a>(&'a self, token: &'a SecretString) -> ProviderFuture<'a, ()>;
    /// Lifetime assumed when an answer has no `expires_in`.
    fn default_access_lifetime(&self) -> Duration;
    /// How long before `expires_at` to refresh proactively.
    fn refresh_lead(&self) -> Duration;
    /// Whether the network's profiles are assets a person manages, and how their tokens come
    /// from the person's grant; `None` when the profiles are the people themselves.
    fn assets(&self) -> Option<AssetTokens> {
        None
    }
    /// Every asset the person behind `access_token` manages, following the network's
    /// pagination to the end (Graph's `paging.next`). A page of results that lacks what a
    /// derived asset needs (its token) fails the whole listing: nothing is half-read.
    fn list_assets<'a>(
        &'a self,
        access_token: &'a SecretString,
    ) -> ProviderFuture<'a, Vec<ManagedAsset>> {
        let _ = access_token;
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// A new PKCE verifier (RFC 7636 §4.1): 43 characters from 256 random bits.
pub fn new_pkce_verifier() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2, method S256).
pub fn pkce_challenge_s256(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// `text` without U+0000. What a network sends and tokenwarden stores (names,
/// handles, scopes, error codes) loses it: PostgreSQL stores no NUL in text.
pub fn without_nul(text: &str) -> String {
    text.replace('\0', "")
}
