//! Failures of a network call and their classification (docs/rules.md, "Failure classification").

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::redact::sanitize_detail;
use super::retry_after::parse_retry_after;

/// Why a transient failure happened. None of them says anything about the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// Connect or request timeout.
    Timeout,
    /// The network answered 5xx (the status) or said `temporarily_unavailable`/`server_error`.
    Unavailable(u16),
    /// 429, `slow_down`, or a network-specific rate-limit error (Meta codes 4, 17, 32, 613).
    RateLimited,
    /// The answer could not be read: not JSON, missing fields, larger than the body cap.
    Malformed,
    /// The connection could not be established or broke.
    Connect,
}

impl std::fmt::Display for TransientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransientKind::Timeout => f.write_str("timeout"),
            TransientKind::Unavailable(s) => write!(f, "unavailable ({s})"),
            TransientKind::RateLimited => f.write_str("rate limited"),
            TransientKind::Malformed => f.write_str("malformed answer"),
            TransientKind::Connect => f.write_str("connection failed"),
        }
    }
}

/// What went wrong talking to a network. `detail` never contains a token (it is scrubbed of the
/// tokens of the call and of anything that looks like one) and is at most ~300 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The network refused the grant: `invalid_grant`, a revoked or invalid token, Meta error
    /// 190 (`meta_190`), no refresh possible (`no_refresh_token`). The credential becomes
    /// `reauth_required`; do not retry.
    #[error("the network refused the grant ({code}): {detail}")]
    ReauthRequired { code: String, detail: String },
    /// The network refused this deployment's client, not the grant: `invalid_client`,
    /// `unauthorized_client`, a bare 401 at the token endpoint, Meta error 101. An operator must
    /// fix the network's configuration; every credential keeps its status and failure count,
    /// so the grants work again the moment the configuration does. API answer: 503.
    #[error("the network refused this deployment's client ({code}): {detail}")]
    Misconfigured { code: String, detail: String },
    /// Timeouts, 5xx, 429, malformed answers, connection errors. The credential keeps its
    /// status; retry later (not before `retry_after` when given). API answer: 502/503/504.
    #[error("the network is unavailable ({kind}): {detail}")]
    Transient {
        kind: TransientKind,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// The network refused this request for a reason that says nothing about the grant
    /// (`invalid_request`, `invalid_scope`, a permission error, a redirect, another 4xx):
    /// usually a configuration problem. Not retried automatically, the credential keeps its
    /// status; API answer: 502. `status` is the HTTP status when there was one.
    #[error("the network rejected the request ({code}): {detail}")]
    Rejected {
        status: Option<u16>,
        code: String,
        detail: String,
    },
}

impl ProviderError {
    /// The network refused the grant: it is dead and only the user can renew it.
    pub fn is_reauth(&self) -> bool {
        matches!(self, ProviderError::ReauthRequired { .. })
    }

    /// The network refused this deployment's client configuration, not the grant.
    pub fn is_misconfigured(&self) -> bool {
        matches!(self, ProviderError::Misconfigured { .. })
    }

    /// Worth retrying later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }

    /// The network's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short stable code for logs, audit rows and problem bodies
    /// (`invalid_grant`, `meta_190`, `timeout`, `unavailable`, `rate_limited`, …).
    pub fn code(&self) -> String {
        match self {
            ProviderError::ReauthRequired { code, .. }
            | ProviderError::Misconfigured { code, .. }
            | ProviderError::Rejected { code, .. } => code.clone(),
            ProviderError::Transient { kind, .. } => match kind {
                TransientKind::Timeout => "timeout",
                TransientKind::Unavailable(_) => "unavailable",
                TransientKind::RateLimited => "rate_limited",
                TransientKind::Malformed => "malformed",
                TransientKind::Connect => "connect",
            }
            .to_owned(),
        }
    }

