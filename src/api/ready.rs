//! Ready answers for the reads every open front end polls — the Expired
//! Tokens dropdown and badge, Manage Accounts: the exact bytes of the last
//! answer to the same request, with their `ETag`, kept per instance and given
//! again while the organization's data version is the one they were read at
//! and the clock has not reached the next instant at which a token's status
//! changes (docs/rules.md#ready-answers). The version comes from
//! `services::data_versions`, which learns of every committed change without
//! reading it per poll; the answers are kept within a budget of bytes, the
//! least recently used let go first.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::conditional::{self, Representation};
use crate::domain::audience::Audience;
use crate::error::Error;
use crate::lru::{Lru, LruStats};
use crate::services::data_versions::DataVersions;
use crate::services::ready::{self, Fresh};
use crate::state::AppState;

struct Ready {
    version: i64,
    valid_until: Option<DateTime<Utc>>,
    plain: Representation,
    /// The same answer gzipped, for clients that take it (every browser):
    /// made once per answer, not once per poll. `None` for small answers.
    gzip: Option<Representation>,
}

impl Ready {
    fn size(&self) -> usize {
        self.plain.body.len() + self.gzip.as_ref().map_or(0, |g| g.body.len())
    }

    /// The representation `req` takes.
    fn for_request(&self, req: &HttpRequest) -> Representation {
        match &self.gzip {
            Some(gzip) if conditional::accepts_gzip(req) => gzip.clone(),
            _ => self.plain.clone(),
        }
    }
}

/// Answers shorter than this are sent as they are.
const GZIP_FROM_BYTES: usize = 1024;

fn gzipped(audience: &Audience, body: &[u8]) -> Result<Representation, Error> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(body)
        .map_err(|e| Error::internal(format!("gzipping an answer: {e}")))?;
    let body = Bytes::from(
        encoder
            .finish()
            .map_err(|e| Error::internal(format!("gzipping an answer: {e}")))?,
    );
    Ok(Representation {
        etag: conditional::etag_for(audience, &body)?,
        body,
        coding: Some("gzip"),
    })
}

/// What a kept answer is kept under: the audience and the request's
/// path and query. A field added here makes answers that differ by it
/// answers of their own.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// The organization, and the brands of a restricted token
    /// (`Audience::key`): two audiences never share an answer.
    pub audience: String,
    pub target: String,
}

impl AnswerKey {
    fn for_request(audience: &Audience, req: &HttpRequest) -> Self {
        Self {
            audience: audience.key(),
            target: req
                .uri()
                .path_and_query()
                .map_or("", |p| p.as_str())
                .to_string(),
        }
    }

    fn size(&self) -> usize {
        self.audience.len() + self.target.len()
    }
}

/// What the ready answers did, for `/metrics`.
pub struct ReadyStats {
    pub kept: LruStats,
    /// Reads of a data version from the database.
    pub version_reads: u64,
    /// Connections that watched data versions (a reconnect adds one).
    pub watches_opened: u64,
    /// Whether polls now learn data versions without reading them.
    pub watching: bool,
}

/// The ready answers of this instance, within a budget of bytes, and the
/// data versions they are checked against.
pub struct ReadyAnswers {
    kept: Mutex<Lru<AnswerKey, Ready>>,
    versions: DataVersions,
}

impl ReadyAnswers {
    /// Answers kept within `budget` bytes, checked against `versions`.
    pub fn new(budget: usize, versions: DataVersions) -> Self {
        Self {
            kept: Mutex::new(Lru::new(budget)),
            versions,
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Lru<AnswerKey, Ready>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> ReadyStats {
        let versions = self.versions.stats();
        ReadyStats {
            kept: self.kept().stats(),
            version_reads: versions.reads.load(Ordering::Relaxed),
            watches_opened: versions.watches_opened.load(Ordering::Relaxed),
            watching: versions.watching.load(Ordering::Relaxed),
        }
    }

    /// The kept representation `req` takes, while the answer still holds.
    fn get(
        &self,
        key: &AnswerKey,
        current: i64,
        now: DateTime<Utc>,
        req: &HttpRequest,
    ) -> Option<Representation> {
        self.kept().get(key, |r| {
            ready::holds(r.version, r.valid_until, current, now).then(|| r.for_request(req))
        })
    }

    fn put(&self, key: AnswerKey, answer: Ready) {
        let size = key.size() + answer.size();
        self.kept().put(key, answer, size);
    }
}

/// Answers `req` for the caller's audience from a ready answer when one
/// still holds, else from `fill` (whose read is kept for the polls after).
/// 304 when the client's `If-None-Match` names the answer. Answers are kept
/// and tagged per audience: a token restricted to some brands never gets an
/// answer, nor an `ETag`, made for another set of brands.
pub async fn answer<T, Fut>(
    req: &HttpRequest,
    state: &AppState,
    audience: &Audience,
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
    let org = audience.organization_id();
    let key = AnswerKey::for_request(audience, req);
    let current = answers.versions.current(state, org).await?;
    if let Some(kept) = answers.get(&key, current, state.now(), req) {
        return Ok(conditional::respond_with(req, kept));
    }
    let fresh = fill().await?;
    let body = Bytes::from(
        serde_json::to_vec(&fresh.value)
            .map_err(|e| Error::internal(format!("serializing an answer: {e}")))?,
    );
    let ready = Ready {
        version: fresh.version,
        valid_until: fresh.valid_until,
        plain: Representation {
            etag: conditional::etag_for(audience, &body)?,
            body: body.clone(),
            coding: None,
        },
        gzip: (body.len() >= GZIP_FROM_BYTES)
            .then(|| gzipped(audience, &body))
            .transpose()?,
    };
    let answer = ready.for_request(req);
    answers.put(key, ready);
    Ok(conditional::respond_with(req, answer))
}
