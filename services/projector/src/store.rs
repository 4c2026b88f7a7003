//! The boundary between the projector and its database: the [`ReadStore`]
//! trait, the batches it applies and the rows it answers with. SQLite
//! ([`crate::SqliteStore`]) and PostgreSQL ([`crate::PostgresStore`])
//! implement it and pass the same test suite (`tests/store.rs`).

use crate::dora::{DoraInputs, DoraQuery};
use crate::error::StoreError;
use crate::projection::Change;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertState, Commit, DeployStatus, SuspectDeploy};
use closeloop_core::LabelSet;
use closeloop_log::Offset;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The consumer name the projector's checkpoints are stored under.
pub const CONSUMER: &str = "projector";

/// Where a consumer has got to in one partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub consumer: String,
    pub topic: String,
    pub partition: u32,
    pub next_offset: Offset,
}

/// The changes of a run of consecutive records of one partition, applied
/// together with the checkpoint that follows them.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `next_offset` is the offset after the last record read, including
    /// records that produced no change (undecodable, or not projected).
    pub checkpoint: Checkpoint,
    /// Each change with the offset of the record it came from, in log order.
    pub changes: Vec<(Offset, Change)>,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Records whose changes were written.
    pub events: usize,
    /// Changes written.
    pub changes: usize,
    /// Changes skipped because the stored checkpoint was already past them
    /// (a replay or a redelivery).
    pub already_applied: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    Open,
    Closed,
}

impl IssueState {
    pub fn as_str(self) -> &'static str {
        match self {
            IssueState::Open => "open",
            IssueState::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployFilter {
    pub service: Option<String>,
    pub environment: Option<String>,
    /// At most this many rows, newest first.
    pub limit: u32,
}

impl Default for DeployFilter {
    fn default() -> Self {
        DeployFilter {
            service: None,
            environment: None,
            limit: DEFAULT_DEPLOY_LIMIT,
        }
    }
}

pub const DEFAULT_DEPLOY_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilter {
    pub state: Option<IssueState>,
}

/// Which delivery history rows to return, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryFilter {
    pub request_id: Option<Uuid>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployRow {
    /// The DeployRecorded event's id.
    pub id: Uuid,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub status: DeployStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub occurred_at: DateTime<Utc>,
    pub commits: Vec<Commit>,
    pub actor: Option<String>,
    pub url: Option<String>,
    pub labels: LabelSet,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    pub fingerprint: String,
    pub alertname: String,
    pub rule_group: String,
    pub state: AlertState,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// `None` when the value was NaN or infinite (JSON has no such number),
    /// on both backends: PostgreSQL keeps the non-finite value in its
    /// `double precision` column for SQL readers such as Grafana, SQLite
    /// stores NULL; both read it back as `None`, so the API answers `null`.
    pub value: Option<f64>,
    pub active_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub suspect_deploys: Vec<SuspectDeploy>,
    pub generator_url: Option<String>,
    /// Event time of the last transition applied.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueRow {
    pub receiver: String,
    pub integration: String,
    pub fingerprint: String,
    pub tracker: String,
    pub issue_id: String,
    pub url: Option<String>,
    pub title: Option<String>,
    pub state: IssueState,
    pub occurrences: u32,
    /// Found in the tracker by its fingerprint marker rather than created.
    pub adopted: bool,
    pub filed_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub last_event_at: DateTime<Utc>,
}

/// One effect an action had: an issue filed, commented, closed or
/// reopened, or a webhook delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRow {
    pub event_id: Uuid,
    pub request_id: Uuid,
    pub receiver: String,
    pub integration: String,
    pub kind: DeliveryKind,
    pub fingerprint: Option<String>,
    /// The issue id for tracker effects, the URL for webhooks.
    pub target: String,
    pub http_status: Option<u16>,
    pub attempts: Option<u32>,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    IssueFiled,
    IssueCommented,
    IssueClosed,
    IssueReopened,
    Webhook,
}

impl DeliveryKind {
    pub const ALL: [DeliveryKind; 5] = [
        DeliveryKind::IssueFiled,
        DeliveryKind::IssueCommented,
        DeliveryKind::IssueClosed,
        DeliveryKind::IssueReopened,
        DeliveryKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::IssueFiled => "issue_filed",
            DeliveryKind::IssueCommented => "issue_commented",
            DeliveryKind::IssueClosed => "issue_closed",
            DeliveryKind::IssueReopened => "issue_reopened",
            DeliveryKind::Webhook => "webhook",
        }
    }
}

/// One failed attempt at an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionFailureRow {
    pub event_id: Uuid,
    pub request_id: Uuid,
    pub receiver: String,
    pub integration: String,
    pub attempt: u32,
    pub error: String,
    pub retryable: bool,
    pub gave_up: bool,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub occurred_at: DateTime<Utc>,
}

/// Which scale actions to return, newest tick first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleActionFilter {
    pub scaler: Option<String>,
    pub limit: u32,
}

impl Default for ScaleActionFilter {
    fn default() -> Self {
        ScaleActionFilter {
            scaler: None,
            limit: DEFAULT_DEPLOY_LIMIT,
        }
    }
}

