//! Where a webhook may be sent (docs/rules.md#webhooks): https only (plain
//! http to a loopback host only in development mode), no credentials in the
//! URL, and no address that is private, loopback, link-local or reserved
//! (also behind an IPv6 translation) after DNS resolution unless the
//! operator allows it. Checked when a subscription is
//! saved and again before every delivery, since DNS answers change.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::config::Settings;
use crate::domain::webhooks::is_private;

/// Longest accepted target URL.
pub const MAX_URL_LEN: usize = 2048;

/// What the deployment allows.
#[derive(Debug, Clone, Copy)]
pub struct TargetPolicy {
    /// Development mode: loopback targets, over http too.
    pub dev: bool,
    /// `webhooks.allow_private_targets`.
    pub allow_private: bool,
}

impl TargetPolicy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            dev: settings.dev,
            allow_private: settings.webhooks.allow_private_targets,
        }
    }

    fn allows(self, ip: std::net::IpAddr) -> bool {
        !is_private(ip) || self.allow_private || (self.dev && ip.is_loopback())
    }
}

/// A target that passed every check, with the addresses to connect to: the
/// request is pinned to them, so a second DNS answer cannot steer it elsewhere.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
    pub host: String,
    pub addresses: Vec<SocketAddr>,
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The checks that need no DNS; the reason as a client reads it otherwise.
pub fn check_url(text: &str, policy: TargetPolicy) -> Result<url::Url, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.dev && is_loopback_host(&url) => {}
        "http" => {
            return Err(
                "must use https (plain http only to a loopback host in development mode)".into(),
            );
        }
        other => return Err(format!("must use https, not {other}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    Ok(url)
}

/// Every check, DNS included. Resolution runs on the blocking pool.
pub async fn resolve(text: &str, policy: TargetPolicy) -> Result<Target, String> {
    let url = check_url(text, policy)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    };
    let addresses: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
        lookup.to_socket_addrs().map(|a| a.collect::<Vec<_>>())
    })
    .await
    .map_err(|e| format!("could not be resolved: {e}"))?
    .map_err(|_| format!("host {host} does not resolve"))?;
    if addresses.is_empty() {
        return Err(format!("host {host} does not resolve"));
    }
    // One refused address refuses the target: which address a connection
    // would take is not ours to choose. The answer never names the address:
    // what a name resolves to inside this deployment's network is not the
    // client's to learn; the operator finds it in the log.
    if let Some(refused) = addresses.iter().find(|a| !policy.allows(a.ip())) {
        tracing::info!(%host, address = %refused.ip(), "webhook target refused");
        return Err(
            "resolves to a private, loopback, link-local or reserved address (or one \
             translated to such an address)"
                .into(),
        );
    }
    Ok(Target {
        url,
        host,
        addresses,
    })
}
