//! Rule evaluation in event time: Prometheus rule files over the samples
//! stream, Prometheus' alert state machine, deploys as series and suspect
//! deploy attribution. The decisions are pure (`engine::Evaluator`); the
//! runner reads the log, feeds the engine and appends what it decided.

pub mod alerting;
pub mod alerts_snapshot;
pub mod deploys;
pub mod engine;
pub mod external;
mod group_eval;
pub mod metadata;
pub mod metrics;
pub mod pushed;
pub mod query;
pub mod retention;
pub mod rule_status;
pub mod rules;
pub mod runner;
pub mod scaling;
pub mod shards;
/// Prometheus' template language, shared with the actuator.
pub use closeloop_template as template;
pub mod unit_test;

pub use engine::{Decision, Evaluator, EvaluatorConfig};
pub use group_eval::{GroupHealth, RuleHealth};
pub use rules::{load_rule_file, parse_rule_file, RuleGroup};
