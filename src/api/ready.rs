//! Ready answers for the reads every open front end polls — the Expired
//! Tokens dropdown and badge, Manage Accounts: the exact bytes of the last
//! answer to the same request, with their `ETag`, kept per instance and given
//! again while the organization's data version is the one they were read at
//! and the clock has not reached the next instant at which a token's status
//! changes (docs/rules.md#ready-answers). A poll then costs one indexed read
//! of the version, shared by the polls of the organization that arrived
//! before it started. Another instance's write moves the version in the
//! database, so it is seen by the very next read here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use super::conditional::{self, Representation};
use crate::domain::audience::Audience;
use crate::error::Error;
use crate::services::ready::{self, Fresh};
use crate::state::AppState;

/// The bytes kept by default: a few hundred dropdown pages.
pub const DEFAULT_BUDGET: usize = 8 * 1024 * 1024;

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

#[derive(Default)]
struct Kept {
    answers: HashMap<String, Ready>,
    bytes: usize,
}

/// Polls of one organization waiting for a read of its data version.
#[derive(Default)]
struct Waiting {
    /// A read is under way or about to start for those queued before it.
    reading: bool,
    queued: Vec<oneshot::Sender<Option<i64>>>,
}

/// The ready answers of this instance, within a budget of bytes, and the
/// reads of data versions that polls share.
pub struct ReadyAnswers {
    kept: Mutex<Kept>,
    budget: usize,
    versions: Mutex<HashMap<String, Waiting>>,
}

impl ReadyAnswers {
    pub fn new(budget: usize) -> Self {
        Self {
            kept: Mutex::new(Kept::default()),
            budget,
            versions: Mutex::new(HashMap::new()),
        }
    }

    /// The organization's data version as read after this call began. Polls
    /// of one organization that arrive together share one read: a read
    /// serves exactly the polls queued before it started, so each still
    /// sees every write committed before it arrived (another instance's
    /// too); polls that arrive during a read wait for the next one.
    async fn current_version(self: &Arc<Self>, state: &AppState, org: &str) -> Result<i64, Error> {
        let (sender, answer) = oneshot::channel();
        let start_reader = {
            let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
            let waiting = versions.entry(org.to_string()).or_default();
            waiting.queued.push(sender);
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start_reader {
            // Its own task, so that no poll's cancellation strands the others.
            let (answers, state, org) = (self.clone(), state.clone(), org.to_string());
            tokio::spawn(async move { answers.read_versions(&state, &org).await });
        }
        match answer.await {
            Ok(Some(version)) => Ok(version),
            // The shared read failed: this poll reads on its own, so that it
            // answers that read's own error.
            _ => ready::data_version(state, org).await,
        }
    }

    /// Reads the version for each batch of queued polls until none is left.
    async fn read_versions(&self, state: &AppState, org: &str) {
        loop {
            let batch = {
                let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
                let Some(waiting) = versions.get_mut(org) else {
                    return;
                };
                if waiting.queued.is_empty() {
                    versions.remove(org);
                    return;
                }
                std::mem::take(&mut waiting.queued)
            };
            let version = ready::data_version(state, org).await.ok();
            for poll in batch {
                let _ = poll.send(version);
            }
        }
    }

    /// The kept representation `req` takes, while the answer still holds.
    fn get(
        &self,
        key: &str,
        current: i64,
        now: DateTime<Utc>,
        req: &HttpRequest,
    ) -> Option<Representation> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.answers
            .get(key)
            .filter(|r| ready::holds(r.version, r.valid_until, current, now))
            .map(|r| r.for_request(req))
    }

    fn put(&self, key: String, answer: Ready) {
        let size = key.len() + answer.size();
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
            kept.bytes -= key.len() + old.size();
        }
        kept.bytes += size;
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
        .ok_or_else(|| Error::internal("the ready answers are not configured"))?
        .clone()
        .into_inner();
    let org = audience.organization_id();
    let key = format!(
        "{}\n{}",
        audience.key(),
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    let current = answers.current_version(state, org).await?;
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
