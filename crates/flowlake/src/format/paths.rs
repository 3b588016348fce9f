//! Where everything lives in a lake (SPEC §1), for readers and writers alike:
//! `<root>/workflows.json`, `<root>/goals.json` and
//! `<root>/events/organization_id=<org>/date=<YYYY-MM-DD>/<name>.parquet`, with the day's
//! `_manifest.json` beside its files.

use chrono::NaiveDate;
use object_store::path::Path;
use uuid::Uuid;

/// The folder of the event files, under the lake's root.
pub const EVENTS_FOLDER: &str = "events";

/// `<any-name>.parquet`, skipping hidden and underscore-prefixed names (files being
/// written, `_SUCCESS` markers), as Spark and Hive do.
pub fn is_event_file(path: &Path) -> bool {
    path.filename().is_some_and(|name| {
        name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_')
    })
}

/// `<root>/events`.
pub fn events_folder(root: &Path) -> Path {
    root.clone().join(EVENTS_FOLDER)
}

/// `<root>/events/organization_id=<org>`.
pub fn org_folder(root: &Path, organization_id: Uuid) -> Path {
    events_folder(root).join(org_folder_name(organization_id))
}

/// `<root>/events/organization_id=<org>/date=<YYYY-MM-DD>`.
pub fn day_folder(root: &Path, organization_id: Uuid, day: NaiveDate) -> Path {
    org_folder(root, organization_id).join(day_folder_name(day))
}

/// `organization_id=<org>`.
pub fn org_folder_name(organization_id: Uuid) -> String {
    format!("organization_id={organization_id}")
}

/// `date=<YYYY-MM-DD>`.
pub fn day_folder_name(day: NaiveDate) -> String {
    format!("date={}", day.format("%Y-%m-%d"))
}

/// The organization of an `organization_id=<uuid>` folder name; other names are not
/// organization folders.
pub fn organization_of_folder_name(name: &str) -> Option<Uuid> {
    Uuid::try_parse(name.strip_prefix("organization_id=")?).ok()
}

/// The day of a `date=YYYY-MM-DD` folder name; other names are not day folders.
pub fn day_of_folder_name(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("date=")?, "%Y-%m-%d").ok()
}

/// The day of a `date=YYYY-MM-DD` folder; other folders are not day folders.
pub fn day_of_folder(folder: &Path) -> Option<NaiveDate> {
    day_of_folder_name(folder.filename()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_parquet_files_are_events() {
        assert!(is_event_file(&Path::from(
            "a/date=2026-03-01/part-0.parquet"
        )));
        assert!(!is_event_file(&Path::from(
            "a/date=2026-03-01/.part-0.parquet"
        )));
        assert!(!is_event_file(&Path::from("a/date=2026-03-01/_SUCCESS")));
        assert!(!is_event_file(&Path::from(
            "a/date=2026-03-01/part-0.parquet.tmp"
        )));
    }

    #[test]
    fn day_folders_are_named_date_equals_an_iso_date() {
        let day =
            |name: &str| day_of_folder(&Path::from(format!("events/organization_id=a/{name}")));
        assert_eq!(day("date=2026-03-01"), NaiveDate::from_ymd_opt(2026, 3, 1));
        assert_eq!(day("date=2026-13-01"), None);
        assert_eq!(day("day=2026-03-01"), None);
        assert_eq!(day("_temporary"), None);
    }

    #[test]
    fn paths_and_names_read_back() {
        let org = Uuid::from_u128(7);
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let folder = day_folder(&Path::from("lake"), org, day);
        assert_eq!(
            folder.as_ref(),
            format!("lake/events/organization_id={org}/date=2026-03-01")
        );
        assert_eq!(day_of_folder(&folder), Some(day));
        assert_eq!(
            organization_of_folder_name(&org_folder_name(org)),
            Some(org)
        );
        assert_eq!(organization_of_folder_name("organization_id=x"), None);
    }
}
