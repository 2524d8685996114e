//! The one implementation of [`Provider`]: RFC 6749 plus each preset's flavour.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::error::{CallSite, ProviderError, body_error, classify_answer};
use super::http::Outbound;
use super::presets::{Preset, RefreshStyle, Revocation, TokenPresentation, Upgrade, preset};
use super::registry::callback_url;
use super::settings::{
    ClientAuth, ConfigError, HttpSettings, NetworkKind, NetworkSettings, check_outbound_url,
};
use super::{
    GrantInfo, Identity, Provider, ProviderFuture, ReauthReason, RefreshFlavour, RefreshPlan,
    TokenSet,
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
    authorize_url: Url,
    token_url: Url,
    revoke_url: Option<Url>,
    identity_url: Url,
    exchange_url: Option<Url>,
    refresh_url: Option<Url>,
    subject_ptr: String,
    handle_ptr: String,
    display_ptr: Option<String>,
    avatar_ptr: Option<String>,
    scopes: Vec<String>,
    authorize_params: Vec<(String, String)>,
    client_id: String,
    client_secret: SecretString,
    client_auth: ClientAuth,
    callback: Url,
    access_lifetime: Duration,
    lead: Duration,
    partner: bool,
    outbound: Outbound,
}

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

        let generic = kind == NetworkKind::OAuth2;
        let subject_ptr = match (&s.identity_subject, generic) {
            (Some(p), _) => check_pointer(name, "identity_subject", p)?,
            (None, true) => {
                return Err(ConfigError::new(
                    name,
                    "identity_subject is required for kind = \"oauth2\"",
                ));
            }
            (None, false) => p.subject.to_owned(),
        };
        let handle_ptr = match (&s.identity_handle, generic) {
            (Some(p), _) => check_pointer(name, "identity_handle", p)?,
            (None, true) => {
                return Err(ConfigError::new(
                    name,
                    "identity_handle is required for kind = \"oauth2\"",
                ));
            }
            (None, false) => p.handle.to_owned(),
        };
        let display_ptr = match &s.identity_display_name {
            Some(v) => Some(check_pointer(name, "identity_display_name", v)?),
            None => p.display_name.map(str::to_owned),
        };
        let avatar_ptr = match &s.identity_avatar {
            Some(v) => Some(check_pointer(name, "identity_avatar", v)?),
            None => p.avatar.map(str::to_owned),
        };

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
        Ok(OAuthProvider {
            name: name.to_owned(),
            kind,
            preset: p,
            authorize_url,
            token_url,
            revoke_url,
            identity_url,
            exchange_url,
            refresh_url,
            subject_ptr,
            handle_ptr,
            display_ptr,
            avatar_ptr,
            scopes,
            authorize_params,
            client_id,
            client_secret,
            client_auth: s.client_auth.unwrap_or(p.client_auth),
            callback: callback_url(public_url, name),
            access_lifetime,
            lead,
            partner: s.partner,
            outbound: Outbound::new(name, http)?,
        })
    }

    fn meta(&self) -> bool {
        self.kind.is_meta()
    }

    /// Add client authentication to a token/revocation request.
    fn authenticate(
        &self,
        req: RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
    ) -> RequestBuilder {
        match self.client_auth {
            ClientAuth::Basic => {
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                req.basic_auth(
                    enc(&self.client_id),
                    Some(enc(self.client_secret.expose_secret())),
                )
            }
            ClientAuth::Post => {
                form.push((self.preset.client_id_param, self.client_id.clone()));
                form.push((
                    "client_secret",
                    self.client_secret.expose_secret().to_owned(),
                ));
                req
            }
        }
    }

    /// POST a form to the token endpoint and read a token answer.
    async fn token_post(
        &self,
        op: &'static str,
        site: CallSite,
        mut form: Vec<(&'static str, String)>,
        secrets: &[&str],
    ) -> Result<TokenSet, ProviderError> {
        let req = self.outbound.client().post(self.token_url.clone());
        let req = self.authenticate(req, &mut form);
        let req = req
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        self.token_answer(op, site, req, secrets).await
    }

    async fn token_answer(
        &self,
        op: &'static str,
        site: CallSite,
        req: RequestBuilder,
        secrets: &[&str],
    ) -> Result<TokenSet, ProviderError> {
        let mut all: Vec<&str> = secrets.to_vec();
        all.push(self.client_secret.expose_secret());
        let a = self.outbound.send(op, req, &all).await?;
        if !a.status.is_success() {
            return Err(classify_answer(
                site,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &all,
            ));
        }
        let json: Value = serde_json::from_slice(&a.body).map_err(|_| {
            ProviderError::malformed(format!(
                "HTTP {}: token answer is not JSON",
                a.status.as_u16()
            ))
        })?;
        if body_error(&json).is_some() {
            return Err(classify_answer(
                site,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &all,
            ));
        }
        self.parse_tokens(&json, Utc::now())
    }

    /// Read a token answer: RFC 6749 §5.1 plus the networks' variants (`data: [{…}]`,
    /// `refresh_expires_in`, `refresh_token_expires_in`, comma-separated scopes, numbers as
    /// strings).
    fn parse_tokens(&self, json: &Value, now: DateTime<Utc>) -> Result<TokenSet, ProviderError> {
        let obj = match json.get("access_token") {
            Some(_) => json,
            None => json
                .pointer("/data/0")
                .filter(|d| d.get("access_token").is_some())
                .or_else(|| json.get("data").filter(|d| d.get("access_token").is_some()))
                .unwrap_or(json),
        };
        let access = obj
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ProviderError::malformed("token answer has no access_token"))?;
        let secs = |key: &str| -> Option<i64> {
            let v = obj.get(key)?;
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|n| *n > 0)
        };
        let expires_at = match secs("expires_in") {
            Some(n) => now + chrono::Duration::seconds(n.min(10 * 365 * 86_400)),
            None => now + chrono::Duration::from_std(self.access_lifetime).unwrap_or_default(),
        };
        let refresh_token = obj
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()));
        let refresh_expires_at = secs("refresh_token_expires_in")
            .or_else(|| secs("refresh_expires_in"))
            .map(|n| now + chrono::Duration::seconds(n.min(10 * 365 * 86_400)))
            .or_else(|| {
                let default = self.preset.refresh_lifetime_secs?;
                if self.kind == NetworkKind::LinkedIn && !self.partner {
                    return None;
                }
                refresh_token.as_ref()?;
                Some(now + chrono::Duration::seconds(default as i64))
            });
        let scopes = match obj.get("scope").or_else(|| obj.get("permissions")) {
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => self.scopes.clone(),
        };
        Ok(TokenSet {
            access_token: SecretString::from(access.to_owned()),
            refresh_token,
            expires_at,
            refresh_expires_at,
            scopes,
        })
    }

    /// GET with the token in the query (Meta's extension grants).
    async fn meta_get(
        &self,
        op: &'static str,
        site: CallSite,
        url: &Url,
        params: &[(&str, &str)],
        secrets: &[&str],
    ) -> Result<TokenSet, ProviderError> {
        let mut u = url.clone();
        u.query_pairs_mut().extend_pairs(params);
        let req = self
            .outbound
            .client()
            .get(u)
            .header(reqwest::header::ACCEPT, "application/json");
        self.token_answer(op, site, req, secrets).await
    }

    async fn do_exchange(&self, code: &str, verifier: &str) -> Result<TokenSet, ProviderError> {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.callback.to_string()),
            ("code_verifier", verifier.to_owned()),
        ];
        let set = self
            .token_post("exchange_code", CallSite::Token, form, &[code, verifier])
            .await?;
        let short = set.access_token.expose_secret();
        let secret = self.client_secret.expose_secret();
        let upgraded = match self.preset.upgrade {
            Upgrade::None => return Ok(set),
            Upgrade::FbExchange => {
                self.meta_get(
                    "upgrade_token",
                    CallSite::Token,
                    &self.token_url,
                    &[
                        ("grant_type", "fb_exchange_token"),
                        ("client_id", &self.client_id),
                        ("client_secret", secret),
                        ("fb_exchange_token", short),
                    ],
                    &[short],
                )
                .await
            }
            Upgrade::Meta { grant } => {
                let Some(url) = &self.exchange_url else {
                    return Ok(set);
                };
                self.meta_get(
                    "upgrade_token",
                    CallSite::Token,
                    url,
                    &[
                        ("grant_type", grant),
                        ("client_secret", secret),
                        ("access_token", short),
                    ],
                    &[short],
                )
                .await
            }
        };
        match upgraded {
            Ok(mut long) => {
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
    ) -> Result<TokenSet, ProviderError> {
        let access = access.expose_secret();
        match self.preset.refresh {
            RefreshStyle::RefreshToken { .. } | RefreshStyle::LinkedIn => {
                let Some(rt) = refresh
                    .map(ExposeSecret::expose_secret)
                    .filter(|s| !s.is_empty())
                else {
                    let code = if self.kind == NetworkKind::LinkedIn && !self.partner {
                        "refresh_not_offered"
                    } else {
                        "no_refresh_token"
                    };
                    return Err(ProviderError::reauth(code, "no refresh token to spend"));
                };
                let form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", rt.to_owned()),
                ];
                self.token_post("refresh", CallSite::Refresh, form, &[rt, access])
                    .await
            }
            RefreshStyle::FbExchange => {
                let url = self.refresh_url.as_ref().unwrap_or(&self.token_url);
                self.meta_get(
                    "refresh",
                    CallSite::Refresh,
                    url,
                    &[
                        ("grant_type", "fb_exchange_token"),
                        ("client_id", &self.client_id),
                        ("client_secret", self.client_secret.expose_secret()),
                        ("fb_exchange_token", access),
                    ],
                    &[access],
                )
                .await
            }
            RefreshStyle::MetaRefresh { grant } => {
                let url = self.refresh_url.as_ref().unwrap_or(&self.token_url);
                self.meta_get(
                    "refresh",
                    CallSite::Refresh,
                    url,
                    &[("grant_type", grant), ("access_token", access)],
                    &[access],
                )
                .await
            }
        }
    }

    async fn do_identity(&self, token: &SecretString) -> Result<Identity, ProviderError> {
        let t = token.expose_secret();
        let req = match self.preset.identity_token {
            TokenPresentation::Bearer => self
                .outbound
                .client()
                .get(self.identity_url.clone())
                .bearer_auth(t),
            TokenPresentation::Query => {
                let mut u = self.identity_url.clone();
                u.query_pairs_mut().append_pair("access_token", t);
                self.outbound.client().get(u)
            }
        }
        .header(reqwest::header::ACCEPT, "application/json");
        let a = self.outbound.send("identity", req, &[t]).await?;
        if !a.status.is_success() {
            return Err(classify_answer(
                CallSite::Resource,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &[t],
            ));
        }
        let json: Value = serde_json::from_slice(&a.body)
            .map_err(|_| ProviderError::malformed("identity answer is not JSON"))?;
        if body_error(&json).is_some() {
            return Err(classify_answer(
                CallSite::Resource,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &[t],
            ));
        }
        let text = |ptr: &str| -> Option<String> {
            match json.pointer(ptr)? {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let subject = text(&self.subject_ptr).ok_or_else(|| {
            ProviderError::malformed(format!(
                "identity answer has no subject at `{}`",
                self.subject_ptr
            ))
        })?;
        let display_name = self.display_ptr.as_deref().and_then(text);
        let handle = text(&self.handle_ptr)
            .or_else(|| display_name.clone())
            .unwrap_or_else(|| subject.clone());
        let avatar_url = self.avatar_ptr.as_deref().and_then(text);
        Ok(Identity {
            subject,
            handle,
            display_name,
            avatar_url,
        })
    }

    async fn do_revoke(&self, token: &SecretString) -> Result<(), ProviderError> {
        let Some(url) = &self.revoke_url else {
            return Ok(());
        };
        let t = token.expose_secret();
        let secret = self.client_secret.expose_secret();
        let req = match self.preset.revocation {
            Revocation::None => return Ok(()),
            Revocation::Rfc7009 => {
                let mut form = vec![("token", t.to_owned())];
                let req = self.outbound.client().post(url.clone());
                let req = self.authenticate(req, &mut form);
                req.form(&form)
            }
            Revocation::MetaPermissions => {
                let mut u = url.clone();
                u.query_pairs_mut().append_pair("access_token", t);
                self.outbound.client().request(Method::DELETE, u)
            }
        };
        let a = self.outbound.send("revoke", req, &[t, secret]).await?;
        let err = if a.status.is_success() {
            match serde_json::from_slice::<Value>(&a.body)
                .ok()
                .as_ref()
                .and_then(body_error)
            {
                None => return Ok(()),
                Some(_) => classify_answer(
                    CallSite::Revocation,
                    self.meta(),
                    a.status,
                    &a.headers,
                    &a.body,
                    &[t, secret],
                ),
            }
        } else {
            classify_answer(
                CallSite::Revocation,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &[t, secret],
            )
        };
        match &err {
            // The token is already dead at the network: that is what we wanted.
            ProviderError::ReauthRequired { code, .. }
                if code == "invalid_token"
                    || code == "invalid_grant"
                    || code.starts_with("meta_") =>
            {
                Ok(())
            }
            _ => Err(err),
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
        let mut u = self.authorize_url.clone();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("response_type", "code");
            q.append_pair(self.preset.client_id_param, &self.client_id);
            q.append_pair("redirect_uri", self.callback.as_str());
            if !self.scopes.is_empty() {
                q.append_pair("scope", &self.scopes.join(self.preset.scope_separator));
            }
            q.append_pair("state", state);
            q.append_pair("code_challenge", pkce_challenge_s256);
            q.append_pair("code_challenge_method", "S256");
            for (k, v) in &self.authorize_params {
                q.append_pair(k, v);
            }
        }
        u
    }

    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
    ) -> ProviderFuture<'a, TokenSet> {
        Box::pin(self.do_exchange(code, pkce_verifier))
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
                    let reason = if self.kind == NetworkKind::LinkedIn && !self.partner {
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
    ) -> ProviderFuture<'a, TokenSet> {
        Box::pin(self.do_refresh(access_token, refresh_token))
    }

    fn identity<'a>(&'a self, access_token: &'a SecretString) -> ProviderFuture<'a, Identity> {
        Box::pin(self.do_identity(access_token))
    }

    fn supports_revocation(&self) -> bool {
        self.preset.revocation != Revocation::None && self.revoke_url.is_some()
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
}
