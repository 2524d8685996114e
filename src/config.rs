//! Configuration: defaults, then the TOML file (`--config`), then `TOKENWARDEN_*`
//! environment variables (`__` separates nesting levels), then `DATABASE_URL`,
//! then command-line flags. Loaded once in `main` and passed down; nothing
//! reads configuration from a global.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::KeyRing;
use crate::providers::{HttpSettings, NetworkSettings};

pub const MAX_JWT_LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `postgres://…` or `sqlite://PATH`; default `sqlite://{data_dir}/tokenwarden.db`.
    #[serde(default)]
    pub database_url: Option<SecretString>,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Development mode: generate missing secrets into the data dir.
    #[serde(default)]
    pub dev: bool,
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Base of the callback URLs given to networks; default `http://{bind}`.
    #[serde(default)]
    pub public_url: Option<url::Url>,
    /// Allow-list (prefixes) for front-end return URLs.
    #[serde(default)]
    pub return_urls: Vec<String>,
    /// Key ring: `id:base64key` entries separated by commas; the first is active.
    #[serde(default)]
    pub encryption_keys: Option<SecretString>,
    #[serde(default)]
    pub encryption_keys_file: Option<PathBuf>,
    #[serde(default)]
    pub jwt: JwtSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub http: HttpServerSettings,
    /// Mount the sandbox OAuth network under `/sandbox`.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// Networks by name (`[networks.acme]`), see SPEC §4.
    #[serde(default)]
    pub networks: BTreeMap<String, NetworkSettings>,
    /// Limits of outbound calls to networks.
    #[serde(default)]
    pub outbound: HttpSettings,
    #[serde(default)]
    pub rate_limit: RateLimitSettings,
    /// Lifetime of a single-use reconnect link, seconds.
    #[serde(default = "default_reconnect_link_ttl")]
    pub reconnect_link_ttl_secs: u64,
}

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

fn default_data_dir() -> PathBuf {
    PathBuf::from(".")
}
fn default_bind() -> String {
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
fn default_reconnect_link_ttl() -> u64 {
    7 * 24 * 3600
}
fn default_log_format() -> String {
    "json".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// Values given on the command line; they override every other source.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads the layered configuration. Environment variables that are also
    /// command-line flags (`TOKENWARDEN_CONFIG`, …) are read by the CLI, which
    /// passes them in `overrides`.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("TOKENWARDEN_").split("__").ignore(&[
                "config",
                "test_postgres_url",
                "update_openapi",
            ]))
            .merge(Env::raw().only(&["database_url"]))
            .merge(Serialized::defaults(overrides));
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings with every default, for tests and the demo.
    pub fn defaults() -> Self {
        Figment::new()
            .extract()
            .expect("every setting has a default")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.jwt.leeway_secs > MAX_JWT_LEEWAY_SECS {
            return Err(ConfigError::Invalid(format!(
                "jwt.leeway_secs is {}; at most {MAX_JWT_LEEWAY_SECS} is allowed",
                self.jwt.leeway_secs
            )));
        }
        if self.database.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "http.max_body_bytes must be at least 1024".into(),
            ));
        }
        if self.reconnect_link_ttl_secs < 60 || self.reconnect_link_ttl_secs > 30 * 24 * 3600 {
            return Err(ConfigError::Invalid(
                "reconnect_link_ttl_secs must be between 60 and 2592000 (30 days)".into(),
            ));
        }
        for name in self.networks.keys() {
            let ok = (1..=64).contains(&name.len())
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "network name {name:?}: use 1–64 characters of a–z, 0–9, `-`, `_`"
                )));
            }
        }
        for prefix in &self.return_urls {
            url::Url::parse(prefix).map_err(|e| {
                ConfigError::Invalid(format!("return_urls entry {prefix:?} is not a URL: {e}"))
            })?;
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_string(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("tokenwarden.db").display()
            ),
        }
    }

    pub fn public_url(&self) -> url::Url {
        self.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("http://{}", self.bind))
                .unwrap_or_else(|_| url::Url::parse("http://127.0.0.1:8080").expect("static URL"))
        })
    }

    /// Whether `url` starts with one of the allow-listed return URL prefixes
    /// (same scheme, host and port, and a path under the prefix's path).
    pub fn return_url_allowed(&self, url: &url::Url) -> bool {
        self.return_urls.iter().any(|prefix| {
            let Ok(prefix) = url::Url::parse(prefix) else {
                return false;
            };
            prefix.scheme() == url.scheme()
                && prefix.host_str() == url.host_str()
                && prefix.port_or_known_default() == url.port_or_known_default()
                && url.path().starts_with(prefix.path())
                && url.username().is_empty()
                && url.password().is_none()
        })
    }

    /// The key ring from the configuration; in development mode, from a key
    /// file generated beside the database when none is configured.
    pub fn key_ring(&self) -> Result<KeyRing, ConfigError> {
        let spec = if let Some(spec) = &self.encryption_keys {
            spec.clone()
        } else if let Some(path) = &self.encryption_keys_file {
            read_secret_file(path)?
        } else if self.dev {
            let path = self.data_dir.join("tokenwarden.key");
            dev_secret_file(&path, KeyRing::generate_entry, "encryption key")?
        } else {
            return Err(ConfigError::Invalid(
                "no encryption key configured: set TOKENWARDEN_ENCRYPTION_KEYS (generate one with \
                 `tokenwarden keys generate`) or TOKENWARDEN_ENCRYPTION_KEYS_FILE, or run with --dev"
                    .into(),
            ));
        };
        KeyRing::parse(&spec).map_err(|e| ConfigError::Invalid(format!("encryption keys: {e}")))
    }

    /// The HS256 secret, if one is configured (or generated in development mode).
    pub fn jwt_hs256_secret(&self) -> Result<Option<SecretString>, ConfigError> {
        if let Some(secret) = &self.jwt.hs256_secret {
            return Ok(Some(secret.clone()));
        }
        if let Some(path) = &self.jwt.hs256_secret_file {
            return read_secret_file(path).map(Some);
        }
        if self.dev && self.jwt.keys.is_empty() {
            let path = self.data_dir.join("jwt-secret");
            return dev_secret_file(&path, random_jwt_secret, "JWT signing secret").map(Some);
        }
        Ok(None)
    }
}

fn random_jwt_secret() -> SecretString {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 48];
    rand::rng().fill_bytes(&mut raw);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| SecretString::from(s.trim().to_string()))
        .map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads a development secret, generating it (mode 0600) on first use.
fn dev_secret_file(
    path: &Path,
    generate: fn() -> SecretString,
    what: &str,
) -> Result<SecretString, ConfigError> {
    if path.exists() {
        return read_secret_file(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let secret = generate();
    write_private_file(path, secret.expose_secret()).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        "development mode: generated a new {what}; do not use --dev in production"
    );
    Ok(secret)
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
