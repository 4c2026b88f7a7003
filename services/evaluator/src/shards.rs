//! Rule groups split into shards, the unit evaluator processes own and
//! checkpoint. The shards are the partitions of `<prefix>.evaluator-shards`,
//! a topic that carries no records: it exists so that the log's group
//! membership (Kafka's consumer-group protocol) can split the shards
//! between the live evaluators and move a dead one's shards to the others.
//! A group's shard is a hash of its key, so every evaluator agrees on it.
//!
//! Scalers are sharded the same way, under the key `scaler;<name>`, so
//! exactly one evaluator decides for a scaler.
//!
//! Each shard's progress is a committed position of its own (metadata: the
//! shard's evaluated ticks and the samples offsets its window needs), so
//! the next owner of a shard starts where the last one stopped.

use crate::scaling::ScalerState;
use crate::GroupHealth;
use closeloop_log::{partition_for_key, EventLog, LogError, Offset};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The consumer group shard checkpoints are committed under.
pub use closeloop_core::topics::EVALUATOR_CHECKPOINT_GROUP as CHECKPOINT_GROUP;

/// The topic whose partitions are the shards.
pub fn shards_topic(prefix: &str) -> String {
    closeloop_core::topics::evaluator_shards_topic(prefix)
}

/// The membership group evaluators join; distinct from
/// [`CHECKPOINT_GROUP`], as the log's membership requires.
pub fn members_group(prefix: &str) -> String {
    format!("{prefix}.evaluator.members")
}

/// The shard a rule group (by its `file;name` key) belongs to.
pub fn shard_of(group_key: &str, shards: u32) -> u32 {
    partition_for_key(group_key.as_bytes(), shards)
}

/// What a shard's committed position carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// Last evaluated tick of each of the shard's groups.
    pub ticks: BTreeMap<String, i64>,
    pub watermark_ms: i64,
    /// Per samples partition, the first offset the owner's window needed:
    /// a restarting evaluator replays samples from the lowest of these.
    pub samples_next: BTreeMap<u32, Offset>,
    /// Snapshot of each of the shard's scalers (by `scaler;name` key): the
    /// history its stabilization windows, rate policies and health need.
    /// Its last tick is in `ticks` under the same key.
    #[serde(default)]
    pub scalers: BTreeMap<String, ScalerState>,
    /// How each of the shard's groups last evaluated (by group key), so
    /// every evaluator's `/api/v1/rules` reports it.
    #[serde(default)]
    pub health: BTreeMap<String, GroupHealth>,
}

/// A shard's committed checkpoint, `None` when it has none (or one this
/// version cannot read).
pub async fn read_checkpoint(
    log: &dyn EventLog,
    prefix: &str,
    shard: u32,
) -> Result<Option<ShardCheckpoint>, LogError> {
    let committed = log
        .committed(CHECKPOINT_GROUP, &shards_topic(prefix), shard)
        .await?;
    Ok(committed.and_then(|c| ShardCheckpoint::parse(&c.metadata)))
}

/// The entries of `by_key` whose key belongs to `shard`.
pub fn of_shard<V: Clone>(
    by_key: &BTreeMap<String, V>,
    shard: u32,
    shards: u32,
) -> BTreeMap<String, V> {
    by_key
        .iter()
        .filter(|(key, _)| shard_of(key, shards) == shard)
        .map(|(key, v)| (key.clone(), v.clone()))
        .collect()
}

impl ShardCheckpoint {
    pub fn parse(metadata: &str) -> Option<ShardCheckpoint> {
        serde_json::from_str(metadata).ok()
    }

    pub fn to_metadata(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_one_shard_and_the_split_is_stable() {
        let keys: Vec<String> = (0..100).map(|i| format!("rules.yml;group-{i}")).collect();
        let shards: Vec<u32> = keys.iter().map(|k| shard_of(k, 6)).collect();
        assert!(shards.iter().all(|&s| s < 6));
        // Stable: the same key lands in the same shard on every process.
        assert_eq!(
            shards,
            keys.iter().map(|k| shard_of(k, 6)).collect::<Vec<_>>()
        );
        // And spread: every shard gets some of 100 groups.
        for shard in 0..6 {
            assert!(shards.contains(&shard), "shard {shard} got no group");
        }
    }

    #[test]
    fn a_checkpoint_round_trips_through_its_metadata() {
        let checkpoint = ShardCheckpoint {
            ticks: BTreeMap::from([("a.yml;g".to_string(), 15_000)]),
            watermark_ms: 20_000,
            samples_next: BTreeMap::from([(0, 7), (1, 3)]),
            scalers: BTreeMap::from([("scaler;w".to_string(), ScalerState::default())]),
            health: BTreeMap::from([(
                "a.yml;g".to_string(),
                GroupHealth {
                    last_eval_ms: Some(15_000),
                    eval_seconds: 0.25,
                    rules: vec![crate::RuleHealth {
                        last_eval_ms: Some(15_000),
                        last_error: Some("bad".into()),
                        eval_seconds: 0.125,
                    }],
                },
            )]),
        };
        assert_eq!(
            ShardCheckpoint::parse(&checkpoint.to_metadata()),
            Some(checkpoint)
        );
        assert_eq!(ShardCheckpoint::parse("{\"ticks\":"), None);
        // Checkpoints written before scalers existed still read.
        let old = r#"{"ticks":{},"watermark_ms":5,"samples_next":{}}"#;
        assert_eq!(ShardCheckpoint::parse(old).map(|c| c.watermark_ms), Some(5));
    }
}
