//! Who a token belongs to. A resource call, outside OAuth proper: it goes straight through
//! `Outbound`, not through `oauth2`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::OAuthProvider;
use crate::providers::error::{CallSite, ProviderError, body_error, classify_answer};
use crate::providers::presets::TokenPresentation;
use crate::providers::{Identity, without_nul};

impl OAuthProvider {
    pub(super) async fn do_identity(
        &self,
        token: &SecretString,
    ) -> Result<Identity, ProviderError> {
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
        // Some networks answer a refusal with 200 and an error body.
        let refused = || {
            classify_answer(
                CallSite::Resource,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &[t],
            )
        };
        if !a.status.is_success() {
            return Err(refused());
        }
        let json: Value = serde_json::from_slice(&a.body)
            .map_err(|_| ProviderError::malformed("identity answer is not JSON"))?;
        if body_error(&json).is_some() {
            return Err(refused());
        }
        // A subject is an identity: one with U+0000 is no answer to guess
        // from (dropping it could name another person).
        if matches!(json.pointer(&self.subject_ptr), Some(Value::String(s)) if s.contains('\0')) {
            return Err(ProviderError::malformed(
                "identity answer's subject holds U+0000",
            ));
        }
        // Names and handles are shown, not matched: U+0000 in them (which
        // PostgreSQL cannot store) is dropped.
        let text = |ptr: &str| -> Option<String> {
            match json.pointer(ptr)? {
                Value::String(s) => {
                    Some(without_nul(s).trim().to_owned()).filter(|s| !s.is_empty())
                }
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
}
