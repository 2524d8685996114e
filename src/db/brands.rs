use crate::domain::ids::{BrandId, OrganizationId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::models::Brand;
use super::schema::accounts::dsl as a;
use super::schema::brands::dsl as b;
use crate::domain::audience::Audience;
use crate::error::Result;

pub fn insert_brand(conn: &mut DbConnection, brand: &Brand) -> Result<()> {
    diesel::insert_into(b::brands).values(brand).execute(conn)?;
    Ok(())
}

pub fn count_brands(conn: &mut DbConnection, org: &OrganizationId) -> Result<i64> {
    Ok(b::brands
        .filter(b::organization_id.eq(org))
        .count()
        .get_result(conn)?)
}

pub fn find_brand(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: BrandId,
) -> Result<Option<Brand>> {
    Ok(b::brands
        .filter(b::organization_id.eq(org))
        .filter(b::id.eq(id))
        .select(Brand::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `limit` brands the audience reaches with ids after `after`, in id order.
pub fn list_brands(
    conn: &mut DbConnection,
    audience: &Audience,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Brand>> {
    let mut query = b::brands
        .filter(b::organization_id.eq(audience.organization_id().to_string()))
        .select(Brand::as_select())
        .order(b::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(brands) = audience.brand_ids() {
        query = query.filter(b::id.eq_any(brands.iter().cloned().collect::<Vec<_>>()));
    }
    if let Some(after) = after {
        query = query.filter(b::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn rename_brand(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: BrandId,
    name: &str,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        b::brands
            .filter(b::organization_id.eq(org))
            .filter(b::id.eq(id)),
    )
    .set((b::name.eq(name), b::updated_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn count_accounts_of_brand(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: BrandId,
) -> Result<i64> {
    Ok(a::accounts
        .filter(a::organization_id.eq(org))
        .filter(a::brand_id.eq(id))
        .count()
        .get_result(conn)?)
}

pub fn delete_brand(conn: &mut DbConnection, org: &OrganizationId, id: BrandId) -> Result<bool> {
    let n = diesel::delete(
        b::brands
            .filter(b::organization_id.eq(org))
            .filter(b::id.eq(id)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Names of the given brands of the organization, by id.
pub fn brand_names(
    conn: &mut DbConnection,
    org: &OrganizationId,
    ids: &[BrandId],
) -> Result<std::collections::HashMap<BrandId, String>> {
    Ok(b::brands
        .filter(b::organization_id.eq(org))
        .filter(b::id.eq_any(ids))
        .select((b::id, b::name))
        .load::<(BrandId, String)>(conn)?
        .into_iter()
        .collect())
}
