//! Authorization round trips, kept safe: a `state` of 256 random bits stored
//! hashed, single use, ten minutes, bound to the organization, brand, account,
//! network, PKCE verifier (sealed) and return URL; the callback checks it all,
//! exchanges the code, reads the identity and stores the grant.

use crate::domain::ids::{AccountId, BrandId, ConnectionId, OAuthStateId, OrganizationId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use url::Url;

use super::account_view::{GrantOutcome, report_from};
use super::grants::{FreshGrant, GrantApplied, GrantSource, apply_fresh_grant};
use super::{revoke_later, upstream_error};
use crate::crypto::Binding;
use crate::db::models::OAuthState;
use crate::db::rotation::PKCE_VERIFIER_FIELD;
use crate::db::{self, oauth_states};
use crate::domain::audience::Audience;
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, FieldError, Result};
use crate::providers::{Identity, ProviderError, TokenSet, new_pkce_verifier, pkce_challenge_s256};
use crate::state::AppState;
use crate::telemetry::current_request_id;

pub const STATE_TTL_MINUTES: i64 = 10;

crate::domain::audit::text_enum! {
    /// Why an authorization is started (stored with its `state`).
    Purpose {
        /// Connect a profile to a brand (new account, or reconnect in place).
        Connect = "connect",
        /// Renew an existing account's grant; the identity must be its profile.
        Renew = "renew",
        /// Renew through a reconnect link opened by the profile's owner.
        ReconnectLink = "reconnect_link",
    }
}

pub struct StartRequest<'a> {
    /// The organization, and the brands whose accounts the callback's answer
    /// may name (the caller's, or a reconnect link's one brand).
    pub audience: &'a Audience,
    pub brand_id: BrandId,
    pub account_id: Option<AccountId>,
    pub network: &'a str,
    pub purpose: Purpose,
    pub return_url: Option<&'a str>,
    pub actor: &'a str,
}

#[derive(Debug, Clone)]
pub struct Started {
    pub authorization_url: Url,
    pub expires_at: DateTime<Utc>,
}

