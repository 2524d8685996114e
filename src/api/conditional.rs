//! Conditional answers for the reads front ends poll (the Expired Tokens
//! badge and dropdown, Manage Accounts): a strong `ETag` over the exact
//! bytes of the answer, and 304 with no body when the client's
//! `If-None-Match` names it. The tag is computed from the answer itself, so
//! it can never vouch for a status the clock or a write has changed.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, IntoResponses};

use crate::error::{Error, FieldError};

/// The strong entity tag of a body: a quoted hash of its bytes.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(Sha256::digest(body)))
}

/// Whether `If-None-Match` names `etag` (RFC 9110 §13.1.2: `*` or a list,
/// compared weakly, so `W/"x"` matches `"x"`).
fn matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// The longest `If-None-Match` taken (its documented `maxLength`).
const MAX_IF_NONE_MATCH: usize = 1024;

/// The request header of a conditional read: `params(IfNoneMatch, …)`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfNoneMatch {
    /// The `ETag` of the answer you have: 304 with no body when it is still the answer.
    #[param(
        rename = "If-None-Match",
        max_length = 1024,
        example = "\"4Qm0b3BqYVd1bk1fM0h2d0p1Z0NYb1hEV2hBZ3hPbnA\""
    )]
    pub if_none_match: Option<String>,
}

/// The answer of a conditional read whose tag the client has:
/// `responses(…, NotModified, …)`.
#[derive(IntoResponses)]
#[response(
    status = 304,
    description = "Not modified: the `ETag` in `If-None-Match` is still the answer (no body).",
    headers(("ETag" = String, description = "The tag, unchanged."))
)]
pub struct NotModified;

/// 200 with the JSON body and its `ETag`, or 304 when the client has it.
pub fn json<T: Serialize>(req: &HttpRequest, value: &T) -> Result<HttpResponse, Error> {
    if req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .any(|v| v.len() > MAX_IF_NONE_MATCH)
    {
        return Err(Error::Validation(vec![FieldError::parameter(
            "If-None-Match",
            format!("at most {MAX_IF_NONE_MATCH} characters"),
        )]));
    }
    let body = serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("serializing an answer: {e}")))?;
    let etag = etag_of(&body);
    let tag = HeaderValue::from_str(&etag).map_err(Error::internal)?;
    // Private: the answer depends on the caller's token. `no-cache`: a cache
    // may keep it but must ask again, which is what the ETag is for.
    let cache = HeaderValue::from_static("private, no-cache");
    if matches(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(body))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn if_none_match_is_a_list_compared_weakly() {
        let etag = etag_of(b"{}");
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request()
        };
        assert!(matches(&req(&etag), &etag));
        assert!(matches(&req(&format!("\"other\", W/{etag}")), &etag));
        assert!(matches(&req("*"), &etag));
        assert!(!matches(&req("\"other\""), &etag));
        assert!(!matches(&TestRequest::default().to_http_request(), &etag));
        assert_ne!(etag_of(b"{}"), etag_of(b"[]"));
    }
}
