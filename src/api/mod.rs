//! The HTTP layer: DTOs, extractors and handlers, one file per resource.
//! Every route is registered in one table, `routes.rs`, through
//! utoipa-actix-web so the OpenAPI document cannot miss one.

pub mod account_events;
pub mod accounts;
pub mod brands;
pub mod conditional;
pub mod connections;
pub mod cors;
pub mod examples;
pub mod expired;
pub mod extractors;
pub mod health;
pub mod idempotency;
pub mod method_not_allowed;
pub mod metrics;
pub mod middleware;
pub mod oauth;
pub mod organization;
pub mod paths;
pub mod problem;
pub mod profiles;
pub mod ratelimit;
pub mod ready;
pub mod reconnect;
pub mod renewal;
pub mod responses;
pub mod routes;
pub mod server;
pub mod shared;
pub mod vault;
pub mod webhook_deliveries;
pub mod webhooks;

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, Content, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::api::problem::Problem;
use crate::error::FieldError;

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokenwarden",
        description = "Keeps the access tokens of social media profiles alive: lists the tokens that \
expired, renews a profile's token (silently with a refresh grant, or through an OAuth \
re-authorization), manages each brand's accounts and, on the Advanced plan, spreads one renewal \
to every brand that has the same profile enabled.\n\n\
Every `/v1` route except the OAuth callback needs `Authorization: Bearer <JWT>` with the claims \
`iss`, `aud`, `sub`, `org` (the caller's organization), `scope` (space-separated) and `exp`. \
An optional `brands` claim (a list of brand ids) restricts the token to those brands of its \
organization: other brands' ids answer 404 as ids of another organization do, lists and counts \
show only those brands, and a renewal's answer counts the other brands it reached without naming \
them; creating or deleting brands, the organization's settings and webhooks answer 403 \
`organization-wide-token-required` to such a token. \
Errors are RFC 9457 `application/problem+json` documents whose `type` URI is stable. Lists use \
cursor pagination: pass `next_cursor` back as `cursor` until it is `null`. No text a request \
sends, in its body or its query, may hold U+0000 (NUL): it answers 422 naming the member or \
parameter.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
        contact(name = "tokenwarden maintainers", url = "https://github.com/tokenwarden/tokenwarden"),
        version = "1.0.0"
    ),
    security(("bearer" = [])),
    servers((url = "/", description = "The tokenwarden that serves this document")),
    tags(
        (name = "organization", description = "The caller's organization, its plan and feature matrix; and, for the billing system, all organizations."),
        (name = "brands", description = "Brands (workspaces) of the caller's organization."),
        (name = "accounts", description = "Manage Accounts: the profiles connected to a brand, their token status, connect over OAuth, import, enable/disable, disconnect, audit trail."),
        (name = "expired tokens", description = "The \"Expired Tokens\" dropdown: what needs renewal across the caller's brands, and the badge counts."),
        (name = "renewal", description = "Renewing tokens: silently with a refresh grant, or through a re-authorization; bulk renewal; reconnect links for profile owners. On the Advanced plan a renewal reaches every brand with the same profile enabled."),
        (name = "vault", description = "For the suite's workers: a valid access token of an account, refreshed first when due."),
        (name = "profiles", description = "Social identities of the organization and the brands where each is connected."),
        (name = "webhooks", description = "Lifecycle webhooks (Advanced plan and up; `org:admin` and a token without a `brands` claim): subscriptions that receive token and account events as signed POSTs (Standard Webhooks), their secrets, test messages and delivery record."),
        (name = "oauth", description = "The networks' redirect target that finishes an authorization."),
        (name = "operations", description = "Liveness, readiness and metrics for operators and load balancers.")
    ),
    // `Include` appears only in query parameters, which utoipa does not collect.
    components(schemas(Problem, FieldError, expired::Include)),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT (HS256, RS256 or EdDSA) with the claims iss, aud, sub, org, scope and \
                         exp, and optionally brands: a list of 1–500 brand ids (UUIDs) of the org \
                         that restricts the token to those brands (any other value answers 401).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document, exactly as `/openapi.json` serves it.
