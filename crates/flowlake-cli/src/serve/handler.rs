//! The request handlers: the source data endpoint, health, and the HTTP-level refusals.

use super::access_log::{AccessLog, Chunks, ErrorCode};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::time::Instant as Deadline;

use super::error_codes as code;
use super::metrics::ServerMetrics;
use super::{AppState, negotiate, request_id};
use flowlake::error::{Error, ErrorBody, Result};
use flowlake::output::{Format, encode};
use flowlake::query::Query;

/// `POST …/orgs/{org}/workflows/{workflow}/source_data`.
pub(super) async fn source_data(
    State(state): State<Arc<AppState>>,
    Path((organization_id, workflow_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let mut log = AccessLog::new(
        request.method().as_str(),
        request.uri().path(),
        &state.metrics,
    );
    let Ok(permit) = Arc::clone(&state.slots).try_acquire_owned() else {
        let mut response = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            code::OVERLOADED,
            "the server is answering as many requests as it may; retry shortly".into(),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return log.finish(response);
    };
    let deadline = Deadline::now() + state.request_timeout;
    let answer = tokio::time::timeout_at(
        deadline,
        start(&state, &organization_id, &workflow_id, request, &mut log),
    )
    .await;
    match answer {
        Ok(Ok((format, prefix, rest))) => log.stream(format, prefix, rest, deadline, permit),
        Ok(Err(response)) => log.finish(response),
        Err(_) => log.finish(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            code::TIMEOUT,
            format!("the request took longer than {:?}", state.request_timeout),
        )),
    }
}

/// Everything up to the first rows: access, negotiation, body, validation, planning. The
/// status is decided here, so any failure before the first row is a proper error response.
async fn start(
    state: &AppState,
    organization_id: &str,
    workflow_id: &str,
    request: Request,
    log: &mut AccessLog,
) -> Result<(Format, Vec<Bytes>, Option<Chunks>), Response> {
    // A refusal before the whole body is read leaves the rest of it on the connection,
    // which then cannot carry another request: say so, so that clients do not reuse it.
    let (format, body) = read_request(state, organization_id, request, log)
        .await
        .map_err(closing_connection)?;
    let query = Query::from_request(organization_id, workflow_id, &body).map_err(error_response)?;
    let response = state
        .engine
        .execute(&state.lake, &query)
        .await
        .map_err(error_response)?;
    log.plans = response
        .runs
        .iter()
        .map(|run| Arc::clone(&run.plan))
        .collect();
    let mut chunks: Chunks = Box::pin(encode(response, format).fuse());
    let mut prefix = Vec::new();
    loop {
        match chunks.next().await {
            Some(Ok(chunk)) => {
                log.rows += chunk.rows;
                let has_rows = chunk.rows > 0;
                prefix.push(Bytes::from(chunk.bytes));
                if has_rows {
                    return Ok((format, prefix, Some(chunks)));
                }
            }
            Some(Err(error)) => return Err(error_response(error)),
            None => return Ok((format, prefix, None)),
        }
    }
}

/// Access, content negotiation, content type and the body (within its limit), in that order.
async fn read_request(
    state: &AppState,
    organization_id: &str,
    request: Request,
    log: &mut AccessLog,
) -> Result<(Format, Bytes), Response> {
    let headers = request.headers();
    if let Some(access) = &state.access {
        let caller = access
            .load()
            .authorize(header_text(headers, header::AUTHORIZATION), organization_id)
            .map_err(error_response)?;
        log.caller = Some(caller.name);
    }
    let format = negotiate::format_for(header_text(headers, header::ACCEPT)).ok_or_else(|| {
        refusal(
            StatusCode::NOT_ACCEPTABLE,
            code::NOT_ACCEPTABLE,
            format!(
                "no acceptable encoding; this endpoint produces {}",
                negotiate::supported()
            ),
        )
    })?;
    let content_type = header_text(headers, header::CONTENT_TYPE).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        let shown = if content_type.is_empty() {
            "none".to_string()
        } else {
            format!("'{content_type}'")
        };
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be application/json, got {shown}"),
        ));
    }
    let too_large = || {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes", state.max_body_bytes),
        )
    };
    let declared =
        header_text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > state.max_body_bytes) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(request.into_body(), state.max_body_bytes)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                too_large()
            } else {
                error_response(Error::bad_request(format!("reading the request body: {e}")))
            }
        })?;
    Ok((format, body))
}

