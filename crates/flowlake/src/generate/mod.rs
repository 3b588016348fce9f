//! `flowlake generate`: a deterministic synthetic lake (same options → identical files)
//! with every event kind and workflow type of SPEC §1.

pub mod model;
pub mod session;

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use crate::format::event::Event;
pub use crate::write::layout::{Codec, FileLayout, SortOrder};
pub use model::Organization;

use crate::error::{Error, Result};

const DAY_US: i64 = 86_400 * 1_000_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub organizations: usize,
    pub days: usize,
    pub start: NaiveDate,
    pub events_per_day: usize,
    pub seed: u64,
    pub layout: FileLayout,
}

/// What was generated, for the user to build queries from.
#[derive(Debug, Clone)]
pub struct GenerateSummary {
    pub organizations: Vec<Organization>,
    pub events: u64,
    pub files: u64,
    pub bytes: u64,
}

fn day_start_us(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp_micros()
}

/// Writes a lake under `root` of `store`: `events/`, `workflows.json`, `goals.json`.
pub async fn generate(
    store: Arc<dyn ObjectStore>,
    root: &Path,
    options: &GenerateOptions,
) -> Result<GenerateSummary> {
    let mut master = ChaCha8Rng::seed_from_u64(options.seed);
    let visitors = (options.events_per_day / 8).clamp(20, 50_000);
    let mut organizations = Vec::new();
    let mut summary = GenerateSummary {
        organizations: Vec::new(),
        events: 0,
        files: 0,
        bytes: 0,
    };
    for org_index in 0..options.organizations {
        let mut rng = ChaCha8Rng::seed_from_u64(master.random::<u64>() ^ org_index as u64);
        let org = Organization::draw(&mut rng, visitors);
        let mut carried: Vec<Event> = Vec::new();
        for day_index in 0..options.days {
            let day = options.start + Days::new(day_index as u64);
            let (start, end) = (day_start_us(day), day_start_us(day) + DAY_US);
            let mut events = std::mem::take(&mut carried);
            let mut today_count = events.iter().filter(|e| e.timestamp_us < end).count();
            while today_count < options.events_per_day {
                // Some sessions start just before midnight and continue the next day.
                let session_start = if rng.random_bool(0.05) {
                    end - rng.random_range(1..600 * 1_000_000)
                } else {
                    rng.random_range(start..end)
                };
                for event in session::simulate(&org, &mut rng, session_start) {
                    today_count += usize::from(event.timestamp_us < end);
                    events.push(event);
                }
            }
            // Sessions that run past midnight continue in the next day's folder.
            let (today, next): (Vec<Event>, Vec<Event>) =
                events.into_iter().partition(|e| e.timestamp_us < end);
            carried = next;
            let written =
                write_day(&store, root, &org.id, day, today, day_index, options.layout).await?;
            summary.events += written.0;
            summary.files += written.1;
            summary.bytes += written.2;
        }
        organizations.push(org);
    }
    write_catalog(&store, root, &organizations).await?;
    summary.organizations = organizations;
    Ok(summary)
}

/// Writes one day of one organization; some days are split over several files, as when
/// several writers flush the same day.
async fn write_day(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    org: &str,
    day: NaiveDate,
    mut events: Vec<Event>,
    day_index: usize,
    layout: FileLayout,
) -> Result<(u64, u64, u64)> {
    crate::write::layout::sort_events(&mut events, layout.sort);
    let parts = if day_index % 3 == 1 { 2 } else { 1 };
    let organization_id = uuid::Uuid::try_parse(org)
        .map_err(|e| Error::internal(format!("generated organization id {org}: {e}")))?;
    let folder = crate::format::paths::day_folder(root, organization_id, day);
    let (mut rows, mut files, mut bytes) = (0u64, 0u64, 0u64);
    for part in 0..parts {
        // Split by session so each file is one writer's share of the whole day.
        let share: Vec<Event> = events
            .iter()
            .filter(|e| parts == 1 || session_bucket(&e.session_id, parts) == part)
            .cloned()
            .collect();
        if share.is_empty() {
            continue;
        }
        let batch = crate::format::event::to_record_batch(&share)?;
        let data = crate::write::layout::to_parquet(&batch, layout)?;
        rows += share.len() as u64;
        files += 1;
        bytes += data.len() as u64;
        put(
            store,
            &folder.clone().join(format!("part-{part}.parquet")),
            data,
        )
        .await?;
    }
    Ok((rows, files, bytes))
}

fn session_bucket(session_id: &str, parts: usize) -> usize {
    session_id
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % parts
}

async fn put(store: &Arc<dyn ObjectStore>, path: &Path, data: Vec<u8>) -> Result<()> {
    store
        .put(path, PutPayload::from(data))
        .await
        .map_err(|e| Error::internal(format!("writing {path}: {e}")))?;
    Ok(())
}

async fn write_catalog(
    store: &Arc<dyn ObjectStore>,
    root: &Path,
    organizations: &[Organization],
) -> Result<()> {
    let workflows: Vec<_> = organizations
        .iter()
        .flat_map(|o| o.workflows.iter())
        .collect();
    let goals: Vec<_> = organizations.iter().flat_map(|o| o.goals.iter()).collect();
    put(
        store,
        &root.clone().join("workflows.json"),
        pretty(&workflows)?,
    )
    .await?;
    put(store, &root.clone().join("goals.json"), pretty(&goals)?).await
}

/// Pretty JSON with a trailing newline, for catalog files people read.
fn pretty<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::internal(format!("catalog JSON: {e}")))?;
    text.push('\n');
    Ok(text.into_bytes())
}
