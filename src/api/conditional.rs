//! Conditional answers for the reads front ends poll (the Expired Tokens
//! badge and dropdown, Manage Accounts): a strong `ETag` over the exact
//! bytes of the answer, and 304 with no body when the client's
//! `If-None-Match` names it. The tag is computed from the answer itself (and,
//! for a token restricted to some brands, those brands), so it can never
//! vouch for a status the clock or a write has changed.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, IntoResponses};

use crate::domain::audience::Audience;
use crate::error::{Error, FieldError};

/// The strong entity tag of a body: a quoted hash of its bytes.
pub fn etag_of(body: &[u8]) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(&etag_text(body)).map_err(Error::internal)
}

/// The tag of a body answered to `audience`: for a token restricted to some
/// brands the hash also covers those brands, so that two audiences never
/// share a tag even when their answers' bytes are equal (an empty list).
pub fn etag_for(audience: &Audience, body: &[u8]) -> Result<HeaderValue, Error> {
    if audience.is_whole_organization() {
        return etag_of(body);
    }
    let mut tagged = audience.key().into_bytes();
    tagged.push(b'\n');
    tagged.extend_from_slice(body);
    etag_of(&tagged)
}

fn etag_text(body: &[u8]) -> String {
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
/// `responses(…, NotModified, …)`. Its 200 gets the `ETag` header from
/// `api::finish_document`.
#[derive(IntoResponses)]
#[response(
    status = 304,
    description = "Not modified: the `ETag` in `If-None-Match` is still the answer (no body).",
    headers(("ETag" = String, description = "The tag, unchanged."))
)]
pub struct NotModified;

/// 422 when `If-None-Match` is longer than documented.
pub fn check_if_none_match(req: &HttpRequest) -> Result<(), Error> {
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
    Ok(())
}

/// One representation of an answer: its bytes, their tag, and the content
/// coding they are in (`None`: as is).
#[derive(Clone)]
pub struct Representation {
    pub etag: HeaderValue,
    pub body: Bytes,
    pub coding: Option<&'static str>,
}

/// 200 with the representation (JSON), or 304 when the client has its tag.
/// Each coding has its own strong tag, as RFC 9110 §8.8.3 asks.
pub fn respond_with(req: &HttpRequest, answer: Representation) -> HttpResponse {
    // Private: the answer depends on the caller's token. `no-cache`: a cache
    // may keep it but must ask again, which is what the ETag is for.
    let cache = HeaderValue::from_static("private, no-cache");
    let vary = HeaderValue::from_static("accept-encoding");
    if answer.etag.to_str().is_ok_and(|tag| matches(req, tag)) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, answer.etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .append_header((header::VARY, vary))
            .finish();
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type("application/json")
        .insert_header((header::ETAG, answer.etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .append_header((header::VARY, vary));
    if let Some(coding) = answer.coding {
        response.insert_header((header::CONTENT_ENCODING, coding));
    }
    response.body(answer.body)
}

/// Whether the client takes gzip (`Accept-Encoding`, RFC 9110 §12.5.3: a
/// `gzip` or `*` entry whose weight is not 0).
pub fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn if_none_match_is_a_list_compared_weakly() {
        let etag = etag_text(b"{}");
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
        assert_ne!(etag_text(b"{}"), etag_text(b"[]"));
    }

    #[test]
    fn gzip_is_taken_unless_its_weight_is_zero() {
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, value))
                .to_http_request()
        };
        assert!(accepts_gzip(&req("gzip, deflate, br")));
        assert!(accepts_gzip(&req("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&req("*")));
        assert!(!accepts_gzip(&req("gzip;q=0")));
        assert!(!accepts_gzip(&req("br, identity")));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }
}
