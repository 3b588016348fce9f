//! Listings of lake folders (day folders, and an organization's folder of days), reused for
//! a configurable time so that a server or a batch answering many queries over the same
//! days does not list them again and again, while files written later are still seen once
//! the entry expires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::ListResult;
use object_store::path::Path;

/// Most folders remembered; beyond it the cache starts over (a day folder listing is small).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub(super) struct ListCache {
    ttl: Duration,
    entries: Mutex<HashMap<Path, (Instant, Arc<ListResult>)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How often listings came from the cache (hits) or from the store (misses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCacheCounts {
    pub hits: u64,
    pub misses: u64,
}

impl ListCache {
    pub(super) fn new(ttl: Duration) -> ListCache {
        ListCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Hits and misses so far (with a zero TTL every listing is a miss).
    pub(super) fn counts(&self) -> ListCacheCounts {
        ListCacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The listing of `prefix` if it is younger than the TTL.
    pub(super) fn get(&self, prefix: &Path) -> Option<Arc<ListResult>> {
        let found = if self.ttl.is_zero() {
            None
        } else {
            let entries = self
                .entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            entries
                .get(prefix)
                .filter(|(at, _)| at.elapsed() < self.ttl)
                .map(|(_, listing)| Arc::clone(listing))
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Forgets every listing.
    pub(super) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Remembers a fresh listing and returns it.
    pub(super) fn put(&self, prefix: &Path, listing: ListResult) -> Arc<ListResult> {
        let listing = Arc::new(listing);
        if !self.ttl.is_zero() {
            let mut entries = self
                .entries
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(prefix.clone(), (Instant::now(), Arc::clone(&listing)));
        }
        listing
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectMeta;

    use super::*;

    fn listing(name: &str) -> ListResult {
        let meta = ObjectMeta {
            location: Path::from(name),
            last_modified: Default::default(),
            size: 1,
            e_tag: None,
            version: None,
        };
        ListResult {
            common_prefixes: Vec::new(),
            objects: vec![meta],
        }
    }

    #[test]
    fn entries_live_for_the_ttl_and_zero_disables_the_cache() {
        let day = Path::from("events/organization_id=a/date=2026-03-01");
        let cache = ListCache::new(Duration::from_millis(50));
        assert!(cache.get(&day).is_none());
        cache.put(&day, listing("a.parquet"));
        assert_eq!(cache.get(&day).expect("fresh").objects.len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&day).is_none(), "expired");

        assert_eq!(cache.counts(), ListCacheCounts { hits: 1, misses: 2 });
        cache.put(&day, listing("a.parquet"));
        cache.clear();
        assert!(cache.get(&day).is_none(), "cleared");

        let off = ListCache::new(Duration::ZERO);
        off.put(&day, listing("a.parquet"));
        assert!(off.get(&day).is_none());
        assert_eq!(off.counts(), ListCacheCounts { hits: 0, misses: 1 });
    }
}
