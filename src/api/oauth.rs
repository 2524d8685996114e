//! `GET /v1/oauth/callback/{network}`: where networks send the browser back.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, get, web};

use super::problem::AsProblem;
use super::shared::{CallbackResult, GrantResult, GrantStatus, SelectStatus, SelectionStart};
use crate::error::Error;
use crate::services::oauth::{Callback, CallbackQuery, Purpose, Selecting, complete, outcome_url};
use crate::state::AppState;

/// The callback's query as documented. A network always sends `state` back, so
/// it is required here; the handler still reads [`CallbackQuery`] so that a
/// redirect without it gets the `invalid-oauth-state` problem.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "documents the query; the handler reads CallbackQuery"
)]
struct CallbackParams {
    /// The `state` tokenwarden gave the network (single use, 10 minutes). An
    /// unknown one answers 404; an expired, used or other network's one 400.
    #[param(min_length = 1, max_length = 512)]
    state: String,
    /// The authorization code (on success).
    #[param(min_length = 1, max_length = 4096)]
    code: Option<String>,
    /// The network's error code (e.g. `access_denied`) when the user or the network refused.
    #[param(min_length = 1, max_length = 200)]
    error: Option<String>,
    /// The network's error text.
    #[param(max_length = 2000)]
    error_description: Option<String>,
}

/// OAuth callback (networks redirect here)
///
/// The `redirect_uri` given to every network: `{public_url}/v1/oauth/callback/{network}`.
/// No bearer token: the single-use `state` authenticates the request. It
/// exchanges the code (PKCE), reads the identity, stores the grant and then
/// redirects (303) to the return URL given when the authorization started,
/// with `tokenwarden_status=connected|reconnected|renewed` and `account_id`
/// (or, on a network whose profiles are assets a person manages — Facebook
/// Pages, say — `tokenwarden_status=select` and `connection_id`: list the
/// assets with `GET /v1/connections/{connection_id}` and connect the chosen
/// ones),
/// or with `tokenwarden_error=<reason>` (`access_denied`, `state_expired`,
/// `state_used`, `network_mismatch`, `exchange_failed`, `identity_mismatch`,
/// `network_unavailable`, `network_misconfigured`, …) — in which case nothing was changed. Without a
/// return URL it answers JSON (or a problem).
#[utoipa::path(
    operation_id = "complete_oauth_callback",
    tag = "oauth",
    security(()),
    params(
        ("network" = String, Path, description = "The network's configured name (e.g. `sandbox`, `x`).",
            max_length = 64, example = "sandbox"),
        CallbackParams
    ),
    responses(
        (status = 200, description = "The grant is stored (no return URL was given); on a network whose profiles are assets a person manages, the person's grant is stored and a connection waits for the assets to be chosen (`status: select`).", body = CallbackResult),
        (status = 303, description = "Redirect to the return URL with the outcome in its query.",
            headers(("Location" = String, description = "The return URL with `tokenwarden_status` or `tokenwarden_error`."))),
        (status = 400, description = "No `state`, or an expired, used or other network's `state`, or no code."),
        (status = 404, description = "No authorization was started with this `state` (or the network is not configured)."),
        (status = 409, description = "The authorized identity is not the account's profile; nothing was changed."),
        (status = 422, description = "The user denied access or the network refused the code; nothing was changed."),
        (status = 502, description = "The network answered with an error."),
        (status = 503, description = "The network is unavailable (`network-unavailable`), or refuses this deployment's client configuration (`network-misconfigured`); see `Retry-After`."),
        (status = 504, description = "The network did not answer in time.")
    )
)]
#[get("/oauth/callback/{network}")]
pub async fn oauth_callback(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let network = path.into_inner();
    let query = query.into_inner();
    let named_state = query
        .state
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s.len() <= 512);
    match complete(&state, &network, query).await {
        Ok(Callback::Select(selecting)) => select_answer(selecting),
        Ok(Callback::Stored(done)) => {
            let status = match (done.purpose, done.outcome.created) {
                (Purpose::Connect, true) => GrantStatus::Connected,
                (Purpose::Connect, false) => GrantStatus::Reconnected,
                _ => GrantStatus::Renewed,
            };
            let status_text = match status {
                GrantStatus::Connected => "connected",
                GrantStatus::Reconnected => "reconnected",
                _ => "renewed",
            };
            if let Some(url) = &done.return_url {
                let target = outcome_url(
                    url,
                    &[
                        ("tokenwarden_status", status_text),
                        ("account_id", done.account_id.as_str()),
                        ("brand_id", done.brand_id.as_str()),
                    ],
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target.to_string()))
                    .finish();
            }
            match GrantResult::new(status, done.outcome) {
                Ok(result) => HttpResponse::Ok().json(CallbackResult::Stored(Box::new(result))),
                Err(e) => e.error_response(),
            }
        }
        Err(failed) => match &failed.return_url {
            Some(url) => {
                let target = outcome_url(url, &[("tokenwarden_error", failed.reason)]);
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target.to_string()))
                    .finish()
            }
            // A well-formed `state` that names no authorization: nothing by that name.
            None if named_state && failed.reason == "invalid_state" => {
                Error::NotFound(failed.error.problem().detail.unwrap_or_default()).error_response()
            }
            None => failed.error.error_response(),
        },
    }
}

/// A connection waiting for a selection: to the return URL with
/// `tokenwarden_status=select&connection_id=…`, else as JSON.
fn select_answer(selecting: Selecting) -> HttpResponse {
    if let Some(url) = &selecting.return_url {
        let target = outcome_url(
            url,
            &[
                ("tokenwarden_status", "select"),
                ("connection_id", selecting.connection_id.as_str()),
                ("brand_id", selecting.brand_id.as_str()),
            ],
        );
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target.to_string()))
            .finish();
    }
    HttpResponse::Ok().json(CallbackResult::Select(SelectionStart {
        status: SelectStatus::Select,
        connection_id: selecting.connection_id.into(),
        brand_id: selecting.brand_id.into(),
        expires_at: selecting.expires_at,
    }))
}
