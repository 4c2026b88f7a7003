//! The rule unit-test runner over the corpus in `tests/rules_unit/`: which
//! test groups pass and fail, and what a failure says. The same files are
//! checked against promtool itself in `services/closeloop/tests/promtool_parity.rs`.

use closeloop_evaluator::unit_test::{run_test_file, FileReport};
use std::path::{Path, PathBuf};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rules_unit")
        .join(name)
}

fn run(name: &str) -> FileReport {
    run_test_file(&corpus(name))
}

/// Pass (true) or fail (false) per test group, in file order.
fn verdicts(report: &FileReport) -> Vec<bool> {
    report.groups.iter().map(|g| g.passed()).collect()
}

#[test]
fn every_passing_corpus_file_passes() {
    for name in [
        "passing_http_test.yml",
        "passing_instances_test.yml",
        "passing_glob_test.yml",
        "ordered_first_test.yml",
        "ordered_second_test.yml",
    ] {
        let report = run(name);
        assert!(report.passed(), "{}", report.render());
        assert_eq!(report.groups_failed(), 0);
    }
}

#[test]
fn alert_expectations_fail_only_the_groups_that_are_wrong() {
    let report = run("failing_alerts_test.yml");
    assert_eq!(verdicts(&report), [true, false, false, false, false]);
    let out = report.render();
    assert!(out.contains("  FAILED:\n    name: wrong label,\n    alertname: InstanceDown, time: 2m, \n        exp:[\n            0:\n              Labels:{alertname=\"InstanceDown\", instance=\"a\", job=\"node\", severity=\"ticket\"}"), "{out}");
    assert!(
        out.contains("    name: pending is not firing,\n    alertname: InstanceDown, time: 1m, "),
        "{out}"
    );
}

#[test]
fn a_pending_alert_is_not_reported_as_firing() {
    let report = run("failing_alerts_test.yml");
    let pending = &report.groups[3];
    assert_eq!(pending.name, "pending is not firing");
    assert!(
        pending.errors[0].ends_with("got:[]"),
        "{:?}",
        pending.errors
    );
}

#[test]
fn promql_results_are_compared_exactly_as_sets() {
    let report = run("failing_promql_test.yml");
    assert_eq!(verdicts(&report), [true, false, false, false, false, false]);
    let out = report.render();
    assert!(
        out.contains("    expr: \"step:value\", time: 2m,\n        exp: {__name__=\"step:value\"} 4E+00\n        got: {__name__=\"step:value\"} 3E+00"),
        "{out}"
    );
    assert!(
        out.contains(
            "got: {__name__=\"source\", a=\"1\"} 3E+00, {__name__=\"source\", a=\"2\"} 1E+01"
        ),
        "{out}"
    );
    assert!(
        out.contains("    expr: \"sum(source\", time: 0s, err: "),
        "{out}"
    );
    assert!(out.contains("err: labels \"source{a=}\": "), "{out}");
    assert!(
        out.contains("exp: {__name__=\"source\"} NaN\n        got: {__name__=\"source\"} NaN"),
        "{out}"
    );
}

#[test]
fn a_rule_failing_at_evaluation_fails_its_group_with_the_rule_and_time() {
    let report = run("failing_rule_errors_test.yml");
    assert_eq!(verdicts(&report), [true, false, false]);
    let error = &report.groups[1].errors[0];
    assert!(
        error.starts_with("    rule: ratio, time: 0s, err: ")
            && error.contains("many-to-many matching not allowed"),
        "{error}"
    );
    assert_eq!(
        report.groups[2].errors,
        ["an item under alert_rule_test misses required attribute alertname at eval_time 1m (in TestGroup missing alertname)"]
    );
}

#[test]
fn an_invalid_rule_file_fails_every_test_group() {
    let report = run("failing_invalid_rules_test.yml");
    assert_eq!(verdicts(&report), [false, false]);
    assert!(
        report.groups[0].errors[0]
            .contains("group \"invalid\", rule 1 (Broken): could not parse expression"),
        "{:?}",
        report.groups[0].errors
    );
}

#[test]
fn an_unknown_field_fails_the_whole_file_as_one_failure() {
    let report = run("failing_unknown_field_test.yml");
    assert!(report.groups.is_empty());
    assert_eq!((report.groups_passed(), report.groups_failed()), (0, 1));
    assert!(report.render().contains("unknown field `input_serie`"));
}

#[test]
fn a_group_named_twice_in_the_evaluation_order_fails_the_file() {
    let report = run("failing_repeated_group_order_test.yml");
    assert_eq!(
        report.error.map(|e| e.to_string()),
        Some("group name repeated in evaluation order: first".to_string())
    );
}

#[test]
fn a_missing_test_file_is_a_failure_not_a_panic() {
    let report = run("no_such_file_test.yml");
    assert!(!report.passed());
    assert!(report.render().contains("no_such_file_test.yml"));
}

#[test]
fn a_rule_files_pattern_matching_nothing_is_a_warning() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("t.yml");
    std::fs::write(
        &path,
        "rule_files: [nothing*.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: up\n        values: '1'\n    promql_expr_test:\n      - expr: up\n        eval_time: 0m\n        exp_samples:\n          - labels: up\n            value: 1\n",
    )
    .expect("writing a test file");
    let report = run_test_file(&path);
    assert!(report.passed(), "{}", report.render());
    assert!(report.render().contains("  WARNING: no file match pattern"));
}

#[test]
fn fuzzy_compare_tolerates_rounding_as_prometheus_3_does() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let body = "tests:\n  - interval: 1m\n    promql_expr_test:\n      - expr: 0.1 + 0.2\n        eval_time: 0m\n        exp_samples:\n          - labels: '{}'\n            value: 0.3\n";
    let exact = dir.path().join("exact.yml");
    std::fs::write(&exact, body).expect("writing a test file");
    assert!(!run_test_file(&exact).passed());
    let fuzzy = dir.path().join("fuzzy.yml");
    std::fs::write(&fuzzy, format!("fuzzy_compare: true\n{body}")).expect("writing a test file");
    assert!(run_test_file(&fuzzy).passed());
}

#[test]
fn a_test_group_without_interval_uses_the_evaluation_interval() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("t.yml");
    std::fs::write(
        &path,
        "evaluation_interval: 30s\ntests:\n  - input_series:\n      - series: x\n        values: '0 1 2 3'\n    promql_expr_test:\n      - expr: x\n        eval_time: 1m\n        exp_samples:\n          - labels: x\n            value: 2\n",
    )
    .expect("writing a test file");
    let report = run_test_file(&path);
    assert!(report.passed(), "{}", report.render());
}
