//! Connections: accepted up to a cap, each served by hyper's HTTP/1 with a header-read
//! timeout (hyper's own) and an idle keep-alive timeout, and drained on shutdown.
//!
//! - A request head must be complete within `header_timeout` of the moment the server starts
//!   waiting for it: the accept, or the end of the previous response on a kept-alive
//!   connection (hyper's `header_read_timeout`, which counts from there).
//! - A connection with no request in progress that receives no byte for `idle_timeout` is
//!   closed (hyper has no idle timeout of its own; a small watchdog per connection does it).
//! - At most `max_connections` connections are open; beyond it the server stops accepting
//!   until one closes, so further clients wait in the kernel's listen backlog.
//! - A request head that hyper refuses while parsing it (a control character in a header
//!   value, a folded header, too many headers) never reaches the router: hyper writes a bare
//!   4xx itself, and has no option to leave that to us. The socket wrapper recognizes that
//!   head (a 4xx without the `X-Request-Id` every router answer has) and writes the SPEC §5
//!   error body with a request id in its place.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long clients may take and how many may be connected.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a complete request head, from the accept or the end of the previous
    /// response.
    pub header_timeout: Duration,
    /// Time a connection without a request in progress may stay silent.
    pub idle_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            max_connections: 512,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets
/// requests in flight finish, closes idle connections, and returns when all are closed.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout.max(Duration::from_millis(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed; stop serving rather than spin
            },
            () = &mut shutdown => break,
        };
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        connections.spawn(serve_connection(
            socket,
            router.clone(),
            http.clone(),
            limits.idle_timeout,
            stopping.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// As hyper 0.14 and axum do: a failed accept that is not about the one connection (e.g.
/// too many open files) is logged and retried after a pause rather than ending the server.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection: {error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    socket: TcpStream,
    router: Router,
    http: http1::Builder,
    idle_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: socket,
        activity: Arc::clone(&activity),
        replacement: None,
    });
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = InFlight::start(&requests);
        let answer = router.clone().oneshot(request.map(Body::new));
        async move {
            let response = answer
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            Ok::<_, Infallible>(response.map(|body| Tracked {
                inner: body,
                _in_flight: in_flight,
            }))
        }
    });
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!("connection ended: {error}");
                }
                break;
            }
            _ = stopping.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = activity.idle_for(idle_timeout), if !closing => {
                closing = true;
                tracing::debug!("closing a connection idle for {idle_timeout:?}");
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection is doing: requests in progress and when it last did anything.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` of the last byte received or the last response finished.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// Completes once no request has been in progress and no byte has arrived for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let idle_since = last.elapsed();
            if self.in_flight.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(timeout).await;
            } else if idle_since >= timeout {
                return;
            } else {
                tokio::time::sleep(timeout - idle_since).await;
            }
        }
    }
}

/// One request in progress, from its head until its response body is finished or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that ends its request's [`InFlight`] when hyper is done with it.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when bytes arrive, and answering in place of hyper's own refusals.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// Our answer in place of hyper's refusal of a request head, and how much of it is
    /// written. Once set, hyper's own bytes are dropped: the refusal is the connection's last
    /// answer (hyper closes it after).
    replacement: Option<(Vec<u8>, usize)>,
}

impl Watched {
    /// Whether a write that starts with `bytes` is (the rest of) hyper's own refusal; the
    /// first time, our answer is queued in its place.
    fn replaces(&mut self, bytes: &[u8]) -> bool {
        if self.replacement.is_none() {
            self.replacement = refusal::hypers_refusal(bytes)
                .map(|(status, date)| (refusal::answer(status, date), 0));
            return self.replacement.is_some();
        }
        true
    }

    /// Writes what is left of the replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((bytes, written)) = &mut self.replacement {
            while *written < bytes.len() {
                match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => *written += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replaces(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // hyper writes a head as one slice, before any body.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && self.replaces(first)
        {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's refusals of request heads it cannot parse, answered in SPEC §5's words.
mod refusal {
    use axum::http::StatusCode;
    use uuid::Uuid;

    use super::super::error_codes as code;
    use super::super::request_id;
    use flowlake::error::{Error, ErrorBody};

    /// The status and `date` of hyper's own refusal, when `bytes` are one: a whole 4xx head
    /// and nothing else, without the `X-Request-Id` that every answer of the router carries.
    pub(super) fn hypers_refusal(bytes: &[u8]) -> Option<(u16, Option<String>)> {
        let head = bytes
            .strip_prefix(b"HTTP/1.1 4")?
            .strip_suffix(b"\r\n\r\n")?;
        let head = std::str::from_utf8(head).ok()?;
        let mut lines = head.split("\r\n");
        let status = 400 + lines.next()?.get(..2)?.parse::<u16>().ok()?;
        let mut date = None;
        for line in lines {
            let (name, value) = line.split_once(':')?;
            if name.eq_ignore_ascii_case(request_id::HEADER.as_str()) {
                return None;
            }
            if name.eq_ignore_ascii_case("date") {
                date = Some(value.trim().to_string());
            }
        }
        Some((status, date))
    }

    /// The whole response, head and SPEC §5 body, with a new request id.
    pub(super) fn answer(status: u16, date: Option<String>) -> Vec<u8> {
        let (error, message) = match status {
            431 => (
                code::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request head has too many or too large header fields",
            ),
            414 => (code::URI_TOO_LONG, "the request URI is too long"),
            _ => (
                Error::bad_request("").code(),
                "the request head is not valid HTTP/1.1: a malformed request line or header (e.g. a control character in a header value, or a header folded onto the next line)",
            ),
        };
        let id = Uuid::new_v4().to_string();
        {
            let span = tracing::info_span!("request", request_id = %id);
            let _entered = span.enter();
            tracing::info!(target: "flowlake::access", status, error, "refused a request head while parsing it");
        }
        let body = ErrorBody {
            status,
            error,
            message: message.to_string(),
            request_id: Some(id.clone()),
        };
        let body = serde_json::to_string(&body).unwrap_or_default() + "\n";
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Client Error");
        let date = date.map(|d| format!("date: {d}\r\n")).unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}: {id}\r\nconnection: close\r\n{date}\r\n",
            body.len(),
            request_id::HEADER.as_str()
        );
        [head.into_bytes(), body.into_bytes()].concat()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_hypers_bare_4xx_heads_are_taken_for_its_refusals() {
            let hypers = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 03:41:46 GMT\r\n\r\n";
            assert_eq!(
                hypers_refusal(hypers),
                Some((400, Some("Mon, 07 Dec 2026 03:41:46 GMT".to_string())))
            );
            assert_eq!(
                hypers_refusal(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n"
                )
                .map(|r| r.0),
                Some(431)
            );
            for other in [
                &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-request-id: abc\r\ncontent-length: 2\r\n\r\n"[..],
                b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
                b"{\"status\":400}",
            ] {
                assert_eq!(hypers_refusal(other), None, "{}", String::from_utf8_lossy(other));
            }
        }

        #[test]
        fn the_answer_is_a_spec_error_body_with_its_request_id() {
            let answer =
                String::from_utf8(answer(400, Some("Mon, 07 Dec 2026 03:41:46 GMT".into())))
                    .unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(
                head.starts_with("HTTP/1.1 400 Bad Request\r\n")
                    && head.contains("\r\ndate: Mon, 07 Dec 2026 03:41:46 GMT"),
                "{head}"
            );
            assert!(
                head.contains(&format!("content-length: {}", body.len())),
                "{head}"
            );
            let error: serde_json::Value = serde_json::from_str(body).unwrap();
            let id = head
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .unwrap();
            assert_eq!(
                (
                    error["status"].as_u64(),
                    error["error"].as_str(),
                    error["request_id"].as_str()
                ),
                (Some(400), Some("bad_request"), Some(id))
            );
        }
    }
}
