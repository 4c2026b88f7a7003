//! Recording rules feed later rules in group order, as in Prometheus, and
//! the engine hands back what each group tick wrote so the runner can write
//! it into the samples stream; reading that output back adds nothing.

use closeloop_core::events::SamplesRecorded;
use closeloop_core::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use closeloop_core::{EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::{parse_rule_file, Evaluator, EvaluatorConfig};

fn config() -> EvaluatorConfig {
    EvaluatorConfig {
        default_interval_ms: 60_000,
        lookback_ms: 300_000,
        attribution: Attribution {
            window_ms: 3_600_000,
            service_label: "service".into(),
            environment_label: "environment".into(),
        },
        external_labels: LabelSet::new(),
        external_url: "http://closeloop".into(),
    }
}

/// A decompressed remote-write body with one sample per series.
fn raw_body(series: &[(&[(&str, &str)], i64, f64)]) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, t, v)| TimeSeries {
                labels: labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                    .collect(),
                samples: vec![Sample {
                    value: *v,
                    timestamp: *t,
                }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    let encoded = SamplesRecorded::new("f", "g", 0, 0, &request).expect("encodes");
    remote_write::decompress(&encoded.body, 1 << 20).expect("decompresses")
}

fn firing(decisions: &[closeloop_evaluator::Decision]) -> Vec<(&str, f64)> {
    decisions
        .iter()
        .filter_map(|d| match &d.payload {
            EventPayload::AlertFiring(e) => Some((e.alertname.as_str(), e.value)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_recording_rule_feeds_later_rules_of_its_group_and_later_groups_but_not_earlier_rules() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: first
    interval: 1m
    rules:
      - alert: Before
        expr: job:x:sum > 5
      - record: job:x:sum
        expr: sum by (job) (x)
      - alert: After
        expr: job:x:sum > 5
  - name: second
    interval: 1m
    rules:
      - alert: LaterGroup
        expr: job:x:sum > 5
"#,
        "g.yml",
    )
    .unwrap();
    let mut evaluator = Evaluator::new(config(), groups);
    evaluator.start_at(0);
    let x = |instance: &'static str, t: i64| {
        (
            [("__name__", "x"), ("instance", instance), ("job", "api")],
            t,
            4.0,
        )
    };
    let (a, b) = (x("a", 0), x("b", 0));
    evaluator
        .append_remote_write(&raw_body(&[(&a.0, a.1, a.2), (&b.0, b.1, b.2)]))
        .unwrap();

    let advanced = evaluator.advance(0);
    // `Before` runs before the record exists; the rest see it at once.
    assert_eq!(
        firing(&advanced.decisions),
        [("After", 8.0), ("LaterGroup", 8.0)]
    );
    let recorded = &advanced.recorded[0];
    assert_eq!(
        (
            recorded.rule_file.as_str(),
            recorded.rule_group.as_str(),
            recorded.tick_ms
        ),
        ("g.yml", "first", 0)
    );
    let written: Vec<(Option<&str>, f64)> = recorded
        .samples
        .iter()
        .map(|(labels, value)| (labels.metric_name(), *value))
        .collect();
    assert!(written.contains(&(Some("job:x:sum"), 8.0)), "{written:?}");

    // At the next tick the earlier rule sees the previous tick's value.
    let (a, b) = (x("a", 60_000), x("b", 60_000));
    evaluator
        .append_remote_write(&raw_body(&[(&a.0, a.1, a.2), (&b.0, b.1, b.2)]))
        .unwrap();
    let decisions = evaluator.advance_to(60_000);
    assert_eq!(firing(&decisions), [("Before", 8.0)]);
}

#[test]
fn a_recorded_series_that_vanishes_is_written_with_a_stale_marker() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: g
    interval: 1m
    rules:
      - record: x:high
        expr: x > 5
"#,
        "g.yml",
    )
    .unwrap();
    let mut evaluator = Evaluator::new(config(), groups);
    evaluator.start_at(0);
    let labels = [("__name__", "x")];
    evaluator
        .append_remote_write(&raw_body(&[(&labels, 0, 9.0)]))
        .unwrap();
    let first = evaluator.advance(0).recorded;
    assert_eq!(first[0].samples.len(), 1);
    assert_eq!(first[0].samples[0].1, 9.0);

    evaluator
        .append_remote_write(&raw_body(&[(&labels, 60_000, 1.0)]))
        .unwrap();
    let second = evaluator.advance(60_000).recorded;
    assert_eq!(second[0].timestamp_ms, 60_000);
    assert_eq!(second[0].samples.len(), 1);
    assert_eq!(second[0].samples[0].0.metric_name(), Some("x:high"));
    assert!(remote_write::is_stale_marker(second[0].samples[0].1));
}

#[test]
fn reading_back_a_recorded_sample_at_the_same_time_as_the_newest_is_a_no_op() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Seen
        expr: recorded
"#,
        "g.yml",
    )
    .unwrap();
    let mut evaluator = Evaluator::new(config(), groups);
    evaluator.start_at(0);
    let labels = [("__name__", "recorded")];
    evaluator
        .append_recorded(&raw_body(&[(&labels, 0, 7.0)]))
        .unwrap();
    // The same sample again, and a conflicting one at the same time: the
    // first write wins.
    evaluator
        .append_recorded(&raw_body(&[(&labels, 0, 7.0)]))
        .unwrap();
    evaluator
        .append_recorded(&raw_body(&[(&labels, 0, 99.0)]))
        .unwrap();
    assert_eq!(firing(&evaluator.advance_to(0)), [("Seen", 7.0)]);
}

#[test]
fn reading_back_what_a_rule_wrote_in_memory_is_a_no_op() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: g
    interval: 1m
    rules:
      - record: r
        expr: vector(3)
      - alert: Seen
        expr: r offset 1m
"#,
        "g.yml",
    )
    .unwrap();
    let mut evaluator = Evaluator::new(config(), groups);
    evaluator.start_at(0);
    evaluator.advance_to(0);
    // The log hands the tick's own output back, with another value.
    evaluator
        .append_recorded(&raw_body(&[(&[("__name__", "r")], 0, 50.0)]))
        .unwrap();
    assert_eq!(firing(&evaluator.advance_to(60_000)), [("Seen", 3.0)]);
}
