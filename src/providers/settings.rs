//! Configuration of the networks (`[networks.<name>]`) and of outbound HTTP.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use url::Url;

/// Which implementation a configured network uses: the generic RFC 6749 provider, a preset or the
/// built-in sandbox. In TOML: `kind = "oauth2"`, `kind = "x"`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// A generic RFC 6749 network; the operator names every URL.
    #[serde(rename = "oauth2")]
    OAuth2,
    Facebook,
    Instagram,
    Threads,
    #[serde(rename = "linkedin")]
    LinkedIn,
    X,
    #[serde(rename = "tiktok")]
    TikTok,
    #[serde(rename = "youtube")]
    YouTube,
    /// Google Business Profile: the locations a person manages.
    #[serde(rename = "google_business")]
    GoogleBusiness,
    Pinterest,
    /// The built-in sandbox OAuth server mounted under `/sandbox`.
    Sandbox,
}

impl NetworkKind {
    /// Every kind, in documentation order.
    pub const ALL: [NetworkKind; 11] = [
        NetworkKind::OAuth2,
        NetworkKind::Facebook,
        NetworkKind::Instagram,
        NetworkKind::Threads,
        NetworkKind::LinkedIn,
        NetworkKind::X,
        NetworkKind::TikTok,
        NetworkKind::YouTube,
        NetworkKind::GoogleBusiness,
        NetworkKind::Pinterest,
        NetworkKind::Sandbox,
    ];

    /// The TOML spelling of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::OAuth2 => "oauth2",
            NetworkKind::Facebook => "facebook",
            NetworkKind::Instagram => "instagram",
            NetworkKind::Threads => "threads",
            NetworkKind::LinkedIn => "linkedin",
            NetworkKind::X => "x",
            NetworkKind::TikTok => "tiktok",
            NetworkKind::YouTube => "youtube",
            NetworkKind::GoogleBusiness => "google_business",
            NetworkKind::Pinterest => "pinterest",
            NetworkKind::Sandbox => "sandbox",
        }
    }

    /// Meta's Graph API family (error 190, `fb_exchange_token`, `*_refresh_token`).
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            NetworkKind::Facebook | NetworkKind::Instagram | NetworkKind::Threads
        )
    }
}

impl std::fmt::Display for NetworkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NetworkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NetworkKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown network kind `{s}`"))
    }
}

/// How the client authenticates at the token and revocation endpoints (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// HTTP Basic with the form-urlencoded client id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body (TikTok: `client_key`).
    Post,
}

/// One `[networks.<name>]` table. Field names are the TOML keys documented in the README's network configuration; every one is also
/// settable from the environment as `TOKENWARDEN_NETWORKS__<NAME>__<KEY>`.
///
/// A preset needs only `client_id` and `client_secret` (or `client_secret_file`); everything
/// else overrides the preset's defaults. `kind = "oauth2"` needs `authorize_url`, `token_url`,
/// `identity_url`, `identity_subject`, `identity_handle` and the client credentials.
/// `kind = "sandbox"` needs nothing (URLs default to `{public_url}/sandbox/...` and the
/// credentials to the sandbox's well-known client).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSettings {
    pub kind: NetworkKind,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub identity_url: Option<String>,
    /// Meta presets: the endpoint that upgrades a short-lived token to a long-lived one
    /// (`ig_exchange_token`, `th_exchange_token`; Facebook uses `token_url`).
    #[serde(default)]
    pub exchange_url: Option<String>,
    /// Meta presets: the endpoint of the extension grant (`ig_refresh_token`,
    /// `th_refresh_token`; Facebook's `fb_exchange_token` uses `token_url`).
    #[serde(default)]
    pub refresh_url: Option<String>,
    /// Networks whose profiles are assets a person manages: where they are listed (Graph
    /// `/me/accounts`, LinkedIn `organizationAcls`, YouTube `channels?mine=true`, Google's
    /// accounts). On `kind = "sandbox"`, setting it makes the network's profiles Pages
    /// (`{public_url}/sandbox/me/accounts`).
    #[serde(default)]
    pub assets_url: Option<String>,
    /// Where a listed asset's details are read: LinkedIn's organization lookup
    /// (`/rest/organizations`), the base of Google's Business Information API.
    #[serde(default)]
    pub asset_details_url: Option<String>,
    /// Where a token is introspected (Meta's `debug_token`, RFC 7662).
    #[serde(default)]
    pub introspection_url: Option<String>,
    /// JSON pointer (RFC 6901) of the subject in the identity answer, e.g. `/sub`.
    #[serde(default)]
    pub identity_subject: Option<String>,
    /// JSON pointer of the handle, e.g. `/preferred_username`.
    #[serde(default)]
    pub identity_handle: Option<String>,
    #[serde(default)]
    pub identity_display_name: Option<String>,
    #[serde(default)]
    pub identity_avatar: Option<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Extra query parameters of the authorization URL (e.g. `prompt = "consent"`).
    #[serde(default)]
    pub authorize_params: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// Access-token lifetime assumed when the network's answer has no `expires_in`.
    #[serde(default)]
    pub default_token_lifetime_secs: Option<u64>,
    /// How long before `expires_at` the lifecycle worker refreshes.
    #[serde(default)]
    pub refresh_lead_secs: Option<u64>,
    /// LinkedIn: the app is in LinkedIn's partner program and receives refresh tokens.
    #[serde(default)]
    pub partner: bool,
}

