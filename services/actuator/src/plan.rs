//! The config compiled for use: the route tree, and each receiver's
//! integrations with their clients, built once at start.

use crate::config::{ActuatorConfig, ConfigError, ConfigProblem, OnResolved, WebhookConfig};
use crate::issues::redmine::RedmineTracker;
use crate::issues::IssueTracker;
use crate::retry::RetryPolicy;
use crate::routing::RouteTree;
use crate::scale::{build_target, ScaleTarget};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Plan {
    pub tree: RouteTree,
    pub receivers: HashMap<String, Receiver>,
    pub external_url: String,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub http: reqwest::Client,
    /// Each scaler's target, by scaler name.
    pub scale_targets: HashMap<String, Arc<dyn ScaleTarget>>,
}

pub(crate) struct Receiver {
    pub name: String,
    pub webhooks: Vec<WebhookIntegration>,
    pub trackers: Vec<TrackerIntegration>,
}

pub(crate) struct WebhookIntegration {
    /// `webhook_configs[i]`, as in events.
    pub name: String,
    pub config: WebhookConfig,
}

pub(crate) struct TrackerIntegration {
    /// `redmine_configs[i]`, as in events.
    pub name: String,
    pub tracker: Arc<dyn IssueTracker>,
    pub on_resolved: OnResolved,
    pub subject_labels: Vec<String>,
}

impl Plan {
    pub fn new(config: &ActuatorConfig, http: reqwest::Client) -> Result<Plan, ConfigError> {
        let tree = RouteTree::new(&config.route)?;
        let timeout = config.delivery.timeout;
        let mut receivers = HashMap::new();
        let mut problems = Vec::new();
        for (i, receiver) in config.receivers.iter().enumerate() {
            let webhooks = receiver
                .webhook_configs
                .iter()
                .enumerate()
                .map(|(j, c)| WebhookIntegration {
                    name: format!("webhook_configs[{j}]"),
                    config: c.clone(),
                })
                .collect();
            let mut trackers = Vec::new();
            for (j, c) in receiver.redmine_configs.iter().enumerate() {
                match RedmineTracker::new(c, http.clone(), timeout) {
                    Ok(tracker) => trackers.push(TrackerIntegration {
                        name: format!("redmine_configs[{j}]"),
                        tracker: Arc::new(tracker),
                        on_resolved: c.on_resolved,
                        subject_labels: c.subject_labels.clone(),
                    }),
                    Err(e) => problems.push(ConfigProblem {
                        path: format!("receivers[{i}].redmine_configs[{j}]"),
                        message: e.to_string(),
                    }),
                }
            }
            receivers.insert(
                receiver.name.clone(),
                Receiver {
                    name: receiver.name.clone(),
                    webhooks,
                    trackers,
                },
            );
        }
        let mut scale_targets = HashMap::new();
        for (i, scaler) in config.scalers.iter().enumerate() {
            match build_target(&scaler.target, http.clone(), timeout) {
                Ok(target) => {
                    scale_targets.insert(scaler.name.clone(), target);
                }
                Err(e) => problems.push(ConfigProblem {
                    path: format!("scalers[{i}].target"),
                    message: e.to_string(),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Plan {
            scale_targets,
            tree,
            receivers,
            external_url: config.external_url.clone(),
            retry: RetryPolicy::from(&config.delivery),
            timeout,
            http,
        })
    }
}
