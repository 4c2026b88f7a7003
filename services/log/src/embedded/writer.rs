//! The first stage of a partition's group commit: one writer thread takes
//! every append queued while it was busy, encodes them into one buffer,
//! writes it with one `write` call and hands the batch to the sync stage
//! ([`super::sync`]), which fsyncs and answers the callers. Only this
//! thread writes the partition's files.

use super::frame;
use super::fsutil::sync_dir;
use super::segment::{self, segment_file_name, IndexEntry, Indexer, SegmentView};
use super::sync::{SyncStage, Written};
use super::view::PartitionView;
use crate::{LogError, NewRecord, Offset};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

/// One caller's records for this partition, answered with the offset of
/// the first of them once all are durable.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub records: Vec<NewRecord>,
    /// Encoded size, counted against the batch limit.
    pub bytes: usize,
    pub reply: oneshot::Sender<Result<Offset, LogError>>,
    /// Share of the partition's queued-bytes budget, returned when the
    /// request is dropped (answered or abandoned).
    pub _permit: OwnedSemaphorePermit,
}

#[derive(Debug, Clone)]
pub(crate) struct WriterConfig {
    pub segment_bytes: u64,
    pub max_batch_bytes: usize,
    pub index_interval: u64,
    pub fsync: bool,
}

#[derive(Debug)]
pub(crate) struct PartitionWriter {
    pub dir: PathBuf,
    pub view: Arc<PartitionView>,
    pub config: WriterConfig,
    /// Write handle of the active segment, shared with the sync stage.
    pub file: Arc<File>,
    /// Bytes written to the active segment (durable or handed to the sync
    /// stage).
    pub len: u64,
    pub next_offset: Offset,
    pub indexer: Indexer,
    /// A failed write could not be cut back yet; retried before the next
    /// write so the partition heals once the disk does.
    pub needs_repair: bool,
    /// A segment created by a roll, announced to readers with its first
    /// durable batch.
    pub new_segment: Option<SegmentView>,
    pub sync: Arc<SyncStage>,
    /// Encoding buffer, reused across batches.
    pub buf: Vec<u8>,
    #[cfg(test)]
    pub faults: Arc<std::sync::atomic::AtomicU8>,
}

/// Starts the writer and sync threads; they run until every sender of
/// `queue` is dropped and all queued appends are answered. Threads, not
/// tokio tasks, because all they do is blocking file I/O.
pub(crate) fn spawn(
    writer: PartitionWriter,
    queue: mpsc::Receiver<AppendRequest>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let label = format!("{}-{}", writer.view.topic, writer.view.partition);
    let sync = Arc::clone(&writer.sync);
    let view = Arc::clone(&writer.view);
    let syncer = std::thread::Builder::new()
        .name(format!("sync-{label}"))
        .spawn(move || sync.run(&view))?;
    let sync = Arc::clone(&writer.sync);
    let spawned = std::thread::Builder::new()
        .name(format!("log-{label}"))
        .spawn(move || {
            run(writer, queue);
            if syncer.join().is_err() {
                tracing::error!("partition sync thread panicked");
            }
        });
    if spawned.is_err() {
        sync.close();
    }
    spawned
}

