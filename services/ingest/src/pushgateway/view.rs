//! The groups as ingest sees them: the fold of `closeloop.pushgroups`,
//! caught up with the log before every push is checked and before every
//! read, so a push is checked against every push accepted before it
//! (here or by another ingest process sharing the log) and a client reads
//! its own writes. A restart starts empty and catches up from the start
//! of the topic: pushed groups survive restarts as long as the log does.

use closeloop_core::pushed::groups::PushGroups;
use closeloop_core::topics::Topic;
use closeloop_core::Event;
use closeloop_log::{EventLog, LogError, Offset};

#[derive(Default)]
pub struct PushView {
    groups: PushGroups,
    /// Next offset to read, per partition.
    next: Vec<Offset>,
}

impl PushView {
    pub fn groups(&self) -> &PushGroups {
        &self.groups
    }

    /// Folds every record appended since the last call.
    pub async fn catch_up(&mut self, log: &dyn EventLog, prefix: &str) -> Result<(), LogError> {
        let topic = Topic::PushGroups.name(prefix);
        let groups = &mut self.groups;
        closeloop_log::follow::read_new(log, &topic, &mut self.next, |record| {
            match Event::from_json(&record.value) {
                Ok(event) => {
                    groups.apply(&event.payload);
                }
                Err(err) => {
                    tracing::warn!(topic = %topic, offset = record.offset, error = %err, "skipping undecodable push record")
                }
            }
        })
        .await
    }
}
