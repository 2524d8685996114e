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

mod secrets;
mod sections;

use secrets::{dev_secret_file, random_jwt_secret, read_secret_file};
pub use sections::*;
use sections::{default_bind, default_data_dir, default_reconnect_link_ttl};

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
    /// Networks by name (`[networks.acme]`); docs/rules.md, "Networks".
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
    #[serde(default)]
    pub cors: CorsSettings,
    #[serde(default)]
    pub webhooks: WebhookSettings,
    #[serde(default)]
    pub ready_answers: ReadyAnswersSettings,
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
        if self.sandbox && !self.dev {
            return Err(ConfigError::Invalid(
                "the sandbox network is for development only: it signs anyone in as anyone. \
                 Start with --dev to use it, or configure real networks"
                    .into(),
            ));
        }
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
        if !(1..=30).contains(&self.webhooks.timeout_secs) {
            return Err(ConfigError::Invalid(
                "webhooks.timeout_secs must be between 1 and 30".into(),
            ));
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
    /// Whether `url` is under one of the configured return-URL prefixes:
    /// same scheme, host and port, and a path inside the prefix's path on
    /// a segment boundary (`/app` allows `/app` and `/app/x`, not `/app-evil`).
    pub fn return_url_allowed(&self, url: &url::Url) -> bool {
        self.return_urls.iter().any(|prefix| {
            let Ok(prefix) = url::Url::parse(prefix) else {
                return false;
            };
            prefix.scheme() == url.scheme()
                && prefix.host_str() == url.host_str()
                && prefix.port_or_known_default() == url.port_or_known_default()
                && path_within(url.path(), prefix.path())
                && url.username().is_empty()
                && url.password().is_none()
        })
    }

    /// The limits of outbound calls as applied: plain `http` to a loopback
    /// network (the sandbox, local stubs) is honoured only in development
    /// mode, so a production configuration naming one fails to start.
    pub fn outbound_calls(&self) -> HttpSettings {
        HttpSettings {
            allow_insecure_loopback: self.dev && self.outbound.allow_insecure_loopback,
            ..self.outbound.clone()
        }
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

/// Whether `path` is `prefix` or below it, on a path-segment boundary.
fn path_within(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::path_within;

    #[test]
    fn return_url_prefixes_end_on_a_segment() {
        assert!(path_within("/app", "/app"));
        assert!(path_within("/app/accounts", "/app"));
        assert!(path_within("/app/accounts", "/app/"));
        assert!(path_within("/anything", "/"));
        assert!(!path_within("/app-evil", "/app"));
        assert!(!path_within("/apple", "/app"));
        assert!(!path_within("/ap", "/app"));
    }
}

#[cfg(test)]
mod properties {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    use proptest::prelude::*;

    use super::Settings;

    proptest! {
        /// Any configuration text is read, or refused with an error; never a
        /// panic. Keys the settings know are drawn often, with any values.
        #[test]
        fn any_configuration_is_read_or_refused(
            lines in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("bind"), Just("public_url"), Just("sandbox"), Just("dev"),
                        Just("return_urls"), Just("reconnect_link_ttl_secs"),
                        Just("jwt.leeway_secs"), Just("jwt.issuer"),
                        Just("database.pool_size"), Just("outbound.request_timeout"),
                        Just("outbound.max_body_bytes"), Just("networks.x.kind"),
                        Just("networks.x.token_url"), Just("rate_limit.requests"),
                    ],
                    prop_oneof![
                        "-?[0-9]{1,20}",
                        "\"[ -~]{0,30}\"",
                        Just("true".to_string()),
                        Just("[\"https://app.example\", 3]".to_string()),
                        Just("\"10s\"".to_string()),
                    ],
                ),
                0..6,
            )
        ) {
            let text: String = lines
                .iter()
                .map(|(key, value)| format!("{key} = {value}\n"))
                .collect();
            if let Ok(settings) = Figment::new().merge(Toml::string(&text)).extract::<Settings>() {
                let _ = settings.validate();
            }
        }
    }
}
