//! Queries over the evaluator's window, for Prometheus' HTTP query API:
//! instant and range PromQL, series, label names and label values. The
//! runner owns the window, so a query travels to it as a [`QueryRequest`]
//! and is answered between two steps; a PromQL query's answer says, as a
//! warning, when it reaches back before what the window still holds (the
//! metadata APIs list what is held, as Prometheus lists its head).

use crate::engine::Evaluator;
use crate::retention::{reach_ms, reads_series};
use crate::rule_status::GroupStatus;
use closeloop_core::metadata::Metadata;
use closeloop_promql::{eval_instant, eval_range, parse, select_series, Labels, Value};
use promql_parser::parser::Expr;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::oneshot;

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Instant {
        expr: String,
        time_ms: i64,
    },
    Range {
        expr: String,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
    /// Series matching any selector with a sample in `[start, end]`.
    Series {
        selectors: Vec<String>,
        start_ms: i64,
        end_ms: i64,
    },
    /// Label names of those series (of every series without selectors).
    LabelNames {
        selectors: Vec<String>,
        start_ms: i64,
        end_ms: i64,
    },
    LabelValues {
        name: String,
        selectors: Vec<String>,
        start_ms: i64,
        end_ms: i64,
    },
    /// The rule groups with their health and alerts.
    Rules,
    /// Metric metadata: of `metric` only when given, at most `limit`
    /// metrics and `limit_per_metric` entries each (`None`: no limit).
    Metadata {
        metric: Option<String>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    },
}

/// Prometheus' API error types that a query can end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// 400: the query or a parameter is wrong.
    BadData,
    /// 422: the query is fine but evaluating it failed.
    Execution,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An instant or range result at `time_ms` (instant) or over the range.
    Value {
        value: Value,
        time_ms: i64,
    },
    Series(Vec<Labels>),
    Names(Vec<String>),
    Rules(Vec<GroupStatus>),
    Metadata(BTreeMap<String, Vec<Metadata>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub answer: Result<Answer, (QueryErrorKind, String)>,
    pub warnings: Vec<String>,
}

/// A query on its way to the runner, with where the answer goes.
pub struct QueryRequest {
    pub query: Query,
    pub reply: oneshot::Sender<QueryResult>,
}

impl Evaluator {
    /// Answers `query` over the window as it is now.
    pub fn answer(&self, query: &Query) -> QueryResult {
        let mut warnings = Vec::new();
        let answer = self.answer_into(query, &mut warnings);
        QueryResult { answer, warnings }
    }

