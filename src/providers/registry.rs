//! The configured networks.

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use super::Provider;
use super::oauth::OAuthProvider;
use super::settings::{ConfigError, HttpSettings, NetworkKind, NetworkSettings};

/// `{public_url}/v1/oauth/callback/{name}`.
pub fn callback_url(public_url: &Url, name: &str) -> Url {
    let base = public_url.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/v1/oauth/callback/{name}")).unwrap_or_else(|_| public_url.clone())
}

/// The name under which [`ProviderRegistry::add_sandbox_pages`] registers the sandbox's Pages.
pub const SANDBOX_PAGES_NETWORK: &str = "sandbox_pages";

/// `{public_url}/sandbox/me/accounts`: the sandbox's Pages, shaped as Graph's `/me/accounts`.
pub fn sandbox_assets_url(public_url: &Url) -> String {
    format!(
        "{}/sandbox/me/accounts",
        public_url.as_str().trim_end_matches('/')
    )
}

/// Every configured network by name.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
}

impl ProviderRegistry {
    /// Validate and build every `[networks.<name>]`. The first mistake is reported.
    pub fn from_settings(
        networks: &BTreeMap<String, NetworkSettings>,
        public_url: &Url,
        http: &HttpSettings,
    ) -> Result<Self, ConfigError> {
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        for (name, settings) in networks {
            let p = OAuthProvider::from_settings(name, settings, public_url, http)?;
            providers.insert(name.clone(), Arc::new(p));
        }
        Ok(ProviderRegistry { providers })
    }

    /// Register the built-in sandbox as network `sandbox`, at `{public_url}/sandbox/...` with the
    /// sandbox's well-known client. An error if a network of that name is configured already.
    pub fn add_sandbox(
        &mut self,
        public_url: &Url,
        http: &HttpSettings,
    ) -> Result<(), ConfigError> {
        self.add_builtin(
            "sandbox",
            NetworkSettings::new(NetworkKind::Sandbox),
            public_url,
            http,
        )
    }

    /// Register the built-in sandbox a second time, as network `sandbox_pages`
    /// ([`SANDBOX_PAGES_NETWORK`]) whose profiles are the Pages its people manage
    /// ([`sandbox_assets_url`]), each with a Page token derived from the person's grant. An
    /// error if a network of that name is configured already.
    pub fn add_sandbox_pages(
        &mut self,
        public_url: &Url,
        http: &HttpSettings,
    ) -> Result<(), ConfigError> {
        let mut settings = NetworkSettings::new(NetworkKind::Sandbox);
        settings.assets_url = Some(sandbox_assets_url(public_url));
        self.add_builtin(SANDBOX_PAGES_NETWORK, settings, public_url, http)
    }

    fn add_builtin(
        &mut self,
        name: &str,
        settings: NetworkSettings,
        public_url: &Url,
        http: &HttpSettings,
    ) -> Result<(), ConfigError> {
        if self.providers.contains_key(name) {
            return Err(ConfigError::new(
                name,
                format!("a network named `{name}` is already configured"),
            ));
        }
        let p = OAuthProvider::from_settings(name, &settings, public_url, http)?;
        self.providers.insert(name.into(), Arc::new(p));
        Ok(())
    }

    /// Add a provider built elsewhere (tests, custom implementations).
    pub fn insert(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name().to_owned(), provider);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers.get(name).cloned()
    }

    /// Network names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}
