//! The second stage of a partition's group commit: fsync and acknowledge.
//!
//! The writer thread only writes batches into the page cache and hands them
//! here; this thread syncs everything handed over since its last sync with
//! one `sync_data` per file, then publishes the records to readers and
//! answers their callers. While it syncs, the writer is already writing the
//! next batches, so each fsync covers everything that arrived during the
//! previous one instead of the disk idling between write and sync.

use super::segment::{IndexEntry, SegmentView};
use super::view::PartitionView;
use super::writer::AppendRequest;
use crate::{LogError, Offset};
use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A batch written (not yet synced) by the writer.
#[derive(Debug)]
pub(crate) struct Written {
    /// The segment the batch went to; synced before the batch is answered.
    pub file: Arc<File>,
    /// Set on the first batch of a new segment: readers learn of the
    /// segment only once it holds durable records.
    pub new_segment: Option<SegmentView>,
    pub entries: Vec<IndexEntry>,
    pub end_offset: Offset,
    /// Segment length after this batch.
    pub len: u64,
    /// Newest record timestamp of the batch.
    pub max_timestamp_ms: i64,
    /// Each request with the offset of its first record.
    pub requests: Vec<(AppendRequest, Offset)>,
}

#[derive(Debug, Default)]
struct Inbox {
    written: Vec<Written>,
    /// A sync is in progress on batches already taken out of `written`.
    syncing: bool,
    /// A sync failed: what was written since the last good sync may be
    /// gone from the page cache, so nothing more is acknowledged until the
    /// writer has cut the segment back to the durable state.
    poisoned: bool,
    closed: bool,
}

#[derive(Debug)]
pub(crate) struct SyncStage {
    inbox: Mutex<Inbox>,
    changed: Condvar,
    fsync: bool,
    #[cfg(test)]
    pub faults: Arc<std::sync::atomic::AtomicU8>,
}

impl SyncStage {
    pub fn new(fsync: bool, #[cfg(test)] faults: Arc<std::sync::atomic::AtomicU8>) -> Self {
        Self {
            inbox: Mutex::new(Inbox::default()),
            changed: Condvar::new(),
            fsync,
            #[cfg(test)]
            faults,
        }
    }

    pub fn hand_over(&self, written: Written) {
        self.lock().written.push(written);
        self.changed.notify_all();
    }

    pub fn is_poisoned(&self) -> bool {
        self.lock().poisoned
    }

    /// Blocks until every handed-over batch is synced (or failed), so the
    /// view shows exactly the durable state.
    pub fn wait_idle(&self) {
        let mut inbox = self.lock();
        while !inbox.written.is_empty() || inbox.syncing {
            inbox = self
                .changed
                .wait(inbox)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Called by the writer once it has cut the segment back to the view.
    pub fn clear_poison(&self) {
        self.lock().poisoned = false;
    }

    /// Lets the sync thread finish what it has and stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The sync thread's loop; returns once closed and drained.
    pub fn run(&self, view: &PartitionView) {
        loop {
            let (batches, poisoned) = {
                let mut inbox = self.lock();
                while inbox.written.is_empty() && !inbox.closed {
                    inbox = self
                        .changed
                        .wait(inbox)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                if inbox.written.is_empty() {
                    break;
                }
                inbox.syncing = true;
                (std::mem::take(&mut inbox.written), inbox.poisoned)
            };
            let synced = if poisoned {
                Err(std::io::Error::other(
                    "an earlier fsync failed; waiting for the writer to cut back",
                ))
            } else {
                self.sync_files(&batches)
            };
            match synced {
                Ok(()) => {
                    for batch in batches {
                        if let Some(segment) = batch.new_segment {
                            view.push_segment(segment);
                        }
                        view.publish_append(
                            batch.entries,
                            batch.end_offset,
                            batch.len,
                            batch.max_timestamp_ms,
                        );
                        for (request, first) in batch.requests {
                            // The caller may have stopped waiting; its
                            // records are durable anyway.
                            let _ = request.reply.send(Ok(first));
                        }
                    }
                }
                Err(error) => {
                    if !poisoned {
                        tracing::error!(topic = %view.topic, partition = view.partition, %error, "fsync failed");
                    }
                    self.lock().poisoned = true;
                    let message = format!(
                        "{}/{}: append not durable: {error}",
                        view.topic, view.partition
                    );
                    for batch in batches {
                        for (request, _) in batch.requests {
                            let _ = request
                                .reply
                                .send(Err(LogError::Unavailable(message.clone())));
                        }
                    }
                }
            }
            self.lock().syncing = false;
            self.changed.notify_all();
        }
    }

    /// One `sync_data` per distinct segment file, in the order written.
    fn sync_files(&self, batches: &[Written]) -> std::io::Result<()> {
        #[cfg(test)]
        while self.faults.load(std::sync::atomic::Ordering::SeqCst)
            == super::writer::fault::STALL_SYNC
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        #[cfg(test)]
        if self.faults.load(std::sync::atomic::Ordering::SeqCst) == super::writer::fault::FAIL_SYNC
        {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        if !self.fsync {
            return Ok(());
        }
        let mut last: Option<&Arc<File>> = None;
        for batch in batches {
            if last.is_some_and(|file| Arc::ptr_eq(file, &batch.file)) {
                continue;
            }
            batch.file.sync_data()?;
            last = Some(&batch.file);
        }
        Ok(())
    }
}
