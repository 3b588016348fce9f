//! `flowlake serve`: the HTTP endpoint, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{
    LakeArgs, ListingArgs, LogFormat, ResourceArgs, fail, open_shared, parse_bytes, report, usage,
};
use crate::serve::{Access, ConnectionLimits, ServeConfig, Server};

/// Options of `flowlake serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Access file: token digests, their organizations and permissions (SPEC §6).
    #[arg(long, required_unless_present = "no_auth", conflicts_with = "no_auth")]
    access: Option<PathBuf>,
    /// Serve without authentication; only a loopback --listen address is allowed.
    #[arg(long)]
    no_auth: bool,
    /// Largest request body (413 beyond it).
    #[arg(long, value_parser = parse_bytes, default_value = "1M")]
    max_body: usize,
    /// Seconds a request may take, its streamed body included.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Requests answered at once; beyond it 503 with Retry-After.
    #[arg(long, default_value_t = 64)]
    max_concurrent: usize,
    /// Seconds a client has to send a complete request head, from its connection (or the
    /// end of the previous response); then the connection is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a connection without a request in progress may stay silent before it is closed.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Connections open at once; further clients wait to be accepted until one closes.
    #[arg(long, default_value = "512")]
    max_connections: NonZeroUsize,
    /// Seconds between checks of workflows.json, goals.json and the access file for
    /// changes (SIGHUP checks at once).
    #[arg(long, default_value_t = 10)]
    reload_interval: u64,
    /// Serve GET /metrics on this address instead of on --listen (e.g. 127.0.0.1:9464).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Log lines as human text or as one JSON object per line (for log shippers).
    #[arg(long, value_enum, default_value = "text")]
    pub(super) log_format: LogFormat,
    #[command(flatten)]
    resources: ResourceArgs,
    #[command(flatten)]
    listing: ListingArgs,
}

pub(super) async fn run(args: ServeArgs) -> i32 {
    let access = match &args.access {
        Some(path) => match Access::load(path) {
            Ok(access) => Some(access),
            Err(error) => return fail(&error),
        },
        None => None,
    };
    let slots = args.max_concurrent.max(1);
    let (engine, lake, pool) =
        match open_shared(&args.resources, &args.lake, &args.listing, slots).await {
            Ok(opened) => opened,
            Err(error) => return report(&error),
        };
    let config = ServeConfig {
        listen: args.listen,
        access,
        access_file: args.access.clone(),
        reload_interval: Duration::from_secs(args.reload_interval.max(1)),
        max_body_bytes: args.max_body,
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        max_concurrent: args.max_concurrent,
        connections: ConnectionLimits {
            header_timeout: Duration::from_secs(args.header_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            max_connections: args.max_connections.get(),
        },
        metrics_listen: args.metrics_listen,
    };
    // The stop signals are caught from before the address is printed: a client that reads
    // the address and at once asks the server to stop gets a drained, clean exit.
    let shutdown = shutdown_signal(args.log_format);
    let mut server = match Server::bind(engine, lake, config).await {
        Ok(server) => server,
        Err(error) => return fail(&error),
    };
    match server.local_addr() {
        Ok(addr) => lifecycle(args.log_format, &format!("listening on http://{addr}")),
        Err(e) => return usage(&format!("reading the bound address: {e}")),
    }
    lifecycle(args.log_format, &pool.describe());
    // The metrics server ends with the process; it holds no request worth draining.
    if let Some(metrics) = server.take_metrics_server() {
        if let Ok(addr) = metrics.local_addr() {
            lifecycle(
                args.log_format,
                &format!("metrics on http://{addr}/metrics"),
            );
        }
        tokio::spawn(metrics.run());
    }
    match server.run(shutdown).await {
        Ok(()) => {
            lifecycle(args.log_format, "stopped");
            0
        }
        Err(e) => report(&flowlake::error::Error::internal(format!("serving: {e}"))),
    }
}

/// A line about the server's life (listening, stopping): plain text, or a JSON log line
/// when logs are JSON, so that a log shipper reads every line of stderr.
fn lifecycle(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => note!("flowlake: {message}"),
        LogFormat::Json => tracing::info!(target: "flowlake::serve", "{message}"),
    }
}

/// Completes on SIGINT or SIGTERM; the server then drains in-flight requests.
fn shutdown_signal(format: LogFormat) -> impl std::future::Future<Output = ()> + Send + 'static {
    let stop = super::signals::stop_requested();
    async move {
        stop.await;
        lifecycle(format, "shutting down; finishing requests in flight");
    }
}
