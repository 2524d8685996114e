//! The networks' token answers as `oauth2`'s [`TokenResponse`].
//!
//! The crate's own `StandardTokenResponse` wants RFC 6749 §5.1 to the letter, and the networks
//! do not give it: Instagram wraps its code answer in `data: [{…}]` without a `token_type` and
//! calls the scopes `permissions`, TikTok, LinkedIn and Pinterest separate scopes with commas,
//! some send numbers as strings, and refresh-token lifetimes come as `refresh_token_expires_in`
//! or `refresh_expires_in`. A blank `refresh_token` (X) means none. [`TokenAnswer`] reads all of
//! them, so an answer is refused only when it has no access token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::BasicTokenType;
use oauth2::{AccessToken, RefreshToken, Scope, TokenResponse};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::TokenSet;

/// Lifetimes in answers are capped here: a network's "forever" must not overflow a timestamp.
const MAX_LIFETIME_SECS: u64 = 10 * 365 * 86_400;

/// A token answer from the token endpoint or one of Meta's extension grants.
#[derive(Debug, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub(super) struct TokenAnswer {
    access_token: AccessToken,
    token_type: BasicTokenType,
    expires_in: Option<u64>,
    /// Never blank: a blank refresh token means "keep the one you have".
    refresh_token: Option<RefreshToken>,
    #[serde(rename = "scope")]
    scopes: Option<Vec<Scope>>,
    refresh_token_expires_in: Option<u64>,
}

impl TokenResponse for TokenAnswer {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

/// What the provider assumes where an answer is silent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Defaults<'a> {
    pub access_lifetime: Duration,
    /// `None`: the network does not say how long its refresh tokens live (or gives none).
    pub refresh_lifetime: Option<Duration>,
    /// The scopes asked for, which RFC 6749 §5.1 lets an answer leave out when all were granted.
    pub scopes: &'a [String],
}

/// The longest lifetime a network's answer is taken at (ten years).
const MAX_LIFETIME: Duration = Duration::from_secs(3653 * 86_400);

impl TokenAnswer {
    pub fn refresh_token_expires_in(&self) -> Option<Duration> {
        self.refresh_token_expires_in.map(Duration::from_secs)
    }

    pub fn into_token_set(self, now: DateTime<Utc>, defaults: &Defaults<'_>) -> TokenSet {
        // A network's lifetime is data: capped at ten years, so that the
        // sum can neither overflow nor store a date SQLite sorts wrongly.
        let after = |d: Duration| {
            let d = chrono::Duration::from_std(d.min(MAX_LIFETIME)).unwrap_or_default();
            now.checked_add_signed(d).unwrap_or(now)
        };
        let expires_at = after(self.expires_in().unwrap_or(defaults.access_lifetime));
        let refresh_token = self
            .refresh_token()
            .map(|t| SecretString::from(t.secret().as_str()));
        let refresh_expires_at = match (self.refresh_token_expires_in(), &refresh_token) {
            (Some(d), _) => Some(after(d)),
            // A default lifetime only describes a refresh token that was actually issued.
            (None, Some(_)) => defaults.refresh_lifetime.map(after),
            (None, None) => None,
        };
        // Stored as text, which holds no U+0000 on PostgreSQL.
        let granted_scopes: Option<Vec<String>> = self.scopes().map(|granted| {
            granted
                .iter()
                .map(|s| crate::providers::without_nul(s.as_str()))
                .filter(|s| !s.is_empty())
                .collect()
        });
        let scopes = granted_scopes
            .clone()
            .unwrap_or_else(|| defaults.scopes.to_vec());
        TokenSet {
            access_token: SecretString::from(self.access_token.into_secret()),
            refresh_token,
            expires_at,
            refresh_expires_at,
            scopes,
            granted_scopes,
        }
    }
}

/// Why an answer is not a token answer. The caller classifies the raw answer itself; this
/// text only reaches `oauth2`'s parse error.
#[derive(Debug)]
pub(super) struct NotATokenAnswer;

impl std::fmt::Display for NotATokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("token answer has no access_token")
    }
}

impl TryFrom<Value> for TokenAnswer {
    type Error = NotATokenAnswer;

    fn try_from(json: Value) -> Result<Self, Self::Error> {
        let obj = token_object(&json);
        let access = obj
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or(NotATokenAnswer)?;
        let secs = |key: &str| -> Option<u64> {
            let v = obj.get(key)?;
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
            u64::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .map(|n| n.min(MAX_LIFETIME_SECS))
        };
        let token_type = match obj.get("token_type").and_then(Value::as_str) {
            // Every network that leaves it out issues bearer tokens (RFC 6750).
            None => BasicTokenType::Bearer,
            Some(t) => match t.to_ascii_lowercase().as_str() {
                "bearer" => BasicTokenType::Bearer,
                "mac" => BasicTokenType::Mac,
                other => BasicTokenType::Extension(other.to_owned()),
            },
        };
        let refresh_token = obj
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| RefreshToken::new(s.to_owned()));
        let scopes = match obj.get("scope").or_else(|| obj.get("permissions")) {
            Some(Value::String(s)) => Some(
                s.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| Scope::new(s.to_owned()))
                    .collect(),
            ),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| Scope::new(s.to_owned()))
                    .collect(),
            ),
            _ => None,
        };
        Ok(TokenAnswer {
            access_token: AccessToken::new(access.to_owned()),
            token_type,
            expires_in: secs("expires_in"),
            refresh_token,
            scopes,
            refresh_token_expires_in: secs("refresh_token_expires_in")
                .or_else(|| secs("refresh_expires_in")),
        })
    }
}