pub fn hash_state(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a front end's return URL against the allow-list.
pub fn check_return_url(app: &AppState, return_url: Option<&str>) -> Result<Option<Url>> {
    let Some(raw) = return_url else {
        return Ok(None);
    };
    let refuse = |detail: &str| Error::Validation(vec![FieldError::body("/return_url", detail)]);
    let url = Url::parse(raw).map_err(|_| refuse("must be an absolute URL"))?;
    if !app.settings.return_url_allowed(&url) {
        return Err(refuse("is not in the configured allow-list of return URLs"));
    }
    Ok(Some(url))
}

/// Creates the single-use state and answers the network's authorization URL.
pub async fn start(app: &AppState, request: StartRequest<'_>) -> Result<Started> {
    let Prepared { state, started } = prepare(app, request)?;
    db::run(&app.pool, move |conn| {
        oauth_states::insert_oauth_state(conn, &state)
    })
    .await?;
    Ok(started)
}

/// An authorization ready to start: the state to store, and what to answer
/// once it is stored.
pub struct Prepared {
    pub state: OAuthState,
    pub started: Started,
}

/// Checks a start's inputs and makes its single-use state, storing nothing:
/// a caller that must spend something with the start (a reconnect link)
/// stores the state in the same transaction (see [`start`]).
pub fn prepare(app: &AppState, request: StartRequest<'_>) -> Result<Prepared> {
    let provider = app.providers.get(request.network).ok_or_else(|| {
        Error::Validation(vec![FieldError::body(
            "/network",
            format!("no network named {:?} is configured", request.network),
        )])
    })?;
    let return_url = check_return_url(app, request.return_url)?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let state = URL_SAFE_NO_PAD.encode(raw);
    let verifier = new_pkce_verifier();
    let id = OAuthStateId::new();
    let sealed = app.keys.encrypt(
        verifier.as_bytes(),
        Binding {
            record_id: id.as_str(),
            field: PKCE_VERIFIER_FIELD,
        },
    );
    let created = app.now();
    let expires_at = created + Duration::minutes(STATE_TTL_MINUTES);
    let row = OAuthState {
        id,
        state_hash: hash_state(&state),
        organization_id: request.audience.organization_id().clone(),
        brand_id: request.brand_id,
        account_id: request.account_id,
        network: request.network.into(),
        purpose: request.purpose.as_str().into(),
        pkce_verifier: sealed.bytes,
        pkce_verifier_key_id: sealed.key_id,
        return_url: return_url.map(|u| u.to_string()),
        actor: request.actor.into(),
        request_id: current_request_id(),
        expires_at: to_db_time(expires_at),
        consumed_at: None,
        created_at: to_db_time(created),
        brands: request.audience.brand_ids().map(|brands| {
            brands
                .iter()
                .map(BrandId::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }),
    };
    Ok(Prepared {
        state: row,
        started: Started {
            authorization_url: provider.authorization_url(&state, &pkce_challenge_s256(&verifier)),
            expires_at,
        },
    })
}

/// The query of a network's redirect to the callback.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CallbackQuery {
    /// The authorization code (on success).
    pub code: Option<String>,
    /// The `state` tokenwarden gave the network.
    pub state: Option<String>,
    /// The network's error code (e.g. `access_denied`).
    pub error: Option<String>,
    /// The network's error text.
    pub error_description: Option<String>,
}

/// A finished callback: the stored grant as the answer shows it.
#[derive(Debug)]
pub struct Completed {
    pub organization_id: OrganizationId,
    pub brand_id: BrandId,
    pub account_id: AccountId,
    pub purpose: Purpose,
    pub return_url: Option<Url>,
    pub outcome: GrantOutcome,
}

/// What a callback did: stored the grant on an account, or (a network whose
/// profiles are assets a person manages) opened a connection waiting for the
/// assets to be chosen (docs/rules.md#assets).
#[derive(Debug)]
pub enum Callback {
    Stored(Box<Completed>),
    Select(Selecting),
}

/// A person's grant stored and waiting for a selection.
#[derive(Debug)]
pub struct Selecting {
    pub connection_id: ConnectionId,
    pub brand_id: BrandId,
    pub return_url: Option<Url>,
    pub expires_at: DateTime<Utc>,
}

/// A failed callback: the return URL to send the browser to (when the state
/// named one), a machine-readable reason, and the problem to answer otherwise.
#[derive(Debug)]
pub struct Failed {
    pub return_url: Option<Url>,
    pub reason: &'static str,
    pub error: Error,
}

fn fail(return_url: Option<&Url>, reason: &'static str, error: Error) -> Failed {
    Failed {
        return_url: return_url.cloned(),
        reason,
        error,
    }
}

/// Finishes an authorization. Everything before the grant is stored changes
/// nothing but the state's single use.
pub async fn complete(
    app: &AppState,
    network: &str,
    query: CallbackQuery,
) -> std::result::Result<Callback, Failed> {
    let row = find_state(app, &query).await?;
    let return_url = row.return_url.as_deref().and_then(|u| Url::parse(u).ok());
    let return_url = return_url.as_ref();
    let purpose = use_state(app, &row, network, return_url).await?;
    let code = authorization_code(&query).map_err(|(reason, e)| fail(return_url, reason, e))?;
    let provider = app.providers.get(network).ok_or_else(|| {
        fail(
            return_url,
            "network_unavailable",
            Error::NotFound(format!("no network named {network:?} is configured")),
        )
    })?;
    let verifier = open_verifier(app, &row).map_err(|e| fail(return_url, "server_error", e))?;

    // Network calls: no database connection is held here.
    let tokens = provider.exchange_code(code, &verifier, app.now()).await;
    app.network_health.observe(network, &tokens, app.now());
    let tokens = tokens.map_err(|e| exchange_failure(return_url, network, &e))?;
    let identity = provider
        .identity(&tokens.access_token)
        .await
        .map_err(|e| exchange_failure(return_url, network, &e))?;

    if purpose == Purpose::Connect && provider.assets().is_some() {
        let connection = super::connections::open(app, &row, identity, tokens)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => fail(return_url, "brand_gone", e),
                other => fail(return_url, "server_error", other),
            })?;
        tracing::info!(connection = %connection.id, network = %network, "authorization completed; waiting for a selection");
        return Ok(Callback::Select(Selecting {
            connection_id: connection.id,
            brand_id: connection.brand_id,
            return_url: return_url.cloned(),
            expires_at: from_db_time(connection.expires_at),
        }));
    }

    let (mut applied, outcome) = store_grant(app, &row, network, identity, tokens)
        .await
        .map_err(|e| match e {
            Error::IdentityMismatch(_) => fail(return_url, "identity_mismatch", e),
            Error::NotFound(_) => fail(return_url, "account_gone", e),
            other => fail(return_url, "server_error", other),
        })?;
    revoke_later(app, std::mem::take(&mut applied.orphans));
    let outcome = GrantOutcome {
        propagation: audience_of(&row).report(outcome.propagation),
        ..outcome
    };
    tracing::info!(
        account = %applied.account_id,
        network = %network,
        created = applied.created,
        propagated = applied.propagated.len(),
        "authorization completed"
    );
    Ok(Callback::Stored(Box::new(Completed {
        organization_id: row.organization_id,
        brand_id: row.brand_id,
        account_id: applied.account_id,
        purpose,
        return_url: return_url.cloned(),
        outcome,
    })))
}

/// The stored state the callback names. Before it is found there is no
/// return URL to send the browser to.
async fn find_state(
    app: &AppState,
    query: &CallbackQuery,
) -> std::result::Result<OAuthState, Failed> {
    let Some(state) = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
    else {
        return Err(fail(
            None,
            "invalid_state",
            Error::InvalidState("the callback has no state".into()),
        ));
    };
    let hash = hash_state(state);
    db::run(&app.pool, move |conn| {
        oauth_states::find_oauth_state_by_hash(conn, &hash)
    })
    .await
    .map_err(|e| fail(None, "server_error", e))?
    .ok_or_else(|| {
        fail(
            None,
            "invalid_state",
            Error::InvalidState("unknown state: start the authorization again".into()),
        )
    })
}