fn run(mut writer: PartitionWriter, mut queue: mpsc::Receiver<AppendRequest>) {
    while let Some(first) = queue.blocking_recv() {
        #[cfg(test)]
        while writer.faults.load(std::sync::atomic::Ordering::SeqCst) == fault::STALL {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while bytes < writer.config.max_batch_bytes {
            match queue.try_recv() {
                Ok(request) => {
                    bytes += request.bytes;
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        // A caller that gave up (timeout, dropped future) was already told
        // the append failed; writing its records would only make its retry
        // a duplicate.
        batch.retain(|request| !request.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        if let Err((error, batch)) = writer.write_batch(batch) {
            tracing::warn!(
                topic = %writer.view.topic,
                partition = writer.view.partition,
                requests = batch.len(),
                %error,
                "append batch failed"
            );
            let message = format!("append failed: {error}");
            for request in batch {
                let _ = request
                    .reply
                    .send(Err(LogError::Unavailable(message.clone())));
            }
        }
        if writer.buf.capacity() > 2 * writer.config.max_batch_bytes.max(1 << 20) {
            // One huge batch must not pin its buffer for the life of the process.
            writer.buf = Vec::new();
        }
    }
    writer.sync.close();
    tracing::debug!(topic = %writer.view.topic, partition = writer.view.partition, "partition writer stopped");
}

impl PartitionWriter {
    /// Writes a batch and hands it to the sync stage, which answers it. On
    /// error the batch is given back to be failed, and the segment is cut
    /// back to its last durable record.
    pub fn write_batch(
        &mut self,
        batch: Vec<AppendRequest>,
    ) -> Result<(), (io::Error, Vec<AppendRequest>)> {
        if self.needs_repair || self.sync.is_poisoned() {
            if let Err(error) = self.cut_back_to_durable() {
                return Err((error, batch));
            }
        }
        let total: u64 = batch.iter().map(|request| request.bytes as u64).sum();
        // Roll between batches, never inside one: a segment may exceed the
        // limit by at most one batch, and a batch is never split.
        if self.len > 0 && self.len + total > self.config.segment_bytes {
            if let Err(error) = self.roll() {
                return Err((error, batch));
            }
        }
        self.buf.clear();
        let mut indexer = self.indexer.clone();
        let mut entries: Vec<IndexEntry> = Vec::new();
        let mut firsts = Vec::with_capacity(batch.len());
        let mut offset = self.next_offset;
        let mut max_timestamp_ms = i64::MIN;
        for request in &batch {
            firsts.push(offset);
            for record in &request.records {
                max_timestamp_ms = max_timestamp_ms.max(record.timestamp_ms);
                let position = self.len + self.buf.len() as u64;
                entries.extend(indexer.entry_for(offset, position));
                frame::encode(
                    &mut self.buf,
                    offset,
                    record.timestamp_ms,
                    &record.key,
                    &record.value,
                );
                offset += 1;
            }
        }
        if let Err(error) = self.write() {
            self.needs_repair = true;
            if let Err(repair_error) = self.cut_back_to_durable() {
                tracing::error!(
                    topic = %self.view.topic,
                    partition = self.view.partition,
                    %repair_error,
                    "could not cut a failed write back; retrying before the next append"
                );
            }
            return Err((error, batch));
        }
        self.len += self.buf.len() as u64;
        self.next_offset = offset;
        self.indexer = indexer;
        self.sync.hand_over(Written {
            file: Arc::clone(&self.file),
            new_segment: self.new_segment.take(),
            entries,
            end_offset: offset,
            len: self.len,
            max_timestamp_ms,
            requests: batch.into_iter().zip(firsts).collect(),
        });
        Ok(())
    }

    fn write(&mut self) -> io::Result<()> {
        let mut file: &File = &self.file;
        file.seek(SeekFrom::Start(self.len))?;
        #[cfg(test)]
        if self.faults.load(std::sync::atomic::Ordering::SeqCst) == fault::FAIL_HALFWAY {
            // Simulates a disk that fails midway: half the batch lands.
            file.write_all(&self.buf[..self.buf.len() / 2])?;
            return Err(io::Error::other("injected write failure"));
        }
        file.write_all(&self.buf)
    }

    /// After a failed write or fsync: waits until the sync stage has
    /// answered everything handed to it, then cuts the partition back to
    /// what readers see (the last durable record): later segments are
    /// removed, the durable one is truncated, and writing resumes there.
    fn cut_back_to_durable(&mut self) -> io::Result<()> {
        self.sync.wait_idle();
        let Some(durable) = self.view.durable_tail() else {
            return Err(io::Error::other("partition has no segment"));
        };
        let mut removed = false;
        for (base_offset, path) in segment::list_segments(&self.dir)? {
            if base_offset > durable.base_offset {
                std::fs::remove_file(&path)?;
                removed = true;
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&durable.path)?;
        file.set_len(durable.len)?;
        if self.config.fsync {
            file.sync_data()?;
            if removed {
                sync_dir(&self.dir)?;
            }
        }
        tracing::warn!(
            topic = %self.view.topic,
            partition = self.view.partition,
            end_offset = durable.end_offset,
            "cut partition back to its last durable record"
        );
        self.file = Arc::new(file);
        self.len = durable.len;
        self.next_offset = durable.end_offset;
        self.indexer = Indexer::resume(self.config.index_interval, durable.last_indexed);
        self.new_segment = None;
        self.needs_repair = false;
        self.sync.clear_poison();
        Ok(())
    }

    /// Starts a new segment at the next offset.
    fn roll(&mut self) -> io::Result<()> {
        // The full segment is synced before its successor exists, so after a
        // power loss only the last segment can have a torn tail; recovery
        // relies on that.
        if self.config.fsync {
            self.file.sync_data()?;
        }
        let base_offset = self.next_offset;
        let path = self.dir.join(segment_file_name(base_offset));
        // Truncate, not create_new: a file of this name can only be an empty
        // leftover of a roll that failed before, since no record has this
        // offset yet.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        if self.config.fsync {
            sync_dir(&self.dir)?;
        }
        let read_handle = File::open(&path)?;
        tracing::info!(
            topic = %self.view.topic,
            partition = self.view.partition,
            base_offset,
            "rolled to a new segment"
        );
        self.new_segment = Some(SegmentView {
            base_offset,
            end_offset: base_offset,
            len: 0,
            path,
            file: Arc::new(read_handle),
            index: Vec::new(),
            max_timestamp_ms: i64::MIN,
        });
        self.file = Arc::new(file);
        self.len = 0;
        self.indexer = Indexer::new(self.config.index_interval);
        Ok(())
    }
}

/// Test-only disk faults, set through `PartitionHandle::faults`.
#[cfg(test)]
pub(crate) mod fault {
    pub const NONE: u8 = 0;
    /// Every write lands halfway and then fails.
    pub const FAIL_HALFWAY: u8 = 1;
    /// The writer stops before writing, as on a hung disk.
    pub const STALL: u8 = 2;
    /// Every fsync fails.
    pub const FAIL_SYNC: u8 = 3;
    /// The sync stage stops before syncing: batches are written, not durable.
    pub const STALL_SYNC: u8 = 4;
}
