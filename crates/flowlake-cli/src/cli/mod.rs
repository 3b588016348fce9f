//! The command line: clap definitions, resolved once into typed values, one file per
//! subcommand. `run` returns the process exit code (listed in the README).

/// A line on stderr. A closed or full stderr is no reason to panic (as `eprintln!` would):
/// the message is dropped.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A line on stdout; a reader that went away (`| head`) ends nothing but the output.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod batch;
mod compact;
#[cfg(feature = "cluster")]
mod executor;
mod explain;
mod generate;
mod ingest;
mod query;
#[cfg(feature = "cluster")]
mod scheduler;
mod serve;
mod signals;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use flowlake::engine::{Engine, EngineConfig};
use flowlake::error::Error;
use flowlake::memory;
use flowlake::output::Format;
use flowlake::storage::S3Options;
use flowlake::{Lake, LakeLocation};

/// The parser of a flag that takes one of a library enum's names (`--format json`): the
/// names are listed in `--help` and a wrong one is refused with them.
pub(crate) fn named<T>() -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + strum::VariantNames + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(T::VARIANTS).try_map(|name| name.parse::<T>())
}

/// Exit code for usage errors (bad flags, unreadable payload file).
pub const EXIT_USAGE: i32 = 2;

use signals::{identify_jobs, stop_requested, stopped};

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
    /// Load events from NDJSON, CSV or Parquet into the lake's day folders.
    Ingest(ingest::IngestArgs),
    /// Rewrite day folders into the layout queries read fastest, swapping day manifests.
    Compact(compact::CompactArgs),
    /// Run a cluster scheduler (Apache DataFusion Ballista) for `--cluster` clients.
    #[cfg(feature = "cluster")]
    Scheduler(scheduler::SchedulerArgs),
    /// Run a cluster executor that joins a `flowlake scheduler`.
    #[cfg(feature = "cluster")]
    Executor(executor::ExecutorArgs),
}

/// Engine resources, shared by every subcommand that runs queries.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// Memory the queries may hold (e.g. 512M, 1.5G); beyond it they spill or fail cleanly.
    /// serve and batch default to a share of the machine's memory (README: Configuration).
    #[arg(long, value_parser = parse_memory_limit)]
    pub memory_limit: Option<usize>,
    /// Parallelism of scans, joins and sorts (default: number of cores).
    #[arg(long)]
    pub target_partitions: Option<usize>,
    /// Run the plan on the cluster whose scheduler is at df://HOST:PORT (`flowlake
    /// scheduler`); the answer is the same bytes as a local run.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "df://HOST:PORT", value_parser = flowlake_cluster::ClusterAddress::parse_flag)]
    pub cluster: Option<flowlake_cluster::ClusterAddress>,
}

/// How long listings are reused: only for the faces that answer many queries (`batch`,
/// `serve`); a single `query` lists once anyway.
#[derive(Debug, Args)]
pub struct ListingArgs {
    /// Seconds a day folder's listing is reused by later queries (0: list every time).
    #[arg(long, default_value_t = 10)]
    pub list_cache_ttl: u64,
}

impl ListingArgs {
    /// The TTL as a duration.
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.list_cache_ttl)
    }
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

/// The memory pool of a subcommand's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// No limit (`query` and `explain` without `--memory-limit`).
    Unbounded,
    /// `--memory-limit`.
    Asked(usize),
    /// The default of `serve` and `batch`: [`memory::default_pool`] of the machine's
    /// available memory for `slots` queries at once.
    Derived {
        bytes: usize,
        available: u64,
        slots: usize,
    },
    /// `serve` or `batch` on a machine whose memory could not be read.
    Unknown,
}

impl Pool {
    /// `--memory-limit` if given; otherwise, for `slots` queries at once (`serve`, `batch`),
    /// the default derived from `available` memory.
    pub fn choose(
        memory_limit: Option<usize>,
        slots: Option<usize>,
        available: Option<u64>,
    ) -> Pool {
        match (memory_limit, slots, available) {
            (Some(bytes), _, _) => Pool::Asked(bytes),
            (None, None, _) => Pool::Unbounded,
            (None, Some(_), None) => Pool::Unknown,
            (None, Some(slots), Some(available)) => {
                let bytes =
                    usize::try_from(memory::default_pool(available, slots)).unwrap_or(usize::MAX);
                Pool::Derived {
                    bytes,
                    available,
                    slots,
                }
            }
        }
    }