fn closing_connection(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.to_string().contains("length limit exceeded") {
            return true;
        }
        source = e.source();
    }
    false
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /metrics`: the Prometheus exposition.
pub(super) async fn metrics(State(metrics): State<Arc<ServerMetrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the metrics could not be rendered".into(),
        ),
    }
}

/// `GET /openapi.json`: the document is made once, on first use.
pub(super) async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let text = DOCUMENT.get_or_init(|| super::openapi::document().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response()
}

/// `GET /healthz`.
pub(super) async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}\n",
    )
        .into_response()
}

/// Any method but POST on the endpoint.
pub(super) async fn method_not_allowed(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let log = AccessLog::new(
        request.method().as_str(),
        request.uri().path(),
        &state.metrics,
    );
    let mut response = refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD_NOT_ALLOWED,
        format!("{} is not allowed; use POST", request.method()),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    log.finish(response)
}

/// Any other path.
pub(super) async fn no_such_endpoint(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let log = AccessLog::new(
        request.method().as_str(),
        request.uri().path(),
        &state.metrics,
    );
    log.finish(refusal(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint at {}", request.uri().path()),
    ))
}

/// The SPEC §5 body of an engine error, with its status.
fn error_response(error: Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_error(status, error.body())
}

/// A refusal of the HTTP layer in the same body shape as SPEC §5.
fn refusal(status: StatusCode, code: &'static str, message: String) -> Response {
    json_error(
        status,
        ErrorBody {
            status: status.as_u16(),
            error: code,
            message,
            request_id: None,
        },
    )
}

/// An error body with the request's id, as one line of JSON.
fn json_error(status: StatusCode, mut body: ErrorBody) -> Response {
    body.request_id = request_id::current();
    let text = serde_json::to_string(&body).unwrap_or_else(|_| {
        format!(
            r#"{{"status":{},"error":"{}","message":"unprintable error"}}"#,
            body.status, body.error
        )
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        text + "\n",
    )
        .into_response();
    response.extensions_mut().insert(ErrorCode(body.error));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use tokio::sync::Semaphore;

    use super::*;
    use flowlake::output::Chunk;

    /// Serves one streamed response built from `chunks` on a real socket; returns the
    /// status and what reading the whole body gave.
    async fn fetch(
        chunks: Vec<Result<Chunk>>,
        delay: Duration,
        timeout: Duration,
    ) -> (u16, Result<Bytes, reqwest::Error>) {
        let once = Arc::new(std::sync::Mutex::new(Some(chunks)));
        let handler = move || {
            let chunks = once.lock().unwrap().take().unwrap_or_default();
            let chunks = futures::stream::iter(chunks).then(move |c| async move {
                tokio::time::sleep(delay).await;
                c
            });
            let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
            let deadline = Deadline::now() + timeout;
            async move {
                AccessLog::new("POST", "/t", &Arc::new(ServerMetrics::new())).stream(
                    Format::Ndjson,
                    vec![Bytes::from_static(b"{\"a\":1}\n")],
                    Some(Box::pin(chunks)),
                    deadline,
                    permit,
                )
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, Router::new().route("/t", get(handler))).await
        });
        let response = reqwest::get(format!("http://{addr}/t")).await.unwrap();
        (response.status().as_u16(), response.bytes().await)
    }

    fn chunk(text: &str) -> Result<Chunk> {
        Ok(Chunk {
            bytes: text.as_bytes().to_vec(),
            rows: 1,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_complete_stream_is_a_complete_body() {
        let (status, body) = fetch(
            vec![chunk("{\"a\":2}\n"), chunk("{\"a\":3}\n")],
            Duration::ZERO,
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body.expect("complete body"),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_after_the_first_byte_breaks_the_transfer() {
        let failing = vec![
            chunk("{\"a\":2}\n"),
            Err(Error::Data {
                message: "corrupt page in x.parquet".into(),
                source: None,
            }),
            chunk("never"),
        ];
        let (status, body) = fetch(failing, Duration::ZERO, Duration::from_secs(30)).await;
        assert_eq!(status, 200, "the status was sent with the first byte");
        let error = body.expect_err("the client must see a broken transfer, not a short success");
        assert!(error.is_body() || error.is_decode(), "{error:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_that_outlives_the_request_timeout_is_cut_off() {
        let slow = vec![
            chunk("{\"a\":2}\n"),
            chunk("{\"a\":3}\n"),
            chunk("{\"a\":4}\n"),
        ];
        let (status, body) =
            fetch(slow, Duration::from_millis(150), Duration::from_millis(200)).await;
        assert_eq!(status, 200);
        assert!(body.is_err(), "cut off at the deadline: {body:?}");
    }
}
