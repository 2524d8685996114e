//! The one table from [`Error`] to an RFC 9457 `application/problem+json`
//! answer: status, stable `type` URI, title, and what a client may read.
//! A 500 logs its cause and says nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::plan::Plan;
use crate::error::{Error, FieldError, UpstreamKind, clip};
use crate::telemetry::current_request_id;

/// Base of every problem `type` URI. The URIs are stable identifiers that
/// clients may match on; they are not promised to resolve.
pub const PROBLEM_BASE: &str = "https://tokenwarden.dev/problems/";

/// The longest `Problem.detail` (its documented `maxLength`).
const MAX_DETAIL: usize = 2000;

/// An RFC 9457 problem document, the body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://tokenwarden.dev/problems/not-found",
    "title": "Not found",
    "status": 404,
    "detail": "no brand with id 0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10",
    "request_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b11"
}))]
pub struct Problem {
    /// Stable URI identifying the kind of problem; match on this, not on `title`.
    #[schema(
        format = "uri",
        max_length = 200,
        example = "https://tokenwarden.dev/problems/not-found"
    )]
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, human-readable summary of the kind of problem.
    #[schema(max_length = 100, example = "Not found")]
    pub title: String,
    /// The HTTP status code of this answer.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Human-readable explanation of this occurrence.
    #[schema(max_length = 2000)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id (also in the `X-Request-Id` header); quote it when reporting a problem.
    #[schema(max_length = 128, pattern = "^[A-Za-z0-9._:-]+$")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field-level details of a validation failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For `plan-limit-reached`: the cheapest plan that allows the action, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_plan: Option<Plan>,
    /// For `insufficient-scope`: the scope the route needs.
    #[schema(max_length = 64, example = "accounts:write")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// Seconds after which the request may be retried (also in `Retry-After`).
    #[schema(minimum = 1, example = 5)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For `network-misconfigured`: the configured name of the network that refuses this
    /// deployment's client.
    #[schema(max_length = 64, example = "x")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// For `reauthorization-required`: the path to `POST` to renew the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        max_length = 200,
        example = "/v1/brands/0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12/accounts/0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13/renew"
    )]
    pub renew_href: Option<String>,
}

/// The table, as functions of the error: kept apart from `Error` because
/// statuses are HTTP's business.
pub trait AsProblem {
    fn classify(&self) -> (StatusCode, &'static str, &'static str);
    fn retry_after(&self) -> Option<u64>;
    fn problem(&self) -> Problem;
}

