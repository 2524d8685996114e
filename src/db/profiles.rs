use diesel::prelude::*;

use super::DbConnection;
use super::models::Profile;
use super::schema::profiles::dsl as p;
use crate::error::Result;

pub fn insert_profile(conn: &mut DbConnection, profile: &Profile) -> Result<()> {
    diesel::insert_into(p::profiles)
        .values(profile)
        .execute(conn)?;
    Ok(())
}

pub fn find_profile(conn: &mut DbConnection, org: &str, id: &str) -> Result<Option<Profile>> {
    Ok(p::profiles
        .filter(p::organization_id.eq(org))
        .filter(p::id.eq(id))
        .select(Profile::as_select())
        .first(conn)
        .optional()?)
}
