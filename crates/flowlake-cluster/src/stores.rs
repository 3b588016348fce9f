//! The object stores of a scheduler or an executor: local disk, and each S3 bucket that a
//! plan names, made on first use from this process's own `AWS_*` environment and S3 flags.
//! A plan carries only `s3://bucket`; credentials never travel with it.

use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use flowlake::storage::{S3Options, store};

/// Stores registered as usual, plus S3 buckets made on demand.
#[derive(Debug)]
pub struct LakeStores {
    registered: DefaultObjectStoreRegistry,
    s3: S3Options,
    /// Held while a bucket's client is made, so that it is made once.
    making: Mutex<()>,
}

impl LakeStores {
    /// The stores of this process, with `s3` on top of the `AWS_*` environment.
    pub fn new(s3: S3Options) -> LakeStores {
        LakeStores {
            registered: DefaultObjectStoreRegistry::new(),
            s3,
            making: Mutex::new(()),
        }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.registered.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let found = self.registered.get_store(url);
        if found.is_ok() || url.scheme() != "s3" {
            return found;
        }
        let Some(bucket) = url.host_str() else {
            return found;
        };
        let _making = self
            .making
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(store) = self.registered.get_store(url) {
            return Ok(store);
        }
        // Making a client asks the AWS credential chain (async); this lookup is not. On the
        // multi-threaded runtime of the scheduler and executors, wait for it in place.
        let making = store::s3_store(bucket, &self.s3);
        let made = match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(making))
            }
            _ => {
                return Err(DataFusionError::Execution(format!(
                    "the S3 client of bucket '{bucket}' must be made on a multi-threaded runtime"
                )));
            }
        };
        let (store, _counts, described) =
            made.map_err(|e| DataFusionError::External(Box::new(e)))?;
        tracing::info!("reading {described}");
        self.registered.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}
