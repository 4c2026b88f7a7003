//! Vector and matrix selectors and subqueries: where data enters a query.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use super::{Elem, Evaluator, RangeSeries, Val};
use crate::error::EvalError;
use crate::hashing::{fast_map, FastMap};
use crate::labels::{Labels, METRIC_NAME};
use crate::samples::Cursor;
use crate::storage::SeriesId;

/// The time window `(start, end]` a range function looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub start: i64,
    pub end: i64,
    pub range_ms: i64,
}

/// A selector's series, each with a cursor that follows the query's steps.
pub(crate) struct Selected<'a> {
    ids: Vec<SeriesId>,
    cursors: Vec<Cursor<'a>>,
}

impl<'a> Evaluator<'a> {
    /// Runs `f` over the series `vs` selects and a cursor into each. A
    /// range query selects once and keeps the cursors from step to step
    /// (the storage does not change while a query runs); `node` is the
    /// address of the selector's node, its identity there.
    fn with_selected<R>(
        &self,
        node: usize,
        vs: &VectorSelector,
        f: impl FnOnce(&[SeriesId], &mut [Cursor<'a>]) -> R,
    ) -> R {
        let fresh = || {
            let ids = self.select(vs);
            let cursors = ids
                .iter()
                .map(|id| self.storage.series(*id).cursor())
                .collect();
            Selected { ids, cursors }
        };
        let Some(steps) = &self.steps else {
            let mut selected = fresh();
            return f(&selected.ids, &mut selected.cursors);
        };
        let mut cache = steps.selected.borrow_mut();
        let selected = cache.entry(node).or_insert_with(fresh);
        f(&selected.ids, &mut selected.cursors)
    }

    /// Series ids a selector matches, in label order.
    pub(crate) fn select(&self, vs: &VectorSelector) -> Vec<SeriesId> {
        let with_name = |mut ms: Vec<Matcher>| {
            if let Some(name) = &vs.name {
                ms.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
            }
            ms
        };
        if vs.matchers.or_matchers.is_empty() {
            return self
                .storage
                .select(&with_name(vs.matchers.matchers.clone()));
        }
        // `{a="1" or b="2"}`: the union of each alternative.
        let mut ids: Vec<SeriesId> = Vec::new();
        for group in &vs.matchers.or_matchers {
            ids.extend(self.storage.select(&with_name(group.clone())));
        }
        ids.sort_unstable();
        ids.dedup();
        ids.sort_by(|a, b| {
            self.storage
                .series(*a)
                .labels
                .cmp(&self.storage.series(*b).labels)
        });
        ids
    }

    pub(crate) fn vector_selector(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        self.vector_selector_with_times(vs, t)
            .into_iter()
            .map(|(e, _)| e)
            .collect()
    }

    /// Like [`Self::vector_selector`] but also returns each sample's own
    /// timestamp, which `timestamp()` reports.
    pub(crate) fn vector_selector_with_times(
        &self,
        vs: &VectorSelector,
        t: i64,
    ) -> Vec<(Elem, i64)> {
        let at = self.selector_time(&vs.at, &vs.offset, t);
        let storage = self.storage;
        self.with_selected(vs as *const VectorSelector as usize, vs, |ids, cursors| {
            ids.iter()
                .zip(cursors.iter_mut())
                .filter_map(|(id, cursor)| {
                    let s = storage.series(*id);
                    s.at_from(cursor, at, self.lookback_ms).map(|(ts, v)| {
                        (
                            Elem {
                                labels: s.labels.clone(),
                                value: v,
                                drop_name: false,
                            },
                            ts,
                        )
                    })
                })
                .collect()
        })
    }

    pub(crate) fn matrix_window(&self, ms: &MatrixSelector, t: i64) -> Window {
        let end = self.selector_time(&ms.vs.at, &ms.vs.offset, t);
        let range_ms = ms.range.as_millis() as i64;
        Window {
            start: end - range_ms,
            end,
            range_ms,
        }
    }

    /// A range selector as an owned range vector (for top-level results).
    pub(crate) fn matrix_selector(
        &self,
        ms: &MatrixSelector,
        t: i64,
    ) -> (Vec<RangeSeries>, Window) {
        let w = self.matrix_window(ms, t);
        let out = self
            .select(&ms.vs)
            .into_iter()
            .filter_map(|id| {
                let s = self.storage.series(id);
                let mut points = Vec::new();
                s.window_into(w.start, w.end, &mut points);
                (!points.is_empty()).then(|| RangeSeries {
                    labels: s.labels.clone(),
                    points,
                    drop_name: false,
                })
            })
            .collect();
        (out, w)
    }

    pub(crate) fn subquery_window(&self, sq: &SubqueryExpr, t: i64) -> Window {
        let end = self.selector_time(&sq.at, &sq.offset, t);
        let range_ms = sq.range.as_millis() as i64;
        Window {
            start: end - range_ms,
            end,
            range_ms,
        }
    }

    /// The window a range-vector argument covers at `t`.
    pub(crate) fn range_arg_window(&self, arg: &Expr, t: i64) -> Option<Window> {
        match super::unwrap_parens(arg) {
            Expr::MatrixSelector(ms) => Some(self.matrix_window(ms, t)),
            Expr::Subquery(sq) => Some(self.subquery_window(sq, t)),
            _ => None,
        }
    }

    /// Evaluates the inner expression at every step of the subquery window.
    pub(crate) fn subquery(
        &self,
        sq: &SubqueryExpr,
        t: i64,
    ) -> Result<(Vec<RangeSeries>, Window), EvalError> {
        let Window {
            start,
            end,
            range_ms,
        } = self.subquery_window(sq, t);
        let step = match sq.step {
            Some(s) if s.as_millis() > 0 => s.as_millis() as i64,
            _ => self.default_subquery_step_ms.max(1),
        };
        // Steps are aligned to absolute multiples of the step, like Prometheus
        // (Go's truncating division included), and the window is left-open.
        let mut ts = step * (start / step);
        if ts <= start {
            ts += step;
        }
        let mut index: FastMap<Labels, usize> = fast_map();
        let mut out: Vec<RangeSeries> = Vec::new();
        while ts <= end {
            match self.eval(&sq.expr, ts)? {
                Val::Vector(v) => {
                    for e in v {
                        let i = *index.entry(e.labels.clone()).or_insert_with(|| {
                            out.push(RangeSeries {
                                labels: e.labels.clone(),
                                points: Vec::new(),
                                drop_name: e.drop_name,
                            });
                            out.len() - 1
                        });
                        out[i].points.push((ts, e.value));
                        out[i].drop_name |= e.drop_name;
                    }
                }
                Val::Scalar(v) => {
                    let i = *index.entry(Labels::empty()).or_insert_with(|| {
                        out.push(RangeSeries {
                            labels: Labels::empty(),
                            points: Vec::new(),
                            drop_name: false,
                        });
                        out.len() - 1
                    });
                    out[i].points.push((ts, v));
                }
                other => {
                    return Err(EvalError::InvalidQuery(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    )))
                }
            }
            ts += step;
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok((
            out,
            Window {
                start,
                end,
                range_ms,
            },
        ))
    }

    /// Calls `f` for every series of a range-vector argument with the points
    /// inside its window, without copying stored samples when avoidable.
    pub(crate) fn for_each_range_series(
        &self,
        arg: &Expr,
        t: i64,
        mut f: impl FnMut(&Labels, bool, &[(i64, f64)]) -> Result<(), EvalError>,
    ) -> Result<Window, EvalError> {
        match super::unwrap_parens(arg) {
            Expr::MatrixSelector(ms) => {
                let w = self.matrix_window(ms, t);
                let storage = self.storage;
                let node = ms as *const MatrixSelector as usize;
                self.with_selected(node, &ms.vs, |ids, cursors| {
                    // One buffer for all series: samples are stored packed.
                    let mut points = Vec::new();
                    for (id, cursor) in ids.iter().zip(cursors.iter_mut()) {
                        let s = storage.series(*id);
                        s.window_from(cursor, w.start, w.end, &mut points);
                        if !points.is_empty() {
                            f(&s.labels, false, &points)?;
                        }
                    }
                    Ok::<(), EvalError>(())
                })?;
                Ok(w)
            }
            Expr::Subquery(sq) => {
                let (series, w) = self.subquery(sq, t)?;
                for s in &series {
                    if !s.points.is_empty() {
                        f(&s.labels, s.drop_name, &s.points)?;
                    }
                }
                Ok(w)
            }
            other => Err(EvalError::InvalidQuery(format!(
                "expected range vector, got {}",
                other.value_type()
            ))),
        }
    }
}
