//! Opening a partition after a clean stop or a crash: rebuild each
//! segment's sparse index, and cut a torn or corrupt tail off the last
//! segment so appending continues right after the last good record.

use super::fsutil::sync_dir;
use super::segment::{self, segment_file_name, Indexer, SegmentView};
use crate::LogError;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

/// A partition as found on disk, ready for its writer.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub segments: Vec<SegmentView>,
    /// Write handle of the last (active) segment.
    pub active_file: File,
    pub active_len: u64,
    pub indexer: Indexer,
}

pub(crate) fn recover_partition(
    dir: &Path,
    index_interval: u64,
    fsync: bool,
) -> Result<Recovered, LogError> {
    let mut found = segment::list_segments(dir)?;
    if found.is_empty() {
        let path = dir.join(segment_file_name(0));
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if fsync {
            sync_dir(dir)?;
        }
        found.push((0, path));
    }
    let last = found.len() - 1;
    let mut segments = Vec::with_capacity(found.len());
    let mut active = None;
    let mut previous_end: Option<u64> = None;
    for (i, (base_offset, path)) in found.into_iter().enumerate() {
        if let Some(previous_end) = previous_end {
            if base_offset < previous_end {
                return Err(LogError::Corrupt(format!(
                    "{}: segment starts at offset {base_offset} but the one before ends at {previous_end}",
                    path.display()
                )));
            }
            if base_offset > previous_end {
                tracing::error!(
                    path = %path.display(),
                    missing_from = previous_end,
                    missing_to = base_offset,
                    "records missing between segments"
                );
            }
        }
        let is_last = i == last;
        let scan = segment::scan(&path, base_offset, is_last, index_interval)?;
        let len = scan.valid_len;
        if let Some((position, reason)) = scan.defect {
            if is_last {
                tracing::warn!(
                    path = %path.display(),
                    position,
                    reason,
                    dropped_bytes = scan.file_len - position,
                    last_good_offset = scan.end_offset.checked_sub(1),
                    "cutting torn tail of segment"
                );
            } else {
                // Earlier segments were complete and synced before the next
                // one was created, so this is damage, not a torn write: keep
                // the file as it is and let reads of the lost part fail.
                tracing::error!(
                    path = %path.display(),
                    position,
                    reason,
                    "segment damaged before its end"
                );
            }
        }
        if is_last {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            if scan.file_len > scan.valid_len {
                file.set_len(scan.valid_len)?;
                // Always sync the cut: appends after it must not be followed
                // by the old torn bytes reappearing after a power loss.
                file.sync_all()?;
            }
            active = Some((file, scan.indexer));
        }
        previous_end = Some(scan.end_offset);
        segments.push(SegmentView {
            base_offset,
            end_offset: scan.end_offset,
            len,
            file: Arc::new(File::open(&path)?),
            path,
            index: scan.index,
            max_timestamp_ms: scan.max_timestamp_ms,
        });
    }
    let Some((active_file, indexer)) = active else {
        return Err(LogError::Corrupt(format!(
            "{}: no active segment",
            dir.display()
        )));
    };
    let active_len = segments.last().map_or(0, |segment| segment.len);
    Ok(Recovered {
        segments,
        active_file,
        active_len,
        indexer,
    })
}
