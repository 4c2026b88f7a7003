//! Group membership: the live members of a group share the partitions of a
//! topic, each owning a disjoint subset, and when a member leaves or dies
//! its partitions move to the others (Kafka's consumer group protocol; the
//! embedded log has one process, which owns everything).
//!
//! Ownership is what membership gives, not records: members still read
//! with [`EventLog::read`](crate::EventLog::read) and keep their positions
//! with `commit`. A handover is safe because the old owner gives up first:
//! when partitions are revoked the backend publishes the smaller
//! assignment and waits (bounded) until the member
//! [acknowledges](Membership::acknowledge) that it stopped working on them
//! and stored its progress; only then can the group hand them to another
//! member, which reads that progress.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The partitions a member owns right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Grows by one on every change, so a member can acknowledge the
    /// assignment it has acted on.
    pub generation: u64,
    pub partitions: BTreeSet<u32>,
}

/// A member's handle: the current assignment and the acknowledgement a
/// revocation waits for. Dropping it leaves the group.
pub struct Membership {
    assignment: watch::Receiver<Assignment>,
    acks: Arc<Acks>,
    _leave_on_drop: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("assignment", &*self.assignment.borrow())
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// A membership that owns `partitions` for good: the embedded log's one
    /// process, or a test.
    pub fn fixed(partitions: impl IntoIterator<Item = u32>) -> Membership {
        let (tx, mut rx) = watch::channel(Assignment {
            generation: 1,
            partitions: partitions.into_iter().collect(),
        });
        // The first look sees the assignment as a change, like any later one.
        rx.mark_changed();
        Membership {
            assignment: rx,
            acks: Arc::new(Acks::default()),
            _leave_on_drop: Box::new(tx),
        }
    }

    /// Assembles a membership from a backend's parts. `leave_on_drop` is
    /// dropped with the membership and must leave the group then.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn from_parts(
        mut assignment: watch::Receiver<Assignment>,
        acks: Arc<Acks>,
        leave_on_drop: Box<dyn Send + Sync>,
    ) -> Membership {
        assignment.mark_changed();
        Membership {
            assignment,
            acks,
            _leave_on_drop: leave_on_drop,
        }
    }

    /// The assignment now.
    pub fn current(&self) -> Assignment {
        self.assignment.borrow().clone()
    }

    /// A second view of the assignment, for watching it (in tests, in
    /// status pages) without taking part in acknowledging it.
    pub fn observer(&self) -> watch::Receiver<Assignment> {
        self.assignment.clone()
    }

    /// Whether the assignment changed since it was last read with
    /// [`current_if_changed`](Self::current_if_changed).
    pub fn has_changed(&self) -> bool {
        self.assignment.has_changed().unwrap_or(false)
    }

    /// The assignment, if it changed since the last call.
    pub fn current_if_changed(&mut self) -> Option<Assignment> {
        if self.has_changed() {
            Some(self.assignment.borrow_and_update().clone())
        } else {
            None
        }
    }

    /// Waits until the assignment changes (or returns at once if it
    /// changed since it was last read). The change stays unread, for
    /// [`current_if_changed`](Self::current_if_changed) to take.
    pub async fn changed(&mut self) {
        if self.assignment.changed().await.is_err() {
            // The backend is gone; nothing will change any more.
            std::future::pending::<()>().await;
        }
        self.assignment.mark_changed();
    }

    /// Says the member acted on assignment `generation`: it no longer works
    /// on partitions that assignment took away, and their progress is
    /// committed. A revocation in the backend waits for this.
    pub fn acknowledge(&self, generation: u64) {
        self.acks.acknowledge(generation);
    }
}

/// The highest acknowledged generation, with a condition variable for the
/// backend's rebalance callback (a librdkafka thread) to wait on.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    generation: Mutex<u64>,
    raised: Condvar,
}

impl Acks {
    fn acknowledge(&self, generation: u64) {
        let mut acked = self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if generation > *acked {
            *acked = generation;
            self.raised.notify_all();
        }
    }

    /// Blocks until `generation` is acknowledged or `limit` passes; returns
    /// whether it was acknowledged.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn wait_for(&self, generation: u64, limit: Duration) -> bool {
        let acked = self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (acked, _) = self
            .raised
            .wait_timeout_while(acked, limit, |acked| *acked < generation)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *acked >= generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_membership_owns_its_partitions() {
        let membership = Membership::fixed(0..3);
        let mut membership = membership;
        assert!(
            membership.has_changed(),
            "the first assignment reads as a change"
        );
        let now = membership.current_if_changed().expect("first assignment");
        assert_eq!(now.partitions, BTreeSet::from([0, 1, 2]));
        assert_eq!(now.generation, 1);
        assert!(membership.current_if_changed().is_none());
    }

    #[tokio::test]
    async fn waiting_for_a_change_leaves_it_for_current_if_changed() {
        let (tx, rx) = watch::channel(Assignment::default());
        let mut membership = Membership::from_parts(rx, Arc::new(Acks::default()), Box::new(()));
        membership.current_if_changed();
        tx.send_modify(|a| a.generation = 2);
        membership.changed().await;
        let seen = membership
            .current_if_changed()
            .expect("the change is still unread");
        assert_eq!(seen.generation, 2);
        // Once read, it is no change any more: a loop that waits again
        // must sleep, not spin.
        let again = tokio::time::timeout(Duration::from_millis(50), membership.changed()).await;
        assert!(again.is_err(), "changed() returned with nothing new");
        drop(tx);
    }

    #[test]
    fn a_wait_returns_once_acknowledged_and_times_out_otherwise() {
        let acks = Arc::new(Acks::default());
        assert!(!acks.wait_for(1, Duration::from_millis(10)));
        let other = Arc::clone(&acks);
        let waiter = std::thread::spawn(move || other.wait_for(2, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        acks.acknowledge(2);
        assert!(waiter.join().expect("waiter"));
        // An older acknowledgement never lowers the mark.
        acks.acknowledge(1);
        assert!(acks.wait_for(2, Duration::ZERO));
    }
}
