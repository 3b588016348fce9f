//! A run's days: the event ids they already hold (read when the run first meets a day,
//! without changing it), and the commit that publishes a day's staged files once the
//! whole input was read.

use chrono::Utc;

use super::staging::restage;
use super::{DayState, Run};
use crate::error::{Error, Result};
use crate::write::commit::{COMMIT_ATTEMPTS, backoff, too_many_attempts};
use crate::write::day_reader::EventKeys;
use crate::write::names::{INGEST_PREFIX, event_file_name, fresh_name};
use crate::write::{Commit, CommitOutcome, Day, named_objects};

impl Run<'_> {
    /// The ids of the events the day holds now: the files its manifest names, or every
    /// file of its folder when it has none yet. Nothing is written: a run refused later
    /// leaves the lake as it was.
    pub(super) async fn load_day(&mut self, day: Day) -> Result<DayState> {
        for attempt in 0..COMMIT_ATTEMPTS {
            let names = match self.writer.manifest(day).await? {
                Some(manifest) => manifest.files,
                None => self
                    .writer
                    .list_day(day)
                    .await?
                    .iter()
                    .filter_map(event_file_name)
                    .collect(),
            };
            let mut state = DayState::default();
            if self.read_ids(day, &names, &mut state.present).await? {
                state.seen.extend(names);
                return Ok(state);
            }
            backoff(attempt).await;
        }
        Err(too_many_attempts(self.writer, day))
    }

    /// Adds the ids of the day's files `names` to `keys`. `false`: one of them was
    /// replaced and deleted meanwhile (a compact with no grace), so the day is to be read
    /// again.
    async fn read_ids(&mut self, day: Day, names: &[String], keys: &mut EventKeys) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        let started = std::time::Instant::now();
        let listing = self.writer.list_day(day).await?;
        let Ok(files) = named_objects(&listing, names) else {
            return Ok(false);
        };
        let read = match self.reader.event_keys(day, files, keys).await {
            Ok(read) => read,
            Err(Error::ObjectChanged { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        self.summary.existing_ids_read += read;
        self.summary.existing_ids_seconds += started.elapsed().as_secs_f64();
        Ok(true)
    }

    /// Publishes every day's staged files, one commit per day.
    pub(super) async fn publish(&mut self) -> Result<()> {
        let days: Vec<Day> = self.days.keys().copied().collect();
        for day in days {
            if !self.day(day)?.staged.iter().any(|s| s.rows > 0) {
                continue;
            }
            self.publish_day(day).await?;
            let state = self
                .days
                .get(&day)
                .ok_or_else(|| Error::internal("a day's state is missing"))?;
            let share = self.summary.days.entry(day).or_default();
            for file in state.staged.iter().filter(|s| s.rows > 0) {
                share.rows += file.rows;
                share.files += 1;
                self.summary.rows_written += file.rows;
                self.summary.files_written += 1;
                self.summary.bytes_written += file.bytes;
            }
            if share.files == 0 {
                self.summary.days.remove(&day);
            }
        }
        Ok(())
    }

    fn day(&self, day: Day) -> Result<&DayState> {
        self.days
            .get(&day)
            .ok_or_else(|| Error::internal("a day's state is missing"))
    }

    fn day_mut(&mut self, day: Day) -> Result<&mut DayState> {
        self.days
            .get_mut(&day)
            .ok_or_else(|| Error::internal("a day's state is missing"))
    }

    async fn publish_day(&mut self, day: Day) -> Result<()> {
        let writer = self.writer;
        // A day without a manifest gets one first, naming the files it has: from then on
        // other files in its folder are invisible, so this run's appear all at once.
        writer.ensure_manifest(day).await?;
        for attempt in 0..COMMIT_ATTEMPTS {
            let txn = writer.begin(day).await?;
            // Files other writers published since this run read the day: their events
            // are no longer this run's to write.
            let named = txn.manifest().map(|m| m.files.clone()).unwrap_or_default();
            let seen = &self.day(day)?.seen;
            let new: Vec<String> = named
                .into_iter()
                .filter(|name| !seen.contains(name))
                .collect();
            if !new.is_empty() {
                let mut theirs = EventKeys::default();
                if !self.read_ids(day, &new, &mut theirs).await? {
                    drop(txn);
                    backoff(attempt).await;
                    continue;
                }
                let state = self.day_mut(day)?;
                let clash: EventKeys = theirs
                    .iter()
                    .filter(|key| state.ours.contains(*key))
                    .copied()
                    .collect();
                state.present.extend(theirs);
                state.seen.extend(new);
                if !clash.is_empty() {
                    self.drop_rows(day, &clash).await?;
                }
            }
            let state = self.day_mut(day)?;
            let mut add = Vec::new();
            for staged in state.staged.iter_mut().filter(|s| s.rows > 0) {
                if staged.uploaded.is_none() {
                    let name = fresh_name(INGEST_PREFIX);
                    writer
                        .upload(&staged.path, &writer.day_file(day, &name))
                        .await?;
                    staged.uploaded = Some(name);
                }
                add.extend(staged.uploaded.clone());
            }
            if add.is_empty() {
                return Ok(());
            }
            match txn
                .commit(
                    Commit {
                        add,
                        ..Commit::default()
                    },
                    Utc::now(),
                )
                .await?
            {
                CommitOutcome::Committed(_) | CommitOutcome::Unchanged => return Ok(()),
                CommitOutcome::Conflict => backoff(attempt).await,
                // Deleted or condemned by garbage collection before the commit: uploaded
                // again under new names (what is left of the old ones is an orphan).
                CommitOutcome::Missing(names) => {
                    for staged in state.staged.iter_mut() {
                        if staged
                            .uploaded
                            .as_ref()
                            .is_some_and(|name| names.contains(name))
                        {
                            staged.uploaded = None;
                        }
                    }
                }
                CommitOutcome::InputsGone(_) => {
                    return Err(Error::internal(format!(
                        "{day}: an ingest commit removed files"
                    )));
                }
            }
        }
        Err(too_many_attempts(writer, day))
    }

    /// Takes the events `clash` out of the day's staged files (another writer published
    /// them first). A file already uploaded is deleted: it was never named.
    async fn drop_rows(&mut self, day: Day, clash: &EventKeys) -> Result<()> {
        let layout = self.options.layout;
        let writer = self.writer;
        let mut dropped_rows = 0;
        let state = self.day_mut(day)?;
        state.ours.retain(|key| !clash.contains(key));
        for staged in state.staged.iter_mut().filter(|s| s.rows > 0) {
            let (_, dropped) = restage(staged, clash, layout)?;
            if dropped == 0 {
                continue;
            }
            dropped_rows += dropped;
            if let Some(name) = staged.uploaded.take() {
                writer.delete(&writer.day_file(day, &name)).await?;
            }
        }
        self.summary.rows_already_present += dropped_rows;
        Ok(())
    }
}
