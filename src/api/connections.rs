//! Connect with selection: the assets a person manages (Facebook Pages, say),
//! listed from the network and connected in the brand the connect started in
//! (docs/rules.md#assets).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::extractors::OptionalJson;
use super::idempotency;
use super::paths::ConnectionPath;
use super::responses::{AuthErrors, BodyErrors};
use super::shared::{Account, Manager};
use crate::auth::{Principal, Scope};
use crate::domain::from_db_time;
use crate::domain::profile_kind::ProfileKind;
use crate::error::{Error, FieldError};
use crate::services::connections::{self, Listing};
use crate::state::AppState;

/// One asset the person manages, as the network lists it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManagedAsset {
    /// The network's id of the asset (a Page id, say): what `external_ids` names.
    #[schema(max_length = 255, example = "104729384756120")]
    pub external_id: String,
    /// What the asset is.
    pub kind: ProfileKind,
    /// The asset's name on the network.
    #[schema(max_length = 255, example = "Northwind Coffee")]
    pub name: String,
    /// The asset's handle, when the network gives one.
    #[schema(max_length = 255, example = "northwindcoffee")]
    pub handle: Option<String>,
    /// URL of the asset's picture, when the network gives one.
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://cdn.example.com/pages/northwind.png"
    )]
    pub picture_url: Option<String>,
    /// The brands (of those the caller's token reaches) where the asset is already connected.
    pub connected_in: Vec<Uuid>,
}

/// A person's grant waiting for the assets to connect to be chosen.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b20",
    "network": "facebook",
    "brand_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10",
    "manager": {"name": "Dana Whitfield", "external_id": "10228471930211"},
    "expires_at": "2026-11-26T09:00:00Z",
    "assets": [{
        "external_id": "104729384756120",
        "kind": "page",
        "name": "Northwind Coffee",
        "handle": null,
        "picture_url": "https://cdn.example.com/pages/northwind.png",
        "connected_in": []
    }]
}))]
pub struct Connection {
    /// The connection's id.
    pub id: Uuid,
    /// The network's name.
    #[schema(max_length = 64, example = "facebook")]
    pub network: String,
    /// The brand the connect started in, where the chosen assets are connected.
    pub brand_id: Uuid,
    /// The person who authorized: every asset listed is one they manage.
    pub manager: Manager,
    /// The connection expires then (an hour after the authorization); it then answers 404.
    pub expires_at: DateTime<Utc>,
    /// Everything the person manages at the network, read from the network now.
    pub assets: Vec<ManagedAsset>,
}

impl TryFrom<Listing> for Connection {
    type Error = Error;

    fn try_from(listing: Listing) -> Result<Self, Error> {
        let Listing {
            connection,
            manager,
            assets,
        } = listing;
        Ok(Self {
            id: connection.id.into(),
            network: connection.network,
            brand_id: connection.brand_id.into(),
            manager: Manager {
                name: manager.display_name.unwrap_or(manager.handle),
                external_id: manager.external_id,
            },
            expires_at: from_db_time(connection.expires_at),
            assets: assets
                .into_iter()
                .map(|listed| {
                    Ok(ManagedAsset {
                        kind: connections::profile_kind(listed.asset.kind),
                        external_id: listed.asset.external_id,
                        name: listed.asset.name,
                        handle: listed.asset.handle,
                        picture_url: listed.asset.picture_url,
                        connected_in: listed.connected_in.into_iter().map(Uuid::from).collect(),
                    })
                })
                .collect::<Result<_, Error>>()?,
        })
    }
}

/// List what the person of a connection manages
///
/// After a connect on a network whose profiles are assets a person manages (the callback
/// answered `status: select`), lists every asset the person manages, read from the network
/// now (following its pagination to the end), each with the brands where it is already
/// connected. A connection expires an hour after its authorization and then answers 404, as
/// one that never existed. Needs `accounts:write` (as connect); a token with a `brands` claim
/// reaches only connections started in its brands.
#[utoipa::path(
    operation_id = "get_connection",
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection and what the person manages.", body = Connection),
        AuthErrors,
        (status = 404, description = "No such connection in the caller's brands, or it expired."),
        (status = 422, description = "The network refused the person's grant: connect again."),
        (status = 502, description = "The network answered with an error."),
        (status = 503, description = "The network is unavailable (`network-unavailable`), or refuses this deployment's client configuration (`network-misconfigured`); see `Retry-After`."),
        (status = 504, description = "The network did not answer in time.")
    )
)]
#[get("/connections/{connection_id}")]
pub async fn get_connection(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<ConnectionPath>,
) -> Result<web::Json<Connection>, Error> {
    principal.require(Scope::AccountsWrite)?;
    let listing = connections::list(
        &state,
        principal.audience(),
        path.into_inner().connection_id,
    )
    .await?;
    Ok(web::Json(listing.try_into()?))
}

