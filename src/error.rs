//! The one error type of the service. Every layer returns [`Error`]; the
//! HTTP layer's problem table (`api::problem`) alone decides statuses, `type`
//! URIs and what a client may read.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::plan::Plan;

/// One field-level validation failure.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the offending member of the request body;
    /// absent when the failure is about a query or path parameter.
    #[schema(max_length = 1024, example = "/name")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the offending query or path parameter; absent for body members.
    #[schema(max_length = 64, example = "limit")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// What is wrong with the value, in English.
    #[schema(max_length = 1000, example = "must be between 1 and 100")]
    pub detail: String,
}

/// The longest `FieldError.pointer` and `FieldError.detail` (the documented
/// `maxLength`s): texts that quote a client's input are cut.
const MAX_POINTER: usize = 1024;
const MAX_FIELD_DETAIL: usize = 1000;

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
pub fn clip(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

impl FieldError {
    pub fn body(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: Some(clip(pointer.into(), MAX_POINTER)),
            parameter: None,
            detail: clip(detail.into(), MAX_FIELD_DETAIL),
        }
    }

    pub fn parameter(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.into()),
            detail: clip(detail.into(), MAX_FIELD_DETAIL),
        }
    }
}

/// Every failure the service can answer with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is syntactically malformed (e.g. JSON that does not parse).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request is well-formed but some values are not acceptable.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// No valid bearer token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The token lacks the scope a route needs.
    #[error("insufficient scope: {0} required")]
    InsufficientScope(&'static str),
    /// The token is restricted to some brands (its `brands` claim) and the
    /// operation acts on the whole organization.
    #[error("an organization-wide token is required")]
    BrandRestricted,
    /// The organization's plan does not allow this.
    #[error("plan limit reached: {detail}")]
    PlanLimit {
        detail: String,
        required_plan: Option<Plan>,
    },
    /// Nothing with this id exists for the caller (including other tenants' ids).
    #[error("not found: {0}")]
    NotFound(String),
    /// The path exists but not with this method; the methods it serves go in `Allow`.
    #[error("method not allowed")]
    MethodNotAllowed { allowed: Vec<&'static str> },
    /// The request conflicts with the current state (e.g. a duplicate name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The OAuth `state` is unknown, expired, used, or for another network.
    #[error("invalid OAuth state: {0}")]
    InvalidState(String),
    /// The network rejected a grant the client presented (e.g. an import).
    #[error("grant rejected by the network: {0}")]
    GrantRejected(String),
    /// The re-authorized identity is not the account's profile.
    #[error("identity mismatch: {0}")]
    IdentityMismatch(String),
    /// A network failed transiently or answered something unusable.
    #[error("network {network}: {detail}")]
    Upstream {
        network: String,
        kind: UpstreamKind,
        detail: String,
        retry_after: Duration,
    },
    /// The network refused this deployment's client configuration (a wrong client secret or
    /// id): an operator must fix it. No credential was changed.
    #[error("network {network} refuses this deployment's client ({code}): {detail}")]
    NetworkMisconfigured {
        network: String,
        code: String,
        detail: String,
    },
    /// Another request with this `Idempotency-Key` is still being answered.
    #[error("idempotency key in flight")]
    IdempotencyInFlight,
    /// This `Idempotency-Key` was used for a different request.
    #[error("idempotency key reused for another request")]
    IdempotencyMismatch,
    /// Another instance is refreshing this credential and did not finish in time.
    #[error("refresh in progress")]
    RefreshBusy { retry_after: Duration },
    /// The account's grant is dead: only its owner can renew it.
    #[error("reauthorization required: {detail}")]
    ReauthorizationRequired { detail: String, renew_href: String },
    /// A single-use link that was used or expired.
    #[error("link gone: {0}")]
    Gone(String),
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The database refused a text as it is encoded (PostgreSQL stores no
    /// U+0000): the request's fault, never a server fault.
    #[error("text the database cannot store: {0}")]
    UnstorableText(String),
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    /// A dependency (the database) is not available right now.
    #[error("service unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// A bug or an unexpected fault. Logged with its cause; the client learns nothing.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// How a network failed, which decides 502, 503 or 504.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Bad, malformed or unexpected answer, or no connection: 502.
    BadGateway,
    /// The network says it is unavailable or rate-limits us: 503.
    Unavailable,
    /// The network did not answer in time: 504.
    Timeout,
}

impl Error {
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Error::NotFound(format!("no {what} with id {id}"))
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(anyhow::anyhow!("{message}"))
    }

    /// The same error for another caller (one refresh answers every caller
    /// that waited for it): every kind is kept; an internal cause is carried
    /// as its text.
    pub fn for_another_caller(&self) -> Self {
        match self {
            Error::BadRequest(d) => Error::BadRequest(d.clone()),
            Error::Validation(v) => Error::Validation(v.clone()),
            Error::Unauthorized(d) => Error::Unauthorized(d.clone()),
            Error::InsufficientScope(s) => Error::InsufficientScope(s),
            Error::BrandRestricted => Error::BrandRestricted,
            Error::PlanLimit {
                detail,
                required_plan,
            } => Error::PlanLimit {
                detail: detail.clone(),
                required_plan: *required_plan,
            },
            Error::NotFound(d) => Error::NotFound(d.clone()),
            Error::MethodNotAllowed { allowed } => Error::MethodNotAllowed {
                allowed: allowed.clone(),
            },
            Error::Conflict(d) => Error::Conflict(d.clone()),
            Error::InvalidState(d) => Error::InvalidState(d.clone()),
            Error::GrantRejected(d) => Error::GrantRejected(d.clone()),
            Error::IdentityMismatch(d) => Error::IdentityMismatch(d.clone()),
            Error::Upstream {
                network,
                kind,
                detail,
                retry_after,
            } => Error::Upstream {
                network: network.clone(),
                kind: *kind,
                detail: detail.clone(),
                retry_after: *retry_after,
            },
            Error::NetworkMisconfigured {
                network,
                code,
                detail,
            } => Error::NetworkMisconfigured {
                network: network.clone(),
                code: code.clone(),
                detail: detail.clone(),
            },
            Error::IdempotencyInFlight => Error::IdempotencyInFlight,
            Error::IdempotencyMismatch => Error::IdempotencyMismatch,
            Error::RefreshBusy { retry_after } => Error::RefreshBusy {
                retry_after: *retry_after,
            },
            Error::ReauthorizationRequired { detail, renew_href } => {
                Error::ReauthorizationRequired {
                    detail: detail.clone(),
                    renew_href: renew_href.clone(),
                }
            }
            Error::Gone(d) => Error::Gone(d.clone()),
            Error::PayloadTooLarge(n) => Error::PayloadTooLarge(*n),
            Error::UnsupportedMediaType(d) => Error::UnsupportedMediaType(d.clone()),
            Error::UnstorableText(d) => Error::UnstorableText(d.clone()),
            Error::RateLimited { retry_after } => Error::RateLimited {
                retry_after: *retry_after,
            },
            Error::Unavailable {
                detail,
                retry_after,
            } => Error::Unavailable {
                detail: detail.clone(),
                retry_after: *retry_after,
            },
            Error::Internal(cause) => Error::internal(format!("{cause:#}")),
        }
    }
}

/// libpq's and PostgreSQL's words for a server that went away or is not
/// taking connections: an outage to wait out, never a fault of the request.
fn is_connection_loss(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "no connection to the server",
        "server closed the connection",
        "terminating connection",
        "connection refused",
        "could not connect",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "connection to server",
    ]
    .iter()
    .any(|words| message.contains(words))
}

