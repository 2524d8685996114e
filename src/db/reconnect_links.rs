use crate::domain::ids::{AccountId, BrandId, OrganizationId, ReconnectLinkId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::reconnect_links::dsl as l;
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::reconnect_links)]
pub struct ReconnectLink {
    pub id: ReconnectLinkId,
    pub token_hash: String,
    pub organization_id: OrganizationId,
    pub brand_id: BrandId,
    pub account_id: AccountId,
    pub network: String,
    pub return_url: Option<String>,
    pub created_by: String,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert_reconnect_link(conn: &mut DbConnection, link: &ReconnectLink) -> Result<()> {
    diesel::insert_into(l::reconnect_links)
        .values(link)
        .execute(conn)?;
    Ok(())
}

pub fn find_reconnect_link_by_hash(
    conn: &mut DbConnection,
    hash: &str,
) -> Result<Option<ReconnectLink>> {
    Ok(l::reconnect_links
        .filter(l::token_hash.eq(hash))
        .select(ReconnectLink::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the link used, atomically: `true` for exactly one caller, while unexpired.
pub fn use_reconnect_link(
    conn: &mut DbConnection,
    id: ReconnectLinkId,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        l::reconnect_links
            .filter(l::id.eq(id))
            .filter(l::used_at.is_null())
            .filter(l::expires_at.gt(now)),
    )
    .set(l::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}
