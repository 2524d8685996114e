use crate::domain::ids::OrganizationId;
use diesel::prelude::*;

use super::DbConnection;
use super::models::{Organization, OrganizationChanges};
use super::schema::organizations::dsl as o;
use crate::error::Result;

pub fn insert_organization(conn: &mut DbConnection, org: &Organization) -> Result<()> {
    diesel::insert_into(o::organizations)
        .values(org)
        .execute(conn)?;
    Ok(())
}

pub fn find_organization(
    conn: &mut DbConnection,
    id: &OrganizationId,
) -> Result<Option<Organization>> {
    Ok(o::organizations
        .filter(o::id.eq(id))
        .select(Organization::as_select())
        .first(conn)
        .optional()?)
}

/// Applies the changes; `false` when no such organization exists.
pub fn update_organization(
    conn: &mut DbConnection,
    id: &OrganizationId,
    changes: &OrganizationChanges,
) -> Result<bool> {
    let n = diesel::update(o::organizations.filter(o::id.eq(id)))
        .set(changes)
        .execute(conn)?;
    Ok(n == 1)
}

/// The organization's `data_version`: moved by every change of what its
/// accounts, profiles, brands and credentials show (the triggers of the
/// `read_versions` migration). One indexed read; `None` when no such
/// organization exists.
pub fn find_data_version(conn: &mut DbConnection, id: &OrganizationId) -> Result<Option<i64>> {
    // `get_result`, not `first`: a bound `LIMIT` makes SQLite prepare the
    // statement again at every use, which cost this hot read most of its time.
    Ok(o::organizations
        .filter(o::id.eq(id))
        .select(o::data_version)
        .get_result(conn)
        .optional()?)
}
