//! Ready answers for the reads every open front end polls — the Expired
//! Tokens dropdown and badge, Manage Accounts: the exact bytes of the last
//! answer to the same request, with their `ETag`, kept per instance and given
//! again while the organization's data version is the one they were read at
//! and the clock has not reached the next instant at which a token's status
//! changes (docs/rules.md#ready-answers). A poll then costs one indexed read
//! of the version. Another instance's write moves the version in the
//! database, so it is seen by the very next read here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conditional;
use crate::error::Error;
use crate::services::ready::{self, Fresh};
use crate::state::AppState;

/// The bytes kept by default: a few hundred dropdown pages.
pub const DEFAULT_BUDGET: usize = 8 * 1024 * 1024;

#[derive(Clone)]
struct Ready {
    version: i64,
    valid_until: Option<DateTime<Utc>>,
    etag: HeaderValue,
    body: Bytes,
}

#[derive(Default)]
struct Kept {
    answers: HashMap<String, Ready>,
    bytes: usize,
}

/// The ready answers of this instance, within a budget of bytes.
pub struct ReadyAnswers {
    kept: Mutex<Kept>,
    budget: usize,
}

impl ReadyAnswers {
    pub fn new(budget: usize) -> Self {
        Self {
            kept: Mutex::new(Kept::default()),
            budget,
        }
    }

    fn get(&self, key: &str, current: i64, now: DateTime<Utc>) -> Option<Ready> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.answers
            .get(key)
            .filter(|r| ready::holds(r.version, r.valid_until, current, now))
            .cloned()
    }

    fn put(&self, key: String, answer: Ready) {
        let size = key.len() + answer.body.len();
        if size > self.budget / 4 {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.bytes + size > self.budget {
            // Answers are cheap to make again; dropping them all keeps the
            // bound without bookkeeping on every hit.
            kept.answers.clear();
            kept.bytes = 0;
        }
        if let Some(old) = kept.answers.insert(key.clone(), answer) {
            kept.bytes -= key.len() + old.body.len();
        }
        kept.bytes += size;
    }
}

/// Answers `req` for the caller's organization from a ready answer when one
/// still holds, else from `fill` (whose read is kept for the polls after).
/// 304 when the client's `If-None-Match` names the answer.
pub async fn answer<T, Fut>(
    req: &HttpRequest,
    state: &AppState,
    org: &str,
    fill: impl FnOnce() -> Fut,
) -> Result<HttpResponse, Error>
where
    T: Serialize,
    Fut: Future<Output = Result<Fresh<T>, Error>>,
{
    conditional::check_if_none_match(req)?;
    let answers = req
        .app_data::<web::Data<ReadyAnswers>>()
        .ok_or_else(|| Error::internal("the ready answers are not configured"))?;
    let key = format!(
        "{org} {}",
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    let current = ready::data_version(state, org).await?;
    if let Some(kept) = answers.get(&key, current, state.now()) {
        return Ok(conditional::respond(req, kept.etag, kept.body));
    }
    let fresh = fill().await?;
    let body = Bytes::from(
        serde_json::to_vec(&fresh.value)
            .map_err(|e| Error::internal(format!("serializing an answer: {e}")))?,
    );
    let etag = conditional::etag_of(&body)?;
    answers.put(
        key,
        Ready {
            version: fresh.version,
            valid_until: fresh.valid_until,
            etag: etag.clone(),
            body: body.clone(),
        },
    );
    Ok(conditional::respond(req, etag, body))
}
