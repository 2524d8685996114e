//! Request extractors that answer problem+json on every failure: a JSON body
//! reader with a size bound, strict typing and validation, and the error
//! handlers for actix's own path and query extractors.

use std::future::{Future, Ready, ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::auth::{JwtVerifier, Principal, Scope};
use crate::error::{Error, FieldError};

/// The largest accepted request body, stored in app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body, deserialized strictly (unknown fields are rejected by
/// the DTOs' `deny_unknown_fields`) and validated.
///
/// Malformed JSON answers 400; a body that parses but has wrong, missing or
/// unknown members, or values out of bounds, answers 422 with a JSON Pointer
/// per member; an oversized body 413; another content type 415.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for Json<T> {
    type Error = Error;
    type Future = Reading<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let reading = read_body(req, payload, false);
        Box::pin(async move { Ok(Json(valid_json(&reading.await?)?)) })
    }
}

/// An optional JSON body (an empty body is `None`), with the raw bytes kept
/// for idempotency fingerprints.
#[derive(Debug)]
pub struct OptionalJson<T> {
    pub value: Option<T>,
    pub raw: web::Bytes,
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for OptionalJson<T> {
    type Error = Error;
    type Future = Reading<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let reading = read_body(req, payload, true);
        Box::pin(async move {
            let raw = reading.await?;
            let value = if raw.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(valid_json(&raw)?)
            };
            Ok(OptionalJson { value, raw })
        })
    }
}

/// A body extractor's future: the body read, then made into the extractor.
type Reading<T> = Pin<Box<dyn Future<Output = Result<T, Error>>>>;

/// A body parsed strictly and validated.
fn valid_json<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Error> {
    let value = parse_json::<T>(body)?;
    value.validate().map_err(validation_error)?;
    Ok(value)
}

/// Reads a bounded JSON body. With `optional`, an empty body needs no content type.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    optional: bool,
) -> impl Future<Output = Result<web::Bytes, Error>> + 'static {
    let limit = req
        .app_data::<BodyLimit>()
        .map(|l| l.0)
        .unwrap_or(64 * 1024);
    let content_type_ok = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if let Some(length) = declared_length
            && length > limit
        {
            return Err(Error::PayloadTooLarge(limit));
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| Error::BadRequest(format!("reading the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(Error::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        let empty = body.iter().all(u8::is_ascii_whitespace);
        match content_type_ok {
            Some(true) => {}
            _ if optional && empty => {}
            Some(false) => {
                return Err(Error::UnsupportedMediaType(
                    "the request body must be application/json".into(),
                ));
            }
            None => {
                return Err(Error::UnsupportedMediaType(
                    "a Content-Type: application/json request body is required".into(),
                ));
            }
        }
        Ok(body.freeze())
    }
}

/// Parses a JSON body: syntax errors are 400, shape errors 422 with a pointer.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    // Syntax first, so that a truncated document is a 400 and not a 422.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(Error::BadRequest(format!(
            "the body is not valid JSON: {e}"
        )));
    }
    if let Some(pointer) = nul_pointer(body) {
        return Err(Error::Validation(vec![FieldError::body(
            pointer,
            NUL_REFUSED,
        )]));
    }
    // Every request body of this API is an object; serde would read a struct
    // from an array (`[null, null]`) too, so the shape is checked first.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::Validation(vec![FieldError::body(
            "",
            "the body must be a JSON object",
        )]));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let pointer = json_pointer(e.path());
        let inner = e.into_inner().to_string();
        // serde_json appends " at line L column C"; the pointer says where.
        let detail = match inner.rfind(" at line ") {
            Some(i) => inner[..i].to_string(),
            None => inner,
        };
        Error::Validation(vec![FieldError::body(pointer, detail)])
    })
}

/// Why a text with U+0000 is refused. PostgreSQL stores no NUL in text
/// (SQLite would), so no text a client sends may hold one, on either backend
/// (docs/rules.md#api-conventions).
pub const NUL_REFUSED: &str = "must not contain U+0000 (NUL)";

