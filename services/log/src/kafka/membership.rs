//! Group membership on Kafka: one subscribed librdkafka consumer per
//! membership, polled on a thread of its own so heartbeats keep flowing
//! whatever the member's async work is doing. The broker's group protocol
//! balances the topic's partitions between the live members; a member that
//! stops heartbeating for the session timeout loses them.
//!
//! librdkafka's default assignors are eager: every rebalance first revokes
//! all of a member's partitions, then assigns the new split. The revoke
//! callback publishes the smaller assignment and blocks (up to the session
//! timeout) until the member acknowledges it, so a member never works on a
//! partition the broker may already have given to someone else.

use super::errors::log_error;
use super::options::KafkaOptions;
use crate::membership::{Acks, Assignment};
use crate::{LogError, Membership};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the membership thread polls: heartbeats and rebalance
/// callbacks run inside poll.
const POLL: Duration = Duration::from_millis(100);

struct MembershipContext {
    group: String,
    topic: String,
    assignment: watch::Sender<Assignment>,
    acks: Arc<Acks>,
    /// Set when the member is leaving: the revocation on the way out has
    /// no one left to acknowledge it.
    leaving: Arc<AtomicBool>,
    ack_limit: Duration,
}

impl ClientContext for MembershipContext {}

impl ConsumerContext for MembershipContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let revoked = self.partitions_of(revoked);
        if revoked.is_empty() {
            return;
        }
        let generation = self.publish(|owned| owned.retain(|p| !revoked.contains(p)));
        if self.leaving.load(Ordering::SeqCst) {
            return;
        }
        if !self.acks.wait_for(generation, self.ack_limit) {
            tracing::warn!(
                group = %self.group,
                topic = %self.topic,
                ?revoked,
                "the member did not acknowledge a revocation in time; handing the partitions over anyway"
            );
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assigned) => {
                // Only ownership is wanted from this consumer, not records.
                if let Err(error) = consumer.pause(assigned) {
                    tracing::debug!(%error, "pausing membership partitions");
                }
                let assigned = self.partitions_of(assigned);
                tracing::info!(group = %self.group, topic = %self.topic, ?assigned, "partitions assigned");
                self.publish(|owned| owned.extend(assigned.iter().copied()));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                tracing::warn!(group = %self.group, topic = %self.topic, %error, "group rebalance failed")
            }
        }
    }
}

impl MembershipContext {
    fn partitions_of(&self, list: &TopicPartitionList) -> BTreeSet<u32> {
        list.elements_for_topic(&self.topic)
            .iter()
            .filter_map(|element| u32::try_from(element.partition()).ok())
            .collect()
    }

    /// Applies a change to the owned set and publishes it as a new
    /// generation; returns that generation.
    fn publish(&self, change: impl FnOnce(&mut BTreeSet<u32>)) -> u64 {
        let mut generation = 0;
        self.assignment.send_modify(|assignment| {
            change(&mut assignment.partitions);
            assignment.generation += 1;
            generation = assignment.generation;
        });
        generation
    }
}

/// Stops the membership thread (which leaves the group) when dropped.
struct LeaveOnDrop {
    leaving: Arc<AtomicBool>,
}

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.leaving.store(true, Ordering::SeqCst);
    }
}

/// Joins `group` on `topic` (which must exist) and starts the thread that
/// keeps the membership alive.
pub(crate) fn join(
    options: &KafkaOptions,
    group: &str,
    topic: &str,
) -> Result<Membership, LogError> {
    let (tx, rx) = watch::channel(Assignment::default());
    let acks = Arc::new(Acks::default());
    let leaving = Arc::new(AtomicBool::new(false));
    let context = MembershipContext {
        group: group.to_string(),
        topic: topic.to_string(),
        assignment: tx,
        acks: Arc::clone(&acks),
        leaving: Arc::clone(&leaving),
        ack_limit: options.session_timeout,
    };
    let consumer: BaseConsumer<MembershipContext> = options
        .membership_config(group)
        .create_with_context(context)
        .map_err(|error| log_error(&format!("creating a member of group {group}"), &error))?;
    consumer
        .subscribe(&[topic])
        .map_err(|error| log_error(&format!("joining group {group} on {topic}"), &error))?;
    let thread_leaving = Arc::clone(&leaving);
    std::thread::Builder::new()
        .name(format!("member-{group}"))
        .spawn(move || keep_alive(consumer, &thread_leaving))
        .map_err(|error| {
            LogError::Unavailable(format!("starting the membership thread: {error}"))
        })?;
    Ok(Membership::from_parts(
        rx,
        acks,
        Box::new(LeaveOnDrop { leaving }),
    ))
}

/// Polls until the membership is dropped, then leaves the group so the
/// others take over at once instead of after the session timeout.
fn keep_alive(consumer: BaseConsumer<MembershipContext>, leaving: &AtomicBool) {
    while !leaving.load(Ordering::SeqCst) {
        match consumer.poll(POLL) {
            None | Some(Ok(_)) => {}
            Some(Err(error)) => tracing::debug!(%error, "membership consumer event"),
        }
    }
    consumer.unsubscribe();
    // Serve the revoke callback the unsubscribe queued.
    for _ in 0..10 {
        let _ = consumer.poll(Duration::from_millis(10));
    }
}
