//! Asking a network about a token (SPEC 4b): RFC 7662 through `oauth2`'s introspection request,
//! Meta's `debug_token` and Google's `tokeninfo` as GETs beside it. Each goes out through a
//! [`Call`], like every other request.
//!
//! Only the answer's body is a verdict: `is_valid: false`, `active: false`, Google's 400
//! `invalid_token`. A refusal of the request itself — a 401 for the client, Graph's top-level
//! error 190 for a bad app token — is the deployment's, never the token's, so no error from here
//! is `ReauthRequired`.

use chrono::{DateTime, Utc};
use oauth2::{AccessToken, TokenIntrospectionResponse};
use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::OAuthProvider;
use super::transport::{Call, Outcome};
use crate::providers::error::{CallSite, ProviderError};
use crate::providers::presets::IntrospectionStyle;
use crate::providers::redact::sanitize_detail;
use crate::providers::{Introspection, without_nul};

impl OAuthProvider {
    pub(super) fn introspection_style(&self) -> Option<(IntrospectionStyle, &Url)> {
        let url = self.introspection_url.as_ref()?;
        match self.preset.introspection {
            IntrospectionStyle::None => None,
            style => Some((style, url)),
        }
    }

    pub(super) async fn do_introspect(
        &self,
        token: &SecretString,
    ) -> Result<Introspection, ProviderError> {
        let Some((style, url)) = self.introspection_style() else {
            return Err(ProviderError::Rejected {
                status: None,
                code: "introspection_unsupported".into(),
                detail: format!("{} has no introspection configured", self.name),
            });
        };
        let verdict = match style {
            IntrospectionStyle::None => unreachable!("filtered by introspection_style"),
            IntrospectionStyle::Rfc7662 => self.rfc7662(url, token).await,
            IntrospectionStyle::MetaDebugToken => self.debug_token(url, token).await,
            IntrospectionStyle::GoogleTokenInfo => self.tokeninfo(url, token).await,
        };
        verdict.map_err(|e| match e {
            ProviderError::ReauthRequired { code, detail } => {
                ProviderError::misconfigured(&code, format!("introspection refused: {detail}"))
            }
            other => other,
        })
    }

