//! The fold and the consistency check, case by case as the Pushgateway's
//! own `diskmetricstore_test.go` exercises them.

use super::*;

fn key(pairs: &[(&str, &str)]) -> GroupingKey {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn gauge(name: &str, labels: &[(&str, &str)], value: f64) -> PushedFamily {
    PushedFamily {
        name: name.into(),
        help: String::new(),
        kind: MetricKind::Gauge,
        metrics: vec![PushedMetric {
            labels: key(labels),
            value: PushedValue::Value(PromFloat(value)),
            timestamp_ms: None,
        }],
    }
}

fn push(
    grouping: &GroupingKey,
    whole: bool,
    families: Vec<PushedFamily>,
    at: i64,
) -> PushGroupReplaced {
    PushGroupReplaced {
        grouping: grouping.clone(),
        whole_group: whole,
        families,
        pushed_at_ms: at,
    }
}

fn series(groups: &PushGroups) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    groups.for_each_series(|labels, v| {
        let shown: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
        out.push((shown.join(","), v));
    });
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn put_replaces_the_group_and_post_only_families_of_the_same_name() {
    let job = key(&[("job", "batch")]);
    let mut groups = PushGroups::default();
    groups.replace(&push(
        &job,
        true,
        vec![gauge("a", &[], 1.0), gauge("b", &[], 2.0)],
        1000,
    ));
    groups.replace(&push(&job, false, vec![gauge("b", &[], 3.0)], 2000));
    let group = groups.get(&job).unwrap();
    assert_eq!(group.families.len(), 2);
    assert_eq!(group.families["a"].pushed_at_ms, 1000);
    assert_eq!(group.families["b"].pushed_at_ms, 2000);
    groups.replace(&push(&job, true, vec![gauge("c", &[], 4.0)], 3000));
    let names: Vec<&String> = groups.get(&job).unwrap().families.keys().collect();
    assert_eq!(names, ["c"]);
    assert_eq!(groups.get(&job).unwrap().push_time_ms, Some(3000));
}

#[test]
fn put_with_an_empty_body_keeps_an_empty_group_and_delete_drops_it() {
    let job = key(&[("job", "batch")]);
    let mut groups = PushGroups::default();
    groups.replace(&push(&job, true, vec![gauge("a", &[], 1.0)], 1000));
    groups.replace(&push(&job, true, vec![], 2000));
    let group = groups.get(&job).unwrap();
    assert!(group.families.is_empty());
    assert_eq!(group.push_time_ms, Some(2000));
    groups.delete(&PushGroupDeleted {
        grouping: job.clone(),
        deleted_at_ms: 3000,
    });
    assert!(groups.is_empty());
}

#[test]
fn grouping_labels_win_and_instance_is_added_empty() {
    let job = key(&[("job", "batch"), ("zone", "eu")]);
    let mut groups = PushGroups::default();
    groups.replace(&push(
        &job,
        true,
        vec![gauge("a", &[("zone", "us"), ("x", "1")], 1.0)],
        1500,
    ));
    let group = groups.get(&job).unwrap();
    let metric = &group.families["a"].family.metrics[0];
    let labels = group.exposed_labels(metric);
    assert_eq!(
        labels,
        key(&[
            ("instance", ""),
            ("job", "batch"),
            ("x", "1"),
            ("zone", "eu")
        ])
    );
    assert_eq!(
        series(&groups),
        [
            ("__name__=a,job=batch,x=1,zone=eu".to_string(), 1.0),
            (
                "__name__=push_failure_time_seconds,job=batch,zone=eu".to_string(),
                0.0
            ),
            (
                "__name__=push_time_seconds,job=batch,zone=eu".to_string(),
                1.5
            ),
        ]
    );
}

#[test]
fn a_refused_push_sets_the_failure_time_and_creates_the_group() {
    let job = key(&[("job", "new")]);
    let mut groups = PushGroups::default();
    groups.reject(&PushGroupRejected {
        grouping: job.clone(),
        rejected_at_ms: 5000,
        reason: "x".into(),
    });
    let group = groups.get(&job).unwrap();
    assert!(group.families.is_empty());
    assert!(!group.last_push_successful());
    groups.replace(&push(&job, false, vec![], 6000));
    assert!(groups.get(&job).unwrap().last_push_successful());
    assert_eq!(groups.get(&job).unwrap().push_failure_time_ms, Some(5000));
}

#[test]
fn check_refuses_timestamps_type_clashes_duplicates_and_suffix_collisions() {
    let a = key(&[("job", "a")]);
    let b = key(&[("job", "b")]);
    let mut groups = PushGroups::default();
    groups.replace(&push(&a, true, vec![gauge("m", &[], 1.0)], 1000));

    let mut stamped = gauge("t", &[], 1.0);
    stamped.metrics[0].timestamp_ms = Some(5);
    let err = groups
        .check(&push(&b, true, vec![stamped], 2000))
        .unwrap_err();
    assert_eq!(err, "pushed metrics must not have timestamps");

    let mut counter = gauge("m", &[], 1.0);
    counter.kind = MetricKind::Counter;
    let err = groups
        .check(&push(&b, true, vec![counter.clone()], 2000))
        .unwrap_err();
    assert!(err.contains("is not a gauge"), "{err}");
    // The same push to the group that holds `m` replaces it: no clash.
    assert!(groups.check(&push(&a, true, vec![counter], 2000)).is_ok());

    let mut twice = gauge("d", &[("x", "1")], 1.0);
    twice.metrics.push(twice.metrics[0].clone());
    let err = groups
        .check(&push(&b, true, vec![twice], 2000))
        .unwrap_err();
    assert!(err.contains("was collected before"), "{err}");

    // Grouping labels override pushed ones, which can make two series one.
    let mut clash = gauge("e", &[("job", "x")], 1.0);
    clash.metrics.push(PushedMetric {
        labels: key(&[("job", "y")]),
        ..clash.metrics[0].clone()
    });
    assert!(groups.check(&push(&b, true, vec![clash], 2000)).is_err());

    let histogram = PushedFamily {
        name: "h".into(),
        help: String::new(),
        kind: MetricKind::Histogram,
        metrics: vec![PushedMetric {
            labels: BTreeMap::new(),
            value: PushedValue::Histogram {
                count: PromFloat(1.0),
                sum: PromFloat(1.0),
                buckets: vec![],
            },
            timestamp_ms: None,
        }],
    };
    let err = groups
        .check(&push(
            &b,
            true,
            vec![histogram, gauge("h_count", &[], 1.0)],
            2000,
        ))
        .unwrap_err();
    assert!(err.contains("collides"), "{err}");

    assert!(groups
        .check(&push(&b, true, vec![gauge("m", &[], 2.0)], 2000))
        .is_ok());
}

#[test]
fn histograms_and_summaries_expand_as_a_scrape_sees_them() {
    let job = key(&[("job", "j")]);
    let mut groups = PushGroups::default();
    let histogram = PushedFamily {
        name: "lat".into(),
        help: String::new(),
        kind: MetricKind::Histogram,
        metrics: vec![PushedMetric {
            labels: BTreeMap::new(),
            value: PushedValue::Histogram {
                count: PromFloat(3.0),
                sum: PromFloat(0.7),
                buckets: vec![
                    (PromFloat(0.1), PromFloat(1.0)),
                    (PromFloat(1e6), PromFloat(2.0)),
                ],
            },
            timestamp_ms: None,
        }],
    };
    let summary = PushedFamily {
        name: "s".into(),
        help: String::new(),
        kind: MetricKind::Summary,
        metrics: vec![PushedMetric {
            labels: BTreeMap::new(),
            value: PushedValue::Summary {
                count: PromFloat(2.0),
                sum: PromFloat(4.0),
                quantiles: vec![(PromFloat(0.5), PromFloat(1.5))],
            },
            timestamp_ms: None,
        }],
    };
    groups.replace(&push(&job, true, vec![histogram, summary], 1000));
    let names: Vec<String> = series(&groups).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "__name__=lat_bucket,job=j,le=+Inf",
            "__name__=lat_bucket,job=j,le=0.1",
            "__name__=lat_bucket,job=j,le=1e+06",
            "__name__=lat_count,job=j",
            "__name__=lat_sum,job=j",
            "__name__=push_failure_time_seconds,job=j",
            "__name__=push_time_seconds,job=j",
            "__name__=s,job=j,quantile=0.5",
            "__name__=s_count,job=j",
            "__name__=s_sum,job=j",
        ]
    );
}
