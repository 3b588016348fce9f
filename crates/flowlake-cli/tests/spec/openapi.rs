//! `GET /openapi.json`: the document is valid OpenAPI 3.1, and the server's real
//! answers (the sample lake's rows in every shape, the error bodies of every status it can
//! be made to give here) validate against the schemas the document gives for them; the
//! payload schema accepts the example payloads and refuses what SPEC §2 refuses.
//!
//! The OpenAPI 3.1 meta-schema `tests/fixtures/openapi-3.1-schema-2022-10-07.json` is the
//! official one (https://spec.openapis.org/oas/3.1/schema/2022-10-07), copied unchanged from
//! the PyPI package openapi-spec-validator 0.9.0
//! (`openapi_spec_validator/resources/schemas/v3.1/schema.json`, Apache-2.0).

use std::path::Path;

use flowlake_cli::serve::openapi::document;
use serde_json::{Value, json};

use super::serve_support::*;

const SOURCE_DATA: &str = "/api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data";

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("a usable schema: {e}"))
}

/// A validator for `pointer` (e.g. `#/components/schemas/Row`) inside the document.
fn schema_at(doc: &Value, pointer: &str) -> jsonschema::Validator {
    validator(
        &json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": pointer, "components": doc["components"]}),
    )
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn meta_schema() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/openapi-3.1-schema-2022-10-07.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn served_document(server: &RunningServer) -> Value {
    let response = reqwest::get(format!("http://{}/openapi.json", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn sample_server() -> RunningServer {
    RunningServer::local(&repo().join("data"), None, |c| c.max_body_bytes = 4096).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3_1_with_every_status_media_type_and_the_bearer_scheme() {
    let server = sample_server().await;
    let doc = served_document(&server).await;
    assert_eq!(
        doc,
        serde_json::to_value(document()).unwrap(),
        "the server serves the generated document"
    );
    let openapi = validator(&meta_schema());
    let problems = errors(&openapi, &doc);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));

    let operation = &doc["paths"][SOURCE_DATA]["post"];
    let responses = operation["responses"].as_object().unwrap();
    for status in [
        "200", "400", "401", "403", "404", "406", "413", "415", "500", "503",
    ] {
        assert!(responses.contains_key(status), "status {status}");
    }
    let mut media: Vec<&str> = responses["200"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    media.sort();
    assert_eq!(
        media,
        [
            "application/json",
            "application/vnd.apache.arrow.stream",
            "application/x-ndjson",
            "text/csv"
        ]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(operation["security"], json!([{"bearer": []}]));
    let codes = |status: &str| {
        doc["components"]["schemas"][format!("Error{status}")]["allOf"][1]["properties"]["error"]["enum"].clone()
    };
    assert_eq!(
        codes("403"),
        json!([
            "no_subscription",
            "no_org_access",
            "no_reporting_permission"
        ])
    );
    assert_eq!(
        codes("503"),
        json!(["storage_unavailable", "overloaded", "timeout"])
    );

    // The validator does refuse a broken document.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!openapi.is_valid(&broken));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_lakes_answers_validate_against_the_documented_schemas() {
    let server = sample_server().await;
    let doc = served_document(&server).await;
    let source_data = schema_at(&doc, "#/components/schemas/SourceData");
    let row = schema_at(&doc, "#/components/schemas/Row");
    let url = server.url(SAMPLE_ORG, SAMPLE_WORKFLOW);
    let mut rows_seen = 0;
    for example in [
        "all-goals-advanced.json",
        "api-example.json",
        "rooms-and-properties.json",
    ] {
        for (basic, target) in [
            (false, "affected_goal"),
            (false, "affected_goal_total"),
            (true, "affected_goal"),
            (true, "affected_goal_total"),
        ] {
            let mut payload: Value = serde_json::from_str(&example_query(example)).unwrap();
            payload["basic"] = json!(basic);
            payload["target"] = json!(target);
            let (status, _, body) = post_json(&url, None, &payload.to_string(), &[]).await;
            assert_eq!(status, 200);
            let answer: Value = serde_json::from_slice(&body).unwrap();
            let problems = errors(&source_data, &answer);
            assert!(
                problems.is_empty(),
                "{example} basic={basic} {target}: {problems:#?}"
            );
            rows_seen += answer["data"].as_array().unwrap().len();

            let (status, _, body) = post_json(
                &url,
                None,
                &payload.to_string(),
                &[("accept", "application/x-ndjson")],
            )
            .await;
            assert_eq!(status, 200);
            for line in String::from_utf8(body).unwrap().lines() {
                let problems = errors(&row, &serde_json::from_str(line).unwrap());
                assert!(problems.is_empty(), "{example} NDJSON: {problems:#?}");
            }
        }
    }
    assert!(
        rows_seen > 400,
        "the schemas were checked against real rows ({rows_seen})"
    );

    // The schemas are not vacuous: a row with a key too many, or a timestamp without its
    // fixed fraction, is refused.
    let (_, _, body) = post_json(&url, None, &example_query("all-goals-advanced.json"), &[]).await;
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let mut extra = answer.clone();
    extra["data"][0]["colour"] = json!("red");
    assert!(!source_data.is_valid(&extra));
    let mut short_time = answer.clone();
    short_time["data"][0]["timestamp"] = json!("2026-03-02T10:15:00Z");
    assert!(!source_data.is_valid(&short_time));

    // Error bodies of each status the sample server can be made to give.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(8192));
    // (status, URL, body, headers)
    type Case<'a> = (&'a str, String, String, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("400", url.clone(), "{\"filters\": [], }".into(), vec![]),
        ("400", server.url("not-a-uuid", SAMPLE_WORKFLOW), example_query("all-goals-advanced.json"), vec![]),
        ("404", server.url(SAMPLE_ORG, "1e000000-0000-4000-8000-000000000005"), example_query("all-goals-advanced.json"), vec![]),
        ("406", url.clone(), json!({"filters": [{"property": "colour", "values": ["x"]}], "interval": {"start": "2026-03-01", "end": "2026-03-01"}}).to_string(), vec![]),
        ("406", url.clone(), example_query("all-goals-advanced.json"), vec![("accept", "text/html")]),
        ("413", url.clone(), big, vec![]),
    ];
    for (status, url, body, headers) in cases {
        let (got, _, reply) = post_json(&url, None, &body, &headers).await;
        assert_eq!(got.to_string(), status);
        let schema = schema_at(&doc, &format!("#/components/schemas/Error{status}"));
        let problems = errors(&schema, &serde_json::from_slice(&reply).unwrap());
        assert!(problems.is_empty(), "{status}: {problems:#?}");
    }
    let unsupported = reqwest::Client::new()
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status().as_u16(), 415);
    let body: Value = serde_json::from_slice(&unsupported.bytes().await.unwrap()).unwrap();
    assert!(schema_at(&doc, "#/components/schemas/Error415").is_valid(&body));
    assert!(
        !schema_at(&doc, "#/components/schemas/Error404").is_valid(&body),
        "each status has its own codes"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payload_schema_refuses_what_spec_2_refuses() {
    let server = sample_server().await;
    let doc = served_document(&server).await;
    let payload = schema_at(&doc, "#/components/schemas/Payload");
    for example in [
        "all-goals-advanced.json",
        "api-example.json",
        "rooms-and-properties.json",
    ] {
        let problems = errors(
            &payload,
            &serde_json::from_str(&example_query(example)).unwrap(),
        );
        assert!(problems.is_empty(), "{example}: {problems:#?}");
    }
    let interval = json!({"start": "2026-03-02", "end": "2026-03-03"});
    let nulls = json!({"filters": [], "interval": {"start": "2026-03-02", "end": "2026-03-03", "time_zone": null}, "step_data": null, "limit": null, "target": null, "basic": null});
    assert!(
        payload.is_valid(&nulls),
        "null for an optional key means absent: {:#?}",
        errors(&payload, &nulls)
    );
    let url = server.url(SAMPLE_ORG, SAMPLE_WORKFLOW);
    let refused = [
        json!({"interval": interval}),
        json!({"filters": [], "interval": null}),
        json!({"filters": [], "interval": interval, "colour": 1}),
        json!({"filters": [], "interval": {"start": "2026-03-02", "end": "2026-03-03", "tz": "UTC"}}),
        json!({"filters": [{"property": "label", "values": []}], "interval": interval}),
        json!({"filters": [{"property": "label"}], "interval": interval}),
        json!({"filters": [], "interval": interval, "limit": 0}),
        json!({"filters": [], "interval": interval, "limit": "10"}),
        json!({"filters": [], "interval": interval, "target": "everything"}),
        json!({"filters": [], "interval": interval, "basic": "yes"}),
        json!({"filters": [], "interval": interval, "step_data": [{}, ["x"]]}),
        json!({"filters": [], "interval": interval, "step_data": [{}, {"actions": "x"}]}),
        json!([]),
    ];
    for body in refused {
        assert!(!payload.is_valid(&body), "the schema accepts {body}");
        let (status, _, _) = post_json(&url, None, &body.to_string(), &[]).await;
        assert_eq!(status, 400, "the server refuses {body} too");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_the_document_are_described_as_the_objects_they_are() {
    let server = sample_server().await;
    let doc = served_document(&server).await;
    for (path, body) in [("/healthz", None), ("/openapi.json", Some(doc.clone()))] {
        let schema =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "object", "{path}: {schema}");
        let body = match body {
            Some(body) => body,
            None => serde_json::from_slice(
                &reqwest::get(format!("http://{}{path}", server.addr))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            )
            .unwrap(),
        };
        let problems = errors(&validator(schema), &body);
        assert!(problems.is_empty(), "{path}: {problems:#?}");
    }
    let health = validator(
        &doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    assert!(
        !health.is_valid(&json!({"status": "ok", "extra": 1})) && !health.is_valid(&json!("ok")),
        "the schema says what the body is"
    );
    server.stop().await;
}
