//! `closeloop.deploys`: what CI/CD pipelines report.

use crate::labels::LabelSet;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    Started,
    #[default]
    Succeeded,
    Failed,
    RolledBack,
}

impl DeployStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStatus::Started => "started",
            DeployStatus::Succeeded => "succeeded",
            DeployStatus::Failed => "failed",
            DeployStatus::RolledBack => "rolled_back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_at: Option<DateTime<Utc>>,
}

/// A deploy of one version of a service to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecorded {
    pub service: String,
    pub environment: String,
    pub version: String,
    pub status: DeployStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<Commit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub labels: LabelSet,
}

impl DeployRecorded {
    /// The log key: all events of one service in one environment stay in
    /// order in one partition.
    pub fn key(&self) -> String {
        format!("{}/{}", self.service, self.environment)
    }
}
