//! Engine semantics checked through the public API and small promqltest
//! scripts whose expected values follow Prometheus' documented behaviour.

use closeloop_promql::promqltest::{run_script, EvalStatus};
use closeloop_promql::{
    eval_instant, eval_range, parse, stale_marker, EvalOptions, Labels, Storage, Value,
};

fn assert_script_passes(script: &str) {
    let report = run_script(script, "inline.test");
    let problems: Vec<String> = report
        .evals
        .iter()
        .filter(|e| e.status != EvalStatus::Passed)
        .map(|e| e.to_string())
        .chain(report.errors.iter().cloned())
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(report.passed > 0);
}

#[test]
fn group_left_and_group_right_copy_labels_from_the_one_side() {
    assert_script_passes(
        r#"
load 5m
  node_var{instance="abc",job="node"} 2
  node_role{instance="abc",job="node",role="prometheus"} 1
  node_cpu{instance="abc",job="node",mode="idle"} 3
  node_cpu{instance="abc",job="node",mode="user"} 1
  node_cpu{instance="def",job="node",mode="idle"} 8
  node_cpu{instance="def",job="node",mode="user"} 2

eval instant at 1m node_role * on (instance) group_right (role) node_var
  {instance="abc",job="node",role="prometheus"} 2

eval instant at 1m node_var * on (instance) group_left (role) node_role
  {instance="abc",job="node",role="prometheus"} 2

eval instant at 1m node_cpu * ignoring (role, mode) group_left (role) node_role
  {instance="abc",job="node",mode="idle",role="prometheus"} 3
  {instance="abc",job="node",mode="user",role="prometheus"} 1

eval instant at 1m node_cpu / on (instance) group_left sum by (instance,job)(node_cpu)
  {instance="abc",job="node",mode="idle"} .75
  {instance="abc",job="node",mode="user"} .25
  {instance="def",job="node",mode="idle"} .80
  {instance="def",job="node",mode="user"} .20

eval_fail instant at 1m node_cpu * on (instance) node_role

eval instant at 1m node_cpu > on (instance, job) group_left node_var
  node_cpu{instance="abc",job="node",mode="idle"} 3
"#,
    );
}

#[test]
fn set_operators_match_on_label_subsets() {
    assert_script_passes(
        r#"
load 5m
  http_requests{group="canary", instance="0"} 0+30x10
  http_requests{group="canary", instance="1"} 0+40x10
  http_requests{group="production", instance="0"} 0+10x10
  other{l="x"} 0+1x10

eval instant at 50m http_requests{group="canary"} and http_requests{instance="0"}
  http_requests{group="canary", instance="0"} 300

eval instant at 50m (http_requests{group="canary"} + 1) or on(instance) (http_requests or other)
  {group="canary", instance="0"} 301
  {group="canary", instance="1"} 401
  other{l="x"} 10

eval instant at 50m http_requests{group="canary"} unless on(instance) http_requests{group="production"}
  http_requests{group="canary", instance="1"} 400

eval instant at 50m http_requests{group="canary"} / on(instance) http_requests{group="production"}
  {instance="0"} 3
"#,
    );
}

#[test]
fn at_modifier_offset_and_subqueries_shift_the_evaluation_time() {
    assert_script_passes(
        r#"
load 10s
  metric{job="1"} 0+1x1000
  metric{job="2"} 0+2x1000

eval instant at 10s metric @ 100
  metric{job="1"} 10
  metric{job="2"} 20

eval instant at 1000s metric offset 100s @ 200
  metric{job="1"} 10
  metric{job="2"} 20

eval instant at 25s sum_over_time(metric{job="1"}[100s] @ 100)
  {job="1"} 55

eval range from 0 to 20s step 10s metric{job="1"} @ end()
  metric{job="1"} 2 2 2

eval range from 10s to 20s step 10s metric{job="1"} @ start()
  metric{job="1"} 1 1

eval instant at 1000s sum_over_time(metric{job="1"}[30s:10s])
  {job="1"} 297

eval instant at 1010s sum_over_time(metric{job="1"}[30s:10s] offset 3s)
  {job="1"} 297
"#,
    );
}

#[test]
fn aggregations_name_their_groups_by_the_grouping_labels() {
    assert_script_passes(
        r#"
load 5m
  req{job="a", instance="0"} 1
  req{job="a", instance="1"} 3
  req{job="b", instance="0"} 10

eval instant at 0 sum by (job) (req)
  {job="a"} 4
  {job="b"} 10

eval instant at 0 avg without (instance) (req)
  {job="a"} 2
  {job="b"} 10

eval instant at 0 count(req)
  {} 3

eval_ordered instant at 0 topk(2, req)
  req{job="b", instance="0"} 10
  req{job="a", instance="1"} 3

eval instant at 0 bottomk by (job) (1, req)
  req{job="a", instance="0"} 1
  req{job="b", instance="0"} 10

eval instant at 0 quantile(0.5, req)
  {} 3

eval instant at 0 count_values("value", req)
  {value="1"} 1
  {value="3"} 1
  {value="10"} 1

eval instant at 0 stddev(req{job="a"})
  {} 1

eval instant at 0 group by (job) (req)
  {job="a"} 1
  {job="b"} 1
"#,
    );
}

