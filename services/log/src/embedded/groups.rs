//! Consumer group checkpoints: one small JSON file per group, topic and
//! partition, replaced atomically so a crash leaves the old or the new
//! position, never a mix.

use super::fsutil::sync_dir;
use super::topics::GROUPS_DIR;
use crate::{CommittedPosition, LogError, Offset};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    next_offset: Offset,
    metadata: String,
}

/// Writes and reads the checkpoints under `<dir>/_groups`.
#[derive(Debug)]
pub(crate) struct GroupStore {
    root: PathBuf,
    fsync: bool,
    /// Makes temp file names unique, so concurrent commits of one position
    /// never write into the same temp file.
    next_temp: AtomicU64,
}

impl GroupStore {
    /// Creates `<dir>/_groups` if needed and removes temp files a crash
    /// left behind. Blocking.
    pub fn open(dir: &Path, fsync: bool) -> Result<Self, LogError> {
        let root = dir.join(GROUPS_DIR);
        if !root.exists() {
            fs::create_dir(&root)?;
            if fsync {
                sync_dir(dir)?;
            }
        }
        for group in fs::read_dir(&root)? {
            let group = group?;
            if !group.file_type()?.is_dir() {
                continue;
            }
            for file in fs::read_dir(group.path())? {
                let path = file?.path();
                if path.extension().is_some_and(|ext| ext == "tmp") {
                    fs::remove_file(&path)?;
                }
            }
        }
        Ok(Self {
            root,
            fsync,
            next_temp: AtomicU64::new(0),
        })
    }

    fn path(&self, group: &str, topic: &str, partition: u32) -> PathBuf {
        self.root
            .join(group)
            .join(format!("{topic}-{partition}.json"))
    }

    /// Write temp, fsync, rename over, fsync the directory. Blocking.
    pub fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        let group_dir = self.root.join(group);
        if !group_dir.exists() {
            fs::create_dir_all(&group_dir)?;
            if self.fsync {
                sync_dir(&self.root)?;
            }
        }
        let body = serde_json::to_vec(&Checkpoint {
            next_offset: position.next_offset,
            metadata: position.metadata,
        })
        .map_err(io::Error::other)?;
        let seq = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = group_dir.join(format!("{topic}-{partition}.json.{seq}.tmp"));
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(&body)?;
            if self.fsync {
                file.sync_all()?;
            }
            fs::rename(&temp, self.path(group, topic, partition))
        })();
        if let Err(error) = written {
            // Best effort: the temp file is garbage either way and is also
            // swept on the next open.
            let _ = fs::remove_file(&temp);
            return Err(error.into());
        }
        if self.fsync {
            sync_dir(&group_dir)?;
        }
        Ok(())
    }

    /// The stored position, `None` if the group never committed here. Blocking.
    pub fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        let path = self.path(group, topic, partition);
        let body = match fs::read(&path) {
            Ok(body) => body,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let checkpoint: Checkpoint = serde_json::from_slice(&body)
            .map_err(|error| LogError::Corrupt(format!("{}: {error}", path.display())))?;
        Ok(Some(CommittedPosition {
            next_offset: checkpoint.next_offset,
            metadata: checkpoint.metadata,
        }))
    }

    /// The lowest position any group committed in this partition, `None`
    /// when no group ever committed there: what retention must not pass.
    /// A group that stopped consuming keeps holding its position, as it
    /// would in Kafka until its offsets expire. Blocking.
    pub fn lowest_position(&self, topic: &str, partition: u32) -> Result<Option<Offset>, LogError> {
        let mut lowest: Option<Offset> = None;
        for group in fs::read_dir(&self.root)? {
            let group = group?;
            if !group.file_type()?.is_dir() {
                continue;
            }
            let Some(name) = group.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Some(position) = self.committed(&name, topic, partition)? {
                lowest = Some(lowest.map_or(position.next_offset, |l| l.min(position.next_offset)));
            }
        }
        Ok(lowest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_leaves_no_temp_file_and_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = GroupStore::open(dir.path(), true).expect("open");
        let position = CommittedPosition {
            next_offset: 7,
            metadata: "tick=\"12\"\n".into(),
        };
        store
            .commit("projector", "closeloop.alerts", 2, position.clone())
            .expect("commit");
        assert_eq!(
            store
                .committed("projector", "closeloop.alerts", 2)
                .expect("read"),
            Some(position)
        );
        let files: Vec<_> = fs::read_dir(dir.path().join("_groups/projector"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(
            files,
            vec![std::ffi::OsString::from("closeloop.alerts-2.json")]
        );
    }

    #[test]
    fn unreadable_checkpoint_is_reported_corrupt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = GroupStore::open(dir.path(), false).expect("open");
        fs::create_dir_all(dir.path().join("_groups/g")).expect("mkdir");
        fs::write(dir.path().join("_groups/g/t-0.json"), b"{\"next_off").expect("write");
        assert!(matches!(
            store.committed("g", "t", 0),
            Err(LogError::Corrupt(_))
        ));
    }

    #[test]
    fn temp_files_left_by_a_crash_are_swept_on_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("_groups/g")).expect("mkdir");
        fs::write(dir.path().join("_groups/g/t-0.json.3.tmp"), b"{").expect("write");
        GroupStore::open(dir.path(), false).expect("open");
        assert!(!dir.path().join("_groups/g/t-0.json.3.tmp").exists());
    }
}
