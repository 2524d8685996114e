//! The route table: every operation of the API, one line each, grouped by
//! resource in the order the product reads — start here to find the handler
//! of a path. Registration goes through utoipa-actix-web, so the OpenAPI
//! document cannot miss a route; the order of the lines is the order of the
//! paths in the document.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{
    account_events, accounts, brands, connections, expired, health, oauth, organization, profiles,
    reconnect, renewal, vault, webhook_deliveries, webhooks,
};

/// Registers every API route. Used both to serve and to build the document.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    // Operations: liveness, readiness and metrics, outside `/v1`.
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope("/v1")
                // The caller's organization; the billing system's organizations.
                .service(organization::get_organization)
                .service(organization::update_organization)
                .service(organization::create_organization)
                .service(organization::update_any_organization)
                // Brands.
                .service(brands::list_brands)
                .service(brands::create_brand)
                .service(brands::get_brand)
                .service(brands::update_brand)
                .service(brands::delete_brand)
                // Manage Accounts.
                .service(accounts::list_accounts)
                .service(accounts::connect_account)
                .service(accounts::import_account)
                .service(accounts::get_account)
                .service(accounts::update_account)
                .service(accounts::disconnect_account)
                .service(account_events::list_account_events)
                // Connect with selection: the assets a person manages.
                .service(connections::get_connection)
                .service(connections::connect_assets)
                // Renewal: one account, the dropdown's bulk renew, reconnect links.
                .service(renewal::renew_account)
                .service(renewal::bulk_renew)
                .service(renewal::create_reconnect_link)
                .service(reconnect::show_reconnect_link)
                .service(reconnect::open_reconnect_link)
                // The "Expired Tokens" dropdown.
                .service(expired::list_expired_tokens)
                .service(expired::expired_tokens_summary)
                // The vault: an access token for the suite's workers.
                .service(vault::read_access_token)
                // Profiles.
                .service(profiles::list_profiles)
                .service(profiles::get_profile)
                // Webhooks.
                .service(webhooks::list_webhooks)
                .service(webhooks::create_webhook)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhook_deliveries::rotate_webhook_secret)
                .service(webhook_deliveries::test_webhook)
                .service(webhook_deliveries::list_webhook_deliveries)
                // The networks' redirect target.
                .service(oauth::oauth_callback),
        );
}
