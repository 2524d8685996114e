use crate::domain::ids::OAuthStateId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::models::OAuthState;
use super::schema::oauth_states::dsl as s;
use crate::error::Result;

pub fn insert_oauth_state(conn: &mut DbConnection, state: &OAuthState) -> Result<()> {
    diesel::insert_into(s::oauth_states)
        .values(state)
        .execute(conn)?;
    Ok(())
}

pub fn find_oauth_state_by_hash(conn: &mut DbConnection, hash: &str) -> Result<Option<OAuthState>> {
    Ok(s::oauth_states
        .filter(s::state_hash.eq(hash))
        .select(OAuthState::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the state used, atomically: `true` for exactly one caller, and only
/// while it is unused and unexpired.
pub fn consume_oauth_state(
    conn: &mut DbConnection,
    id: OAuthStateId,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        s::oauth_states
            .filter(s::id.eq(id))
            .filter(s::consumed_at.is_null())
            .filter(s::expires_at.gt(now)),
    )
    .set(s::consumed_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes states that expired more than a day ago.
pub fn delete_stale_oauth_states(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize> {
    Ok(diesel::delete(s::oauth_states.filter(s::expires_at.lt(before))).execute(conn)?)
}
