//! Connect with selection (docs/rules.md#assets): on a network whose profiles
//! are assets a person manages, the callback stores the person's grant and
//! opens a connection; the front end lists what the person manages and
//! connects the chosen assets in the brand the connect started in.
//!
//! Every listing asks the network afresh with the person's token, between
//! trips to the pool: what the person manages is the network's to say, and a
//! stored copy would be stale by the time it is chosen from.

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use super::account_view::{AccountView, account_with_report};
use super::grants::{AssetOf, FreshGrant, GrantSource, apply_fresh_grant, store_manager_grant};
use super::{Orphan, revoke_later, upstream_error};
use crate::crypto::KeyRing;
use crate::db::models::{Connection, OAuthState, Profile};
use crate::db::{self, DbConnection};
use crate::domain::audience::Audience;
use crate::domain::ids::{BrandId, ConnectionId, OrganizationId};
use crate::domain::profile_kind::ProfileKind;
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, FieldError, Result};
use crate::providers::{
    AssetKind, AssetTokens, Identity, ManagedAsset, Provider, ProviderError, TokenSet,
};
use crate::state::AppState;

/// How long a connection waits for its assets to be chosen.
pub const CONNECTION_TTL_MINUTES: i64 = 60;

/// What a profile of an asset of this kind is.
pub fn profile_kind(kind: AssetKind) -> ProfileKind {
    match kind {
        AssetKind::Page => ProfileKind::Page,
        AssetKind::Organization => ProfileKind::Organization,
        AssetKind::Channel => ProfileKind::Channel,
        AssetKind::Location => ProfileKind::Location,
    }
}

/// Stores the person's grant and opens a connection waiting for a selection,
/// in one write transaction (called by the OAuth callback).
pub(super) async fn open(
    app: &AppState,
    state: &OAuthState,
    identity: Identity,
    tokens: TokenSet,
) -> Result<Connection> {
    let keys = app.keys.clone();
    let state = state.clone();
    let now = app.now();
    db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if db::brands::find_brand(conn, &state.organization_id, state.brand_id)?.is_none() {
                return Err(Error::NotFound(format!(
                    "no brand with id {}",
                    state.brand_id
                )));
            }
            let grant = FreshGrant {
                organization_id: &state.organization_id,
                brand_id: state.brand_id,
                network: &state.network,
                identity: &identity,
                tokens: &tokens,
                actor: &state.actor,
                source: GrantSource::Connect,
                expected_account: None,
                asset: None,
            };
            let (person, credential_id) = store_manager_grant(conn, &keys, &grant, now)?;
            let row = Connection {
                id: ConnectionId::new(),
                organization_id: state.organization_id.clone(),
                brand_id: state.brand_id,
                network: state.network.clone(),
                profile_id: person.id,
                credential_id,
                scopes: tokens.scopes.join(" "),
                return_url: state.return_url.clone(),
                actor: state.actor.clone(),
                created_at: to_db_time(now),
                expires_at: to_db_time(now + Duration::minutes(CONNECTION_TTL_MINUTES)),
            };
            db::connections::insert_connection(conn, &row)?;
            Ok(row)
        })
    })
    .await
}

/// A connection as the picker shows it.
#[derive(Debug)]
pub struct Listing {
    pub connection: Connection,
    /// The person whose grant the connection holds.
    pub manager: Profile,
    pub assets: Vec<ListedAsset>,
}

/// One asset the person manages, and the brands of the caller's audience where
/// it is already connected.
#[derive(Debug)]
pub struct ListedAsset {
    pub asset: ManagedAsset,
    pub connected_in: Vec<BrandId>,
}

fn connection_not_found(id: ConnectionId) -> Error {
    Error::NotFound(format!(
        "no connection with id {id} (a connection expires {CONNECTION_TTL_MINUTES} minutes after its authorization)"
    ))
}

/// The connection with its person and the person's access token, for a
/// caller whose audience reaches the connection's brand; 404 otherwise, and
/// once it expired.
struct Opened {
    connection: Connection,
    manager: Profile,
    access_token: SecretString,
    expires_at: Option<DateTime<Utc>>,
}

