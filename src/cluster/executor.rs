//! `flowlake executor`: Ballista's executor with flowlake's codecs. It registers with the
//! scheduler, runs the tasks it is given (reading the lake itself: the same local path as
//! the client, or S3), and serves their results to the next stage and to clients.
//!
//! It opens two ports: `--listen` (Arrow Flight: results and shuffle data) and
//! `--grpc-port` (task launch and status, default: the `--listen` port + 1). Two executors
//! on one host run side by side with nothing but distinct values for both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Args;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::codec::{LogicalCodec, PhysicalCodec};
use super::stores::LakeStores;
use crate::cli::S3Args;
use crate::error::Error;

/// Seconds an executor keeps trying to reach its scheduler when it starts.
const SCHEDULER_CONNECT_SECONDS: u16 = 30;

/// Options of `flowlake executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, as HOST:PORT.
    #[arg(long)]
    pub scheduler: String,
    /// Address of this executor's Arrow Flight service (results and shuffle data); also the
    /// host advertised to the scheduler. Loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Port of this executor's gRPC service (default: the --listen port + 1).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Tasks run at once (default: the number of cores).
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle files (default: a temporary folder, removed on exit).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler; shorter than the scheduler's
    /// --executor-timeout, which counts missed heartbeats to tell that an executor is lost.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_interval: u64,
    /// How S3 lakes are reached, with this executor's own `AWS_*` credentials.
    #[command(flatten)]
    pub s3: S3Args,
}

/// The functions executors decode plans with: Ballista's registry lacks DataFusion's nested
/// (array) functions, which filters on list columns use (`array_has_any`, …).
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for function in datafusion::functions_nested::all_default_nested_functions() {
        registry.scalar_functions.insert(function.name().to_string(), function);
    }
    registry
}

/// Splits HOST:PORT (a bracketed IPv6 host is unwrapped).
fn host_port(text: &str) -> Result<(String, u16), Error> {
    let bad = || Error::bad_request(format!("--scheduler '{text}': expected HOST:PORT"));
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Runs the executor until SIGTERM or Ctrl-C (Ballista's own handling: it tells the
/// scheduler, lets running tasks finish and stops); returns the exit code.
pub async fn run(args: ExecutorArgs) -> i32 {
    match serve(args).await {
        Ok(()) => 0,
        Err(error) => crate::cli::report(&error),
    }
}

async fn serve(args: ExecutorArgs) -> Result<(), Error> {
    let (scheduler_host, scheduler_port) = host_port(&args.scheduler)?;
    let grpc_port = match args.grpc_port {
        Some(port) => port,
        None => args.listen.port().checked_add(1).ok_or_else(|| Error::bad_request("--listen port 65535 leaves no --grpc-port; give one"))?,
    };
    if grpc_port == args.listen.port() {
        return Err(Error::bad_request(format!("--grpc-port {grpc_port} is the --listen port; give two distinct ports")));
    }
    // Ballista reports a taken port without saying which: check both first.
    for (flag, port) in [("--listen", args.listen.port()), ("--grpc-port", grpc_port)] {
        let address = SocketAddr::new(args.listen.ip(), port);
        std::net::TcpListener::bind(address).map_err(|e| Error::bad_request(format!("cannot listen on {address} ({flag}): {e}")))?;
    }
    let work_dir = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::bad_request(format!("--work-dir {}: {e}", dir.display())))?;
            Some(dir.to_str().ok_or_else(|| Error::bad_request("--work-dir must be valid UTF-8"))?.to_string())
        }
        None => None,
    };
    let stores = Arc::new(LakeStores::new(args.s3.options()));
    let spill_dir = work_dir.clone();
    let runtime = move |_: &SessionConfig| {
        let mut runtime = RuntimeEnvBuilder::new().with_object_store_registry(Arc::clone(&stores) as _);
        if let Some(dir) = &spill_dir {
            runtime = runtime.with_temp_file_path(dir);
        }
        runtime.build_arc()
    };
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: args.listen.ip().to_string(),
        external_host: Some(args.listen.ip().to_string()),
        port: args.listen.port(),
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: SCHEDULER_CONNECT_SECONDS,
        vcores: args.concurrent_tasks.unwrap_or(defaults.vcores).max(1),
        executor_heartbeat_interval_seconds: args.heartbeat_interval,
        work_dir,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(Arc::new(runtime)),
        ..defaults
    };
    tracing::info!(
        "executor on {} (gRPC port {grpc_port}) joining the scheduler at {}",
        args.listen,
        args.scheduler
    );
    start_executor_process(Arc::new(config)).await.map_err(|e| Error::internal(format!("executor: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses_are_host_and_port() {
        assert_eq!(host_port("127.0.0.1:50050").unwrap(), ("127.0.0.1".to_string(), 50050));
        assert_eq!(host_port("[::1]:7").unwrap(), ("::1".to_string(), 7));
        assert!(host_port("no-port").is_err());
        assert!(host_port(":1").is_err());
    }
}