impl NetworkSettings {
    /// Settings of the given kind with nothing else set.
    pub fn new(kind: NetworkKind) -> Self {
        NetworkSettings {
            kind,
            authorize_url: None,
            token_url: None,
            revoke_url: None,
            identity_url: None,
            exchange_url: None,
            refresh_url: None,
            assets_url: None,
            asset_details_url: None,
            introspection_url: None,
            identity_subject: None,
            identity_handle: None,
            identity_display_name: None,
            identity_avatar: None,
            scopes: None,
            authorize_params: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            client_auth: None,
            default_token_lifetime_secs: None,
            refresh_lead_secs: None,
            partner: false,
        }
    }
}

/// Outbound HTTP limits shared by every network (`[http]` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// TCP + TLS connect timeout; seconds or a humantime string (`"5s"`).
    #[serde(deserialize_with = "de_duration")]
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, send, read the capped body).
    #[serde(deserialize_with = "de_duration")]
    pub request_timeout: Duration,
    /// Largest answer body read from a network; larger answers are a transient `Malformed` failure.
    pub max_body_bytes: usize,
    /// Allow `http://` URLs whose host is a loopback address (127.0.0.0/8, ::1, localhost), in
    /// development mode (`--dev`) only; every other URL, and every URL outside development mode,
    /// must be `https://`.
    pub allow_insecure_loopback: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
            allow_insecure_loopback: true,
        }
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => match t.trim().parse::<u64>() {
            Ok(s) => Ok(Duration::from_secs(s)),
            Err(_) => humantime::parse_duration(t.trim()).map_err(serde::de::Error::custom),
        },
    }
}

/// A configuration mistake in one network, found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("networks.{network}: {message}")]
pub struct ConfigError {
    /// The network's name (the `[networks.<name>]` key).
    pub network: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(network: &str, message: impl Into<String>) -> Self {
        ConfigError {
            network: network.to_owned(),
            message: message.into(),
        }
    }
}

/// Is the host a loopback address or `localhost`?
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parse an outbound URL and apply the transport rule: `https`, or `http` on a loopback host when
/// allowed. No credentials in the URL, no fragment.
pub fn check_outbound_url(
    network: &str,
    field: &str,
    raw: &str,
    http: &HttpSettings,
) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(network, format!("{field} is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if http.allow_insecure_loopback && is_loopback_host(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                network,
                format!(
                    "{field} must use https (plain http is allowed only for loopback hosts, \
                     in development mode, --dev): {}",
                    url.host_str().unwrap_or("")
                ),
            ));
        }
        other => {
            return Err(ConfigError::new(
                network,
                format!("{field} has unsupported scheme `{other}`"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(network, format!("{field} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            network,
            format!("{field} must not carry credentials"),
        ));
    }
    if url.fragment().is_some() {
        return Err(ConfigError::new(
            network,
            format!("{field} must not have a fragment"),
        ));
    }
    Ok(url)
}