    /// The startup line of `serve` and `batch`.
    pub fn describe(&self) -> String {
        let size = |bytes: usize| memory::human(u64::try_from(bytes).unwrap_or(u64::MAX));
        match self {
            Pool::Unbounded => "memory pool unbounded".to_string(),
            Pool::Asked(bytes) => format!("memory pool {} (--memory-limit)", size(*bytes)),
            Pool::Derived { bytes, available, slots } => format!(
                "memory pool {} (default: half of the {} available, less {} for each of {slots} queries at once; --memory-limit sets it)",
                size(*bytes),
                memory::human(*available),
                memory::human(memory::RESERVED_PER_QUERY),
            ),
            Pool::Unknown => "memory pool unbounded (the machine's memory could not be read; --memory-limit sets it)".to_string(),
        }
    }
}

/// The engine's settings from its resource and S3 flags and its pool.
fn engine_config(
    resources: &ResourceArgs,
    lake: &LakeArgs,
    list_cache_ttl: std::time::Duration,
    pool: Pool,
) -> EngineConfig {
    let (memory_limit, memory_limit_is_default) = match pool {
        Pool::Unbounded | Pool::Unknown => (None, false),
        Pool::Asked(bytes) => (Some(bytes), false),
        Pool::Derived { bytes, .. } => (Some(bytes), true),
    };
    EngineConfig {
        target_partitions: resources.target_partitions,
        memory_limit,
        memory_limit_is_default,
        s3: lake.s3.options(),
        list_cache_ttl,
        batch_size: None,
    }
}

/// The engine and the opened lake of a subcommand, with the memory pool `pool`. A local
/// lake folder that does not exist is a usage error (a mistyped `--lake`), not a fault of
/// the lake.
async fn open_lake(
    resources: &ResourceArgs,
    lake: &LakeArgs,
    list_cache_ttl: std::time::Duration,
    pool: Pool,
) -> Result<(Engine, Lake), Error> {
    let location = local_lake_exists(LakeLocation::parse(&lake.lake)?)?;
    let config = engine_config(resources, lake, list_cache_ttl, pool);
    #[cfg(feature = "cluster")]
    let engine = match &resources.cluster {
        Some(address) => flowlake_cluster::on_cluster(&config, address).await?,
        None => Engine::new(&config)?,
    };
    #[cfg(not(feature = "cluster"))]
    let engine = Engine::new(&config)?;
    let opened = engine.open_lake(location).await?;
    Ok((engine, opened))
}

/// The lake `lake` opened for writing (`ingest`, `compact`).
async fn open_writer(lake: &str, s3: &S3Args) -> Result<flowlake::write::LakeWriter, Error> {
    flowlake::write::LakeWriter::open(
        &local_lake_exists(LakeLocation::parse(lake)?)?,
        &s3.options(),
    )
    .await
}

/// `location`, unless it is a local folder that does not exist or is not a folder: a
/// mistyped `--lake`, a usage error that says which.
fn local_lake_exists(location: LakeLocation) -> Result<LakeLocation, Error> {
    if let LakeLocation::Local(folder) = &location
        && !folder.is_dir()
    {
        let what = if folder.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(Error::Usage {
            message: format!("--lake {}: the lake folder {what}", folder.display()),
        });
    }
    Ok(location)
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
    #[arg(long, value_parser = crate::cli::named::<Format>(), default_value = "json")]
    pub format: Format,
    #[command(flatten)]
    pub resources: ResourceArgs,
}

/// Parses `123`, `64K`, `512M`, `1.5G`, `2G` (powers of 1024; a fraction is rounded down to
/// whole bytes).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let not_a_size = || format!("'{text}' is not a size like 512M, 1.5G or 2G");
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 18 {
        return Err(not_a_size());
    }
    let scale: u128 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown size unit '{unit}' in '{text}' (use K, M, G or T)"
            ));
        }
    };
    let digits = |part: &str| {
        if part.is_empty() {
            Ok(0)
        } else {
            part.parse::<u128>().map_err(|_| not_a_size())
        }
    };
    let (whole, fraction_digits, fraction) =
        (digits(whole)?, fraction.len() as u32, digits(fraction)?);
    let bytes = whole
        .checked_mul(scale)
        .and_then(|bytes| bytes.checked_add(fraction * scale / 10u128.pow(fraction_digits)))
        .ok_or_else(|| format!("'{text}' is too large"))?;
    usize::try_from(bytes).map_err(|_| format!("'{text}' is too large"))
}

