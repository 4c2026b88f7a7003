//! `histogram_quantile` over classic `le` bucket series.

use promql_parser::parser::Expr;

use super::arg;
use crate::error::EvalError;
use crate::eval::{Elem, Evaluator, Val};
use crate::hashing::{fast_map, FastMap};
use crate::labels::Labels;
use crate::math::almost_equal;

/// Differences smaller than this between cumulative buckets are float noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper_bound: f64,
    count: f64,
}

/// Parses an `le` value like Go's `strconv.ParseFloat`.
fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn histogram_quantile(&self, args: &[&Expr], t: i64) -> Result<Val, EvalError> {
        let q = self.eval_scalar(arg(args, 0)?, t)?;
        let input = self.eval_vector(arg(args, 1)?, t)?;
        // Buckets of one histogram share all labels but `le` (the metric name
        // included, so two histograms never mix).
        let mut index: FastMap<Labels, usize> = fast_map();
        let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
        for e in input {
            let Some(upper_bound) = e.labels.get("le").and_then(parse_le) else {
                continue;
            };
            let key = e.labels.filter(|n| n != "le");
            let i = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[i].1.push(Bucket {
                upper_bound,
                count: e.value,
            });
        }
        Ok(Val::Vector(
            groups
                .into_iter()
                .map(|(labels, buckets)| Elem {
                    labels,
                    value: bucket_quantile(q, buckets),
                    drop_name: true,
                })
                .collect(),
        ))
    }
}

/// Prometheus' `BucketQuantile`: linear interpolation inside the bucket the
/// rank falls in, after forcing the cumulative counts to be monotonic.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let mut buckets = coalesce(buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut start = 0.0;
    let end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

fn ensure_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            b.count = prev;
            continue;
        }
        prev = curr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(upper_bound: f64, count: f64) -> Bucket {
        Bucket { upper_bound, count }
    }

    #[test]
    fn the_median_interpolates_within_its_bucket() {
        let buckets = vec![b(0.1, 50.0), b(0.2, 100.0), b(f64::INFINITY, 100.0)];
        let q = bucket_quantile(0.5, buckets);
        assert!((q - 0.1).abs() < 1e-12, "{q}");
    }

    #[test]
    fn a_histogram_without_an_inf_bucket_has_no_quantile() {
        assert!(bucket_quantile(0.5, vec![b(1.0, 1.0)]).is_nan());
    }
}
