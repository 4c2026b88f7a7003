//! The actuator: routes alert transitions from `closeloop.alerts` through an
//! Alertmanager-style route tree to receivers — Alertmanager-compatible
//! webhooks, batched by aggregation group in event time, and issue
//! trackers (Redmine, GitHub, GitLab, Jira), one issue per alert — and applies the evaluator's
//! `ScaleRequested` from `closeloop.actions` on the scalers' targets
//! (Kubernetes scale subresource, webhook), with retries, idempotency by
//! request id, and every request and outcome recorded in the log.

pub mod config;
mod dispatch;
mod dispatch_scale;
pub mod error;
pub mod grouping;
mod http;
pub mod inhibit;
pub mod issues;
pub mod matcher;
pub mod metrics;
mod notify_groups;
mod plan;
pub mod rate_budget;
pub mod retry;
pub mod routing;
mod runner;
pub mod scale;
pub mod silences;
pub mod state;
pub mod time_intervals;
mod tracker_config;
pub mod webhook;
pub mod webhook_payload;

pub use config::{
    ActuatorConfig, ConfigError, ConfigProblem, DeliveryConfig, GithubConfig, GitlabConfig,
    JiraApiVersion, JiraConfig, OnResolved, RateLimitConfig, ReceiverConfig, RedmineConfig,
    RouteConfig, ScaleConfig, ScalerTarget, WebhookConfig,
};
pub use error::{ActuatorError, DeliveryError};
pub use http::USER_AGENT;
pub use routing::{route, GroupBy, Route, RouteTree};
pub use runner::{run, CONSUMER_GROUP};
