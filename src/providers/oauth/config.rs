//! Building a provider from its `[networks.<name>]` table: every check happens here, at start-up.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::client::{ClientSettings, protocol};
use super::{OAuthProvider, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET};
use crate::providers::http::Outbound;
use crate::providers::presets::{AssetStyle, Preset, RefreshStyle, Revocation, Upgrade, preset};
use crate::providers::registry::callback_url;
use crate::providers::settings::{
    ConfigError, HttpSettings, NetworkKind, NetworkSettings, check_outbound_url,
};

fn check_pointer(network: &str, field: &str, p: &str) -> Result<String, ConfigError> {
    if p.is_empty() || p.starts_with('/') {
        Ok(p.to_owned())
    } else {
        Err(ConfigError::new(
            network,
            format!("{field} must be a JSON pointer starting with `/` (got `{p}`)"),
        ))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Where a network is reached, from its table or its preset.
struct Endpoints {
    authorize_url: Url,
    token_url: Url,
    identity_url: Url,
    revoke_url: Option<Url>,
    exchange_url: Option<Url>,
    refresh_url: Option<Url>,
    assets_url: Option<Url>,
    asset_details_url: Option<Url>,
    introspection_url: Option<Url>,
}

/// The JSON pointers that read an identity answer.
struct IdentityPointers {
    subject: String,
    handle: String,
    display_name: Option<String>,
    avatar: Option<String>,
}

impl OAuthProvider {
    /// Build and validate one network. `public_url` is tokenwarden's public base URL.
    pub fn from_settings(
        name: &str,
        s: &NetworkSettings,
        public_url: &Url,
        http: &HttpSettings,
    ) -> Result<Self, ConfigError> {
        if !valid_name(name) {
            return Err(ConfigError::new(
                name,
                "network names are 1-64 characters of a-z, 0-9, `_` and `-`",
            ));
        }
        let kind = s.kind;
        let p = preset(kind);
        let urls = endpoints(name, s, &p, public_url, http)?;
        let pointers = identity_pointers(name, s, &p)?;
        let (client_id, client_secret) = client_credentials(name, s)?;
        let scopes = scopes(name, s, &p)?;
        let authorize_params = authorize_params(name, s, &p)?;
        if s.partner && kind != NetworkKind::LinkedIn {
            return Err(ConfigError::new(
                name,
                "partner applies to kind = \"linkedin\" only",
            ));
        }
        let access_lifetime = Duration::from_secs(
            s.default_token_lifetime_secs
                .unwrap_or(p.access_lifetime_secs),
        );
        if access_lifetime.is_zero() {
            return Err(ConfigError::new(
                name,
                "default_token_lifetime_secs must be positive",
            ));
        }
        let lead = Duration::from_secs(s.refresh_lead_secs.unwrap_or(p.lead_secs));
        let callback = callback_url(public_url, name);
        let rfc7009_url = urls
            .revoke_url
            .as_ref()
            .filter(|_| matches!(p.revocation, Revocation::Rfc7009(_)));
        let client = protocol(&ClientSettings {
            client_id: &client_id,
            client_secret: &client_secret,
            client_auth: s.client_auth.unwrap_or(p.client_auth),
            authorize_url: &urls.authorize_url,
            token_url: &urls.token_url,
            rfc7009_url,
            callback: &callback,
        });
        Ok(OAuthProvider {
            name: name.to_owned(),
            kind,
            preset: p,
            client,
            revoke_url: urls.revoke_url,
            identity_url: urls.identity_url,
            exchange_url: urls.exchange_url,
            refresh_url: urls.refresh_url,
            assets_url: urls.assets_url,
            asset_details_url: urls.asset_details_url,
            introspection_url: urls.introspection_url,
            subject_ptr: pointers.subject,
            handle_ptr: pointers.handle,
            display_ptr: pointers.display_name,
            avatar_ptr: pointers.avatar,
            scopes,
            authorize_params,
            client_secret,
            callback,
            access_lifetime,
            lead,
            partner: s.partner,
            outbound: Outbound::new(name, http)?,
        })
    }
}

/// The network's URLs: configured, else the preset's (the sandbox's are this
/// deployment's own), each checked as an outbound target.
fn endpoints(
    name: &str,
    s: &NetworkSettings,
    p: &Preset,
    public_url: &Url,
    http: &HttpSettings,
) -> Result<Endpoints, ConfigError> {
    let kind = s.kind;
    let base = public_url.as_str().trim_end_matches('/').to_owned();
    let sandbox = |path: &str| format!("{base}/sandbox/{path}");
    let url = |field: &str,
               configured: &Option<String>,
               default: Option<String>|
     -> Result<Option<Url>, ConfigError> {
        match configured.clone().or(default) {
            Some(raw) if !raw.trim().is_empty() => {
                check_outbound_url(name, field, &raw, http).map(Some)
            }
            _ => Ok(None),
        }
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let (d_auth, d_token, d_revoke, d_ident) = if kind == NetworkKind::Sandbox {
        (
            Some(sandbox("authorize")),
            Some(sandbox("token")),
            Some(sandbox("revoke")),
            Some(sandbox("userinfo")),
        )
    } else {
        (
            non_empty(p.authorize_url),
            non_empty(p.token_url),
            p.revoke_url.map(str::to_owned),
            non_empty(p.identity_url),
        )
    };
    let required = |field: &str, u: Option<Url>| {
        u.ok_or_else(|| {
            ConfigError::new(name, format!("{field} is required for kind = \"{kind}\""))
        })
    };
    let authorize_url = required(
        "authorize_url",
        url("authorize_url", &s.authorize_url, d_auth)?,
    )?;
    let token_url = required("token_url", url("token_url", &s.token_url, d_token)?)?;
    let identity_url = required(
        "identity_url",
        url("identity_url", &s.identity_url, d_ident)?,
    )?;
    let revoke_url = url("revoke_url", &s.revoke_url, d_revoke)?;
    let exchange_url = url(
        "exchange_url",
        &s.exchange_url,
        p.exchange_url.map(str::to_owned),
    )?;
    let refresh_url = url(
        "refresh_url",
        &s.refresh_url,
        p.refresh_url.map(str::to_owned),
    )?;
    if matches!(p.refresh, RefreshStyle::MetaRefresh { .. }) && refresh_url.is_none() {
        return Err(ConfigError::new(name, "refresh_url is required"));
    }
    if matches!(p.upgrade, Upgrade::Meta { .. }) && exchange_url.is_none() {
        return Err(ConfigError::new(name, "exchange_url is required"));
    }
    let assets_url = url("assets_url", &s.assets_url, p.assets_url.map(str::to_owned))?;
    let asset_details_url = url(
        "asset_details_url",
        &s.asset_details_url,
        p.asset_details_url.map(str::to_owned),
    )?;
    if p.assets == AssetStyle::None && (assets_url.is_some() || asset_details_url.is_some()) {
        return Err(ConfigError::new(
            name,
            format!("assets_url and asset_details_url do not apply to kind = \"{kind}\""),
        ));
    }
    let needs_details = matches!(
        p.assets,
        AssetStyle::LinkedInOrganizations | AssetStyle::GoogleLocations
    );
    if needs_details && assets_url.is_some() && asset_details_url.is_none() {
        return Err(ConfigError::new(name, "asset_details_url is required"));
    }
    let introspection_url = url(
        "introspection_url",
        &s.introspection_url,
        p.introspection_url.map(str::to_owned),
    )?;
    Ok(Endpoints {
        authorize_url,
        token_url,
        identity_url,
        revoke_url,
        exchange_url,
        refresh_url,
        assets_url,
        asset_details_url,
        introspection_url,
    })
}

/// The pointers into the identity answer: configured, else the preset's; a
/// generic `oauth2` network has no preset to fall back on for the subject and handle.
fn identity_pointers(
    name: &str,
    s: &NetworkSettings,
    p: &Preset,
) -> Result<IdentityPointers, ConfigError> {
    let required = |field: &str, configured: &Option<String>, preset: &str| match configured {
        Some(v) => check_pointer(name, field, v),
        None if s.kind == NetworkKind::OAuth2 => Err(ConfigError::new(
            name,
            format!("{field} is required for kind = \"oauth2\""),
        )),
        None => Ok(preset.to_owned()),
    };
    let optional = |field: &str, configured: &Option<String>, preset: Option<&str>| match configured
    {
        Some(v) => check_pointer(name, field, v).map(Some),
        None => Ok(preset.map(str::to_owned)),
    };
    Ok(IdentityPointers {
        subject: required("identity_subject", &s.identity_subject, p.subject)?,
        handle: required("identity_handle", &s.identity_handle, p.handle)?,
        display_name: optional(
            "identity_display_name",
            &s.identity_display_name,
            p.display_name,
        )?,
        avatar: optional("identity_avatar", &s.identity_avatar, p.avatar)?,
    })
}

/// The client id and secret (inline or from a file); the sandbox has its own defaults.
fn client_credentials(
    name: &str,
    s: &NetworkSettings,
) -> Result<(String, SecretString), ConfigError> {
    let kind = s.kind;
    let client_id = match (&s.client_id, kind) {
        (Some(id), _) if !id.trim().is_empty() => id.trim().to_owned(),
        (None, NetworkKind::Sandbox) => SANDBOX_CLIENT_ID.to_owned(),
        _ => return Err(ConfigError::new(name, "client_id is required")),
    };
    let client_secret = match (&s.client_secret, &s.client_secret_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                name,
                "set client_secret or client_secret_file, not both",
            ));
        }
        (Some(sec), None) => sec.clone(),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(name, format!("client_secret_file {}: {e}", path.display()))
            })?;
            SecretString::from(raw.trim_end_matches(['\r', '\n']).to_owned())
        }
        (None, None) if kind == NetworkKind::Sandbox => {
            SecretString::from(SANDBOX_CLIENT_SECRET.to_owned())
        }
        (None, None) => {
            return Err(ConfigError::new(
                name,
                "client_secret or client_secret_file is required",
            ));
        }
    };
    if client_secret.expose_secret().is_empty() {
        return Err(ConfigError::new(name, "client_secret is empty"));
    }
    Ok((client_id, client_secret))
}