pub fn openapi() -> openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    finish_document(&mut doc);
    doc
}

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// Gives every error response the problem+json body, so handlers only state
/// which statuses they can answer and why.
fn finish_document(doc: &mut openapi::OpenApi) {
    add_links(doc);
    let problem_ref = RefOr::Ref(openapi::Ref::from_schema_name("Problem"));
    let mut request_components = Vec::new();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            document_no_nul(operation, &mut request_components);
            optional_body_without_null(operation);
            document_rate_limit(operation);
            document_etag(operation);
            let error_statuses: Vec<String> = operation
                .responses
                .responses
                .keys()
                .filter(|s| s.starts_with('4') || s.starts_with('5'))
                .cloned()
                .collect();
            for status in error_statuses {
                if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(&status)
                    && response.content.is_empty()
                {
                    response.content.insert(
                        "application/problem+json".into(),
                        RefOr::T(Content::new(Some(problem_ref.clone()))),
                    );
                }
            }
        }
    }
    document_no_nul_in_components(doc, request_components);
}

/// No text a request sends may hold U+0000 (`extractors::NUL_REFUSED`, for
/// bodies; `middleware::refuse_nul_in_query`, for queries): every string a
/// request body, path or query takes says so, so that clients and fuzzers
/// know. Strings with a pattern, a format or an enum of their own exclude it
/// already (the patterns are written so).
fn document_no_nul(operation: &mut openapi::path::Operation, components: &mut Vec<String>) {
    use openapi::path::ParameterIn;
    for parameter in operation.parameters.iter_mut().flatten() {
        // Header values cannot carry U+0000.
        if let RefOr::T(parameter) = parameter
            && parameter.parameter_in != ParameterIn::Header
            && let Some(schema) = &mut parameter.schema
        {
            no_nul(schema, components);
        }
    }
    if let Some(RefOr::T(body)) = &mut operation.request_body {
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content
                && let Some(schema) = &mut content.schema
            {
                no_nul(schema, components);
            }
        }
    }
}

/// The same for the components requests refer to, and those they refer to.
fn document_no_nul_in_components(doc: &mut openapi::OpenApi, mut components: Vec<String>) {
    let mut done = std::collections::HashSet::new();
    while let Some(name) = components.pop() {
        if done.insert(name.clone())
            && let Some(schema) = doc
                .components
                .as_mut()
                .and_then(|c| c.schemas.get_mut(&name))
        {
            no_nul(schema, &mut components);
        }
    }
}

/// Gives every string of `schema` without a pattern, format or enum the
/// pattern that refuses U+0000; collects the components it refers to.
fn no_nul(schema: &mut RefOr<openapi::schema::Schema>, components: &mut Vec<String>) {
    use openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
    match schema {
        RefOr::Ref(reference) => {
            if let Some(name) = reference.ref_location.rsplit('/').next() {
                components.push(name.to_string());
            }
        }
        RefOr::T(Schema::Object(object)) => {
            let text = match &object.schema_type {
                SchemaType::Type(Type::String) => true,
                SchemaType::Array(types) => types.contains(&Type::String),
                _ => false,
            };
            if text
                && object.pattern.is_none()
                && object.format.is_none()
                && object.enum_values.is_none()
            {
                object.pattern = Some(extractors::NO_NUL_PATTERN.into());
            }
            for property in object.properties.values_mut() {
                no_nul(property, components);
            }
            if let Some(extra) = object.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(extra) = extra
            {
                no_nul(extra, components);
            }
        }
        RefOr::T(Schema::Array(array)) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                no_nul(items, components);
            }
        }
        RefOr::T(Schema::OneOf(one_of)) => {
            one_of.items.iter_mut().for_each(|s| no_nul(s, components));
        }
        RefOr::T(Schema::AnyOf(any_of)) => {
            any_of.items.iter_mut().for_each(|s| no_nul(s, components));
        }
        RefOr::T(Schema::AllOf(all_of)) => {
            all_of.items.iter_mut().for_each(|s| no_nul(s, components));
        }
        _ => {}
    }
}