async fn open_connection(app: &AppState, audience: &Audience, id: ConnectionId) -> Result<Opened> {
    let (org, keys, now) = (
        audience.organization_id().clone(),
        app.keys.clone(),
        to_db_time(app.now()),
    );
    let reader = audience.clone();
    db::run(&app.pool, move |conn| {
        let connection = db::connections::find_live_connection(conn, &org, id, now)?
            .filter(|c| reader.reaches(c.brand_id))
            .ok_or_else(|| connection_not_found(id))?;
        let manager = db::profiles::find_profile(conn, &org, connection.profile_id)?
            .ok_or_else(|| connection_not_found(id))?;
        let credential = db::credentials::find_credential(conn, &org, connection.credential_id)?
            .ok_or_else(|| connection_not_found(id))?;
        let (access_token, _) =
            db::credentials::open_readable(&keys, &credential)?.ok_or_else(|| {
                Error::GrantRejected(
                    "the person's grant cannot be read any more: connect again".into(),
                )
            })?;
        Ok(Opened {
            connection,
            manager,
            access_token,
            expires_at: credential.expires_at.map(from_db_time),
        })
    })
    .await
}

/// Everything the person manages, asked of the network with no connection held.
async fn managed_assets(
    provider: &dyn Provider,
    network: &str,
    access_token: &SecretString,
) -> Result<Vec<ManagedAsset>> {
    provider
        .list_assets(access_token)
        .await
        .map_err(|e| match e {
            ProviderError::ReauthRequired { .. } => Error::GrantRejected(format!(
                "{network} refused the person's grant ({}): connect again",
                e.code()
            )),
            other => upstream_error(network, &other),
        })
}

fn provider_of(app: &AppState, network: &str) -> Result<std::sync::Arc<dyn Provider>> {
    app.providers
        .get(network)
        .ok_or_else(|| Error::NotFound(format!("no network named {network:?} is configured")))
}

/// What the person of the connection manages, with the brands (of the
/// caller's audience) where each asset is already connected.
pub async fn list(app: &AppState, audience: &Audience, id: ConnectionId) -> Result<Listing> {
    let opened = open_connection(app, audience, id).await?;
    let provider = provider_of(app, &opened.connection.network)?;
    let assets = managed_assets(
        provider.as_ref(),
        &opened.connection.network,
        &opened.access_token,
    )
    .await?;
    let (org, network, reader) = (
        audience.organization_id().clone(),
        opened.connection.network.clone(),
        audience.clone(),
    );
    let ids: Vec<String> = assets.iter().map(|a| a.external_id.clone()).collect();
    let connected = db::run(&app.pool, move |conn| {
        ids.iter()
            .map(|external_id| brands_of_asset(conn, &org, &network, external_id, &reader))
            .collect::<Result<Vec<_>>>()
    })
    .await?;
    Ok(Listing {
        connection: opened.connection,
        manager: opened.manager,
        assets: assets
            .into_iter()
            .zip(connected)
            .map(|(asset, connected_in)| ListedAsset {
                asset,
                connected_in,
            })
            .collect(),
    })
}

/// The brands of the audience where the asset is connected.
fn brands_of_asset(
    conn: &mut DbConnection,
    org: &OrganizationId,
    network: &str,
    external_id: &str,
    audience: &Audience,
) -> Result<Vec<BrandId>> {
    let Some(profile) = db::profiles::find_profile_by_identity(conn, org, network, external_id)?
    else {
        return Ok(Vec::new());
    };
    let mut brands: Vec<BrandId> = db::accounts::list_accounts_of_profile(conn, org, profile.id)?
        .into_iter()
        .map(|a| a.brand_id)
        .filter(|b| audience.reaches(*b))
        .collect();
    brands.sort();
    Ok(brands)
}

/// Connects the chosen assets in the connection's brand, each with its token
/// (derived or shared), by the rules of any fresh grant (propagation by plan,
/// one grant one credential), in one write transaction after a fresh listing.
/// Every id must be one the person manages now (422 naming it otherwise).
pub async fn select(
    app: &AppState,
    audience: &Audience,
    id: ConnectionId,
    external_ids: &[String],
    actor: &str,
) -> Result<Vec<AccountView>> {
    let opened = open_connection(app, audience, id).await?;
    let network = opened.connection.network.clone();
    let provider = provider_of(app, &network)?;
    let model = provider.assets().ok_or_else(|| {
        Error::Conflict(format!("the network {network:?} has no assets to select"))
    })?;
    let listed = managed_assets(provider.as_ref(), &network, &opened.access_token).await?;
    let chosen = chosen_assets(&listed, external_ids)?;
    let grants = chosen
        .into_iter()
        .map(|asset| asset_grant(asset, model, &opened))
        .collect::<Result<Vec<_>>>()?;

    let (keys, providers, actor, now) = (
        app.keys.clone(),
        app.providers.clone(),
        actor.to_string(),
        app.now(),
    );
    let (connection, manager) = (opened.connection, opened.manager);
    let (views, orphans) = db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            connect_assets(
                conn,
                &keys,
                &providers,
                &connection,
                &manager,
                &grants,
                &actor,
                now,
            )
        })
    })
    .await?;
    revoke_later(app, orphans);
    Ok(views)
}

