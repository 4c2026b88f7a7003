//! Every event closeloop writes, grouped by stream. Names are past tense.
//! Each type has a JSON Schema in `schemas/<Type>.json`.

mod actions;
mod alerts;
mod deploys;
mod external;
mod outcomes;
mod pushgroups;
mod samples;
mod scaling;
mod silences;

pub use actions::{IssueAction, IssueRequested, WebhookRequested};
pub use alerts::{AlertEvent, AlertState, SuspectDeploy};
pub use deploys::{Commit, DeployRecorded, DeployStatus};
pub use external::{ExternalAlertReceived, ExternalAlertSource};
pub use outcomes::{
    ActionFailed, IssueClosed, IssueCommented, IssueFiled, IssueReopened, WebhookDelivered,
};
pub use pushgroups::{PushGroupDeleted, PushGroupRejected, PushGroupReplaced};
pub use samples::{
    SamplesReceived, SamplesRecorded, GZIP_SUFFIX, OTLP_METRICS_JSON, OTLP_METRICS_PROTOBUF,
    REMOTE_WRITE_V1_SNAPPY, REMOTE_WRITE_V2_SNAPPY,
};
pub use scaling::{
    ScaleApplied, ScaleCause, ScaleLimit, ScaleOutcome, ScaleRequested, ScaleTrigger,
};
pub use silences::{SilenceExpired, SilenceMatcher, SilenceSet};

use crate::envelope::DecodeError;
use crate::topics::Topic;
use serde::Serialize;

macro_rules! payloads {
    ($( $variant:ident($ty:ty) => $topic:ident, version $version:literal; )*) => {
        /// The payload of an event; the variant name is the event `type`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventPayload {
            $( $variant($ty), )*
        }

        impl EventPayload {
            /// All event type names, for schema tests and docs.
            pub const TYPE_NAMES: &'static [&'static str] = &[$( stringify!($variant), )*];

            pub fn type_name(&self) -> &'static str {
                match self { $( EventPayload::$variant(_) => stringify!($variant), )* }
            }

            pub fn schema_version(&self) -> u32 {
                match self { $( EventPayload::$variant(_) => $version, )* }
            }

            /// The stream this event belongs to.
            pub fn topic(&self) -> Topic {
                match self { $( EventPayload::$variant(_) => Topic::$topic, )* }
            }

            pub(crate) fn serialize_body<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $( EventPayload::$variant(p) => p.serialize(s), )* }
            }

            pub(crate) fn parse_body(type_name: &str, json: &str) -> Result<EventPayload, DecodeError> {
                match type_name {
                    $( stringify!($variant) => Ok(EventPayload::$variant(serde_json::from_str(json)?)), )*
                    other => Err(DecodeError::UnknownType(other.to_string())),
                }
            }
        }
    };
}

payloads! {
    SamplesReceived(SamplesReceived) => Samples, version 1;
    SamplesRecorded(SamplesRecorded) => Samples, version 1;
    PushGroupReplaced(PushGroupReplaced) => PushGroups, version 1;
    PushGroupDeleted(PushGroupDeleted) => PushGroups, version 1;
    PushGroupRejected(PushGroupRejected) => PushGroups, version 1;
    DeployRecorded(DeployRecorded) => Deploys, version 1;
    AlertPending(AlertEvent) => Alerts, version 1;
    AlertFiring(AlertEvent) => Alerts, version 1;
    AlertResolved(AlertEvent) => Alerts, version 1;
    ExternalAlertReceived(ExternalAlertReceived) => Alerts, version 1;
    IssueRequested(IssueRequested) => Actions, version 1;
    WebhookRequested(WebhookRequested) => Actions, version 1;
    ScaleRequested(ScaleRequested) => Actions, version 1;
    IssueFiled(IssueFiled) => Outcomes, version 1;
    IssueCommented(IssueCommented) => Outcomes, version 1;
    IssueClosed(IssueClosed) => Outcomes, version 1;
    IssueReopened(IssueReopened) => Outcomes, version 1;
    WebhookDelivered(WebhookDelivered) => Outcomes, version 1;
    ScaleApplied(ScaleApplied) => Outcomes, version 1;
    ActionFailed(ActionFailed) => Outcomes, version 1;
    SilenceSet(SilenceSet) => Silences, version 1;
    SilenceExpired(SilenceExpired) => Silences, version 1;
}
