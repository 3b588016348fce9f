//! The OpenAPI 3.1 document of the server (`GET /openapi.json`), generated from the code:
//! the payload, error and field types derive their schemas (utoipa), the row schemas come
//! from the response shapes of SPEC §4, the media types from the encodings, and the error
//! codes of each status from [`Error`] and the HTTP layer's refusals.

use utoipa::OpenApi;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};

use super::SOURCE_DATA_PATH;
use super::error_codes as code;
use flowlake::error::{Denial, Error, ErrorBody};
use flowlake::output::{FieldType, Format, OutputField, Shape};
use flowlake::query::Target;
use flowlake::query::payload::{FilterSpec, IntervalSpec, Payload, StepSpec};

/// The schemas utoipa derives from the types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "flowlake: Workflow source data API",
        description = "Goal events that a web workflow affected, from Parquet event lakes."
    ),
    components(schemas(
        Payload,
        FilterSpec,
        StepSpec,
        IntervalSpec,
        Target,
        ErrorBody,
        OutputField,
        FieldType
    ))
)]
struct Derived;

/// The name of the security scheme.
const BEARER: &str = "bearer";

/// Every response shape, with the name of its row schema.
const SHAPES: [(&str, Shape); 4] = [
    (
        "AdvancedRow",
        Shape {
            basic: false,
            workflow_related: false,
        },
    ),
    (
        "AdvancedTotalRow",
        Shape {
            basic: false,
            workflow_related: true,
        },
    ),
    (
        "BasicRow",
        Shape {
            basic: true,
            workflow_related: false,
        },
    ),
    (
        "BasicTotalRow",
        Shape {
            basic: true,
            workflow_related: true,
        },
    ),
];

/// The error statuses of the endpoint (SPEC §5, §6 and the HTTP layer), their meaning and codes.
fn error_statuses() -> Vec<(u16, &'static str, Vec<&'static str>)> {
    let spec = |error: Error| error.code();
    vec![
        (
            400,
            "Malformed JSON, wrong types, unknown keys, an invalid UUID, a bad interval or time zone, limit < 1, an unknown target; or a request head that is not valid HTTP/1.1.",
            vec![spec(Error::bad_request(""))],
        ),
        (
            401,
            "No bearer token, or an unknown one.",
            vec![spec(Error::Unauthenticated)],
        ),
        (
            403,
            "A known token that may not read this: checked in the order no_subscription, no_org_access, no_reporting_permission.",
            [
                Denial::NoSubscription,
                Denial::NoOrgAccess,
                Denial::NoReportingPermission,
            ]
            .into_iter()
            .map(|d| spec(Error::Forbidden(d)))
            .collect(),
        ),
        (
            404,
            "The workflow is not in the catalog for that organization.",
            vec![spec(Error::WorkflowNotFound {
                organization_id: String::new(),
                workflow_id: String::new(),
            })],
        ),
        (
            406,
            "An unsupported filter property or workflow type (not_implemented), or no acceptable encoding in Accept (not_acceptable).",
            vec![
                spec(Error::UnsupportedFilter {
                    property: String::new(),
                    supported: String::new(),
                }),
                code::NOT_ACCEPTABLE,
            ],
        ),
        (
            413,
            "The body is larger than --max-body.",
            vec![code::PAYLOAD_TOO_LARGE],
        ),
        (
            414,
            "The request URI is too long to be parsed.",
            vec![code::URI_TOO_LONG],
        ),
        (
            415,
            "The body is not application/json.",
            vec![code::UNSUPPORTED_MEDIA_TYPE],
        ),
        (
            431,
            "The request head has too many or too large header fields.",
            vec![code::REQUEST_HEADER_FIELDS_TOO_LARGE],
        ),
        (
            500,
            "Anything unexpected, e.g. a corrupt Parquet file or a lake without workflows.json (named in the message).",
            vec![spec(Error::internal(""))],
        ),
        (
            503,
            "The object store cannot be reached after retries (storage_unavailable), all query slots are busy (overloaded, with Retry-After), or the request took longer than --request-timeout (timeout).",
            vec![
                spec(Error::StorageUnavailable {
                    message: String::new(),
                    source: None,
                }),
                code::OVERLOADED,
                code::TIMEOUT,
            ],
        ),
    ]
}

