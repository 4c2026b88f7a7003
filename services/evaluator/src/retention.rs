//! How far back in time a rule reads, so the in-memory window keeps just
//! enough samples: ranges, offsets and subqueries, plus the lookback delta.

use promql_parser::parser::{Expr, Offset};

/// Milliseconds before the evaluation time that `expr` may read, not
/// counting the lookback delta. `@` modifiers pin absolute times and are
/// not covered: such a rule sees only what the window still holds.
pub fn reach_ms(expr: &Expr) -> i64 {
    match expr {
        Expr::VectorSelector(vs) => offset_ms(&vs.offset),
        Expr::MatrixSelector(ms) => ms.range.as_millis() as i64 + offset_ms(&ms.vs.offset),
        Expr::Subquery(sq) => {
            sq.range.as_millis() as i64 + offset_ms(&sq.offset) + reach_ms(&sq.expr)
        }
        Expr::Aggregate(agg) => {
            let param = agg.param.as_deref().map(reach_ms).unwrap_or(0);
            reach_ms(&agg.expr).max(param)
        }
        Expr::Unary(u) => reach_ms(&u.expr),
        Expr::Binary(b) => reach_ms(&b.lhs).max(reach_ms(&b.rhs)),
        Expr::Paren(p) => reach_ms(&p.expr),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .map(|a| reach_ms(a))
            .max()
            .unwrap_or(0),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => 0,
    }
}

/// Whether `expr` reads any series at all (`1+1`, `time()` do not), so
/// whether what the window holds can matter to it.
pub fn reads_series(expr: &Expr) -> bool {
    match expr {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Subquery(sq) => reads_series(&sq.expr),
        Expr::Aggregate(agg) => {
            reads_series(&agg.expr) || agg.param.as_deref().is_some_and(reads_series)
        }
        Expr::Unary(u) => reads_series(&u.expr),
        Expr::Binary(b) => reads_series(&b.lhs) || reads_series(&b.rhs),
        Expr::Paren(p) => reads_series(&p.expr),
        Expr::Call(call) => call.args.args.iter().any(|a| reads_series(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        // A negative offset reads the future, which the window cannot hold
        // anyway until the watermark passes it.
        Some(Offset::Neg(_)) | None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(text: &str) -> i64 {
        reach_ms(&closeloop_promql::parse(text).unwrap())
    }

    #[test]
    fn only_expressions_with_selectors_read_series() {
        let reads = |text: &str| reads_series(&closeloop_promql::parse(text).unwrap());
        assert!(!reads("1+1"));
        assert!(!reads("time() - vector(3)"));
        assert!(reads("sum(rate(x[5m]))"));
        assert!(reads("quantile(0.9, up) + 1"));
    }

    #[test]
    fn reach_covers_ranges_offsets_and_subqueries() {
        assert_eq!(reach("up"), 0);
        assert_eq!(reach("rate(x[5m])"), 300_000);
        assert_eq!(reach("rate(x[5m] offset 1h) / y"), 3_900_000);
        assert_eq!(reach("max_over_time(rate(x[1m])[10m:1m])"), 660_000);
    }
}
