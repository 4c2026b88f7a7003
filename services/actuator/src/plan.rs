//! The config compiled for use: the route tree, and each receiver's
//! integrations with their clients, built once at start.

use crate::config::{ActuatorConfig, ConfigError, ConfigProblem, IssuePolicy, WebhookConfig};
use crate::issues::github::GithubTracker;
use crate::issues::gitlab::GitlabTracker;
use crate::issues::jira::JiraTracker;
use crate::issues::redmine::RedmineTracker;
use crate::issues::IssueTracker;
use crate::rate_budget::Budgets;
use crate::retry::RetryPolicy;
use crate::routing::RouteTree;
use crate::scale::{build_target, ScaleTarget};
use secrecy::ExposeSecret;
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
    pub inhibit_rules: Vec<crate::inhibit::InhibitRule>,
    pub time_intervals: crate::time_intervals::TimeIntervals,
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
    pub policy: IssuePolicy,
}

impl Plan {
    pub fn new(config: &ActuatorConfig, http: reqwest::Client) -> Result<Plan, ConfigError> {
        let tree = RouteTree::new(&config.route)?;
        let timeout = config.delivery.timeout;
        let mut receivers = HashMap::new();
        let mut problems = Vec::new();
        // One budget per tracker instance, across all receivers.
        let mut budgets = Budgets::default();
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
                let built = RedmineTracker::new(c, http.clone(), timeout).map(|tracker| {
                    let budget = c.rate_limit.map(|limit| {
                        let key = c.api_key.as_ref().map(|k| k.expose_secret().to_string());
                        budgets.budget_for("redmine", &c.url, &key.unwrap_or_default(), limit)
                    });
                    tracker.with_budget(budget)
                });
                match built {
                    Ok(tracker) => trackers.push(TrackerIntegration {
                        name: format!("redmine_configs[{j}]"),
                        tracker: Arc::new(tracker),
                        policy: IssuePolicy {
                            labels: Vec::new(),
                            assignees: Vec::new(),
                            title: None,
                            body: None,
                            subject_labels: c.subject_labels.clone(),
                            on_resolved: c.on_resolved,
                            resolved_label: String::new(),
                            reopen_window: c.reopen_window,
                        },
                    }),
                    Err(e) => problems.push(ConfigProblem {
                        path: format!("receivers[{i}].redmine_configs[{j}]"),
                        message: e.to_string(),
                    }),
                }
            }
            for (j, c) in receiver.github_configs.iter().enumerate() {
                match GithubTracker::new(c, http.clone(), timeout, &mut budgets) {
                    Ok(tracker) => trackers.push(TrackerIntegration {
                        name: format!("github_configs[{j}]"),
                        tracker: Arc::new(tracker),
                        policy: c.policy(),
                    }),
                    Err(e) => problems.push(ConfigProblem {
                        path: format!("receivers[{i}].github_configs[{j}]"),
                        message: e.to_string(),
                    }),
                }
            }
            for (j, c) in receiver.gitlab_configs.iter().enumerate() {
                match GitlabTracker::new(c, http.clone(), timeout, &mut budgets) {
                    Ok(tracker) => trackers.push(TrackerIntegration {
                        name: format!("gitlab_configs[{j}]"),
                        tracker: Arc::new(tracker),
                        policy: c.policy(),
                    }),
                    Err(e) => problems.push(ConfigProblem {
                        path: format!("receivers[{i}].gitlab_configs[{j}]"),
                        message: e.to_string(),
                    }),
                }
            }
            for (j, c) in receiver.jira_configs.iter().enumerate() {
                match JiraTracker::new(c, http.clone(), timeout, &mut budgets) {
                    Ok(tracker) => trackers.push(TrackerIntegration {
                        name: format!("jira_configs[{j}]"),
                        tracker: Arc::new(tracker),
                        policy: c.policy(),
                    }),
                    Err(e) => problems.push(ConfigProblem {
                        path: format!("receivers[{i}].jira_configs[{j}]"),
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
        let mut inhibit_rules = Vec::new();
        for (i, rule) in config.inhibit_rules.iter().enumerate() {
            match crate::inhibit::InhibitRule::parse(rule) {
                Ok(rule) => inhibit_rules.push(rule),
                Err(e) => problems.push(ConfigProblem {
                    path: format!("inhibit_rules[{i}]"),
                    message: e.to_string(),
                }),
            }
        }
        let time_intervals =
            crate::time_intervals::TimeIntervals::parse(config.named_time_intervals())
                .unwrap_or_else(|found| {
                    problems.extend(
                        found
                            .into_iter()
                            .map(|(path, message)| ConfigProblem { path, message }),
                    );
                    crate::time_intervals::TimeIntervals::default()
                });
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Plan {
            inhibit_rules,
            time_intervals,
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
