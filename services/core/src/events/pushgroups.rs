//! `closeloop.pushgroups`: what Pushgateway-style pushes did to their
//! groups, in the order ingest accepted them. Folding them in log order
//! (`closeloop_core::pushed::groups::PushGroups`) gives the groups a
//! Pushgateway would hold.

use crate::pushed::{GroupingKey, PushedFamily};
use serde::{Deserialize, Serialize};

/// A successful `PUT` (the whole group is replaced) or `POST` (families of
/// the same name are replaced) to `/metrics/job/<job>{/<label>/<value>}`.
/// A `PUT` with an empty body keeps the group, empty, with a new push time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushGroupReplaced {
    pub grouping: GroupingKey,
    /// `true` for `PUT`, `false` for `POST`.
    pub whole_group: bool,
    /// As pushed (labels without the grouping labels applied), checked.
    pub families: Vec<PushedFamily>,
    /// `push_time_seconds` of the group from now on (unix ms).
    pub pushed_at_ms: i64,
}

/// A `DELETE` of a group: every family and both push times go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushGroupDeleted {
    pub grouping: GroupingKey,
    pub deleted_at_ms: i64,
}

/// A push the consistency check refused (timestamps, a type clash with
/// another group, duplicate series): the Pushgateway answers 400 and sets
/// the group's `push_failure_time_seconds`, creating the group if needed.
/// Parse errors leave no trace, as there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushGroupRejected {
    pub grouping: GroupingKey,
    pub rejected_at_ms: i64,
    pub reason: String,
}
