//! One test group run as promtool runs it: input series loaded up to each
//! evaluation instant, every rule group evaluated from 0 to the largest
//! `eval_time` in `evaluation_interval` steps, firing alerts compared at
//! each `alert_rule_test` time, then each `promql_expr_test` queried over
//! the storage the rules filled.

use super::format::{alert_list, go_duration, go_quote, sample_list, AlertView};
use super::spec::{AlertTestCase, PromqlTestCase, TestGroup};
use crate::group_eval::{query_samples, EvalEnv, GroupRun};
use crate::rules::load_rule_file;
use closeloop_core::duration::format_duration;
use closeloop_promql::promqltest::series::{parse_series_desc, parse_values, SeqValue};
use closeloop_promql::{
    almost_equal, eval_instant, parse, stale_marker, EvalOptions, Labels, Storage,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// What the test file says for all its test groups.
pub(crate) struct FileSettings {
    pub eval_interval_ms: i64,
    /// Position of each group name in `group_eval_order`.
    pub group_order: HashMap<String, usize>,
    pub rule_files: Vec<PathBuf>,
    pub fuzzy_compare: bool,
}

/// Tolerance of Prometheus 3's `fuzzy_compare`.
const FUZZY_EPSILON: f64 = 1e-6;

/// Runs one test group; returns promtool's error lines (empty: passed).
pub(crate) fn run_test_group(test: &TestGroup, settings: &FileSettings) -> Vec<String> {
    // Prometheus 3 defaults a group's series interval to the evaluation
    // interval; 2.42 leaves it at 0 and stacks every sample at time 0.
    let interval_ms = if test.interval > 0 {
        test.interval
    } else {
        settings.eval_interval_ms
    };
    let mut input = match load_input_series(test, interval_ms) {
        Ok(input) => input,
        Err(e) => return vec![e],
    };
    let mut groups = match load_groups(settings) {
        Ok(groups) => groups,
        Err(e) => return vec![e],
    };
    let name_line = if test.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", test.name)
    };
    if let Some(case) = test.alert_rule_test.iter().find(|c| c.alertname.is_empty()) {
        let in_group = if test.name.is_empty() {
            String::new()
        } else {
            format!(" (in TestGroup {})", test.name)
        };
        return vec![format!(
            "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
            format_ms(case.eval_time)
        )];
    }

    let mut alert_times: Vec<i64> = test.alert_rule_test.iter().map(|c| c.eval_time).collect();
    alert_times.sort_unstable();
    alert_times.dedup();
    let max_time = test
        .alert_rule_test
        .iter()
        .map(|c| c.eval_time)
        .chain(test.promql_expr_test.iter().map(|c| c.eval_time))
        .max()
        .unwrap_or(0);

    let options = EvalOptions {
        default_subquery_step_ms: settings.eval_interval_ms,
        ..EvalOptions::default()
    };
    let env = EvalEnv {
        external_labels: &test.external_labels,
        external_url: &test.external_url,
        options: &options,
        suspects: &|_, _| Vec::new(),
    };
    let mut storage = Storage::new();
    let mut errors = Vec::new();
    let mut next_alert_time = 0;
    let mut ts = 0i64;
    while ts <= max_time {
        input.load_until(&mut storage, ts);
        let mut failures = Vec::new();
        for group in &mut groups {
            // Only the rule state matters here; its events are not needed.
            for failure in group.eval(&mut storage, ts, &env, &mut Vec::new()) {
                failures.push(format!(
                    "    rule: {}, time: {}, err: {}",
                    failure.rule,
                    go_duration(ts),
                    failure.message
                ));
            }
        }
        if !failures.is_empty() {
            errors.extend(failures);
            return errors;
        }
        // An `eval_time` between two evaluations is checked against the
        // earlier one, as promtool does.
        while next_alert_time < alert_times.len()
            && ts <= alert_times[next_alert_time]
            && alert_times[next_alert_time] < ts + settings.eval_interval_ms
        {
            let t = alert_times[next_alert_time];
            for case in test.alert_rule_test.iter().filter(|c| c.eval_time == t) {
                if let Some(e) = check_alerts(case, &groups, &name_line) {
                    errors.push(e);
                }
            }
            next_alert_time += 1;
        }
        ts += settings.eval_interval_ms;
    }

    for case in &test.promql_expr_test {
        if let Some(e) = check_expr(case, &storage, &options, settings.fuzzy_compare) {
            errors.push(e);
        }
    }
    errors
}

fn load_groups(settings: &FileSettings) -> Result<Vec<GroupRun>, String> {
    let mut groups = Vec::new();
    for file in &settings.rule_files {
        let loaded = load_rule_file(file).map_err(|e| e.to_string())?;
        groups.extend(loaded.into_iter().map(GroupRun::new));
    }
    // Groups named in `group_eval_order` run in that order; the others keep
    // file order at position 0 (promtool leaves their order undefined).
    groups.sort_by_key(|g| {
        settings
            .group_order
            .get(&g.group.name)
            .copied()
            .unwrap_or(0)
    });
    Ok(groups)
}