    pub(crate) fn reauth(code: &str, detail: impl Into<String>) -> Self {
        ProviderError::ReauthRequired {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn misconfigured(code: &str, detail: impl Into<String>) -> Self {
        ProviderError::Misconfigured {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    pub(crate) fn transient(kind: TransientKind, detail: impl Into<String>) -> Self {
        ProviderError::Transient {
            kind,
            retry_after: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        Self::transient(TransientKind::Malformed, detail)
    }
}

/// Where the failing call went: the token endpoint (exchange, refresh, extension grants), a
/// resource (identity) or the revocation endpoint. A bare 401 means a bad client at the token
/// endpoint and a bad access token elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallSite {
    Token,
    Refresh,
    Resource,
    Revocation,
    /// A token introspection endpoint: the client (or Meta's app token) authenticates there,
    /// so a bare 401 is the client's, as at the token endpoint.
    Introspection,
}

/// Error codes (RFC 6749 §5.2, RFC 6750 §3.1 and network-specific) that mean the grant is dead.
const REAUTH_CODES: &[&str] = &[
    "invalid_grant",
    "invalid_token",
    "token_revoked",
    "revoked",
    "access_token_invalid",
    "access_token_expired",
    "access_token_revoked",
    "refresh_token_invalid",
    "refresh_token_expired",
    "refresh_token_revoked",
];
/// Error codes (RFC 6749 §5.2) that refuse the client, whatever the grant: a wrong secret, a
/// client id the network does not know, a grant type the app may not use. Treating them as a
/// dead grant would turn one deployment mistake into every customer's re-authorization.
const CLIENT_CODES: &[&str] = &["invalid_client", "unauthorized_client"];
const UNAVAILABLE_CODES: &[&str] = &["temporarily_unavailable", "server_error", "internal_error"];
const RATE_CODES: &[&str] = &[
    "slow_down",
    "rate_limit_exceeded",
    "too_many_requests",
    "rate_limited",
];

/// The error a network put in its body, in whichever of the known shapes.
#[derive(Debug, Default)]
pub(crate) struct BodyError {
    /// RFC 6749 `error`, TikTok `error.code`, Google `error.status` — lowercased.
    pub code: Option<String>,
    /// Meta / Pinterest numeric `code`.
    pub numeric: Option<i64>,
    pub detail: String,
    pub transient_hint: bool,
}

/// Read the error out of a JSON body, if it carries one. TikTok answers successes with
/// `"error": {"code": "ok"}`, which is not an error.
pub(crate) fn body_error(json: &Value) -> Option<BodyError> {
    // A network's code is stored (the credential's reason, audit events),
    // and PostgreSQL stores no U+0000 in text.
    let text = |v: Option<&Value>| super::without_nul(v.and_then(Value::as_str).unwrap_or(""));
    match json.get("error") {
        Some(Value::String(code)) => Some(BodyError {
            code: Some(super::without_nul(code).to_ascii_lowercase()),
            numeric: None,
            detail: text(
                json.get("error_description")
                    .or_else(|| json.get("message")),
            ),
            transient_hint: false,
        }),
        Some(Value::Object(obj)) => {
            let code_str = obj
                .get("code")
                .and_then(Value::as_str)
                .map(|c| super::without_nul(c).to_ascii_lowercase());
            if code_str.as_deref() == Some("ok") || code_str.as_deref() == Some("") {
                return None;
            }
            let numeric = obj.get("code").and_then(Value::as_i64);
            let status = obj
                .get("status")
                .and_then(Value::as_str)
                .map(|c| super::without_nul(c).to_ascii_lowercase());
            Some(BodyError {
                code: code_str.or(status),
                numeric,
                detail: text(obj.get("message")),
                transient_hint: obj
                    .get("is_transient")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        }
        _ => None,
    }
}

/// Classify a non-success answer (or a 2xx answer that carries an error in its body).
pub(crate) fn classify_answer(
    site: CallSite,
    meta: bool,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> ProviderError {
    let retry_after = parse_retry_after(headers, Utc::now());
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let err = json.as_ref().and_then(body_error);
    let detail_of = |e: &Option<BodyError>| {
        let d = e.as_ref().map(|e| e.detail.as_str()).unwrap_or("");
        let d = if d.is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {d}", status.as_u16())
        };
        sanitize_detail(&d, secrets)
    };
    let detail = detail_of(&err);

    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::Transient {
            kind: TransientKind::RateLimited,
            retry_after,
            detail,
        };
    }
    if status.is_server_error() {
        return ProviderError::Transient {
            kind: TransientKind::Unavailable(status.as_u16()),
            retry_after,
            detail,
        };
    }
    if status.is_redirection() {
        return ProviderError::Rejected {
            status: Some(status.as_u16()),
            code: "redirect".into(),
            detail: format!(
                "HTTP {}: the network redirected; redirects are not followed",
                status.as_u16()
            ),
        };
    }
    if let Some(e) = &err
        && let Some(classified) = classify_body_error(site, meta, status, e, retry_after, &detail)
    {
        return classified;
    }
    if status == StatusCode::UNAUTHORIZED {
        // At the token endpoint a bare 401 is client authentication failing (RFC 6749 §5.2);
        // elsewhere it is the access token.
        return match site {
            CallSite::Token | CallSite::Refresh | CallSite::Introspection => {
                ProviderError::misconfigured("invalid_client", detail)
            }
            CallSite::Resource | CallSite::Revocation => {
                ProviderError::reauth("invalid_token", detail)
            }
        };
    }
    if status.is_success() && err.is_none() {
        return ProviderError::malformed(detail);
    }
    let code = err
        .and_then(|e| e.code.or(e.numeric.map(|n| format!("error_{n}"))))
        .unwrap_or_else(|| format!("http_{}", status.as_u16()));
    ProviderError::Rejected {
        status: Some(status.as_u16()),
        code,
        detail,
    }
}

/// What an error named in the body says, when it says enough: Meta's numeric
/// codes first, then a transient hint, then the OAuth and networks' codes.
/// `None` leaves the answer to its bare status.
fn classify_body_error(
    site: CallSite,
    meta: bool,
    status: StatusCode,
    e: &BodyError,
    retry_after: Option<Duration>,
    detail: &str,
) -> Option<ProviderError> {
    let transient = |kind| ProviderError::Transient {
        kind,
        retry_after,
        detail: detail.to_owned(),
    };
    if let Some(n) = e.numeric
        && (meta || n == 190)
    {
        // Meta answers a wrong app secret with code 1 and "Error validating client
        // secret" (as developers report it; not reproduced against Meta here), and an
        // unknown app id with 101: both are the deployment's, not the grant's.
        if n == 101 || (n == 1 && e.detail.to_ascii_lowercase().contains("client secret")) {
            return Some(ProviderError::misconfigured(&format!("meta_{n}"), detail));
        }
        match n {
            190 | 102 => return Some(ProviderError::reauth(&format!("meta_{n}"), detail)),
            4 | 17 | 32 | 613 | 80001..=80009 => {
                return Some(transient(TransientKind::RateLimited));
            }
            1 | 2 => return Some(transient(TransientKind::Unavailable(status.as_u16()))),
            _ => {}
        }
    }
    if e.transient_hint {
        return Some(transient(TransientKind::Unavailable(status.as_u16())));
    }
    let code = e.code.as_deref()?;
    if REAUTH_CODES.contains(&code) {
        return Some(ProviderError::reauth(code, detail));
    }
    if CLIENT_CODES.contains(&code) {
        return Some(ProviderError::misconfigured(code, detail));
    }
    if code == "unauthenticated" && site != CallSite::Revocation {
        return Some(ProviderError::reauth("invalid_token", detail));
    }
    if UNAVAILABLE_CODES.contains(&code) {
        return Some(transient(TransientKind::Unavailable(status.as_u16())));
    }
    if RATE_CODES.contains(&code) {
        return Some(transient(TransientKind::RateLimited));
    }
    // X answers a spent or unknown refresh token with `invalid_request` and
    // "Value passed for the token was invalid."
    if site == CallSite::Refresh
        && code == "invalid_request"
        && e.detail.to_ascii_lowercase().contains("token was invalid")
    {
        return Some(ProviderError::reauth("invalid_grant", detail));
    }
    None
}

/// Classify a transport failure. The error's URL is dropped (it may carry a token).
pub(crate) fn classify_transport(err: reqwest::Error, secrets: &[&str]) -> ProviderError {
    let kind = if err.is_timeout() {
        TransientKind::Timeout
    } else if err.is_connect() {
        TransientKind::Connect
    } else if err.is_decode() || err.is_body() {
        TransientKind::Malformed
    } else {
        TransientKind::Connect
    };
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ProviderError::transient(kind, sanitize_detail(&text, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(site: CallSite, meta: bool, status: u16, body: Value) -> ProviderError {
        classify_answer(
            site,
            meta,
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            &[],
        )
    }

    /// Whose fault it is decides the class: the client's configuration is
    /// never a verdict on the grant.
    #[test]
    fn a_refused_client_is_misconfiguration_not_a_dead_grant() {
        use serde_json::json;
        let misconfigured = [
            classify(
                CallSite::Refresh,
                false,
                401,
                json!({"error": "invalid_client"}),
            ),
            classify(
                CallSite::Token,
                false,
                400,
                json!({"error": "unauthorized_client"}),
            ),
            classify(CallSite::Refresh, false, 401, json!({})),
            classify(CallSite::Token, false, 401, json!("Unauthorized")),
            classify(
                CallSite::Refresh,
                true,
                400,
                json!({"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}}),
            ),
            classify(
                CallSite::Token,
                true,
                400,
                json!({"error": {"message": "Error validating application.", "type": "OAuthException", "code": 101}}),
            ),
        ];
        for error in &misconfigured {
            assert!(error.is_misconfigured(), "{error:?}");
            assert!(!error.is_reauth(), "{error:?}");
        }
        for (site, status, body) in [
            (CallSite::Refresh, 400, json!({"error": "invalid_grant"})),
            (CallSite::Resource, 401, json!({})),
            (
                CallSite::Refresh,
                400,
                json!({"error": {"code": 190, "message": "expired"}}),
            ),
        ] {
            let error = classify(site, true, status, body);
            assert!(error.is_reauth(), "{error:?}");
        }
        let other = classify(
            CallSite::Refresh,
            true,
            500,
            json!({"error": {"code": 1, "message": "An unknown error occurred"}}),
        );
        assert!(other.is_transient(), "{other:?}");
    }
}
