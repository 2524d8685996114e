//! The stored side of `Idempotency-Key`: a key is claimed before the answer
//! is worked out, completed with the answer to replay, or released when the
//! answer failed so that the client may retry with the same key.

use crate::db::{self, idempotency};
use crate::domain::to_db_time;
use crate::error::Result;
use crate::state::AppState;

pub use crate::db::idempotency::Claim;

/// How long a key's answer is kept; after that the key may be used again.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// Claims `key` for the request with `fingerprint`, or says what it is
/// already bound to (an answer in flight, another request, a stored answer).
pub async fn claim(
    state: &AppState,
    org: &str,
    key: &str,
    actor: &str,
    fingerprint: String,
) -> Result<Claim> {
    let at = state.now();
    let (o, k, actor) = (org.to_string(), key.to_string(), actor.to_string());
    db::run(&state.pool, move |conn| {
        idempotency::claim(
            conn,
            &o,
            &k,
            &actor,
            &fingerprint,
            to_db_time(at),
            to_db_time(at + RETENTION),
        )
    })
    .await
}

/// Stores the answer to replay for a claimed key.
pub async fn complete(
    state: &AppState,
    org: &str,
    key: &str,
    status: u16,
    body: String,
) -> Result<()> {
    let (o, k) = (org.to_string(), key.to_string());
    db::run(&state.pool, move |conn| {
        idempotency::complete(conn, &o, &k, status, &body)
    })
    .await
}

/// Releases a claimed key whose answer failed. Failures are not stored: the
/// client may retry with the same key.
pub async fn release(state: &AppState, org: &str, key: &str) -> Result<()> {
    let (o, k) = (org.to_string(), key.to_string());
    db::run(&state.pool, move |conn| idempotency::abandon(conn, &o, &k)).await
}