fn check_alerts(case: &AlertTestCase, groups: &[GroupRun], name_line: &str) -> Option<String> {
    let mut got: Vec<AlertView> = groups
        .iter()
        .flat_map(|g| g.firing_alerts(&case.alertname))
        .map(|(mut labels, annotations)| {
            // An empty label value is no label in Prometheus.
            labels.retain(|_, v| !v.is_empty());
            AlertView {
                labels,
                annotations,
            }
        })
        .collect();
    let mut expected: Vec<AlertView> = case
        .exp_alerts
        .iter()
        .map(|a| {
            let mut labels = a.exp_labels.clone();
            labels.insert("alertname".into(), case.alertname.clone());
            AlertView {
                labels,
                annotations: a.exp_annotations.clone(),
            }
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    Some(format!(
        "{name_line}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        case.alertname,
        format_ms(case.eval_time),
        alert_list(&expected),
        alert_list(&got)
    ))
}

fn check_expr(
    case: &PromqlTestCase,
    storage: &Storage,
    options: &EvalOptions,
    fuzzy: bool,
) -> Option<String> {
    let head = format!(
        "    expr: {}, time: {}",
        go_quote(&case.expr),
        format_ms(case.eval_time)
    );
    let got = parse(&case.expr)
        .map_err(|e| e.to_string())
        .and_then(|expr| {
            eval_instant(storage, &expr, case.eval_time, options).map_err(|e| e.to_string())
        })
        .and_then(query_samples);
    let mut got = match got {
        Ok(got) => got,
        Err(e) => return Some(format!("{head}, err: {e}")),
    };
    let mut expected = Vec::with_capacity(case.exp_samples.len());
    for sample in &case.exp_samples {
        match parse_metric(&sample.labels) {
            Ok(labels) => expected.push((labels, sample.value)),
            Err(e) => {
                return Some(format!(
                    "{head}, err: labels {}: {e}",
                    go_quote(&sample.labels)
                ))
            }
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    // promtool compares values exactly (NaN never equals NaN); Prometheus
    // 3's `fuzzy_compare` allows a small relative error.
    let same = got.len() == expected.len()
        && got.iter().zip(&expected).all(|((gl, gv), (el, ev))| {
            gl == el
                && if fuzzy {
                    almost_equal(*ev, *gv, FUZZY_EPSILON)
                } else {
                    gv == ev
                }
        });
    if same {
        return None;
    }
    Some(format!(
        "{head},\n        exp: {}\n        got: {}",
        sample_list(&expected),
        sample_list(&got)
    ))
}

/// A metric written as `name{label="value"}`, as Prometheus' `ParseMetric`.
fn parse_metric(text: &str) -> Result<Labels, String> {
    // An omitted `labels` is the empty label set (a scalar's result).
    if text.trim().is_empty() {
        return Ok(Labels::empty());
    }
    let (labels, rest) = parse_series_desc(text)?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected {:?} after the metric", rest.trim()));
    }
    Ok(labels)
}

/// `model.Duration.String()` of milliseconds: `5m`, `1m30s`, `0s`.
fn format_ms(ms: i64) -> String {
    format_duration(Duration::from_millis(ms.max(0) as u64))
}

/// The input series, expanded, and how far each has been loaded.
struct InputSeries {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    loaded: Vec<usize>,
}

impl InputSeries {
    /// Appends every sample at or before `ts`, as promtool's lazy loader
    /// does before each evaluation.
    fn load_until(&mut self, storage: &mut Storage, ts: i64) {
        for ((labels, samples), loaded) in self.series.iter().zip(self.loaded.iter_mut()) {
            while let Some((t, v)) = samples.get(*loaded) {
                if *t > ts {
                    break;
                }
                storage.append(labels, *t, *v);
                *loaded += 1;
            }
        }
    }
}

fn load_input_series(test: &TestGroup, interval_ms: i64) -> Result<InputSeries, String> {
    let mut series = Vec::with_capacity(test.input_series.len());
    for input in &test.input_series {
        // promtool builds a `load` command line from the two fields.
        let line = format!("{} {}", input.series, input.values);
        let (labels, rest) = parse_series_desc(&line)
            .map_err(|e| format!("parsing input series {:?}: {e}", input.series))?;
        let values =
            parse_values(rest).map_err(|e| format!("parsing values of {:?}: {e}", input.series))?;
        let mut samples = Vec::with_capacity(values.len());
        for (i, value) in values.into_iter().enumerate() {
            let t = i as i64 * interval_ms;
            match value {
                SeqValue::Value(v) => samples.push((t, v)),
                SeqValue::Stale => samples.push((t, stale_marker())),
                SeqValue::Omitted => {}
            }
        }
        series.push((labels, samples));
    }
    let loaded = vec![0; series.len()];
    Ok(InputSeries { series, loaded })
}
