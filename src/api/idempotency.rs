//! `Idempotency-Key` for POSTs that call a network (renew, bulk renew): a
//! replay answers the stored response without calling the network again.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::{Error, FieldError};
use crate::services::idempotency::{self, Claim};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

/// The request's key, if any: 1–255 visible ASCII characters.
pub fn key_of(req: &HttpRequest) -> Result<Option<String>, Error> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        Error::Validation(vec![FieldError::parameter(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters",
        )])
    };
    let key = value.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(key.to_string()))
}

/// A fingerprint of what is being asked: method, path and body.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update(b" ");
    hash.update(req.path());
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `answer` at most once per key; successful answers are stored and replayed.
/// With a key, the answer and its record are finished as a task of their own:
/// a client that goes away drops this future, and the renewal it started must
/// still store its answer (or release the key) for the client's retry.
pub async fn run<F, Fut>(
    state: &AppState,
    principal: &Principal,
    key: Option<String>,
    fingerprint: String,
    answer: F,
) -> Result<HttpResponse, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, String), Error>> + Send + 'static,
{
    let respond = |status: StatusCode, body: String, replayed: bool| {
        let mut response = HttpResponse::build(status);
        response.content_type("application/json");
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.body(body)
    };
    let Some(key) = key else {
        let (status, body) = answer().await?;
        return Ok(respond(status, body, false));
    };
    let org = principal.organization_id();
    // A stored answer shows the brands of the audience it was made for: a
    // key reused by a token that reaches other brands is another request.
    let fingerprint = if principal.audience().is_whole_organization() {
        fingerprint
    } else {
        let mut hash = Sha256::new();
        hash.update(fingerprint.as_bytes());
        hash.update(b"\n");
        hash.update(principal.audience().key().as_bytes());
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    };
    match idempotency::claim(state, org, &key, &principal.subject, fingerprint).await? {
        Claim::InFlight => Err(Error::IdempotencyInFlight),
        Claim::Mismatch => Err(Error::IdempotencyMismatch),
        Claim::Completed { status, body } => Ok(respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            body,
            true,
        )),
        Claim::Claimed => {
            let (state, org, work) = (state.clone(), org.clone(), answer());
            let actor = principal.subject.clone();
            let finished = tokio::spawn(async move {
                match work.await {
                    Ok((status, body)) => {
                        idempotency::complete(
                            &state,
                            &org,
                            &actor,
                            &key,
                            status.as_u16(),
                            body.clone(),
                        )
                        .await?;
                        Ok((status, body))
                    }
                    Err(error) => {
                        idempotency::release(&state, &org, &actor, &key).await?;
                        Err(error)
                    }
                }
            });
            let (status, body) = finished
                .await
                .map_err(|e| Error::internal(format!("the answer's task failed: {e}")))??;
            Ok(respond(status, body, false))
        }
    }
}
