//! Reading a topic on from where the last read stopped, for in-process
//! views (pushed groups, silences) that fold every record appended since.

use crate::{EventLog, LogError, Offset, StoredRecord};
use std::time::Duration;

/// Reads every record of `topic` past `next` (the next offset per
/// partition, grown as partitions appear), handing each to `apply` in
/// offset order, without waiting for more.
pub async fn read_new(
    log: &dyn EventLog,
    topic: &str,
    next: &mut Vec<Offset>,
    mut apply: impl FnMut(&StoredRecord),
) -> Result<(), LogError> {
    let partitions = log.partitions(topic).await?;
    next.resize(partitions as usize, 0);
    for partition in 0..partitions {
        loop {
            let from = next[partition as usize];
            let records = log
                .read(topic, partition, from, 512, Duration::ZERO)
                .await?;
            let Some(last) = records.last() else {
                break;
            };
            next[partition as usize] = last.offset + 1;
            records.iter().for_each(&mut apply);
        }
    }
    Ok(())
}