/// The whole document.
pub fn document() -> Document {
    let mut doc = Derived::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, shape) in SHAPES {
        components
            .schemas
            .insert(name.to_string(), row_schema(shape).into());
    }
    let mut rows =
        OneOfBuilder::new().description(Some("One event: the keys of `fields`, in that order."));
    for (name, _) in SHAPES {
        rows = rows.item(Ref::from_schema_name(name));
    }
    components
        .schemas
        .insert("Row".into(), Schema::OneOf(rows.build()).into());
    components
        .schemas
        .insert("SourceData".into(), source_data_schema().into());
    for (status, _, codes) in error_statuses() {
        components.schemas.insert(
            format!("Error{status}"),
            error_schema(status, &codes).into(),
        );
    }
    components.security_schemes.insert(
        BEARER.into(),
        RefOr::T(SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A token of the access file (stored there as its SHA-256 digest). A server started with --no-auth needs none."))
                .build(),
        )),
    );
    doc.paths.paths.insert(
        SOURCE_DATA_PATH.to_string(),
        PathItem::new(HttpMethod::Post, source_data_operation()),
    );
    let health = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("status", string().enum_values(Some(["ok"])))
        .required("status")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    doc.paths.paths.insert(
        "/healthz".into(),
        PathItem::new(
            HttpMethod::Get,
            plain_get(
                "Liveness",
                "application/json",
                "`{\"status\":\"ok\"}`",
                health,
            ),
        ),
    );
    doc.paths.paths.insert(
        "/metrics".into(),
        PathItem::new(
            HttpMethod::Get,
            plain_get(
                "Prometheus metrics (absent here when --metrics-listen moves them)",
                super::metrics::CONTENT_TYPE,
                "OpenMetrics text",
                string(),
            ),
        ),
    );
    let document = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("An OpenAPI 3.1 document."));
    doc.paths.paths.insert(
        "/openapi.json".into(),
        PathItem::new(
            HttpMethod::Get,
            plain_get("This document", "application/json", "OpenAPI 3.1", document),
        ),
    );
    doc
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// The schema of one value of a field, from its wire type.
fn value_schema(field: &OutputField, shape: Shape) -> Schema {
    let types = |ty: Type| {
        if field.nullable {
            SchemaType::Array(vec![ty, Type::Null])
        } else {
            SchemaType::Type(ty)
        }
    };
    match field.kind {
        FieldType::StringArray => Schema::Array(
            ArrayBuilder::new()
                .schema_type(types(Type::Array))
                .items(string())
                .build(),
        ),
        kind => {
            let (ty, format, pattern) = match kind {
                FieldType::String => (Type::String, None, None),
                FieldType::Integer => (Type::Integer, Some(KnownFormat::Int64), None),
                FieldType::Number => (Type::Number, Some(KnownFormat::Double), None),
                FieldType::Boolean => (Type::Boolean, None, None),
                FieldType::Timestamp => (
                    Type::String,
                    Some(KnownFormat::DateTime),
                    Some(format!(
                        r"^\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}\.\d{{{}}}Z$",
                        shape.timestamp_digits()
                    )),
                ),
                FieldType::Date | FieldType::StringArray => (
                    Type::String,
                    Some(KnownFormat::Date),
                    Some(r"^\d{4}-\d{2}-\d{2}$".to_string()),
                ),
            };
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(types(ty))
                    .format(format.map(SchemaFormat::KnownFormat))
                    .pattern(pattern)
                    .build(),
            )
        }
    }
}

/// A row of one shape: exactly its fields, every one present (nulls written out).
fn row_schema(shape: Shape) -> Schema {
    let mut row = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for field in shape.fields() {
        row = row
            .property(field.name.clone(), value_schema(&field, shape))
            .required(field.name.clone());
    }
    let description = format!(
        "A row of the {} output{}.",
        if shape.basic { "basic" } else { "advanced" },
        if shape.workflow_related {
            " of affected_goal_total"
        } else {
            ""
        }
    );
    Schema::Object(row.description(Some(description)).build())
}

/// `{"fields": [...], "data": [...]}` (SPEC §4).
fn source_data_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "fields",
                ArrayBuilder::new().items(Ref::from_schema_name("OutputField")),
            )
            .required("fields")
            .property(
                "data",
                ArrayBuilder::new().items(Ref::from_schema_name("Row")),
            )
            .required("data")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .description(Some(
                "The response in application/json: the columns, then one object per event.",
            ))
            .build(),
    )
}

