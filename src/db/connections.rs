//! Connections: a person's grant waiting for the assets to connect to be
//! chosen (docs/rules.md#assets).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::models::Connection;
use super::schema::connections::dsl as k;
use crate::domain::ids::{BrandId, ConnectionId, OrganizationId, ProfileId};
use crate::error::Result;

pub fn insert_connection(conn: &mut DbConnection, row: &Connection) -> Result<()> {
    diesel::insert_into(k::connections)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The organization's connection, while it has not expired at `now`.
pub fn find_live_connection(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: ConnectionId,
    now: NaiveDateTime,
) -> Result<Option<Connection>> {
    Ok(k::connections
        .filter(k::organization_id.eq(org))
        .filter(k::id.eq(id))
        .filter(k::expires_at.gt(now))
        .select(Connection::as_select())
        .first(conn)
        .optional()?)
}

/// Connections that expired by `now`, oldest first, at most `limit`.
pub fn list_expired_connections(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Connection>> {
    Ok(k::connections
        .filter(k::expires_at.le(now))
        .order(k::expires_at.asc())
        .limit(limit)
        .select(Connection::as_select())
        .load(conn)?)
}

pub fn delete_connection(conn: &mut DbConnection, id: ConnectionId) -> Result<()> {
    diesel::delete(k::connections.filter(k::id.eq(id))).execute(conn)?;
    Ok(())
}

/// The person profiles of the brand's connections.
pub fn list_connection_profiles_of_brand(
    conn: &mut DbConnection,
    org: &OrganizationId,
    brand: BrandId,
) -> Result<Vec<ProfileId>> {
    Ok(k::connections
        .filter(k::organization_id.eq(org))
        .filter(k::brand_id.eq(brand))
        .select(k::profile_id)
        .distinct()
        .load(conn)?)
}