/// What became of a scale request, in rows and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleResult {
    /// Decided; no outcome yet.
    Requested,
    Applied,
    /// The target already had the count.
    Unchanged,
    /// Someone else changed the target; nothing was applied.
    Drifted,
    /// An attempt failed and another is due.
    Retrying,
    /// Given up.
    Failed,
}

impl ScaleResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleResult::Requested => "requested",
            ScaleResult::Applied => "applied",
            ScaleResult::Unchanged => "unchanged",
            ScaleResult::Drifted => "drifted",
            ScaleResult::Retrying => "retrying",
            ScaleResult::Failed => "failed",
        }
    }
}

/// The decision half of a scale action (from `ScaleRequested`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleRequestRow {
    pub request_id: Uuid,
    pub scaler: String,
    /// `metric`, `alert`, `fallback`, `bounds`.
    pub trigger: String,
    pub from_replicas: u32,
    pub to_replicas: u32,
    pub query_value: Option<f64>,
    pub raw_desired: Option<u32>,
    pub stabilized: Option<u32>,
    /// `tolerance`, `stabilization`, `policy`, ... in the order they applied.
    pub limited_by: Vec<String>,
    pub limiting_policy: Option<String>,
    /// One line for people, e.g. `metric: value 612.5, raw desired 13`.
    pub reason: String,
    pub tick_at: DateTime<Utc>,
}

/// The outcome half of a scale action (from `ScaleApplied` or an
/// `ActionFailed` of a scale target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleResultRow {
    pub request_id: Uuid,
    pub scaler: String,
    pub result: ScaleResult,
    pub observed_replicas: Option<u32>,
    pub applied_replicas: Option<u32>,
    pub error: Option<String>,
    pub attempts: Option<u32>,
    pub at: DateTime<Utc>,
}

/// One scale action: the decision, why, and what came of it. Decision
/// fields are `None` while only the outcome has been projected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleActionRow {
    pub request_id: Uuid,
    pub scaler: String,
    pub trigger: Option<String>,
    pub from_replicas: Option<u32>,
    pub to_replicas: Option<u32>,
    pub query_value: Option<f64>,
    pub raw_desired: Option<u32>,
    pub stabilized: Option<u32>,
    pub limited_by: Vec<String>,
    pub limiting_policy: Option<String>,
    pub reason: Option<String>,
    pub tick_at: Option<DateTime<Utc>>,
    pub result: ScaleResult,
    pub observed_replicas: Option<u32>,
    pub applied_replicas: Option<u32>,
    pub error: Option<String>,
    pub attempts: Option<u32>,
    pub updated_at: DateTime<Utc>,
}

/// A read-model database. Implementations must apply a batch's changes and
/// its checkpoint in one transaction, and skip changes at offsets the
/// stored checkpoint is already past, so a replay is a no-op.
#[async_trait]
pub trait ReadStore: Send + Sync + 'static {
    async fn apply(&self, batch: &Batch) -> Result<Applied, StoreError>;

    /// The stored `next_offset` of a consumer in a partition, if any.
    async fn checkpoint(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>, StoreError>;

    async fn checkpoints(&self, consumer: &str) -> Result<Vec<Checkpoint>, StoreError>;

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError>;

    async fn deploys(&self, filter: &DeployFilter) -> Result<Vec<DeployRow>, StoreError>;

    async fn issues(&self, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError>;

    async fn deliveries(&self, filter: &HistoryFilter) -> Result<Vec<DeliveryRow>, StoreError>;

    async fn action_failures(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ActionFailureRow>, StoreError>;

    async fn scale_actions(
        &self,
        filter: &ScaleActionFilter,
    ) -> Result<Vec<ScaleActionRow>, StoreError>;

    /// Number of alerts in each state, every state listed (zero included).
    async fn alert_counts(&self) -> Result<Vec<(AlertState, u64)>, StoreError>;

    async fn open_issue_count(&self) -> Result<u64, StoreError>;

    /// The DORA rows of one service in one environment that can matter
    /// for the window `(since, until]`: deploys and first deployments of
    /// commits in it, and incidents filed in it or attributed to its
    /// deploys, each with its first restoration.
    async fn dora_inputs(&self, query: &DoraQuery) -> Result<DoraInputs, StoreError>;

    /// Service/environment pairs with deploys, most recently deployed
    /// first, at most `limit`: the label sets of the DORA gauges.
    async fn dora_targets(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError>;
}

/// The name of an alert state in rows, queries and metric labels.
pub fn alert_state_name(state: AlertState) -> &'static str {
    match state {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "resolved",
    }
}

/// Per-state alert counts from `SELECT state, COUNT(*) ... GROUP BY state`
/// rows, with every state present (zero when absent).
pub fn counts_by_state(rows: &[(String, i64)]) -> Vec<(AlertState, u64)> {
    ALERT_STATES
        .into_iter()
        .map(|state| {
            let count = rows
                .iter()
                .find(|(name, _)| name == alert_state_name(state))
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
            (state, count)
        })
        .collect()
}

pub const ALERT_STATES: [AlertState; 3] = [
    AlertState::Pending,
    AlertState::Firing,
    AlertState::Resolved,
];
