//! The lifecycle worker's queries over credentials: what is due, which
//! statuses the clock overtook, and the schedule itself. They read the
//! non-secret columns only.

use crate::domain::ids::{CredentialId, OrganizationId};
use diesel::prelude::*;

use super::DbConnection;
use super::credentials::lease_free;
use super::schema::credentials::dsl as c;
use crate::domain::token_status::CredentialStatus as Stored;
use crate::error::{Error, Result};

/// What the lifecycle worker needs of a credential: its schedule and the
/// non-secret state its decisions read, never a ciphertext.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::credentials)]
pub struct WorkItem {
    pub id: CredentialId,
    pub organization_id: OrganizationId,
    pub network: String,
    pub status: String,
    pub expires_at: Option<chrono::NaiveDateTime>,
    pub refresh_expires_at: Option<chrono::NaiveDateTime>,
    pub refresh_token_key_id: Option<String>,
    pub issued_at: chrono::NaiveDateTime,
    pub last_refreshed_at: Option<chrono::NaiveDateTime>,
    pub next_refresh_at: Option<chrono::NaiveDateTime>,
    pub failure_count: i32,
    pub last_failure_at: Option<chrono::NaiveDateTime>,
    pub version: i64,
}

impl WorkItem {
    pub fn stored_status(&self) -> Result<crate::domain::token_status::CredentialStatus> {
        super::models::parse_status(self.id, &self.status)
    }
}

/// Credentials whose stored status the clock may have overtaken, among the
/// organizations with a warning window of `window_days` (`window_end` = now +
/// that window): `active` ones expiring by `window_end`, `expiring` or
/// `refresh_failing` ones expired by `now`, and `expiring` ones whose expiry
/// moved back out of the window. The organizations come from a subquery, so
/// this is one index scan on `credentials (organization_id, status)` per
/// distinct window, not a query per organization.
pub fn list_status_candidates(
    conn: &mut DbConnection,
    window_days: i32,
    now: chrono::NaiveDateTime,
    window_end: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<WorkItem>> {
    use super::schema::organizations::dsl as o;
    let entering = c::status
        .eq(Stored::Active.as_str())
        .and(c::expires_at.assume_not_null().le(window_end));
    let expiring_now = c::status
        .eq_any([Stored::Expiring.as_str(), Stored::RefreshFailing.as_str()])
        .and(c::expires_at.assume_not_null().le(now));
    let leaving = c::status
        .eq(Stored::Expiring.as_str())
        .and(c::expires_at.assume_not_null().gt(window_end));
    let organizations = o::organizations
        .filter(o::warning_window_days.eq(window_days))
        .select(o::id);
    Ok(c::credentials
        .filter(c::organization_id.eq_any(organizations))
        .filter(c::expires_at.is_not_null())
        .filter(entering.or(expiring_now).or(leaving))
        .order(c::expires_at.asc())
        .limit(limit)
        .select(WorkItem::as_select())
        .load(conn)?)
}

/// The distinct warning windows (days) of the organizations.
pub fn list_warning_windows(conn: &mut DbConnection) -> Result<Vec<i32>> {
    use super::schema::organizations::dsl as o;
    Ok(o::organizations
        .select(o::warning_window_days)
        .distinct()
        .load(conn)?)
}

/// Moves the stored status from `from` to `to` (a clock-driven transition)
/// if nobody changed the credential meanwhile: same status, same expiry, no
/// refresh lease held. `version` is left alone: it counts grants, and
/// refresh waiters read a new version as "renewed". `true` for exactly one
/// caller, who then announces the transition.
pub fn transition_status(
    conn: &mut DbConnection,
    id: CredentialId,
    from: &str,
    expires_at: chrono::NaiveDateTime,
    to: &str,
    now: chrono::NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::status.eq(from))
            .filter(c::expires_at.eq(expires_at))
            .filter(lease_free(conn)),
    )
    .set((
        c::status.eq(to),
        c::status_changed_at.eq(now),
        c::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Credentials the worker has not scheduled yet (new grants): an index scan
/// on `next_refresh_at IS NULL`.
pub fn list_unscheduled(conn: &mut DbConnection, limit: i64) -> Result<Vec<WorkItem>> {
    Ok(c::credentials
        .filter(c::next_refresh_at.is_null())
        .limit(limit)
        .select(WorkItem::as_select())
        .load(conn)?)
}

/// Sets when the worker looks at a credential next.
pub fn schedule_refresh(
    conn: &mut DbConnection,
    id: CredentialId,
    at: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(c::credentials.filter(c::id.eq(id)))
        .set(c::next_refresh_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}

/// Schedules a credential that has no schedule yet (no-op otherwise).
pub fn schedule_if_unscheduled(
    conn: &mut DbConnection,
    id: CredentialId,
    at: chrono::NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::next_refresh_at.is_null()),
    )
    .set(c::next_refresh_at.eq(Some(at)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Claims up to `limit` credentials due by `now` (an index scan on
/// `next_refresh_at`) whose refresh lease is free, by moving their
/// `next_refresh_at` to `hold_until` in the same transaction: another worker
/// does not see them again until then. On PostgreSQL the rows are selected
/// `FOR UPDATE SKIP LOCKED`, so concurrent instances claim disjoint sets
/// without waiting on each other; SQLite serializes writers anyway.
pub fn claim_due(
    conn: &mut DbConnection,
    now: chrono::NaiveDateTime,
    hold_until: chrono::NaiveDateTime,
    limit: i64,
) -> Result<Vec<WorkItem>> {
    // Leases are read by the database's clock, like everywhere else.
    let due = c::next_refresh_at
        .assume_not_null()
        .le(now)
        .and(lease_free(conn));
    match conn {
        DbConnection::Postgresql(pg) => pg.transaction(|pg| {
            let rows: Vec<WorkItem> = c::credentials
                .filter(due)
                .order(c::next_refresh_at.asc())
                .limit(limit)
                .select(WorkItem::as_select())
                .for_update()
                .skip_locked()
                .load(pg)?;
            let ids: Vec<CredentialId> = rows.iter().map(|r| r.id).collect();
            diesel::update(c::credentials.filter(c::id.eq_any(ids)))
                .set(c::next_refresh_at.eq(Some(hold_until)))
                .execute(pg)?;
            Ok::<_, Error>(rows)
        }),
        DbConnection::Sqlite(_) => super::write_transaction(conn, |conn| {
            let rows: Vec<WorkItem> = c::credentials
                .filter(due)
                .order(c::next_refresh_at.asc())
                .limit(limit)
                .select(WorkItem::as_select())
                .load(conn)?;
            let ids: Vec<CredentialId> = rows.iter().map(|r| r.id).collect();
            diesel::update(c::credentials.filter(c::id.eq_any(ids)))
                .set(c::next_refresh_at.eq(Some(hold_until)))
                .execute(conn)?;
            Ok(rows)
        }),
    }
}

/// Gives up on a grant whose refreshes kept failing for days: `reauth_required`,
/// guarded by `version` and a free lease so a refresh that just succeeded wins.
pub fn give_up_refreshing(
    conn: &mut DbConnection,
    id: CredentialId,
    version: i64,
    reason: &str,
    now: chrono::NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        c::credentials
            .filter(c::id.eq(id))
            .filter(c::version.eq(version))
            .filter(c::status.ne(Stored::ReauthRequired.as_str()))
            .filter(lease_free(conn)),
    )
    .set((
        c::status.eq(Stored::ReauthRequired.as_str()),
        c::status_reason.eq(Some(reason)),
        c::status_changed_at.eq(now),
        c::version.eq(c::version + 1),
        c::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
