//! The machine's memory, and the memory pool `serve` and `batch` get when no
//! `--memory-limit` is given: without one the final sort of a large answer holds it all, and
//! a few such requests at once could get the process killed.

/// The memory pool of an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryPool {
    /// No pool: operators hold what they need.
    #[default]
    Unbounded,
    /// A limit asked for (`--memory-limit`): plans and batches are shaped for it (smaller
    /// batches; the join order whose memory does not grow with the answer).
    Asked(usize),
    /// The default derived from the machine's memory (`serve`, `batch`): a safety net that
    /// bounds the pool but keeps the batch size and join order of an unlimited engine,
    /// which are faster.
    Derived(usize),
}

impl MemoryPool {
    /// The pool's size, if it has one.
    pub fn bytes(self) -> Option<usize> {
        match self {
            MemoryPool::Unbounded => None,
            MemoryPool::Asked(bytes) | MemoryPool::Derived(bytes) => Some(bytes),
        }
    }

    /// Whether plans are shaped for the limit (only one asked for).
    pub fn shapes_plans(self) -> bool {
        matches!(self, MemoryPool::Asked(_))
    }
}

/// Memory each query running at once is assumed to hold outside the pool (Parquet
/// decoding buffers, encoders): the pool leaves room for it.
pub const RESERVED_PER_QUERY: u64 = 64 << 20;

/// The smallest default pool: below it the spilling sorts of a large answer cannot merge.
pub const MIN_POOL: u64 = 256 << 20;

/// The memory of a job that runs alone (compact's sort): `asked`, or the default pool of
/// the machine's available memory for one slot; `None` (no limit) when neither is known.
pub fn for_one_job(asked: Option<usize>) -> Option<usize> {
    asked.or_else(|| {
        available()
            .map(|available| usize::try_from(default_pool(available, 1)).unwrap_or(usize::MAX))
    })
}

/// Bytes the process may use: `MemAvailable` of `/proc/meminfo`, or the cgroup's memory
/// limit when it is lower (containers). `None` where neither can be read.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| cgroup_limit(&text))
    });
    match (meminfo, cgroup) {
        (Some(machine), Some(limit)) => Some(machine.min(limit)),
        (machine, limit) => machine.or(limit),
    }
}

/// `MemAvailable` (or, on kernels before 3.14, `MemTotal`) of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let field = |name: &str| {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
            kib.checked_mul(1024)
        })
    };
    field("MemAvailable").or_else(|| field("MemTotal"))
}

/// A cgroup memory limit file: a number of bytes, or `max` for none.
pub fn cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The default pool for `slots` queries at once on a machine with `available` bytes: half
/// of it, less [`RESERVED_PER_QUERY`] for each query, but never less than a quarter of it
/// (many slots on a small machine would otherwise leave the queries nothing) nor than
/// [`MIN_POOL`]. The pool is shared by the queries (a fair pool: every spilling sort gets
/// its share).
pub fn default_pool(available: u64, slots: usize) -> u64 {
    let reserved = RESERVED_PER_QUERY.saturating_mul(u64::try_from(slots).unwrap_or(u64::MAX));
    (available / 2)
        .saturating_sub(reserved)
        .max(available / 4)
        .max(MIN_POOL)
}

/// `1536 MiB` → "1.5 GiB": sizes for people.
pub fn human(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn meminfo_gives_available_memory_or_else_the_total() {
        let linux = "MemTotal:       24684100 kB\nMemFree:        10196436 kB\nMemAvailable:   23306872 kB\n";
        assert_eq!(mem_available(linux), Some(23_306_872 * 1024));
        assert_eq!(
            mem_available("MemTotal:  2048 kB\nMemFree:  1024 kB\n"),
            Some(2048 * 1024),
            "old kernels: the total"
        );
        assert_eq!(mem_available("MemAvailableX: 5 kB\nnonsense"), None);
        assert_eq!(mem_available(""), None);
    }

    #[test]
    fn a_cgroup_limit_is_a_number_or_max() {
        assert_eq!(cgroup_limit("4294967296\n"), Some(4 * GIB));
        assert_eq!(cgroup_limit("max\n"), None);
    }

    #[test]
    fn the_default_pool_is_half_the_memory_less_room_for_each_query() {
        assert_eq!(default_pool(24 * GIB, 2), 12 * GIB - 128 * (1 << 20));
        assert_eq!(
            default_pool(24 * GIB, 64),
            8 * GIB,
            "64 requests at once leave 4 GiB outside the pool"
        );
        assert!(
            default_pool(24 * GIB, 64) < default_pool(24 * GIB, 8),
            "more requests at once, a smaller pool"
        );
        assert_eq!(
            default_pool(6 * GIB, 64),
            6 * GIB / 4,
            "a small machine with many slots: a quarter"
        );
        assert_eq!(default_pool(GIB / 2, 64), MIN_POOL, "never below the floor");
        assert_eq!(default_pool(0, 0), MIN_POOL);
        assert_eq!(
            default_pool(u64::MAX, usize::MAX),
            u64::MAX / 4,
            "no overflow"
        );
        for (available, slots) in [(2 * GIB, 1), (6 * GIB, 64), (16 * GIB, 4), (256 * GIB, 64)] {
            let pool = default_pool(available, slots);
            assert!(
                pool <= available / 2 && pool >= available / 4 && pool >= MIN_POOL,
                "{available} {slots}: {pool}"
            );
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536 << 20), "1.5 GiB");
        assert_eq!(human(256 << 20), "256.0 MiB");
    }
}
