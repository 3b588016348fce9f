//! What a subcommand opens from its flags: the memory pool, the engine (local or on a
//! cluster) and the lake, or the lake's writer.

use std::sync::Arc;

use flowlake::engine::{Engine, EngineConfig};
use flowlake::error::Error;
use flowlake::memory::{self, MemoryPool};
use flowlake::{Lake, LakeLocation};

use flowlake::query::Query;

use super::args::{LakeArgs, ListingArgs, RequestArgs, ResourceArgs, S3Args};

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

    /// The engine's pool: the chosen size, and whether it was asked for.
    pub fn engine_pool(&self) -> MemoryPool {
        match *self {
            Pool::Unbounded | Pool::Unknown => MemoryPool::Unbounded,
            Pool::Asked(bytes) => MemoryPool::Asked(bytes),
            Pool::Derived { bytes, .. } => MemoryPool::Derived(bytes),
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
pub(crate) fn engine_config(
    resources: &ResourceArgs,
    lake: &LakeArgs,
    list_cache_ttl: std::time::Duration,
    pool: Pool,
) -> EngineConfig {
    EngineConfig {
        target_partitions: resources.target_partitions,
        memory: pool.engine_pool(),
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
    lake.lake.check_folder("--lake")?;
    let location = lake.lake.clone();
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

/// The engine and the lake of a face that answers many queries (`batch`, `serve`), to
/// share between them: listings reused for `--list-cache-ttl`, and a pool derived for
/// `slots` queries at once unless `--memory-limit` says otherwise.
pub(crate) async fn open_shared(
    resources: &ResourceArgs,
    lake: &LakeArgs,
    listing: &ListingArgs,
    slots: usize,
) -> Result<(Arc<Engine>, Arc<Lake>, Pool), Error> {
    let pool = Pool::choose(resources.memory_limit, Some(slots), memory::available());
    let (engine, lake) = open_lake(resources, lake, listing.ttl(), pool).await?;
    Ok((Arc::new(engine), Arc::new(lake), pool))
}

/// One request of `query` or `explain`: its query validated first (a bad payload opens
/// nothing), then the engine and the lake, with no pool unless `--memory-limit` and no
/// reuse of listings (the process answers once).
pub(crate) async fn open_request(
    request: &RequestArgs,
    resources: &ResourceArgs,
    payload: &[u8],
) -> Result<(Query, Engine, Lake), Error> {
    let query = Query::from_request(&request.organization_id, &request.workflow_id, payload)?;
    let pool = Pool::choose(resources.memory_limit, None, None);
    let (engine, lake) =
        open_lake(resources, &request.lake, std::time::Duration::ZERO, pool).await?;
    Ok((query, engine, lake))
}

/// The lake `lake` opened for writing (`ingest`, `compact`).
pub(crate) async fn open_writer(
    lake: &LakeLocation,
    s3: &S3Args,
) -> Result<flowlake::write::LakeWriter, Error> {
    lake.check_folder("--lake")?;
    flowlake::write::LakeWriter::open(lake, &s3.options()).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
            lake: LakeLocation::parse("data").unwrap(),
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
        assert_eq!(config.memory, MemoryPool::Derived(8 << 30));
        let config = engine_config(
            &resources,
            &lake,
            std::time::Duration::ZERO,
            Pool::Asked(1 << 20),
        );
        assert_eq!(config.memory, MemoryPool::Asked(1 << 20));
    }
}
