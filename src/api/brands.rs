//! `/v1/brands`: the workspaces of the caller's organization.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::extractors::{Json, is_ecma_space};
use super::paths::BrandPath;
use super::responses::{AuthErrors, BodyErrors, QueryErrors};
use super::shared::PageQuery;
use crate::auth::{Principal, Scope};
use crate::db::models;
use crate::domain::from_db_time;
use crate::error::Error;
use crate::services::brands;
use crate::state::AppState;

/// A brand: one workspace of the organization (for an agency, one customer).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12",
    "name": "Northwind Coffee",
    "created_at": "2026-11-26T08:00:00Z",
    "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct Brand {
    /// The brand's id.
    pub id: Uuid,
    /// Display name, unique within the organization.
    #[schema(max_length = 100)]
    pub name: String,
    /// When the brand was created.
    pub created_at: DateTime<Utc>,
    /// When the brand was last renamed (or created).
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<models::Brand> for Brand {
    type Error = Error;

    fn try_from(row: models::Brand) -> Result<Self, Error> {
        Ok(Self {
            id: row.id.into(),
            name: row.name,
            created_at: from_db_time(row.created_at),
            updated_at: from_db_time(row.updated_at),
        })
    }
}

/// A page of brands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::brand_page)]
pub struct BrandPage {
    /// The brands of this page, oldest first.
    pub data: Vec<Brand>,
    #[schema(schema_with = super::shared::next_cursor)]
    pub next_cursor: Option<String>,
}

/// A new brand, or a brand's new name.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Northwind Coffee"}))]
pub struct BrandInput {
    /// Display name, 1–100 characters with at least one that is not white space
    /// (ECMAScript's `\s`) and none that is U+0000, unique within the
    /// organization. Leading and trailing white space is removed.
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\t\n\u000b\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u0000][^\u0000]*$"
    )]
    pub name: String,
}

/// The name as stored: without the white space (the same class as the pattern) around it.
fn clean_name(name: &str) -> String {
    name.trim_matches(is_ecma_space).to_string()
}

fn not_blank(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().all(is_ecma_space) {
        let mut e = validator::ValidationError::new("blank");
        e.message = Some("must not be blank".into());
        return Err(e);
    }
    Ok(())
}

/// List brands
///
/// The brands of the caller's organization, oldest first (for a token with a
/// `brands` claim, only those brands). Needs `accounts:read`.
#[utoipa::path(
    operation_id = "list_brands",
    tag = "brands",
    security(("bearer" = ["accounts:read"])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of brands.", body = BrandPage),
        AuthErrors,
        QueryErrors
    )
)]
#[get("/brands")]
pub async fn list_brands(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<BrandPage>, Error> {
    principal.require(Scope::AccountsRead)?;
    let (limit, after) = query.resolve()?;
    let page = brands::list(&state, principal.audience(), limit, after).await?;
    Ok(web::Json(BrandPage {
        data: page
            .items
            .into_iter()
            .map(Brand::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Create a brand
///
/// Needs `org:admin` and a token without a `brands` claim (a token restricted
/// to some brands answers 403 `organization-wide-token-required`). The plan
/// limits how many brands an organization may have (free 1, starter 5,
/// advanced 50, enterprise unlimited); past it the answer is 403
/// `plan-limit-reached` naming the plan that allows more.
#[utoipa::path(
    operation_id = "create_brand",
    tag = "brands",
    security(("bearer" = ["org:admin"])),
    request_body = BrandInput,
    responses(
        (status = 201, description = "The new brand.", body = Brand,
            headers(("Location" = String, description = "URL of the new brand"))),
        BodyErrors,
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks `org:admin` (`insufficient-scope`), is restricted to some brands (`organization-wide-token-required`), or the plan allows no more brands (`plan-limit-reached`)."),
        (status = 404, description = "The token's organization does not exist."),
        (status = 409, description = "A brand with this name exists."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[post("/brands")]
pub async fn create_brand(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<BrandInput>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let name = clean_name(&body.0.name);
    let brand = brands::create(
        &state,
        principal.organization_id(),
        &principal.subject,
        name,
    )
    .await?;
    let brand = Brand::try_from(brand)?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/brands/{}", brand.id)))
        .json(brand))
}

/// Get a brand
///
/// Needs `accounts:read`. Another organization's brand, or one the token's
/// `brands` claim does not list, answers 404.
#[utoipa::path(
    operation_id = "get_brand",
    tag = "brands",
    security(("bearer" = ["accounts:read"])),
    params(BrandPath),
    responses(
        (status = 200, description = "The brand.", body = Brand),
        AuthErrors,
        (status = 404, description = "No such brand in the caller's organization.")
    )
)]
#[get("/brands/{brand_id}")]
pub async fn get_brand(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandPath>,
) -> Result<web::Json<Brand>, Error> {
    principal.require(Scope::AccountsRead)?;
    let id = path.into_inner().brand_id;
    let row = brands::get(&state, principal.audience(), id).await?;
    Ok(web::Json(row.try_into()?))
}

/// Rename a brand
///
/// Needs `org:admin`. A token with a `brands` claim renames only those brands
/// (any other answers 404).
#[utoipa::path(
    operation_id = "update_brand",
    tag = "brands",
    security(("bearer" = ["org:admin"])),
    params(BrandPath),
    request_body = BrandInput,
    responses(
        (status = 200, description = "The renamed brand.", body = Brand),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 409, description = "Another brand has this name."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[patch("/brands/{brand_id}")]
pub async fn update_brand(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandPath>,
    body: Json<BrandInput>,
) -> Result<web::Json<Brand>, Error> {
    principal.require(Scope::OrgAdmin)?;
    let id = path.into_inner().brand_id;
    let name = clean_name(&body.0.name);
    let row = brands::rename(&state, principal.audience(), id, &principal.subject, name).await?;
    Ok(web::Json(row.try_into()?))
}

/// Delete a brand
///
/// Needs `org:admin` and a token without a `brands` claim (403
/// `organization-wide-token-required` otherwise). A brand that still has
/// connected accounts answers 409: disconnect them first, so that no grant
/// is dropped without being revoked.
#[utoipa::path(
    operation_id = "delete_brand",
    tag = "brands",
    security(("bearer" = ["org:admin"])),
    params(BrandPath),
    responses(
        (status = 204, description = "The brand is deleted."),
        AuthErrors,
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 409, description = "The brand still has accounts.")
    )
)]
#[delete("/brands/{brand_id}")]
pub async fn delete_brand(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let brand = path.into_inner().brand_id;
    brands::delete(
        &state,
        principal.organization_id(),
        brand,
        &principal.subject,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
