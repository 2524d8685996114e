//! Error answers that many operations share, named once: an operation lists
//! them in `responses(…)` beside its own rows. `api::finish_document` gives
//! every error the problem+json body (and the 429 to every operation that
//! documents a 401); an operation whose answer to a status says more lists
//! that status as its own row instead.

use utoipa::IntoResponses;

/// The bearer token is missing or invalid, or lacks the operation's scope.
#[derive(IntoResponses)]
pub enum AuthErrors {
    /// Missing or invalid bearer token.
    #[response(status = 401)]
    Unauthenticated,
    /// The token lacks the scope the operation needs (see its `security`).
    #[response(status = 403)]
    MissingScope,
}

/// As [`AuthErrors`], for the operations that act on the whole organization:
/// a token restricted to some brands (a `brands` claim) may not call them.
#[derive(IntoResponses)]
pub enum OrganizationAuthErrors {
    /// Missing or invalid bearer token.
    #[response(status = 401)]
    Unauthenticated,
    /// The token lacks the scope the operation needs (see its `security`:
    /// `insufficient-scope`), or is restricted to some brands by a `brands`
    /// claim (`organization-wide-token-required`).
    #[response(status = 403)]
    Forbidden,
}

/// A JSON request body that cannot be read.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// The body is not valid JSON.
    #[response(status = 400)]
    Malformed,
    /// The body is too large.
    #[response(status = 413)]
    TooLarge,
    /// The body is not JSON.
    #[response(status = 415)]
    NotJson,
}

/// A query string that cannot be read, or a filter or page parameter out of bounds.
#[derive(IntoResponses)]
pub enum QueryErrors {
    /// Malformed query string.
    #[response(status = 400)]
    Malformed,
    /// A filter or pagination parameter is invalid.
    #[response(status = 422)]
    Invalid,
}
