//! `flowlake generate`: write a deterministic synthetic lake.

use std::sync::Arc;

use chrono::NaiveDate;
use clap::Args;
use object_store::local::LocalFileSystem;
use object_store::path::Path;

use super::{S3Args, report};
use crate::error::{Error, Result};
use crate::generate::{FileLayout, GenerateOptions, GenerateSummary, SortOrder, generate};
use crate::lake::LakeLocation;
use crate::lake::store::s3_store;

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
    #[arg(long, value_enum, default_value = "category")]
    sort_by: SortOrder,
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
        layout: FileLayout { row_group_size: args.row_group_size, sort: args.sort_by },
    };
    match LakeLocation::parse(&args.out)? {
        LakeLocation::Local(folder) => {
            std::fs::create_dir_all(&folder)
                .map_err(|e| Error::internal(format!("creating {}: {e}", folder.display())))?;
            let store = LocalFileSystem::new_with_prefix(&folder)
                .map_err(|e| Error::internal(format!("opening {}: {e}", folder.display())))?;
            generate(Arc::new(store), &Path::default(), &options).await
        }
        LakeLocation::S3 { bucket, prefix } => {
            let (store, _, _) = s3_store(&bucket, &args.s3.options()).await?;
            generate(store, &Path::from(prefix), &options).await
        }
    }
}

fn print_summary(args: &GenerateArgs, summary: &GenerateSummary) {
    println!(
        "wrote {} events in {} files ({:.1} MB) to {}",
        summary.events,
        summary.files,
        summary.bytes as f64 / 1e6,
        args.out
    );
    for org in &summary.organizations {
        println!("organization {}", org.id);
        for workflow in &org.workflows {
            println!("  {:<15} {}  {}", workflow.kind, workflow.id, workflow.name);
        }
    }
}