    fn answer_into(
        &self,
        query: &Query,
        warnings: &mut Vec<String>,
    ) -> Result<Answer, (QueryErrorKind, String)> {
        let bad = |e: String| (QueryErrorKind::BadData, e);
        match query {
            Query::Rules => Ok(Answer::Rules(self.rule_status())),
            Query::Metadata {
                metric,
                limit,
                limit_per_metric,
            } => Ok(Answer::Metadata(self.metadata_entries(
                metric.as_deref(),
                *limit,
                *limit_per_metric,
            ))),
            Query::Instant { expr, time_ms } => {
                let parsed = parse(expr).map_err(|e| bad(e.to_string()))?;
                self.warn_if_before_window(&parsed, *time_ms, warnings);
                let value = eval_instant(self.storage(), &parsed, *time_ms, self.options())
                    .map_err(|e| (QueryErrorKind::Execution, e.to_string()))?;
                Ok(Answer::Value {
                    value,
                    time_ms: *time_ms,
                })
            }
            Query::Range {
                expr,
                start_ms,
                end_ms,
                step_ms,
            } => {
                let parsed = parse(expr).map_err(|e| bad(e.to_string()))?;
                use promql_parser::parser::value::ValueType;
                let kind = parsed.value_type();
                if !matches!(kind, ValueType::Vector | ValueType::Scalar) {
                    let shown = match kind {
                        ValueType::Matrix => "range vector",
                        _ => "string",
                    };
                    return Err(bad(format!(
                        "invalid expression type \"{shown}\" for range query, must be Scalar or instant Vector"
                    )));
                }
                self.warn_if_before_window(&parsed, *start_ms, warnings);
                let value = eval_range(
                    self.storage(),
                    &parsed,
                    *start_ms,
                    *end_ms,
                    *step_ms,
                    self.options(),
                )
                .map_err(|e| match e {
                    closeloop_promql::EvalError::InvalidQuery(m) => bad(m),
                    other => (QueryErrorKind::Execution, other.to_string()),
                })?;
                Ok(Answer::Value {
                    value,
                    time_ms: *end_ms,
                })
            }
            Query::Series {
                selectors,
                start_ms,
                end_ms,
            } => {
                if selectors.is_empty() {
                    return Err(bad("no match[] parameter provided".into()));
                }
                Ok(Answer::Series(self.select(selectors, *start_ms, *end_ms)?))
            }
            Query::LabelNames {
                selectors,
                start_ms,
                end_ms,
            } => {
                let names: BTreeSet<String> = self
                    .select_or_all(selectors, *start_ms, *end_ms)?
                    .iter()
                    .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
                    .collect();
                Ok(Answer::Names(names.into_iter().collect()))
            }
            Query::LabelValues {
                name,
                selectors,
                start_ms,
                end_ms,
            } => {
                let values: BTreeSet<String> = self
                    .select_or_all(selectors, *start_ms, *end_ms)?
                    .iter()
                    .filter_map(|l| l.get(name).map(str::to_string))
                    .collect();
                Ok(Answer::Names(values.into_iter().collect()))
            }
        }
    }

    /// Remote-write metadata and pushed families together, each metric's
    /// entries distinct and sorted, metrics by name.
    fn metadata_entries(
        &self,
        metric: Option<&str>,
        limit: Option<usize>,
        limit_per_metric: Option<usize>,
    ) -> BTreeMap<String, Vec<Metadata>> {
        let (index, pushed) = self.metadata();
        let mut all = index.entries(metric);
        pushed.for_each_family(|name, view| {
            if metric.is_some_and(|m| m != name) {
                return;
            }
            let entries = all.entry(name.to_string()).or_default();
            if !entries.iter().any(|m| m.is(&view)) {
                entries.push(Metadata::from(&view));
            }
        });
        if let Some(limit) = limit {
            all = all.into_iter().take(limit).collect();
        }
        for entries in all.values_mut() {
            entries.sort();
            if let Some(per) = limit_per_metric {
                entries.truncate(per);
            }
        }
        all
    }

    fn select(
        &self,
        selectors: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Labels>, (QueryErrorKind, String)> {
        let mut all = Vec::new();
        for selector in selectors {
            let found = select_series(self.storage(), selector, start_ms, end_ms).map_err(|e| {
                (
                    QueryErrorKind::BadData,
                    format!("invalid parameter \"match[]\": {e}"),
                )
            })?;
            all.extend(found);
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    fn select_or_all(
        &self,
        selectors: &[String],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Labels>, (QueryErrorKind, String)> {
        if selectors.is_empty() {
            return self.select(&["{__name__=~\".+\"}".to_string()], start_ms, end_ms);
        }
        self.select(selectors, start_ms, end_ms)
    }

    /// Warns when `expr`, evaluated from `at_ms` on, reads samples older
    /// than the window holds; an expression without selectors reads none.
    fn warn_if_before_window(&self, expr: &Expr, at_ms: i64, warnings: &mut Vec<String>) {
        if !reads_series(expr) {
            return;
        }
        let from_ms = at_ms - reach_ms(expr) - self.options().lookback_delta_ms;
        if let Some(kept) = self.window_start_ms() {
            if from_ms < kept {
                warnings.push(format!(
                    "closeloop's window holds samples from {} on; the query reads back to {}, so data before the window is missing (raise evaluation.query_window)",
                    closeloop_core::time::from_millis(kept).to_rfc3339(),
                    closeloop_core::time::from_millis(from_ms).to_rfc3339(),
                ));
            }
        }
    }
}
