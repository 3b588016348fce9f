//! Request ids and log lines of `flowlake serve`: the id of a request is echoed,
//! is on its log lines and in its error body, and cannot be used to forge log lines; JSON
//! logs are one object per line with the access log's fields.

use serde_json::Value;

use super::serve_support::*;

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn access_lines(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("flowlake::access"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_echoed_logged_and_in_the_error_body() {
    let server = ServedBinary::start(&["--no-auth"]);
    let url = source_data_url(&server.addr, SAMPLE_ORG, SAMPLE_WORKFLOW);
    let query = example_query("all-goals-advanced.json");

    let (status, headers, _) =
        post_json(&url, None, &query, &[("x-request-id", "trace-ok-1")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-request-id"), "trace-ok-1");

    let (status, headers, body) = post_json(
        &url,
        None,
        "{\"filters\": [], }",
        &[("x-request-id", "trace-bad-2")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(header(&headers, "x-request-id"), "trace-bad-2");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["request_id"], "trace-bad-2", "{error}");
    assert_eq!(error["error"], "bad_request");

    // An id that could forge a field or a line is replaced by a generated UUID v4.
    let forged = "x\" status=200 caller=admin";
    let (status, headers, body) = post_json(&url, None, "{", &[("x-request-id", forged)]).await;
    assert_eq!(status, 400);
    let generated = header(&headers, "x-request-id");
    let uuid = uuid::Uuid::parse_str(&generated).expect("a generated id is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["request_id"], generated.as_str());

    let (_, headers, _) = post_json(&url, None, &query, &[]).await;
    let unasked = header(&headers, "x-request-id");
    assert!(
        uuid::Uuid::parse_str(&unasked).is_ok(),
        "an id is generated when none is sent: {unasked}"
    );
    assert_ne!(unasked, generated, "each request gets its own id");

    let lines = server.stop();
    let access = access_lines(&lines);
    assert_eq!(access.len(), 4, "one access line per request: {lines:#?}");
    for (id, status) in [
        ("trace-ok-1", "status=200"),
        ("trace-bad-2", "status=400"),
        (generated.as_str(), "status=400"),
        (unasked.as_str(), "status=200"),
    ] {
        let mine: Vec<_> = access
            .iter()
            .filter(|l| l.contains(&format!("request_id={id}")))
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {lines:#?}");
        assert!(mine[0].contains(status), "{}", mine[0]);
    }
    assert!(
        !lines.iter().any(|l| l.contains("caller=admin")),
        "the forged id is not logged: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_access_fields() {
    let server = ServedBinary::start(&["--no-auth", "--log-format", "json"]);
    let url = source_data_url(&server.addr, SAMPLE_ORG, SAMPLE_WORKFLOW);
    let (status, _, _) = post_json(
        &url,
        None,
        &example_query("all-goals-advanced.json"),
        &[("x-request-id", "json-1")],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = post_json(&url, None, "[]", &[("x-request-id", "json-2")]).await;
    assert_eq!(status, 400);
    let lines = server.stop();
    let objects: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(objects.iter().all(Value::is_object));
    let access: Vec<&Value> = objects
        .iter()
        .filter(|o| o["target"] == "flowlake::access")
        .collect();
    assert_eq!(access.len(), 2, "{lines:#?}");
    let ok = access
        .iter()
        .find(|o| o["span"]["request_id"] == "json-1")
        .expect("the 200's line");
    for field in [
        "timestamp",
        "level",
        "method",
        "path",
        "status",
        "rows",
        "ms",
        "caller",
        "outcome",
    ] {
        assert!(!ok[field].is_null(), "{field} in {ok}");
    }
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["rows"], 206);
    assert_eq!(ok["outcome"], "complete");
    let bad = access
        .iter()
        .find(|o| o["span"]["request_id"] == "json-2")
        .expect("the 400's line");
    assert_eq!(bad["status"], 400);
    assert!(
        objects.iter().any(|o| o["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on http://"))),
        "lifecycle lines are JSON too"
    );
}
