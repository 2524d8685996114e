//! The HTTP layer: DTOs, extractors and handlers, one file per resource.
//! Every route is registered through utoipa-actix-web so the OpenAPI document
//! cannot miss one.

pub mod accounts;
pub mod brands;
pub mod examples;
pub mod expired;
pub mod extractors;
pub mod health;
pub mod idempotency;
pub mod middleware;
pub mod oauth;
pub mod organization;
pub mod profiles;
pub mod renewal;
pub mod routes;

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, Content, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};

use crate::error::{FieldError, Problem};

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
Errors are RFC 9457 `application/problem+json` documents whose `type` URI is stable. Lists use \
cursor pagination: pass `next_cursor` back as `cursor` until it is `null`.",
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
        (name = "profiles", description = "Social identities of the organization and the brands where each is connected."),
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
                        "A JWT (HS256, RS256 or EdDSA) with the claims iss, aud, sub, org, scope and exp.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Registers every API route. Used both to serve and to build the document.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope("/v1")
                .configure(organization::configure)
                .configure(brands::configure)
                .configure(accounts::configure)
                .configure(renewal::configure)
                .configure(expired::configure)
                .configure(profiles::configure)
                .configure(oauth::configure),
        );
}

/// The OpenAPI document, exactly as `/openapi.json` serves it.
pub fn openapi() -> openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
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
    let problem_ref = RefOr::Ref(openapi::Ref::from_schema_name("Problem"));
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            optional_body_without_null(operation);
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