/// `--memory-limit`: a size, never zero (no query could run within it).
fn parse_memory_limit(text: &str) -> Result<usize, String> {
    match parse_bytes(text)? {
        0 => Err("a memory limit of 0 bytes leaves no query room to run; give a size like 512M (or omit it for the default)".into()),
        bytes => Ok(bytes),
    }
}

/// Parses the command line, runs the subcommand, and returns the exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    // The server logs its requests by default; the other commands keep stderr for errors.
    match &cli.command {
        Command::Serve(args) => init_tracing("info", args.log_format),
        command if command.is_server() => init_tracing("info", LogFormat::Text),
        _ => init_tracing("off", LogFormat::Text),
    }
    if matches!(cli.command, Command::Ingest(_)) {
        // Before any other thread exists.
        ingest::keep_freed_memory();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
            Command::Compact(args) => compact::run(args).await,
            Command::Ingest(args) => ingest::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Scheduler(args) => scheduler::run(args).await,
            #[cfg(feature = "cluster")]
            Command::Executor(args) => executor::run(args).await,
        }
    })
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, the span's fields (`request_id`) in front.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's fields at the
    /// top level, and the request's span (`span.request_id`), for log shippers.
    Json,
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
fn init_tracing(default: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Prints a usage error (a bad flag, a port in use) as `flowlake: …` on stderr and returns
/// exit code 2.
pub fn usage(message: &str) -> i32 {
    note!("flowlake: {message}");
    EXIT_USAGE
}

/// Prints the SPEC §5 error JSON on stderr and returns its exit code.
pub fn report(error: &Error) -> i32 {
    note!("{}", error.to_json());
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
    fn sizes_take_fractions() {
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert_eq!(parse_bytes("0.5M"), Ok(512 << 10));
        assert_eq!(parse_bytes(".25K"), Ok(256));
        assert_eq!(parse_bytes("2.G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.1K"), Ok(1126), "rounded down to whole bytes");
        assert_eq!(parse_bytes("1.000000000000000001T"), Ok(1 << 40));
        for bad in [
            ".",
            "1.2.3G",
            "G",
            "",
            "1,5G",
            "-1G",
            "1.5X",
            "99999999999999999999999T",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert!(
            parse_bytes("1.5X")
                .unwrap_err()
                .contains("unknown size unit 'X'")
        );
    }

    #[test]
    fn a_zero_memory_limit_is_refused() {
        assert!(parse_memory_limit("0").unwrap_err().contains("0 bytes"));
        assert!(parse_memory_limit("0G").is_err());
        assert!(
            parse_memory_limit("0.0000001K").is_err(),
            "rounds down to 0"
        );
        assert_eq!(parse_memory_limit("1.5G"), Ok(3 << 29));
    }

    #[test]
    fn serve_and_batch_get_a_pool_derived_from_memory_unless_one_is_asked() {
        const GIB: u64 = 1 << 30;
        assert_eq!(
            Pool::choose(Some(512 << 20), Some(64), Some(24 * GIB)),
            Pool::Asked(512 << 20),
            "--memory-limit wins"
        );
        assert_eq!(
            Pool::choose(None, None, Some(24 * GIB)),
            Pool::Unbounded,
            "query and explain: no default"
        );
        assert_eq!(Pool::choose(None, Some(4), None), Pool::Unknown);
        let derived = Pool::choose(None, Some(64), Some(24 * GIB));
        assert_eq!(
            derived,
            Pool::Derived {
                bytes: 8 << 30,
                available: 24 * GIB,
                slots: 64
            }
        );
        assert_eq!(
            derived.describe(),
            "memory pool 8.0 GiB (default: half of the 24.0 GiB available, less 64.0 MiB for each of 64 queries at once; --memory-limit sets it)"
        );
        let lake = LakeArgs {
            lake: "data".into(),
            s3: S3Args {
                s3_endpoint: None,
                s3_region: None,
                s3_allow_http: false,
                s3_virtual_hosted_style: false,
                s3_max_retries: 3,
                s3_retry_timeout: 15,
            },
        };
        let resources = ResourceArgs {
            memory_limit: None,
            target_partitions: None,
            #[cfg(feature = "cluster")]
            cluster: None,
        };
        let config = engine_config(&resources, &lake, std::time::Duration::ZERO, derived);
        assert_eq!(
            (config.memory_limit, config.memory_limit_is_default),
            (Some(8 << 30), true)
        );
        let config = engine_config(
            &resources,
            &lake,
            std::time::Duration::ZERO,
            Pool::Asked(1 << 20),
        );
        assert_eq!(
            (config.memory_limit, config.memory_limit_is_default),
            (Some(1 << 20), false)
        );
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
