//! One partition as the rest of the log uses it: a bounded queue into its
//! writer thread for appends, and the durable view for reads.

use super::recovery::recover_partition;
use super::sync::SyncStage;
use super::view::PartitionView;
use super::writer::{self, AppendRequest, PartitionWriter, WriterConfig};
use super::EmbeddedOptions;
use crate::{LogError, NewRecord, Offset, StoredRecord};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};

#[derive(Debug)]
pub(crate) struct PartitionHandle {
    view: Arc<PartitionView>,
    queue: mpsc::Sender<AppendRequest>,
    /// Bytes that may wait in the queue, so a slow disk bounds memory
    /// instead of letting queued bodies pile up.
    queued_bytes: Arc<Semaphore>,
    max_queued_bytes: usize,
    max_read_bytes: usize,
    #[cfg(test)]
    pub faults: Arc<std::sync::atomic::AtomicU8>,
}

impl PartitionHandle {
    /// Recovers the partition in `dir` and starts its writer thread.
    /// Blocking: run off the async runtime.
    pub fn open(
        dir: &Path,
        topic: Arc<str>,
        partition: u32,
        options: &EmbeddedOptions,
    ) -> Result<(Self, JoinHandle<()>), LogError> {
        let recovered = recover_partition(dir, options.index_interval_bytes, options.fsync)?;
        let view = Arc::new(PartitionView::new(topic, partition, recovered.segments));
        #[cfg(test)]
        let faults = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let writer = PartitionWriter {
            dir: dir.to_path_buf(),
            view: Arc::clone(&view),
            config: WriterConfig {
                segment_bytes: options.segment_bytes,
                max_batch_bytes: options.max_batch_bytes,
                index_interval: options.index_interval_bytes,
                fsync: options.fsync,
            },
            file: Arc::new(recovered.active_file),
            len: recovered.active_len,
            next_offset: view.end_offset(),
            indexer: recovered.indexer,
            needs_repair: false,
            new_segment: None,
            sync: Arc::new(SyncStage::new(
                options.fsync,
                #[cfg(test)]
                Arc::clone(&faults),
            )),
            buf: Vec::new(),
            #[cfg(test)]
            faults: Arc::clone(&faults),
        };
        let (queue, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let thread = writer::spawn(writer, receiver)?;
        let max_queued_bytes = options.max_queued_bytes.clamp(1, Semaphore::MAX_PERMITS);
        let handle = Self {
            view,
            queue,
            queued_bytes: Arc::new(Semaphore::new(max_queued_bytes)),
            max_queued_bytes,
            max_read_bytes: options.max_read_bytes,
            #[cfg(test)]
            faults,
        };
        Ok((handle, thread))
    }

    pub fn end_offset(&self) -> Offset {
        self.view.end_offset()
    }

    pub fn view(&self) -> &Arc<PartitionView> {
        &self.view
    }

    /// Queues records (already checked against the record size limit) for
    /// the writer. Never waits for queue space: a full queue is
    /// `Unavailable` at once, which ingest turns into a 503 the sender
    /// retries. Queuing is separate from waiting so one append can queue
    /// into several partitions before waiting for any of their fsyncs.
    pub fn enqueue(&self, records: Vec<NewRecord>) -> Result<PendingAppend, LogError> {
        let bytes: usize = records
            .iter()
            .map(|record| super::frame::frame_len(record.key.len(), record.value.len()))
            .sum();
        if bytes > self.max_queued_bytes {
            return Err(LogError::Invalid(format!(
                "append of {bytes} bytes exceeds the partition queue of {} bytes",
                self.max_queued_bytes
            )));
        }
        let permits = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.queued_bytes)
            .try_acquire_many_owned(permits)
            .map_err(|_| self.unavailable("append queue full (bytes)"))?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            records,
            bytes,
            reply,
            _permit: permit,
        };
        self.queue.try_send(request).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => self.unavailable("append queue full"),
            mpsc::error::TrySendError::Closed(_) => self.unavailable("partition writer stopped"),
        })?;
        Ok(PendingAppend {
            answer,
            label: self.label(),
        })
    }

    /// Reads from `from`, waiting up to `wait` when nothing is there yet.
    pub async fn read(
        &self,
        from: Offset,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let mut end = self.view.subscribe();
        let end_offset = *end.borrow_and_update();
        if from > end_offset {
            return Err(LogError::Invalid(format!(
                "{}/{}: offset {from} is past the end offset {end_offset}",
                self.view.topic, self.view.partition
            )));
        }
        if max_records == 0 {
            return Ok(Vec::new());
        }
        if from == end_offset {
            if wait.is_zero() {
                return Ok(Vec::new());
            }
            match tokio::time::timeout(wait, end.wait_for(|end| *end > from)).await {
                Err(_) => return Ok(Vec::new()),
                Ok(Err(_)) => return Err(self.unavailable("partition closed")),
                Ok(Ok(_)) => {}
            }
        }
        let view = Arc::clone(&self.view);
        let max_bytes = self.max_read_bytes;
        tokio::task::spawn_blocking(move || view.read_records(from, max_records, max_bytes))
            .await
            .map_err(|error| LogError::Unavailable(format!("read task failed: {error}")))?
    }

    fn label(&self) -> String {
        format!("{}/{}", self.view.topic, self.view.partition)
    }

    fn unavailable(&self, why: &str) -> LogError {
        LogError::Unavailable(format!("{}: {why}", self.label()))
    }
}

/// An append queued to one partition's writer, not yet known durable.
#[derive(Debug)]
pub(crate) struct PendingAppend {
    answer: oneshot::Receiver<Result<Offset, LogError>>,
    label: String,
}

impl PendingAppend {
    /// Waits for the writer's answer until `deadline`. A disk that hangs
    /// must not hang the caller: past the deadline the append is reported
    /// `Unavailable`, and the writer skips it if it has not started it yet.
    pub async fn durable(self, deadline: tokio::time::Instant) -> Result<Offset, LogError> {
        match tokio::time::timeout_at(deadline, self.answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(LogError::Unavailable(format!(
                "{}: partition writer stopped",
                self.label
            ))),
            Err(_) => Err(LogError::Unavailable(format!(
                "{}: timed out waiting for a durable append",
                self.label
            ))),
        }
    }
}
