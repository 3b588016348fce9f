//! `serve`: the HTTP endpoint of the API page over the shared engine. Requests pass access
//! control (SPEC §6), then the same payload → query → plan → encoder path as the CLI.

pub mod access;
mod access_log;
mod connections;
mod error_codes;
mod handler;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
mod reload;
pub mod request_id;
mod scan_stats;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use access::Access;
pub use connections::ConnectionLimits;
use metrics::ServerMetrics;

use flowlake::engine::Engine;
use flowlake::error::Error;
use flowlake::lake::Lake;

/// The API page's path; `{org}` and `{workflow}` are the URL attributes.
pub const SOURCE_DATA_PATH: &str =
    "/api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data";

/// How the server runs.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Tokens and organizations; `None` serves without authentication (loopback only).
    pub access: Option<Access>,
    /// The file `access` was read from: re-read when it changes.
    pub access_file: Option<PathBuf>,
    /// How often the catalog files and the access file are checked for changes (SIGHUP
    /// checks at once).
    pub reload_interval: Duration,
    /// Largest request body accepted (413 beyond it).
    pub max_body_bytes: usize,
    /// Longest a request may take, response body included.
    pub request_timeout: Duration,
    /// Requests answered at once; more get 503 with `Retry-After`.
    pub max_concurrent: usize,
    /// Header-read and idle timeouts of connections, and how many may be open.
    pub connections: ConnectionLimits,
    /// Where `GET /metrics` is served instead of on `listen` (e.g. a private interface).
    pub metrics_listen: Option<SocketAddr>,
}

/// What every request shares.
struct AppState {
    engine: Arc<Engine>,
    lake: Arc<Lake>,
    /// The access rules in use, swapped whole when the access file changes.
    access: Option<Arc<ArcSwap<Access>>>,
    max_body_bytes: usize,
    request_timeout: Duration,
    slots: Arc<Semaphore>,
    metrics: Arc<ServerMetrics>,
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    router: Router,
    connections: ConnectionLimits,
    metrics: Option<MetricsServer>,
    /// Checks for changed files while the server runs; stops with it.
    _reloads: reload::ReloadTask,
}

/// `GET /metrics` on its own address (`--metrics-listen`).
pub struct MetricsServer {
    listener: TcpListener,
    router: Router,
}

impl MetricsServer {
    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves the metrics until the task is dropped.
    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).await
    }
}

impl Server {
    /// Binds the listener. Without access control only a loopback address is allowed.
    pub async fn bind(
        engine: Arc<Engine>,
        lake: Arc<Lake>,
        config: ServeConfig,
    ) -> Result<Server, Error> {
        if config.access.is_none() && !config.listen.ip().is_loopback() {
            return Err(Error::Usage {
                message: format!(
                    "without --access the server listens on loopback only, not {}",
                    config.listen
                ),
            });
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Usage {
                message: format!("listening on {}: {e}", config.listen),
            })?;
        let max_concurrent = config.max_concurrent.max(1);
        let slots = Arc::new(Semaphore::new(max_concurrent));
        let metrics = Arc::new(ServerMetrics::new().with_live_values(
            Arc::clone(&lake),
            Arc::clone(&slots),
            max_concurrent,
        ));
        let access = config
            .access
            .map(|rules| Arc::new(ArcSwap::from_pointee(rules)));
        let reloader = reload::Reloader {
            lake: Arc::clone(&lake),
            access: match (&access, config.access_file) {
                (Some(current), Some(path)) => {
                    Some(reload::WatchedAccess::new(path, Arc::clone(current)))
                }
                _ => None,
            },
            metrics: Arc::clone(&metrics),
        };
        let state = Arc::new(AppState {
            engine,
            lake,
            access,
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            slots,
            metrics: Arc::clone(&metrics),
        });
        let metrics_route = Router::new()
            .route("/metrics", get(handler::metrics))
            .with_state(metrics);
        let (metrics_here, metrics_server) = match config.metrics_listen {
            None => (Some(metrics_route), None),
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(|e| Error::Usage {
                    message: format!("listening for metrics on {addr}: {e}"),
                })?;
                (
                    None,
                    Some(MetricsServer {
                        listener,
                        router: metrics_route,
                    }),
                )
            }
        };
        let api = post(handler::source_data).fallback(handler::method_not_allowed);
        let mut router = Router::new()
            .route(SOURCE_DATA_PATH, api.clone())
            .route(&format!("{SOURCE_DATA_PATH}/"), api)
            .route("/healthz", get(handler::health))
            .route("/openapi.json", get(handler::openapi))
            .fallback(handler::no_such_endpoint)
            .with_state(state);
        if let Some(metrics_route) = metrics_here {
            router = router.merge(metrics_route);
        }
        let router = router.layer(axum::middleware::from_fn(request_id::assign));
        Ok(Server {
            listener,
            router,
            connections: config.connections,
            metrics: metrics_server,
            _reloads: reloader.spawn(config.reload_interval),
        })
    }

    /// The separate metrics server of `metrics_listen`, for the caller to run beside this one.
    pub fn take_metrics_server(&mut self) -> Option<MetricsServer> {
        self.metrics.take()
    }

    /// The address actually bound (the port of `:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes; then stops accepting connections and returns when
    /// the requests in flight have finished.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        connections::serve(self.listener, self.router, self.connections, shutdown).await
    }
}
