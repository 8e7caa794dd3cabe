//! The OpenAPI description of `/v1`, served at `GET /openapi.json`.
//!
//! Every `/v1` handler carries its `#[utoipa::path]` and is routed through an
//! `OpenApiRouter`, so a route cannot be added without entering the description. The
//! answers every endpoint may give (a malformed request, a missing or refused key, a rate
//! limit, the database down) are added here once, by [`CommonErrors`], instead of on
//! every handler.

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, RefOr, ResponseBuilder, schema,
};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rateline",
        description = "Service-quality rating engine: a closed chat becomes a rating request in the \
            channel it used; answers, alerts, follow-up and reports. Errors are \
            `{\"error\": {\"code\", \"message\", \"field\"?}}`; docs/api.md lists every code.",
    ),
    tags(
        (name = "lines", description = "Open lines and how they ask for ratings."),
        (name = "people", description = "Operators, supervisors, admins and their groups."),
        (name = "keys", description = "API keys for programs: made (shown once), listed, revoked."),
        (name = "sessions", description = "Conversations: open, messages, close, history."),
        (name = "ratings", description = "Clients' answers."),
        (name = "follow-up", description = "Alerts, responses, appeals, abusive comments, evaluations."),
        (name = "reports", description = "CSAT, averages and counts by operator, line, channel and day."),
        (name = "clients", description = "Forgetting a client: personal data erased, counts kept."),
        (name = "events", description = "Event subscriptions: ratings, responses and failed sends POSTed to a CRM, signed, in order, retried."),
        (name = "connectors", description = "The helpdesks this server rates the conversations of (Chatwoot, Zammad), as configured."),
    ),
    // Named by parameters only, which do not collect schemas by themselves.
    components(schemas(ErrorBody, ETagParam, TimeParam, rateline_domain::ChatwootAccount, rateline_domain::Id, rateline_domain::NameId, crate::store::Grouping, crate::store::InboxState)),
    security(("api_key" = [])),
)]
pub struct ApiDoc;

/// Every error answer: a stable code to branch on and a message saying what to fix.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code, e.g. `invalid_field`, `answer_window_closed`.
    pub code: rateline_domain::ErrorCode,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The offending field of the body (`client.id`), when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Adds the bearer-key scheme and, to each operation, the errors any of them may answer.
/// Applied to the whole description, once the routers have added their paths.
pub struct CommonErrors;

const COMMON: [(&str, &str); 6] = [
    (
        "400",
        "Malformed: unreadable JSON, a body of the wrong shape, an unknown or unreadable query \
         parameter or path.",
    ),
    (
        "401",
        "A key that is malformed, unknown or revoked; or none, where keys exist.",
    ),
    ("403", "The key's role or lines do not allow this."),
    (
        "408",
        "The body and its handling took longer than `server.request_timeout_seconds` \
         (`request_timeout`).",
    ),
    (
        "429",
        "Too many calls with this key, or too many refused keys from this address \
         (`rate_limited`); `Retry-After` says when to try again.",
    ),
    (
        "503",
        "The database is unavailable; nothing was changed, try again.",
    ),
];

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "api_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("rl_<id>_<secret>, from `rateline keys create`")
                        .description(Some(
                            "Required once any key exists; a server without keys listens on \
                             loopback only and lets every call through.",
                        ))
                        .build(),
                ),
            );
        // A helpdesk's view (`ConnectorView_…` in the description) flattens its settings,
        // which take no unknown field when written (`deny_unknown_fields`, hence
        // `additionalProperties: false`); read back, the view adds its own fields beside
        // them, so the flattened part must allow them.
        if let Some(components) = openapi.components.as_mut() {
            for (name, schema) in components.schemas.iter_mut() {
                if let (true, RefOr::T(schema::Schema::AllOf(all))) =
                    (name.starts_with("ConnectorView"), schema)
                {
                    for part in &mut all.items {
                        if let RefOr::T(schema::Schema::Object(o)) = part {
                            o.additional_properties = None;
                        }
                    }
                }
            }
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_common(op);
            }
        }
    }
}

fn add_common(op: &mut Operation) {
    not_null_headers(op);
    let mut add = |status: &str, description: &str| {
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        );
        if status == "429" {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new().schema_type(schema::Type::Integer),
                    ))
                    .description(Some("Seconds until a call is allowed again."))
                    .build(),
            );
        }
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(response.build()));
    };
    for (status, description) in COMMON {
        add(status, description);
    }
    if op.request_body.is_some() {
        add(
            "413",
            "The body is larger than `server.body_limit_bytes` allows.",
        );
    }
}

/// An optional header (`If-Match`, an `Option` in its handler) is sent or left out; it is
/// never `null`. utoipa describes an `Option` header as its schema or `null`, which a client
/// generated from the description sends as the text `null`: only the schema is kept.
fn not_null_headers(op: &mut Operation) {
    use utoipa::openapi::path::ParameterIn;
    let is_null = |s: &RefOr<schema::Schema>| {
        matches!(s, RefOr::T(schema::Schema::Object(o))
            if o.schema_type == schema::SchemaType::Type(schema::Type::Null))
    };
    for param in op.parameters.iter_mut().flatten() {
        let RefOr::T(param) = param else { continue };
        if !matches!(param.parameter_in, ParameterIn::Header) {
            continue;
        }
        if let Some(RefOr::T(schema::Schema::OneOf(one_of))) = &mut param.schema {
            one_of.items.retain(|s| !is_null(s));
            if one_of.items.len() == 1 {
                param.schema = one_of.items.pop();
            }
        }
    }
}

/// A version as `If-Match` names it: an `ETag` Rateline gave, a number in quotes
/// (`versions::if_match` refuses any other value as naming no version).
pub struct ETagParam;

impl utoipa::PartialSchema for ETagParam {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r#"^"[0-9]{1,18}"$"#))
            .into()
    }
}

impl utoipa::ToSchema for ETagParam {}

/// A time as the query parameters take it: RFC 3339, or a date for its midnight (UTC), as
/// `report::parse_time` reads it. Only described: the handlers read the query as text.
pub struct TimeParam;

impl utoipa::PartialSchema for TimeParam {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let of = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(of(KnownFormat::DateTime))
            .item(of(KnownFormat::Date))
            .into()
    }
}

impl utoipa::ToSchema for TimeParam {}