    /// RFC 7662 §2.1 with the configured client authentication, `token_type_hint=access_token`.
    async fn rfc7662(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<Introspection, ProviderError> {
        let secret = AccessToken::new(token.expose_secret().to_owned());
        // Only a missing endpoint fails here, and the endpoint was set with the style.
        let request = self
            .client
            .introspect(&secret)
            .map_err(|e| ProviderError::Rejected {
                status: None,
                code: "introspection_unsupported".into(),
                detail: e.to_string(),
            })?
            .set_token_type_hint("access_token");
        let call = self.call(
            "introspect",
            CallSite::Introspection,
            url,
            vec![token.expose_secret()],
        );
        let outcome = request.request_async(&call).await;
        let answer = call.settle(outcome)?;
        if !answer.active() {
            return Ok(Introspection::Invalid {
                reason: "inactive".into(),
                detail: String::new(),
            });
        }
        Ok(Introspection::Valid {
            expires_at: answer.exp(),
            scopes: answer.scopes().map(|s| {
                s.iter()
                    .map(|s| without_nul(s.as_str()))
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            data_access_expires_at: None,
        })
    }

    /// Graph's `GET debug_token?input_token=…&access_token={app_id}|{app_secret}`.
    async fn debug_token(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<Introspection, ProviderError> {
        let app_token = SecretString::from(format!(
            "{}|{}",
            self.client.client_id().as_str(),
            self.client_secret.expose_secret()
        ));
        let input = token.expose_secret();
        let call = self.call(
            "introspect",
            CallSite::Introspection,
            url,
            vec![input, app_token.expose_secret()],
        );
        let mut u = url.clone();
        u.query_pairs_mut()
            .append_pair("input_token", input)
            .append_pair("access_token", app_token.expose_secret());
        let data = get_json(&call, u).await?;
        let data = data
            .get("data")
            .ok_or_else(|| ProviderError::malformed("debug_token answer has no `data` object"))?;
        match data.get("is_valid").and_then(Value::as_bool) {
            Some(true) => Ok(Introspection::Valid {
                expires_at: meta_time(data.get("expires_at")),
                scopes: meta_scopes(data),
                data_access_expires_at: meta_time(data.get("data_access_expires_at")),
            }),
            Some(false) => {
                let error = data.get("error");
                let num = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_i64);
                let message = error
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Ok(Introspection::Invalid {
                    reason: meta_reason(num("code"), num("subcode")),
                    detail: sanitize_detail(
                        &without_nul(message),
                        &[input, app_token.expose_secret()],
                    ),
                })
            }
            None => Err(ProviderError::malformed(
                "debug_token answer has no boolean `is_valid`",
            )),
        }
    }

    /// Google's `GET tokeninfo?access_token=…`: a live token's `scope` and `exp`; a dead one is
    /// 400 `{"error": "invalid_token"}`.
    async fn tokeninfo(
        &self,
        url: &Url,
        token: &SecretString,
    ) -> Result<Introspection, ProviderError> {
        let input = token.expose_secret();
        let call = self.call("introspect", CallSite::Introspection, url, vec![input]);
        let mut u = url.clone();
        u.query_pairs_mut().append_pair("access_token", input);
        let req = call.client().get(u).header(ACCEPT, "application/json");
        let view = call.send(req).await?;
        if view.status().as_u16() == 400
            && let Ok(json) = serde_json::from_slice::<Value>(view.body())
            && json.get("error").and_then(Value::as_str) == Some("invalid_token")
        {
            let detail = json
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Ok(Introspection::Invalid {
                reason: "invalid_token".into(),
                detail: sanitize_detail(&without_nul(detail), &[input]),
            });
        }
        let outcome: Outcome<Value> = serde_json::from_slice(view.body())
            .map_err(|e| oauth2::RequestTokenError::Other(e.to_string()));
        let json = call.settle(outcome)?;
        let scopes = json.get("scope").and_then(Value::as_str).map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(without_nul)
                .collect()
        });
        Ok(Introspection::Valid {
            expires_at: epoch(json.get("exp")),
            scopes,
            data_access_expires_at: None,
        })
    }
}

/// GET `url` through the call and read a JSON answer; anything else is classified.
async fn get_json(call: &Call<'_>, url: Url) -> Result<Value, ProviderError> {
    let req = call.client().get(url).header(ACCEPT, "application/json");
    let outcome: Outcome<Value> = match call.send(req).await {
        Ok(answer) => serde_json::from_slice(answer.body())
            .map_err(|e| oauth2::RequestTokenError::Other(e.to_string())),
        Err(e) => Err(e.into()),
    };
    call.settle(outcome)
}

/// Seconds since the epoch, as a number or a numeric string; 0 and absence are `None`.
fn epoch(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let v = v?;
    let n = v
        .as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
    (n > 0).then(|| DateTime::from_timestamp(n, 0)).flatten()
}

/// Graph's times: 0 means never.
fn meta_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    epoch(v)
}

/// `scopes` with the names of `granular_scopes`, once each; `None` when Graph named neither.
/// A Page token (`profile_id`) loses a granular scope whose `target_ids` leave its Page out: the
/// person granted it for other Pages only, and Graph still lists it in `scopes`.
fn meta_scopes(data: &Value) -> Option<Vec<String>> {
    let plain = data.get("scopes").and_then(Value::as_array);
    let granular = data.get("granular_scopes").and_then(Value::as_array);
    if plain.is_none() && granular.is_none() {
        return None;
    }
    let page = data.get("profile_id").and_then(|v| {
        v.as_str()
            .map(str::to_owned)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
    });
    let elsewhere = |g: &Value| -> bool {
        let (Some(page), Some(targets)) = (&page, g.get("target_ids").and_then(Value::as_array))
        else {
            return false;
        };
        !targets.iter().any(|t| {
            t.as_str() == Some(page.as_str()) || t.as_i64().is_some_and(|n| n.to_string() == *page)
        })
    };
    let not_here: Vec<&str> = granular
        .into_iter()
        .flatten()
        .filter(|g| elsewhere(g))
        .filter_map(|g| g.get("scope").and_then(Value::as_str))
        .collect();
    let mut scopes: Vec<String> = Vec::new();
    let names = plain.into_iter().flatten().filter_map(Value::as_str).chain(
        granular
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("scope").and_then(Value::as_str)),
    );
    for name in names.filter(|n| !not_here.contains(n)) {
        let name = without_nul(name);
        if !name.is_empty() && !scopes.contains(&name) {
            scopes.push(name);
        }
    }
    Some(scopes)
}

