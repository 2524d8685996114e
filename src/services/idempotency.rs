//! The stored side of `Idempotency-Key`: a key is claimed before the answer
//! is worked out, completed with the answer to replay, or released when the
//! answer failed so that the client may retry with the same key. A claim
//! lasts as long as a refresh lease: an answer still unfinished by then
//! belongs to a process that died, and a key must never stay stuck on it.

use crate::domain::ids::OrganizationId;
use chrono::{DateTime, Utc};

use crate::db::{self, idempotency};
use crate::domain::to_db_time;
use crate::error::Result;
use crate::state::AppState;

pub use crate::db::idempotency::Claim;

/// How long a key's answer is kept; after that the key may be used again.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// How long a claim holds its key: the lease of the refresh it waits for.
fn in_flight_hold(state: &AppState) -> chrono::Duration {
    crate::services::refresh::lease_length(state)
}

/// Claims `actor`'s `key` for the request with `fingerprint`, or says what it
/// is already bound to (an answer in flight, another request, a stored
/// answer). Keys are per organization and user: one user never replays
/// another's answer.
pub async fn claim(
    state: &AppState,
    org: &OrganizationId,
    key: &str,
    actor: &str,
    fingerprint: String,
) -> Result<Claim> {
    let at = state.now();
    let until = to_db_time(at + in_flight_hold(state));
    let (o, k, actor) = (org.clone(), key.to_string(), actor.to_string());
    db::run(&state.pool, move |conn| {
        idempotency::claim(conn, &o, &k, &actor, &fingerprint, to_db_time(at), until)
    })
    .await
}

/// Stores the answer to replay for a claimed key.
pub async fn complete(
    state: &AppState,
    org: &OrganizationId,
    actor: &str,
    key: &str,
    status: u16,
    body: String,
) -> Result<()> {
    let (o, a, k) = (org.clone(), actor.to_string(), key.to_string());
    let keep_until = to_db_time(state.now() + RETENTION);
    db::run(&state.pool, move |conn| {
        idempotency::complete(conn, &o, &a, &k, status, &body, keep_until)
    })
    .await
}

/// Deletes the records whose time ran out (answers kept for
/// [`RETENTION`], claims whose owner never finished) at `now`; how many.
pub async fn purge_expired(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let at = to_db_time(now);
    db::run(&state.pool, move |conn| {
        idempotency::delete_expired(conn, at)
    })
    .await
}

/// Releases a claimed key whose answer failed. Failures are not stored: the
/// client may retry with the same key.
pub async fn release(state: &AppState, org: &OrganizationId, actor: &str, key: &str) -> Result<()> {
    let (o, a, k) = (org.clone(), actor.to_string(), key.to_string());
    db::run(&state.pool, move |conn| {
        idempotency::abandon(conn, &o, &a, &k)
    })
    .await
}
