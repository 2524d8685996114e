//! `GET /v1/oauth/callback/{network}`: where networks send the browser back.

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use super::accounts::{GrantResult, load_account_for, propagation_report};
use crate::flows::oauth::{CallbackQuery, Purpose, complete, outcome_url};
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(oauth_callback);
}

/// OAuth callback (networks redirect here)
///
/// The `redirect_uri` given to every network: `{public_url}/v1/oauth/callback/{network}`.
/// No bearer token: the single-use `state` authenticates the request. It
/// exchanges the code (PKCE), reads the identity, stores the grant and then
/// redirects (303) to the return URL given when the authorization started,
/// with `tokenwarden_status=connected|reconnected|renewed` and `account_id`,
/// or with `tokenwarden_error=<reason>` (`access_denied`, `state_expired`,
/// `state_used`, `network_mismatch`, `exchange_failed`, `identity_mismatch`,
/// `network_unavailable`, …) — in which case nothing was changed. Without a
/// return URL it answers JSON (or a problem).
#[utoipa::path(
    operation_id = "oauth_callback",
    tag = "oauth",
    security(()),
    params(
        ("network" = String, Path, description = "The network's configured name."),
        CallbackQuery
    ),
    responses(
        (status = 200, description = "The grant is stored (no return URL was given).", body = GrantResult),
        (status = 303, description = "Redirect to the return URL with the outcome in its query.",
            headers(("Location" = String, description = "The return URL with `tokenwarden_status` or `tokenwarden_error`."))),
        (status = 400, description = "Unknown, expired, used or mismatched `state`, or no code."),
        (status = 404, description = "The network is not configured."),
        (status = 409, description = "The authorized identity is not the account's profile; nothing was changed."),
        (status = 422, description = "The user denied access or the network refused the code; nothing was changed."),
        (status = 502, description = "The network answered with an error."),
        (status = 503, description = "The network is unavailable; see `Retry-After`."),
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
    match complete(&state, &network, query.into_inner()).await {
        Ok(done) => {
            let status = match (done.purpose, done.applied.created) {
                (Purpose::Connect, true) => "connected",
                (Purpose::Connect, false) => "reconnected",
                _ => "renewed",
            };
            if let Some(url) = &done.return_url {
                let target = outcome_url(
                    url,
                    &[
                        ("tokenwarden_status", status),
                        ("account_id", &done.applied.account_id),
                        ("brand_id", &done.brand_id),
                    ],
                );
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target.to_string()))
                    .finish();
            }
            let account = load_account_for(
                &state,
                &done.organization_id,
                &done.brand_id,
                &done.applied.account_id,
            )
            .await;
            let propagation =
                propagation_report(&state, &done.organization_id, &done.applied).await;
            match (account, propagation) {
                (Ok(account), Ok(propagation)) => HttpResponse::Ok().json(GrantResult {
                    status: status.into(),
                    account,
                    propagation,
                }),
                (Err(e), _) | (_, Err(e)) => e.error_response(),
            }
        }
        Err(failed) => match &failed.return_url {
            Some(url) => {
                let target = outcome_url(url, &[("tokenwarden_error", failed.reason)]);
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, target.to_string()))
                    .finish()
            }
            None => failed.error.error_response(),
        },
    }
}
