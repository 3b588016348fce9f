//! Listing one folder of a store, where a folder that does not exist is an empty one: on
//! local disk listing a missing directory fails with "not found", while object stores have
//! no folders and list nothing. Every reader and writer of the lake lists this way.

use object_store::path::Path;
use object_store::{ListResult, ObjectStore};

/// The objects and subfolders directly in `prefix`; none when it does not exist.
pub async fn list_folder(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> Result<ListResult, object_store::Error> {
    match store.list_with_delimiter(Some(prefix)).await {
        Err(object_store::Error::NotFound { .. }) => Ok(ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        }),
        listed => listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn a_missing_folder_lists_as_empty_and_a_present_one_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let missing = list_folder(&store, &Path::from("events/none"))
            .await
            .unwrap();
        assert!(missing.objects.is_empty() && missing.common_prefixes.is_empty());
        store
            .put(
                &Path::from("events/a/x.parquet"),
                PutPayload::from_static(b"x"),
            )
            .await
            .unwrap();
        let events = list_folder(&store, &Path::from("events")).await.unwrap();
        assert_eq!(events.common_prefixes, vec![Path::from("events/a")]);
        let day = list_folder(&store, &Path::from("events/a")).await.unwrap();
        assert_eq!(day.objects.len(), 1);
    }
}