impl AsProblem for Error {
    /// `(status, type slug, title)`: the table from error to answer.
    #[expect(
        clippy::too_many_lines,
        reason = "the one table from error to status: one arm per error variant, read top to bottom"
    )]
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Error::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            Error::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid bearer token",
            ),
            Error::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                "insufficient-scope",
                "Insufficient scope",
            ),
            Error::BrandRestricted => (
                StatusCode::FORBIDDEN,
                "organization-wide-token-required",
                "This operation needs a token without `brands`",
            ),
            Error::PlanLimit { .. } => (
                StatusCode::FORBIDDEN,
                "plan-limit-reached",
                "Plan limit reached",
            ),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Error::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Error::InvalidState(_) => (
                StatusCode::BAD_REQUEST,
                "invalid-oauth-state",
                "Invalid OAuth state",
            ),
            Error::GrantRejected(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "grant-rejected",
                "The network rejected the grant",
            ),
            Error::IdentityMismatch(_) => (
                StatusCode::CONFLICT,
                "identity-mismatch",
                "The authorized identity is not this account's profile",
            ),
            Error::Upstream { kind, .. } => match kind {
                UpstreamKind::BadGateway => (
                    StatusCode::BAD_GATEWAY,
                    "network-error",
                    "The network answered with an error",
                ),
                UpstreamKind::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "network-unavailable",
                    "The network is unavailable",
                ),
                UpstreamKind::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "network-timeout",
                    "The network did not answer in time",
                ),
            },
            Error::NetworkMisconfigured { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "network-misconfigured",
                "The network refuses this deployment's client configuration",
            ),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Error::IdempotencyInFlight => (
                StatusCode::CONFLICT,
                "idempotency-key-in-flight",
                "A request with this Idempotency-Key is in flight",
            ),
            Error::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused for another request",
            ),
            Error::RefreshBusy { .. } => (
                StatusCode::CONFLICT,
                "refresh-in-progress",
                "A refresh of this token is in progress",
            ),
            Error::Gone(_) => (StatusCode::GONE, "link-gone", "Link used or expired"),
            Error::ReauthorizationRequired { .. } => (
                StatusCode::CONFLICT,
                "reauthorization-required",
                "The account needs a re-authorization",
            ),
            Error::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            Error::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Error::UnstorableText(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unstorable-text",
                "The request holds text that cannot be stored",
            ),
            Error::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            Error::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
            ),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal server error",
            ),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        // Never ask a client to wait longer than a network may make us wait.
        let most = crate::providers::MAX_RETRY_AFTER.as_secs();
        let seconds = match self {
            Error::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            Error::Unavailable {
                retry_after: Some(d),
                ..
            } => Some(d.as_secs().max(1)),
            Error::Upstream { retry_after, .. } | Error::RefreshBusy { retry_after } => {
                Some(retry_after.as_secs().max(1))
            }
            Error::IdempotencyInFlight => Some(1),
            // Only an operator can fix it; a client may look again later.
            Error::NetworkMisconfigured { .. } => Some(60),
            _ => None,
        };
        seconds.map(|s| s.min(most))
    }

    /// The problem document a client receives for this error.
    fn problem(&self) -> Problem {
        let (status, slug, title) = self.classify();
        let detail = match self {
            Error::BadRequest(d)
            | Error::Unauthorized(d)
            | Error::NotFound(d)
            | Error::Conflict(d)
            | Error::UnsupportedMediaType(d)
            | Error::UnstorableText(d)
            | Error::InvalidState(d)
            | Error::GrantRejected(d)
            | Error::IdentityMismatch(d)
            | Error::Gone(d) => Some(d.clone()),
            Error::IdempotencyInFlight => Some(
                "a request with this Idempotency-Key is still being answered; retry shortly".into(),
            ),
            Error::IdempotencyMismatch => {
                Some("this Idempotency-Key was used for a different request; use a new key".into())
            }
            Error::RefreshBusy { .. } => Some(
                "another instance is refreshing this token; retry after the given delay".into(),
            ),
            Error::Upstream {
                network, detail, ..
            } => Some(format!("{network}: {detail}")),
            Error::NetworkMisconfigured { network, code, .. } => Some(format!(
                "{network} refuses this deployment's client credentials ({code}); an operator \
                 must fix the network's configuration. No token was changed: the account \
                 needs no re-authorization."
            )),
            Error::Validation(_) => Some("the request has invalid values; see `errors`".into()),
            Error::InsufficientScope(scope) => {
                Some(format!("this operation needs the `{scope}` scope"))
            }
            Error::BrandRestricted => Some(
                "this token is restricted to some brands (its `brands` claim); this operation \
                 acts on the whole organization and needs a token without `brands`"
                    .into(),
            ),
            Error::PlanLimit { detail, .. } | Error::ReauthorizationRequired { detail, .. } => {
                Some(detail.clone())
            }
            Error::MethodNotAllowed { allowed } => {
                Some(format!("this path answers only {}", allowed.join(", ")))
            }
            Error::PayloadTooLarge(limit) => {
                Some(format!("the request body exceeds {limit} bytes"))
            }
            Error::RateLimited { .. } => {
                Some("the organization's request budget is spent; retry later".into())
            }
            Error::Unavailable { detail, .. } => Some(detail.clone()),
            Error::Internal(_) => None,
        };
        Problem {
            type_uri: format!("{PROBLEM_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.map(|d| clip(d, MAX_DETAIL)),
            request_id: current_request_id(),
            errors: match self {
                Error::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            required_plan: match self {
                Error::PlanLimit { required_plan, .. } => *required_plan,
                _ => None,
            },
            required_scope: match self {
                Error::InsufficientScope(scope) => Some((*scope).to_string()),
                _ => None,
            },
            retry_after: self.retry_after(),
            network: match self {
                Error::NetworkMisconfigured { network, .. } => Some(network.clone()),
                _ => None,
            },
            renew_href: match self {
                Error::ReauthorizationRequired { renew_href, .. } => Some(renew_href.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
            }
            Error::Unavailable { detail, .. } => {
                tracing::warn!(%detail, "dependency unavailable");
            }
            Error::Upstream {
                network, detail, ..
            } => {
                tracing::warn!(%network, %detail, "network call failed");
            }
            Error::NetworkMisconfigured {
                network, detail, ..
            } => {
                tracing::error!(%network, %detail, "the network refuses this deployment's client");
            }
            _ => {}
        }
        let problem = self.problem();
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(seconds) = problem.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Error::MethodNotAllowed { allowed } = self
            && let Ok(value) = HeaderValue::from_str(&allowed.join(", "))
        {
            response.insert_header((header::ALLOW, value));
        }
        if let Error::Unauthorized(_) = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            ));
        }
        if let Error::InsufficientScope(scope) = self {
            let value = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// One refresh answers every caller that waited for it: each caller's
    /// copy of the error must answer what the original answers.
    #[test]
    fn an_error_shared_with_another_caller_keeps_its_answer() {
        let errors = [
            Error::Unavailable {
                detail: "the database is not reachable right now".into(),
                retry_after: Some(Duration::from_secs(2)),
            },
            Error::Upstream {
                network: "x".into(),
                kind: UpstreamKind::Timeout,
                detail: "slow".into(),
                retry_after: Duration::from_secs(5),
            },
            Error::RefreshBusy {
                retry_after: Duration::from_secs(2),
            },
            Error::NotFound("no credential".into()),
            Error::NetworkMisconfigured {
                network: "x".into(),
                code: "invalid_client".into(),
                detail: "HTTP 401".into(),
            },
            Error::Conflict("taken".into()),
            Error::UnstorableText("NUL".into()),
            Error::internal("a bug"),
        ];
        for error in &errors {
            let copy = error.for_another_caller();
            assert_eq!(copy.classify(), error.classify(), "{error:?}");
            assert_eq!(copy.retry_after(), error.retry_after(), "{error:?}");
            assert_eq!(copy.problem().detail, error.problem().detail, "{error:?}");
        }
        assert_eq!(
            errors[0].for_another_caller().classify().0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