/// Every authenticated operation may answer 429 when the organization's
/// request budget is spent (see `crate::api::ratelimit`).
fn document_rate_limit(operation: &mut openapi::path::Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let responses = &mut operation.responses.responses;
    if !responses.contains_key("401") || responses.contains_key("429") {
        return;
    }
    let seconds = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(86_400))
        .description(Some("Seconds to wait before retrying."))
        .build();
    let response = openapi::ResponseBuilder::new()
        .description(
            "The organization's request budget is spent; retry after `Retry-After` seconds. \
             The refusal is sent after a pause of up to a second. Answers carry \
             `RateLimit-Policy` and `RateLimit` headers.",
        )
        .header(
            "Retry-After",
            openapi::HeaderBuilder::new()
                .schema(Some(seconds))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        )
        .build();
    responses.insert("429".into(), RefOr::T(response));
}

/// A conditional read (one that may answer 304) tags its 200 with the `ETag`
/// the client sends back; said here once for every such operation.
fn document_etag(operation: &mut openapi::path::Operation) {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let responses = &mut operation.responses.responses;
    if !responses.contains_key("304") {
        return;
    }
    let Some(RefOr::T(ok)) = responses.get_mut("200") else {
        return;
    };
    let etag = openapi::HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
        .description(Some(
            "Strong tag of this answer; send it back in `If-None-Match`.",
        ))
        .build();
    ok.headers.insert("ETag".into(), RefOr::T(etag));
}

/// utoipa documents an optional body (`Option<T>`) as `oneOf: [T, null]`. What
/// the API takes is no body at all, or a `T` (a JSON `null` is refused, as
/// every body that is not an object): the body is `T`, with `required: false`.
fn optional_body_without_null(operation: &mut openapi::path::Operation) {
    use utoipa::openapi::schema::{Schema, Type};
    let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
        return;
    };
    let mut changed = false;
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let is_null = |s: &RefOr<Schema>| {
            matches!(s, RefOr::T(Schema::Object(o))
                if o.schema_type == openapi::schema::SchemaType::Type(Type::Null))
        };
        if one_of.items.len() == 2 && one_of.items.iter().any(is_null) {
            let inner = one_of.items.iter().find(|s| !is_null(s)).cloned();
            content.schema = inner;
            changed = true;
        }
    }
    if changed {
        body.required = Some(openapi::Required::False);
    }
}