/// Checks the state was issued for this network and spends its single use;
/// returns why the authorization was started.
async fn use_state(
    app: &AppState,
    row: &OAuthState,
    network: &str,
    return_url: Option<&Url>,
) -> std::result::Result<Purpose, Failed> {
    if row.network != network {
        return Err(fail(
            return_url,
            "network_mismatch",
            Error::InvalidState(format!(
                "this state was issued for another network than {network:?}"
            )),
        ));
    }
    let purpose: Purpose = row.purpose.parse().map_err(|e| {
        fail(
            return_url,
            "server_error",
            Error::internal(format!("oauth state {}: {e}", row.id)),
        )
    })?;
    let (id, at) = (row.id, to_db_time(app.now()));
    let consumed = db::run(&app.pool, move |conn| {
        oauth_states::consume_oauth_state(conn, id, at)
    })
    .await
    .map_err(|e| fail(return_url, "server_error", e))?;
    if !consumed {
        return Err(if row.consumed_at.is_some() {
            fail(
                return_url,
                "state_used",
                Error::InvalidState("this state was already used".into()),
            )
        } else {
            fail(
                return_url,
                "state_expired",
                Error::InvalidState("this state expired: start the authorization again".into()),
            )
        });
    }
    Ok(purpose)
}

/// The code the network granted, or what the network answered instead (with
/// the reason the browser is told).
fn authorization_code(query: &CallbackQuery) -> std::result::Result<&str, (&'static str, Error)> {
    if let Some(error) = query.error.as_deref() {
        let reason = if error == "access_denied" {
            "access_denied"
        } else {
            "network_error"
        };
        return Err((
            reason,
            Error::GrantRejected(format!(
                "the network answered {error:?}; nothing was changed"
            )),
        ));
    }
    query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            (
                "missing_code",
                Error::BadRequest("the callback has no code".into()),
            )
        })
}

/// The PKCE verifier sealed with the state.
fn open_verifier(app: &AppState, row: &OAuthState) -> Result<String> {
    let verifier = app
        .keys
        .decrypt(
            &row.pkce_verifier_key_id,
            &row.pkce_verifier,
            Binding {
                record_id: row.id.as_str(),
                field: PKCE_VERIFIER_FIELD,
            },
        )
        .map_err(|e| Error::internal(format!("oauth state {}: {e}", row.id)))?;
    Ok(String::from_utf8_lossy(&verifier).to_string())
}

/// Stores the grant (a re-authorization when the state names an account) and
/// reads the account as the answer shows it, in one write transaction.
async fn store_grant(
    app: &AppState,
    row: &OAuthState,
    network: &str,
    identity: Identity,
    tokens: TokenSet,
) -> Result<(GrantApplied, GrantOutcome)> {
    let keys = app.keys.clone();
    let org = row.organization_id.clone();
    let brand = row.brand_id;
    let network_name = network.to_string();
    let expected = row.account_id;
    let actor = row.actor.clone();
    let providers = app.providers.clone();
    let at = app.now();
    db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let applied = apply_fresh_grant(
                conn,
                &keys,
                FreshGrant {
                    organization_id: &org,
                    brand_id: brand,
                    network: &network_name,
                    identity: &identity,
                    tokens: &tokens,
                    actor: &actor,
                    source: if expected.is_some() {
                        GrantSource::Reauthorize
                    } else {
                        GrantSource::Connect
                    },
                    expected_account: expected,
                    asset: None,
                },
                at,
            )?;
            let (account, propagation) = report_from(
                &applied.snapshot.organization,
                &providers,
                applied.snapshot.accounts.clone(),
                applied.account_id,
                at,
            )?;
            let outcome = GrantOutcome {
                created: applied.created,
                account,
                propagation,
            };
            Ok((applied, outcome))
        })
    })
    .await
}

/// The brands whose accounts the answer may name: those of the token that
/// started the authorization (stored with the state), or the whole organization.
fn audience_of(row: &OAuthState) -> Audience {
    match &row.brands {
        None => Audience::organization(row.organization_id.clone()),
        Some(brands) => Audience::brands(
            row.organization_id.clone(),
            // A stored brand that is no id would reach nothing either way.
            brands
                .split_whitespace()
                .filter_map(|b| BrandId::parse(b).ok()),
        ),
    }
}

fn exchange_failure(return_url: Option<&Url>, network: &str, error: &ProviderError) -> Failed {
    match error {
        ProviderError::ReauthRequired { .. } | ProviderError::Rejected { .. } => fail(
            return_url,
            "exchange_failed",
            Error::GrantRejected(format!(
                "{network} refused the authorization: {}",
                error.code()
            )),
        ),
        ProviderError::Transient { .. } => fail(
            return_url,
            "network_unavailable",
            upstream_error(network, error),
        ),
        ProviderError::Misconfigured { .. } => fail(
            return_url,
            "network_misconfigured",
            upstream_error(network, error),
        ),
    }
}

/// `return_url` with the outcome added to its query.
pub fn outcome_url(base: &Url, pairs: &[(&str, &str)]) -> Url {
    let mut url = base.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    url
}
