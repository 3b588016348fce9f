//! Request ids: the caller's `X-Request-Id` when it is safe to put in a log line, otherwise a
//! new UUID v4. The id is echoed in the response, carried by the request's tracing span (so
//! it is on every log line of the request) and added to its error body as `request_id`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use uuid::Uuid;

/// The header that carries the id, in both directions.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a caller; longer ones are replaced.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being answered on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(String::clone).ok()
}

/// The caller's id if it is 1 to 128 characters of `A-Z a-z 0-9 - _ . :`: nothing that could
/// break a log line, a JSON string or a log query apart.
fn accepted(header: Option<&HeaderValue>) -> Option<String> {
    let text = header?.to_str().ok()?;
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    (!text.is_empty() && text.len() <= MAX_LEN && text.bytes().all(safe)).then(|| text.to_string())
}

/// The middleware: picks the id, runs the request inside its span, echoes the id.
pub async fn assign(request: Request, next: Next) -> Response {
    let id = accepted(request.headers().get(&HEADER)).unwrap_or_else(|| Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = CURRENT
        .scope(id.clone(), next.run(request))
        .instrument(span)
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Option<String> {
        accepted(Some(&HeaderValue::from_str(text).unwrap()))
    }

    #[test]
    fn only_short_ids_of_safe_characters_are_taken() {
        assert_eq!(id("req-42_a.b:c").as_deref(), Some("req-42_a.b:c"));
        assert_eq!(
            id("0e8f4d1c-5a55-4b2e-9d7e-1f1f1f1f1f1f").as_deref(),
            Some("0e8f4d1c-5a55-4b2e-9d7e-1f1f1f1f1f1f")
        );
        for bad in ["", "a b", "a\"b", "a=b", "a\\b", "{\"x\":1}", "é"] {
            assert_eq!(
                accepted(HeaderValue::from_bytes(bad.as_bytes()).ok().as_ref()),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(id(&"a".repeat(128)).map(|s| s.len()), Some(128));
        assert_eq!(id(&"a".repeat(129)), None);
        assert_eq!(accepted(None), None);
    }
}
