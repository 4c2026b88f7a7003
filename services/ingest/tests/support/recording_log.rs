//! A recording stand-in for the event log, shared by the in-process ingest
//! tests: it keeps every appended record with its topic and can be made to
//! refuse writes (503 paths). The real log has its own suite.

use async_trait::async_trait;
use closeloop_log::{
    CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset, StoredRecord,
};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct RecordingLog {
    pub appended: Mutex<Vec<(String, NewRecord)>>,
    pub refuse: bool,
}

#[async_trait]
impl EventLog for RecordingLog {
    async fn append(
        &self,
        topic: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError> {
        if self.refuse {
            return Err(LogError::Unavailable("queue full".into()));
        }
        let mut appended = self.appended.lock().unwrap();
        let start = appended.len() as u64;
        let n = records.len() as u64;
        appended.extend(records.into_iter().map(|r| (topic.to_string(), r)));
        Ok((start..start + n).map(|o| (0, o)).collect())
    }
    async fn partitions(&self, _: &str) -> Result<u32, LogError> {
        Ok(1)
    }
    async fn read(
        &self,
        _: &str,
        _: u32,
        _: Offset,
        _: usize,
        _: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        Ok(vec![])
    }
    async fn end_offset(&self, _: &str, _: u32) -> Result<Offset, LogError> {
        Ok(0)
    }
    async fn commit(&self, _: &str, _: &str, _: u32, _: CommittedPosition) -> Result<(), LogError> {
        Ok(())
    }
    async fn committed(
        &self,
        _: &str,
        _: &str,
        _: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        Ok(None)
    }
    async fn join(&self, _: &str, _: &str) -> Result<Membership, LogError> {
        Ok(Membership::fixed([0]))
    }
}
