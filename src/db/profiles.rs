use crate::domain::ids::{AccountId, BrandId, OrganizationId, ProfileId};
use diesel::prelude::*;

use super::DbConnection;
use super::models::Profile;
use super::schema::profiles::dsl as p;
use crate::domain::audience::Audience;
use crate::domain::profile_kind::ProfileKind;
use crate::error::Result;

pub fn insert_profile(conn: &mut DbConnection, profile: &Profile) -> Result<()> {
    diesel::insert_into(p::profiles)
        .values(profile)
        .execute(conn)?;
    Ok(())
}

/// Inserts the profile unless its identity is already stored in the
/// organization (a concurrent first connect may have just stored it): never a
/// unique violation. On PostgreSQL the insert waits for such a concurrent
/// insert to commit or roll back.
pub fn insert_profile_if_absent(conn: &mut DbConnection, profile: &Profile) -> Result<()> {
    let insert = diesel::insert_into(p::profiles).values(profile);
    let conflict = (p::organization_id, p::network, p::external_id);
    match conn {
        DbConnection::Postgresql(pg) => {
            insert.on_conflict(conflict).do_nothing().execute(pg)?;
        }
        DbConnection::Sqlite(lite) => {
            insert.on_conflict(conflict).do_nothing().execute(lite)?;
        }
    }
    Ok(())
}

/// The profile of an identity, its row locked until the transaction ends on
/// PostgreSQL, so that changes of one profile's accounts and credentials take
/// turns (SQLite's write lock already serializes writers).
pub fn lock_profile_by_identity(
    conn: &mut DbConnection,
    org: &OrganizationId,
    network: &str,
    external_id: &str,
) -> Result<Option<Profile>> {
    if let DbConnection::Postgresql(pg) = conn {
        p::profiles
            .filter(p::organization_id.eq(org))
            .filter(p::network.eq(network))
            .filter(p::external_id.eq(external_id))
            .select(p::id)
            .for_update()
            .load::<String>(pg)?;
    }
    find_profile_by_identity(conn, org, network, external_id)
}

/// Locks a profile's row as [`lock_profile_by_identity`] does; `false` when
/// the profile is gone.
pub fn lock_profile(conn: &mut DbConnection, id: ProfileId) -> Result<bool> {
    let query = p::profiles.filter(p::id.eq(id)).select(p::id);
    let found: Vec<String> = match conn {
        DbConnection::Postgresql(pg) => query.for_update().load(pg)?,
        DbConnection::Sqlite(lite) => query.load(lite)?,
    };
    Ok(!found.is_empty())
}

pub fn find_profile(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: ProfileId,
) -> Result<Option<Profile>> {
    Ok(p::profiles
        .filter(p::organization_id.eq(org))
        .filter(p::id.eq(id))
        .select(Profile::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_profile_by_identity(
    conn: &mut DbConnection,
    org: &OrganizationId,
    network: &str,
    external_id: &str,
) -> Result<Option<Profile>> {
    Ok(p::profiles
        .filter(p::organization_id.eq(org))
        .filter(p::network.eq(network))
        .filter(p::external_id.eq(external_id))
        .select(Profile::as_select())
        .first(conn)
        .optional()?)
}

/// Refreshes what the network says about the identity.
pub fn update_profile_identity(
    conn: &mut DbConnection,
    id: ProfileId,
    handle: &str,
    display_name: Option<&str>,
    avatar_url: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<()> {
    diesel::update(p::profiles.filter(p::id.eq(id)))
        .set((
            p::handle.eq(handle),
            p::display_name.eq(display_name),
            p::avatar_url.eq(avatar_url),
            p::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the profile as an asset of `manager` (docs/rules.md#assets).
pub fn update_profile_manager(
    conn: &mut DbConnection,
    id: ProfileId,
    kind: ProfileKind,
    manager: ProfileId,
    manager_external_id: &str,
    manager_name: Option<&str>,
) -> Result<()> {
    diesel::update(p::profiles.filter(p::id.eq(id)))
        .set((
            p::kind.eq(kind.as_str()),
            p::manager_profile_id.eq(manager),
            p::manager_external_id.eq(manager_external_id),
            p::manager_name.eq(manager_name),
        ))
        .execute(conn)?;
    Ok(())
}

/// Profiles of the audience's organization; for an audience restricted to
/// some brands, only those with an account in one of them.
pub fn list_profiles(
    conn: &mut DbConnection,
    audience: &Audience,
    network: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Profile>> {
    use super::schema::accounts::dsl as a;
    let org = audience.organization_id().to_string();
    let mut query = p::profiles
        .filter(p::organization_id.eq(org.clone()))
        .select(Profile::as_select())
        .order(p::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(brands) = audience.brand_ids() {
        let connected = a::accounts
            .filter(a::organization_id.eq(org))
            .filter(a::brand_id.eq_any(brands.iter().cloned().collect::<Vec<_>>()))
            .select(a::profile_id);
        query = query.filter(p::id.eq_any(connected));
    }
    if let Some(network) = network {
        query = query.filter(p::network.eq(network.to_string()));
    }
    if let Some(after) = after {
        query = query.filter(p::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

/// `(profile_id, account_id, brand_id, brand_name, enabled)`.
pub type Membership = (ProfileId, AccountId, BrandId, String, bool);

/// Where the given profiles are connected, in the brands the audience reaches.
pub fn list_brand_memberships(
    conn: &mut DbConnection,
    audience: &Audience,
    profile_ids: &[ProfileId],
) -> Result<Vec<Membership>> {
    use super::schema::accounts::dsl as a;
    use super::schema::brands::dsl as b;
    let mut query = a::accounts
        .inner_join(b::brands)
        .filter(a::organization_id.eq(audience.organization_id().to_string()))
        .filter(a::profile_id.eq_any(profile_ids))
        .select((a::profile_id, a::id, b::id, b::name, a::enabled))
        .order((a::profile_id.asc(), b::name.asc()))
        .into_boxed();
    if let Some(brands) = audience.brand_ids() {
        query = query.filter(a::brand_id.eq_any(brands.iter().cloned().collect::<Vec<_>>()));
    }
    Ok(query.load(conn)?)
}
