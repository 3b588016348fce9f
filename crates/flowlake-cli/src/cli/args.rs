//! The flags several subcommands share, each parsed once into the value it stands for: a
//! lake location, sizes, S3 settings, the engine's resources, a request.

use std::path::PathBuf;

use clap::Args;
use flowlake::LakeLocation;
use flowlake::output::Format;
use flowlake::storage::S3Options;

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
    #[arg(long, default_value = "data", value_parser = lake_location)]
    pub lake: LakeLocation,
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

/// `--lake`: a local folder (made absolute) or `s3://bucket/prefix`.
pub(crate) fn lake_location(text: &str) -> Result<LakeLocation, String> {
    LakeLocation::parse(text).map_err(|e| e.to_string())
}

/// Parses `123`, `64K`, `512M`, `1.5G`, `2GiB` (powers of 1024 whether or not the unit says
/// `i`; a fraction is rounded to the nearest byte).
pub(crate) fn parse_bytes(text: &str) -> Result<usize, String> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| format!("'{text}' is not a size like 512M, 1.5G or 2G ({e})"))?;
    usize::try_from(bytes).map_err(|_| format!("'{text}' is too large"))
}

/// `--memory-limit`: a size, never zero (no query could run within it).
pub(crate) fn parse_memory_limit(text: &str) -> Result<usize, String> {
    match parse_bytes(text)? {
        0 => Err("a memory limit of 0 bytes leaves no query room to run; give a size like 512M (or omit it for the default)".into()),
        bytes => Ok(bytes),
    }
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
        assert_eq!(parse_bytes("0.25K"), Ok(256));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.1K"), Ok(1126), "rounded to whole bytes");
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
                .contains("'1.5X' is not a size")
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
}