/// The JSON Pointer of the first string (or member name) of a syntactically
/// valid body that holds U+0000, if any. JSON can only spell it `\u0000`, so
/// a body without those six bytes is not walked.
fn nul_pointer(body: &[u8]) -> Option<String> {
    fn walk(value: &serde_json::Value, pointer: &mut String) -> bool {
        use serde_json::Value;
        let depth = pointer.len();
        let found = match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                pointer.truncate(depth);
                pointer.push_str(&format!("/{i}"));
                walk(item, pointer)
            }),
            Value::Object(members) => members.iter().any(|(name, member)| {
                pointer.truncate(depth);
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                name.contains('\0') || walk(member, pointer)
            }),
            _ => false,
        };
        if !found {
            pointer.truncate(depth);
        }
        found
    }
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut pointer = String::new();
    walk(&value, &mut pointer).then_some(pointer)
}

/// `deserialize_with` helpers for integer members: JSON Schema's `integer` is
/// any number with a zero fractional part, so `10.0` is read as `10` (and
/// `10.5`, or a value out of the target type's range, is an error).
pub mod integer {
    use serde::de::{self, Deserializer, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    struct IntegerVisitor<T>(PhantomData<T>);

    impl<T: TryFrom<i128>> Visitor<'_> for IntegerVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(i128::from(v)).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(i128::from(v)).map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            // Integral and within ±1e30, so the cast is exact; every target type is narrower.
            if v.fract() != 0.0 || !v.is_finite() || v.abs() > 1.0e30 {
                return Err(E::invalid_type(de::Unexpected::Float(v), &self));
            }
            let n = v as i128;
            T::try_from(n).map_err(|_| E::custom(format!("{v} is out of range")))
        }
    }

    /// For `T` members.
    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(IntegerVisitor(PhantomData))
    }

    /// For `Option<T>` members (with `#[serde(default)]`); `null` is `None`.
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        struct Opt<T>(PhantomData<T>);
        impl<'de, T: TryFrom<i128>> Visitor<'de> for Opt<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                required(d).map(Some)
            }
        }
        d.deserialize_option(Opt(PhantomData))
    }
}

/// ECMAScript's `\s` (WhiteSpace and LineTerminator), the class JSON Schema's
/// `pattern` uses: Rust's `char::is_whitespace` differs (U+0085, U+FEFF).
pub fn is_ecma_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// The `pattern` of a text member that must contain a visible character: one
/// character outside [`is_ecma_space`], spelled out so that every regex
/// dialect (ECMAScript, Python, …) reads the same class, and no U+0000
/// ([`NUL_REFUSED`]).
pub const NOT_BLANK_PATTERN: &str = "^[^\\u0000]*[^\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff\\u0000][^\\u0000]*$";

/// The `pattern` of a text member or parameter that has no other: no U+0000
/// ([`NUL_REFUSED`]).
pub const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let part = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } => key.replace('~', "~0").replace('/', "~1"),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        pointer.push('/');
        pointer.push_str(&part);
    }
    pointer
}

/// Turns validator's errors into field errors with JSON Pointers (body) or
/// parameter names (query).
pub fn validation_error(errors: ValidationErrors) -> Error {
    let mut out = Vec::new();
    collect(&errors, String::new(), &mut out, false);
    Error::Validation(out)
}

/// The same for query parameters.
pub fn query_validation_error(errors: ValidationErrors) -> Error {
    let mut out = Vec::new();
    collect(&errors, String::new(), &mut out, true);
    Error::Validation(out)
}

fn collect(errors: &ValidationErrors, prefix: String, out: &mut Vec<FieldError>, query: bool) {
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (field, kind) in fields {
        let path = format!("{prefix}/{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let detail = e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe(e));
                    out.push(if query {
                        FieldError::parameter(field.to_string(), detail)
                    } else {
                        FieldError::body(path.clone(), detail)
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, path, out, query),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, format!("{path}/{index}"), out, query);
                }
            }
        }
    }
}

fn describe(e: &validator::ValidationError) -> String {
    match e.code.as_ref() {
        "length" => bounds(e, "length must be", "invalid length"),
        "range" => bounds(e, "must be", "out of range"),
        "url" => "must be a URL".into(),
        other => format!("invalid value ({other})"),
    }
}

/// `what` and the bounds the error names; `neither` when it names none.
fn bounds(e: &validator::ValidationError, what: &str, neither: &str) -> String {
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match (param("min"), param("max")) {
        (Some(min), Some(max)) => format!("{what} between {min} and {max}"),
        (Some(min), None) => format!("{what} at least {min}"),
        (None, Some(max)) => format!("{what} at most {max}"),
        _ => neither.into(),
    }
}

