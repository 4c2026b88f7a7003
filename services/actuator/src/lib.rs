//! The actuator: routes alert transitions from `closeloop.alerts` through an
//! Alertmanager-style route tree to receivers — Alertmanager-compatible
//! webhooks and issue trackers (Redmine, GitHub) — and applies the evaluator's
//! `ScaleRequested` from `closeloop.actions` on the scalers' targets
//! (Kubernetes scale subresource, webhook), with retries, idempotency by
//! request id, and every request and outcome recorded in the log.
//!
//! Not done yet: `group_wait`/`group_interval`/`repeat_interval` batching
//! (each alert state change is one notification).

pub mod config;
mod dispatch;
mod dispatch_scale;
pub mod error;
mod http;
pub mod inhibit;
pub mod issues;
pub mod matcher;
pub mod metrics;
mod plan;
pub mod rate_budget;
pub mod retry;
pub mod routing;
mod runner;
pub mod scale;
pub mod silences;
pub mod state;
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