/// The listed assets named by `external_ids`, in their order; 422 naming each
/// id the person does not manage.
fn chosen_assets<'a>(
    listed: &'a [ManagedAsset],
    external_ids: &[String],
) -> Result<Vec<&'a ManagedAsset>> {
    let mut errors = Vec::new();
    let mut chosen = Vec::new();
    for (i, wanted) in external_ids.iter().enumerate() {
        match listed.iter().find(|a| &a.external_id == wanted) {
            Some(asset) => chosen.push(asset),
            None => errors.push(FieldError::body(
                format!("/external_ids/{i}"),
                "the person who authorized does not manage this asset (or no longer does)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(chosen)
    } else {
        Err(Error::Validation(errors))
    }
}

/// What is stored for one chosen asset: its identity and its token.
struct AssetGrant {
    kind: ProfileKind,
    identity: Identity,
    tokens: TokenSet,
    expires_at: Option<DateTime<Utc>>,
}

fn asset_grant(asset: &ManagedAsset, model: AssetTokens, opened: &Opened) -> Result<AssetGrant> {
    let (token, expires_at) = match model {
        // A Page token made from a long-lived user token has no expiry on the
        // clock: it lives as long as the person's session.
        AssetTokens::Derived => (
            asset.token.clone().ok_or_else(|| Error::Upstream {
                network: opened.connection.network.clone(),
                kind: crate::error::UpstreamKind::BadGateway,
                detail: format!(
                    "the network listed asset {} without its token",
                    asset.external_id
                ),
                retry_after: std::time::Duration::from_secs(10),
            })?,
            None,
        ),
        AssetTokens::Shared => (opened.access_token.clone(), opened.expires_at),
    };
    let scopes = opened
        .connection
        .scopes
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(AssetGrant {
        kind: profile_kind(asset.kind),
        identity: Identity {
            subject: asset.external_id.clone(),
            handle: asset.handle.clone().unwrap_or_else(|| asset.name.clone()),
            display_name: Some(asset.name.clone()),
            avatar_url: asset.picture_url.clone(),
        },
        tokens: TokenSet {
            access_token: token,
            refresh_token: None,
            // Read only through `AssetOf::expires_at`.
            expires_at: expires_at.unwrap_or_else(crate::domain::now),
            refresh_expires_at: None,
            granted_scopes: None,
            scopes,
        },
        expires_at,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one transaction's inputs, each used once"
)]
fn connect_assets(
    conn: &mut DbConnection,
    keys: &KeyRing,
    providers: &crate::providers::ProviderRegistry,
    connection: &Connection,
    manager: &Profile,
    grants: &[AssetGrant],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<AccountView>, Vec<Orphan>)> {
    let mut views = Vec::new();
    let mut orphans = Vec::new();
    for grant in grants {
        let applied = apply_fresh_grant(
            conn,
            keys,
            FreshGrant {
                organization_id: &connection.organization_id,
                brand_id: connection.brand_id,
                network: &connection.network,
                identity: &grant.identity,
                tokens: &grant.tokens,
                actor,
                source: GrantSource::Connect,
                expected_account: None,
                asset: Some(AssetOf {
                    kind: grant.kind,
                    manager,
                    manager_credential_id: connection.credential_id,
                    expires_at: grant.expires_at,
                }),
            },
            now,
        )?;
        orphans.extend(applied.orphans);
        let (view, _) = account_with_report(
            conn,
            providers,
            &connection.organization_id,
            applied.account_id,
            now,
        )?;
        views.push(view);
    }
    Ok((views, orphans))
}

/// Deletes the connections that expired by `now` (the worker's), each in its
/// own transaction with a sweep of its person's unused credentials: a grant
/// nobody selected from goes by the rules of unused grants (revoked unless
/// stored elsewhere, docs/rules.md#propagation). Returns how many went.
pub async fn delete_expired(app: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let (keys, at) = (app.keys.clone(), to_db_time(now));
    let (deleted, orphans) = db::run(&app.pool, move |conn| {
        let expired = db::connections::list_expired_connections(conn, at, 100)?;
        let mut orphans = Vec::new();
        for connection in &expired {
            orphans.extend(db::write_transaction(conn, |conn| {
                db::connections::delete_connection(conn, connection.id)?;
                super::grants::sweep_profile(conn, &keys, connection.profile_id)
            })?);
        }
        Ok((expired.len(), orphans))
    })
    .await?;
    revoke_later(app, orphans);
    Ok(deleted)
}