/// The object holding the token: the answer itself, or Instagram's `data: [{…}]` /
/// a `data: {…}` envelope.
fn token_object(json: &Value) -> &Value {
    if json.get("access_token").is_some() {
        return json;
    }
    let holds_token = |d: &&Value| d.get("access_token").is_some();
    json.pointer("/data/0")
        .filter(holds_token)
        .or_else(|| json.get("data").filter(holds_token))
        .unwrap_or(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: Value) -> Option<TokenAnswer> {
        serde_json::from_value(json).ok()
    }

    const DEFAULTS: Defaults<'static> = Defaults {
        access_lifetime: Duration::from_secs(3600),
        refresh_lifetime: Some(Duration::from_secs(86_400)),
        scopes: &[],
    };

    #[test]
    fn numbers_as_strings_and_floats_are_read() {
        let a = read(serde_json::json!({"access_token": "a", "expires_in": "5184000"})).unwrap();
        assert_eq!(a.expires_in(), Some(Duration::from_secs(5_184_000)));
        let a = read(serde_json::json!({"access_token": "a", "expires_in": 7199.6})).unwrap();
        assert_eq!(a.expires_in(), Some(Duration::from_secs(7199)));
        let a = read(serde_json::json!({"access_token": "a", "expires_in": " 60 "})).unwrap();
        assert_eq!(a.expires_in(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn zero_negative_or_absurd_lifetimes_fall_back_or_are_capped() {
        let a = read(serde_json::json!({"access_token": "a", "expires_in": 0})).unwrap();
        assert_eq!(a.expires_in(), None);
        let a = read(serde_json::json!({"access_token": "a", "expires_in": -5})).unwrap();
        assert_eq!(a.expires_in(), None);
        let a = read(serde_json::json!({"access_token": "a", "expires_in": u64::MAX})).unwrap();
        assert_eq!(a.expires_in(), Some(Duration::from_secs(MAX_LIFETIME_SECS)));
        let now = Utc::now();
        let set = a.into_token_set(now, &DEFAULTS);
        assert_eq!(
            set.expires_at - now,
            chrono::Duration::seconds(MAX_LIFETIME_SECS as i64)
        );
    }

    #[test]
    fn data_envelopes_token_type_and_scope_shapes() {
        let a = read(serde_json::json!({"data": {"access_token": "d", "scope": ["a", "b", 3]}}))
            .unwrap();
        assert_eq!(a.access_token().secret(), "d");
        assert_eq!(*a.token_type(), BasicTokenType::Bearer);
        assert_eq!(
            a.scopes().unwrap(),
            &vec![Scope::new("a".into()), Scope::new("b".into())]
        );
        let a = read(serde_json::json!({"access_token": "a", "token_type": "Bearer", "scope": ""}))
            .unwrap();
        assert_eq!(*a.token_type(), BasicTokenType::Bearer);
        assert_eq!(a.scopes(), Some(&vec![]));
    }

    #[test]
    fn answers_without_an_access_token_are_refused() {
        assert!(read(serde_json::json!({"access_token": "  "})).is_none());
        assert!(read(serde_json::json!({"data": []})).is_none());
        assert!(read(serde_json::json!(["access_token"])).is_none());
        assert!(read(serde_json::json!({"access_token": 12})).is_none());
    }

    #[test]
    fn default_refresh_lifetime_only_with_a_refresh_token() {
        let now = Utc::now();
        let set = read(serde_json::json!({"access_token": "a"}))
            .unwrap()
            .into_token_set(now, &DEFAULTS);
        assert_eq!(set.refresh_expires_at, None);
        assert_eq!(set.expires_at - now, chrono::Duration::hours(1));
        let set = read(serde_json::json!({"access_token": "a", "refresh_token": "r"}))
            .unwrap()
            .into_token_set(now, &DEFAULTS);
        assert_eq!(
            set.refresh_expires_at,
            Some(now + chrono::Duration::days(1))
        );
        let set = read(serde_json::json!({"access_token": "a", "refresh_expires_in": "60"}))
            .unwrap()
            .into_token_set(now, &DEFAULTS);
        assert_eq!(
            set.refresh_expires_at,
            Some(now + chrono::Duration::seconds(60))
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// JSON of any shape, with the member names token answers use.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,24}".prop_map(Value::from),
            "[0-9]{1,25}".prop_map(Value::from),
        ];
        let key = prop_oneof![
            Just("access_token".to_string()),
            Just("refresh_token".to_string()),
            Just("expires_in".to_string()),
            Just("refresh_token_expires_in".to_string()),
            Just("scope".to_string()),
            Just("token_type".to_string()),
            Just("data".to_string()),
            "[a-z_]{1,12}",
        ];
        leaf.prop_recursive(3, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const DEFAULTS: Defaults<'static> = Defaults {
        access_lifetime: Duration::from_secs(3600),
        refresh_lifetime: Some(Duration::from_secs(86_400)),
        scopes: &[],
    };

    proptest! {
        /// Any answer body is a token answer or refused — never a panic —
        /// and what is read from it expires between now and ten years on.
        #[test]
        fn any_answer_is_read_within_bounds_or_refused(body in json()) {
            let now = Utc::now();
            let horizon = now + chrono::Duration::days(3654);
            if let Ok(answer) = TokenAnswer::try_from(body) {
                let set = answer.into_token_set(now, &DEFAULTS);
                prop_assert!(set.expires_at >= now && set.expires_at <= horizon);
                if let Some(refresh) = set.refresh_expires_at {
                    prop_assert!(refresh >= now && refresh <= horizon);
                }
            }
        }
    }
}
