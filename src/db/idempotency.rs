//! Stored answers for `Idempotency-Key` (docs/rules.md, "API conventions"): a replay returns the stored
//! answer, the same key with another request is refused, one still in flight
//! is reported as such. A key is the organization's and the user's (`actor`,
//! the token's `sub`): another user's same key is another key.

use crate::domain::ids::OrganizationId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::idempotency_records::dsl as r;
use crate::error::{Error, Result};

/// What the store says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller owns the key now and must finish or abandon it.
    Claimed,
    /// The same request is still being answered.
    InFlight,
    /// The key was used for another request.
    Mismatch,
    /// The stored answer to replay.
    Completed { status: u16, body: String },
}

/// Claims `actor`'s `key` for `request_hash`, or reports what it is already bound to.
pub fn claim(
    conn: &mut DbConnection,
    org: &OrganizationId,
    key: &str,
    actor: &str,
    request_hash: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<Claim> {
    // Forget expired keys first so they can be reused.
    diesel::delete(
        r::idempotency_records
            .filter(r::organization_id.eq(org))
            .filter(r::actor.eq(actor))
            .filter(r::idempotency_key.eq(key))
            .filter(r::expires_at.lt(now)),
    )
    .execute(conn)?;
    let inserted = diesel::insert_into(r::idempotency_records)
        .values((
            r::organization_id.eq(org),
            r::idempotency_key.eq(key),
            r::actor.eq(actor),
            r::request_hash.eq(request_hash),
            r::state.eq("in_flight"),
            r::created_at.eq(now),
            r::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => return Ok(Claim::Claimed),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => {}
        Err(other) => return Err(Error::from(other)),
    }
    let (hash, state, status, body): (String, String, Option<i32>, Option<String>) =
        r::idempotency_records
            .filter(r::organization_id.eq(org))
            .filter(r::actor.eq(actor))
            .filter(r::idempotency_key.eq(key))
            .select((
                r::request_hash,
                r::state,
                r::response_status,
                r::response_body,
            ))
            .first(conn)?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    match (state.as_str(), status, body) {
        ("completed", Some(status), Some(body)) => Ok(Claim::Completed {
            status: u16::try_from(status).unwrap_or(500),
            body,
        }),
        _ => Ok(Claim::InFlight),
    }
}

pub fn complete(
    conn: &mut DbConnection,
    org: &OrganizationId,
    actor: &str,
    key: &str,
    status: u16,
    body: &str,
    keep_until: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        r::idempotency_records
            .filter(r::organization_id.eq(org))
            .filter(r::actor.eq(actor))
            .filter(r::idempotency_key.eq(key)),
    )
    .set((
        r::state.eq("completed"),
        r::response_status.eq(Some(i32::from(status))),
        r::response_body.eq(Some(body)),
        r::expires_at.eq(keep_until),
    ))
    .execute(conn)?;
    Ok(())
}

/// Releases a claim whose request failed in a way worth retrying.
pub fn abandon(
    conn: &mut DbConnection,
    org: &OrganizationId,
    actor: &str,
    key: &str,
) -> Result<()> {
    diesel::delete(
        r::idempotency_records
            .filter(r::organization_id.eq(org))
            .filter(r::actor.eq(actor))
            .filter(r::idempotency_key.eq(key))
            .filter(r::state.eq("in_flight")),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes every record that expired before `now` (in any organization).
pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize> {
    Ok(diesel::delete(r::idempotency_records.filter(r::expires_at.lt(now))).execute(conn)?)
}