/// The assets to connect.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"external_ids": ["104729384756120"]}))]
pub struct SelectRequest {
    /// 1–100 distinct `external_id`s of assets the person manages (as
    /// `GET /v1/connections/{connection_id}` lists them).
    #[validate(length(min = 1, max = 100))]
    // Declared a set for the document (`uniqueItems`), kept a list here so that an id named
    // twice is refused by name rather than silently merged.
    #[schema(value_type = std::collections::BTreeSet<ExternalId>, min_items = 1, max_items = 100)]
    pub external_ids: Vec<ExternalId>,
}

/// A network's id of an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 255, pattern = "^[^\\u0000]+$", example = "104729384756120")]
pub struct ExternalId(pub String);

/// The accounts the selection connected.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::connected_assets)]
pub struct ConnectedAccounts {
    /// One account per chosen asset, in the order asked, each as Manage Accounts shows it.
    pub data: Vec<Account>,
}

/// `external_ids` checked beyond their number: each 1–255 characters, none twice.
fn check_ids(ids: &[ExternalId]) -> Result<Vec<String>, Error> {
    let mut errors = Vec::new();
    for (i, ExternalId(id)) in ids.iter().enumerate() {
        let pointer = format!("/external_ids/{i}");
        if id.is_empty() || id.chars().count() > 255 {
            errors.push(FieldError::body(pointer, "must be 1–255 characters"));
        } else if ids[..i].iter().any(|ExternalId(other)| other == id) {
            errors.push(FieldError::body(pointer, "is named twice"));
        }
    }
    if errors.is_empty() {
        Ok(ids.iter().map(|ExternalId(id)| id.clone()).collect())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Connect chosen assets
///
/// Connects the chosen assets of a connection in the brand the connect started in, each as
/// an account of its own profile (`kind` and `manager` say what it is and whose grant reaches
/// it) with its own token: a Facebook Page's token derived from the person's grant, or the
/// person's grant used with the asset's id (shared). What the person manages is read from the
/// network again first: an id the person does not manage answers 422 naming it, and nothing is
/// connected. An asset already connected in the brand is reconnected in place; on the Advanced
/// plan the fresh grant reaches its accounts in other brands, as any connect. Send an
/// `Idempotency-Key` to make retries safe. Needs `accounts:write`.
#[utoipa::path(
    operation_id = "connect_connection_assets",
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    params(
        ConnectionPath,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a replay answers the stored result (1–255 visible ASCII characters).",
            min_length = 1, max_length = 255, pattern = "^[!-~]+$")
    ),
    request_body = SelectRequest,
    responses(
        (status = 201, description = "The accounts connected.", body = ConnectedAccounts),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such connection in the caller's brands, or it expired."),
        (status = 409, description = "The Idempotency-Key is in flight."),
        (status = 422, description = "Invalid members (an id the person does not manage, named twice, or more than 100), an Idempotency-Key reused for another request, or the network refused the person's grant."),
        (status = 502, description = "The network answered with an error; nothing was connected."),
        (status = 503, description = "The network is unavailable (`network-unavailable`), or refuses this deployment's client configuration (`network-misconfigured`); see `Retry-After`."),
        (status = 504, description = "The network did not answer in time; nothing was connected.")
    )
)]
#[post("/connections/{connection_id}/accounts")]
pub async fn connect_assets(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<ConnectionPath>,
    body: OptionalJson<SelectRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsWrite)?;
    let key = idempotency::key_of(&req)?;
    let fingerprint = idempotency::fingerprint(&req, &body.raw);
    let Some(request) = body.value else {
        return Err(Error::Validation(vec![FieldError::body(
            "",
            "a body with `external_ids` is required",
        )]));
    };
    let ids = check_ids(&request.external_ids)?;
    let audience = principal.audience().clone();
    let id = path.into_inner().connection_id;
    let (app, actor) = (state.get_ref().clone(), principal.subject.clone());
    idempotency::run(&state, &principal, key, fingerprint, move || async move {
        let views = connections::select(&app, &audience, id, &ids, &actor).await?;
        let answer = ConnectedAccounts {
            data: views
                .into_iter()
                .map(Account::try_from)
                .collect::<Result<_, Error>>()?,
        };
        let body = serde_json::to_string(&answer)
            .map_err(|e| Error::internal(format!("serializing an answer: {e}")))?;
        Ok((StatusCode::CREATED, body))
    })
    .await
}
