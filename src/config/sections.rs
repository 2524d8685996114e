//! The sections of the configuration and their defaults.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    #[serde(default = "default_issuer")]
    pub issuer: String,
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Shared secret for HS256 tokens (at least 32 bytes).
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    #[serde(default)]
    pub hs256_secret_file: Option<PathBuf>,
    /// Public keys for RS256/EdDSA tokens, chosen by the token's `kid`.
    #[serde(default)]
    pub keys: Vec<JwtPublicKey>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            audience: default_audience(),
            hs256_secret: None,
            hs256_secret_file: None,
            keys: Vec::new(),
            leeway_secs: default_leeway(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtPublicKey {
    pub kid: String,
    pub algorithm: JwtKeyAlgorithm,
    /// PEM text of the public key, or `public_key_file`.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum JwtKeyAlgorithm {
    RS256,
    EdDSA,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// SQLite `busy_timeout`, milliseconds.
    #[serde(default = "default_busy_timeout")]
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            pool_size: default_pool_size(),
            connect_timeout_secs: default_connect_timeout(),
            sqlite_busy_timeout_ms: default_busy_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerSettings {
    /// Largest accepted request body, bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_secs: u64,
    /// Worker threads; default one per core.
    #[serde(default)]
    pub workers: Option<usize>,
}

impl Default for HttpServerSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            shutdown_timeout_secs: default_shutdown_timeout(),
            workers: None,
        }
    }
}

/// Per-organization request budget of authenticated routes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Requests per window and organization; 0 turns the limit off.
    #[serde(default = "default_rate_limit")]
    pub requests: u32,
    /// Window length, seconds.
    #[serde(default = "default_rate_window")]
    pub window_secs: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            requests: default_rate_limit(),
            window_secs: default_rate_window(),
        }
    }
}

fn default_rate_limit() -> u32 {
    1200
}
fn default_rate_window() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Run the lifecycle worker inside `serve`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_tick")]
    pub tick_secs: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            tick_secs: default_tick(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `json` (default) or `text`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

pub(super) fn default_data_dir() -> PathBuf {
    PathBuf::from(".")
}
pub(super) fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_issuer() -> String {
    "tokenwarden".into()
}
fn default_audience() -> String {
    "tokenwarden".into()
}
fn default_leeway() -> u64 {
    30
}
fn default_pool_size() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_busy_timeout() -> u64 {
    5_000
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_shutdown_timeout() -> u64 {
    30
}
fn default_true() -> bool {
    true
}
fn default_tick() -> u64 {
    30
}
pub(super) fn default_reconnect_link_ttl() -> u64 {
    7 * 24 * 3600
}
fn default_log_format() -> String {
    "json".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// Browser front ends on other origins (CORS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins (`https://app.example.com`) whose pages may call the API; none by default.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

/// Delivery of lifecycle webhooks to subscribers' URLs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Allow targets that resolve to private, loopback or link-local
    /// addresses (a receiver inside the operator's own network). Off by
    /// default: a tenant could otherwise make the server call internal
    /// services. In `--dev` mode loopback targets are allowed regardless.
    #[serde(default)]
    pub allow_private_targets: bool,
    /// How long one delivery may take, connection included, seconds (1–30).
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            timeout_secs: default_webhook_timeout(),
        }
    }
}

fn default_webhook_timeout() -> u64 {
    10
}

/// The answers each instance keeps ready for polling front ends
/// (docs/rules.md#ready-answers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyAnswersSettings {
    /// Bytes of answers kept; the least recently used goes first. 0 keeps none.
    #[serde(default = "default_ready_budget")]
    pub budget_bytes: usize,
}

impl Default for ReadyAnswersSettings {
    fn default() -> Self {
        Self {
            budget_bytes: default_ready_budget(),
        }
    }
}

/// A few hundred dropdown pages.
fn default_ready_budget() -> usize {
    8 * 1024 * 1024
}
