//! The protocol through `oauth2`'s typed client: the authorization URL with PKCE (S256) and
//! state, the code exchange, the refresh grant and RFC 7009 revocation. Every request goes out
//! through a [`Call`], never through the crate's own HTTP clients.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IntrospectionUrl, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RevocableToken, RevocationUrl, Scope, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::OAuthProvider;
use super::spelling;
use super::token_answer::TokenAnswer;
use super::transport::Call;
use crate::providers::error::{CallSite, ProviderError};
use crate::providers::settings::ClientAuth;

/// `oauth2`'s client as tokenwarden uses it: the networks' token answers, authorization and
/// token endpoints always set, RFC 7662 introspection and RFC 7009 revocation where the network
/// has them.
pub(super) type Protocol = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    AnyToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
    EndpointSet,
>;

/// The endpoints and credentials of one network, as validated by the configuration.
pub(super) struct ClientSettings<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    pub client_auth: ClientAuth,
    pub authorize_url: &'a Url,
    pub token_url: &'a Url,
    /// The RFC 7009 endpoint; `None` when the network revokes another way or not at all.
    pub rfc7009_url: Option<&'a Url>,
    /// The RFC 7662 endpoint; `None` when the network introspects another way or not at all.
    pub rfc7662_url: Option<&'a Url>,
    pub callback: &'a Url,
}

pub(super) fn protocol(s: &ClientSettings<'_>) -> Protocol {
    oauth2::Client::new(ClientId::new(s.client_id.to_owned()))
        .set_client_secret(ClientSecret::new(
            s.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_type(match s.client_auth {
            ClientAuth::Basic => AuthType::BasicAuth,
            ClientAuth::Post => AuthType::RequestBody,
        })
        .set_auth_uri(AuthUrl::from_url(s.authorize_url.clone()))
        .set_token_uri(TokenUrl::from_url(s.token_url.clone()))
        .set_introspection_url_option(s.rfc7662_url.cloned().map(IntrospectionUrl::from_url))
        .set_revocation_url_option(
            s.rfc7009_url
                .map(|u| RevocationUrl::from_url(spelling::https_spelling(u))),
        )
        .set_redirect_uri(RedirectUrl::from_url(s.callback.clone()))
}

/// A token to revoke, of whichever kind.
#[derive(Debug)]
pub(super) struct AnyToken(SecretString);

impl RevocableToken for AnyToken {
    fn secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The caller does not say which kind of token it revokes. Without a hint RFC 7009 §2.1
    /// has the server search every kind; a wrong hint could send it looking in the wrong place.
    fn type_hint(&self) -> Option<&str> {
        None
    }
}

/// The S256 challenge as `oauth2`'s type. The crate only derives challenges from verifiers, but
/// the caller keeps the verifier (it is stored with the pending authorization) and hands over the
/// challenge alone; the crate's type is plain data with a serde form, so it is read from that.
fn s256_challenge(challenge: &str) -> PkceCodeChallenge {
    serde_json::from_value(serde_json::json!({
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }))
    .expect("PkceCodeChallenge is two strings")
}

impl OAuthProvider {
    /// The URL to send the user to (see [`crate::providers::Provider::authorization_url`]).
    pub(super) fn authorize(&self, state: &str, pkce_challenge_s256: &str) -> Url {
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new(state.to_owned()))
            .set_pkce_challenge(s256_challenge(pkce_challenge_s256));
        let separator = self.preset.scope_separator;
        if separator == " " {
            request = request.add_scopes(self.scopes.iter().cloned().map(Scope::new));
        } else if !self.scopes.is_empty() {
            // Meta, TikTok and Pinterest want the list comma-separated; the crate joins the
            // scopes it is given with spaces, so it is given one.
            request = request.add_scope(Scope::new(self.scopes.join(separator)));
        }
        for (k, v) in &self.authorize_params {
            request = request.add_extra_param(k.as_str(), v.as_str());
        }
        let (url, _state) = request.url();
        spelling::client_id_in_query(url, self.preset.client_id_param)
    }

    /// The authorization URL asking again for `missing` scopes (see
    /// [`crate::providers::Provider::reauthorization_url`]).
    pub(super) fn reauthorize(&self, state: &str, challenge: &str, missing: &[String]) -> Url {
        let url = self.authorize(state, challenge);
        if missing.is_empty() {
            return url;
        }
        let separator = self.preset.scope_separator;
        let mut scopes = self.scopes.clone();
        for s in missing {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if self.meta() {
            // Meta's dialog skips permissions the person declined before unless asked so.
            extra.push(("auth_type", "rerequest"));
        }
        if self
            .preset
            .authorize_extra
            .contains(&("include_granted_scopes", "true"))
        {
            // Google: the new grant keeps the scopes granted before (incremental authorization).
            extra.push(("include_granted_scopes", "true"));
        }
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "scope" && !extra.iter().any(|(e, _)| e == k))
            .collect();
        let mut out = url.clone();
        out.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("scope", &scopes.join(separator))
            .extend_pairs(extra);
        out
    }

    /// RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5).
    pub(super) async fn code_grant(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let call = self.call(
            "exchange_code",
            CallSite::Token,
            self.token_url(),
            vec![code, verifier],
        );
        let outcome = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&call)
            .await;
        call.settle(outcome)
    }

    /// RFC 6749 §6. `access` is only there to be scrubbed from error details.
    pub(super) async fn refresh_grant(
        &self,
        refresh: &str,
        access: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let call = self.call(
            "refresh",
            CallSite::Refresh,
            self.token_url(),
            vec![refresh, access],
        );
        let refresh_token = RefreshToken::new(refresh.to_owned());
        let outcome = self
            .client
            .exchange_refresh_token(&refresh_token)
            .request_async(&call)
            .await;
        call.settle(outcome)
    }

    /// RFC 7009 at `url`, the configured endpoint (the crate holds its `https` spelling).
    pub(super) async fn rfc7009_revoke(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        // Only a missing endpoint fails here, and then there is nothing to revoke at.
        let Ok(request) = self.client.revoke_token(AnyToken(token.clone())) else {
            return Ok(());
        };
        let call = self.call(
            "revoke",
            CallSite::Revocation,
            url,
            vec![token.expose_secret()],
        );
        let outcome = request.request_async(&call).await;
        call.settle(outcome)
    }

    pub(super) fn token_url(&self) -> &Url {
        self.client.token_uri().url()
    }

    /// A call to `url`; the client secret is always scrubbed from its errors.
    pub(super) fn call<'a>(
        &'a self,
        op: &'static str,
        site: CallSite,
        url: &'a Url,
        mut secrets: Vec<&'a str>,
    ) -> Call<'a> {
        secrets.push(self.client_secret.expose_secret());
        Call::new(self, op, site, url, secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_handed_over_equals_the_one_the_crate_derives() {
        let verifier = crate::providers::new_pkce_verifier();
        let ours = s256_challenge(&crate::providers::pkce_challenge_s256(&verifier));
        let crates = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
        assert_eq!(ours, crates);
    }
}