/// The error body of one status: its `status` and the codes it can carry.
fn error_schema(status: u16, codes: &[&str]) -> Schema {
    let narrowed = ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status])),
        )
        .property("error", string().enum_values(Some(codes.iter().copied())));
    Schema::AllOf(
        AllOfBuilder::new()
            .item(Ref::from_schema_name("ErrorBody"))
            .item(narrowed)
            .build(),
    )
}

fn request_id_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(string()))
        .description(Some("The request's id: the caller's X-Request-Id when it is 1-128 characters of A-Z a-z 0-9 - _ . :, otherwise a generated UUID v4."))
        .build()
}

fn source_data_operation() -> utoipa::openapi::path::Operation {
    // utoipa's Uuid format needs its uuid feature; the keyword is the same.
    let uuid = || string().format(Some(SchemaFormat::Custom("uuid".into())));
    let path_parameter = |name: &str, what: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(format!(
                "The {what} (a hyphenated UUID, any case); anything else is a 400."
            )))
            .schema(Some(uuid()))
            .build()
    };
    let mut answer = ResponseBuilder::new()
        .description("The goal events, streamed. The encoding follows Accept (absent or */* means JSON); an error after the first byte aborts the chunked body.")
        .header("X-Request-Id", request_id_header());
    for format in Format::ALL {
        let content = match format {
            Format::Json => ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("SourceData")))
                .build(),
            // OpenAPI 3.1 has no item schema for line-delimited bodies (3.2's itemSchema):
            // the description points to it.
            Format::Ndjson => ContentBuilder::new()
                .schema(Some(string().description(Some(
                    "One object per line, each a #/components/schemas/Row.",
                ))))
                .build(),
            Format::Csv => ContentBuilder::new()
                .schema(Some(string().description(Some(
                    "A header of field names, then one line per row; lists as JSON array text.",
                ))))
                .build(),
            Format::Arrow => ContentBuilder::new()
                .schema(Some(
                    string()
                        .content_media_type(format.media_type())
                        .description(Some(
                            "An Arrow IPC stream: schema, record batches, end marker.",
                        )),
                ))
                .build(),
        };
        answer = answer.content(format.media_type(), content);
    }
    let mut responses = ResponsesBuilder::new().response("200", answer.build());
    for (status, description, _) in error_statuses() {
        let mut response = ResponseBuilder::new()
            .description(description)
            .header("X-Request-Id", request_id_header())
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(format!("Error{status}"))))
                    .build(),
            );
        if status == 503 {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(string()))
                    .description(Some("Seconds to wait; sent with `overloaded`."))
                    .build(),
            );
        }
        responses = responses.response(status.to_string(), response.build());
    }
    OperationBuilder::new()
        .operation_id(Some("sourceData"))
        .summary(Some("Goal events affected by a workflow"))
        .description(Some("Access is checked first (401, then 403 in order), then the URL attributes and the payload (400), filter properties (406), the workflow's existence (404) and its type (406)."))
        .parameter(path_parameter("org", "organization_id"))
        .parameter(path_parameter("workflow", "workflow_id"))
        .parameter(
            ParameterBuilder::new()
                .name("X-Request-Id")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("An id to find the request by in logs; echoed in the response and in error bodies."))
                .schema(Some(string().pattern(Some("^[A-Za-z0-9._:-]{1,128}$"))))
                .build(),
        )
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Payload"))).build())
                .build(),
        ))
        .responses(responses.build())
        .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
        .build()
}

/// A GET whose 200 body is `body` in `media_type`.
fn plain_get(
    summary: &str,
    media_type: &str,
    description: &str,
    body: ObjectBuilder,
) -> utoipa::openapi::path::Operation {
    let response = ResponseBuilder::new().description(description).content(
        media_type,
        ContentBuilder::new()
            .schema(Some(RefOr::T(Schema::Object(body.build()))))
            .build(),
    );
    OperationBuilder::new()
        .summary(Some(summary))
        .responses(
            ResponsesBuilder::new()
                .response("200", response.build())
                .build(),
        )
        .build()
}
