//! The streams of the event log (Kafka topics) and which events go where.

/// One stream of the log. Names are `<prefix>.<stream>`; the default
/// prefix is `closeloop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Samples,
    /// Pushgateway-style pushes: kept from the start, unlike samples,
    /// because a pushed group stays current until replaced or deleted.
    PushGroups,
    Deploys,
    Alerts,
    Actions,
    Outcomes,
    /// Silences: read from the start, like push groups.
    Silences,
    /// Snapshots of state folded from the other topics, so a restart
    /// reads a snapshot and the tail after it (`closeloop_log::snapshot`).
    Snapshots,
}

pub const DEFAULT_PREFIX: &str = "closeloop";

impl Topic {
    pub const ALL: [Topic; 8] = [
        Topic::Samples,
        Topic::PushGroups,
        Topic::Deploys,
        Topic::Alerts,
        Topic::Actions,
        Topic::Outcomes,
        Topic::Silences,
        Topic::Snapshots,
    ];

    pub fn stream(self) -> &'static str {
        match self {
            Topic::Samples => "samples",
            Topic::PushGroups => "pushgroups",
            Topic::Deploys => "deploys",
            Topic::Alerts => "alerts",
            Topic::Actions => "actions",
            Topic::Outcomes => "outcomes",
            Topic::Silences => "silences",
            Topic::Snapshots => "snapshots",
        }
    }

    pub fn name(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.stream())
    }
}

/// The consumer group evaluator shard checkpoints are committed under, in
/// the partitions of [`evaluator_shards_topic`]. Each checkpoint's
/// metadata is JSON with `watermark_ms`: every alert decision up to that
/// event time is in `closeloop.alerts` before the checkpoint is
/// committed, which makes the lowest watermark over the shards the clock
/// the actuator's notification groups may run to.
pub const EVALUATOR_CHECKPOINT_GROUP: &str = "evaluator";

/// The group the evaluator commits under on each samples partition. The
/// offset is the oldest record its window still needs (what the embedded
/// log's retention must keep); the metadata, [`SamplesProgress`], says how
/// far it has read, so ingest can tell how far behind it is.
pub const EVALUATOR_SAMPLES_GROUP: &str = "evaluator";

/// The metadata of an [`EVALUATOR_SAMPLES_GROUP`] commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamplesProgress {
    /// The next offset the evaluator will read.
    pub read_next: u64,
}

/// The topic whose (empty) partitions are the evaluator's rule shards.
pub fn evaluator_shards_topic(prefix: &str) -> String {
    format!("{prefix}.evaluator-shards")
}