/// The meaning of Graph's error 190 subcodes ("Access Token" errors, Graph API "Handling
/// Errors"): what made the person's token die, stored as the credential's reason.
fn meta_reason(code: Option<i64>, subcode: Option<i64>) -> String {
    let meaning = match (code, subcode) {
        (Some(190), Some(458)) => "app_removed",
        (Some(190), Some(459)) => "account_checkpointed",
        (Some(190), Some(460)) => "password_changed",
        (Some(190), Some(463)) => "token_expired",
        (Some(190), Some(464)) => "unconfirmed_user",
        (Some(190), Some(467)) => "token_invalidated",
        // Graph answers it when the session ended on Meta's side, commonly when the person
        // lost their role on the Page.
        (Some(190), Some(492)) => "session_invalidated",
        (Some(c), Some(s)) => return format!("meta_{c}_{s}"),
        (Some(c), None) => return format!("meta_{c}"),
        (None, _) => "meta_invalid",
    };
    meaning.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graph_times_of_zero_mean_never() {
        assert_eq!(meta_time(Some(&json!(0))), None);
        assert_eq!(meta_time(None), None);
        assert_eq!(
            meta_time(Some(&json!(1_800_000_000))),
            DateTime::from_timestamp(1_800_000_000, 0)
        );
        assert_eq!(
            epoch(Some(&json!("1800000000"))),
            DateTime::from_timestamp(1_800_000_000, 0)
        );
    }

    #[test]
    fn granular_scopes_join_the_plain_ones_once() {
        let data = json!({
            "scopes": ["pages_show_list", "public_profile"],
            "granular_scopes": [
                {"scope": "pages_show_list", "target_ids": ["1"]},
                {"scope": "pages_manage_posts", "target_ids": ["1"]}
            ]
        });
        assert_eq!(
            meta_scopes(&data).unwrap(),
            ["pages_show_list", "public_profile", "pages_manage_posts"]
        );
        assert_eq!(meta_scopes(&json!({})), None);
    }

    #[test]
    fn a_page_token_lacks_a_scope_granted_for_other_pages_only() {
        let page_token = |page: Value| {
            json!({
                "type": "PAGE", "profile_id": page,
                "scopes": ["pages_show_list", "pages_manage_posts"],
                "granular_scopes": [
                    {"scope": "pages_show_list", "target_ids": ["55", "66"]},
                    {"scope": "pages_manage_posts", "target_ids": ["66"]}
                ]
            })
        };
        assert_eq!(
            meta_scopes(&page_token(json!("55"))).unwrap(),
            ["pages_show_list"]
        );
        assert_eq!(
            meta_scopes(&page_token(json!(66))).unwrap(),
            ["pages_show_list", "pages_manage_posts"]
        );
    }

    #[test]
    fn subcodes_name_their_reason() {
        assert_eq!(meta_reason(Some(190), Some(460)), "password_changed");
        assert_eq!(meta_reason(Some(190), Some(458)), "app_removed");
        assert_eq!(meta_reason(Some(190), Some(492)), "session_invalidated");
        assert_eq!(meta_reason(Some(190), Some(999)), "meta_190_999");
        assert_eq!(meta_reason(Some(190), None), "meta_190");
        assert_eq!(meta_reason(None, None), "meta_invalid");
    }

    #[test]
    fn the_app_token_and_the_input_token_never_reach_a_log_line() {
        let u = Url::parse(
            "https://graph.facebook.com/v21.0/debug_token?input_token=EAAperson&access_token=123%7Capp-secret",
        )
        .unwrap();
        let logged = crate::providers::redact_url(&u);
        assert!(!logged.contains("EAAperson"), "{logged}");
        assert!(!logged.contains("app-secret"), "{logged}");
        assert!(logged.contains("input_token=REDACTED"), "{logged}");
    }
}
