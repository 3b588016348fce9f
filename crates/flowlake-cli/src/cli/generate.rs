//! `flowlake generate`: write a deterministic synthetic lake.

use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::{S3Args, report};
use flowlake::error::{Error, Result};
use flowlake::generate::{FileLayout, GenerateOptions, GenerateSummary, SortOrder, generate};
use flowlake::storage::LakeLocation;
use flowlake::storage::store::s3_store;
use flowlake::write::layout::Codec;

/// Options of `flowlake generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder (created if missing) or s3://bucket/prefix to write the lake into.
    #[arg(long)]
    out: String,
    #[command(flatten)]
    s3: S3Args,
    /// Number of organizations.
    #[arg(long, default_value_t = 2)]
    orgs: usize,
    /// Number of days.
    #[arg(long, default_value_t = 14)]
    days: usize,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2026-03-01")]
    start: NaiveDate,
    /// Events per organization and day.
    #[arg(long, default_value_t = 2000)]
    events_per_day: usize,
    /// Seed: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rows per Parquet row group.
    #[arg(long, default_value_t = FileLayout::default().row_group_size)]
    row_group_size: usize,
    /// Row order inside each file.
    #[arg(long, value_parser = crate::cli::named::<SortOrder>(), default_value = "category")]
    sort_by: SortOrder,
    /// Parquet page codec (lakes of other tools use any; zstd for a foreign-layout benchmark).
    #[arg(long, value_parser = crate::cli::named::<Codec>(), default_value = "snappy")]
    codec: Codec,
    /// Write no bloom filters (as most other writers do by default).
    #[arg(long)]
    no_bloom_filters: bool,
    /// Empty a non-empty --out first (without it, a non-empty target is refused: two
    /// generations mixed in one day folder would be one wrong lake).
    #[arg(long)]
    force: bool,
}

pub(super) async fn run(args: GenerateArgs) -> i32 {
    match write_lake(&args).await {
        Ok(summary) => {
            print_summary(&args, &summary);
            0
        }
        Err(error) => report(&error),
    }
}

async fn write_lake(args: &GenerateArgs) -> Result<GenerateSummary> {
    let options = GenerateOptions {
        organizations: args.orgs,
        days: args.days,
        start: args.start,
        events_per_day: args.events_per_day,
        seed: args.seed,
        layout: FileLayout {
            row_group_size: args.row_group_size,
            sort: args.sort_by,
            codec: args.codec,
            bloom_filters: !args.no_bloom_filters,
        },
    };
    let (store, root): (Arc<dyn ObjectStore>, Path) = match LakeLocation::parse(&args.out)? {
        LakeLocation::Local(folder) => {
            make_room_locally(&folder, args.force)?;
            std::fs::create_dir_all(&folder)
                .map_err(|e| Error::internal(format!("creating {}: {e}", folder.display())))?;
            let store = LocalFileSystem::new_with_prefix(&folder)
                .map_err(|e| Error::internal(format!("opening {}: {e}", folder.display())))?;
            (Arc::new(store), Path::default())
        }
        LakeLocation::S3 { bucket, prefix } => {
            let (store, root) = (
                s3_store(&bucket, &args.s3.options()).await?.0,
                Path::from(prefix),
            );
            make_room_in_bucket(&store, &root, &args.out, args.force).await?;
            (store, root)
        }
    };
    generate(store, &root, &options).await
}

fn not_empty(shown: &str) -> Error {
    Error::Usage {
        message: format!(
            "--out {shown} is not empty: pass --force to empty it first, or choose an empty folder"
        ),
    }
}

/// A non-empty folder is refused, or emptied with `--force` when it holds a lake (so that
/// a mistyped `--out` never empties a folder of something else).
fn make_room_locally(folder: &std::path::Path, force: bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Ok(());
    };
    let entries: Vec<_> = entries.flatten().collect();
    if entries.is_empty() {
        return Ok(());
    }
    let shown = folder.display().to_string();
    if !force {
        return Err(not_empty(&shown));
    }
    if !folder.join("workflows.json").is_file() && !folder.join("events").is_dir() {
        return Err(Error::Usage {
            message: format!(
                "--out {shown} holds no lake (no workflows.json or events/): --force empties only a lake folder"
            ),
        });
    }
    for entry in entries {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| {
            Error::internal(format!(
                "emptying {}: removing {}: {e}",
                shown,
                path.display()
            ))
        })?;
    }
    Ok(())
}

/// The same for a bucket prefix: any object under it makes it non-empty.
async fn make_room_in_bucket(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    shown: &str,
    force: bool,
) -> Result<()> {
    let prefix = (!root.as_ref().is_empty()).then_some(root);
    if store.list(prefix).next().await.transpose()?.is_none() {
        return Ok(());
    }
    if !force {
        return Err(not_empty(shown));
    }
    let existing = store.list(prefix).map_ok(|meta| meta.location).boxed();
    store
        .delete_stream(existing)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

fn print_summary(args: &GenerateArgs, summary: &GenerateSummary) {
    out!(
        "wrote {} events in {} files ({:.1} MB) to {}",
        summary.events,
        summary.files,
        summary.bytes as f64 / 1e6,
        args.out
    );
    for org in &summary.organizations {
        out!("organization {}", org.id);
        for workflow in &org.workflows {
            out!(
                "  {:<15} {}  {}",
                workflow.kind,
                workflow.id,
                workflow.name.as_deref().unwrap_or("")
            );
        }
    }
}