#[test]
fn absent_reports_the_labels_it_can_be_sure_of() {
    assert_script_passes(
        r#"
load 5m
  present{job="a"} 1

eval instant at 0 absent(missing{job="x", instance=~"y.*"})
  {job="x"} 1

eval instant at 0 absent(present)

eval instant at 0 absent_over_time(missing{job="x"}[5m])
  {job="x"} 1
"#,
    );
}

fn storage_with(points: &[(i64, f64)]) -> (Storage, Labels) {
    let mut s = Storage::new();
    let l = Labels::from_pairs([("__name__", "m"), ("job", "x")]);
    for (t, v) in points {
        s.append(&l, *t, *v);
    }
    (s, l)
}

fn instant(s: &Storage, q: &str, t: i64) -> Value {
    let expr = parse(q).expect("query parses");
    eval_instant(s, &expr, t, &EvalOptions::default()).expect("query evaluates")
}

#[test]
fn a_sample_is_visible_for_five_minutes_then_disappears() {
    let (s, _) = storage_with(&[(0, 1.0)]);
    assert!(matches!(instant(&s, "m", 299_999), Value::Vector(v) if v.len() == 1));
    assert!(matches!(instant(&s, "m", 300_000), Value::Vector(v) if v.is_empty()));
}

#[test]
fn a_stale_marker_ends_the_series_immediately() {
    let (s, _) = storage_with(&[(0, 1.0), (10_000, stale_marker())]);
    assert!(matches!(instant(&s, "m", 9_999), Value::Vector(v) if v.len() == 1));
    assert!(matches!(instant(&s, "m", 10_000), Value::Vector(v) if v.is_empty()));
    // Range selections skip the marker but keep earlier samples.
    assert!(
        matches!(instant(&s, "count_over_time(m[1m])", 20_000), Value::Vector(v) if v[0].value == 1.0)
    );
}

#[test]
fn rate_of_a_steady_counter_is_its_slope() {
    // +1 every 15s for 10 minutes: 1/15 per second whatever the window.
    let points: Vec<(i64, f64)> = (0..=40).map(|i| (i * 15_000, i as f64)).collect();
    let (s, _) = storage_with(&points);
    let Value::Vector(v) = instant(&s, "rate(m[5m])", 600_000) else {
        panic!("rate returns a vector")
    };
    assert!((v[0].value - 1.0 / 15.0).abs() < 1e-12);
    assert_eq!(
        v[0].labels.get("__name__"),
        None,
        "rate drops the metric name"
    );
    let Value::Vector(v) = instant(&s, "increase(m[5m])", 600_000) else {
        panic!("increase returns a vector")
    };
    assert!((v[0].value - 20.0).abs() < 1e-9);
}

#[test]
fn regex_matchers_are_fully_anchored() {
    let (s, _) = storage_with(&[(0, 1.0)]);
    assert!(matches!(instant(&s, r#"m{job=~"x"}"#, 0), Value::Vector(v) if v.len() == 1));
    assert!(
        matches!(instant(&s, r#"{__name__=~"m|n", job!~"y"}"#, 0), Value::Vector(v) if v.len() == 1)
    );
    assert!(matches!(instant(&s, r#"m{job=~"x.+"}"#, 0), Value::Vector(v) if v.is_empty()));
    assert!(matches!(instant(&s, r#"m{job!="x"}"#, 0), Value::Vector(v) if v.is_empty()));
}

#[test]
fn range_queries_return_one_series_per_label_set() {
    let points: Vec<(i64, f64)> = (0..=10).map(|i| (i * 60_000, i as f64)).collect();
    let (s, _) = storage_with(&points);
    let expr = parse("m * 2").expect("parses");
    let Value::Matrix(m) =
        eval_range(&s, &expr, 0, 300_000, 60_000, &EvalOptions::default()).expect("evaluates")
    else {
        panic!("range queries return a matrix")
    };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 6);
    assert_eq!(m[0].points[5], (300_000, 10.0));
    assert_eq!(m[0].labels.to_string(), r#"{job="x"}"#);
}

#[test]
fn scalar_comparisons_need_bool_and_vector_comparisons_filter() {
    let (s, _) = storage_with(&[(0, 5.0)]);
    assert!(parse("1 > 2").is_err());
    assert_eq!(instant(&s, "1 < bool 2", 0), Value::Scalar(1.0));
    assert!(matches!(instant(&s, "m > 10", 0), Value::Vector(v) if v.is_empty()));
    let Value::Vector(v) = instant(&s, "m > bool 10", 0) else {
        panic!("vector")
    };
    assert_eq!(v[0].value, 0.0);
}
