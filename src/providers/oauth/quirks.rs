//! What the networks ask beyond RFC 6749 that `oauth2`'s client cannot express, kept as thin
//! extensions around it: the requests still go through a [`Call`] and the answers through
//! [`TokenAnswer`] and [`Call::settle`], like the crate's own.
//!
//! * Meta's extension grants (`fb_exchange_token`, `ig_exchange_token`, `th_exchange_token`,
//!   `ig_refresh_token`, `th_refresh_token`) are GETs with every parameter in the query; the
//!   crate only POSTs forms, and its refresh request always says `grant_type=refresh_token`.
//! * Facebook revokes with `DELETE /me/permissions?access_token=…`, not RFC 7009.
//!
//! How TikTok's client id and RFC 7009 URLs are spelled for the crate is in `spelling`.

use reqwest::Method;
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::OAuthProvider;
use super::token_answer::TokenAnswer;
use super::transport::{Call, Outcome};
use crate::providers::error::{CallSite, ProviderError};

impl OAuthProvider {
    /// Facebook's `fb_exchange_token`: a still-valid token for a long-lived one, with the client
    /// credentials in the query, as Graph documents the grant.
    pub(super) async fn fb_exchange_token(
        &self,
        op: &'static str,
        site: CallSite,
        url: &Url,
        token: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let secret = self.client_secret.expose_secret();
        let call = self.call(op, site, url, vec![token]);
        let params = [
            ("grant_type", "fb_exchange_token"),
            ("client_id", self.client.client_id().as_str()),
            ("client_secret", secret),
            ("fb_exchange_token", token),
        ];
        meta_get(&call, &params).await
    }

    /// Instagram's `ig_exchange_token` / Threads' `th_exchange_token` on `exchange_url`: the
    /// short-lived token of a code exchange for a long-lived one.
    pub(super) async fn meta_exchange(
        &self,
        url: &Url,
        grant: &'static str,
        token: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let call = self.call("upgrade_token", CallSite::Token, url, vec![token]);
        let params = [
            ("grant_type", grant),
            ("client_secret", self.client_secret.expose_secret()),
            ("access_token", token),
        ];
        meta_get(&call, &params).await
    }

    /// Instagram's `ig_refresh_token` / Threads' `th_refresh_token` on `refresh_url`: the token
    /// itself is the credential, no client authentication.
    pub(super) async fn meta_refresh(
        &self,
        url: &Url,
        grant: &'static str,
        token: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let call = self.call("refresh", CallSite::Refresh, url, vec![token]);
        meta_get(&call, &[("grant_type", grant), ("access_token", token)]).await
    }

    /// Facebook: revoking the app's permissions ends every token of the grant.
    pub(super) async fn revoke_permissions(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        let t = token.expose_secret();
        let call = self.call("revoke", CallSite::Revocation, url, vec![t]);
        let mut u = url.clone();
        u.query_pairs_mut().append_pair("access_token", t);
        let req = call.client().request(Method::DELETE, u);
        let outcome: Outcome<()> = call.send(req).await.map(drop).map_err(Into::into);
        call.settle(outcome)
    }
}

/// GET the call's endpoint with `params` appended to its query, and read a token answer.
async fn meta_get(call: &Call<'_>, params: &[(&str, &str)]) -> Result<TokenAnswer, ProviderError> {
    let mut u = call.url().clone();
    u.query_pairs_mut().extend_pairs(params);
    let req = call.client().get(u).header(ACCEPT, "application/json");
    let outcome: Outcome<TokenAnswer> = match call.send(req).await {
        Ok(answer) => serde_json::from_slice(answer.body())
            .map_err(|e| oauth2::RequestTokenError::Other(e.to_string())),
        Err(e) => Err(e.into()),
    };
    call.settle(outcome)
}