fn scopes(name: &str, s: &NetworkSettings, p: &Preset) -> Result<Vec<String>, ConfigError> {
    let scopes = match &s.scopes {
        Some(v) => v.clone(),
        None => p.scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    if scopes
        .iter()
        .any(|s| s.trim().is_empty() || s.contains(' '))
    {
        return Err(ConfigError::new(
            name,
            "scopes must be non-empty and contain no spaces",
        ));
    }
    Ok(scopes)
}

/// The preset's extra authorize parameters, each overridable, then the
/// configured ones, which may not set a parameter the protocol owns.
fn authorize_params(
    name: &str,
    s: &NetworkSettings,
    p: &Preset,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut authorize_params: Vec<(String, String)> = p
        .authorize_extra
        .iter()
        .filter(|(k, _)| {
            !s.authorize_params
                .as_ref()
                .is_some_and(|m| m.contains_key(*k))
        })
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if let Some(extra) = &s.authorize_params {
        const RESERVED: &[&str] = &[
            "response_type",
            "client_id",
            "client_key",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        ];
        for (k, v) in extra {
            if RESERVED.contains(&k.as_str()) {
                return Err(ConfigError::new(
                    name,
                    format!("authorize_params may not set `{k}`"),
                ));
            }
            authorize_params.push((k.clone(), v.clone()));
        }
    }
    Ok(authorize_params)
}
