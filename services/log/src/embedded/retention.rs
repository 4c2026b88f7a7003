//! Retention: the pass that deletes the oldest segments of the topics the
//! options give a [`Retention`], once no consumer group still needs them,
//! and the thread that runs it every `retention_check_interval`.

use super::fsutil::sync_dir;
use super::groups::GroupStore;
use super::{Retention, Topic};
use crate::LogError;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// What one retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionSummary {
    pub segments_removed: u64,
    pub bytes_removed: u64,
}

pub(crate) type TopicMap = Arc<RwLock<HashMap<String, Arc<Topic>>>>;

/// One pass over every topic with a policy. Blocking (file deletions).
pub(crate) fn run_pass(
    topics: &TopicMap,
    groups: &GroupStore,
    policies: &BTreeMap<String, Retention>,
    fsync: bool,
    now_ms: i64,
) -> Result<RetentionSummary, LogError> {
    let mut summary = RetentionSummary::default();
    for (name, policy) in policies {
        let topic = topics
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned();
        let Some(topic) = topic else { continue };
        for (partition, handle) in topic.partitions.iter().enumerate() {
            let partition = partition as u32;
            // Nobody has committed here: nothing pins the data but the
            // policy, as in Kafka.
            let needed_from = groups.lowest_position(name, partition)?.unwrap_or(u64::MAX);
            let expired = handle.view().take_expired(policy, needed_from, now_ms);
            let Some(last) = expired.last() else { continue };
            let new_start = last.end_offset;
            let mut bytes = 0;
            for segment in &expired {
                // Readers still holding the file keep reading it: on Unix
                // an open file outlives its name.
                std::fs::remove_file(&segment.path)?;
                bytes += segment.len;
            }
            if fsync {
                if let Some(dir) = expired[0].path.parent() {
                    sync_dir(dir)?;
                }
            }
            tracing::info!(
                topic = name,
                partition,
                segments = expired.len(),
                bytes,
                new_start,
                "retention removed segments"
            );
            summary.segments_removed += expired.len() as u64;
            summary.bytes_removed += bytes;
        }
    }
    Ok(summary)
}

/// The background thread running [`run_pass`]; stopped (and joined) by
/// [`RetentionThread::stop`] so closing the log waits for a pass in flight.
#[derive(Debug)]
pub(crate) struct RetentionThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

impl RetentionThread {
    pub fn spawn(
        topics: TopicMap,
        groups: Arc<GroupStore>,
        policies: BTreeMap<String, Retention>,
        fsync: bool,
        every: Duration,
        dir: &Path,
    ) -> Result<Self, LogError> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stopping = Arc::clone(&stop);
        let label = dir.display().to_string();
        let handle = std::thread::Builder::new()
            .name("log-retention".into())
            .spawn(move || loop {
                let (flag, wake) = &*stopping;
                let guard = flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let (guard, _) = wake
                    .wait_timeout_while(guard, every, |stopped| !*stopped)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if *guard {
                    return;
                }
                drop(guard);
                let now_ms = unix_now_ms();
                if let Err(error) = run_pass(&topics, &groups, &policies, fsync, now_ms) {
                    tracing::error!(log = label, %error, "retention pass failed; retrying next interval");
                }
            })?;
        Ok(Self { stop, handle })
    }

    pub fn stop(self) {
        let (flag, wake) = &*self.stop;
        *flag.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = true;
        wake.notify_all();
        if self.handle.join().is_err() {
            tracing::error!("log retention thread panicked");
        }
    }
}

/// Wall-clock unix milliseconds, the clock record timestamps are in.
pub(crate) fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
