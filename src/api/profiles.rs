//! `/v1/profiles`: the organization's social identities and the brands where
//! each is connected.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::extractors::query_validation_error;
use super::paths::ProfilePath;
use super::responses::{AuthErrors, QueryErrors};
use super::shared::{PageQuery, ProfileSummary};
use crate::auth::{Principal, Scope};
use crate::domain::from_db_time;
use crate::error::Error;
use crate::services::profiles::{self, ProfileView};
use crate::state::AppState;

/// One brand where the profile is connected.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileBrand {
    /// The brand.
    pub brand_id: Uuid,
    /// The brand's name.
    #[schema(max_length = 100, example = "Northwind Coffee")]
    pub brand_name: String,
    /// The profile's account in that brand.
    pub account_id: Uuid,
    /// Whether the account is enabled in that brand.
    pub enabled: bool,
}

/// A social identity of the organization: `(network, external_id)` is unique.
#[derive(Debug, Serialize)]
pub struct Profile {
    #[serde(flatten)]
    pub identity: ProfileSummary,
    #[serde(flatten)]
    pub detail: ProfileDetail,
}

/// What a profile's own answer adds to the identity accounts show.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileDetail {
    /// The brands where this profile is connected; `enabled_in` counts the enabled ones.
    pub brands: Vec<ProfileBrand>,
    /// How many brands have this profile enabled.
    #[schema(minimum = 0)]
    pub enabled_in: u32,
    /// When the profile was first connected.
    pub created_at: DateTime<Utc>,
    /// When the profile's identity data last changed.
    pub updated_at: DateTime<Utc>,
}

// Written out because the derived schema of flattened members is an `allOf`:
// the document keeps describing a profile as one object with all its members.
impl PartialSchema for Profile {
    fn schema() -> RefOr<Schema> {
        let mut profile = object_schema::<ProfileSummary>();
        let detail = object_schema::<ProfileDetail>();
        profile.required.extend(detail.required);
        profile.properties.extend(detail.properties);
        profile.description = Some(
            "A social identity of the organization: `(network, external_id)` is unique.".into(),
        );
        profile.example = Some(crate::api::examples::profile());
        profile.into()
    }
}

impl ToSchema for Profile {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ProfileDetail::schemas(schemas);
    }
}

/// The object a derived struct schema is.
fn object_schema<T: PartialSchema>() -> Object {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object,
        _ => unreachable!("a struct's derived schema is an object"),
    }
}

/// A page of profiles.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::profile_page)]
pub struct ProfilePage {
    /// The profiles of this page.
    pub data: Vec<Profile>,
    #[schema(schema_with = super::shared::next_cursor)]
    pub next_cursor: Option<String>,
}

/// Filters of the profile list.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProfileQuery {
    /// Only profiles of this network.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub network: Option<String>,
}

impl TryFrom<ProfileView> for Profile {
    type Error = Error;

    fn try_from(view: ProfileView) -> Result<Self, Error> {
        let brands = view
            .brands
            .into_iter()
            .map(|m| {
                Ok(ProfileBrand {
                    brand_id: Uuid::from(m.brand_id),
                    brand_name: m.brand_name,
                    account_id: Uuid::from(m.account_id),
                    enabled: m.enabled,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let p = view.profile;
        let detail = ProfileDetail {
            enabled_in: u32::try_from(brands.iter().filter(|b| b.enabled).count())
                .unwrap_or(u32::MAX),
            brands,
            created_at: from_db_time(p.created_at),
            updated_at: from_db_time(p.updated_at),
        };
        Ok(Self {
            identity: ProfileSummary::from_row(p)?,
            detail,
        })
    }
}

/// List profiles
///
/// The organization's social identities, each with the brands where it is
/// connected and whether it is enabled there. A token with a `brands` claim
/// sees only the profiles connected in those brands, and only those brands
/// of each. Needs `accounts:read`.
#[utoipa::path(
    operation_id = "list_profiles",
    tag = "profiles",
    security(("bearer" = ["accounts:read"])),
    params(ProfileQuery, PageQuery),
    responses(
        (status = 200, description = "A page of profiles, oldest first.", body = ProfilePage),
        AuthErrors,
        QueryErrors
    )
)]
#[get("/profiles")]
pub async fn list_profiles(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ProfileQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ProfilePage>, Error> {
    principal.require(Scope::AccountsRead)?;
    query.validate().map_err(query_validation_error)?;
    let (limit, after) = page.resolve()?;
    let page = profiles::list(
        &state,
        principal.audience(),
        query.network.clone(),
        limit,
        after,
    )
    .await?;
    Ok(web::Json(ProfilePage {
        data: page
            .items
            .into_iter()
            .map(Profile::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Get a profile
///
/// Needs `accounts:read`. Another organization's profile answers 404, and so
/// does, for a token with a `brands` claim, a profile connected in none of
/// those brands.
#[utoipa::path(
    operation_id = "get_profile",
    tag = "profiles",
    security(("bearer" = ["accounts:read"])),
    params(ProfilePath),
    responses(
        (status = 200, description = "The profile and its brands.", body = Profile),
        AuthErrors,
        (status = 404, description = "No such profile in the caller's organization.")
    )
)]
#[get("/profiles/{profile_id}")]
pub async fn get_profile(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<ProfilePath>,
) -> Result<web::Json<Profile>, Error> {
    principal.require(Scope::AccountsRead)?;
    let id = path.into_inner().profile_id;
    let view = profiles::get(&state, principal.audience(), id).await?;
    Ok(web::Json(view.try_into()?))
}
