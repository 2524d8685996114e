//! What the networks ask beyond RFC 6749 that `oauth2`'s client cannot express, kept as thin
//! extensions around it: the requests still go through a [`Call`] and the answers through
//! [`TokenAnswer`] and [`Call::settle`], like the crate's own.
//!
//! * Meta's extension grants (`fb_exchange_token`, `ig_exchange_token`, `th_exchange_token`,
//!   `ig_refresh_token`, `th_refresh_token`) are GETs with every parameter in the query; the
//!   crate only POSTs forms, and its refresh request always says `grant_type=refresh_token`.
//! * Facebook revokes with `DELETE /me/permissions?access_token=…`, not RFC 7009.
//! * TikTok calls the client id `client_key`, in the authorization URL and in form bodies.
//! * `oauth2` refuses an RFC 7009 endpoint that is not `https`, also on loopback hosts.

use std::borrow::Cow;

use reqwest::Method;
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::OAuthProvider;
use super::token_answer::TokenAnswer;
use super::transport::{Call, Outcome};
use crate::providers::error::{CallSite, ProviderError};

/// The parameter name `oauth2` gives the client id.
const CLIENT_ID: &str = "client_id";

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

/// TikTok: the authorization URL `oauth2` built, with `client_id` renamed.
pub(super) fn client_id_in_query(mut url: Url, param: &str) -> Url {
    if param == CLIENT_ID {
        return url;
    }
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    url.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (if k == CLIENT_ID { param } else { k }, v)),
    );
    url
}

/// TikTok: a form body `oauth2` built (it builds no other kind), with `client_id` renamed.
pub(super) fn client_id_in_form(body: Vec<u8>, param: &str) -> Vec<u8> {
    if param == CLIENT_ID || body.is_empty() {
        return body;
    }
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(&body).map(|(k, v)| {
            let k = if k == CLIENT_ID {
                Cow::Borrowed(param)
            } else {
                k
            };
            (k, v)
        }))
        .finish()
        .into_bytes()
}

/// The URL `oauth2` is given for an RFC 7009 endpoint. The crate refuses anything but `https`
/// there (RFC 7009 §2), but the operator's transport rule already decided this URL: `https`, or
/// plain `http` on a loopback host when `allow_insecure_loopback` is set (the sandbox, local
/// fakes). The crate gets the `https` spelling; [`Call`] sends to the configured URL.
pub(super) fn https_spelling(url: &Url) -> Url {
    let mut u = url.clone();
    if u.scheme() == "http" {
        // Cannot fail: `url` allows switching between the special schemes `http` and `https`.
        let _ = u.set_scheme("https");
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_is_renamed_only_for_networks_that_want_it() {
        let u = Url::parse("https://a.example/auth?x=1&client_id=cid&state=s").unwrap();
        assert_eq!(client_id_in_query(u.clone(), "client_id"), u);
        assert_eq!(
            client_id_in_query(u, "client_key").as_str(),
            "https://a.example/auth?x=1&client_key=cid&state=s"
        );
        let form = b"grant_type=authorization_code&client_id=c+d&code=a%2Fb".to_vec();
        assert_eq!(client_id_in_form(form.clone(), "client_id"), form);
        assert_eq!(
            String::from_utf8(client_id_in_form(form, "client_key")).unwrap(),
            "grant_type=authorization_code&client_key=c+d&code=a%2Fb"
        );
    }

    #[test]
    fn only_http_is_respelled() {
        let http = Url::parse("http://127.0.0.1:8080/revoke").unwrap();
        assert_eq!(
            https_spelling(&http).as_str(),
            "https://127.0.0.1:8080/revoke"
        );
        let https = Url::parse("https://oauth2.googleapis.com/revoke").unwrap();
        assert_eq!(https_spelling(&https), https);
    }
}