/// PostgreSQL's words for text it cannot store as it is encoded: U+0000 in
/// `text` ("invalid byte sequence for encoding \"UTF8\": 0x00") or in
/// `jsonb` ("unsupported Unicode escape sequence"), and characters its
/// encoding lacks.
fn is_encoding_refusal(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "invalid byte sequence for encoding",
        "null character not permitted",
        "unsupported unicode escape sequence",
        "has no equivalent in encoding",
    ]
    .iter()
    .any(|words| message.contains(words))
}

/// SQLite's messages for `SQLITE_BUSY` and `SQLITE_LOCKED`.
pub fn is_sqlite_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match error {
            D::NotFound => Error::NotFound("no such resource".into()),
            D::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::debug!(message = info.message(), "unique violation");
                Error::Conflict("a resource with the same unique values already exists".into())
            }
            D::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::debug!(message = info.message(), "foreign key violation");
                Error::Conflict("the resource is referenced by or refers to another one".into())
            }
            D::DatabaseError(kind, info)
                if matches!(
                    kind,
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
                ) || is_connection_loss(info.message()) =>
            {
                tracing::warn!(message = info.message(), "the database connection failed");
                Error::Unavailable {
                    detail: "the database connection was lost".into(),
                    retry_after: Some(Duration::from_secs(1)),
                }
            }
            // SQLite's writer lock still taken after every wait: an overload
            // to retry, never a fault of the request.
            D::DatabaseError(_, info) if is_sqlite_busy(info.message()) => {
                tracing::warn!(message = info.message(), "the database stayed busy");
                Error::Unavailable {
                    detail: "the database is busy".into(),
                    retry_after: Some(Duration::from_secs(1)),
                }
            }
            D::DatabaseError(_, info) if is_encoding_refusal(info.message()) => {
                tracing::info!(message = info.message(), "the database refused a text");
                Error::UnstorableText(
                    "a text holds a character the database cannot store (such as U+0000)".into(),
                )
            }
            other => Error::Internal(anyhow::Error::new(other).context("database error")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(%error, "no database connection available");
        Error::Unavailable {
            detail: "the database is not reachable right now".into(),
            retry_after: Some(Duration::from_secs(2)),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
