//! Profiles: the organization's social identities, each with the brands
//! where it is connected. A caller restricted to some brands sees only the
//! profiles connected in them, and only those brands of each.

use crate::domain::ids::{AccountId, BrandId, ProfileId};
use std::collections::HashMap;

use super::Page;
use crate::db::{self, DbConnection, models};
use crate::domain::audience::Audience;
use crate::domain::pagination::split_page;
use crate::error::{Error, Result};
use crate::state::AppState;

/// One brand where a profile is connected.
#[derive(Debug, Clone)]
pub struct Membership {
    pub brand_id: BrandId,
    pub brand_name: String,
    /// The profile's account in that brand.
    pub account_id: AccountId,
    pub enabled: bool,
}

/// A profile and the brands where it is connected, by brand name.
#[derive(Debug, Clone)]
pub struct ProfileView {
    pub profile: models::Profile,
    pub brands: Vec<Membership>,
}

/// Where the given profiles are connected, by profile id, each list in
/// brand-name order.
fn memberships(
    conn: &mut DbConnection,
    audience: &Audience,
    profile_ids: &[ProfileId],
) -> Result<HashMap<ProfileId, Vec<Membership>>> {
    let mut by_profile: HashMap<ProfileId, Vec<Membership>> = HashMap::new();
    for (profile_id, account_id, brand_id, brand_name, enabled) in
        db::profiles::list_brand_memberships(conn, audience, profile_ids)?
    {
        by_profile.entry(profile_id).or_default().push(Membership {
            brand_id,
            brand_name,
            account_id,
            enabled,
        });
    }
    Ok(by_profile)
}

/// A page of the profiles the audience sees (of one network when given), in
/// id order after `after`.
pub async fn list(
    state: &AppState,
    audience: &Audience,
    network: Option<String>,
    limit: u32,
    after: Option<String>,
) -> Result<Page<ProfileView>> {
    let audience = audience.clone();
    db::run(&state.pool, move |conn| {
        let rows = db::profiles::list_profiles(
            conn,
            &audience,
            network.as_deref(),
            after.as_deref(),
            i64::from(limit) + 1,
        )?;
        let (rows, next_cursor) = split_page(rows, limit, |p| p.id.as_str());
        let ids: Vec<ProfileId> = rows.iter().map(|p| p.id).collect();
        let mut by_profile = memberships(conn, &audience, &ids)?;
        let items = rows
            .into_iter()
            .map(|profile| ProfileView {
                brands: by_profile.remove(&profile.id).unwrap_or_default(),
                profile,
            })
            .collect();
        Ok(Page { items, next_cursor })
    })
    .await
}

/// One profile of the organization; another organization's, or one not
/// connected in a brand the audience reaches, is 404.
pub async fn get(state: &AppState, audience: &Audience, id: ProfileId) -> Result<ProfileView> {
    let audience = audience.clone();
    db::run(&state.pool, move |conn| {
        let not_found = || Error::NotFound(format!("no profile with id {id}"));
        let row = db::profiles::find_profile(conn, audience.organization_id(), id)?
            .ok_or_else(not_found)?;
        let brands = memberships(conn, &audience, &[id])?
            .remove(&id)
            .unwrap_or_default();
        if brands.is_empty() && !audience.is_whole_organization() {
            return Err(not_found());
        }
        Ok(ProfileView {
            profile: row,
            brands,
        })
    })
    .await
}
