//! The command line: clap definitions, resolved once into typed values, one file per
//! subcommand. `run` returns the process exit code (listed in the README).

mod batch;
mod explain;
mod generate;
mod query;
mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::{Engine, EngineConfig};
use crate::lake::{Lake, LakeLocation};
use crate::error::Error;
use crate::lake::S3Options;
use crate::output::Format;

/// Exit code for usage errors (bad flags, unreadable payload file).
pub const EXIT_USAGE: i32 = 2;

/// flowlake: the Workflow source data API over a Parquet event lake.
#[derive(Debug, Parser)]
#[command(name = "flowlake", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer one payload; the response goes to stdout, errors to stderr as JSON.
    Query(QueryArgs),
    /// Answer many query files; results to a folder, with summary.json.
    Batch(batch::BatchArgs),
    /// Show the logical and physical plan of a query, with pruning (`--analyze` runs it).
    Explain(explain::ExplainArgs),
    /// Serve the API page's HTTP endpoint, with access control.
    Serve(serve::ServeArgs),
    /// Write a deterministic synthetic lake.
    Generate(generate::GenerateArgs),
    /// Run a cluster scheduler (Apache DataFusion Ballista) for `--cluster` clients.
    #[cfg(feature = "cluster")]
    Scheduler(crate::cluster::scheduler::SchedulerArgs),
    /// Run a cluster executor that joins a `flowlake scheduler`.
    #[cfg(feature = "cluster")]
    Executor(crate::cluster::executor::ExecutorArgs),
}

/// Engine resources, shared by every subcommand that runs queries.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Memory the query may hold (e.g. 512M, 2G); beyond it, it spills or fails cleanly.
    #[arg(long, value_parser = parse_bytes)]
    pub memory_limit: Option<usize>,
    /// Parallelism of scans, joins and sorts (default: number of cores).
    #[arg(long)]
    pub target_partitions: Option<usize>,
    /// Seconds a day folder's listing is reused by later queries (0: list every time).
    #[arg(long, default_value_t = 10)]
    pub list_cache_ttl: u64,
    /// Run the plan on the cluster whose scheduler is at df://HOST:PORT (`flowlake
    /// scheduler`); the answer is the same bytes as a local run.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// Where the lake is and how to reach it.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long, default_value = "data")]
    pub lake: String,
    #[command(flatten)]
    pub s3: S3Args,
}

/// S3 settings; they override the standard AWS_* environment variables.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3-compatible endpoint URL, e.g. http://127.0.0.1:9000 (env: AWS_ENDPOINT_URL).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Region (env: AWS_REGION, AWS_DEFAULT_REGION).
    #[arg(long)]
    pub s3_region: Option<String>,
    /// Allow a plain http:// endpoint (env: AWS_ALLOW_HTTP=true).
    #[arg(long)]
    pub s3_allow_http: bool,
    /// Address buckets as https://bucket.endpoint rather than https://endpoint/bucket.
    #[arg(long)]
    pub s3_virtual_hosted_style: bool,
    /// Retries of a failed S3 request, with exponential backoff.
    #[arg(long, default_value_t = 3)]
    pub s3_max_retries: usize,
    /// Seconds after which a failing S3 request is not retried again.
    #[arg(long, default_value_t = 15)]
    pub s3_retry_timeout: u64,
}

impl S3Args {
    /// The library's options for these flags.
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            virtual_hosted_style: self.s3_virtual_hosted_style,
            max_retries: self.s3_max_retries,
            retry_timeout: std::time::Duration::from_secs(self.s3_retry_timeout),
            ..S3Options::default()
        }
    }
}

/// The engine's settings from its resource and S3 flags.
fn engine_config(resources: &ResourceArgs, lake: &LakeArgs) -> EngineConfig {
    EngineConfig {
        target_partitions: resources.target_partitions,
        memory_limit: resources.memory_limit,
        s3: lake.s3.options(),
        list_cache_ttl: std::time::Duration::from_secs(resources.list_cache_ttl),
        batch_size: None,
    }
}

/// The engine and the opened lake of a subcommand.
async fn open_lake(resources: &ResourceArgs, lake: &LakeArgs) -> Result<(Engine, Lake), Error> {
    let config = engine_config(resources, lake);
    #[cfg(feature = "cluster")]
    let engine = match &resources.cluster {
        Some(address) => Engine::on_cluster(&config, &crate::cluster::ClusterAddress::parse(address)?).await?,
        None => Engine::new(&config)?,
    };
    #[cfg(not(feature = "cluster"))]
    let engine = Engine::new(&config)?;
    let opened = engine.open_lake(LakeLocation::parse(&lake.lake)?).await?;
    Ok((engine, opened))
}

/// What identifies one request: the lake, the URL attributes and the payload.
#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub lake: LakeArgs,
    /// organization_id (UUID).
    #[arg(long = "org")]
    pub organization_id: String,
    /// workflow_id (UUID).
    #[arg(long = "workflow")]
    pub workflow_id: String,
    /// Payload JSON file, or - for stdin.
    #[arg(long)]
    pub payload: PathBuf,
}

/// `QueryArgs` are the request plus the output format and resources.
#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    /// Output encoding.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    #[command(flatten)]
    pub resources: ResourceArgs,
}

/// Parses `123`, `64K`, `512M`, `2G` (powers of 1024).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let number: usize = digits.parse().map_err(|_| format!("'{text}' is not a size like 512M or 2G"))?;
    let scale: usize = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(format!("unknown size unit '{unit}' (use K, M or G)")),
    };
    number.checked_mul(scale).ok_or_else(|| format!("'{text}' is too large"))
}

/// Parses the command line, runs the subcommand, and returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    // The server logs its requests by default; the other commands keep stderr for errors.
    init_tracing(if cli.command.is_server() { "info" } else { "off" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(&Error::internal(format!("starting the async runtime: {e}"))),
    };
    runtime.block_on(async {
        match cli.command {
            Command::Query(args) => query::run(args).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Explain(args) => explain::run(args).await,
            Command::Generate(args) => generate::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Scheduler(args) => crate::cluster::scheduler::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Executor(args) => crate::cluster::executor::run(args).await,
        }
    })
}

impl Command {
    /// Servers log by default; the other commands keep stderr for errors.
    fn is_server(&self) -> bool {
        match self {
            Command::Serve(_) => true,
            #[cfg(feature = "cluster")]
            Command::Scheduler(_) | Command::Executor(_) => true,
            _ => false,
        }
    }
}

/// Logs go to stderr (`RUST_LOG` overrides `default`), so stdout stays the response.
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// Prints the SPEC §5 error JSON on stderr and returns its exit code.
pub fn report(error: &Error) -> i32 {
    eprintln!("{}", error.to_json());
    error.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("12X").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
