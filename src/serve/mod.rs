//! `serve`: the HTTP endpoint of the API page over the shared engine. Requests pass access
//! control (SPEC §6), then the same payload → query → plan → encoder path as the CLI.

pub mod access;
mod handler;
pub mod negotiate;
pub mod request_id;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use access::Access;

use crate::engine::Engine;
use crate::lake::Lake;

/// The API page's path; `{org}` and `{workflow}` are the URL attributes.
pub const SOURCE_DATA_PATH: &str = "/api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data";

/// How the server runs.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Tokens and organizations; `None` serves without authentication (loopback only).
    pub access: Option<Access>,
    /// Largest request body accepted (413 beyond it).
    pub max_body_bytes: usize,
    /// Longest a request may take, response body included.
    pub request_timeout: Duration,
    /// Requests answered at once; more get 503 with `Retry-After`.
    pub max_concurrent: usize,
}

/// What every request shares.
struct AppState {
    engine: Arc<Engine>,
    lake: Arc<Lake>,
    access: Option<Access>,
    max_body_bytes: usize,
    request_timeout: Duration,
    slots: Arc<Semaphore>,
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Binds the listener. Without access control only a loopback address is allowed.
    pub async fn bind(engine: Arc<Engine>, lake: Arc<Lake>, config: ServeConfig) -> Result<Server, String> {
        if config.access.is_none() && !config.listen.ip().is_loopback() {
            return Err(format!("without --access the server listens on loopback only, not {}", config.listen));
        }
        let listener = TcpListener::bind(config.listen).await.map_err(|e| format!("listening on {}: {e}", config.listen))?;
        let state = Arc::new(AppState {
            engine,
            lake,
            access: config.access,
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
        });
        let api = post(handler::source_data).fallback(handler::method_not_allowed);
        let router = Router::new()
            .route(SOURCE_DATA_PATH, api.clone())
            .route(&format!("{SOURCE_DATA_PATH}/"), api)
            .route("/healthz", get(handler::health))
            .fallback(handler::no_such_endpoint)
            .with_state(state)
            .layer(axum::middleware::from_fn(request_id::assign));
        Ok(Server { listener, router })
    }

    /// The address actually bound (the port of `:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; then stops accepting connections and returns when
    /// the requests in flight have finished.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
    }
}