/// actix's path extractor failures (e.g. a malformed id) as problem+json 404 —
/// or 405 when the path is really a more specific route that does not serve
/// this method (`DELETE …/accounts/connect` reaches the `{account_id}` route).
pub fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(routes) = req.app_data::<web::Data<super::method_not_allowed::KnownRoutes>>()
        && let Some(allowed) = routes.allowed(req.path())
        && !allowed.contains(&req.method().as_str())
    {
        return Error::MethodNotAllowed { allowed }.into();
    }
    Error::NotFound(format!("no such resource: {err}")).into()
}

/// actix's query extractor failures as problem+json 400.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    Error::BadRequest(format!("invalid query string: {err}")).into()
}

/// actix's own JSON extractor (should a handler use it) as problem+json.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::OverflowKnownLength { limit, .. } | J::Overflow { limit } => {
            Error::PayloadTooLarge(limit).into()
        }
        J::ContentType => {
            Error::UnsupportedMediaType("the request body must be application/json".into()).into()
        }
        other => Error::BadRequest(format!("invalid JSON body: {other}")).into(),
    }
}

/// The `limit` (default 25, at most 100) and the decoded `cursor` of a list
/// request; a cursor `decode` does not accept is a 422 naming the parameter.
pub fn page_params<T>(
    limit: Option<u32>,
    cursor: Option<&str>,
    decode: impl Fn(&str) -> Option<T>,
) -> Result<(u32, Option<T>), Error> {
    use crate::domain::pagination::{DEFAULT_LIMIT, MAX_LIMIT};
    let after = match cursor {
        None => None,
        Some(c) => Some(decode(c).ok_or_else(|| {
            Error::Validation(vec![FieldError::parameter(
                "cursor",
                "not a cursor returned by this API",
            )])
        })?),
    };
    Ok((limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT), after))
}

/// The caller, authenticated from its bearer JWT (and counted against its
/// organization's request budget, whatever scopes it carries).
impl FromRequest for Principal {
    type Error = Error;
    type Future = Authenticating<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        paused(authenticate(req, false))
    }
}

/// The caller of the billing system's routes (`/v1/organizations`). These
/// act for no organization, so a token with `platform:admin` spends no
/// organization's budget here; on every other route `platform:admin` widens
/// nothing, the budget included (docs/rules.md#tenant-scoping).
#[derive(Debug, Clone)]
pub struct PlatformCaller(pub Principal);

impl FromRequest for PlatformCaller {
    type Error = Error;
    type Future = Authenticating<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        paused(authenticate(req, true).map(PlatformCaller))
    }
}

/// An authentication's future: at once, or a refusal held for a moment.
type Authenticating<T> = futures_util::future::Either<
    Ready<Result<T, Error>>,
    Pin<Box<dyn Future<Output = Result<T, Error>>>>,
>;

/// A refusal of a spent budget is held for a moment before it is sent: a
/// client asking in a loop then costs this instance one sleeping request per
/// connection instead of the CPU another organization's requests need.
fn paused<T: 'static>(result: Result<T, Error>) -> Authenticating<T> {
    use futures_util::future::Either;
    match result {
        Err(Error::RateLimited { retry_after }) => Either::Right(Box::pin(async move {
            tokio::time::sleep(retry_after.min(super::ratelimit::REFUSAL_PAUSE)).await;
            Err(Error::RateLimited { retry_after })
        })),
        other => Either::Left(ready(other)),
    }
}

/// Verifies the bearer token and spends one unit of its organization's
/// budget; on a billing-system route (`platform_route`), a `platform:admin`
/// token acts for no organization and spends none.
fn authenticate(req: &HttpRequest, platform_route: bool) -> Result<Principal, Error> {
    let verifier = req
        .app_data::<web::Data<JwtVerifier>>()
        .ok_or_else(|| Error::internal("JwtVerifier missing from app data"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            Error::Unauthorized("an `Authorization: Bearer <JWT>` header is required".into())
        })?;
    let value = header
        .to_str()
        .map_err(|_| Error::Unauthorized("malformed Authorization header".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Unauthorized("the Authorization scheme must be Bearer".into()))?;
    let principal = verifier.verify(token)?;
    if let Some(limiter) = req.app_data::<web::Data<super::ratelimit::RateLimiter>>()
        && !(platform_route && principal.has(Scope::PlatformAdmin))
    {
        let decision = limiter.check(principal.organization_id().as_str());
        req.extensions_mut().insert(decision);
        if !decision.allowed {
            return Err(Error::RateLimited {
                retry_after: std::time::Duration::from_secs(decision.reset),
            });
        }
    }
    Ok(principal)
}