/// OpenAPI links: where the ids an answer carries can be used next. They tell
/// a client author (and Schemathesis' stateful phase) how the operations chain.
/// `(operation id, status, links)`.
const LINKS: &[(&str, &str, &[Link])] = {
    const BRAND: &[(&str, &str)] = &[("brand_id", "$response.body#/id")];
    const FIRST_BRAND: &[(&str, &str)] = &[("brand_id", "$response.body#/data/0/id")];
    const FIRST_ACCOUNT: &[(&str, &str)] = &[
        ("brand_id", "$response.body#/data/0/brand_id"),
        ("account_id", "$response.body#/data/0/id"),
    ];
    const ACCOUNT: &[(&str, &str)] = &[
        ("brand_id", "$response.body#/brand_id"),
        ("account_id", "$response.body#/id"),
    ];
    const GRANTED_ACCOUNT: &[(&str, &str)] = &[
        ("brand_id", "$response.body#/account/brand_id"),
        ("account_id", "$response.body#/account/id"),
    ];
    const FIRST_EXPIRED: &[(&str, &str)] = &[
        ("brand_id", "$response.body#/data/0/brand/id"),
        ("account_id", "$response.body#/data/0/account_id"),
    ];
    const FIRST_PROFILE: &[(&str, &str)] = &[("profile_id", "$response.body#/data/0/id")];
    const ORGANIZATION: &[(&str, &str)] = &[("organization_id", "$response.body#/id")];
    const WEBHOOK: &[(&str, &str)] = &[("webhook_id", "$response.body#/webhook/id")];
    const FIRST_WEBHOOK: &[(&str, &str)] = &[("webhook_id", "$response.body#/data/0/id")];
    &[
        (
            "create_brand",
            "201",
            &[
                ("GetBrand", "get_brand", BRAND),
                ("RenameBrand", "update_brand", BRAND),
                ("DeleteBrand", "delete_brand", BRAND),
                ("ListAccounts", "list_accounts", BRAND),
                ("ConnectAccount", "connect_account", BRAND),
            ],
        ),
        (
            "list_brands",
            "200",
            &[
                ("GetFirstBrand", "get_brand", FIRST_BRAND),
                ("ListFirstBrandAccounts", "list_accounts", FIRST_BRAND),
                ("ConnectToFirstBrand", "connect_account", FIRST_BRAND),
            ],
        ),
        (
            "list_accounts",
            "200",
            &[
                ("GetFirstAccount", "get_account", FIRST_ACCOUNT),
                ("UpdateFirstAccount", "update_account", FIRST_ACCOUNT),
                ("RenewFirstAccount", "renew_account", FIRST_ACCOUNT),
                (
                    "ReconnectLinkForFirstAccount",
                    "create_reconnect_link",
                    FIRST_ACCOUNT,
                ),
                ("EventsOfFirstAccount", "list_account_events", FIRST_ACCOUNT),
                (
                    "DisconnectFirstAccount",
                    "disconnect_account",
                    FIRST_ACCOUNT,
                ),
            ],
        ),
        (
            "get_account",
            "200",
            &[
                ("RenewAccount", "renew_account", ACCOUNT),
                ("AccountEvents", "list_account_events", ACCOUNT),
            ],
        ),
        (
            "import_account",
            "201",
            &[
                ("GetImportedAccount", "get_account", GRANTED_ACCOUNT),
                ("RenewImportedAccount", "renew_account", GRANTED_ACCOUNT),
            ],
        ),
        (
            "list_expired_tokens",
            "200",
            &[
                ("RenewFirstExpired", "renew_account", FIRST_EXPIRED),
                ("GetFirstExpired", "get_account", FIRST_EXPIRED),
            ],
        ),
        (
            "list_profiles",
            "200",
            &[("GetFirstProfile", "get_profile", FIRST_PROFILE)],
        ),
        (
            "create_webhook",
            "201",
            &[
                ("GetWebhook", "get_webhook", WEBHOOK),
                ("UpdateWebhook", "update_webhook", WEBHOOK),
                ("TestWebhook", "test_webhook", WEBHOOK),
                ("WebhookDeliveries", "list_webhook_deliveries", WEBHOOK),
                ("DeleteWebhook", "delete_webhook", WEBHOOK),
            ],
        ),
        (
            "list_webhooks",
            "200",
            &[
                ("GetFirstWebhook", "get_webhook", FIRST_WEBHOOK),
                (
                    "DeliveriesOfFirstWebhook",
                    "list_webhook_deliveries",
                    FIRST_WEBHOOK,
                ),
            ],
        ),
        (
            "create_organization",
            "201",
            &[(
                "UpdateOrganization",
                "update_any_organization",
                ORGANIZATION,
            )],
        ),
    ]
};

/// `(link name, target operation id, [(parameter, runtime expression)])`.
type Link = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

fn add_links(doc: &mut openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    let known: std::collections::HashSet<String> = doc
        .paths
        .paths
        .values()
        .flat_map(operations_of)
        .filter_map(|o| o.operation_id.clone())
        .collect();
    for item in doc.paths.paths.values_mut() {
        for operation in operations_of_mut(item) {
            let Some(id) = operation.operation_id.clone() else {
                continue;
            };
            for (_, status, links) in LINKS.iter().filter(|(from, _, _)| *from == id) {
                let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                else {
                    continue;
                };
                for (name, target, parameters) in *links {
                    debug_assert!(known.contains(*target), "link to unknown {target}");
                    let mut link = LinkBuilder::new()
                        .operation_id(*target)
                        .description(format!(
                            "Call `{target}` with {} taken from this answer.",
                            parameters
                                .iter()
                                .map(|(p, _)| format!("`{p}`"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ));
                    for (parameter, expression) in *parameters {
                        link = link.parameter(*parameter, *expression);
                    }
                    response
                        .links
                        .insert((*name).to_string(), RefOr::T(link.build()));
                }
            }
        }
    }
}

fn operations_of(item: &openapi::PathItem) -> impl Iterator<Item = &openapi::path::Operation> {
    [&item.get, &item.put, &item.post, &item.delete, &item.patch]
        .into_iter()
        .flatten()
}

fn operations_of_mut(
    item: &mut openapi::PathItem,
) -> impl Iterator<Item = &mut openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}
