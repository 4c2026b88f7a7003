//! The one writer of a partition: group commit. It takes every append
//! queued while the previous fsync ran, writes them with one `write` call,
//! syncs once and then answers all their callers, so the fsync cost is
//! shared by everyone waiting instead of paid per record.

use super::frame;
use super::fsutil::sync_dir;
use super::segment::{segment_file_name, IndexEntry, Indexer, SegmentView};
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
    /// Write handle of the active segment.
    pub file: File,
    /// Durable length of the active segment: the last good position that a
    /// failed write is cut back to.
    pub len: u64,
    pub next_offset: Offset,
    pub indexer: Indexer,
    /// A failed write could not be cut back yet; retried before the next
    /// write so the partition heals once the disk does.
    pub needs_repair: bool,
    /// Encoding buffer, reused across batches.
    pub buf: Vec<u8>,
    #[cfg(test)]
    pub faults: Arc<std::sync::atomic::AtomicU8>,
}

/// Test-only disk faults, set through `PartitionHandle::faults`.
#[cfg(test)]
pub(crate) mod fault {
    pub const NONE: u8 = 0;
    /// Every write lands halfway and then fails.
    pub const FAIL_HALFWAY: u8 = 1;
    /// The writer stops before writing, as on a hung disk.
    pub const STALL: u8 = 2;
}

/// Runs the writer on its own thread until every sender is dropped; the
/// thread, not a tokio task, because all it does is blocking file I/O.
pub(crate) fn spawn(
    writer: PartitionWriter,
    queue: mpsc::Receiver<AppendRequest>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let name = format!("log-{}-{}", writer.view.topic, writer.view.partition);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(writer, queue))
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
        match writer.write_batch(&batch) {
            Ok(firsts) => {
                for (request, first) in batch.into_iter().zip(firsts) {
                    // The caller may have stopped waiting; its records are
                    // durable anyway.
                    let _ = request.reply.send(Ok(first));
                }
            }
            Err(error) => {
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
        }
        if writer.buf.capacity() > 2 * writer.config.max_batch_bytes.max(1 << 20) {
            // One huge batch must not pin its buffer for the life of the process.
            writer.buf = Vec::new();
        }
    }
    tracing::debug!(topic = %writer.view.topic, partition = writer.view.partition, "partition writer stopped");
}

impl PartitionWriter {
    /// Writes and syncs a batch; returns the first offset of each request.
    /// On error nothing of the batch is visible and, once repaired, the
    /// segment ends where it ended before.
    pub fn write_batch(&mut self, batch: &[AppendRequest]) -> io::Result<Vec<Offset>> {
        if self.needs_repair {
            self.repair()?;
        }
        let total: u64 = batch.iter().map(|request| request.bytes as u64).sum();
        // Roll between batches, never inside one: a segment may exceed the
        // limit by at most one batch, and a batch is never split.
        if self.len > 0 && self.len + total > self.config.segment_bytes {
            self.roll()?;
        }
        self.buf.clear();
        let mut indexer = self.indexer.clone();
        let mut entries: Vec<IndexEntry> = Vec::new();
        let mut firsts = Vec::with_capacity(batch.len());
        let mut offset = self.next_offset;
        for request in batch {
            firsts.push(offset);
            for record in &request.records {
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
        if let Err(error) = self.write_and_sync() {
            self.needs_repair = true;
            if let Err(repair_error) = self.repair() {
                tracing::error!(
                    topic = %self.view.topic,
                    partition = self.view.partition,
                    %repair_error,
                    "could not cut a failed write back; retrying before the next append"
                );
            }
            return Err(error);
        }
        self.len += self.buf.len() as u64;
        self.next_offset = offset;
        self.indexer = indexer;
        self.view.publish_append(entries, offset, self.len);
        Ok(firsts)
    }

    fn write_and_sync(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.load(std::sync::atomic::Ordering::SeqCst) == fault::FAIL_HALFWAY {
            // Simulates a disk that fails midway: half the batch lands.
            self.file.seek(SeekFrom::Start(self.len))?;
            self.file.write_all(&self.buf[..self.buf.len() / 2])?;
            return Err(io::Error::other("injected write failure"));
        }
        self.file.seek(SeekFrom::Start(self.len))?;
        self.file.write_all(&self.buf)?;
        if self.config.fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Cuts the active segment back to its last durable length.
    fn repair(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        if self.config.fsync {
            self.file.sync_data()?;
        }
        self.needs_repair = false;
        Ok(())
    }

    /// Starts a new segment at the next offset. The current one was synced
    /// by the batch that filled it.
    fn roll(&mut self) -> io::Result<()> {
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
        self.view.push_segment(SegmentView {
            base_offset,
            end_offset: base_offset,
            len: 0,
            path,
            file: Arc::new(read_handle),
            index: Vec::new(),
        });
        self.file = file;
        self.len = 0;
        self.indexer = Indexer::new(self.config.index_interval);
        Ok(())
    }
}
